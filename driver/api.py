"""The host-driver API that every crypto backend implements.

Modelled on DPDK cryptodev and the Linux crypto API: an SA is installed once as a context and
named by its conn id afterwards; jobs are submitted in bursts without blocking and their results
collected by tag; a full queue is reported to the caller (back-pressure), never dropped silently.

The job/result/context bit formats live in :mod:`hdl.layouts`; this module speaks in Python values
and re-exports the enums so that users of the driver need not import the HDL package.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field

from hdl.layouts import (
    DES_BLOCK,
    Auth,
    Cipher,
    Op,
    Status,
    icv_length,
    op_authenticates,
    op_ciphers,
    op_inbound,
)

__all__ = [
    "Auth",
    "Cipher",
    "Op",
    "Status",
    "SAParams",
    "Job",
    "Result",
    "ConnCounters",
    "ConnIds",
    "CryptoEngine",
    "EngineError",
    "UnknownConnError",
    "CapacityError",
    "EngineFault",
    "EngineStats",
    "AUTH_KEY_BYTES",
]

AUTH_KEY_BYTES = {Auth.NONE: 0, Auth.HMAC_MD5_96: 16, Auth.HMAC_SHA1_96: 20, Auth.KEYED_MD5: 16}
"""Key length per authenticator (RFC 2403, RFC 2404; RFC 1828 keys as IOS takes them)."""


class EngineError(Exception):
    """A driver call that cannot be carried out; the engine's state is unchanged."""


class UnknownConnError(EngineError):
    """The conn id names no installed SA."""


class CapacityError(EngineError):
    """The engine has no free context for another SA."""


class EngineFault(EngineError):
    """The engine stopped answering or reported a fault; callers may fall back to software."""


@dataclass(frozen=True)
class SAParams:
    """What the host gives the engine to install one unidirectional SA."""

    inbound: bool
    cipher: Cipher = Cipher.NONE
    auth: Auth = Auth.NONE
    des_key: bytes = b""
    """8 bytes when ``cipher`` is DES_CBC (parity bits ignored)."""
    auth_key: bytes = b""
    """:data:`AUTH_KEY_BYTES` bytes for ``auth``."""

    def __post_init__(self) -> None:
        if self.cipher is Cipher.NONE and self.auth is Auth.NONE:
            raise EngineError("an SA needs a cipher, an authenticator or both")
        want = DES_BLOCK if self.cipher is Cipher.DES_CBC else 0
        if len(self.des_key) != want:
            raise EngineError(f"{self.cipher.name} takes a {want}-byte key, got {len(self.des_key)}")
        want = AUTH_KEY_BYTES[self.auth]
        if len(self.auth_key) != want:
            raise EngineError(f"{self.auth.name} takes a {want}-byte key, got {len(self.auth_key)}")


@dataclass(frozen=True)
class Job:
    """One unit of work: cipher and/or MAC one packet's bytes under one SA.

    ``auth_data`` is authenticated but not ciphered (ESP: SPI, sequence number, IV; AH: the whole
    prepared datagram); ``cipher_data`` follows it and is ciphered (a multiple of 8 bytes) and,
    when the op authenticates, also covered by the MAC. ``icv`` is the expected ICV of an inbound
    authenticating job.
    """

    op: Op
    conn_id: int
    tag: int
    auth_data: bytes = b""
    cipher_data: bytes = b""
    iv: bytes | None = None
    icv: bytes | None = None

    @property
    def ciphers(self) -> bool:
        return op_ciphers(self.op)

    @property
    def authenticates(self) -> bool:
        return op_authenticates(self.op)

    @property
    def inbound(self) -> bool:
        return op_inbound(self.op)

    @property
    def length(self) -> int:
        return len(self.auth_data) + len(self.cipher_data)


@dataclass(frozen=True)
class Result:
    """The completion of one job.

    ``data``: the ciphered region transformed (empty for authenticate-only jobs and for any
    status but OK). ``icv``: the generated ICV, truncated to the SA's ICV length, for outbound
    authenticating jobs.
    """

    tag: int
    conn_id: int
    status: Status
    data: bytes = b""
    icv: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.status is Status.OK


@dataclass
class ConnCounters:
    """Per-conn-id counters, as IOS's crypto engine connection table keeps them."""

    encrypted: int = 0
    """Jobs that ran the cipher or MAC outbound (IOS's Encrypt column)."""
    decrypted: int = 0
    """Inbound jobs that completed OK (IOS's Decrypt column)."""
    bytes: int = 0
    icv_failures: int = 0
    errors: int = 0
    """Jobs that ended with BAD_OP, BAD_LENGTH or BAD_CONN."""

    def count(self, job: Job, result: Result) -> None:
        """Account one completed job."""
        if result.status is Status.OK:
            if job.inbound:
                self.decrypted += 1
            else:
                self.encrypted += 1
            self.bytes += job.length
        elif result.status is Status.ICV_MISMATCH:
            self.icv_failures += 1
        else:
            self.errors += 1


