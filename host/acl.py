"""Extended IP access lists: the one ACL matcher of the router.

An :class:`AccessList` is an ordered list of :class:`AclEntry`; a packet is checked against the
entries in order, the first entry that matches decides (``permit`` or ``deny``), and a packet that
matches none is denied (the implicit ``deny ip any any`` at the end). The same lists serve interface
filtering (``ip access-group``) and crypto (``match address``); crypto evaluates them forward for
outbound traffic and mirrored (source and destination swapped) for inbound traffic, see
:mod:`host.policy`.

Addresses match IOS-style with a wildcard: bits set in the wildcard are "don't care"
(``host A`` is wildcard 0.0.0.0, ``any`` is 255.255.255.255). Port operators ``eq neq lt gt range``
apply to TCP and UDP only. ``precedence`` and ``tos`` compare the packet's TOS byte
(precedence = top 3 bits, tos = the next 4). ``log`` is accepted and recorded, never acted on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

__all__ = [
    "Packet",
    "AddressMatch",
    "PortMatch",
    "AclEntry",
    "AccessList",
    "ANY",
    "PROTOCOLS",
    "TCP_PORTS",
    "UDP_PORTS",
    "PRECEDENCE",
    "TOS",
    "ICMP_TYPES",
    "protocol_name",
    "port_name",
]

MASK32 = 0xFFFFFFFF

PROTOCOLS: dict[str, int | None] = {
    "ip": None,
    "ahp": 51,
    "eigrp": 88,
    "esp": 50,
    "gre": 47,
    "icmp": 1,
    "igmp": 2,
    "igrp": 9,
    "ipinip": 4,
    "nos": 94,
    "ospf": 89,
    "pim": 103,
    "tcp": 6,
    "udp": 17,
}
"""Protocol keywords of extended ACLs; ``ip`` (None) matches every IP protocol."""

TCP_PORTS: dict[str, int] = {
    "bgp": 179,
    "chargen": 19,
    "cmd": 514,
    "daytime": 13,
    "discard": 9,
    "domain": 53,
    "echo": 7,
    "exec": 512,
    "finger": 79,
    "ftp": 21,
    "ftp-data": 20,
    "gopher": 70,
    "hostname": 101,
    "ident": 113,
    "irc": 194,
    "klogin": 543,
    "kshell": 544,
    "login": 513,
    "lpd": 515,
    "nntp": 119,
    "pim-auto-rp": 496,
    "pop2": 109,
    "pop3": 110,
    "smtp": 25,
    "sunrpc": 111,
    "tacacs": 49,
    "talk": 517,
    "telnet": 23,
    "time": 37,
    "uucp": 540,
    "whois": 43,
    "www": 80,
}
"""TCP port names IOS accepts and shows (``eq telnet`` is port 23)."""

UDP_PORTS: dict[str, int] = {
    "biff": 512,
    "bootpc": 68,
    "bootps": 67,
    "discard": 9,
    "dnsix": 195,
    "domain": 53,
    "echo": 7,
    "isakmp": 500,
    "mobile-ip": 434,
    "nameserver": 42,
    "netbios-dgm": 138,
    "netbios-ns": 137,
    "netbios-ss": 139,
    "ntp": 123,
    "pim-auto-rp": 496,
    "rip": 520,
    "snmp": 161,
    "snmptrap": 162,
    "sunrpc": 111,
    "syslog": 514,
    "tacacs": 49,
    "talk": 517,
    "tftp": 69,
    "time": 37,
    "who": 513,
    "xdmcp": 177,
}
"""UDP port names IOS accepts and shows (``eq isakmp`` is port 500)."""

PRECEDENCE: dict[str, int] = {
    "routine": 0,
    "priority": 1,
    "immediate": 2,
    "flash": 3,
    "flash-override": 4,
    "critical": 5,
    "internet": 6,
    "network": 7,
}
"""IP precedence names (values 0-7)."""

TOS: dict[str, int] = {
    "normal": 0,
    "min-monetary-cost": 1,
    "max-reliability": 2,
    "max-throughput": 4,
    "min-delay": 8,
}
"""Type-of-service names (values 0-15)."""

ICMP_TYPES: dict[str, tuple[int, int | None]] = {
    "echo-reply": (0, None),
    "unreachable": (3, None),
    "packet-too-big": (3, 4),
    "source-quench": (4, None),
    "redirect": (5, None),
    "echo": (8, None),
    "time-exceeded": (11, None),
    "parameter-problem": (12, None),
    "timestamp-request": (13, None),
    "timestamp-reply": (14, None),
}
"""ICMP message names: (type, code or None for any code)."""


def _ip(value: int | str | ipaddress.IPv4Address) -> int:
    if isinstance(value, int):
        return value & MASK32
    return int(ipaddress.IPv4Address(value))


def _dotted(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def protocol_name(number: int | None) -> str:
    """``ip`` for any, the keyword for a known protocol number, else the number."""
    for name, value in PROTOCOLS.items():
        if value == number:
            return name
    return str(number)


def port_name(protocol: int | None, port: int) -> str:
    """The name IOS shows for a TCP/UDP port (``telnet``), else the number."""
    table = TCP_PORTS if protocol == 6 else UDP_PORTS if protocol == 17 else {}
    for name, value in table.items():
        if value == port:
            return name
    return str(port)


@dataclass(frozen=True)
class Packet:
    """What an ACL looks at in a packet: addresses, protocol, ports, TOS byte, ICMP type/code.

    Addresses are 32-bit integers (use :meth:`of` to build from dotted strings). For protocols
    without ports leave ``sport``/``dport`` 0."""

    def __deepcopy__(self, memo: dict) -> Packet:
        return self  # immutable: configuration snapshots share it

    src: int
    dst: int
    protocol: int
    sport: int = 0
    dport: int = 0
    tos: int = 0
    icmp_type: int | None = None
    icmp_code: int | None = None

    @classmethod
    def of(
        cls, src: str | int, dst: str | int, protocol: int = 0, sport: int = 0, dport: int = 0, **kw: int
    ) -> Packet:
        """A packet from dotted-quad (or integer) addresses."""
        return cls(_ip(src), _ip(dst), protocol, sport, dport, **kw)

    def mirrored(self) -> Packet:
        """The same packet seen in the opposite direction (source and destination swapped)."""
        return replace(self, src=self.dst, dst=self.src, sport=self.dport, dport=self.sport)


@dataclass(frozen=True)
class AddressMatch:
    """An address and wildcard; ``addr`` is stored with its wildcard bits cleared, as IOS does."""

    def __deepcopy__(self, memo: dict) -> AddressMatch:
        return self  # immutable: configuration snapshots share it

    addr: int
    wildcard: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "wildcard", self.wildcard & MASK32)
        object.__setattr__(self, "addr", self.addr & ~self.wildcard & MASK32)

    @classmethod
    def host(cls, addr: int | str) -> AddressMatch:
        return cls(_ip(addr), 0)

    @classmethod
    def net(cls, addr: int | str, wildcard: int | str) -> AddressMatch:
        return cls(_ip(addr), _ip(wildcard))

    @property
    def is_any(self) -> bool:
        return self.wildcard == MASK32

    @property
    def is_host(self) -> bool:
        return self.wildcard == 0

    @property
    def mask(self) -> int:
        """The wildcard inverted (a subnet mask when the wildcard is contiguous)."""
        return ~self.wildcard & MASK32

    def matches(self, addr: int) -> bool:
        return (addr & ~self.wildcard & MASK32) == self.addr

    def contains(self, other: AddressMatch) -> bool:
        """Every address ``other`` matches, this matches too."""
        return (other.wildcard & ~self.wildcard & MASK32) == 0 and (other.addr & self.mask) == self.addr

    def intersects(self, other: AddressMatch) -> bool:
        """Some address matches both."""
        return ((self.addr ^ other.addr) & self.mask & other.mask) == 0

    def text(self) -> str:
        """As IOS writes it in an ACL: ``any``, ``host A`` or ``A W``."""
        if self.is_any:
            return "any"
        if self.is_host:
            return f"host {_dotted(self.addr)}"
        return f"{_dotted(self.addr)} {_dotted(self.wildcard)}"


ANY = AddressMatch(0, MASK32)


@dataclass(frozen=True)
class PortMatch:
    """A port operator: ``eq``, ``neq``, ``lt``, ``gt`` (one port) or ``range`` (low..high)."""

    def __deepcopy__(self, memo: dict) -> PortMatch:
        return self  # immutable: configuration snapshots share it

    op: str
    low: int
    high: int = 0

    def intervals(self) -> list[tuple[int, int]]:
        """The ports this matches as closed intervals within 0..65535."""
        if self.op == "eq":
            return [(self.low, self.low)]
        if self.op == "neq":
            return [(a, b) for a, b in ((0, self.low - 1), (self.low + 1, 65535)) if a <= b]
        if self.op == "lt":
            return [(0, self.low - 1)] if self.low > 0 else []
        if self.op == "gt":
            return [(self.low + 1, 65535)] if self.low < 65535 else []
        return [(self.low, self.high)] if self.low <= self.high else []

    def matches(self, port: int) -> bool:
        if self.op == "eq":
            return port == self.low
        if self.op == "neq":
            return port != self.low
        if self.op == "lt":
            return port < self.low
        if self.op == "gt":
            return port > self.low
        return self.low <= port <= self.high

    def text(self, protocol: int | None) -> str:
        if self.op == "range":
            return f"range {port_name(protocol, self.low)} {port_name(protocol, self.high)}"
        return f"{self.op} {port_name(protocol, self.low)}"


def _ports_contain(outer: PortMatch | None, inner: PortMatch | None) -> bool:
    if outer is None:
        return True
    inner_iv = [(0, 65535)] if inner is None else inner.intervals()
    outer_iv = outer.intervals()
    return all(any(a <= lo and hi <= b for a, b in outer_iv) for lo, hi in inner_iv)


def _ports_intersect(a: PortMatch | None, b: PortMatch | None) -> bool:
    ai = [(0, 65535)] if a is None else a.intervals()
    bi = [(0, 65535)] if b is None else b.intervals()
    return any(lo1 <= hi2 and lo2 <= hi1 for lo1, hi1 in ai for lo2, hi2 in bi)


@dataclass(frozen=True)
class AclEntry:
    """One ``permit``/``deny`` line of an extended access list."""

    def __deepcopy__(self, memo: dict) -> AclEntry:
        return self  # immutable: configuration snapshots share it

    action: str
    """``permit`` or ``deny``."""
    protocol: int | None
    """IP protocol number; None for ``ip`` (any protocol)."""
    src: AddressMatch = ANY
    dst: AddressMatch = ANY
    src_port: PortMatch | None = None
    dst_port: PortMatch | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    precedence: int | None = None
    tos: int | None = None
    log: bool = False

    @property
    def permit(self) -> bool:
        return self.action == "permit"

    def matches(self, pkt: Packet) -> bool:
        """Whether this line matches ``pkt`` (its action is then the list's answer)."""
        if self.protocol is not None and pkt.protocol != self.protocol:
            return False
        if not (self.src.matches(pkt.src) and self.dst.matches(pkt.dst)):
            return False
        if self.src_port is not None and not self.src_port.matches(pkt.sport):
            return False
        if self.dst_port is not None and not self.dst_port.matches(pkt.dport):
            return False
        if self.icmp_type is not None and pkt.icmp_type != self.icmp_type:
            return False
        if self.icmp_code is not None and pkt.icmp_code != self.icmp_code:
            return False
        if self.precedence is not None and (pkt.tos >> 5) != self.precedence:
            return False
        return self.tos is None or ((pkt.tos >> 1) & 0xF) == self.tos

    def mirrored(self) -> AclEntry:
        """The line with its source and destination sides swapped."""
        return replace(self, src=self.dst, dst=self.src, src_port=self.dst_port, dst_port=self.src_port)

    def _qualified(self) -> bool:
        return self.icmp_type is not None or self.precedence is not None or self.tos is not None

    def contains(self, other: AclEntry) -> bool:
        """Every packet ``other`` matches, this matches too (ignoring ``other``'s action)."""
        if self._qualified():
            return self == replace(other, action=self.action, log=self.log)
        if self.protocol is not None and other.protocol != self.protocol:
            return False
        return (
            self.src.contains(other.src)
            and self.dst.contains(other.dst)
            and _ports_contain(self.src_port, other.src_port)
            and _ports_contain(self.dst_port, other.dst_port)
        )

    def intersects(self, other: AclEntry) -> bool:
        """Some packet matches both lines (conservative: qualifiers are assumed to overlap)."""
        if self.protocol is not None and other.protocol is not None and self.protocol != other.protocol:
            return False
        return (
            self.src.intersects(other.src)
            and self.dst.intersects(other.dst)
            and _ports_intersect(self.src_port, other.src_port)
            and _ports_intersect(self.dst_port, other.dst_port)
        )

    def text(self) -> str:
        """The line as IOS prints it, without ``access-list N``: ``permit tcp any host A eq www``."""
        parts = [self.action, protocol_name(self.protocol), self.src.text()]
        if self.src_port is not None:
            parts.append(self.src_port.text(self.protocol))
        parts.append(self.dst.text())
        if self.dst_port is not None:
            parts.append(self.dst_port.text(self.protocol))
        if self.icmp_type is not None:
            named = [n for n, v in ICMP_TYPES.items() if v == (self.icmp_type, self.icmp_code)]
            if named:
                parts.append(named[0])
            else:
                parts.append(str(self.icmp_type))
                if self.icmp_code is not None:
                    parts.append(str(self.icmp_code))
        if self.precedence is not None:
            parts.append(f"precedence {_name_of(PRECEDENCE, self.precedence)}")
        if self.tos is not None:
            parts.append(f"tos {_name_of(TOS, self.tos)}")
        if self.log:
            parts.append("log")
        return " ".join(parts)


def _name_of(table: dict[str, int], value: int) -> str:
    for name, v in table.items():
        if v == value:
            return name
    return str(value)


@dataclass
class AccessList:
    """An extended IP access list, numbered (``"101"``) or named."""

    name: str
    entries: list[AclEntry] = field(default_factory=list)

    @property
    def numbered(self) -> bool:
        return self.name.isdigit()

    def lookup(self, pkt: Packet) -> AclEntry | None:
        """The first entry that matches ``pkt``, or None (the implicit deny)."""
        for entry in self.entries:
            if entry.matches(pkt):
                return entry
        return None

    def permits(self, pkt: Packet) -> bool:
        """First match wins; no match is a deny."""
        entry = self.lookup(pkt)
        return entry is not None and entry.permit

    def through_first_permit(self) -> AccessList:
        """The list cut after its first ``permit`` (what an ``ipsec-manual`` entry uses)."""
        kept: list[AclEntry] = []
        for entry in self.entries:
            kept.append(entry)
            if entry.permit:
                break
        return AccessList(self.name, kept)

    def permits_all_of(self, flow: AclEntry) -> bool:
        """Whether every packet of ``flow`` (an entry used as a set of packets) is permitted.

        Walks the list in order: the first entry that contains the whole flow decides; a ``deny``
        that overlaps part of the flow before that refuses it (some of its packets would be
        denied). Conservative where a partial ``permit`` precedes a partial ``deny``."""
        for entry in self.entries:
            if entry.contains(flow):
                return entry.permit
            if not entry.permit and entry.intersects(flow):
                return False
        return False

    def permit_entries(self) -> Iterable[AclEntry]:
        return (e for e in self.entries if e.permit)
