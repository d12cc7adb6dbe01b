"""The CBC unit (hdl.cbc) against OpenSSL's DES-CBC and the FIPS 81 example.

Jobs run on many lanes at once, with random keys, IVs, lengths and directions, random idle cycles
on the inputs and random back-pressure on the output; every job's output is compared with
``cryptography``'s CBC (``TripleDES(key * 3)`` is exact single DES). The throughput figures of the
issue (decrypt of one 1400-byte job, encrypt with 16 jobs in flight) are measured and asserted;
run ``pytest -s -k throughput tests/test_hdl_cbc.py`` to see them printed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from amaranth.hdl import ClockDomain, Module
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hdl_helpers import Cycles, get, put, run_sim

from hdl.cbc import CBCUnit

FIPS81_KEY = bytes.fromhex("0123456789abcdef")
FIPS81_IV = bytes.fromhex("1234567890abcdef")
FIPS81_PLAIN = b"Now is the time for all "
FIPS81_CIPHER = bytes.fromhex("e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6")


def openssl_cbc(key: bytes, iv: bytes, data: bytes, decrypt: bool) -> bytes:
    c = Cipher(TripleDES(key * 3), modes.CBC(iv))
    x = c.decryptor() if decrypt else c.encryptor()
    return x.update(data) + x.finalize()


@dataclass
class Job:
    lane: int
    key: bytes
    iv: bytes
    data: bytes
    decrypt: bool
    out: bytearray = field(default_factory=bytearray)

    @property
    def blocks(self) -> int:
        return len(self.data) // 8


@dataclass
class Run:
    cycles: int
    first_in: int
    first_out: int
    last_out: int


def run_cbc(dut: CBCUnit, jobs: list[Job], *, rng: random.Random | None = None, idle: float = 0.0,
            stall: float = 0.0) -> Run:  # fmt: skip
    """Run ``jobs`` (each lane's jobs in list order) and fill in each job's ``out``.

    The producer offers one block per lane in turn (round-robin over lanes with data left), and
    starts a lane's next job as soon as its previous one has been fed in.
    """
    by_lane: dict[int, list[Job]] = {}
    for job in jobs:
        by_lane.setdefault(job.lane, []).append(job)
    expect_out = {lane: [j for j in js] for lane, js in by_lane.items()}
    total = sum(j.blocks for j in jobs)
    cyc = Cycles()
    marks = {}

    async def producer(ctx):
        queues = {lane: list(js) for lane, js in by_lane.items()}
        sent = {lane: None for lane in by_lane}  # (job, blocks sent) of the current job
        while any(queues.values()) or any(s is not None for s in sent.values()):
            for lane in by_lane:
                if sent[lane] is None and queues[lane]:
                    job = queues[lane].pop(0)
                    await put(ctx, dut.start, {
                        "lane": lane, "decrypt": job.decrypt,
                        "key": int.from_bytes(job.key, "big"), "iv": int.from_bytes(job.iv, "big"),
                    }, rng=rng, idle=idle)  # fmt: skip
                    sent[lane] = [job, 0]
                if sent[lane] is not None:
                    job, n = sent[lane]
                    if n < job.blocks:
                        word = int.from_bytes(job.data[8 * n : 8 * n + 8], "big")
                        await put(ctx, dut.i, {"lane": lane, "data": word}, rng=rng, idle=idle)
                        marks.setdefault("first_in", cyc.now)
                        n += 1
                    sent[lane] = None if n == job.blocks else [job, n]

    async def consumer(ctx):
        for _ in range(total):
            payload = await get(ctx, dut.o, rng=rng, stall=stall)
            marks.setdefault("first_out", cyc.now)
            lane = payload.lane
            while expect_out[lane][0].blocks * 8 == len(expect_out[lane][0].out):
                expect_out[lane].pop(0)
            expect_out[lane][0].out += payload.data.to_bytes(8, "big")
        marks["last_out"] = cyc.now

    run_sim(dut, producer, consumer, background=[cyc.run])
    return Run(cyc.now, marks.get("first_in", 0), marks.get("first_out", 0), marks.get("last_out", 0))


def check_jobs(jobs: list[Job]) -> None:
    for n, job in enumerate(jobs):
        want = openssl_cbc(job.key, job.iv, job.data, job.decrypt)
        assert bytes(job.out) == want, (
            f"job {n} on lane {job.lane} ({'decrypt' if job.decrypt else 'encrypt'})"
        )


def random_jobs(rng: random.Random, lanes: int, per_lane: int, max_blocks: int) -> list[Job]:
    jobs = []
    for _ in range(per_lane):
        for lane in range(lanes):
            data = rng.randbytes(8 * rng.randint(1, max_blocks))
            jobs.append(Job(lane, rng.randbytes(8), rng.randbytes(8), data, rng.random() < 0.5))
    return jobs


def test_fips81_example_both_directions():
    dut = CBCUnit()
    jobs = [
        Job(3, FIPS81_KEY, FIPS81_IV, FIPS81_PLAIN, False),
        Job(9, FIPS81_KEY, FIPS81_IV, FIPS81_CIPHER, True),
    ]
    run_cbc(dut, jobs)
    assert bytes(jobs[0].out) == FIPS81_CIPHER
    assert bytes(jobs[1].out) == FIPS81_PLAIN


def test_many_lanes_random_jobs_with_backpressure():
    rng = random.Random(7)
    jobs = random_jobs(rng, lanes=16, per_lane=2, max_blocks=6)
    run_cbc(CBCUnit(), jobs, rng=rng, idle=0.1, stall=0.4)
    check_jobs(jobs)


@pytest.mark.parametrize("stages", [1, 2, 4, 8])
def test_shallower_pipelines(stages):
    # Jobs longer than a lane's buffer: with fewer than 16 stages the fetch waits for the DES,
    # and the block it reads must keep its place in the ring meanwhile (with jobs of up to 3
    # blocks a place freed at the pick was never refilled in time to show it).
    rng = random.Random(stages)
    jobs = random_jobs(rng, lanes=4, per_lane=2, max_blocks=12)
    run_cbc(CBCUnit(stages=stages, lanes=4), jobs, rng=rng, stall=0.2)
    check_jobs(jobs)


def test_small_buffers_and_few_credits():
    # 3 lanes (a lane field of 2 bits), 2-block input buffers, a 2-block output FIFO: every
    # path that waits (full buffer, no credit, lane busy) is taken.
    rng = random.Random(11)
    jobs = random_jobs(rng, lanes=3, per_lane=3, max_blocks=5)
    run_cbc(CBCUnit(lanes=3, depth=2, out_depth=2), jobs, rng=rng, idle=0.2, stall=0.6)
    check_jobs(jobs)


def test_lane_number_out_of_range_is_dropped():
    dut = CBCUnit(lanes=3)
    job = Job(1, FIPS81_KEY, FIPS81_IV, FIPS81_PLAIN, False)
    got = []

    async def bench(ctx):
        await put(ctx, dut.start, {"lane": 3, "decrypt": 1, "key": 0, "iv": 0})  # ignored
        await put(ctx, dut.i, {"lane": 3, "data": 0x1122334455667788})  # dropped
        await put(ctx, dut.start, {"lane": 1, "decrypt": 0, "key": int.from_bytes(FIPS81_KEY, "big"),
                                   "iv": int.from_bytes(FIPS81_IV, "big")})  # fmt: skip
        for n in range(3):
            await put(ctx, dut.i, {"lane": 1, "data": int.from_bytes(FIPS81_PLAIN[8 * n : 8 * n + 8], "big")})
        for _ in range(3):
            p = await get(ctx, dut.o)
            got.append((p.lane, p.data.to_bytes(8, "big")))
        for _ in range(40):  # nothing else may come out
            assert not ctx.get(dut.o.valid)
            await ctx.tick()

    run_sim(dut, bench)
    assert got == [(1, FIPS81_CIPHER[8 * n : 8 * n + 8]) for n in range(3)]
    assert job.lane == 1


def test_throughput_decrypt_one_1400_byte_job():
    rng = random.Random(1400)
    job = Job(0, rng.randbytes(8), rng.randbytes(8), rng.randbytes(1400), True)
    r = run_cbc(CBCUnit(), [job])
    check_jobs([job])
    blocks = job.blocks
    steady = (blocks - 1) / (r.last_out - r.first_out)
    end_to_end = blocks / (r.last_out - r.first_in + 1)
    print(f"\nCBC decrypt, 1 job x 1400 B, stages=16: {blocks} blocks, first block in at cycle {r.first_in}, "
          f"first out {r.first_out}, last out {r.last_out}: {steady:.3f} blocks/cycle streaming, "
          f"{end_to_end:.3f} including the {r.first_out - r.first_in}-cycle fill")  # fmt: skip
    assert steady >= 0.95


def _encrypt_throughput(job_bytes: int) -> tuple[float, float]:
    rng = random.Random(job_bytes)
    jobs = [
        Job(lane, rng.randbytes(8), rng.randbytes(8), rng.randbytes(job_bytes), False) for lane in range(16)
    ]
    r = run_cbc(CBCUnit(), jobs)
    check_jobs(jobs)
    blocks = sum(j.blocks for j in jobs)
    steady = (blocks - 1) / (r.last_out - r.first_out)
    end_to_end = blocks / (r.last_out - r.first_in + 1)
    print(f"\nCBC encrypt, 16 jobs x {job_bytes} B in flight, stages=16: {blocks} blocks, "
          f"first in {r.first_in}, "
          f"first out {r.first_out}, last out {r.last_out}: {steady:.3f} blocks/cycle streaming, "
          f"{end_to_end:.3f} including fill and drain")  # fmt: skip
    return steady, end_to_end


def test_throughput_encrypt_16_jobs():
    steady, end_to_end = _encrypt_throughput(200)
    assert steady >= 0.9
    assert end_to_end >= 0.85  # 25 blocks a job: the 17-cycle fill weighs in


@pytest.mark.slow
def test_throughput_encrypt_16_jobs_of_1400_bytes():
    steady, end_to_end = _encrypt_throughput(1400)
    assert steady >= 0.9 and end_to_end >= 0.9


@pytest.mark.slow
def test_long_random_mix():
    rng = random.Random(2024)
    jobs = random_jobs(rng, lanes=16, per_lane=6, max_blocks=40)
    run_cbc(CBCUnit(), jobs, rng=rng, idle=0.05, stall=0.3)
    check_jobs(jobs)


def test_reset_between_jobs_keeps_lanes_consistent():
    # The read pointers live in a RAM, which a reset does not clear: a lane that had consumed 3
    # of its 4 buffer places before the reset must still return its next job's blocks correctly.
    dut = CBCUnit(lanes=2)
    top = Module()
    top.domains.sync = sync = ClockDomain()
    top.submodules.dut = dut
    rng = random.Random(3)
    jobs = [
        Job(1, rng.randbytes(8), rng.randbytes(8), rng.randbytes(8 * n), d)
        for n, d in ((3, True), (5, False))
    ]

    async def run_job(ctx, job: Job) -> None:
        await put(ctx, dut.start, {"lane": 1, "decrypt": job.decrypt, "key": int.from_bytes(job.key, "big"),
                                   "iv": int.from_bytes(job.iv, "big")})  # fmt: skip
        for n in range(job.blocks):
            await put(ctx, dut.i, {"lane": 1, "data": int.from_bytes(job.data[8 * n : 8 * n + 8], "big")})
        for _ in range(job.blocks):
            job.out += (await get(ctx, dut.o)).data.to_bytes(8, "big")

    async def bench(ctx):
        await run_job(ctx, jobs[0])
        ctx.set(sync.rst, 1)
        await ctx.tick()
        ctx.set(sync.rst, 0)
        await run_job(ctx, jobs[1])

    run_sim(top, bench)
    check_jobs(jobs)
