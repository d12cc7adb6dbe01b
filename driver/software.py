"""The ``software`` backend: the engine's semantics computed with OpenSSL through ``cryptography``.

This is IOS's "slot 0" software crypto engine. It keeps one context per conn id, as the
accelerator does, and answers every job exactly as :mod:`hdl.layouts` documents the engine:

- ``BAD_CONN`` when the conn id names no installed SA (never installed, removed, or out of range),
  also for jobs that were queued before their SA was removed;
- ``BAD_OP`` when the op's direction or pieces (cipher, MAC) differ from the SA's;
- ``BAD_LENGTH`` when ``cipher_len`` is not a multiple of 8, when a ciphering job's
  ``auth_len`` is not, or when a job that does not cipher carries ciphered data (the same
  rules, in the same order of precedence, as the HDL engine's job intake);
- ``ICV_MISMATCH`` when an inbound job's ICV differs (compared in constant time); such a result
  carries no data.

Jobs are computed when :meth:`SoftwareEngine.poll` collects them, so a job's SA is looked up at
that moment, like a real engine reading its context memory when the job reaches the front.
The queue holds at most ``queue_depth`` jobs submitted and not yet collected; a submit that does
not fit is cut to the prefix that does and counted in ``stats.queue_full``.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import constant_time, hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher as _Cipher
from cryptography.hazmat.primitives.ciphers import modes

from hdl.layouts import op_authenticates, op_ciphers, op_inbound

from .api import (
    Auth,
    CapacityError,
    Cipher,
    ConnCounters,
    ConnIds,
    CryptoEngine,
    EngineError,
    Job,
    Op,
    Result,
    SAParams,
    Status,
    UnknownConnError,
)

__all__ = ["SoftwareEngine", "keyfill", "rfc1828_prefix"]

_DES = 8
_ICV_LEN = {Auth.NONE: 0, Auth.HMAC_MD5_96: 12, Auth.HMAC_SHA1_96: 12, Auth.KEYED_MD5: 16}
_ICV_FIELD = 16
"""Bytes of the job's expected-ICV field (the engine compares its first ICV-length bytes)."""


def keyfill(key: bytes) -> bytes:
    """RFC 1828's keyfill: MD5's own pad-with-length applied to ``key`` alone.

    A 0x80 byte, zeros up to 56 mod 64, then the key's length in bits as a 64-bit little-endian
    number (RFC 1321, section 3.1-3.2), so that key || keyfill is a whole number of 512-bit blocks.
    """
    n = len(key)
    zeros = (55 - n) % 64
    return b"\x80" + bytes(zeros) + struct.pack("<Q", (8 * n) & (2**64 - 1))


def rfc1828_prefix(key: bytes) -> bytes:
    """The bytes that RFC 1828 hashes ahead of the datagram: key || keyfill."""
    return key + keyfill(key)


class _ChainedCBC:
    """DES-CBC with one OpenSSL context per SA instead of one per job.

    A CBC context remembers the last ciphertext block ``s`` it produced (encrypting) or consumed
    (decrypting). To run a job with its own IV through the running context, encryption feeds
    ``P1 xor IV xor s`` as the first block, so that the context computes ``E(P1 xor IV)``;
    decryption xors ``s xor IV`` into the first output block, turning ``D(C1) xor s`` into
    ``D(C1) xor IV``. Every later block chains exactly as CBC does. The result is bit for bit the
    CBC of a fresh context with that IV (the conformance suite checks it against FIPS 81 and
    OpenSSL), without the cost of creating a context per packet.
    """

    __slots__ = ("_enc", "_dec", "_es", "_ds")

    def __init__(self, des: TripleDES) -> None:
        zero = bytes(_DES)
        self._enc = _Cipher(des, modes.CBC(zero)).encryptor()
        self._dec = _Cipher(des, modes.CBC(zero)).decryptor()
        self._es = 0
        self._ds = 0

    def encrypt(self, iv: bytes, data: bytes) -> bytes:
        if not data:
            return b""
        first = int.from_bytes(data[:8], "big") ^ int.from_bytes(iv, "big") ^ self._es
        head = first.to_bytes(8, "big")
        out = self._enc.update(head + data[8:] if len(data) > 8 else head)
        self._es = int.from_bytes(out[-8:], "big")
        return out

    def decrypt(self, iv: bytes, data: bytes) -> bytes:
        if not data:
            return b""
        out = self._dec.update(data)
        first = int.from_bytes(out[:8], "big") ^ int.from_bytes(iv, "big") ^ self._ds
        self._ds = int.from_bytes(data[-8:], "big")
        return first.to_bytes(8, "big") + out[8:] if len(out) > 8 else first.to_bytes(8, "big")


