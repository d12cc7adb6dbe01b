"""AH, both generations IOS 11.3T speaks, as functions of (SA, datagram).

The updated AH (``ah-md5-hmac`` / ``ah-sha-hmac``, the draft that became RFC 2402)::

    next header | payload length (= 4: AH length in 32-bit words minus 2) | reserved (2)
    SPI (4) | sequence number (4) | ICV (12, HMAC-MD5-96 / HMAC-SHA1-96)

The ICV covers the whole datagram with the IPv4 fields that change in transit zeroed: TOS,
flags, fragment offset, TTL and header checksum (RFC 2402 3.3.3.1.1.1), mutable options zeroed
(RFC 2402 appendix A), and the ICV field zeroed.

RFC 1826 AH with RFC 1828 keyed MD5 (``ah-rfc1828``)::

    next header | length (= 4: the authentication data in 32-bit words) | reserved (2)
    SPI (4) | authentication data (16, keyed MD5)

RFC 1826 names TTL and header checksum as the only IPv4 base-header fields handled specially
(zeroed) for the calculation; TOS, flags and offset are covered as sent. The authenticator is
MD5(key, keyfill, datagram, key, MD5fill) (RFC 1828 section 2), computed by the engine's
KEYED_MD5 authenticator over the datagram with those fields and the authentication data zeroed.

Tunnel mode puts a new header (local -> peer) in front and authenticates the whole original
datagram behind AH (next header 4); transport mode inserts AH after the original header. With a
transform set of AH and ESP, IOS applies ESP first and AH to the ESP packet, AH then sitting
right behind the header that ESP produced (``tunnel=False`` below; :mod:`host.ipsec.bundle`).
"""

from __future__ import annotations

import struct

from driver.api import Op, Result, Status

from . import ipv4
from .burst import Step, run_one
from .ipv4 import IPv4Header, PacketError
from .replay import ReplayVerdict
from .sa import Drop, DropReason, Mode, Protocol, SecurityAssociation

__all__ = [
    "prepare_outbound",
    "prepare_inbound",
    "encapsulate",
    "decapsulate",
    "zeroed_header",
    "IMMUTABLE_OPTIONS",
    "overhead",
]

_AH = ipv4.PROTO_AH
_IPIP = ipv4.PROTO_IPIP
_ESP = ipv4.PROTO_ESP
_ZHDR = struct.Struct("!BBHHHBBH4s4s")

IMMUTABLE_OPTIONS = frozenset({0, 1, 2, 5, 6, 20, 21})
"""IPv4 option numbers (the low 5 bits of the type) RFC 2402 appendix A calls immutable: end of
list, no operation, security, extended security, commercial security, router alert, sender
directed multi-destination delivery. Every other option is zeroed whole for the ICV."""


def _zero_options(options: bytes) -> bytes:
    if not options:
        return options
    out = bytearray(options)
    i, n = 0, len(options)
    while i < n:
        kind = options[i]
        if kind == 0:
            break  # end of list: the rest is padding, kept as it is
        if kind == 1:
            i += 1
            continue
        if i + 1 >= n or options[i + 1] < 2 or i + options[i + 1] > n:
            raise PacketError("bad options", f"option {kind} at {i} overruns the header")
        length = options[i + 1]
        if kind & 0x1F not in IMMUTABLE_OPTIONS:
            out[i : i + length] = bytes(length)
        i += length
    return bytes(out)


def zeroed_header(hdr: IPv4Header, legacy: bool) -> bytes:
    """``hdr`` as the ICV sees it. RFC 2402 (``legacy`` false): TOS, flags, fragment offset,
    TTL and checksum zeroed, mutable options zeroed. RFC 1826 (``legacy``): TTL and checksum
    zeroed, and the same options treatment."""
    ihl = 5 + len(hdr.options) // 4
    if legacy:
        tos, ff = hdr.tos, (hdr.flags << 13) | hdr.frag_offset
    else:
        tos, ff = 0, 0
    return _ZHDR.pack(
        0x40 | ihl, tos, hdr.total_length, hdr.ident, ff, 0, hdr.proto, 0, hdr.src, hdr.dst
    ) + _zero_options(hdr.options)


