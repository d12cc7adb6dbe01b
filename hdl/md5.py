"""MD5 compression (RFC 1321 section 3.4), one step per cycle.

The core compresses one 64-byte block in 64 step cycles plus one cycle that adds the result into
the chaining value; a block chained onto the previous one is accepted in that same cycle, so a
message streams at 65 cycles per block (129 with ``step_cycles=2``, which splits the step for a
faster clock). It knows nothing of padding or byte order: it sees the
16 little-endian message words X[0..15] and the chaining value (A, B, C, D) as RFC 1321 names them.

The step is written as the RFC writes it, ``a = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s)``, with the
roles rotating (``a, b, c, d <- d, a', b, c``) instead of the RFC's renamed operands, and with one
rearrangement for timing: the step's ``a + X[k] + T[i]`` does not depend on the step before it
(the next step's ``a`` is this step's ``d``), so it is summed a cycle early into ``pre``, and its
``X[k] + T[i]`` two cycles early into ``xt``.
"""

import functools
import math
import operator

from amaranth import Array, Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MD5Core", "MD5Block", "MD5State", "T", "S", "K"]

MD5State = data.ArrayLayout(32, 4)
"""The chaining value: A, B, C, D (RFC 1321 3.3), element 0 is A."""

MD5Block = data.StructLayout(
    {
        "words": data.ArrayLayout(32, 16),
        "iv": MD5State,
        "chain": 1,
    }
)
"""One block to compress. ``words``: X[0..15], each the little-endian value of four message bytes.
``iv``: the chaining value to start from when ``chain`` is 0 (the first block of a message).
``chain``: continue from the result of the previous block; ``iv`` is ignored."""

T = [int(abs(math.sin(i)) * 2**32) & 0xFFFFFFFF for i in range(1, 65)]
"""RFC 1321 3.4: T[i] = integer part of 4294967296 * abs(sin(i)), here indexed from 0."""
S = [[7, 12, 17, 22], [5, 9, 14, 20], [4, 11, 16, 23], [6, 10, 15, 21]]
"""The rotation s of step i: S[round][i % 4]."""
K = [j for j in range(16)] + [(1 + 5 * j) % 16 for j in range(16)]
K += [(5 + 3 * j) % 16 for j in range(16)] + [(7 * j) % 16 for j in range(16)]
"""The message word k that step i reads."""


def _round_function(rnd: int, x, y, z):
    """F, G, H, I of RFC 1321 3.4 (rnd = 0..3)."""
    if rnd == 0:
        return (x & y) | (~x & z)  # F(X,Y,Z) = XY v not(X) Z
    if rnd == 1:
        return (x & z) | (y & ~z)  # G(X,Y,Z) = XZ v Y not(Z)
    if rnd == 2:
        return x ^ y ^ z  # H(X,Y,Z) = X xor Y xor Z
    return y ^ (x | ~z)  # I(X,Y,Z) = Y xor (X v not(Z))


