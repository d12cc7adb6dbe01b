"""hdl.job_buffer.JobBuffer in Amaranth's simulator against a Python list: random writes and
reads on two read ports, each read answered exactly LATENCY cycles after its address, a written
word read by every address presented WRITE_LATENCY or more cycles after the write. And its ECP5
netlist after yosys: every bank's block RAMs get their addresses and write enable from
registers of their own (yosys merges registers of one input unless they are kept apart)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from amaranth.sim import Simulator
from hdl_helpers import ram_control_registers

from hdl.job_buffer import JobBuffer


@pytest.mark.parametrize("banks", [1, 4, 8])
def test_job_buffer_reads_what_was_written(banks: int) -> None:
    depth = 64
    dut = JobBuffer(depth=depth, readers=2, banks=banks)
    rng = random.Random(banks)
    model = [0] * depth
    pending: list[tuple[int, int, int]] = []  # (cycle it lands, address, word)
    asked: list[list[int]] = [[], []]  # per reader: the expected word for each cycle
    got: list[list[int]] = [[], []]
    cycles = 400

    async def bench(ctx) -> None:
        for t in range(cycles):
            for _, a, w in [p for p in pending if p[0] == t]:
                model[a] = w
            pending[:] = [p for p in pending if p[0] != t]
            # never read a word in flight to the memory (the buffer's contract)
            busy = {a for _, a, _ in pending}
            write = rng.random() < 0.5
            w_addr, w_word = rng.randrange(depth), rng.getrandbits(64)
            ctx.set(dut.wr_en, write)
            ctx.set(dut.wr_addr, w_addr)
            ctx.set(dut.wr_data, w_word)
            for r in range(2):
                a = rng.choice([x for x in range(depth) if x not in busy and not (write and x == w_addr)])
                ctx.set(dut.rd_addr[r], a)
                asked[r].append(model[a])
                got[r].append(ctx.get(dut.rd_data[r]))
            if write:
                pending.append((t + JobBuffer.WRITE_LATENCY, w_addr, w_word))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    lat = JobBuffer.LATENCY
    for r in range(2):
        assert got[r][lat:] == asked[r][: cycles - lat], f"reader {r}"


def test_ecp5_banks_have_their_own_address_registers(tmp_path: Path) -> None:
    banks, readers, depth = 4, 2, 8192
    rams, owners = ram_control_registers(JobBuffer(depth=depth, readers=readers, banks=banks), tmp_path)
    assert rams == banks * readers * (64 // banks) // 2  # 8K x 2 RAMs, one copy per reader
    assert all(len(b) == 1 for b in owners.values()), "a register drives the RAMs of two banks"
    abits = (depth - 1).bit_length()
    assert len(owners) == banks * ((readers + 1) * abits + 1)  # addresses, and the write enable
