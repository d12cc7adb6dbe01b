"""Minimal IPv4 (RFC 791) for the data plane: header parse/build, checksum, fragmentation,
reassembly. Packets are ``bytes``; Scapy is only a test reference, never used here.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "PacketError",
    "IPv4Header",
    "checksum",
    "parse",
    "build",
    "with_header",
    "fragment",
    "Reassembler",
    "addr_bytes",
    "addr_str",
    "is_fragment",
    "PROTO_ICMP",
    "PROTO_IPIP",
    "PROTO_TCP",
    "PROTO_UDP",
    "PROTO_ESP",
    "PROTO_AH",
    "FLAG_DF",
    "FLAG_MF",
    "MAX_DATAGRAM",
]

PROTO_ICMP = 1
PROTO_IPIP = 4
"""IP in IP: the next header of a tunnel-mode ESP/AH payload."""
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ESP = 50
PROTO_AH = 51
FLAG_DF = 0b010
FLAG_MF = 0b001
MAX_DATAGRAM = 65535

_HDR = struct.Struct("!BBHHHBBH4s4s")


class PacketError(ValueError):
    """A datagram that cannot be parsed or handled; ``reason`` is a short fixed phrase."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def addr_bytes(addr: str | bytes) -> bytes:
    """An IPv4 address as its 4 network-order bytes."""
    if isinstance(addr, bytes):
        if len(addr) != 4:
            raise ValueError(f"an IPv4 address is 4 bytes, got {len(addr)}")
        return addr
    try:
        if addr.count(".") == 3:
            return socket.inet_aton(addr)
    except OSError:
        pass
    raise ValueError(f"not a dotted-quad IPv4 address: {addr!r}")


def addr_str(addr: bytes) -> str:
    """4 address bytes as a dotted quad."""
    return socket.inet_ntoa(addr)


