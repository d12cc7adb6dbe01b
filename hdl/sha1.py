"""SHA-1 compression (FIPS 180-4 section 6.1.2), one round per cycle.

The core compresses one 64-byte block in 80 round cycles plus one cycle that adds the result into
the chaining value; the next block is accepted in the cycle after, so a message streams at 82
cycles per block (accepting it in the adding cycle, from the sums themselves, put a third source
on every register a block's start loads). It knows nothing of padding: it sees the 16 big-endian
message words M[0..15] and the chaining value H0..H4.

The core keeps no copy of the block: it reads M[0..15] from its lane's
:class:`~hdl.block_buffer.BlockBuffer`, one word per round into the message schedule. M[0] and M[1]
(row 0) it reads before it accepts the block: while it is not reading its own block, it keeps row 0
of the block being filled in ``head``, every cycle, so that a block's start sums registers, not a
read of the buffer.

The message schedule runs one word ahead of the rounds: in round t the register ``tail`` holds
W[t+1], and the word that enters it is M[t+2] while t + 2 < 16, then W[t+2] = ROTL1(W[t-1] ^ W[t-6]
^ W[t-12] ^ W[t-14]). The words before W[t+1] are in a 16-word ring of distributed RAM (ECP5
``TRELLIS_DPR16X4``, one copy per read: four), W[i] at address i mod 16, written from ``tail``
each round and read asynchronously at addresses kept in registers beside the counters. It was a
16-word shift register (448 flip-flops per core that only ever shifted): with eight lanes in the
whole engine, nextpnr's placer strung those chains across the device (their registers' x
coordinates' standard deviation ~50 tiles against the core's ~3), a 2-pin net of up to 137 tiles
per bit.

The round is FIPS 180-4's ``T = ROTL5(a) + f_t(b,c,d) + e + K_t + W_t`` with one rearrangement for
timing: ``e + K_t + W_t`` does not depend on the round before it (the next round's e is this round's
d, and W[t+1] is already in ``tail``), so it is summed a cycle early into ``pre``.
"""

from amaranth import Array, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .block_buffer import BlockRead, BlockRow

__all__ = ["SHA1Core", "SHA1Block", "SHA1State", "K"]

SHA1State = data.ArrayLayout(32, 5)
"""The chaining value H0..H4 (FIPS 180-4 5.3.1), element 0 is H0."""

SHA1Block = data.StructLayout(
    {
        "iv": SHA1State,
        "chain": 1,
    }
)
"""One block to compress (its words are read from the block buffer). ``iv``: the chaining value
to start from when ``chain`` is 0 (the first block of a message). ``chain``: continue from the
result of the previous block; ``iv`` is ignored."""

K = [0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6]
"""FIPS 180-4 4.2.1: K_t for t in 0..19, 20..39, 40..59, 60..79."""


