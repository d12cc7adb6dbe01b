"""The lab's end-host packets: ICMP echo (RFC 792), UDP (RFC 768), TCP segments (RFC 793).

Builders take the whole datagram size (IPv4 header included) and fill the payload with a
deterministic pattern; :func:`describe` reads a datagram back into the fields the lab reports
(protocol, ports, ICMP type/id/sequence). Checksums are real, so Scapy and tshark accept them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from host.ipsec import ipv4

__all__ = [
    "Summary",
    "echo",
    "udp",
    "tcp",
    "reply_to",
    "describe",
    "ICMP_ECHO_REQUEST",
    "ICMP_ECHO_REPLY",
    "TCP_PSH_ACK",
]

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
TCP_PSH_ACK = 0x18


def _pattern(n: int, salt: int) -> bytes:
    """``n`` payload bytes, the same for the same ``salt`` (like ping's counting pattern)."""
    return bytes((salt + i) & 0xFF for i in range(n))


def _pseudo(src: bytes, dst: bytes, proto: int, length: int) -> bytes:
    return src + dst + struct.pack("!BBH", 0, proto, length)


def echo(
    src: str,
    dst: str,
    ident: int,
    seq: int,
    size: int,
    *,
    ip_id: int,
    reply: bool = False,
    payload: bytes | None = None,
) -> bytes:
    """An ICMP echo request (or reply) datagram of ``size`` bytes with echo ``ident``/``seq``."""
    data = payload if payload is not None else _pattern(size - 28, seq)
    body = struct.pack("!BBHHH", ICMP_ECHO_REPLY if reply else ICMP_ECHO_REQUEST, 0, 0, ident, seq) + data
    body = body[:2] + ipv4.checksum(body).to_bytes(2, "big") + body[4:]
    return ipv4.build(src, dst, ipv4.PROTO_ICMP, body, ident=ip_id)


def udp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    size: int,
    *,
    ip_id: int,
    salt: int = 0,
    payload: bytes | None = None,
) -> bytes:
    """A UDP datagram of ``size`` bytes (IPv4 header included) with a checksum."""
    data = payload if payload is not None else _pattern(size - 28, salt)
    length = 8 + len(data)
    seg = struct.pack("!HHHH", sport, dport, length, 0) + data
    s, d = ipv4.addr_bytes(src), ipv4.addr_bytes(dst)
    csum = ipv4.checksum(_pseudo(s, d, ipv4.PROTO_UDP, length) + seg) or 0xFFFF
    seg = seg[:6] + csum.to_bytes(2, "big") + seg[8:]
    return ipv4.build(src, dst, ipv4.PROTO_UDP, seg, ident=ip_id)


def tcp(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    size: int,
    *,
    ip_id: int,
    seq: int,
    ack: int = 0,
    flags: int = TCP_PSH_ACK,
    payload: bytes | None = None,
) -> bytes:
    """A TCP segment (20-byte header, ``flags``, window 8192) in a datagram of ``size`` bytes."""
    data = payload if payload is not None else _pattern(size - 40, seq)
    seg = (
        struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 8192, 0, 0)
        + data
    )
    s, d = ipv4.addr_bytes(src), ipv4.addr_bytes(dst)
    csum = ipv4.checksum(_pseudo(s, d, ipv4.PROTO_TCP, len(seg)) + seg)
    seg = seg[:16] + csum.to_bytes(2, "big") + seg[18:]
    return ipv4.build(src, dst, ipv4.PROTO_TCP, seg, ident=ip_id)


