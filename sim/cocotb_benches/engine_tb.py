"""The engine's test bench: stream drivers, a result monitor, the reference model and a checker.

Signals are sampled in the read-only phase of a cycle and driven right after the clock edge, so a
handshake is "valid and ready were both high in the cycle before this edge", whatever the
simulator does with values at the edge itself. Bit positions come only from :mod:`hdl.layouts`.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Event, ReadOnly, RisingEdge

from driver.api import Job, SAParams
from driver.engine_frames import INVALID_CONTEXT, context_bits, context_write
from hdl.layouts import StreamWord, pack_job, parse_result, result_word_count

from .model import Expected, expect

_LAST = StreamWord["last"].offset
_DATA = StreamWord["data"].offset
_DATA_MASK = (1 << StreamWord["data"].width) - 1


def stream_word(data: int, last: bool) -> int:
    """The ``jobs`` / ``results`` payload of one word."""
    return (data << _DATA) | (int(last) << _LAST)


class StreamSource:
    """Drives a valid/ready stream from a queue of frames (lists of payload values).

    ``valid_pct``: the chance (in %) of offering the next word in a cycle; once offered, a word
    stays on the bus until taken, as the stream rules require.
    """

    def __init__(self, dut, prefix: str, clk, rng: random.Random, valid_pct: int = 100) -> None:
        self.payload = getattr(dut, f"{prefix}__payload")
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.clk, self.rng, self.valid_pct = clk, rng, valid_pct
        self.queue: deque[int] = deque()
        self.idle = Event()
        self.idle.set()
        self._wake = Event()
        self.valid.value = 0
        cocotb.start_soon(self._run())

    def send(self, beats: Sequence[int]) -> None:
        """Queue beats (payload values) to be offered in order."""
        self.queue.extend(beats)
        self.idle.clear()
        self._wake.set()

    async def _run(self) -> None:
        offered = False
        while True:
            if not offered and not self.queue:
                self.valid.value = 0
                self.idle.set()
                self._wake.clear()
                await self._wake.wait()
                await RisingEdge(self.clk)
            if not offered and self.rng.randrange(100) < self.valid_pct:
                self.payload.value = self.queue[0]
                self.valid.value = 1
                offered = True
            elif not offered:
                self.valid.value = 0
            await ReadOnly()
            taken = offered and bool(self.ready.value)
            await RisingEdge(self.clk)
            if taken:
                self.queue.popleft()
                offered = False


class ResultMonitor:
    """Takes result words (``ready`` high with chance ``ready_pct`` %) and hands each complete
    frame (a list of 64-bit words) to ``on_frame``."""

    def __init__(self, dut, clk, rng: random.Random, on_frame, ready_pct: int = 100) -> None:
        self.payload, self.valid, self.ready = dut.results__payload, dut.results__valid, dut.results__ready
        self.clk, self.rng, self.on_frame, self.ready_pct = clk, rng, on_frame, ready_pct
        self.words: list[int] = []
        self.enabled = False
        """Set once the engine is out of reset: until then no word is taken."""
        self.ready.value = 0
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        while True:
            self.ready.value = int(self.enabled and self.rng.randrange(100) < self.ready_pct)
            await ReadOnly()
            if self.ready.value and self.valid.value:
                beat = int(self.payload.value)
                self.words.append((beat >> _DATA) & _DATA_MASK)
                if (beat >> _LAST) & 1:
                    words, self.words = self.words, []
                    self.on_frame(words)
            await RisingEdge(self.clk)


@dataclass
class Checker:
    """Compares each result frame with the model's prediction for the job of the same tag."""

    expected: dict[int, tuple[Job, Expected]] = field(default_factory=dict)
    results: dict[int, object] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    done: Event = field(default_factory=Event)

    def expect(self, job: Job, want: Expected) -> None:
        if job.tag in self.expected or job.tag in self.results:
            raise ValueError(f"tag {job.tag} used twice in one bench")
        self.expected[job.tag] = (job, want)
        self.done.clear()

    def frame(self, words: list[int]) -> None:
        try:
            r = parse_result(words)
        except ValueError as e:
            self.errors.append(f"unparseable result {[hex(w) for w in words[:3]]}: {e}")
            return
        if len(words) != result_word_count(words[0]):
            self.errors.append(f"tag {r.tag}: {len(words)} words, header says {result_word_count(words[0])}")
        if r.tag not in self.expected:
            self.errors.append(f"result for tag {r.tag} that is not in flight ({r.status.name})")
            return
        job, want = self.expected.pop(r.tag)
        self.results[r.tag] = r
        icv = None if r.icv is None or want.icv is None else r.icv[: len(want.icv)]
        what = f"tag {r.tag} {job.op.name} conn {job.conn_id} ({len(job.auth_data)}+{len(job.cipher_data)} B)"
        if r.conn_id != job.conn_id:
            self.errors.append(f"{what}: result names conn {r.conn_id}")
        if r.status is not want.status:
            self.errors.append(f"{what}: status {r.status.name}, want {want.status.name}")
        elif r.data != want.data:
            self.errors.append(f"{what}: data differs from the reference")
        elif (r.icv is None) != (want.icv is None) or icv != want.icv:
            self.errors.append(f"{what}: ICV {icv and icv.hex()}, want {want.icv and want.icv.hex()}")
        if not self.expected:
            self.done.set()