@dataclass
class EngineStats:
    """Engine-wide figures, for `show crypto engine configuration`-style output."""

    jobs: int = 0
    queue_full: int = 0
    """Submissions refused for a full queue (IOS: "ppq full")."""
    extra: dict[str, int] = field(default_factory=dict)
    """Backend-specific counters (busy cycles, stalls, ...)."""


class ConnIds:
    """Conn ids ``1 .. limit`` handed out round-robin, so that a just-freed id is not reused
    while jobs queued for its old SA may still be in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._next = 1

    def free(self, in_use: Container[int]) -> int:
        """The next id not in ``in_use`` (the caller has checked that one is free); it is not
        taken until :meth:`take`."""
        conn_id = self._next
        while conn_id in in_use:
            conn_id = conn_id % self.limit + 1
        return conn_id

    def take(self, conn_id: int) -> None:
        """``conn_id`` is now in use: the search for the next one starts after it."""
        self._next = conn_id % self.limit + 1


class CryptoEngine(ABC):
    """One crypto engine: the software one, or the accelerator behind one of its backends.

    Subclasses implement the five primitives; :meth:`run` is the convenience most callers use.
    """

    name: str = "engine"
    card_slot: int = 0
    """The IOS engine slot: 0 is the software engine, the accelerator sits in its card's slot."""
    queue_depth: int = 64
    """Jobs that may be submitted and not yet collected."""
    max_conns: int = 1 << 16

    def __init__(self) -> None:
        self._counters: dict[int, ConnCounters] = {}
        self.stats = EngineStats()

    # -- the primitives ----------------------------------------------------------------------

    @abstractmethod
    def install(self, sa: SAParams) -> int:
        """Install an SA; return its conn id. Raises :class:`CapacityError` when full."""

    @abstractmethod
    def remove(self, conn_id: int) -> None:
        """Remove an SA. Jobs of it still in flight complete (with BAD_CONN if the context is
        already gone). Raises :class:`UnknownConnError` for a conn id not installed."""

    @abstractmethod
    def submit(self, jobs: Sequence[Job]) -> int:
        """Queue jobs without blocking; return how many (a prefix of ``jobs``) were accepted.
        Fewer than ``len(jobs)`` means the queue is full: resubmit the rest after :meth:`poll`."""

    @abstractmethod
    def poll(self, max_results: int | None = None) -> list[Result]:
        """Advance the engine and collect finished results, in completion order."""

    @abstractmethod
    def pending(self) -> int:
        """Jobs submitted and not yet collected."""

    def close(self) -> None:
        """Release the backend's resources (simulator processes and the like)."""
        return None

    # -- shared behaviour --------------------------------------------------------------------

    def counters(self, conn_id: int) -> ConnCounters:
        """The counters of an installed conn id."""
        try:
            return self._counters[conn_id]
        except KeyError:
            raise UnknownConnError(f"conn id {conn_id} is not installed") from None

    def slot_of(self, conn_id: int) -> int:
        """The IOS engine slot that serves ``conn_id`` (0: software), for ``show crypto ipsec
        sa``. One engine serves all its conn ids from its own slot; an engine manager
        (:mod:`driver.manager`) answers per SA."""
        if conn_id not in self._counters:
            raise UnknownConnError(f"conn id {conn_id} is not installed")
        return self.card_slot

    def conn_ids(self) -> list[int]:
        """The installed conn ids, in order."""
        return sorted(self._counters)

    def run(self, jobs: Iterable[Job], max_polls: int = 1_000_000) -> list[Result]:
        """Submit ``jobs`` under back-pressure and wait for all of them; results in job order.

        Tags must be unique among the jobs. Raises :class:`EngineFault` if the engine stops
        making progress for ``max_polls`` consecutive polls.
        """
        todo = list(jobs)
        order = [j.tag for j in todo]
        by_tag: dict[int, Result] = {}
        want = set(order)
        if len(want) != len(order):
            raise EngineError("job tags must be unique within one run")
        idle = 0
        while todo or len(by_tag) < len(want):
            if todo:
                n = self.submit(todo)
                todo = todo[n:]
            got = self.poll()
            for r in got:
                if r.tag in want:
                    by_tag[r.tag] = r
            idle = 0 if got else idle + 1
            if idle > max_polls:
                raise EngineFault(f"{self.name}: no progress after {max_polls} polls")
        return [by_tag[t] for t in order]

    def _account(self, job: Job, result: Result) -> None:
        self.stats.jobs += 1
        c = self._counters.get(job.conn_id)
        if c is not None:
            c.count(job, result)


def truncate_icv(auth: Auth, icv: bytes | None) -> bytes | None:
    """The ICV as the SA uses it (96 bits for HMAC-96, 128 for keyed MD5)."""
    return None if icv is None else icv[: icv_length(auth)]
