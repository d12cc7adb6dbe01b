"""ESP, both generations IOS 11.3T speaks, as functions of (SA, datagram).

The updated ESP (``esp-des`` [+ ``esp-md5-hmac`` | ``esp-sha-hmac``], the draft that became
RFC 2406, with RFC 2405 DES-CBC and RFC 2403/2404 HMAC-96)::

    SPI (4) | seq (4) | IV (8) | E(payload | padding 1,2,3.. | pad length | next header) | ICV (12)

The ICV covers SPI through the ciphertext and is present only with an ESP authenticator.

RFC 1829 ESP (``esp-rfc1829``): no sequence number, no ICV, and a 4- or 8-byte IV; a 4-byte IV
is stretched to DES's 64 bits as the value followed by its one's complement::

    SPI (4) | IV (4 or 8) | E(payload | padding | pad length | payload type)

RFC 1829 leaves the padding bytes' values to the implementation and has the receiver ignore
them; we send 1, 2, 3, ... as the updated ESP does, and do not check them on receipt.

Tunnel mode wraps the whole datagram (next header 4, IP in IP) behind a new header from the
SA's local address to its peer; transport mode keeps the original header and protects its
payload. The outer header of tunnel mode copies the inner TOS (RFC 2401 5.1.2.1), takes the
SA's TTL and a fresh identification, and leaves DF clear, so that a protected datagram larger
than a link's MTU can be fragmented on the way out (issue 3: "outer fragmentation").

Inbound, a tunnel SA takes only next header 4 (a whole datagram, whose header must parse) and a
transport SA refuses next header 4 (the peer applied the other mode): both count as "bad next
header" drops.

``prepare_outbound`` / ``prepare_inbound`` return a :class:`~host.ipsec.burst.Step` (or a
counted :class:`~host.ipsec.sa.Drop`); run a burst of them with
:func:`~host.ipsec.burst.run_burst`. ``encapsulate`` / ``decapsulate`` do one packet.
"""

from __future__ import annotations

from driver.api import Op, Result, Status

from . import ipv4
from .burst import Step, run_one
from .ipv4 import IPv4Header, PacketError
from .replay import ReplayVerdict
from .sa import Drop, DropReason, Mode, Protocol, SecurityAssociation

__all__ = ["prepare_outbound", "prepare_inbound", "encapsulate", "decapsulate", "overhead"]

_PAD = [bytes(range(1, n + 1)) for n in range(8)]
_TRAILER = [[bytes((n, nh)) for nh in range(256)] for n in range(8)]
_IPIP = ipv4.PROTO_IPIP
_ESP = ipv4.PROTO_ESP


def overhead(sa: SecurityAssociation, length: int) -> int:
    """Bytes that ESP adds to a datagram of ``length`` bytes under ``sa`` (for path MTU)."""
    inner = length if sa.mode is Mode.TUNNEL else length - 20
    padded = inner + 2 + (-(inner + 2)) % 8
    head = 4 + sa.iv_size if sa.legacy else 16
    return head + padded - inner + sa.icv_len + (20 if sa.mode is Mode.TUNNEL else 0)


def _expand_iv(field: bytes) -> bytes:
    """RFC 1829: a 32-bit IV field gives the 64-bit IV value || complement(value)."""
    if len(field) == 8:
        return field
    v = int.from_bytes(field, "big")
    return field + (v ^ 0xFFFFFFFF).to_bytes(4, "big")


# -- outbound -------------------------------------------------------------------------------------


class _Outbound(Step):
    __slots__ = ("head", "hdr", "inner_len")

    def finish(self, result: Result) -> bytes | Drop:
        sa = self.sa
        if result.status is not Status.OK:
            return self.engine_failed(result.status)
        esp = self.head + result.data + result.icv if result.icv else self.head + result.data
        try:
            packet = ipv4.with_header(self.hdr, esp)
        except PacketError as e:
            return sa.drop(DropReason.TOO_BIG, str(e))
        c = sa.counters
        c.encaps += 1
        c.encrypt += 1
        if result.icv:
            c.digest += 1
        c.packets += 1
        c.bytes += self.inner_len
        return packet


def prepare_outbound(sa: SecurityAssociation, datagram: bytes) -> Step | Drop:
    """Start protecting ``datagram`` (a whole IPv4 datagram) with outbound ESP SA ``sa``."""
    if sa.protocol is not Protocol.ESP or sa.inbound:
        raise ValueError(f"{sa!r} is not an outbound ESP SA")
    try:
        hdr = ipv4.parse_header(datagram, verify_checksum=False)
    except PacketError as e:
        return sa.drop(DropReason.BAD_PACKET, str(e))
    if sa.mode is Mode.TUNNEL:
        inner = datagram if len(datagram) == hdr.total_length else datagram[: hdr.total_length]
        nh = _IPIP
        out_hdr = IPv4Header(
            src=sa.local_bytes, dst=sa.peer_bytes, proto=_ESP, tos=hdr.tos, ident=next(sa.ident), ttl=sa.ttl
        )
    else:
        if ipv4.is_fragment(hdr):
            return sa.drop(DropReason.BAD_PACKET, "transport mode cannot protect a fragment")
        inner = datagram[hdr.header_length : hdr.total_length]
        nh = hdr.proto
        hdr.proto = _ESP
        out_hdr = hdr
    padlen = (-(len(inner) + 2)) % 8
    plaintext = inner + _PAD[padlen] + _TRAILER[padlen][nh]
    if sa.legacy:
        field = sa.rng(sa.iv_size)
        step = _Outbound(sa, Op.ENCRYPT, cipher_data=plaintext, iv=_expand_iv(field))
        step.head = sa.spi_bytes + field
    else:
        seq = sa.next_seq()
        if seq is None:
            return sa.drop(DropReason.SEQ_OVERFLOW, "sequence number would cycle")
        iv = sa.rng(8)
        head = sa.spi_bytes + seq.to_bytes(4, "big") + iv
        if sa.icv_len:
            step = _Outbound(sa, Op.ENCRYPT_AUTH, auth_data=head, cipher_data=plaintext, iv=iv)
        else:
            step = _Outbound(sa, Op.ENCRYPT, cipher_data=plaintext, iv=iv)
        step.head = head
    step.hdr = out_hdr
    step.inner_len = len(inner)
    return step


