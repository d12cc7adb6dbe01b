"""MD5 compression (RFC 1321 section 3.4), one step per cycle.

The core compresses one 64-byte block in 64 step cycles plus one cycle that adds the result into
the chaining value; the next block is accepted in the cycle after, so a message streams at 66
cycles per block (130 with ``step_cycles=2``, which splits the step for a faster clock). It knows
nothing of padding or byte order: it sees the 16 little-endian message words X[0..15] and the
chaining value (A, B, C, D) as RFC 1321 names them. It keeps no copy of the block: it reads each
step's X[k] from its lane's :class:`~hdl.block_buffer.BlockBuffer` three steps ahead, and the first
four words (rows 0 and 1) before it accepts the block: while it is not reading its own block it
keeps rows 0 and 1 of the block being filled in ``head``, reading them in turn, so that a block's
start sums registers, not a read of the buffer.

The step is written as the RFC writes it, ``a = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s)``, with the
roles rotating (``a, b, c, d <- d, a', b, c``) instead of the RFC's renamed operands, and with one
rearrangement for timing: the step's ``a + X[k] + T[i]`` does not depend on the step before it
(the next step's ``a`` is this step's ``d``), so it is summed a cycle early into ``pre``, and its
``X[k] + T[i]`` two cycles early into ``xt``; F is prepared a step ahead for b = 1 and b = 0; and
b is only ever written as ``base + rotated``, so that nothing follows the step's last adder on the
way to b's register (loading a block is folded into that one add).

Timing, ECP5-85F out of context (``esa hdl synth --unit md5 --mapper abc --seed 1``). The path
that limits a step per cycle is the step's own loop, ``b -> F -> add -> rotate -> add -> b``: with
plain adders (``--param carry=None``) one LUT, a 32-bit carry chain, the 16-way rotation (three
LUT levels), a second carry chain: 80.6 MHz, 57 % of it routing. ``carry="ecp5"`` builds the loop
from cells by hand: each bit's CCU2C LUT computes ``pre ^ F(b, c, d)`` (from pre, b and the two
prepared F values) in the first adder; the rotation is two 8-way selects, each bit a LUT4 and the
slice's PFUMX and L6MUX21 wide-function muxes; the second adder's LUTs pick between the two
(``b ^ (hi if round > 1 else lo)``). That leaves one LUT and the two fast muxes between the
chains, and the step is no longer the critical path: 109.7 MHz (103.0 with yosys's own rotation,
three LUT levels); with F of the next step computed apart from the loads of a block's first
step (3,144 -> 2,533 LUT4), 119.0 MHz, the longest path a chained block's start (from the sums,
in the finishing cycle); with chained blocks started from registers a cycle later (2,533 -> 1,911
LUT4), 121.2 MHz, the longest path the step's first adder; with the words read from the lane's
block buffer instead of a 512-bit copy and its 16-way select (yosys, ``abc -lut 4:7``), 1,911 ->
1,389 LUT4 and 1,107 -> 596 flip-flops (with ``head`` and the ``idle`` flag below), 118.4 / 119.6
/ 117.2 MHz (seeds 1, 2, 3), the step's loop the limit under each.

The rotation is now two levels instead (each a LUT4 pair and the slice's PFUMX per bit): by s mod
4, then by 4q for q = s div 4 in 1..4, the second adder's LUT choosing that or q = 5 (s = 20 to
23). Each sum bit feeds 4 selects instead of 16 and the rotation is 128 LUT4 instead of 256, at
the cost of a LUT and a route more in the loop. Alone the core is slower for it (1,344 -> 1,208
LUT4 as yosys counts them; 122.5 / 119.3 / 115.3 -> 105.7 / 116.2 / 111.6 MHz, seeds 1-3); in the
whole engine, where the 16-way selects spread a lane's step over 11 tiles (the step was the
critical path at 3f35d61, speed grade 8: a sum bit's route to its select 2.6 ns, and from `b` to
the first adder 2.9 ns), the step limited four of the nine grade-8 runs from 47676a8 to 2fca30e
(85.36, 103.73, 87.62 and 98.14 MHz; docs/hdl-timing.md), b routed 2.9-4.0 ns over one to six
tiles into the first adder in each: congestion, which a copy of b for the loop made worse (87.62
MHz, reverted).

The cell netlist is for synthesis: the default, ``carry="auto"``, builds it when the core is
elaborated for ECP5 (platform :data:`hdl.target.ECP5`, as `esa hdl synth` does) and the plain
adders otherwise; the tests run it in Icarus with yosys's cell models.
"""