@dataclass
class _Context:
    """One installed SA with the per-SA objects that make the hot path cheap."""

    params: SAParams
    cbc: _ChainedCBC | None
    """The SA's DES-CBC (EDE with K1 = K2 = K3: exact single DES), or None."""
    mac: object | None
    """A keyed HMAC context (copied per job), or for keyed MD5 a hash context that has already
    absorbed key || keyfill."""
    icv_len: int
    trailer: bytes
    """What the MAC appends after the data: RFC 1828's trailing key, else nothing."""


_OPS = {id(op): (op_ciphers(op), op_authenticates(op), op_inbound(op)) for op in Op}
"""id(Op member) -> (ciphers, authenticates, inbound): decoded once, not per job. Keyed by the
members' identity because an Enum's Python-level ``__hash__`` costs more than the lookup."""


def _check_job_shape(job: Job) -> None:
    """Malformed jobs are refused at submit, as :func:`hdl.layouts.pack_job` refuses to pack them."""
    if not (0 <= job.conn_id < 1 << 16 and 0 <= job.tag < 1 << 16):
        raise EngineError("conn_id and tag must fit in 16 bits")
    if len(job.auth_data) >= 1 << 16 or len(job.cipher_data) >= 1 << 16:
        raise EngineError("auth and cipher regions must each be shorter than 65536 bytes")
    ciphers, authenticates, inbound = _OPS[id(job.op)]
    if ciphers != (job.iv is not None):
        raise EngineError(f"{job.op.name} {'needs' if ciphers else 'takes no'} IV")
    if job.iv is not None and len(job.iv) != _DES:
        raise EngineError("the IV is 8 bytes")
    want_icv = inbound and authenticates
    if want_icv != (job.icv is not None):
        raise EngineError(f"{job.op.name} {'needs' if want_icv else 'takes no'} expected ICV")
    if job.icv is not None and not 0 < len(job.icv) <= _ICV_FIELD:
        raise EngineError(f"the ICV is 1..{_ICV_FIELD} bytes")


