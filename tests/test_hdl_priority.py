"""hdl.priority (lowest_set, prefix_or, RoundRobin) against Python answers."""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hdl.priority import RoundRobin, lowest_set, prefix_or


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


def test_prefix_or() -> None:
    bits, out = Signal(13), Signal(13)
    m = Module()
    m.d.comb += out.eq(prefix_or(bits))
    rng = random.Random(5)
    values = [0, 1, 1 << 12, (1 << 13) - 1] + [rng.getrandbits(13) for _ in range(200)]
    seen = []

    async def bench(ctx) -> None:
        for v in values:
            ctx.set(bits, v)
            seen.append((v, ctx.get(out)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    for v, got in seen:
        want = sum(1 << i for i in range(13) if v & ((1 << i) - 1))
        assert got == want, f"bits {v:#x}"


@pytest.mark.parametrize("n", [1, 3, 8, 32])
def test_round_robin_is_fair_and_starts_after_the_last_grant(n: int) -> None:
    """RoundRobin against a Python model: grant the lowest request at or after the one past the
    last advanced grant, wrapping around; with every request set, each gets its turn in order."""
    rr = RoundRobin(n)
    rng = random.Random(n)
    steps = [((1 << n) - 1, 1)] * (2 * n) + [(rng.getrandbits(n), rng.getrandbits(1)) for _ in range(400)]
    got = []

    async def bench(ctx) -> None:
        for requests, advance in steps:
            ctx.set(rr.requests, requests)
            ctx.set(rr.advance, advance)
            got.append((ctx.get(rr.valid), ctx.get(rr.grant), ctx.get(rr.grant_onehot)))
            await ctx.tick()

    sim = Simulator(rr)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    start = 0
    for (requests, advance), (valid, grant, onehot) in zip(steps, got, strict=True):
        order = [(start + k) % n for k in range(n)]
        want = next((i for i in order if requests >> i & 1), None)
        assert valid == (want is not None)
        assert onehot == (0 if want is None else 1 << want)
        if want is not None:
            assert grant == want, (requests, start)
            if advance:
                start = (want + 1) % n
    assert [g for _, g, _ in got[: 2 * n]] == [i % n for i in range(2 * n)]
