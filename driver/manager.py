"""The engine manager: an accelerator with the software engine behind it, as IOS runs them.

:class:`EngineManager` *is* a :class:`~driver.api.CryptoEngine`, so the router uses it exactly as
it uses one backend. Behind it sit an accelerator (any engine whose ``card_slot`` is not 0: the
``amaranth``, ``verilator`` or ``icarus`` backend, or a test's fault injector) and the software
engine (slot 0). The manager:

- numbers SAs with its own conn ids (what ``show crypto ipsec sa`` and ``show crypto engine
  connections active`` print), 1 upward and round-robin like the backends, so that an id is not
  reused while jobs of its old SA may be in flight; an id stays the same for the SA's whole life,
  whichever engine serves it. Each id maps to (engine, that engine's conn id);
- installs a new SA on the accelerator; when the accelerator has no free context
  (:class:`~driver.api.CapacityError`) the SA is served by software instead, logged as
  ``%CRYPTO-4-ENGINE_FULL`` and counted in ``fallbacks``;
- tags the jobs it hands to a backend with tags of its own, so that it can tell a result that
  cannot be (a tag not in flight on that engine, a conn id that is not the job's, a status the
  engine never produces, data or ICV of the wrong size, ``BAD_CONN`` for a context the manager
  never removed) from a real one;
- declares the accelerator failed when it raises :class:`~driver.api.EngineFault` (or any
  exception other than the API's answers: a full context memory, an unknown conn id), answers
  with an impossible result, or stops answering: ``timeout_polls`` consecutive polls with jobs
  outstanding on it and no result coming back (progress is counted in polls, the caller's own
  notion of time; a backend with a cycle watchdog of its own, like the co-simulation's, raises
  sooner). Then it
  logs ``%ISA-6-INFO: ISA slot 5: Firmware heartbeat failed`` (a timeout, the message IOS printed
  when the ISA card's firmware stopped answering, field notice FN13070) or ``%ISA-6-INFO: ISA slot
  5: <the fault>``, followed by ``%CRYPTO-4-ENGINE_FAILED`` with what moved; re-installs every SA
  the accelerator served on the software engine from the :class:`~driver.api.SAParams` it kept,
  runs there again every job that was in flight on the accelerator (jobs are pure functions of
  the SA and the job, so the results are the same), closes the accelerator and carries on in
  software. A failed accelerator is not used again (IOS needs a reload for that too);
- counts back-pressure from a backend's queue as "ppq full" (the VAM's packet-queue-full
  counter) and applies ``on_queue_full``: ``"wait"`` accepts only the prefix of a submit that fits
  (the caller's :meth:`run` polls and submits the rest: the packet waits), ``"drop"`` accepts all
  and completes each job that did not fit with :attr:`~driver.api.Status.QUEUE_FULL`, which the
  router counts as an engine-error drop. Nothing is lost silently either way.

The log lines go to :attr:`EngineManager.log` and to every callback given to
:meth:`EngineManager.subscribe_log`. :func:`engine_slots` describes any engine, managed or not,
slot by slot, for ``show crypto engine configuration``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hdl.layouts import icv_length

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
    Status,
    UnknownConnError,
)

__all__ = ["EngineManager", "EngineRecord", "SlotInfo", "engine_slots", "QUEUE_POLICIES"]

QUEUE_POLICIES = ("wait", "drop")
"""What :class:`EngineManager` does with a job that a backend's full queue refuses."""

_TAGS = 1 << 16
_IV = 8
_ICV_FIELD = 16


@dataclass
class EngineRecord:
    """The manager's view of one engine behind it."""

    engine: CryptoEngine
    failed: bool = False
    fault: str = ""
    """Why it failed (empty while it is up)."""
    jobs: int = 0
    """Jobs it completed for the manager."""
    ppq_full: int = 0
    """Submits it cut short because its queue was full."""
    dropped: int = 0
    """Jobs completed with QUEUE_FULL because its queue was full (``on_queue_full="drop"``)."""
    inflight: int = 0
    """Jobs handed to it and not yet back."""
    stalled: int = 0
    """Consecutive polls with jobs outstanding and no result."""
    conns: int = 0
    """SAs it serves for the manager."""

    @property
    def state(self) -> str:
        return "failed" if self.failed else "up"


