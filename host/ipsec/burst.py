"""Bursts of packets through the crypto engine: prepare every packet, run all jobs, finish.

A codec's ``prepare_*`` function turns (SA, packet) into a :class:`Step` (one engine job plus what
is needed to finish the packet) or a :class:`~host.ipsec.sa.Drop`. :func:`run_burst` submits the
jobs of a whole burst to their engines at once (one :meth:`~driver.api.CryptoEngine.run` per
engine, so an accelerator sees back-to-back jobs of many SAs) and hands each result to its
step's ``finish``, which returns the finished packet or a counted drop. Nothing here raises on
bad packets or engine trouble: every failure is a :class:`Drop`.
"""

from __future__ import annotations

from collections.abc import Sequence

from driver.api import EngineError, Job, Op, Result, Status

from .replay import ReplayVerdict
from .sa import Drop, DropReason, SecurityAssociation

__all__ = ["Step", "run_burst", "run_one", "MAX_TAGS"]

MAX_TAGS = 1 << 16
"""Job tags are 16 bits: a burst runs on each engine in chunks of at most this many jobs."""


class Step:
    """One packet waiting for its engine job. Codecs subclass it and implement :meth:`finish`."""

    __slots__ = ("sa", "op", "auth_data", "cipher_data", "iv", "icv")

    def __init__(
        self,
        sa: SecurityAssociation,
        op: Op,
        auth_data: bytes = b"",
        cipher_data: bytes = b"",
        iv: bytes | None = None,
        icv: bytes | None = None,
    ) -> None:
        self.sa = sa
        self.op = op
        self.auth_data = auth_data
        self.cipher_data = cipher_data
        self.iv = iv
        self.icv = icv

    def job(self, tag: int) -> Job:
        """The engine job of this step under ``tag``."""
        return Job(self.op, self.sa.conn_id, tag, self.auth_data, self.cipher_data, self.iv, self.icv)

    def finish(self, result: Result) -> bytes | Drop:
        """Turn the job's result into the packet (counting it on the SA) or a counted drop."""
        raise NotImplementedError

    def inbound_verdict(self, result: Result, seq: int) -> Drop | None:
        """The drop for an inbound job whose ICV failed, whose engine failed, or whose sequence
        number the replay window refuses; ``None`` for a packet to deliver. The window moves only
        here, after the ICV verified (RFC 2401: check, verify, then update)."""
        sa = self.sa
        if result.status is Status.ICV_MISMATCH:
            return sa.drop(DropReason.BAD_ICV, f"seq {seq}")
        if result.status is not Status.OK:
            return self.engine_failed(result.status)
        if sa.replay is not None:
            verdict = sa.replay.update(seq)
            if verdict is ReplayVerdict.DUPLICATE:
                return sa.drop(DropReason.REPLAY, f"seq {seq}")
            if verdict is not ReplayVerdict.NEW:
                return sa.drop(DropReason.REPLAY_TOO_OLD, f"seq {seq}")
        return None

    def engine_failed(self, status: Status | None, detail: str = "") -> Drop:
        """The drop for a job the engine did not carry out (a status other than OK/ICV, or
        an engine that raised)."""
        reason = DropReason.RECV_ENGINE_ERROR if self.sa.inbound else DropReason.SEND_ENGINE_ERROR
        what = status.name if status is not None else "engine fault"
        return self.sa.drop(reason, f"{what} {detail}".strip())


def run_burst(items: Sequence[Step | Drop]) -> list[bytes | Drop]:
    """Run the jobs of ``items`` and finish them; drops pass through. Output in input order."""
    out: list[bytes | Drop | None] = [None] * len(items)
    by_engine: dict[int, tuple[object, list[int]]] = {}
    for i, item in enumerate(items):
        if isinstance(item, Drop):
            out[i] = item
            continue
        eng = item.sa.engine
        if eng is None or item.sa.conn_id is None:
            out[i] = item.sa.drop(
                DropReason.RECV_ENGINE_ERROR if item.sa.inbound else DropReason.NOT_INSTALLED,
                "SA has no engine context",
            )
            continue
        slot = by_engine.get(id(eng))
        if slot is None:
            slot = by_engine[id(eng)] = (eng, [])
        slot[1].append(i)
    for eng, idx in by_engine.values():
        for start in range(0, len(idx), MAX_TAGS):
            chunk = idx[start : start + MAX_TAGS]
            jobs = [items[i].job(t) for t, i in enumerate(chunk)]
            try:
                results = eng.run(jobs)
            except EngineError as e:
                for i in chunk:
                    out[i] = items[i].engine_failed(None, str(e))
                continue
            for i, r in zip(chunk, results, strict=True):
                out[i] = items[i].finish(r)
    return out  # type: ignore[return-value]


def run_one(item: Step | Drop) -> bytes | Drop:
    """:func:`run_burst` for a single packet."""
    return run_burst([item])[0]
