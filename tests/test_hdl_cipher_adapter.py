"""The cipher adapter (hdl.cipher_adapter) on a real CBC unit, against OpenSSL's DES-CBC.

The core's side is modelled as the engine core drives it: jobs offered back to back on ``start``
(a new one in the cycle after each is taken), the input buffer a RAM read through
:data:`~hdl.crypto_ports.READ_LATENCY` registers, every output write and ``done`` recorded.
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from hdl_helpers import run_sim
from test_hdl_cbc import openssl_cbc

from hdl.cbc import CBCUnit
from hdl.cipher_adapter import CipherAdapter
from hdl.crypto_ports import READ_LATENCY

SLOT_BITS, IDX_BITS, LANES = 3, 4, 4


class AdapterOnCBC(wiring.Component):
    """The adapter wired to a CBC unit of four DES stages (so that the unit also waits for its
    pipeline), with the core's input buffer as a RAM behind ``READ_LATENCY`` registers (address
    register, RAM, the rest on its word)."""

    def __init__(self, words: dict[int, int]) -> None:
        self.adapter = CipherAdapter(slot_bits=SLOT_BITS, idx_bits=IDX_BITS, lanes=LANES)
        self.cbc = CBCUnit(stages=4, lanes=LANES)
        self.words = words
        super().__init__({})

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.adapter = adapter = self.adapter
        m.submodules.cbc = cbc = self.cbc
        wiring.connect(m, adapter.cbc_start, cbc.start)
        wiring.connect(m, adapter.cbc_i, cbc.i)
        wiring.connect(m, cbc.o, adapter.cbc_o)
        depth = 1 << (SLOT_BITS + IDX_BITS)
        m.submodules.buf = buf = Memory(
            shape=64, depth=depth, init=[self.words.get(a, 0) for a in range(depth)]
        )
        read = buf.read_port()
        addr = Signal.like(adapter.core.rd_addr)
        m.d.sync += addr.eq(adapter.core.rd_addr)
        word = read.data
        for i in range(READ_LATENCY - 2):
            q = Signal(64, name=f"word{i}")
            m.d.sync += q.eq(word)
            word = q
        m.d.comb += [read.addr.eq(addr), adapter.core.rd_data.eq(word)]
        return m


# Seeds 8 and 11 offer a start while a decrypting lane's blocks back up into the CBC unit's input
# slice: a unit whose busy flags counted that for every lane refused those starts.
@pytest.mark.parametrize("seed", [7, 8, 11])
def test_back_to_back_starts_on_every_lane_match_openssl(seed: int) -> None:
    """Eight jobs of random direction, key, IV and length (1 to 16 blocks) offered back to back to
    four lanes: each is started on a lane of its own while the lane is free (a lane taken in one
    cycle is not offered again in the next, before its job's fields land), every output block
    reaches its place and is what OpenSSL computes, and every job is reported done once. The
    adapter does not wait for the CBC unit's start ready, so the unit must never refuse a start."""
    rng = random.Random(seed)
    jobs, words = [], {}
    for slot in range(1 << SLOT_BITS):
        blocks = rng.randint(1, 16) if slot else 16
        first = rng.randint(0, (1 << IDX_BITS) - blocks)
        data = rng.randbytes(8 * blocks)
        job = {
            "slot": slot,
            "key": rng.randbytes(8),
            "iv": rng.randbytes(8),
            "decrypt": rng.random() < 0.5,
            "first": first,
            "blocks": blocks,
        }
        jobs.append((job, data))
        for i in range(blocks):
            words[(slot << IDX_BITS) | (first + i)] = int.from_bytes(data[8 * i : 8 * i + 8], "big")
    dut = AdapterOnCBC(words)
    core = dut.adapter.core
    written: dict[int, int] = {}
    done: list[int] = []
    refused: list[int] = []

    async def offer(ctx):
        # every wait bounded: a job not taken or not done within 2,000 cycles fails the asserts
        for job, _ in jobs:
            payload = dict(job, key=int.from_bytes(job["key"], "big"), iv=int.from_bytes(job["iv"], "big"))
            ctx.set(core.start.payload, payload)
            ctx.set(core.start.valid, 1)
            for _ in range(2000):
                _, _, ready = await ctx.tick().sample(core.start.ready)
                if ready:
                    break
            else:
                return
        ctx.set(core.start.valid, 0)
        for _ in range(2000):
            if len(done) == len(jobs):
                return
            await ctx.tick()

    async def record(ctx):
        while True:
            (
                _,
                _,
                wr_en,
                wr_addr,
                wr_data,
                is_done,
                slot,
                st_valid,
                st_ready,
                st_lane,
            ) = await ctx.tick().sample(
                core.wr_en,
                core.wr_addr,
                core.wr_data,
                core.done,
                core.done_slot,
                dut.cbc.start.valid,
                dut.cbc.start.ready,
                dut.cbc.start.payload.lane,
            )
            if st_valid and not st_ready:
                refused.append(st_lane)
            if wr_en:
                assert wr_addr not in written, f"word {wr_addr:#x} written twice"
                written[wr_addr] = wr_data
            if is_done:
                done.append(slot)

    run_sim(dut, offer, background=[record])
    assert not refused, f"the CBC unit refused starts on lanes {refused}"
    assert sorted(done) == list(range(len(jobs))), done
    for job, data in jobs:
        base = (job["slot"] << IDX_BITS) | job["first"]
        got = b"".join(written.get(base + i, 0).to_bytes(8, "big") for i in range(job["blocks"]))
        assert got == openssl_cbc(job["key"], job["iv"], data, job["decrypt"]), job["slot"]
