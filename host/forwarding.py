"""IPv4 forwarding pieces of the router: the routing table, what ACLs see of a packet, TTL, ICMP.

- :class:`RoutingTable`: connected networks of the interfaces that are up and have an address,
  plus ``ip route`` static routes (next hop resolved through a connected network, or an exit
  interface); longest prefix wins, then the lower administrative distance (connected = 0).
- :func:`acl_view`: the :class:`host.acl.Packet` an ACL or crypto map looks at (addresses,
  protocol, ports of TCP/UDP, TOS, ICMP type/code); a non-first fragment has no ports.
- :func:`decrement_ttl`: the forwarding TTL step (with the header checksum recomputed).
- :func:`echo_reply`: the router's answer to an ICMP echo request addressed to it.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from host.acl import Packet
from host.config.model import RouterConfig
from host.ipsec import ipv4
from host.ipsec.ipv4 import IPv4Header, PacketError

__all__ = ["Route", "RoutingTable", "acl_view", "decrement_ttl", "echo_reply", "ICMP_ECHO", "ICMP_ECHO_REPLY"]

ICMP_ECHO = 8
ICMP_ECHO_REPLY = 0


@dataclass(frozen=True)
class Route:
    """Where a destination goes: out of ``interface``, to ``next_hop`` (None: directly
    connected, the destination itself is the next hop)."""

    network: ipaddress.IPv4Network
    interface: str
    next_hop: ipaddress.IPv4Address | None
    distance: int


class RoutingTable:
    """The routes of one configuration (rebuilt whenever the configuration changes)."""

    def __init__(self, config: RouterConfig) -> None:
        self.routes: list[Route] = []
        connected: list[Route] = []
        for intf in config.interfaces.values():
            net = intf.network
            if net is not None and not intf.shutdown:
                connected.append(Route(net, intf.name, None, 0))
        self.routes.extend(connected)
        for r in config.routes:
            if r.interface is not None:
                intf = config.interfaces.get(r.interface)
                if intf is None or intf.shutdown:
                    continue
                self.routes.append(Route(r.network, r.interface, r.next_hop, r.distance))
                continue
            hop = self._resolve(connected, r.next_hop)
            if hop is not None:
                self.routes.append(Route(r.network, hop.interface, r.next_hop, r.distance))
        self.routes.sort(key=lambda rt: (-rt.network.prefixlen, rt.distance))
        self._table = [(int(rt.network.network_address), int(rt.network.netmask), rt) for rt in self.routes]
        self._cache: dict[bytes, Route | None] = {}

    @staticmethod
    def _resolve(connected: list[Route], hop: ipaddress.IPv4Address | None) -> Route | None:
        if hop is None:
            return None
        best = None
        for rt in connected:
            if hop in rt.network and (best is None or rt.network.prefixlen > best.network.prefixlen):
                best = rt
        return best

    def lookup(self, dst: bytes | str) -> Route | None:
        """The route for destination ``dst`` (4 bytes or dotted), or None (no route)."""
        key = ipaddress.IPv4Address(dst).packed if isinstance(dst, str) else bytes(dst)
        try:
            return self._cache[key]
        except KeyError:
            pass
        addr = int.from_bytes(key, "big")
        found = None
        for net, mask, rt in self._table:
            if addr & mask == net:
                found = rt
                break
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = found
        return found


def acl_view(hdr: IPv4Header, payload: bytes) -> Packet:
    """What ACLs see of a datagram (``payload`` is what follows its header)."""
    sport = dport = 0
    icmp_type = icmp_code = None
    if hdr.frag_offset == 0:
        if hdr.proto in (ipv4.PROTO_TCP, ipv4.PROTO_UDP) and len(payload) >= 4:
            sport, dport = struct.unpack_from("!HH", payload)
        elif hdr.proto == ipv4.PROTO_ICMP and len(payload) >= 2:
            icmp_type, icmp_code = payload[0], payload[1]
    return Packet(
        int.from_bytes(hdr.src, "big"),
        int.from_bytes(hdr.dst, "big"),
        hdr.proto,
        sport,
        dport,
        hdr.tos,
        icmp_type,
        icmp_code,
    )


def decrement_ttl(datagram: bytes) -> bytes | None:
    """The datagram with its TTL one lower and the checksum updated; None when the TTL runs out
    (a router does not forward a datagram whose TTL would reach 0)."""
    ttl = datagram[8]
    if ttl <= 1:
        return None
    b = bytearray(datagram)
    b[8] = ttl - 1
    hlen = (b[0] & 0xF) * 4
    b[10:12] = b"\x00\x00"
    b[10:12] = ipv4.checksum(bytes(b[:hlen])).to_bytes(2, "big")
    return bytes(b)


def echo_reply(hdr: IPv4Header, payload: bytes, ident: int) -> bytes | None:
    """The ICMP echo reply to an echo request ``hdr``/``payload`` addressed to the router, or
    None when ``payload`` is not a well-formed echo request (bad length or checksum)."""
    if hdr.proto != ipv4.PROTO_ICMP or len(payload) < 8 or payload[0] != ICMP_ECHO:
        return None
    if ipv4.checksum(payload if len(payload) % 2 == 0 else payload + b"\x00") != 0:
        return None
    body = bytes((ICMP_ECHO_REPLY, 0, 0, 0)) + payload[4:]
    padded = body if len(body) % 2 == 0 else body + b"\x00"
    csum = ipv4.checksum(padded)
    body = body[:2] + csum.to_bytes(2, "big") + body[4:]
    try:
        return ipv4.build(hdr.dst, hdr.src, ipv4.PROTO_ICMP, body, tos=hdr.tos, ident=ident, ttl=255)
    except PacketError:
        return None
