"""Accounting of every packet the lab's hosts send: each ends delivered or dropped, once.

A packet is known by its id (its "tag"). Everything that carries it through the network, the
fragments and ESP/AH packets a router makes of it included, carries its tag; so when a router
drops what it was given, or a host receives it, the ledger knows which sent packets that was.
Packets still on their way when the run ends are settled as dropped ("never arrived") with the
place they were last seen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["Ledger", "Sent", "FlowTally"]


@dataclass
class Sent:
    """One packet a host sent."""

    id: int
    flow: str
    n: int
    """1-based packet number within its flow (a reply has the number of what it answers)."""
    reply: bool
    """True for an answer (echo reply, or a UDP/TCP echo) to packet ``n`` of the flow."""
    src_host: str
    time: float
    size: int
    summary: str
    outcome: str | None = None
    """``delivered`` or ``dropped`` once settled."""
    last_seen: str = ""


@dataclass
class FlowTally:
    """Per flow and direction: sent, delivered and dropped counts, round trips, drop reasons."""

    sent: int = 0
    delivered: int = 0
    dropped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    rtts: list[float] = field(default_factory=list)


class Ledger:
    """Every sent packet by id, and what became of it. ``notify(kind, sent, **fields)`` is called
    once per settled packet (``delivered`` or ``dropped``)."""

    def __init__(self, notify: Callable[..., None]) -> None:
        self.packets: dict[int, Sent] = {}
        self._notify = notify
        self._next = 1

    def new(
        self, *, flow: str, n: int, reply: bool, src_host: str, time: float, size: int, summary: str
    ) -> Sent:
        """Register a packet about to be sent; returns it with its fresh id."""
        sent = Sent(self._next, flow, n, reply, src_host, time, size, summary, last_seen=src_host)
        self.packets[sent.id] = sent
        self._next += 1
        return sent

    def seen(self, tags: Iterable[int], where: str) -> None:
        """Note where the packets ``tags`` are now (for the report of packets that never arrive)."""
        for tag in tags:
            p = self.packets.get(tag)
            if p is not None and p.outcome is None:
                p.last_seen = where

    def delivered(self, tags: Iterable[int], time: float, host: str) -> list[Sent]:
        """Settle ``tags`` as delivered to ``host`` at ``time``; returns the newly settled."""
        out = []
        for tag in sorted(tags):
            p = self.packets.get(tag)
            if p is not None and p.outcome is None:
                p.outcome = "delivered"
                out.append(p)
                self._notify("delivered", p, time=time, host=host, latency=time - p.time)
        return out

    def dropped(self, tags: Iterable[int], time: float, reason: str, where: str) -> list[Sent]:
        """Settle ``tags`` as dropped at ``where`` for ``reason``."""
        out = []
        for tag in sorted(tags):
            p = self.packets.get(tag)
            if p is not None and p.outcome is None:
                p.outcome = "dropped"
                out.append(p)
                self._notify("dropped", p, time=time, reason=reason, where=where)
        return out

    def settle_rest(self, time: float) -> None:
        """At the end of a run: every packet not settled is dropped as never arrived."""
        for p in self.packets.values():
            if p.outcome is None:
                self.dropped(
                    [p.id], time, "never arrived (still in flight or held at the end of the run)", p.last_seen
                )

    def outstanding(self) -> int:
        return sum(1 for p in self.packets.values() if p.outcome is None)