class EngineBench:
    """The engine with its clock, reset, drivers, monitor, model and checker."""

    def __init__(self, dut, seed: int = 1, job_valid_pct: int = 100, result_ready_pct: int = 100) -> None:
        self.dut = dut
        self.rng = random.Random(seed)
        self.sas: dict[int, SAParams] = {}
        self.checker = Checker()
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.jobs = StreamSource(dut, "jobs", dut.clk, self.rng, job_valid_pct)
        self.contexts = StreamSource(dut, "contexts", dut.clk, self.rng, 100)
        self.monitor = ResultMonitor(dut, dut.clk, self.rng, self.checker.frame, result_ready_pct)

    async def reset(self, cycles: int = 4, conns: int = 0) -> None:
        """Reset the engine, then invalidate conn ids 0..conns-1: the context memory, block RAM,
        keeps its contents through a reset (and tests share one simulator run)."""
        self.dut.rst.value = 1
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        self.monitor.enabled = True
        if conns:
            self.contexts.send([context_write(c, INVALID_CONTEXT) for c in range(conns)])
            await self.contexts.idle.wait()
            self.sas.clear()

    async def install(self, conn_id: int, sa: SAParams) -> None:
        """Write ``sa``'s context into ``conn_id`` and wait until the engine took it."""
        self.contexts.send([context_write(conn_id, context_bits(sa))])
        await self.contexts.idle.wait()
        self.sas[conn_id] = sa

    async def invalidate(self, conn_id: int) -> None:
        """Clear ``conn_id``'s context (its later jobs must end with BAD_CONN)."""
        self.contexts.send([context_write(conn_id, INVALID_CONTEXT)])
        await self.contexts.idle.wait()
        self.sas.pop(conn_id, None)

    def submit(self, job: Job, expected: Expected | None = None) -> None:
        """Queue ``job``; the checker expects the model's answer (or ``expected``)."""
        self.checker.expect(job, expected or expect(self.sas.get(job.conn_id), job))
        words = pack_job(job.op, job.conn_id, job.tag, job.auth_data, job.cipher_data, job.iv, job.icv).words
        self.submit_words(words)

    def submit_words(self, words: Sequence[int]) -> None:
        """Queue one raw job frame (``last`` on its final word)."""
        self.jobs.send([stream_word(w, i == len(words) - 1) for i, w in enumerate(words)])

    async def drain(self, timeout_cycles: int) -> None:
        """Wait until every submitted job has its result; fail after ``timeout_cycles``."""
        from cocotb.triggers import ClockCycles, First

        if self.checker.expected:
            timer = ClockCycles(self.dut.clk, timeout_cycles)
            await First(self.checker.done.wait(), timer)
        missing = sorted(self.checker.expected)
        assert not missing, f"no result after {timeout_cycles} cycles for tags {missing[:20]}"
        await ClockCycles(self.dut.clk, 64)  # a stray extra result would show up here

    def assert_clean(self) -> None:
        """Fail with every mismatch the checker saw."""
        assert not self.checker.errors, "\n".join(self.checker.errors[:30])
