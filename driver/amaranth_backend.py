"""The ``amaranth`` backend: the crypto engine (:class:`hdl.engine.Engine`) in Amaranth's
simulator, in this process. It needs nothing outside pip and is the project's embedded default
accelerator, in card slot 5 like the co-simulated backends.

How it drives the engine
    One long-lived :class:`amaranth.sim.Simulator` per engine, with one background testbench
    (:meth:`_Device.bench`) that streams whole frames: it offers the next job word whenever the
    ``jobs`` stream is free, takes a result word whenever one is valid (``results.ready`` is
    always high: the host never back-pressures), and writes SA contexts through the ``contexts``
    stream in the order the host issued them relative to the jobs. Python runs once per cycle in
    that testbench and nowhere else; :meth:`AmaranthEngine.poll` advances the simulation only
    while jobs are outstanding, until a result frame is complete (or ``poll_cycles`` cycles
    passed), so an idle engine costs nothing. All queued jobs stream in back to back, so the
    engine sees jobs of many SAs at once and interleaves them.

Tags
    The engine's tags are 16 bits; the backend gives every job in flight a hardware tag of its
    own and maps results back to the caller's job (and tag), so that results may come back out of
    order and the caller's tags need not be unique.

SAs
    :meth:`~AmaranthEngine.install` takes a free conn id (1 .. ``conns``-1, handed out
    round-robin so that an id is not reused while jobs of its old SA may be in flight) and writes
    its context (DES key, HMAC chaining values: :mod:`driver.engine_frames`);
    :meth:`~AmaranthEngine.remove` writes an invalid context. Context writes are ordered with the
    jobs: a job submitted before a remove runs under the old context.

Parameters
    The engine's constructor parameters are keyword arguments (``conns``, ``des_stages``,
    ``cbc_lanes``, ``hash_lanes``, ``slots``, ``max_job_bytes``, ``hash_fifo_depth``). Python per
    simulated cycle is what makes this backend slow, and the simulator's cost per cycle grows with
    the amount of logic, so the defaults (:data:`SIM_DEFAULTS`) are a reduced configuration: the
    full 1024 contexts (a memory costs nothing per cycle), but fewer CBC and hash lanes and job
    slots than the synthesis default (:data:`hdl.engine.DEFAULTS`); the results are identical, only
    the cycle counts differ. Pass ``**hdl.engine.DEFAULTS`` for the full engine. Measured on one
    idle core (ESP esp-des + esp-sha-hmac outbound, 16 jobs over 16 SAs, 1400 bytes): the
    default simulates ~2000 cycles/s and 1.7 packets/s (1.2 B/cycle), the full engine ~1000
    cycles/s and 1.8 packets/s (2.6 B/cycle), 2 CBC / 1 hash lanes / 4 slots ~2800 cycles/s and
    1.3 packets/s; the lab (a few packets at a time, so latency-bound: cycles per job are about the
    same in every configuration) runs the simple example in 17 s on the default, 15 s on the
    smallest and 30 s on the full engine.

Figures
    ``stats.extra`` holds the engine's performance counters as of the last poll (``cycles``,
    ``busy_cycles``, ``stall_cycles``, ``jobs_done``, ``des_blocks``, ``hash_blocks``), the wall
    time spent simulating (``sim_ms``) and the rate (``cycles_per_s``); :attr:`cycles` is the
    simulated cycle count.

Faults
    A simulation that raises, or an engine that moves no word for ``watchdog_cycles`` cycles while
    jobs are outstanding, is an :class:`~driver.api.EngineFault` (an engine manager then fails
    over to software). Closed engines return their simulator to a per-parameter pool, so that the
    next engine of the same configuration skips elaboration (the simulation is reset first).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

from amaranth.sim import Simulator

from hdl.engine import DEFAULTS, Engine, check_parameters
from hdl.layouts import WORD_BYTES, Auth, parse_result

from .api import (
    CapacityError,
    ConnCounters,
    ConnIds,
    CryptoEngine,
    EngineError,
    EngineFault,
    Job,
    Result,
    SAParams,
    UnknownConnError,
)
from .engine_frames import (
    INVALID_CONTEXT,
    TAG_SPACE,
    context_bits,
    context_write,
    frame_result,
    job_words,
    simulation_counters,
)

__all__ = ["AmaranthEngine", "SIM_DEFAULTS"]

SIM_DEFAULTS = {
    "conns": 1024,
    "des_stages": 16,
    "cbc_lanes": 4,
    "hash_lanes": 2,
    "slots": 8,
}
"""The backend's default engine parameters (over :data:`hdl.engine.DEFAULTS`); see the module
docstring for why they are smaller than the synthesis default."""

_PERIOD = 1e-8
"""The simulated clock period (100 MHz; only cycle counts matter)."""
_LAST = 1 << 8 * WORD_BYTES
"""The ``last`` bit of a stream payload, above the 64 data bits."""
_DATA = _LAST - 1
_COALESCE = 4096
"""Queued context writes beyond which :meth:`AmaranthEngine.install` flushes them into the engine."""


class _Device:
    """One elaborated engine in a simulator, and the frames queued for it.

    ``cmds``: what the testbench feeds the engine, in order: a job frame (a tuple of words) or a
    ``contexts`` beat (an int). ``frames``: completed result frames (lists of words).
    """

    def __init__(self, params: dict) -> None:
        self.params = params
        check_parameters(params)
        self.dut = Engine(**params)
        self.sim = Simulator(self.dut)
        self.sim.add_clock(_PERIOD)
        self.sim.add_testbench(self.bench, background=True)
        self.clear()
        self.sim.advance()  # start the testbench (so that no coroutine is left never awaited)

    def clear(self) -> None:
        """Forget all queued work and counts (after :meth:`Simulator.reset`)."""
        self.cmds: deque[tuple[int, ...] | int] = deque()
        self.frames: list[list[int]] = []
        self.cycles = 0
        """Cycles simulated since the last reset."""
        self.progress_cycle = 0
        """The last cycle in which a word moved on any stream."""
        self.stop_cycle = 0
        self.running = False
        self.perf = 0
        """The ``perf`` vector read when the last run stopped."""

    def reset(self) -> None:
        """Back to the state after reset: every context invalid, nothing in flight."""
        self.sim.reset()
        self.clear()
        self.sim.advance()

    def run(self, max_cycles: int) -> None:
        """Simulate until a result frame has completed or ``max_cycles`` cycles have passed."""
        self.stop_cycle = self.cycles + max_cycles
        self.running = True
        advance = self.sim.advance
        while self.running:
            advance()

    async def bench(self, ctx) -> None:
        """The testbench: streams queued frames in and result frames out, one step per cycle.

        The values sampled at each clock edge are those the engine saw: a word on offer was
        taken when ``ready`` was high at that edge."""
        dut = self.dut
        jv, jd, jr = dut.jobs.valid, dut.jobs.payload.as_value(), dut.jobs.ready
        rv, rd = dut.results.valid, dut.results.payload.as_value()
        cv, cd, cr = dut.contexts.valid, dut.contexts.payload.as_value(), dut.contexts.ready
        perf = dut.perf.as_value()
        ctx.set(dut.results.ready, 1)
        cmds, frames = self.cmds, self.frames
        words: tuple[int, ...] = ()  # the job frame on offer (empty: none)
        i = n = 0
        beat = False  # a context write on offer
        frame: list[int] = []
        async for _, _, jready, cready, rvalid, rword in ctx.tick().sample(jr, cr, rv, rd):
            self.cycles = cycle = self.cycles + 1
            if words and jready:
                i += 1
                self.progress_cycle = cycle
                if i < n:
                    ctx.set(jd, words[i] | (_LAST if i == n - 1 else 0))
                else:
                    words = ()
                    if not cmds or type(cmds[0]) is int:
                        ctx.set(jv, 0)
            if beat and cready:
                beat = False
                self.progress_cycle = cycle
                ctx.set(cv, 0)
            if rvalid:
                self.progress_cycle = cycle
                frame.append(rword & _DATA)
                if rword & _LAST:
                    frames.append(frame)
                    frame = []
            if not words and not beat and cmds:
                cmd = cmds.popleft()
                if type(cmd) is int:
                    ctx.set(cd, cmd)
                    ctx.set(cv, 1)
                    beat = True
                else:
                    words, i, n = cmd, 0, len(cmd)
                    ctx.set(jd, words[0] | (_LAST if n == 1 else 0))
                    ctx.set(jv, 1)
            if frames or cycle >= self.stop_cycle:
                if self.running:
                    self.perf = ctx.get(perf)
                self.running = False


_POOL: dict[tuple, list[_Device]] = {}
"""Closed engines' simulators, per parameter set, for reuse."""


