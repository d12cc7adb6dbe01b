"""The lab's traffic: each flow's packets sent at their times, the answers hosts and routers give,
and the per-flow tallies (requests and replies apart, round-trip times).

A flow starts at a host, or at a router (:class:`RouterOrigin`: the router sends the packets as
its own, from one of its addresses). Every packet is registered in the :class:`~sim.lab.ledger.Ledger`
and reported as a ``sent`` event; what becomes of it comes back through :meth:`Traffic.settled`.
Hosts answer ICMP echo requests always and UDP/TCP packets when their flow says ``reply``;
routers answer echo requests addressed to them (the router does, the lab only keeps count).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import packets
from .format import FlowSpec
from .ledger import FlowTally, Ledger, Sent
from .network import Host, Network, RouterOutput, Tags
from .scheduler import Scheduler

__all__ = ["Traffic", "RouterOrigin"]


@dataclass(frozen=True)
class RouterOrigin:
    """A flow sent by router ``router`` from ``address``, with the router's IP identifications."""

    router: str
    address: str
    ident: Iterator[int]


Origin = Host | RouterOrigin


class Traffic:
    """The flows of a lab on ``network`` (see the module docstring). ``emit(kind, **fields)``
    reports events."""

    def __init__(
        self, flows: list[FlowSpec], scheduler: Scheduler, network: Network, emit: Callable[..., None]
    ):
        self.specs = list(flows)
        self.flows = {f.name: f for f in flows}
        self.scheduler = scheduler
        self.network = network
        self.ledger: Ledger = network.ledger
        self.emit = emit
        self.tallies = {f.name: FlowTally() for f in flows}
        self.reply_tallies = {f.name: FlowTally() for f in flows}
        self.origins: dict[str, Origin] = {}
        """Flow name -> where it is sent from (set by the lab while it builds)."""
        self._answers: dict[int, int] = {}
        """Reply packet id -> the id of the packet it answers."""

    # -- sending ---------------------------------------------------------------------------------
    def schedule(self) -> None:
        """Put every packet of every flow on the scheduler."""
        for index, flow in enumerate(self.specs):
            for k in range(flow.count):
                self.scheduler.at(
                    flow.at + k * flow.interval, lambda f=flow, n=k + 1, i=index: self._request(f, n, i)
                )

    def _request(self, flow: FlowSpec, n: int, index: int) -> None:
        origin = self.origins[flow.name]
        src = origin.address
        ip_id = origin.next_ip_id() if isinstance(origin, Host) else next(origin.ident) & 0xFFFF
        if flow.protocol == "icmp":
            pkt = packets.echo(src, flow.dst, index + 1, n, flow.size, ip_id=ip_id)
        elif flow.protocol == "udp":
            pkt = packets.udp(src, flow.dst, flow.sport, flow.dport, flow.size, ip_id=ip_id, salt=n)
        else:
            seq = 1 + (n - 1) * (flow.size - 40)
            pkt = packets.tcp(src, flow.dst, flow.sport, flow.dport, flow.size, ip_id=ip_id, seq=seq)
        if isinstance(origin, Host):
            self._send(origin, pkt, flow.name, n, reply=False)
        else:
            sent = self._record(origin.router, pkt, flow.name, n, reply=False)
            self.network.router_originate(origin.router, pkt, frozenset((sent.id,)))

    def _record(self, sender: str, pkt: bytes, flow: str, n: int, *, reply: bool) -> Sent:
        """Register a packet about to leave ``sender`` and report it as sent."""
        summary = packets.describe(pkt)
        text = summary.text() if summary else f"{len(pkt)} bytes"
        sent = self.ledger.new(
            flow=flow, n=n, reply=reply, src_host=sender, time=self.scheduler.now, size=len(pkt), summary=text
        )
        (self.reply_tallies if reply else self.tallies)[flow].sent += 1
        fields: dict[str, Any] = {}
        if summary is not None:
            fields = dict(
                src=summary.src,
                dst=summary.dst,
                protocol=summary.protocol,
                sport=summary.sport,
                dport=summary.dport,
            )
        self.emit(
            "sent", id=sent.id, flow=flow, n=n, reply=reply, host=sender, packet=text, size=len(pkt), **fields
        )
        return sent

    def _send(self, host: Host, pkt: bytes, flow: str, n: int, *, reply: bool) -> Sent:
        sent = self._record(host.name, pkt, flow, n, reply=reply)
        self.network.host_send(host, pkt, frozenset((sent.id,)))
        return sent

    # -- receiving -------------------------------------------------------------------------------
    def host_got(self, host: Host, datagram: bytes, tags: Tags) -> None:
        """A whole datagram reached ``host``: settle it, and answer it when it asks for that."""
        summary = packets.describe(datagram)
        if summary is None or summary.dst != host.address:
            self.ledger.dropped(tags, self.scheduler.now, "not addressed to this host", f"host {host.name}")
            return
        for p in self.ledger.delivered(tags, self.scheduler.now, host.name):
            flow = self.flows[p.flow]
            if p.reply or not (flow.protocol == "icmp" or flow.reply):
                continue
            answer = packets.reply_to(datagram, ip_id=host.next_ip_id())
            if answer is not None:
                sent = self._send(host, answer, p.flow, p.n, reply=True)
                self._answers[sent.id] = p.id

    def router_got(self, router: str, tags: Tags, out: RouterOutput) -> Tags:
        """``router`` accepted a datagram addressed to itself: settle it; the echo reply it sent
        in answer becomes a reply packet of the same flow (its tags are returned)."""
        got = self.ledger.delivered(tags, self.scheduler.now, router)
        requests = [p for p in got if not p.reply and self.flows[p.flow].protocol == "icmp"]
        if not requests or not out.sent:
            return tags
        p = requests[0]
        reply = self._record(router, out.sent[0][1], p.flow, p.n, reply=True)
        self._answers[reply.id] = p.id
        return frozenset((reply.id,))

    def settled(self, kind: str, p: Sent, **fields: Any) -> None:
        """The ledger settled packet ``p`` (``delivered`` or ``dropped``): count and report it."""
        tally = (self.reply_tallies if p.reply else self.tallies)[p.flow]
        if kind == "delivered":
            tally.delivered += 1
            if p.reply and p.id in self._answers:
                tally.rtts.append(fields["time"] - self.ledger.packets[self._answers[p.id]].time)
        else:
            tally.dropped += 1
            tally.reasons[fields["reason"]] = tally.reasons.get(fields["reason"], 0) + 1
        fields.pop("time", None)
        if "latency" in fields:
            fields["latency"] = round(fields["latency"], 9)
        self.emit(kind, id=p.id, flow=p.flow, n=p.n, reply=p.reply, **fields)
