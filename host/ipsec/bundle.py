"""Transform sets with both AH and ESP: ESP inside AH, in bursts.

Outbound, IOS applies the transform set's ESP SA first (in the set's mode) and then its AH SA
to the packet ESP produced, AH sitting behind ESP's header (RFC 2401 4.5 "transport adjacency"):
``IP | AH | ESP | ...``. Inbound, the outermost protocol is processed first: AH is verified and
stripped, then the ESP behind it is decrypted. A set with one protocol is the one-SA case.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import ah, esp, ipv4
from .burst import Step, run_burst
from .ipv4 import PacketError
from .sa import Drop, DropReason, Protocol, SecurityAssociation

__all__ = ["protect", "unprotect", "Lookup", "check_bundle"]

Lookup = Callable[[bytes, int, int], "SecurityAssociation | None"]
"""``(destination address bytes, IP protocol, SPI) -> inbound SA or None``: the SA database."""


def check_bundle(sas: Sequence[SecurityAssociation]) -> None:
    """Raise ``ValueError`` unless ``sas`` is [ESP], [AH] or [ESP, AH], all outbound."""
    protos = [sa.protocol for sa in sas]
    if protos not in ([Protocol.ESP], [Protocol.AH], [Protocol.ESP, Protocol.AH]):
        raise ValueError(f"a bundle is ESP, AH or ESP then AH, got {[p.value for p in protos]}")
    if any(sa.inbound for sa in sas):
        raise ValueError("protect() takes outbound SAs")


def protect(sas: Sequence[SecurityAssociation], datagrams: Sequence[bytes]) -> list[bytes | Drop]:
    """Protect a burst of datagrams with the outbound SAs of one transform set, ESP first.

    One engine run per protocol layer for the whole burst; output in input order.
    """
    check_bundle(sas)
    items: list[bytes | Drop] = list(datagrams)
    for k, sa in enumerate(sas):
        if sa.protocol is Protocol.ESP:
            steps = [d if isinstance(d, Drop) else esp.prepare_outbound(sa, d) for d in items]
        else:
            tunnel = None if k == 0 else False
            steps = [d if isinstance(d, Drop) else ah.prepare_outbound(sa, d, tunnel) for d in items]
        items = run_burst(steps)
    return items


def _inbound_step(lookup: Lookup, datagram: bytes) -> Step | Drop:
    try:
        hdr, payload = ipv4.parse(datagram)
    except PacketError as e:
        reason = DropReason.TRUNCATED if e.reason == "truncated" else DropReason.BAD_LENGTH
        return Drop(reason, None, str(e))
    if hdr.proto not in (ipv4.PROTO_ESP, ipv4.PROTO_AH):
        return Drop(DropReason.WRONG_SA, None, f"protocol {hdr.proto} is not IPsec")
    off = 0 if hdr.proto == ipv4.PROTO_ESP else 4
    if len(payload) < off + 4:
        return Drop(DropReason.TRUNCATED, None, "no room for an SPI")
    spi = int.from_bytes(payload[off : off + 4], "big")
    sa = lookup(hdr.dst, hdr.proto, spi)
    if sa is None:
        return Drop(DropReason.UNKNOWN_SPI, None, f"spi {spi:#x}")
    if sa.protocol is Protocol.ESP:
        return esp.prepare_inbound(sa, datagram)
    return ah.prepare_inbound(sa, datagram)


def unprotect(
    lookup: Lookup, datagrams: Sequence[bytes]
) -> list[tuple[bytes | Drop, tuple[SecurityAssociation, ...]]]:
    """Verify and decrypt a burst of protected datagrams.

    Each result is ``(datagram or drop, the SAs that processed it, outermost first)``: the
    caller checks that these SAs are siblings and that their flow permits the inner datagram.
    An unknown SPI is a drop with no SA (the SA database counts it).
    """
    n = len(datagrams)
    used: list[list[SecurityAssociation]] = [[] for _ in range(n)]
    steps = [_inbound_step(lookup, d) for d in datagrams]
    for i, s in enumerate(steps):
        if isinstance(s, Step):
            used[i].append(s.sa)
    items = run_burst(steps)
    # AH over ESP: the AH layer leaves IP | ESP behind the same header; peel ESP next.
    again = [
        i
        for i, d in enumerate(items)
        if not isinstance(d, Drop)
        and used[i]
        and used[i][0].protocol is Protocol.AH
        and d[9] == ipv4.PROTO_ESP
    ]
    if again:
        steps2 = [_inbound_step(lookup, items[i]) for i in again]
        for i, s in zip(again, steps2, strict=True):
            if isinstance(s, Step):
                used[i].append(s.sa)
        for i, d in zip(again, run_burst(steps2), strict=True):
            items[i] = d
    return [(items[i], tuple(used[i])) for i in range(n)]
