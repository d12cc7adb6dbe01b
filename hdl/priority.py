"""Priority encoding in logarithmic depth.

A chain of ``with m.If(bit[i])`` statements, one per bit, is a priority multiplexer as deep as
the vector is wide: with 32 job slots it was the engine's longest path (nextpnr put the whole
engine at 27 MHz after placement). :func:`lowest_set` builds the same function as a tree of
two-way choices, ``ceil(log2(width))`` levels deep.
"""

from __future__ import annotations

from amaranth.hdl import C, Cat, Mux, Value

__all__ = ["lowest_set"]


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
