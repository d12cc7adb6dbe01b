"""The grammar of one extended access-list line, after ``permit``/``deny``.

``PROTOCOL SOURCE [PORTS] DESTINATION [PORTS] [ICMP-TYPE [CODE]] [precedence P] [tos T] [log]``
where an address is ``any``, ``host A`` or ``A WILDCARD``; ports (TCP and UDP only) are
``eq|neq|lt|gt PORT`` or ``range LOW HIGH`` with numbers or the usual names.
"""

from __future__ import annotations

from host.acl import (
    ANY,
    ICMP_TYPES,
    PRECEDENCE,
    PROTOCOLS,
    TCP_PORTS,
    TOS,
    UDP_PORTS,
    AclEntry,
    AddressMatch,
    PortMatch,
)
from host.cli.cursor import IPV4, Cursor, number

__all__ = ["parse_acl_entry", "ACL_NUMBER", "acl_name_arg"]

_PROTO_HELP = {
    "ip": "Any Internet Protocol",
    "ahp": "Authentication Header Protocol",
    "eigrp": "Cisco's EIGRP routing protocol",
    "esp": "Encapsulation Security Payload",
    "gre": "Cisco's GRE tunneling",
    "icmp": "Internet Control Message Protocol",
    "igmp": "Internet Gateway Message Protocol",
    "igrp": "Cisco's IGRP routing protocol",
    "ipinip": "IP in IP tunneling",
    "nos": "KA9Q NOS compatible IP over IP tunneling",
    "ospf": "OSPF routing protocol",
    "pim": "Protocol Independent Multicast",
    "tcp": "Transmission Control Protocol",
    "udp": "User Datagram Protocol",
}
_OPS = {
    "eq": "Match only packets on a given port number",
    "neq": "Match only packets not on a given port number",
    "lt": "Match only packets with a lower port number",
    "gt": "Match only packets with a greater port number",
    "range": "Match only packets in the range of port numbers",
}

ACL_NUMBER = number(100, 199, "IP extended access list")


def acl_name_arg(text: str) -> str:
    """An extended ACL reference: a number 100-199 or a name (not all digits)."""
    if text.isdigit():
        if not 100 <= int(text) <= 199:
            raise ValueError("only extended IP access lists (100-199 or a name) are supported")
        return str(int(text))
    return text


def _address(cur: Cursor, side: str) -> AddressMatch:
    word = cur.maybe_keyword({"any": f"Any {side} host", "host": f"A single {side} host"})
    if word == "any":
        return ANY
    if word == "host":
        return AddressMatch.host(int(cur.arg(IPV4.described(f"{side.capitalize()} address"))))
    addr = cur.arg(IPV4.described(f"{side.capitalize()} address"))
    wildcard = cur.arg(IPV4.described(f"{side.capitalize()} wildcard bits"))
    return AddressMatch(int(addr), int(wildcard))


def _port_value(cur: Cursor, names: dict[str, int]) -> int:
    word = cur.maybe_keyword({n: f"({v})" for n, v in names.items()})
    if word is not None:
        return names[word]
    return cur.arg(number(0, 65535, "Port number"))


def _ports(cur: Cursor, protocol: int | None) -> PortMatch | None:
    if protocol not in (6, 17):
        return None
    op = cur.maybe_keyword(_OPS)
    if op is None:
        return None
    names = TCP_PORTS if protocol == 6 else UDP_PORTS
    low = _port_value(cur, names)
    if op != "range":
        return PortMatch(op, low)
    start = cur.pos
    high = _port_value(cur, names)
    if high < low:
        raise cur.invalid("the range's end is below its start", at=start)
    return PortMatch("range", low, high)


def parse_acl_entry(cur: Cursor, action: str) -> AclEntry:
    """Parse the rest of a ``permit``/``deny`` line into an :class:`~host.acl.AclEntry`."""
    word = cur.maybe_keyword(_PROTO_HELP)
    if word is not None:
        protocol = PROTOCOLS[word]
    else:
        protocol = cur.arg(number(0, 255, "An IP protocol number"))
    src = _address(cur, "source")
    src_port = _ports(cur, protocol)
    dst = _address(cur, "destination")
    dst_port = _ports(cur, protocol)
    icmp_type = icmp_code = None
    if protocol == 1:
        name = cur.maybe_keyword({n: "ICMP message" for n in ICMP_TYPES})
        if name is not None:
            icmp_type, icmp_code = ICMP_TYPES[name]
        else:
            icmp_type = cur.maybe_arg(number(0, 255, "ICMP message type"))
            if icmp_type is not None:
                icmp_code = cur.maybe_arg(number(0, 255, "ICMP message code"))
    precedence = tos = None
    log = False
    while True:
        options = {}
        if precedence is None:
            options["precedence"] = "Match packets with given precedence value"
        if tos is None:
            options["tos"] = "Match packets with given TOS value"
        if not log:
            options["log"] = "Log matches against this entry"
        opt = cur.maybe_keyword(options)
        if opt is None:
            break
        if opt == "precedence":
            name = cur.maybe_keyword({n: f"({v})" for n, v in PRECEDENCE.items()})
            precedence = PRECEDENCE[name] if name else cur.arg(number(0, 7, "Precedence value"))
        elif opt == "tos":
            name = cur.maybe_keyword({n: f"({v})" for n, v in TOS.items()})
            tos = TOS[name] if name else cur.arg(number(0, 15, "Type of service value"))
        else:
            log = True
    cur.end()
    return AclEntry(
        action, protocol, src, dst, src_port, dst_port, icmp_type, icmp_code, precedence, tos, log
    )