def _ah_size(sa: SecurityAssociation) -> int:
    return (8 if sa.legacy else 12) + sa.icv_len


def _length_field(sa: SecurityAssociation) -> int:
    # RFC 1826: authentication data length in 32-bit words; RFC 2402: AH length in words - 2.
    return sa.icv_len // 4 if sa.legacy else _ah_size(sa) // 4 - 2


def overhead(sa: SecurityAssociation, tunnel: bool | None = None) -> int:
    """Bytes that AH adds to a datagram under ``sa``."""
    tunnel = sa.mode is Mode.TUNNEL if tunnel is None else tunnel
    return _ah_size(sa) + (20 if tunnel else 0)


# -- outbound -------------------------------------------------------------------------------------


class _Outbound(Step):
    __slots__ = ("hdr", "head", "payload")

    def finish(self, result: Result) -> bytes | Drop:
        sa = self.sa
        if result.status is not Status.OK:
            return self.engine_failed(result.status)
        packet = self.hdr.pack() + self.head + result.icv + self.payload
        c = sa.counters
        c.encaps += 1
        c.digest += 1
        c.packets += 1
        c.bytes += len(self.payload)
        return packet


def prepare_outbound(sa: SecurityAssociation, datagram: bytes, tunnel: bool | None = None) -> Step | Drop:
    """Start authenticating ``datagram`` with outbound AH SA ``sa``.

    ``tunnel``: wrap the datagram in a new header (default: per the SA's mode). A bundle passes
    ``False`` to put AH on the packet that ESP produced.
    """
    if sa.protocol is not Protocol.AH or sa.inbound:
        raise ValueError(f"{sa!r} is not an outbound AH SA")
    tunnel = sa.mode is Mode.TUNNEL if tunnel is None else tunnel
    try:
        hdr, payload = ipv4.parse(datagram, verify_checksum=False)
        if tunnel:
            payload = datagram[: hdr.total_length]
            nh = _IPIP
            hdr = IPv4Header(
                src=sa.local_bytes,
                dst=sa.peer_bytes,
                proto=_AH,
                tos=hdr.tos,
                ident=next(sa.ident),
                ttl=sa.ttl,
            )
        else:
            if ipv4.is_fragment(hdr):
                return sa.drop(DropReason.BAD_PACKET, "AH cannot protect a fragment")
            nh = hdr.proto
            hdr.proto = _AH
            _zero_options(hdr.options)  # reject malformed options before anything is sent
    except PacketError as e:
        return sa.drop(DropReason.BAD_PACKET, str(e))
    if sa.legacy:
        head = bytes((nh, _length_field(sa), 0, 0)) + sa.spi_bytes
    else:
        seq = sa.next_seq()
        if seq is None:
            return sa.drop(DropReason.SEQ_OVERFLOW, "sequence number would cycle")
        head = bytes((nh, _length_field(sa), 0, 0)) + sa.spi_bytes + seq.to_bytes(4, "big")
    total = hdr.header_length + len(head) + sa.icv_len + len(payload)
    if total > ipv4.MAX_DATAGRAM:
        return sa.drop(DropReason.TOO_BIG, f"{total} bytes")
    hdr.total_length = total
    auth_data = zeroed_header(hdr, sa.legacy) + head + bytes(sa.icv_len) + payload
    step = _Outbound(sa, Op.AUTH, auth_data=auth_data)
    step.hdr = hdr
    step.head = head
    step.payload = payload
    return step


def encapsulate(sa: SecurityAssociation, datagram: bytes, tunnel: bool | None = None) -> bytes | Drop:
    """Authenticate one datagram (see :func:`prepare_outbound`)."""
    return run_one(prepare_outbound(sa, datagram, tunnel))