class SoftwareEngine(CryptoEngine):
    """The software crypto engine (IOS slot 0): OpenSSL through ``cryptography``.

    ``queue_depth``: jobs that may be outstanding (submitted, not collected).
    ``max_conns``: conn ids available; ids run from 1 to ``max_conns`` (0 is never handed out).
    """

    name = "software"
    card_slot = 0

    def __init__(self, queue_depth: int = 256, max_conns: int = 4096) -> None:
        super().__init__()
        if queue_depth < 1 or max_conns < 1:
            raise EngineError("queue_depth and max_conns must be at least 1")
        self.queue_depth = queue_depth
        self.max_conns = max_conns
        self._ctx: dict[int, _Context] = {}
        self._queue: deque[Job] = deque()
        self._ids = ConnIds(self.max_conns)

    # -- SA contexts ---------------------------------------------------------------------------

    def install(self, sa: SAParams) -> int:
        """Install ``sa`` in a free conn id and return the id."""
        if len(self._ctx) >= self.max_conns:
            raise CapacityError(f"{self.name}: all {self.max_conns} conn ids are in use")
        conn_id = self._ids.free(self._ctx)
        self._ids.take(conn_id)
        self._ctx[conn_id] = self._make_context(sa)
        self._counters[conn_id] = ConnCounters()
        return conn_id

    @staticmethod
    def _make_context(sa: SAParams) -> _Context:
        cbc = _ChainedCBC(TripleDES(sa.des_key * 3)) if sa.cipher is Cipher.DES_CBC else None
        mac: object | None
        if sa.auth is Auth.HMAC_MD5_96:
            mac = hmac.HMAC(sa.auth_key, hashes.MD5())
        elif sa.auth is Auth.HMAC_SHA1_96:
            mac = hmac.HMAC(sa.auth_key, hashes.SHA1())
        elif sa.auth is Auth.KEYED_MD5:
            mac = hashes.Hash(hashes.MD5())
            mac.update(rfc1828_prefix(sa.auth_key))
        else:
            mac = None
        trailer = sa.auth_key if sa.auth is Auth.KEYED_MD5 else b""
        return _Context(params=sa, cbc=cbc, mac=mac, icv_len=_ICV_LEN[sa.auth], trailer=trailer)

    def remove(self, conn_id: int) -> None:
        """Remove an SA; its queued jobs will complete with ``BAD_CONN``."""
        if conn_id not in self._ctx:
            raise UnknownConnError(f"conn id {conn_id} is not installed")
        del self._ctx[conn_id]
        del self._counters[conn_id]

    # -- jobs ----------------------------------------------------------------------------------

    def submit(self, jobs: Sequence[Job]) -> int:
        """Queue as many of ``jobs`` as fit; return that count (a prefix of ``jobs``).

        Raises :class:`EngineError` (queuing nothing) if a job is malformed: a missing or
        misplaced IV or expected ICV, or a field that does not fit its wire format.
        """
        for job in jobs:
            _check_job_shape(job)
        room = self.queue_depth - len(self._queue)
        n = min(room, len(jobs))
        if n < len(jobs):
            self.stats.queue_full += 1
        if n == len(jobs):
            self._queue.extend(jobs)
        else:
            self._queue.extend(jobs[:n])
        return n

    def pending(self) -> int:
        return len(self._queue)

    def run(self, jobs: Iterable[Job], max_polls: int = 1_000_000) -> list[Result]:
        """:meth:`CryptoEngine.run` with a short cut: when nothing is queued, a software engine
        has no reason to pass the jobs through its queue, so they run at once, in order, with
        the same checks, results and counters (and no queue-full, since nothing waits)."""
        if self._queue:
            return super().run(jobs, max_polls)
        todo = jobs if isinstance(jobs, list | tuple) else list(jobs)
        if len({j.tag for j in todo}) != len(todo):
            raise EngineError("job tags must be unique within one run")
        for job in todo:
            _check_job_shape(job)
        execute, account = self._execute, self._account
        out = []
        for job in todo:
            result = execute(job)
            account(job, result)
            out.append(result)
        return out

    def poll(self, max_results: int | None = None) -> list[Result]:
        """Run queued jobs, oldest first, and return their results."""
        n = len(self._queue) if max_results is None else min(max_results, len(self._queue))
        out: list[Result] = []
        queue = self._queue
        account = self._account
        execute = self._execute
        for _ in range(n):
            job = queue.popleft()
            result = execute(job)
            account(job, result)
            out.append(result)
        return out

    def _account(self, job: Job, result: Result) -> None:
        """Count one completed job (what :meth:`ConnCounters.count` does, without decoding
        the op's enum bits per job)."""
        self.stats.jobs += 1
        c = self._counters.get(job.conn_id)
        if c is None:
            return
        status = result.status
        if status is Status.OK:
            if _OPS[id(job.op)][2]:
                c.decrypted += 1
            else:
                c.encrypted += 1
            c.bytes += len(job.auth_data) + len(job.cipher_data)
        elif status is Status.ICV_MISMATCH:
            c.icv_failures += 1
        else:
            c.errors += 1

    def _execute(self, job: Job) -> Result:
        ctx = self._ctx.get(job.conn_id)
        if ctx is None:
            return Result(job.tag, job.conn_id, Status.BAD_CONN)
        ciphers, authenticates, inbound = _OPS[id(job.op)]
        if (
            inbound != ctx.params.inbound
            or ciphers != (ctx.cbc is not None)
            or authenticates != (ctx.mac is not None)
        ):
            return Result(job.tag, job.conn_id, Status.BAD_OP)
        cdata = job.cipher_data
        if ciphers:
            if len(cdata) % _DES or len(job.auth_data) % _DES:
                return Result(job.tag, job.conn_id, Status.BAD_LENGTH)
        elif cdata:
            return Result(job.tag, job.conn_id, Status.BAD_LENGTH)

        if not inbound:
            out = ctx.cbc.encrypt(job.iv, cdata) if ciphers else b""
            icv = None
            if authenticates:
                m = ctx.mac.copy()
                if job.auth_data:
                    m.update(job.auth_data)
                if out:  # the MAC covers the ciphertext as it leaves
                    m.update(out)
                if ctx.trailer:
                    m.update(ctx.trailer)
                icv = m.finalize()[: ctx.icv_len]
            return Result(job.tag, job.conn_id, Status.OK, out, icv)

        if authenticates:
            m = ctx.mac.copy()
            if job.auth_data:
                m.update(job.auth_data)
            if cdata:
                m.update(cdata)
            if ctx.trailer:
                m.update(ctx.trailer)
            want = job.icv
            if len(want) != ctx.icv_len:
                want = want.ljust(_ICV_FIELD, b"\0")[: ctx.icv_len]
            if not constant_time.bytes_eq(m.finalize()[: ctx.icv_len], want):
                return Result(job.tag, job.conn_id, Status.ICV_MISMATCH)
        out = ctx.cbc.decrypt(job.iv, cdata) if ciphers else b""
        return Result(job.tag, job.conn_id, Status.OK, out, None)