def _device(params: dict) -> _Device:
    key = tuple(sorted(params.items()))
    free = _POOL.get(key)
    if free:
        dev = free.pop()
        dev.reset()
        return dev
    return _Device(params)


class AmaranthEngine(CryptoEngine):
    """The engine in Amaranth's simulator (see the module docstring).

    ``queue_depth``: jobs submitted and not yet collected. ``poll_cycles``: the most cycles one
    :meth:`poll` simulates while waiting for a result. ``watchdog_cycles``: cycles without any
    word moving, with jobs outstanding, after which the engine counts as hung.
    ``**params``: engine parameters over :data:`SIM_DEFAULTS`.
    """

    name = "amaranth"
    card_slot = 5

    def __init__(
        self,
        *,
        queue_depth: int = 64,
        poll_cycles: int = 5_000,
        watchdog_cycles: int = 20_000,
        **params: int,
    ) -> None:
        super().__init__()
        if not 1 <= queue_depth <= TAG_SPACE // 2:
            raise EngineError(f"queue_depth must be 1..{TAG_SPACE // 2}")
        if poll_cycles < 1 or watchdog_cycles < 1:
            raise EngineError("poll_cycles and watchdog_cycles must be at least 1")
        self.queue_depth = queue_depth
        self.poll_cycles = poll_cycles
        self.watchdog_cycles = watchdog_cycles
        unknown = sorted(set(params) - set(DEFAULTS))
        if unknown:
            raise EngineError(f"{self.name}: unknown Engine parameter(s): {', '.join(unknown)}")
        self.params = {**SIM_DEFAULTS, **params}
        try:
            self._dev: _Device | None = _device(self.params)
        except (TypeError, ValueError) as e:
            raise EngineError(f"{self.name}: {e}") from None
        conns = self._dev.dut.params["conns"]
        self.max_conns = conns - 1
        """Conn ids 1 .. conns-1 are handed out (0 never is, as in the software engine)."""
        self._sas: dict[int, SAParams] = {}
        self._ids = ConnIds(self.max_conns)
        self._inflight: dict[int, tuple[Job, Auth]] = {}
        self._next_tag = 0
        self._done: deque[Result] = deque()
        self._ctx_queued = 0
        self.sim_seconds = 0.0
        """Wall-clock seconds spent simulating."""
        self._update_extra(self._dev)

    @property
    def cycles(self) -> int:
        """Cycles simulated so far."""
        return self._dev.cycles if self._dev is not None else 0

    def _device(self) -> _Device:
        if self._dev is None:
            raise EngineFault(f"{self.name}: the engine is closed")
        return self._dev

    # -- SA contexts ---------------------------------------------------------------------------

    def install(self, sa: SAParams) -> int:
        """Write ``sa``'s context into a free conn id and return the id."""
        dev = self._device()
        if len(self._sas) >= self.max_conns:
            raise CapacityError(f"{self.name}: all {self.max_conns} conn ids are in use")
        conn_id = self._ids.free(self._sas)
        self._ids.take(conn_id)
        self._write_context(dev, conn_id, context_bits(sa))
        self._sas[conn_id] = sa
        self._counters[conn_id] = ConnCounters()
        return conn_id

    def remove(self, conn_id: int) -> None:
        """Invalidate the conn id's context; jobs submitted before still run under it."""
        if conn_id not in self._sas:
            raise UnknownConnError(f"conn id {conn_id} is not installed")
        self._write_context(self._device(), conn_id, INVALID_CONTEXT)
        del self._sas[conn_id]
        del self._counters[conn_id]

    def _write_context(self, dev: _Device, conn_id: int, bits: int) -> None:
        dev.cmds.append(context_write(conn_id, bits))
        self._ctx_queued += 1
        if self._ctx_queued >= _COALESCE:  # many SAs and no jobs: let the engine take them
            self._flush()

    def _flush(self) -> None:
        dev = self._device()
        while dev.cmds:
            self._simulate(dev, self.poll_cycles)
            self._collect(dev)
        self._ctx_queued = 0

    # -- jobs ----------------------------------------------------------------------------------

    def submit(self, jobs: Sequence[Job]) -> int:
        """Queue as many of ``jobs`` as fit; a malformed job refuses the whole call."""
        dev = self._device()
        room = self.queue_depth - len(self._inflight)
        take = jobs if len(jobs) <= room else jobs[: max(room, 0)]
        tags: list[int] = []
        tag = self._next_tag
        inflight = self._inflight
        frames = []
        for k, job in enumerate(jobs):  # every job is checked, also those that will not fit
            if k < len(take):
                while tag in inflight:  # (tags go round 65536 values; at most queue_depth are taken)
                    tag = (tag + 1) % TAG_SPACE
                tags.append(tag)
                frames.append(job_words(job, tag))
                tag = (tag + 1) % TAG_SPACE
            else:
                job_words(job, 0)
        sas = self._sas
        for job, hw_tag, words in zip(take, tags, frames, strict=True):
            sa = sas.get(job.conn_id)
            inflight[hw_tag] = (job, sa.auth if sa is not None else Auth.NONE)
            dev.cmds.append(words)
        self._next_tag = tag
        self._ctx_queued = 0
        if len(take) < len(jobs):
            self.stats.queue_full += 1
        return len(take)

    def pending(self) -> int:
        return len(self._inflight)

    def poll(self, max_results: int | None = None) -> list[Result]:
        """Simulate until a result comes out (at most ``poll_cycles`` cycles, and not at all when
        nothing is outstanding or results are waiting) and return results in completion order."""
        if self._inflight and not self._done:
            dev = self._device()
            self._simulate(dev, self.poll_cycles)
            self._collect(dev)
            if not self._done and dev.cycles - dev.progress_cycle >= self.watchdog_cycles:
                self.close()
                raise EngineFault(
                    f"{self.name}: no word moved in {self.watchdog_cycles} cycles "
                    f"with {len(self._inflight)} jobs outstanding"
                )
        n = len(self._done) if max_results is None else min(max_results, len(self._done))
        return [self._done.popleft() for _ in range(n)]

    def _simulate(self, dev: _Device, cycles: int) -> None:
        start = time.perf_counter()
        try:
            dev.run(cycles)
        except Exception as e:  # the simulation itself failed: the device is unusable
            self._dev = None
            raise EngineFault(f"{self.name}: simulation failed: {type(e).__name__}: {e}") from None
        finally:
            self.sim_seconds += time.perf_counter() - start
        self._update_extra(dev)

    def _collect(self, dev: _Device) -> None:
        frames = list(dev.frames)  # (the testbench holds on to the list object)
        dev.frames.clear()
        for words in frames:
            try:
                frame = parse_result(words)
            except (ValueError, IndexError) as e:
                raise EngineFault(f"{self.name}: malformed result frame: {e}") from None
            entry = self._inflight.pop(frame.tag, None)
            if entry is None:
                raise EngineFault(f"{self.name}: result for tag {frame.tag}, which is not in flight")
            job, auth = entry
            result = frame_result(frame, job, auth)
            self._account(job, result)
            self._done.append(result)

    def _update_extra(self, dev: _Device) -> None:
        self.stats.extra.update(simulation_counters(dev.perf, dev.cycles, self.sim_seconds))

    def close(self) -> None:
        """Give the simulator back to the pool (it is reset before its next use)."""
        dev, self._dev = self._dev, None
        if dev is not None:
            _POOL.setdefault(tuple(sorted(dev.params.items())), []).append(dev)