class MD5Core(wiring.Component):
    """MD5 compression function, iterative, one step per cycle (or per two, see ``step_cycles``).

    Ports
    -----
    blocks : In(stream.Signature(MD5Block))
        Blocks to compress. Accepted while the core is idle, or in the last cycle of the previous
        block when the new block has ``chain`` set (a message's next block follows without a
        gap). A block with ``chain`` clear waits until the core is idle.
    cv : Out(MD5State)
        The chaining value after the most recent block; holds until the next block with ``chain``
        clear is accepted.
    done : Out(1)
        One-cycle strobe: ``cv`` now holds the result of a block (one strobe per block, in order).

    Parameters
    ----------
    step_cycles : 1 or 2
        Cycles per step. 1: 64 step cycles and 1 finishing cycle per block. 2: a register splits
        the step after ``a + F(b,c,d) + X[k] + T[i]`` (rotation and the add of b in the second
        cycle): 129 cycles per block at a clock close to the SHA-1 core's, for designs whose
        clock MD5's one-cycle step would limit.

    The block and ``iv`` are latched at acceptance, so the source may change them right after.
    """

    blocks: In(stream.Signature(MD5Block))
    cv: Out(MD5State)
    done: Out(1)

    def __init__(self, *, step_cycles: int = 1):
        if step_cycles not in (1, 2):
            raise ValueError(f"step_cycles must be 1 or 2, not {step_cycles}")
        self.step_cycles = step_cycles
        super().__init__()

    def elaborate(self, platform):
        m = Module()

        x = Array(Signal(32, name=f"x{j}") for j in range(16))  # X[0..15], the block
        a, b, c, d = (Signal(32, name=n) for n in "abcd")  # working variables
        step = Signal(6)  # i = 0..63
        pre = Signal(32)  # a + X[k] + T[i] for step i
        xt = Signal(32)  # X[k] + T[i + 1] for step i + 1
        h = self.cv  # the chaining value (AA, BB, CC, DD of the RFC: kept, added at the end)

        # The message word and T of the steps ahead, fetched in stages: in step i, k of step i + 3
        # is in k_ahead and X[k] of step i + 2 is in x_ahead; T[i + 2] and k of step i + 4 are
        # looked up by the step counter itself (no adder before the ROMs).
        t_rom = Array(Const(T[i + 2] if i + 2 < 64 else 0, 32) for i in range(64))
        k_rom = Array(Const(K[i + 4] if i + 4 < 64 else 0, 4) for i in range(64))
        k_ahead = Signal(4)
        x_ahead = Signal(32)

        # One step: a' = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s); the round picks F/G/H/I and s.
        # For timing, what does not depend on b is prepared a step ahead (the next step's c and d
        # are this step's b and c): F with b = 1 and with b = 0 (F is bitwise, so F(b,c,d) then
        # picks per bit), and the rotation s as one of 16 one-hot selects.
        f_one = Signal(32)  # F(~0, c, d) of this step's round
        f_zero = Signal(32)  # F(0, c, d)
        rot_select = Signal(16)  # bit 4 * round + i % 4 selects s = S[round][i % 4]
        f = Signal(32)
        total = Signal(32)
        rotated = Signal(32)
        m.d.comb += f.eq((b & f_one) | (~b & f_zero))
        m.d.comb += total.eq(pre + f)
        split = self.step_cycles == 2
        half = Signal()  # step_cycles == 2: the step's second cycle
        if split:
            total_q = Signal(32)  # the step's sum, registered for its second cycle
            m.d.sync += total_q.eq(total)
            total = total_q
        m.d.comb += rotated.eq(
            functools.reduce(
                operator.or_,
                (
                    total.rotate_left(S[rnd][pos]) & rot_select[pos + 4 * rnd].replicate(32)
                    for rnd in range(4)
                    for pos in range(4)
                ),
            )
        )

        def prepare(index, c_next, d_next):
            """Set f_one, f_zero and rot_select for step ``index`` whose c and d are given."""
            with m.Switch(index[4:6]):
                for rnd in range(4):
                    with m.Case(rnd):
                        m.d.sync += f_one.eq(_round_function(rnd, Const(2**32 - 1, 32), c_next, d_next))
                        m.d.sync += f_zero.eq(_round_function(rnd, Const(0, 32), c_next, d_next))
            m.d.sync += rot_select.eq(1 << Cat(index[0:2], index[4:6]))

        # The chaining value plus the working variables: the block's result.
        summed = [Signal(32, name=f"sum_{n}") for n in "abcd"]
        for j, wj in enumerate((a, b, c, d)):
            m.d.comb += summed[j].eq(h[j] + wj)

        def begin(start_a, start):
            """Latch the accepted block and start step 0 from chaining value ``start`` (whose A is
            also given as ``start_a``, from a register when possible)."""
            p = self.blocks.payload
            m.d.sync += [x[j].eq(p.words[j]) for j in range(16)]
            m.d.sync += [a.eq(start[0]), b.eq(start[1]), c.eq(start[2]), d.eq(start[3])]
            m.d.sync += [pre.eq(start_a + p.words[K[0]] + T[0]), xt.eq(p.words[K[1]] + T[1])]
            m.d.sync += [x_ahead.eq(p.words[K[2]]), k_ahead.eq(K[3])]
            m.d.sync += [step.eq(0), half.eq(0)]
            prepare(Const(0, 6), start[2], start[3])

        m.d.sync += self.done.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.blocks.ready.eq(1)
                with m.If(self.blocks.valid):
                    p = self.blocks.payload
                    with m.If(p.chain):
                        begin(h[0], [h[j] for j in range(4)])
                    with m.Else():
                        begin(p.iv[0], [p.iv[j] for j in range(4)])
                        m.d.sync += [h[j].eq(p.iv[j]) for j in range(4)]
                    m.next = "STEPS"
            with m.State("STEPS"):
                if split:
                    m.d.sync += half.eq(~half)
                with m.If(half == int(split)):
                    m.d.sync += [a.eq(d), b.eq(b + rotated), c.eq(b), d.eq(c)]
                    # The next step's a is this step's d; its X[k] + T was summed a step ago.
                    m.d.sync += [pre.eq(d + xt), xt.eq(x_ahead + t_rom[step])]
                    m.d.sync += [x_ahead.eq(x[k_ahead]), k_ahead.eq(k_rom[step])]
                    m.d.sync += step.eq(step + 1)
                    prepare(step + 1, b, c)
                    with m.If(step == 63):
                        # No step follows: sum the new A (= AA + d, the last step's d becomes a)
                        # now, so that a chained block can start from it in the next cycle.
                        m.d.sync += pre.eq(h[0] + d)
                        m.next = "FINISH"
            with m.State("FINISH"):
                # After 64 steps the roles are back in place: A += a, B += b, C += c, D += d.
                m.d.sync += [h[j].eq(summed[j]) for j in range(4)]
                m.d.sync += self.done.eq(1)
                m.d.comb += self.blocks.ready.eq(self.blocks.payload.chain)
                with m.If(self.blocks.valid & self.blocks.payload.chain):
                    begin(pre, [pre] + summed[1:])
                    m.next = "STEPS"
                with m.Else():
                    m.next = "IDLE"
        return m