import math

from amaranth import Array, Cat, Const, Instance, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .block_buffer import BlockRead, BlockRow
from .target import family

__all__ = ["MD5Core", "MD5Block", "MD5State", "T", "S", "K"]

MD5State = data.ArrayLayout(32, 4)
"""The chaining value: A, B, C, D (RFC 1321 3.3), element 0 is A."""

MD5Block = data.StructLayout(
    {
        "iv": MD5State,
        "chain": 1,
    }
)
"""One block to compress (its words are read from the block buffer). ``iv``: the chaining value
to start from when ``chain`` is 0 (the first block of a message). ``chain``: continue from the
result of the previous block; ``iv`` is ignored."""

T = [int(abs(math.sin(i)) * 2**32) & 0xFFFFFFFF for i in range(1, 65)]
"""RFC 1321 3.4: T[i] = integer part of 4294967296 * abs(sin(i)), here indexed from 0."""
S = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]]
"""The rotation s of step i: S[round][i % 4]."""
K = [j for j in range(16)] + [(1 + 5 * j) % 16 for j in range(16)]
K += [(5 + 3 * j) % 16 for j in range(16)] + [(7 * j) % 16 for j in range(16)]
"""The message word k that step i reads (the first four, 0 to 3, are rows 0 and 1 of the block)."""


def _round_function(rnd: int, x, y, z):
    """F, G, H, I of RFC 1321 3.4 (rnd = 0..3)."""
    if rnd == 0:
        return (x & y) | (~x & z)  # F(X,Y,Z) = XY v not(X) Z
    if rnd == 1:
        return (x & z) | (y & ~z)  # G(X,Y,Z) = XZ v Y not(Z)
    if rnd == 2:
        return x ^ y ^ z  # H(X,Y,Z) = X xor Y xor Z
    return y ^ (x | ~z)  # I(X,Y,Z) = Y xor (X v not(Z))


def _lut4_init(fn) -> int:
    """The INIT of an ECP5 LUT4 computing ``fn(a, b, c, d)`` (entry ``8d + 4c + 2b + a``)."""
    return sum(fn(i & 1, (i >> 1) & 1, (i >> 2) & 1, (i >> 3) & 1) << i for i in range(16))


def _ecp5_add(m: Module, name: str, a, b, c, d, fn) -> Value:
    """``a + op`` on 32 bits as a chain of 16 ECP5 ``CCU2C`` cells, where each bit's LUT4
    computes the propagate ``fn(a, b, c, d) = a ^ op`` from four inputs (so ``op`` may be any
    function of ``b, c, d``). The cell's generate is its LUT's entries for c = d = 0 read as a
    function of (a, b): that is ``a``, as the carry must be, when ``op`` is 0 for c = d = 0."""
    init = Const(_lut4_init(fn), 16)
    bits, carry = [], Const(0, 1)
    for k in range(16):
        s0, s1, cout = Signal(name=f"{name}_s{2 * k}"), Signal(name=f"{name}_s{2 * k + 1}"), Signal()
        j0, j1 = 2 * k, 2 * k + 1
        m.submodules[f"{name}{k}"] = Instance(
            "CCU2C",
            p_INIT0=init, p_INIT1=init, p_INJECT1_0="NO", p_INJECT1_1="NO",
            i_CIN=carry, i_A0=a[j0], i_B0=b[j0], i_C0=c[j0], i_D0=d[j0],
            i_A1=a[j1], i_B1=b[j1], i_C1=c[j1], i_D1=d[j1],
            o_S0=s0, o_S1=s1, o_COUT=cout,
        )  # fmt: skip
        bits += [s0, s1]
        carry = cout
    return Cat(*bits)