def encapsulate(sa: SecurityAssociation, datagram: bytes) -> bytes | Drop:
    """Protect one datagram (see :func:`prepare_outbound`)."""
    return run_one(prepare_outbound(sa, datagram))


# -- inbound --------------------------------------------------------------------------------------


class _Inbound(Step):
    __slots__ = ("hdr", "seq")

    def finish(self, result: Result) -> bytes | Drop:
        sa = self.sa
        refused = self.inbound_verdict(result, self.seq)
        if refused is not None:
            return refused
        pt = result.data
        padlen, nh = pt[-2], pt[-1]
        end = len(pt) - 2 - padlen
        if end < 0:
            return sa.drop(DropReason.BAD_PADDING, f"pad length {padlen} in {len(pt)} bytes")
        if not sa.legacy and pt[end:-2] != bytes(range(1, padlen + 1)):
            return sa.drop(DropReason.BAD_PADDING, "padding is not 1, 2, 3, ...")
        inner = pt[:end]
        if sa.mode is Mode.TUNNEL:
            if nh != _IPIP:
                return sa.drop(DropReason.BAD_NEXT_HEADER, f"next header {nh} on a tunnel SA")
            try:
                ih = ipv4.parse_header(inner)
            except PacketError as e:
                return sa.drop(DropReason.BAD_INNER, str(e))
            if ih.total_length != len(inner):
                return sa.drop(DropReason.BAD_INNER, "inner length disagrees with its header")
            packet = inner
        else:
            if nh == _IPIP:
                return sa.drop(DropReason.BAD_NEXT_HEADER, "IP in IP on a transport SA")
            hdr = self.hdr
            hdr.proto = nh
            packet = ipv4.with_header(hdr, inner)
        c = sa.counters
        c.decaps += 1
        c.decrypt += 1
        if sa.icv_len:
            c.verify += 1
        c.packets += 1
        c.bytes += len(inner)
        return packet


def prepare_inbound(sa: SecurityAssociation, datagram: bytes) -> Step | Drop:
    """Start checking and decrypting ``datagram`` (a whole, reassembled IPv4 datagram whose
    ESP SPI is ``sa``'s). Replays are dropped here, before the ICV; the window moves only
    after the ICV verified (in ``finish``)."""
    if sa.protocol is not Protocol.ESP or not sa.inbound:
        raise ValueError(f"{sa!r} is not an inbound ESP SA")
    try:
        hdr, esp = ipv4.parse(datagram)
    except PacketError as e:
        reason = DropReason.TRUNCATED if e.reason == "truncated" else DropReason.BAD_LENGTH
        return sa.drop(reason, str(e))
    if hdr.proto != _ESP or esp[:4] != sa.spi_bytes:
        if len(esp) < 4:
            return sa.drop(DropReason.TRUNCATED, "no room for an SPI")
        return sa.drop(DropReason.WRONG_SA, "not ESP of this SPI")
    if ipv4.is_fragment(hdr):
        return sa.drop(DropReason.FRAGMENT, "ESP is processed after reassembly")
    if sa.legacy:
        start = 4 + sa.iv_size
        body = esp[start:]
        if len(body) < 8:
            return sa.drop(DropReason.TRUNCATED, f"{len(esp)} bytes of ESP")
        if len(body) % 8:
            return sa.drop(DropReason.BAD_LENGTH, f"{len(body)} bytes of ciphertext")
        step = _Inbound(sa, Op.DECRYPT, cipher_data=body, iv=_expand_iv(esp[4:start]))
        step.seq = 0
    else:
        icv_len = sa.icv_len
        if len(esp) < 24 + icv_len:
            return sa.drop(DropReason.TRUNCATED, f"{len(esp)} bytes of ESP")
        body = esp[16 : len(esp) - icv_len]
        if len(body) % 8:
            return sa.drop(DropReason.BAD_LENGTH, f"{len(body)} bytes of ciphertext")
        seq = int.from_bytes(esp[4:8], "big")
        if sa.replay is not None:
            verdict = sa.replay.check(seq)
            if verdict is not ReplayVerdict.NEW:
                return sa.drop(
                    DropReason.REPLAY if verdict is ReplayVerdict.DUPLICATE else DropReason.REPLAY_TOO_OLD,
                    f"seq {seq}",
                )
        if icv_len:
            step = _Inbound(
                sa, Op.VERIFY_DECRYPT, auth_data=esp[:16], cipher_data=body, iv=esp[8:16], icv=esp[-icv_len:]
            )
        else:
            step = _Inbound(sa, Op.DECRYPT, cipher_data=body, iv=esp[8:16])
        step.seq = seq
    step.hdr = hdr
    return step


def decapsulate(sa: SecurityAssociation, datagram: bytes) -> bytes | Drop:
    """Check and decrypt one datagram (see :func:`prepare_inbound`)."""
    return run_one(prepare_inbound(sa, datagram))