_WORDS20 = struct.Struct("!10H")


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's complement of the one's complement sum."""
    if len(data) == 20:  # the common case: an option-less header
        total = sum(_WORDS20.unpack(data))
    else:
        if len(data) % 2:
            data += b"\0"
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(slots=True)
class IPv4Header:
    """The fields of an IPv4 header. ``src``/``dst`` are 4 bytes; ``flags`` the 3 flag bits
    (reserved, DF, MF); ``frag_offset`` in 8-byte units; ``options`` the raw option bytes
    (a multiple of 4)."""

    src: bytes
    dst: bytes
    proto: int
    total_length: int = 0
    tos: int = 0
    ident: int = 0
    flags: int = 0
    frag_offset: int = 0
    ttl: int = 64
    checksum: int = 0
    options: bytes = field(default=b"")

    @property
    def header_length(self) -> int:
        return 20 + len(self.options)

    def pack(self, *, fill_checksum: bool = True) -> bytes:
        """The header bytes; with ``fill_checksum`` the checksum is computed (and stored)."""
        ihl = 5 + len(self.options) // 4
        raw = (
            _HDR.pack(
                0x40 | ihl,
                self.tos,
                self.total_length,
                self.ident,
                (self.flags << 13) | self.frag_offset,
                self.ttl,
                self.proto,
                0,
                self.src,
                self.dst,
            )
            + self.options
        )
        if not fill_checksum:
            return raw[:10] + self.checksum.to_bytes(2, "big") + raw[12:]
        self.checksum = checksum(raw)
        return raw[:10] + self.checksum.to_bytes(2, "big") + raw[12:]


def parse(datagram: bytes, *, verify_checksum: bool = True) -> tuple[IPv4Header, bytes]:
    """Split a datagram into its header and payload.

    Bytes beyond the header's total length (link-layer padding) are dropped. Raises
    :class:`PacketError` for anything that is not a well-formed IPv4 datagram.
    """
    hdr = parse_header(datagram, verify_checksum=verify_checksum)
    return hdr, datagram[hdr.header_length : hdr.total_length]


def parse_header(datagram: bytes, *, verify_checksum: bool = True) -> IPv4Header:
    """The header of a datagram, checked as :func:`parse` checks it, without copying the
    payload (it is ``datagram[hdr.header_length:hdr.total_length]``)."""
    n = len(datagram)
    if n < 20:
        raise PacketError("truncated", f"{n} bytes is shorter than an IPv4 header")
    vihl, tos, total, ident, ff, ttl, proto, csum, src, dst = _HDR.unpack_from(datagram)
    if vihl >> 4 != 4:
        raise PacketError("not IPv4", f"version {vihl >> 4}")
    hlen = (vihl & 0xF) * 4
    if hlen < 20:
        raise PacketError("bad header length", f"IHL {hlen // 4}")
    if total < hlen or total > n:
        raise PacketError("truncated", f"total length {total}, header {hlen}, have {n} bytes")
    if verify_checksum and checksum(datagram[:hlen]) != 0:
        raise PacketError("bad checksum")
    # positional: src, dst, proto, total_length, tos, ident, flags, frag_offset, ttl,
    # checksum, options
    return IPv4Header(
        src,
        dst,
        proto,
        total,
        tos,
        ident,
        ff >> 13,
        ff & 0x1FFF,
        ttl,
        csum,
        datagram[20:hlen] if hlen > 20 else b"",
    )


def build(
    src: str | bytes,
    dst: str | bytes,
    proto: int,
    payload: bytes,
    *,
    tos: int = 0,
    ident: int = 0,
    ttl: int = 64,
    flags: int = 0,
    options: bytes = b"",
) -> bytes:
    """A whole datagram: a fresh header (checksum filled in) followed by ``payload``."""
    if len(options) % 4:
        raise ValueError("IPv4 options must be padded to a multiple of 4 bytes")
    hdr = IPv4Header(
        src=addr_bytes(src),
        dst=addr_bytes(dst),
        proto=proto,
        tos=tos,
        ident=ident & 0xFFFF,
        flags=flags,
        ttl=ttl,
        options=options,
    )
    return with_header(hdr, payload)


def with_header(hdr: IPv4Header, payload: bytes) -> bytes:
    """``payload`` behind ``hdr``, with total length and checksum set from them."""
    total = hdr.header_length + len(payload)
    if total > MAX_DATAGRAM:
        raise PacketError("too big", f"{total} bytes exceeds {MAX_DATAGRAM}")
    hdr.total_length = total
    return hdr.pack() + payload


def is_fragment(hdr: IPv4Header) -> bool:
    """Whether the datagram is a fragment (MF set or a non-zero offset)."""
    return bool(hdr.flags & FLAG_MF) or hdr.frag_offset != 0


def fragment(datagram: bytes, mtu: int) -> list[bytes]:
    """Split ``datagram`` into fragments of at most ``mtu`` bytes (RFC 791).

    A datagram that fits is returned alone, unchanged. Options are copied into every fragment
    (a simplification: RFC 791 copies only options with the copy bit; our datagrams carry
    none). Raises :class:`PacketError` ("DF set") when the datagram is too big and may not
    be fragmented.
    """
    if len(datagram) <= mtu:
        return [datagram]
    hdr, payload = parse(datagram, verify_checksum=False)
    if hdr.flags & FLAG_DF:
        raise PacketError("DF set", f"{len(datagram)} bytes exceed MTU {mtu}")
    step = (mtu - hdr.header_length) // 8 * 8
    if step < 8:
        raise PacketError("MTU too small", f"MTU {mtu}")
    last_mf = hdr.flags & FLAG_MF
    out = []
    for off in range(0, len(payload), step):
        piece = payload[off : off + step]
        more = off + step < len(payload)
        frag = IPv4Header(
            src=hdr.src,
            dst=hdr.dst,
            proto=hdr.proto,
            tos=hdr.tos,
            ident=hdr.ident,
            flags=(hdr.flags & ~FLAG_MF) | (FLAG_MF if more else last_mf),
            frag_offset=hdr.frag_offset + off // 8,
            ttl=hdr.ttl,
            options=hdr.options,
        )
        out.append(with_header(frag, piece))
    return out


@dataclass
class _Partial:
    first_seen: float
    data: bytearray = field(default_factory=bytearray)
    have: set[int] = field(default_factory=set)
    """8-byte units received."""
    end: int | None = None
    """Payload length, known once the last fragment (MF clear) arrived."""
    header: IPv4Header | None = None


class Reassembler:
    """Reassembles inbound fragments (RFC 791 / RFC 815 style) on an injected clock.

    ``clock()`` returns seconds; a datagram whose fragments do not all arrive within
    ``timeout`` seconds is discarded (counted in ``timeouts``). At most ``max_pending``
    datagrams are held at once; fragments of more are refused (counted in ``overflows``).
    """

    def __init__(self, clock: Callable[[], float], timeout: float = 30.0, max_pending: int = 256) -> None:
        self.clock = clock
        self.timeout = timeout
        self.max_pending = max_pending
        self._partial: dict[tuple, _Partial] = {}
        self.timeouts = 0
        self.overflows = 0
        self.malformed = 0

    def pending(self) -> int:
        """Datagrams partly received."""
        return len(self._partial)

    def expire(self) -> None:
        """Discard datagrams whose reassembly timer ran out."""
        now = self.clock()
        for key in [k for k, p in self._partial.items() if now - p.first_seen > self.timeout]:
            del self._partial[key]
            self.timeouts += 1

    def add(self, datagram: bytes) -> bytes | None:
        """Offer one datagram: a non-fragment comes straight back; a fragment returns the
        whole datagram once complete, else ``None``. Malformed input raises
        :class:`PacketError`."""
        hdr, payload = parse(datagram)
        if not is_fragment(hdr):
            return datagram
        self.expire()
        key = (hdr.src, hdr.dst, hdr.proto, hdr.ident)
        part = self._partial.get(key)
        if part is None:
            if len(self._partial) >= self.max_pending:
                self.overflows += 1
                return None
            part = self._partial[key] = _Partial(first_seen=self.clock())
        start = hdr.frag_offset * 8
        more = bool(hdr.flags & FLAG_MF)
        if (more and len(payload) % 8) or start + len(payload) + hdr.header_length > MAX_DATAGRAM:
            del self._partial[key]
            self.malformed += 1
            raise PacketError("bad fragment", f"offset {start}, {len(payload)} bytes")
        if not more:
            if part.end is not None and part.end != start + len(payload):
                del self._partial[key]
                self.malformed += 1
                raise PacketError("bad fragment", "two different last fragments")
            part.end = start + len(payload)
        if start == 0:
            part.header = hdr
        if len(part.data) < start + len(payload):
            part.data.extend(bytes(start + len(payload) - len(part.data)))
        part.data[start : start + len(payload)] = payload
        part.have.update(range(start // 8, (start + len(payload) + 7) // 8))
        if part.end is None or part.header is None:
            return None
        if len(part.have) < (part.end + 7) // 8 or any(
            u not in part.have for u in range((part.end + 7) // 8)
        ):
            return None
        del self._partial[key]
        first = part.header
        whole = IPv4Header(
            src=first.src,
            dst=first.dst,
            proto=first.proto,
            tos=first.tos,
            ident=first.ident,
            flags=first.flags & ~FLAG_MF,
            frag_offset=0,
            ttl=first.ttl,
            options=first.options,
        )
        return with_header(whole, bytes(part.data[: part.end]))