def _ecp5_mux4(m: Module, name: str, inputs: list[Value], select: Value) -> Value:
    """``inputs[select[0:2]]`` for four 32-bit values, each bit one ECP5 slice: two LUT4s (2:1 by
    ``select[0]``) and the slice's own ``PFUMX`` (by ``select[1]``), so the four-way select costs
    one LUT and the fast mux, where yosys builds it from two LUT levels with a route between."""
    init = Const(_lut4_init(lambda a, b, c, d: b if c else a), 16)  # Z = C ? B : A
    bits = []
    for j in range(32):
        luts = []
        for k in range(2):
            z = Signal(name=f"{name}{j}_lut{k}")
            m.submodules[f"{name}{j}_lut{k}"] = Instance(
                "LUT4",
                p_INIT=init,
                i_A=inputs[2 * k][j],
                i_B=inputs[2 * k + 1][j],
                i_C=select[0],
                i_D=0,
                o_Z=z,
            )
            luts.append(z)
        z = Signal(name=f"{name}{j}")
        m.submodules[f"{name}{j}_pfumx"] = Instance(
            "PFUMX", i_ALUT=luts[1], i_BLUT=luts[0], i_C0=select[1], o_Z=z
        )
        bits.append(z)
    return Cat(*bits)


def _rotation_rom() -> Array:
    """The rotation s = S[round][i % 4] of each step as the two-level rotation selects it, indexed
    by ``4 * round + i % 4``: ``fine`` = s mod 4 (bits 0-1), then the coarse rotation 4q, q = s div
    4 in 1..5: ``coarse`` = q - 1 (bits 2-3) for q < 5, ``far`` (bit 4) for q = 5 (s = 20 to 23)."""
    entries = []
    for rnd in range(4):
        for pos in range(4):
            q, fine = divmod(S[rnd][pos], 4)
            assert 1 <= q <= 5
            entries.append(Const(fine | (((q - 1) % 4) << 2) | (int(q == 5) << 4), 5))
    return Array(entries)


