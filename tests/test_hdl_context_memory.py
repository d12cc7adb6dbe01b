"""hdl.context_memory.ContextMemory in Amaranth's simulator against a Python dict: host writes
in most cycles (many to the conn id being read, others between reads), reads from one to
seven cycles apart (the intake reads every word offered while it waits for a frame), each
read's context on ``rd_data`` exactly READ_LATENCY cycles later and held until the next's; a
write at the read's own clock edge is seen, a later one is not; a conn id out of range reads
invalid. And its ECP5 netlist after yosys: the context's block RAMs in ``BANKS`` groups, each
with registers of its own for its addresses and write enable."""

from __future__ import annotations

import random
from pathlib import Path

from amaranth.sim import Simulator
from hdl_helpers import ram_control_registers

from hdl.context_memory import READ_LATENCY, ContextMemory
from hdl.layouts import SAContext

CONNS = 16
VALID_BIT = 1 << SAContext["valid"].offset


def test_context_reads_see_writes_up_to_their_own_edge() -> None:
    dut = ContextMemory(CONNS)
    rng = random.Random(7)
    model = {c: 0 for c in range(CONNS)}
    checks: list[tuple[int, int | None, bool]] = []  # (cycle to look, expected context, in range)
    seen: dict[int, tuple[int, int, bool]] = {}
    collisions = 0
    cycles = 600

    async def bench(ctx) -> None:
        nonlocal collisions
        next_read = 0
        for t in range(cycles):
            read = t >= next_read
            conn = rng.randrange(CONNS + 4)  # some beyond `conns`
            ctx.set(dut.rd_addr, conn)
            ctx.set(dut.rd_en, read)
            write = rng.random() < 0.8
            w_conn = conn if (read and rng.random() < 0.5) else rng.randrange(CONNS + 2)
            value = rng.getrandbits(SAContext.size) | VALID_BIT
            ctx.set(dut.contexts.valid, write)
            ctx.set(dut.contexts.payload.conn_id, w_conn)
            ctx.set(dut.contexts.payload.context.as_value(), value)
            if write and w_conn < CONNS:
                model[w_conn] = value  # lands at this edge: a read at this edge sees it
            if read:
                collisions += write and w_conn == conn
                checks.append((t + READ_LATENCY, model.get(conn), conn < CONNS))
                next_read = t + rng.randrange(1, 8)
            seen[t] = (ctx.get(dut.rd_data.as_value()), ctx.get(dut.rd_data.valid), ctx.get(dut.rd_in_range))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert collisions > 20
    for i, (t, want, in_range) in enumerate(checks):
        if t >= cycles:
            break
        end = checks[i + 1][0] if i + 1 < len(checks) else cycles
        for u in range(t, min(end, cycles)):  # held until the next read's data
            word, valid, rng_flag = seen[u]
            assert rng_flag == in_range, (t, u)
            if in_range:
                assert word == want, (t, u)
            else:
                assert not valid, (t, u)


def test_ecp5_context_rams_have_their_own_address_registers_per_bank(tmp_path: Path) -> None:
    conns = 1024
    rams, owners = ram_control_registers(ContextMemory(conns), tmp_path)
    assert rams == -(-SAContext.size // 18)  # 1K x 18 RAMs side by side
    assert {b for o in owners.values() for b in o} == {f"ram{b}" for b in range(ContextMemory.BANKS)}
    assert all(len(b) == 1 for b in owners.values()), "a register drives the RAMs of two banks"
    abits = (conns - 1).bit_length()
    assert len(owners) == ContextMemory.BANKS * (2 * abits + 1)  # read and write address, write enable
