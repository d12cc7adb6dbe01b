"""Small reusable helpers for driving ``amaranth.lib.stream`` interfaces in Amaranth's simulator.

Use them from async testbenches (``sim.add_testbench``): ``await put(ctx, dut.i, payload)`` sends one
payload, ``await get(ctx, dut.o)`` receives one. Both take an optional ``random.Random`` and a
probability to insert idle cycles (``put``) or hold ``ready`` low (``get``), for back-pressure tests.
Streams whose signature is ``always_ready`` are received by watching ``valid`` each cycle.

``Cycles`` counts clock cycles in a background testbench, for throughput figures.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from amaranth.sim import Simulator

__all__ = ["put", "get", "put_all", "get_n", "Cycles", "run_sim"]


async def put(ctx, stream, payload: Any, *, rng: random.Random | None = None, idle: float = 0.0) -> None:
    """Send ``payload`` on ``stream`` (a transmitter driven by the testbench); return after the transfer.

    With ``rng``, wait a random number of idle cycles first (each with probability ``idle``).
    """
    if rng is not None:
        while rng.random() < idle:
            await ctx.tick()
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def get(ctx, stream, *, rng: random.Random | None = None, stall: float = 0.0) -> Any:
    """Receive one payload from ``stream`` (a receiver driven by the testbench) and return it.

    With ``rng``, ``ready`` is held low for a random number of cycles first (each with
    probability ``stall``); ``always_ready`` streams ignore that and are sampled every cycle.
    """
    if stream.signature.always_ready:
        (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
        return payload
    if rng is not None:
        while rng.random() < stall:
            await ctx.tick()
    ctx.set(stream.ready, 1)
    (payload,) = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


async def put_all(ctx, stream, payloads: Iterable[Any], **kwargs) -> None:
    """Send every payload of ``payloads`` in order (``kwargs`` as for :func:`put`)."""
    for payload in payloads:
        await put(ctx, stream, payload, **kwargs)


async def get_n(ctx, stream, count: int, **kwargs) -> list[Any]:
    """Receive ``count`` payloads (``kwargs`` as for :func:`get`)."""
    return [await get(ctx, stream, **kwargs) for _ in range(count)]


class Cycles:
    """A cycle counter: add :meth:`run` as a background testbench, read :attr:`now`."""

    def __init__(self) -> None:
        self.now = 0

    async def run(self, ctx) -> None:
        """Count rising edges of the default domain forever."""
        while True:
            await ctx.tick()
            self.now += 1


def run_sim(
    dut, *testbenches, background: Iterable = (), period: float = 1e-8, vcd: str | None = None
) -> None:
    """Simulate ``dut`` with a clock until every testbench in ``testbenches`` has returned.

    ``background`` testbenches run alongside and are abandoned when the others finish.
    """
    sim = Simulator(dut)
    sim.add_clock(period)
    for tb in testbenches:
        sim.add_testbench(tb)
    for tb in background:
        sim.add_testbench(tb, background=True)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    else:
        sim.run()