class MD5Core(wiring.Component):
    """MD5 compression function, iterative, one step per cycle (or per two, see ``step_cycles``).

    Ports
    -----
    blocks : In(stream.Signature(MD5Block))
        Blocks to compress. Accepted while the core is idle: from the cycle in which the previous
        block's ``done`` is high (so a message's blocks can follow each other every 66 cycles).
        The core reads ``chain`` as it was in the cycle before acceptance (it keeps a copy,
        registered every cycle): set it at least a cycle before ``valid`` rises, as a lane does
        when it starts filling the block.
    read : Out(BlockRead)
        The block's words, X[2r] and X[2r + 1] in row r: X[k] of step i + 3 in step i (steps 1
        to 60), rows 0 and 1 of the next block (``next``) in turn in all its other cycles. Rows
        0 and 1 of a block must be in the buffer two cycles before the block is offered (a lane
        writes a block's rows in order, at most one per cycle).
    cv : Out(MD5State)
        The chaining value after the most recent block; holds until the next block with ``chain``
        clear is accepted.
    done : Out(1)
        One-cycle strobe: ``cv`` now holds the result of a block (one strobe per block, in order).

    Parameters
    ----------
    step_cycles : 1 or 2
        Cycles per step. 1: the start cycle, 64 step cycles and 1 finishing cycle per block. 2: a
        register splits the step after ``a + F(b,c,d) + X[k] + T[i]`` (rotation and the add of b
        in the second cycle): 130 cycles per block at a clock close to the SHA-1 core's, for designs whose
        clock MD5's one-cycle step would limit.
    carry : "auto", None or "ecp5"
        ``"ecp5"``: build the step from ECP5 cells: its two adders from ``CCU2C`` carry cells,
        each bit's LUT also computing F (first adder) or the rotation's last select (second
        adder), which yosys does not fold in, and the rotation's two 4-way levels from ``LUT4``
        and ``PFUMX`` (for synthesis only: Amaranth's simulator cannot run the
        instances; a test runs them in Icarus with yosys's cell models).
        ``step_cycles`` must be 1 then. ``None``: plain adders. ``"auto"`` (default): ``"ecp5"``
        when elaborated for the ECP5 family (:func:`hdl.target.family`) with one step per cycle,
        else ``None``.

    ``iv`` is latched at acceptance; the block's words must stay in the buffer until step 60 has
    read the last.
    """

    blocks: In(stream.Signature(MD5Block))
    read: Out(BlockRead)
    cv: Out(MD5State)
    done: Out(1)

    def __init__(self, *, step_cycles: int = 1, carry: str | None = "auto"):
        if step_cycles not in (1, 2):
            raise ValueError(f"step_cycles must be 1 or 2, not {step_cycles}")
        if carry not in (None, "ecp5", "auto"):
            raise ValueError(f"carry must be 'auto', None or 'ecp5', not {carry!r}")
        if carry == "ecp5" and step_cycles != 1:
            raise ValueError("carry='ecp5' needs step_cycles=1")
        self.step_cycles = step_cycles
        self.carry = carry
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        carry = self.carry
        if carry == "auto":
            carry = "ecp5" if family(platform) == "ecp5" and self.step_cycles == 1 else None

        a, b, c, d = (Signal(32, name=n) for n in "abcd")  # working variables
        step = Signal(6)  # i = 0..63
        pre = Signal(32)  # a + X[k] + T[i] for step i
        xt = Signal(32)  # X[k] + T[i + 1] for step i + 1
        h = self.cv  # the chaining value (AA, BB, CC, DD of the RFC: kept, added at the end)

        # The message word and T of the steps ahead: in step i the buffer reads X[k] of step
        # i + 3 (word `fetch`, a register: K[i + 4] is looked up for the next step by the step
        # counter itself, no adder before the ROM) into x_ahead, the word of step i + 2. X[0] to
        # X[3] (K[0..3] = 0..3) come from `head`: X[0] and X[1] into pre and xt as the block is
        # accepted, in step 0 X[2] into xt and X[3] into x_ahead.
        t_rom = Array(Const(T[i + 3] if i + 3 < 64 else 0, 32) for i in range(64))
        t_ahead = Signal(32)  # T[i + 2] in step i: the ROM read a step earlier, off the adder's path
        k_rom = Array(Const(K[i + 4] if i + 4 < 64 else 0, 4) for i in range(64))
        fetch = Signal(4)
        read_next = Signal(init=1)
        first_step = Signal()
        m.d.comb += [self.read.row.eq(fetch[1:4]), self.read.next.eq(read_next)]
        fetched = Signal(32)
        m.d.comb += fetched.eq(Mux(fetch[0], self.read.data[1], self.read.data[0]))
        head = [Signal(BlockRow, name=f"head{r}") for r in range(2)]  # rows 0 and 1, next block
        with m.If(read_next):
            with m.If(fetch[1]):
                m.d.sync += head[1].eq(self.read.data)
            with m.Else():
                m.d.sync += head[0].eq(self.read.data)
        x_ahead = Signal(32)

        # One step: a' = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s); the round picks F/G/H/I and s.
        # For timing, what does not depend on b is prepared a step ahead (the next step's c and d
        # are this step's b and c): F with b = 1 and with b = 0 (F is bitwise, so F(b,c,d) then
        # picks per bit), and the rotation's selects.
        f_one = Signal(32)  # F(~0, c, d) of this step's round
        f_zero = Signal(32)  # F(0, c, d)
        rot_fine = Signal(2)  # s mod 4 of this step's rotation s (see _rotation_rom)
        rot_coarse = Signal(2)  # q - 1, q = s div 4, when q < 5
        rot_far = Signal()  # q = 5
        rot_rom = _rotation_rom()
        f = Signal(32)
        total = Signal(32)
        m.d.comb += f.eq((b & f_one) | (~b & f_zero))
        if carry:  # LUT inputs: a = pre, b = F(1, c, d), c = F(0, c, d), d = b
            m.d.comb += total.eq(
                _ecp5_add(m, "step_sum", pre, f_one, f_zero, b, lambda a, p, q, s: a ^ (p if s else q))
            )
        else:
            m.d.comb += total.eq(pre + f)
        split = self.step_cycles == 2
        half = Signal()  # step_cycles == 2: the step's second cycle
        total_q = Signal(32)  # step_cycles == 2: the step's sum, registered for its second cycle
        if split:
            m.d.sync += total_q.eq(total)
        rotate_in = total_q if split else total
        # The rotation in two levels, each sum bit feeding four selects and each of those five:
        # by s mod 4, then by 4q for q = 1..4 (coarse), or q = 5 (far), which the second adder's
        # LUT picks.
        fine = [rotate_in.rotate_left(r) for r in range(4)]
        fine_rotated, coarse_rotated = Signal(32), Signal(32)
        if carry:
            m.d.comb += fine_rotated.eq(_ecp5_mux4(m, "rot_fine", fine, rot_fine))
            coarse = [fine_rotated.rotate_left(4 * q) for q in range(1, 5)]
            m.d.comb += coarse_rotated.eq(_ecp5_mux4(m, "rot_coarse", coarse, rot_coarse))
        else:
            m.d.comb += fine_rotated.eq(Array(fine)[rot_fine])
            coarse = [fine_rotated.rotate_left(4 * q) for q in range(1, 5)]
            m.d.comb += coarse_rotated.eq(Array(coarse)[rot_coarse])
        far_rotated = fine_rotated.rotate_left(20)

        # b is only ever written as b_base + rotated, so that no multiplexer follows the step's
        # last adder: in a step b_base is b; while idle the term is 0 and b_base is the next
        # block's B, which b loads in every idle cycle.
        b_base = Signal(32)
        b_load = Signal()
        m.d.comb += b_base.eq(b)
        b_next = Signal(32)
        if carry:  # LUT inputs: a = b_base, b = far, c = the coarse select, d = the far rotation
            m.d.comb += b_next.eq(
                _ecp5_add(
                    m,
                    "step_b",
                    b_base,
                    rot_far.replicate(32),
                    coarse_rotated,
                    far_rotated,
                    lambda a, r, p, q: a ^ (q if r else p),
                )
            )
        else:
            m.d.comb += b_next.eq(b_base + Mux(rot_far, far_rotated, coarse_rotated))
        with m.If(b_load):
            m.d.sync += b.eq(b_next)

        rnd_ahead = Signal(2)  # in step i, the round of step i + 1

        # F of the next step from this step's b and c (its c and d), for its round: one LUT per bit,
        # kept apart from the multiplexers that load f_one and f_zero
        f_next_one, f_next_zero = Signal(32), Signal(32)
        with m.Switch(rnd_ahead):
            for r in range(4):
                with m.Case(r):
                    m.d.comb += f_next_one.eq(_round_function(r, Const(2**32 - 1, 32), b, c))
                    m.d.comb += f_next_zero.eq(_round_function(r, Const(0, 32), b, c))

        def prepare_first(c_next, d_next):
            """Set f_one, f_zero and the rotation for a block's first step (round 0, position 0)
            whose c and d are given."""
            m.d.sync += f_one.eq(_round_function(0, Const(2**32 - 1, 32), c_next, d_next))
            m.d.sync += f_zero.eq(_round_function(0, Const(0, 32), c_next, d_next))
            m.d.sync += Cat(rot_fine, rot_coarse, rot_far).eq(rot_rom[0])
            m.d.sync += rnd_ahead.eq(0)  # step 1 is in round 0 too

        def idle_next():
            """Make the step's term 0 from the next cycle on (the core goes idle)."""
            m.d.sync += [pre.eq(0), f_one.eq(0), f_zero.eq(0), total_q.eq(0)]

        # The chaining value plus the working variables: the block's result.
        summed = [Signal(32, name=f"sum_{n}") for n in "abcd"]
        for j, wj in enumerate((a, b, c, d)):
            m.d.comb += summed[j].eq(h[j] + wj)

        # The next block's starting value: the offered block's IV, or for a chained block the
        # chaining value, chosen by the core's own copy of `chain`, registered every cycle. So
        # the lane's `first` behind `chain` (a flip-flop that drives both cores' choices) reaches
        # no adder in the cycle a block starts, and `valid` no load of b (the whole engine's
        # critical path at d718a23, speed grade 6: a lane's `first` -> the choice of B -> the
        # step's second adder -> b, 10.4 ns of routing). A register of the whole starting value,
        # the sums while finishing, cost 1.4k LUT4 on the engine and placed its MD5 steps worse.
        chain = Signal()
        p = self.blocks.payload
        m.d.sync += chain.eq(p.chain)
        start = [Mux(chain, h[j], p.iv[j]) for j in range(4)]

        # `ready` is a register (the lane's view of a handoff then starts at registers)
        idle = Signal(init=1)
        m.d.comb += self.blocks.ready.eq(idle)
        m.d.sync += self.done.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                # pre, F and (split) total_q are 0 here: rotated is 0 and b loads b_base
                m.d.comb += [b_base.eq(start[1]), b_load.eq(1)]
                with m.If(self.blocks.valid):
                    m.d.sync += idle.eq(0)
                    # Start step 0 from the block's starting value (B is b's load, see above).
                    with m.If(~chain):
                        m.d.sync += [h[j].eq(p.iv[j]) for j in range(4)]
                    m.d.sync += [a.eq(start[0]), c.eq(start[2]), d.eq(start[3])]
                    x0, x1 = head[0][0], head[0][1]  # K[0] = 0, K[1] = 1
                    m.d.sync += [pre.eq(start[0] + x0 + T[0]), xt.eq(x1 + T[1]), t_ahead.eq(T[2])]
                    m.d.sync += [read_next.eq(0), first_step.eq(1)]
                    m.d.sync += [step.eq(0), half.eq(0)]
                    prepare_first(start[2], start[3])
                    m.next = "STEPS"
            with m.State("STEPS"):
                if split:
                    m.d.sync += half.eq(~half)
                with m.If(half == int(split)):
                    m.d.comb += b_load.eq(1)
                    m.d.sync += [a.eq(d), c.eq(b), d.eq(c)]
                    # The next step's a is this step's d; its X[k] + T was summed a step ago.
                    # (in step 0, X[2] and X[3] of steps 2 and 3 come from row 1 in head)
                    x_next = Mux(first_step, head[1][0], x_ahead)
                    m.d.sync += [pre.eq(d + xt), xt.eq(x_next + t_ahead), t_ahead.eq(t_rom[step])]
                    m.d.sync += [x_ahead.eq(Mux(first_step, head[1][1], fetched)), first_step.eq(0)]
                    m.d.sync += fetch.eq(k_rom[step])
                    with m.If(step == 60):  # the block's last word: then the next block's head
                        m.d.sync += read_next.eq(1)
                    m.d.sync += step.eq(step + 1)
                    m.d.sync += [f_one.eq(f_next_one), f_zero.eq(f_next_zero)]
                    rotation = rot_rom[Cat((step + 1)[0:2], rnd_ahead)]
                    m.d.sync += Cat(rot_fine, rot_coarse, rot_far).eq(rotation)
                    m.d.sync += rnd_ahead.eq((step + 2)[4:6])
                    with m.If(step == 63):
                        m.next = "FINISH"
            with m.State("FINISH"):
                # After 64 steps the roles are back in place: A += a, B += b, C += c, D += d. A
                # chained block starts from these registers in the next cycle (starting it from
                # the sums themselves, in this cycle, put a third source on every register a
                # block's start loads: ~600 LUT4 of the core's 2,550).
                m.d.sync += [h[j].eq(summed[j]) for j in range(4)]
                m.d.sync += [self.done.eq(1), idle.eq(1)]
                idle_next()
                m.next = "IDLE"
        with m.If(read_next):  # rows 0 and 1 of the next block in turn (overrides the FSM's)
            m.d.sync += fetch.eq(Mux(fetch[1], 0, 2))
        return m