@dataclass(slots=True, eq=False)
class _Conn:
    """One manager conn id: the SA, the engine serving it and that engine's conn id."""

    conn_id: int
    params: SAParams
    record: EngineRecord | None
    backend_id: int
    removed: bool = False


@dataclass(slots=True, eq=False)
class _Flight:
    """A caller's job on its way through a backend (or waiting to be re-run on software)."""

    job: Job
    conn: _Conn
    record: EngineRecord | None = None
    tag: int = -1
    backend_id: int = 0


@dataclass(frozen=True)
class SlotInfo:
    """One engine as ``show crypto engine configuration`` describes it."""

    slot: int
    name: str
    state: str
    """``up`` or ``failed``."""
    fault: str
    conns: int
    """Contexts (conn ids) in use on it."""
    max_conns: int
    queue_depth: int
    pending: int
    jobs: int
    ppq_full: int
    dropped: int
    fallbacks: int
    """SAs sent to software because this accelerator was full (0 for the software engine)."""
    failovers: int
    """Times this accelerator failed and its SAs moved to software."""
    counters: dict[str, int] = field(default_factory=dict)
    """Backend figures (``cycles`` and the backend's ``stats.extra``)."""


class EngineManager(CryptoEngine):
    """An accelerator backend with software fallback (see the module docstring).

    ``accelerator``: an engine with ``card_slot != 0`` (or None: software only).
    ``software``: the slot-0 engine (default a new :class:`~driver.software.SoftwareEngine`).
    ``on_queue_full``: ``"wait"`` or ``"drop"``. ``timeout_polls``: polls without a result, with
    jobs outstanding on the accelerator, after which it counts as dead. ``max_conns``: manager
    conn ids (1 .. max_conns); default the two engines' contexts together, at most 65535 (the
    width of a job's conn id field).
    """

    def __init__(
        self,
        accelerator: CryptoEngine | None,
        software: CryptoEngine | None = None,
        *,
        on_queue_full: str = "wait",
        timeout_polls: int = 10_000,
        max_conns: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if on_queue_full not in QUEUE_POLICIES:
            raise EngineError(f"on_queue_full is one of {', '.join(QUEUE_POLICIES)}, not {on_queue_full!r}")
        if timeout_polls < 1:
            raise EngineError("timeout_polls must be at least 1")
        if software is None:
            from .software import SoftwareEngine

            software = SoftwareEngine()
        if max_conns is None:
            room = software.max_conns + (accelerator.max_conns if accelerator is not None else 0)
            max_conns = min(room, _TAGS - 1)
        if not 1 <= max_conns < _TAGS:
            raise EngineError(f"max_conns is 1..{_TAGS - 1}")
        if software.card_slot != 0:
            raise EngineError(f"the software engine sits in slot 0, not {software.card_slot}")
        if accelerator is not None and accelerator.card_slot == 0:
            raise EngineError("the accelerator needs a card slot other than 0")
        self.on_queue_full = on_queue_full
        self.timeout_polls = timeout_polls
        self.max_conns = max_conns
        self.accel = EngineRecord(accelerator) if accelerator is not None else None
        self.soft = EngineRecord(software)
        self.name = name or (accelerator.name if accelerator is not None else software.name)
        self.card_slot = accelerator.card_slot if accelerator is not None else 0
        self.queue_depth = (accelerator or software).queue_depth
        self.fallbacks = 0
        """SAs installed on software because the accelerator had no free context."""
        self.failovers = 0
        """Times the accelerator failed (0 or 1: a failed one is not used again)."""
        self.migrated = 0
        """SAs moved from the failed accelerator to software."""
        self.rerun = 0
        """Jobs that were in flight on the failed accelerator and ran again on software."""
        self.log: deque[str] = deque(maxlen=1000)
        """The manager's console messages, oldest first (the last 1000)."""
        self._log_listeners: list[Callable[[str], None]] = []
        self._conns: dict[int, _Conn] = {}
        self._ids = ConnIds(self.max_conns)
        self._flights: dict[int, _Flight] = {}
        self._next_tag = 0
        self._backlog: deque[_Flight] = deque()
        """Jobs to (re)submit to software before anything new: re-runs after a failure."""
        self._done: deque[Result] = deque()

    # -- reporting --------------------------------------------------------------------------------

    def subscribe_log(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(line)`` for every log line from now on."""
        self._log_listeners.append(callback)

    def _log(self, line: str) -> None:
        self.log.append(line)
        for cb in list(self._log_listeners):
            cb(line)

    def records(self) -> list[EngineRecord]:
        """The engines behind the manager: the accelerator (if any), then software."""
        return [self.accel, self.soft] if self.accel is not None else [self.soft]

    @property
    def accelerator_up(self) -> bool:
        return self.accel is not None and not self.accel.failed

    def slot_of(self, conn_id: int) -> int:
        """The IOS engine slot serving ``conn_id`` now: 0 (software) or the accelerator's."""
        try:
            conn = self._conns[conn_id]
        except KeyError:
            raise UnknownConnError(f"conn id {conn_id} is not installed") from None
        return 0 if conn.record is None else conn.record.engine.card_slot

    def backend_of(self, conn_id: int) -> tuple[CryptoEngine, int] | None:
        """(engine, its conn id) serving ``conn_id``; None if no engine could take it back
        after a failure."""
        conn = self._conns.get(conn_id)
        if conn is None:
            raise UnknownConnError(f"conn id {conn_id} is not installed")
        return None if conn.record is None else (conn.record.engine, conn.backend_id)

    def params_of(self, conn_id: int) -> SAParams:
        """The SA installed as ``conn_id``."""
        conn = self._conns.get(conn_id)
        if conn is None:
            raise UnknownConnError(f"conn id {conn_id} is not installed")
        return conn.params

    # -- SA contexts ------------------------------------------------------------------------------

    def install(self, sa: SAParams) -> int:
        """Install ``sa`` on the accelerator, or on software when the accelerator is full or
        fails; return the manager's conn id. Raises :class:`CapacityError` when no engine (or
        no manager conn id) is left, with nothing installed."""
        if len(self._conns) >= self.max_conns:
            raise CapacityError(f"{self.name}: all {self.max_conns} conn ids are in use")
        conn_id = self._ids.free(self._conns)
        record, backend_id = None, 0
        if self.accelerator_up:
            acc = self.accel
            try:
                backend_id = acc.engine.install(sa)
                record = acc
            except CapacityError:
                self.fallbacks += 1
                self._log(
                    f"%CRYPTO-4-ENGINE_FULL: crypto engine slot {acc.engine.card_slot} "
                    f"({acc.engine.name}) has no free context ({acc.conns} in use); "
                    f"conn id {conn_id} served by the software crypto engine, slot 0"
                )
            except Exception as e:  # noqa: BLE001 - any other failure of the card is a fault
                self._fail(_fault_text(e))
        if record is None:
            backend_id = self.soft.engine.install(sa)  # CapacityError propagates: nothing done
            record = self.soft
        self._ids.take(conn_id)
        record.conns += 1
        self._conns[conn_id] = _Conn(conn_id, sa, record, backend_id)
        self._counters[conn_id] = ConnCounters()
        return conn_id

    def remove(self, conn_id: int) -> None:
        """Remove an SA from its engine; its jobs in flight complete (BAD_CONN if the context
        is gone before they run)."""
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            raise UnknownConnError(f"conn id {conn_id} is not installed")
        del self._counters[conn_id]
        conn.removed = True
        rec = conn.record
        if rec is None:
            return
        rec.conns -= 1
        try:
            rec.engine.remove(conn.backend_id)
        except UnknownConnError:
            pass  # the engine forgot it already: nothing left to free
        except Exception as e:
            if rec is self.soft:
                raise
            self._fail(_fault_text(e))

    # -- jobs -------------------------------------------------------------------------------------

    def submit(self, jobs: Sequence[Job]) -> int:
        """Hand ``jobs`` to the engines serving their SAs; returns how many were accepted.

        With ``on_queue_full="wait"`` that is the prefix that fit; with ``"drop"`` it is all of
        them, those that did not fit completing with ``QUEUE_FULL``. A job for a conn id that
        is not installed completes with ``BAD_CONN``. Raises :class:`EngineError` (accepting
        nothing) for a malformed job.
        """
        for job in jobs:
            _check_shape(job)
        i, n = 0, len(jobs)
        while i < n:
            conn = self._conns.get(jobs[i].conn_id)
            if conn is None or conn.record is None:
                self._finish_local(jobs[i], Status.BAD_CONN)
                i += 1
                continue
            rec = conn.record
            group: list[_Flight] = []
            while i < n:
                c = self._conns.get(jobs[i].conn_id)
                if c is None or c.record is not rec:
                    break
                group.append(_Flight(jobs[i], c))
                i += 1
            taken = self._send(rec, group)
            if taken is None:  # the accelerator failed: its SAs are on software now
                i -= len(group)
                continue
            if taken < len(group):
                if self.on_queue_full == "wait":
                    return i - len(group) + taken
                for fl in group[taken:]:
                    rec.dropped += 1
                    self._finish_local(fl.job, Status.QUEUE_FULL)
        return n

    def _send(self, rec: EngineRecord, flights: list[_Flight]) -> int | None:
        """Submit ``flights`` to ``rec``'s engine under fresh tags; how many it took, or None
        if it failed (then nothing of them is in flight)."""
        backend_jobs = []
        for fl in flights:
            fl.record = rec
            fl.backend_id = fl.conn.backend_id
            fl.tag = self._tag()
            self._flights[fl.tag] = fl  # reserve the tag for the next flight's allocation
            j = fl.job
            backend_jobs.append(Job(j.op, fl.backend_id, fl.tag, j.auth_data, j.cipher_data, j.iv, j.icv))
        try:
            taken = rec.engine.submit(backend_jobs)
        except Exception as e:
            for fl in flights:
                del self._flights[fl.tag]
            if rec is self.soft:
                raise
            self._fail(_fault_text(e))
            return None
        for fl in flights[taken:]:
            del self._flights[fl.tag]
        rec.inflight += taken
        if taken < len(flights):
            rec.ppq_full += 1
            self.stats.queue_full += 1
        return taken

    def _tag(self) -> int:
        if len(self._flights) >= _TAGS:
            raise EngineError(f"{self.name}: {_TAGS} jobs in flight")
        t = self._next_tag
        while t in self._flights:
            t = (t + 1) % _TAGS
        self._next_tag = (t + 1) % _TAGS
        return t

    def _finish_local(self, job: Job, status: Status) -> None:
        """Complete ``job`` without an engine (BAD_CONN, QUEUE_FULL)."""
        result = Result(job.tag, job.conn_id, status)
        self._account(job, result)
        self._done.append(result)

    def pending(self) -> int:
        return len(self._flights) + len(self._backlog) + len(self._done)

    def poll(self, max_results: int | None = None) -> list[Result]:
        """Advance the engines, watch the accelerator, and collect results in completion order."""
        self._push_backlog()
        acc = self.accel
        if acc is not None and not acc.failed and acc.inflight:
            self._poll_accelerator(acc)
        if self._backlog:
            self._push_backlog()
        if self.soft.inflight:
            try:
                got = self.soft.engine.poll()
            except EngineFault as e:
                raise EngineFault(f"software engine: {e}") from None
            problem = self._check(self.soft, got)
            if problem is not None:
                raise EngineFault(f"software engine: {problem}")
            self._deliver(self.soft, got)
            if self._backlog:
                self._push_backlog()
        done = self._done
        n = len(done) if max_results is None else min(max_results, len(done))
        return [done.popleft() for _ in range(n)]

    def _poll_accelerator(self, acc: EngineRecord) -> None:
        try:
            got = acc.engine.poll()
        except Exception as e:  # noqa: BLE001 - whatever breaks inside the card is its fault
            self._fail(_fault_text(e))
            return
        if not got:
            acc.stalled += 1
            if acc.stalled >= self.timeout_polls:
                self._fail("Firmware heartbeat failed", timeout=True)
            return
        problem = self._check(acc, got)
        if problem is not None:
            self._fail(problem)
            return
        acc.stalled = 0
        self._deliver(acc, got)

    def _check(self, rec: EngineRecord, results: list[Result]) -> str | None:
        """What is impossible about ``results`` from ``rec`` (None: nothing)."""
        seen: set[int] = set()
        for r in results:
            fl = self._flights.get(r.tag)
            if fl is None or fl.record is not rec or r.tag in seen:
                return f"result with tag {r.tag} that is not in flight"
            seen.add(r.tag)
            if r.conn_id != fl.backend_id:
                return f"result of tag {r.tag} names conn id {r.conn_id}, not {fl.backend_id}"
            status = r.status
            if not isinstance(status, Status) or status is Status.QUEUE_FULL:
                return f"result of tag {r.tag} has status {status!r}"
            if status is Status.OK:
                job = fl.job
                want = len(job.cipher_data) if job.ciphers else 0
                if len(r.data) != want:
                    return f"result of tag {r.tag} has {len(r.data)} bytes of data, not {want}"
                if job.authenticates and not job.inbound:
                    n = icv_length(fl.conn.params.auth)
                    if r.icv is None or len(r.icv) != n:
                        return f"result of tag {r.tag} lacks its {n}-byte ICV"
            elif status is Status.BAD_CONN and not fl.conn.removed:
                return f"context of conn id {fl.backend_id} lost (BAD_CONN for an installed SA)"
        return None

    def _deliver(self, rec: EngineRecord, results: list[Result]) -> None:
        flights = self._flights
        done = self._done
        for r in results:
            fl = flights.pop(r.tag)
            job = fl.job
            res = Result(job.tag, job.conn_id, r.status, r.data, r.icv)
            self._account(job, res)
            done.append(res)
        rec.inflight -= len(results)
        rec.jobs += len(results)

    def _push_backlog(self) -> None:
        """Submit re-runs waiting for the software engine, as many as its queue takes."""
        backlog = self._backlog
        while backlog:
            fl = backlog[0]
            conn = fl.conn
            if conn.removed or conn.record is None:
                backlog.popleft()
                self._finish_local(fl.job, Status.BAD_CONN)
                continue
            batch = [backlog.popleft()]
            while backlog and len(batch) < 256:
                f = backlog[0]
                if f.conn.removed or f.conn.record is None:
                    break
                batch.append(backlog.popleft())
            taken = self._send(self.soft, batch)
            for f in reversed(batch[taken:]):
                backlog.appendleft(f)
            if taken < len(batch):
                return

    # -- failure ----------------------------------------------------------------------------------

    def _fail(self, reason: str, *, timeout: bool = False) -> None:
        """Declare the accelerator failed and move its SAs and in-flight jobs to software."""
        acc = self.accel
        if acc is None or acc.failed:
            return
        acc.failed = True
        acc.fault = reason
        self.failovers += 1
        slot = acc.engine.card_slot
        self._log(f"%ISA-6-INFO: ISA slot {slot}: {reason}")
        moved = lost = 0
        for conn in list(self._conns.values()):
            if conn.record is not acc:
                continue
            acc.conns -= 1
            try:
                conn.backend_id = self.soft.engine.install(conn.params)
                conn.record = self.soft
                self.soft.conns += 1
                moved += 1
            except CapacityError:
                conn.record = None
                lost += 1
        self.migrated += moved
        rerun = [fl for fl in self._flights.values() if fl.record is acc]
        for fl in rerun:
            del self._flights[fl.tag]
            fl.record = None
        acc.inflight = 0
        # Re-runs go first, in their original order (tags were handed out in submit order).
        self._backlog.extendleft(reversed(rerun))
        self.rerun += len(rerun)
        try:
            acc.engine.close()
        except Exception:  # noqa: BLE001 - a dead engine may fail to close; it is dropped anyway
            pass
        why = "stopped answering" if timeout else "reported a fault"
        text = (
            f"%CRYPTO-4-ENGINE_FAILED: crypto engine slot {slot} ({acc.engine.name}) {why}; "
            f"{moved} connections and {len(rerun)} jobs moved to the software crypto engine, slot 0"
        )
        if lost:
            text += f"; {lost} connections could not be moved (software engine full)"
        self._log(text)

    def close(self) -> None:
        """Close both engines."""
        for rec in self.records():
            try:
                rec.engine.close()
            except Exception:  # noqa: BLE001 - closing one must not keep the other open
                if rec is self.soft:
                    raise


def _fault_text(e: Exception) -> str:
    """What an accelerator's exception says, as the failure reason."""
    return str(e) if isinstance(e, EngineFault) else f"{type(e).__name__}: {e}"


def _check_shape(job: Job) -> None:
    """Refuse a malformed job before any of a submit is queued (the backends' own rules)."""
    if not (0 <= job.conn_id < _TAGS and 0 <= job.tag < _TAGS):
        raise EngineError("conn_id and tag must fit in 16 bits")
    if len(job.auth_data) >= _TAGS or len(job.cipher_data) >= _TAGS:
        raise EngineError("auth and cipher regions must each be shorter than 65536 bytes")
    ciphers = job.ciphers
    if ciphers != (job.iv is not None):
        raise EngineError(f"{job.op.name} {'needs' if ciphers else 'takes no'} IV")
    if job.iv is not None and len(job.iv) != _IV:
        raise EngineError("the IV is 8 bytes")
    want_icv = job.inbound and job.authenticates
    if want_icv != (job.icv is not None):
        raise EngineError(f"{job.op.name} {'needs' if want_icv else 'takes no'} expected ICV")
    if job.icv is not None and not 0 < len(job.icv) <= _ICV_FIELD:
        raise EngineError(f"the ICV is 1..{_ICV_FIELD} bytes")


def _backend_counters(engine: CryptoEngine) -> dict[str, int]:
    out = {}
    cycles = getattr(engine, "cycles", None)
    if isinstance(cycles, int):
        out["cycles"] = cycles
    for k, v in engine.stats.extra.items():
        if isinstance(v, int):
            out[k] = v
    return out


def engine_slots(engine: CryptoEngine) -> list[SlotInfo]:
    """Every engine slot behind ``engine``, accelerator first, for ``show crypto engine
    configuration``: a manager's two engines, or a plain engine as itself."""
    if not isinstance(engine, EngineManager):
        return [
            SlotInfo(
                slot=engine.card_slot,
                name=engine.name,
                state="up",
                fault="",
                conns=len(engine.conn_ids()),
                max_conns=engine.max_conns,
                queue_depth=engine.queue_depth,
                pending=engine.pending(),
                jobs=engine.stats.jobs,
                ppq_full=engine.stats.queue_full,
                dropped=0,
                fallbacks=0,
                failovers=0,
                counters=_backend_counters(engine),
            )
        ]
    out = []
    for rec in engine.records():
        e = rec.engine
        accel = rec is engine.accel
        out.append(
            SlotInfo(
                slot=e.card_slot,
                name=e.name,
                state=rec.state,
                fault=rec.fault,
                conns=rec.conns,
                max_conns=e.max_conns,
                queue_depth=e.queue_depth,
                pending=rec.inflight,
                jobs=rec.jobs,
                ppq_full=rec.ppq_full,
                dropped=rec.dropped,
                fallbacks=engine.fallbacks if accel else 0,
                failovers=engine.failovers if accel else 0,
                counters=_backend_counters(e),
            )
        )
    return out
