"""MD5 compression (RFC 1321 section 3.4), one step per cycle.

The core compresses one 64-byte block in 64 step cycles plus one cycle that adds the result into
the chaining value; a block chained onto the previous one is accepted in that same cycle, so a
message streams at 65 cycles per block. It knows nothing of padding or byte order: it sees the
16 little-endian message words X[0..15] and the chaining value (A, B, C, D) as RFC 1321 names them.

The step is written as the RFC writes it, ``a = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s)``, with the
roles rotating (``a, b, c, d <- d, a', b, c``) instead of the RFC's renamed operands, and with one
rearrangement for timing: the step's ``a + X[k] + T[i]`` does not depend on the step before it
(the next step's ``a`` is this step's ``d``), so it is summed a cycle early into ``pre``.
"""

import math

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
    """MD5 compression function, iterative, one step per cycle.

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

    Timing: 64 step cycles and 1 finishing cycle per block; the block and ``iv`` are latched at
    acceptance, so the source may change them right after.
    """

    blocks: In(stream.Signature(MD5Block))
    cv: Out(MD5State)
    done: Out(1)

    def elaborate(self, platform):
        m = Module()

        x = Array(Signal(32, name=f"x{j}") for j in range(16))  # X[0..15], the block
        a, b, c, d = (Signal(32, name=n) for n in "abcd")  # working variables
        pre = Signal(32)  # a + X[k] + T[i] of the current step, summed a cycle early
        step = Signal(6)  # i = 0..63
        h = self.cv  # the chaining value (AA, BB, CC, DD of the RFC: kept, added at the end)

        t_rom = Array(Const(v, 32) for v in T)
        k_rom = Array(Const(v, 4) for v in K)
        nxt = Signal(6)
        m.d.comb += nxt.eq(step + 1)

        # One step: a' = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s); the round picks F/G/H/I and s.
        f = Signal(32)
        rotated = Signal(32)
        total = Signal(32)
        with m.Switch(step[4:6]):
            for rnd in range(4):
                with m.Case(rnd):
                    m.d.comb += f.eq(_round_function(rnd, b, c, d))
        m.d.comb += total.eq(pre + f)
        with m.Switch(Cat(step[0:2], step[4:6])):
            for rnd in range(4):
                for pos in range(4):
                    with m.Case(pos | rnd << 2):
                        m.d.comb += rotated.eq(total.rotate_left(S[rnd][pos]))

        # The chaining value plus the working variables: the block's result.
        summed = [Signal(32, name=f"sum_{n}") for n in "abcd"]
        for j, wj in enumerate((a, b, c, d)):
            m.d.comb += summed[j].eq(h[j] + wj)

        def begin(start):
            """Latch the accepted block and start step 0 from chaining value ``start``."""
            p = self.blocks.payload
            m.d.sync += [x[j].eq(p.words[j]) for j in range(16)]
            m.d.sync += [a.eq(start[0]), b.eq(start[1]), c.eq(start[2]), d.eq(start[3])]
            m.d.sync += pre.eq(start[0] + p.words[0] + T[0])
            m.d.sync += step.eq(0)

        m.d.sync += self.done.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.blocks.ready.eq(1)
                with m.If(self.blocks.valid):
                    p = self.blocks.payload
                    with m.If(p.chain):
                        begin([h[j] for j in range(4)])
                    with m.Else():
                        begin([p.iv[j] for j in range(4)])
                        m.d.sync += [h[j].eq(p.iv[j]) for j in range(4)]
                    m.next = "STEPS"
            with m.State("STEPS"):
                m.d.sync += [a.eq(d), b.eq(b + rotated), c.eq(b), d.eq(c)]
                # The next step's a is this step's d.
                m.d.sync += pre.eq(d + x[k_rom[nxt]] + t_rom[nxt])
                m.d.sync += step.eq(nxt)
                with m.If(step == 63):
                    m.next = "FINISH"
            with m.State("FINISH"):
                # After 64 steps the roles are back in place: A += a, B += b, C += c, D += d.
                m.d.sync += [h[j].eq(summed[j]) for j in range(4)]
                m.d.sync += self.done.eq(1)
                m.d.comb += self.blocks.ready.eq(self.blocks.payload.chain)
                with m.If(self.blocks.valid & self.blocks.payload.chain):
                    begin(summed)
                    m.next = "STEPS"
                with m.Else():
                    m.next = "IDLE"
        return m