# -- inbound --------------------------------------------------------------------------------------


class _Inbound(Step):
    __slots__ = ("hdr", "seq", "nh", "rest")

    def finish(self, result: Result) -> bytes | Drop:
        sa = self.sa
        refused = self.inbound_verdict(result, self.seq)
        if refused is not None:
            return refused
        nh, rest = self.nh, self.rest
        if nh == _IPIP:
            if sa.mode is not Mode.TUNNEL:
                return sa.drop(DropReason.BAD_NEXT_HEADER, "IP in IP on a transport SA")
            try:
                ih = ipv4.parse_header(rest)
            except PacketError as e:
                return sa.drop(DropReason.BAD_INNER, str(e))
            if ih.total_length != len(rest):
                return sa.drop(DropReason.BAD_INNER, "inner length disagrees with its header")
            packet = rest
        elif sa.mode is Mode.TUNNEL and nh != _ESP:
            # a tunnel SA carries a whole datagram, or ESP when the transform set has both
            return sa.drop(DropReason.BAD_NEXT_HEADER, f"next header {nh} on a tunnel SA")
        else:
            hdr = self.hdr
            hdr.proto = nh
            packet = ipv4.with_header(hdr, rest)
        c = sa.counters
        c.decaps += 1
        c.verify += 1
        c.packets += 1
        c.bytes += len(rest)
        return packet


def prepare_inbound(sa: SecurityAssociation, datagram: bytes) -> Step | Drop:
    """Start verifying ``datagram`` (a whole, reassembled IPv4 datagram carrying AH of ``sa``).
    Replays are dropped here, before the ICV; the window moves only after the ICV verified."""
    if sa.protocol is not Protocol.AH or not sa.inbound:
        raise ValueError(f"{sa!r} is not an inbound AH SA")
    try:
        hdr, ah = ipv4.parse(datagram)
    except PacketError as e:
        reason = DropReason.TRUNCATED if e.reason == "truncated" else DropReason.BAD_LENGTH
        return sa.drop(reason, str(e))
    size = _ah_size(sa)
    if hdr.proto != _AH:
        return sa.drop(DropReason.WRONG_SA, f"protocol {hdr.proto} is not AH")
    if len(ah) < size:
        return sa.drop(DropReason.TRUNCATED, f"{len(ah)} bytes of AH, need {size}")
    if ah[4:8] != sa.spi_bytes:
        return sa.drop(DropReason.WRONG_SA, "not AH of this SPI")
    if ipv4.is_fragment(hdr):
        return sa.drop(DropReason.FRAGMENT, "AH is processed after reassembly")
    if ah[1] != _length_field(sa):
        return sa.drop(DropReason.BAD_LENGTH, f"AH length field {ah[1]}")
    seq = 0
    if not sa.legacy:
        seq = int.from_bytes(ah[8:12], "big")
        if sa.replay is not None:
            verdict = sa.replay.check(seq)
            if verdict is not ReplayVerdict.NEW:
                return sa.drop(
                    DropReason.REPLAY if verdict is ReplayVerdict.DUPLICATE else DropReason.REPLAY_TOO_OLD,
                    f"seq {seq}",
                )
    fixed = size - sa.icv_len
    try:
        zhdr = zeroed_header(hdr, sa.legacy)
    except PacketError as e:
        return sa.drop(DropReason.BAD_LENGTH, str(e))
    auth_data = zhdr + ah[:fixed] + bytes(sa.icv_len) + ah[size:]
    step = _Inbound(sa, Op.VERIFY, auth_data=auth_data, icv=ah[fixed:size])
    step.hdr = hdr
    step.seq = seq
    step.nh = ah[0]
    step.rest = ah[size:]
    return step


def decapsulate(sa: SecurityAssociation, datagram: bytes) -> bytes | Drop:
    """Verify one datagram and strip its AH (see :func:`prepare_inbound`)."""
    return run_one(prepare_inbound(sa, datagram))
