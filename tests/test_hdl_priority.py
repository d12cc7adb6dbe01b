"""hdl.priority.lowest_set against the obvious Python answer, in Amaranth's simulator."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hdl.priority import lowest_set


@pytest.mark.parametrize("width", [1, 2, 3, 5, 8, 13, 32, 33])
def test_lowest_set_bit(width: int) -> None:
    index_width = max(1, (width - 1).bit_length())
    bits = Signal(width)
    found = Signal()
    index = Signal(index_width)
    m = Module()
    any_, low = lowest_set(bits, index_width)
    m.d.comb += [found.eq(any_), index.eq(low)]
    rng = random.Random(width)
    values = [0, (1 << width) - 1, 1 << (width - 1)] + [1 << i for i in range(width)]
    values += [rng.getrandbits(width) for _ in range(200)]
    seen = []

    async def bench(ctx) -> None:
        for v in values:
            ctx.set(bits, v)
            seen.append((v, ctx.get(found), ctx.get(index)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    for v, got_found, got_index in seen:
        want = (v & -v).bit_length() - 1 if v else 0
        assert (got_found, got_index) == (int(v != 0), want), f"bits {v:#x}"
