"""The lab's wiring: point-to-point links between router interfaces, LAN segments of end hosts on
a router interface, and the moves of packets between them on the scheduler.

A packet in the network is its bytes plus its tags (the ids of the sent packets it carries, see
:mod:`sim.lab.ledger`). A router is anything with ``receive(interface, packet)`` returning a
:class:`RouterOutput`: the packets it transmits, per interface, and the drops it made of what it
was given (:mod:`sim.lab.routers` adapts :class:`host.router.Router`).

- A link carries datagrams of at most ``mtu`` bytes from one end to the other after
  ``latency`` seconds; with a ``bandwidth`` each datagram also takes its transmission time
  (bits / bandwidth) and waits for the ones before it in the same direction (a FIFO queue per
  direction). It captures each datagram when its transmission starts, both directions in one pcap.
- A segment joins one router interface and its hosts; the router's datagrams go to the host
  whose address is their destination, the hosts' to the router. It has a pcap too.
- A router interface with neither is not connected: what the router sends there is dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from host.ipsec import ipv4

from .ledger import Ledger
from .pcap import PcapWriter
from .scheduler import Scheduler

__all__ = ["RouterOutput", "RouterNode", "Link", "Segment", "Host", "Network"]

Tags = frozenset[int]


@dataclass
class RouterOutput:
    """What a router did with one received datagram."""

    sent: list[tuple[str, bytes]] = field(default_factory=list)
    """(interface, datagram) transmitted, in order."""
    drops: list[tuple[str, str]] = field(default_factory=list)
    """(reason, where) of each drop the router made while handling the datagram."""
    delivered: list[dict] = field(default_factory=list)
    """Datagrams addressed to the router itself that it accepted (the router's event data:
    ``src``, ``dst``, ``proto``, ...)."""


class RouterNode(Protocol):
    """What the network needs of a router."""

    name: str

    def receive(self, interface: str, datagram: bytes) -> RouterOutput: ...

    def originate(self, datagram: bytes) -> RouterOutput: ...


@dataclass
class Link:
    """A point-to-point link; ``ends[i]`` is (router, interface)."""

    name: str
    ends: tuple[tuple[str, str], tuple[str, str]]
    mtu: int
    latency: float
    bandwidth: float | None = None
    """Bits per second each way (None: no transmission time)."""
    capture: PcapWriter | None = None
    packets: int = 0
    bytes: int = 0
    busy_until: dict[tuple[str, str], float] = field(default_factory=dict)
    """Per sending end: when its transmitter is free again."""

    def other(self, end: tuple[str, str]) -> tuple[str, str]:
        return self.ends[1] if end == self.ends[0] else self.ends[0]


@dataclass
class Host:
    """An end host: ``address`` on the segment of ``router`` ``interface``."""

    name: str
    address: str
    router: str
    interface: str
    latency: float
    clock: Callable[[], float]
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    reassembler: ipv4.Reassembler = field(init=False)

    def __post_init__(self) -> None:
        self.reassembler = ipv4.Reassembler(self.clock)

    def next_ip_id(self) -> int:
        """The IP identification number of the host's next datagram."""
        return next(self._ids) & 0xFFFF


@dataclass
class Segment:
    """A router interface and the hosts on it."""

    name: str
    router: str
    interface: str
    hosts: dict[str, Host] = field(default_factory=dict)
    """By address."""
    capture: PcapWriter | None = None


