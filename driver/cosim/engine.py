"""A :class:`~driver.api.CryptoEngine` whose device is the engine's Verilog in a simulator process.

Jobs and contexts are packed with :mod:`hdl.layouts` (the only place that knows a bit position),
sent to the simulator as whole frames, and the result frames parsed back; the simulator clocks
the engine between exchanges on its own. :class:`~driver.verilator_backend.VerilatorEngine` and
:class:`~driver.icarus_backend.IcarusEngine` choose the simulator.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

from hdl.layouts import Auth, parse_result

from ..api import (
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
from ..engine_frames import (
    INVALID_CONTEXT,
    context_bits,
    context_write,
    frame_result,
    job_words,
    simulation_counters,
)
from .build import CosimBuildError, Progress, build, build_root, stderr_progress
from .transport import CosimError, CosimProcess
from .verilog import engine_design


class CosimEngine(CryptoEngine):
    """The engine's Verilog on a simulator (set by subclasses in :attr:`simulator`).

    ``params`` (the other keywords): the engine's constructor parameters (``conns=64``,
    ``cbc_lanes=4``, ...; default: :data:`hdl.engine.DEFAULTS`); the build is cached per
    resulting Verilog. ``queue_depth``: jobs submitted and not yet collected.
    ``cycles_per_poll``: the most cycles one :meth:`poll` lets the engine run.
    ``stall_polls``: consecutive polls without any progress after which the engine counts as
    hung (:class:`~driver.api.EngineFault`). ``timeout``: wall-clock seconds one exchange with
    the simulator may take.

    ``stats.extra`` holds, as of the last poll, the engine's performance counters and the
    simulator's speed (:func:`~driver.engine_frames.simulation_counters`).
    """

    simulator = ""
    card_slot = 5

    def __init__(
        self,
        *,
        queue_depth: int = 256,
        cycles_per_poll: int = 20_000,
        stall_polls: int = 50,
        timeout: float = 120.0,
        progress: Progress = stderr_progress,
        **params: object,
    ) -> None:
        super().__init__()
        if queue_depth < 1 or cycles_per_poll < 1:
            raise EngineError("queue_depth and cycles_per_poll must be at least 1")
        self.name = self.simulator
        self.queue_depth = queue_depth
        self.cycles_per_poll = cycles_per_poll
        self.stall_polls = stall_polls
        try:
            design = engine_design(params, build_root() / "verilog")
        except ValueError as e:
            raise EngineError(str(e)) from None
        self.parameters = design.parameters
        conns = int(self.parameters.get("conns", 1024))
        self.max_conns = conns - 1
        """Conn ids 1..conns-1 are handed out (0 never is, as in the software engine)."""
        self._conns = conns
        try:
            program = build(self.simulator, design.verilog, design.ports, progress)
            self._proc: CosimProcess | None = CosimProcess(self.simulator, program, timeout)
        except (CosimBuildError, CosimError, OSError) as e:
            raise EngineFault(f"{self.simulator}: {e}") from None
        self._sas: dict[int, SAParams] = {}
        self._ids = ConnIds(self.max_conns)
        self._inflight: dict[int, deque[tuple[Job, Auth]]] = {}
        self._pending = 0
        self._done: deque[Result] = deque()
        self._stalled = 0
        self.perf = 0
        """The engine's ``perf`` vector as of the last poll (:data:`hdl.layouts.PerfCounters`)."""
        self.cycles = 0
        """Cycles the engine has been clocked through polls."""
        self.sim_seconds = 0.0
        """Wall-clock seconds spent in runs of the simulator (the exchanges included)."""

    def _device(self) -> CosimProcess:
        if self._proc is None:
            raise EngineFault(f"{self.simulator}: the engine is closed")
        return self._proc

    # -- SA contexts ------------------------------------------------------------------------------

    def install(self, sa: SAParams) -> int:
        """Write ``sa``'s context into a free slot and return its conn id."""
        if len(self._sas) >= self.max_conns:
            raise CapacityError(f"{self.name}: all {self.max_conns} conn ids are in use")
        conn_id = self._ids.free(self._sas)
        self._ids.take(conn_id)
        self._device().write_context(context_write(conn_id, context_bits(sa)))
        self._sas[conn_id] = sa
        self._counters[conn_id] = ConnCounters()
        return conn_id

    def remove(self, conn_id: int) -> None:
        """Invalidate the conn id's context; its jobs not yet run complete with ``BAD_CONN``."""
        if conn_id not in self._sas:
            raise UnknownConnError(f"conn id {conn_id} is not installed")
        self._device().write_context(context_write(conn_id, INVALID_CONTEXT))
        del self._sas[conn_id]
        del self._counters[conn_id]

    # -- jobs -------------------------------------------------------------------------------------

    def submit(self, jobs: Sequence[Job]) -> int:
        """Queue as many of ``jobs`` as fit; a malformed job refuses the whole call."""
        frames = [job_words(job, job.tag) for job in jobs]
        device = self._device()
        n = 0
        for job, words in zip(jobs, frames, strict=True):
            if self._pending >= self.queue_depth or len(words) > device.room():
                break
            device.queue_job(words)
            sa = self._sas.get(job.conn_id)
            auth = sa.auth if sa is not None else Auth.NONE
            self._inflight.setdefault(job.tag, deque()).append((job, auth))
            self._pending += 1
            n += 1
        if n < len(jobs):
            self.stats.queue_full += 1
        return n

    def pending(self) -> int:
        return self._pending

    def poll(self, max_results: int | None = None) -> list[Result]:
        """Clock the engine until its queued jobs are done (at most ``cycles_per_poll`` cycles)
        and return the results that came out, in completion order."""
        if self._pending and not self._done:
            self._run_device()
        n = len(self._done) if max_results is None else min(max_results, len(self._done))
        return [self._done.popleft() for _ in range(n)]

    def _run_device(self) -> None:
        queued_before = self._device().queued_words
        start = time.perf_counter()
        try:
            report = self._device().run(self.cycles_per_poll)
        except CosimError as e:
            self.close()
            raise EngineFault(str(e)) from None
        self.sim_seconds += time.perf_counter() - start
        self.cycles += report.cycles
        self.perf = report.perf
        self.stats.extra.update(simulation_counters(report.perf, self.cycles, self.sim_seconds))
        out = self._done
        for _, words in report.results:
            try:
                frame = parse_result(words)
            except (ValueError, IndexError) as e:
                raise EngineFault(f"{self.name}: malformed result frame: {e}") from None
            queue = self._inflight.get(frame.tag)
            if not queue:
                raise EngineFault(f"{self.name}: result for tag {frame.tag} that is not in flight")
            job, auth = queue.popleft()
            if not queue:
                del self._inflight[frame.tag]
            self._pending -= 1
            result = frame_result(frame, job, auth)
            self._account(job, result)
            out.append(result)
        progressed = out or report.queued_words < queued_before
        self._stalled = 0 if progressed else self._stalled + 1
        if self._stalled >= self.stall_polls:
            raise EngineFault(f"{self.name}: no progress in {self._stalled * self.cycles_per_poll} cycles")

    def close(self) -> None:
        """Stop the simulator process."""
        if self._proc is not None:
            self._proc.close()
            self._proc = None
