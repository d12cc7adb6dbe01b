"""Priority encoding in logarithmic depth.

A chain of ``with m.If(bit[i])`` statements, one per bit, is a priority multiplexer as deep as
the vector is wide: with 32 job slots it was the engine's longest path (nextpnr put the whole
engine at 27 MHz after placement). :func:`lowest_set` builds the same function as a tree of
two-way choices, ``ceil(log2(width))`` levels deep. :class:`RoundRobin` is built on it.
"""

from __future__ import annotations

from amaranth.hdl import C, Cat, Elaboratable, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["lowest_set", "onehot_select", "prefix_or", "RoundRobin"]


def lowest_set(bits: Value, index_width: int) -> tuple[Value, Value]:
    """``(any, index)``: whether any bit of ``bits`` is set, and the index of the lowest set bit
    (0 when none is), ``index_width`` bits wide."""
    width = len(bits)
    if width == 0:
        return C(0, 1), C(0, index_width)
    size = 1
    while size < width:
        size *= 2
    levels: list[tuple[Value, Value]] = [(bits[i] if i < width else C(0, 1), C(0, 0)) for i in range(size)]
    depth = 0
    while len(levels) > 1:
        nxt = []
        for lo, hi in zip(levels[0::2], levels[1::2], strict=True):
            (lo_any, lo_idx), (hi_any, hi_idx) = lo, hi
            # in the upper half the new top index bit is 1; the lower half wins when it has a bit
            index = Mux(lo_any, Cat(lo_idx, C(0, 1)), Cat(hi_idx, C(1, 1)))
            nxt.append((lo_any | hi_any, index))
        levels = nxt
        depth += 1
    found, index = levels[0]
    if depth > index_width:
        index = index[:index_width]
    return found, Mux(found, Cat(index, C(0, max(0, index_width - depth))), 0)


def onehot_select(onehot: Value, values: list) -> Value:
    """``values[i]`` for the one bit ``i`` set in ``onehot`` (0 when none is), as an AND-OR: each
    value masked by its own select bit, then a balanced tree of ORs. From a one-hot register no
    decode of an index sits before the masks (a shared decode fans out to every bit)."""
    terms = [Mux(onehot[i], v, 0) for i, v in enumerate(values)]
    while len(terms) > 1:
        terms = [a | b for a, b in zip(terms[0::2], terms[1::2], strict=False)] + terms[len(terms) & ~1 :]
    return terms[0]


def prefix_or(bits: Value) -> Value:
    """Bit *i* of the result is the OR of ``bits[0..i-1]`` (bit 0 is 0): the bits strictly above
    the lowest set bit. A Kogge-Stone tree, ``ceil(log2(width))`` levels deep."""
    width = len(bits)
    acc = [C(0, 1)] + [bits[i] for i in range(width - 1)]
    span = 1
    while span < width:
        acc = [acc[i] | acc[i - span] if i >= span else acc[i] for i in range(width)]
        span *= 2
    return Cat(*acc)


class RoundRobin(wiring.Component):
    """Grants one of ``n`` requests, starting its search after the last advanced grant.

    Ports: ``requests`` (In n), ``advance`` (In 1: the grant was used; ignored while no request
    is set), ``valid`` (Out 1: some request is set), ``grant`` (Out: index of the granted
    request), ``grant_onehot`` (Out n: the same grant as a one-hot vector, zero while no request
    is set; shallower than decoding ``grant``).

    The search start is kept as a mask of the requests above the last grant (not as an index to
    compare with every request), so a grant is two priority trees and a multiplexer deep.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        bits = max(1, (n - 1).bit_length())
        super().__init__(
            {
                "requests": In(n),
                "advance": In(1),
                "valid": Out(1),
                "grant": Out(bits),
                "grant_onehot": Out(n),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        above = Signal(self.n, init=(1 << self.n) - 1)  # requests searched first
        masked = Signal(self.n)
        m.d.comb += masked.eq(self.requests & above)
        bits = len(self.grant)
        any_all, low_all = lowest_set(self.requests, bits)
        any_masked, low_masked = lowest_set(masked, bits)
        # both searches' "bits above the lowest set bit", chosen between at the end
        above_masked, above_all = Signal(self.n), Signal(self.n)
        m.d.comb += [above_masked.eq(prefix_or(masked)), above_all.eq(prefix_or(self.requests))]
        m.d.comb += [
            self.valid.eq(any_all),
            self.grant.eq(Mux(any_masked, low_masked, low_all)),
            self.grant_onehot.eq(Mux(any_masked, masked & ~above_masked, self.requests & ~above_all)),
        ]
        with m.If(self.advance & any_all):
            # (after a grant of the last request this is empty, and the search wraps)
            m.d.sync += above.eq(Mux(any_masked, above_masked, above_all))
        return m