class Network:
    """Links, segments and hosts of a lab; moves datagrams on ``scheduler``'s clock.

    ``on_host(host, datagram, tags)`` is called with each whole datagram a host receives for
    its own address. ``on_router(router, tags, output)`` when a router accepted a datagram
    addressed to itself; it returns the tags of what the router sent in answer."""

    def __init__(
        self,
        scheduler: Scheduler,
        ledger: Ledger,
        routers: dict[str, RouterNode],
        on_host: Callable[[Host, bytes, Tags], None],
        on_router: Callable[[str, Tags, RouterOutput], Tags] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.ledger = ledger
        self.routers = routers
        self.on_host = on_host
        self.on_router = on_router
        self.links: list[Link] = []
        self.segments: list[Segment] = []
        self.hosts: dict[str, Host] = {}
        self._attached: dict[tuple[str, str], Link | Segment] = {}

    # -- building ----------------------------------------------------------------------------
    def add_link(self, link: Link) -> None:
        for end in link.ends:
            self._attached[end] = link
        self.links.append(link)

    def add_host(self, host: Host) -> Segment:
        key = (host.router, host.interface)
        seg = self._attached.get(key)
        if seg is None:
            seg = Segment(f"{host.router}-{host.interface}", host.router, host.interface)
            self._attached[key] = seg
            self.segments.append(seg)
        assert isinstance(seg, Segment)
        seg.hosts[host.address] = host
        self.hosts[host.name] = host
        return seg

    # -- moving packets ----------------------------------------------------------------------
    def _capture(self, where: Link | Segment, datagram: bytes) -> None:
        if where.capture is not None:
            where.capture.write(self.scheduler.now, datagram)

    def host_send(self, host: Host, datagram: bytes, tags: Tags) -> None:
        """``host`` transmits ``datagram`` to its router now."""
        seg = self._attached[(host.router, host.interface)]
        assert isinstance(seg, Segment)
        self._capture(seg, datagram)
        self.ledger.seen(tags, f"segment {seg.name}")
        self.scheduler.after(
            host.latency, lambda: self.router_receive(host.router, host.interface, datagram, tags)
        )

    def router_receive(self, router: str, interface: str, datagram: bytes, tags: Tags) -> None:
        """``datagram`` arrives at ``router``'s ``interface`` now."""
        self.ledger.seen(tags, f"router {router} {interface}")
        self._router_output(
            router,
            self.routers[router].receive(interface, datagram),
            tags,
            f"held by router {router} (in {interface})",
        )

    def router_originate(self, router: str, datagram: bytes, tags: Tags) -> None:
        """``router`` itself sends ``datagram`` now (as a ``ping`` from the router would)."""
        self.ledger.seen(tags, f"router {router}")
        self._router_output(
            router, self.routers[router].originate(datagram), tags, f"held by router {router}"
        )

    def _router_output(self, router: str, out: RouterOutput, tags: Tags, held: str) -> None:
        if out.delivered and self.on_router is not None:
            tags = self.on_router(router, tags, out)
        elif out.drops and not out.sent:
            reason, where = out.drops[0]
            self.ledger.dropped(tags, self.scheduler.now, reason, where)
            return
        elif not out.sent:
            self.ledger.seen(tags, held)
        for intf, packet in out.sent:
            self.router_send(router, intf, packet, tags)

    def router_send(self, router: str, interface: str, datagram: bytes, tags: Tags) -> None:
        """``router`` transmits ``datagram`` on ``interface`` now."""
        att = self._attached.get((router, interface))
        now = self.scheduler.now
        if att is None:
            self.ledger.dropped(tags, now, f"{router} {interface} is not connected", f"router {router}")
            return
        if isinstance(att, Link):
            if len(datagram) > att.mtu:
                self.ledger.dropped(
                    tags, now, f"{len(datagram)} bytes exceed the link MTU {att.mtu}", f"link {att.name}"
                )
                return
            end = (router, interface)
            start = max(now, att.busy_until.get(end, 0.0))
            done = start + (len(datagram) * 8 / att.bandwidth if att.bandwidth else 0.0)
            att.busy_until[end] = done
            att.packets += 1
            att.bytes += len(datagram)
            far = att.other(end)
            self.ledger.seen(tags, f"link {att.name}")
            if start > now:  # queued behind earlier datagrams: captured when it starts
                self.scheduler.at(start, lambda: self._capture(att, datagram))
            else:
                self._capture(att, datagram)
            self.scheduler.at(done + att.latency, lambda: self.router_receive(far[0], far[1], datagram, tags))
            return
        self._capture(att, datagram)
        try:
            hdr, _ = ipv4.parse(datagram, verify_checksum=False)
        except ipv4.PacketError as exc:
            self.ledger.dropped(tags, now, f"not an IPv4 datagram ({exc.reason})", f"segment {att.name}")
            return
        host = att.hosts.get(ipv4.addr_str(hdr.dst))
        if host is None:
            self.ledger.dropped(
                tags, now, f"no host with address {ipv4.addr_str(hdr.dst)}", f"segment {att.name}"
            )
            return
        self.ledger.seen(tags, f"segment {att.name}")
        self.scheduler.after(host.latency, lambda: self.host_receive(host, datagram, tags))

    def host_receive(self, host: Host, datagram: bytes, tags: Tags) -> None:
        """``datagram`` reaches ``host`` now: fragments are reassembled, whole datagrams handed
        to ``on_host``."""
        try:
            whole = host.reassembler.add(datagram)
        except ipv4.PacketError as exc:
            self.ledger.dropped(
                tags, self.scheduler.now, f"host could not reassemble ({exc.reason})", f"host {host.name}"
            )
            return
        if whole is None:
            self.ledger.seen(tags, f"host {host.name} (reassembling)")
            return
        self.on_host(host, whole, tags)