class SHA1Core(wiring.Component):
    """SHA-1 compression function, iterative, one round per cycle.

    Ports
    -----
    blocks : In(stream.Signature(SHA1Block))
        Blocks to compress. Accepted while the core is idle: from the cycle in which the previous
        block's ``done`` is high (so a message's blocks can follow each other every 82 cycles).
        The core reads ``chain`` as it was in the cycle before acceptance (its own copy): set it
        at least a cycle before ``valid`` rises, as a lane does.
    read : Out(BlockRead)
        The block's words, M[2r] and M[2r + 1] in row r, big-endian: rows 1 to 7 of the accepted
        block in its rounds 0 to 13, row 0 of the next block (``next``) in all its other cycles.
        Row 0 of a block must be in the buffer two cycles before the block is offered (a lane
        writes a block's rows in order, at most one per cycle).
    cv : Out(SHA1State)
        The chaining value after the most recent block; holds until the next block with ``chain``
        clear is accepted.
    done : Out(1)
        One-cycle strobe: ``cv`` now holds the result of a block (one strobe per block, in order).

    Timing: the start cycle, 80 round cycles and 1 finishing cycle per block. ``iv`` is latched at
    acceptance; the block's words must stay in the buffer until round 13 has read the last.
    """

    blocks: In(stream.Signature(SHA1Block))
    read: Out(BlockRead)
    cv: Out(SHA1State)
    done: Out(1)

    def elaborate(self, platform):
        m = Module()

        # The schedule: W[t+1] in `tail`, W[t-15..t] in the ring (W[i] at address i mod 16; in
        # round t the write of W[t+1] replaces W[t-15]). The four words W[t+2] needs are read at
        # addresses that count along with the rounds, from registers: t-1, t-6, t-12, t-14.
        tail = Signal(32)
        m.submodules.ring = ring = Memory(shape=32, depth=16, init=[], attrs={"ram_style": "distributed"})
        ring_w = ring.write_port()
        ring_waddr = Signal(4)  # t + 1 in round t; 0 while idle (a block's start writes W[0])
        back = (1, 6, 12, 14)  # W[t - k] for these k
        ring_raddr = [Signal(4, name=f"ring_raddr{k}") for k in back]
        ring_r = [ring.read_port(domain="comb") for _ in back]
        m.d.comb += ring_w.addr.eq(ring_waddr)
        m.d.comb += [r.addr.eq(a) for r, a in zip(ring_r, ring_raddr, strict=True)]
        # The buffer word that enters the schedule next (M[t + 2] in round t; 0 and 1 while idle),
        # and whether the words still come from the buffer (t + 2 < 16)
        fetch = Signal(4)
        from_buffer = Signal()
        read_next = Signal(init=1)
        m.d.comb += [self.read.row.eq(fetch[1:4]), self.read.next.eq(read_next)]
        fetched = Signal(32)
        m.d.comb += fetched.eq(Mux(fetch[0], self.read.data[1], self.read.data[0]))
        head = Signal(BlockRow)  # row 0 of the block being filled, read while read_next is set
        with m.If(read_next):
            m.d.sync += head.eq(self.read.data)
        a, b, c, d, e = (Signal(32, name=n) for n in "abcde")  # working variables
        pre = Signal(32)  # e + K_t + W_t of the current round, summed a cycle early
        t = Signal(7)  # the round, 0..79
        # The quarter (t // 20) of this round and of the next, kept as registers so that neither
        # f_t nor K_t waits for a comparison on the round counter.
        quarter = Signal(2)
        quarter_next = Signal(2)
        h = self.cv

        # f_t (FIPS 180-4 4.1.1): Ch for t = 0..19, Parity, Maj for 40..59, Parity.
        f = Signal(32)
        with m.Switch(quarter):
            with m.Case(0):
                m.d.comb += f.eq((b & c) ^ (~b & d))  # Ch(x, y, z)
            with m.Case(2):
                m.d.comb += f.eq((b & c) ^ (b & d) ^ (c & d))  # Maj(x, y, z)
            with m.Default():
                m.d.comb += f.eq(b ^ c ^ d)  # Parity(x, y, z)

        temp = Signal(32)  # T = ROTL5(a) + f_t(b,c,d) + e + K_t + W_t
        m.d.comb += temp.eq(a.rotate_left(5) + f + pre)
        w_new = Signal(32)  # W[t + 2]
        back_xor = ring_r[0].data ^ ring_r[1].data ^ ring_r[2].data ^ ring_r[3].data
        m.d.comb += w_new.eq(Mux(from_buffer, fetched, back_xor.rotate_left(1)))

        summed = [Signal(32, name=f"sum_{n}") for n in "abcde"]
        for j, v in enumerate((a, b, c, d, e)):
            m.d.comb += summed[j].eq(h[j] + v)

        # The block's starting value chosen by the core's own copy of `chain`, registered every
        # cycle (as in the MD5 core), so the lane's `first` behind it reaches no adder as a
        # block starts.
        chain = Signal()
        p = self.blocks.payload
        m.d.sync += chain.eq(p.chain)
        start = [Mux(chain, h[j], p.iv[j]) for j in range(5)]

        # `ready` is a register (the lane's view of a handoff then starts at registers)
        idle = Signal(init=1)
        m.d.comb += self.blocks.ready.eq(idle)
        m.d.sync += self.done.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.blocks.valid):
                    m.d.sync += idle.eq(0)
                    # Start round 0 from the block's starting value.
                    with m.If(~chain):
                        m.d.sync += [h[j].eq(p.iv[j]) for j in range(5)]
                    m.d.sync += [v.eq(start[j]) for j, v in enumerate((a, b, c, d, e))]
                    # Row 0 of the block: M[0] into round 0's sum and the ring, M[1] the tail
                    m.d.sync += pre.eq(start[4] + K[0] + head[0])
                    m.d.comb += [ring_w.en.eq(1), ring_w.data.eq(head[0])]
                    m.d.sync += [tail.eq(head[1]), ring_waddr.eq(1)]
                    m.d.sync += [a.eq((-k) % 16) for a, k in zip(ring_raddr, back, strict=True)]
                    m.d.sync += [fetch.eq(2), from_buffer.eq(1), read_next.eq(0)]
                    m.d.sync += [t.eq(0), quarter.eq(0), quarter_next.eq(0)]
                    m.next = "ROUNDS"
            with m.State("ROUNDS"):
                # e = d; d = c; c = ROTL30(b); b = a; a = T
                m.d.sync += [e.eq(d), d.eq(c), c.eq(b.rotate_left(30)), b.eq(a), a.eq(temp)]
                # W[t+1] into the ring, W[t+2] into the tail; the next round's e is this round's
                # d, its W the tail.
                m.d.comb += [ring_w.en.eq(1), ring_w.data.eq(tail)]
                m.d.sync += [tail.eq(w_new), ring_waddr.eq(ring_waddr + 1)]
                m.d.sync += [a.eq(a + 1) for a in ring_raddr]
                m.d.sync += pre.eq(d + Array(K)[quarter_next] + tail)
                m.d.sync += fetch.eq(fetch + 1)
                with m.If(fetch == 15):
                    # the block's last word: from the next round on, row 0 of the next block
                    m.d.sync += [from_buffer.eq(0), read_next.eq(1)]
                with m.If(read_next):
                    m.d.sync += fetch.eq(0)
                m.d.sync += [t.eq(t + 1), quarter.eq(quarter_next)]
                with m.If((t == 18) | (t == 38) | (t == 58)):  # round t + 2 starts a quarter
                    m.d.sync += quarter_next.eq(quarter_next + 1)
                with m.If(t == 79):
                    m.next = "FINISH"
            with m.State("FINISH"):
                # H0 += a, H1 += b, H2 += c, H3 += d, H4 += e; a chained block starts from these
                # registers in the next cycle
                m.d.sync += [h[j].eq(summed[j]) for j in range(5)]
                m.d.sync += [self.done.eq(1), idle.eq(1), ring_waddr.eq(0)]
                m.next = "IDLE"
        return m