@dataclass(frozen=True)
class Summary:
    """What the lab reports about a datagram."""

    src: str
    dst: str
    protocol: str
    """``icmp``, ``udp``, ``tcp``, ``esp``, ``ah`` or the protocol number."""
    length: int
    ip_id: int
    sport: int = 0
    dport: int = 0
    icmp_type: int | None = None
    icmp_id: int = 0
    icmp_seq: int = 0
    tcp_seq: int = 0
    spi: int | None = None
    fragment: bool = False
    payload: bytes = b""
    """The ICMP/UDP/TCP payload (after its header)."""

    def text(self) -> str:
        """One line: ``10.1.1.10:1025 > 10.2.2.10:23 tcp 100B``."""
        if self.protocol in ("udp", "tcp") and not self.fragment:
            what = f"{self.src}:{self.sport} > {self.dst}:{self.dport} {self.protocol}"
        elif self.protocol == "icmp" and self.icmp_type is not None:
            kind = {ICMP_ECHO_REQUEST: "echo request", ICMP_ECHO_REPLY: "echo reply"}.get(
                self.icmp_type, f"type {self.icmp_type}"
            )
            what = f"{self.src} > {self.dst} icmp {kind} id {self.icmp_id} seq {self.icmp_seq}"
        elif self.spi is not None:
            what = f"{self.src} > {self.dst} {self.protocol} spi 0x{self.spi:x}"
        else:
            what = f"{self.src} > {self.dst} {self.protocol}"
        return f"{what} {self.length}B" + (" (fragment)" if self.fragment else "")


_NAMES = {
    ipv4.PROTO_ICMP: "icmp",
    ipv4.PROTO_UDP: "udp",
    ipv4.PROTO_TCP: "tcp",
    ipv4.PROTO_ESP: "esp",
    ipv4.PROTO_AH: "ah",
    ipv4.PROTO_IPIP: "ipip",
}


def describe(datagram: bytes) -> Summary | None:
    """The :class:`Summary` of ``datagram``, or None if it is not a readable IPv4 datagram."""
    try:
        hdr, body = ipv4.parse(datagram, verify_checksum=False)
    except ipv4.PacketError:
        return None
    common = dict(
        src=ipv4.addr_str(hdr.src),
        dst=ipv4.addr_str(hdr.dst),
        protocol=_NAMES.get(hdr.proto, str(hdr.proto)),
        length=hdr.total_length,
        ip_id=hdr.ident,
    )
    if ipv4.is_fragment(hdr) and hdr.frag_offset:
        return Summary(**common, fragment=True)
    frag = ipv4.is_fragment(hdr)
    if hdr.proto == ipv4.PROTO_ICMP and len(body) >= 8:
        t, _, _, i, s = struct.unpack_from("!BBHHH", body)
        return Summary(**common, icmp_type=t, icmp_id=i, icmp_seq=s, payload=body[8:], fragment=frag)
    if hdr.proto == ipv4.PROTO_UDP and len(body) >= 8:
        sp, dp = struct.unpack_from("!HH", body)
        return Summary(**common, sport=sp, dport=dp, payload=body[8:], fragment=frag)
    if hdr.proto == ipv4.PROTO_TCP and len(body) >= 20:
        sp, dp, sq = struct.unpack_from("!HHI", body)
        off = (body[12] >> 4) * 4
        return Summary(**common, sport=sp, dport=dp, tcp_seq=sq, payload=body[off:], fragment=frag)
    if hdr.proto in (ipv4.PROTO_ESP, ipv4.PROTO_AH):
        at = 0 if hdr.proto == ipv4.PROTO_ESP else 4
        if len(body) >= at + 4:
            return Summary(**common, spi=int.from_bytes(body[at : at + 4], "big"), fragment=frag)
    return Summary(**common, fragment=frag)


def reply_to(datagram: bytes, *, ip_id: int) -> bytes | None:
    """The answer a lab host gives: an echo reply to an echo request; for UDP and TCP, the same
    payload back with addresses and ports swapped (TCP acknowledging what it got). None if
    ``datagram`` is neither."""
    s = describe(datagram)
    if s is None or s.fragment:
        return None
    if s.protocol == "icmp" and s.icmp_type == ICMP_ECHO_REQUEST:
        return echo(s.dst, s.src, s.icmp_id, s.icmp_seq, s.length, ip_id=ip_id, reply=True, payload=s.payload)
    if s.protocol == "udp":
        return udp(s.dst, s.src, s.dport, s.sport, s.length, ip_id=ip_id, payload=s.payload)
    if s.protocol == "tcp":
        return tcp(
            s.dst,
            s.src,
            s.dport,
            s.sport,
            s.length,
            ip_id=ip_id,
            seq=s.tcp_seq,
            ack=s.tcp_seq + len(s.payload),
            payload=s.payload,
        )
    return None
