"""``show crypto ipsec sa [map NAME | address | identity] [detail]``: the live SA database.

Layout: the spec's sample display. The sample lost its indentation after its first block in
conversion (only ``interface:``, ``Crypto map tag``, the ident lines, ``PERMIT`` and the
counters kept theirs). The choice made here: the first block's indentation is followed exactly
(interface at column 0, the crypto map tag and the flow's ident lines at 2, ``PERMIT`` and the
counters at 4), and the rest nests below the flow at the counters' level: endpoints, MTUs,
current outbound SPI and the ``inbound esp sas:`` headers at 4, each ``spi:`` at 6 and its
details at 8. Blank lines are where the sample has them.

Choices where the spec is silent:

* Every interface with a crypto map set is listed, sorted by name, with the flows of its SA
  database; interfaces that share a database through ``local-address`` list the same flows
  (the sample shows Ethernet0 and Tunnel0 so). Flows are sorted by their identities; within a
  flow, SAs are grouped by direction and protocol, oldest first.
* The flow counters count packets (a packet under ESP and AH counts once); ``#pkts encrypt``
  counts packets under ESP, ``digest``/``verify`` packets under an authenticator.
* ``sa timing`` shows per SA the kilobytes left (lifetime minus the started kilobytes that SA
  carried) and the seconds left; manual SAs, which never expire, show ``(0/0)``.
* AH SAs have no IV and print no ``IV size`` line.
* ``detail`` adds IOS's detailed error counters (the names later IOS releases print) under the
  send/receive error line; ``no sa (send)`` counts packets of the flow dropped for want of an SA.
* ``address`` lists the SAs by destination address, then protocol (AH before ESP), in the style
  of later IOS; ``identity`` prints only the flow lines (no SAs).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from host.ipsec.sa import Protocol, SecurityAssociation
from host.ipsec.sadb import FlowCounters, SABundle, SADatabase
from host.policy import FlowIdentity

from .ipsec_debug import spi_text

if TYPE_CHECKING:
    from host.router import Router

__all__ = ["show_ipsec_sa", "DETAIL_COUNTERS"]

DETAIL_COUNTERS = [
    [("no sa (send)", "no sa", True), ("invalid sa (rcv)", "invalid sa", False)],
    [("encaps failed (send)", "encaps failed", True), ("decap failed (rcv)", "decap failed", False)],
    [("invalid prot (recv)", "invalid prot", False), ("verify failed:", "verify failed", False)],
    [("invalid identity (recv)", "invalid identity", False), ("invalid len (rcv)", "invalid len", False)],
    [
        ("replay rollover (send):", "replay rollover", True),
        ("replay rollover (rcv)", "replay rollover", False),
    ],
    [("#pkts replay failed (rcv):", "replay failed", False)],
    [("internal err (send):", "internal err", True), ("internal err (recv)", "internal err", False)],
]
"""The ``detail`` lines: (label, DropReason counter name, send side)."""


def _flow_key(flow: FlowIdentity, peer: str) -> tuple:
    return (
        flow.local_addr,
        flow.local_mask,
        flow.remote_addr,
        flow.remote_mask,
        flow.protocol,
        flow.local_port,
        flow.remote_port,
        peer,
    )


def _sum_counters(bundles: list[SABundle]) -> FlowCounters:
    total = FlowCounters()
    for b in bundles:
        for name in total.__dataclass_fields__:
            setattr(total, name, getattr(total, name) + getattr(b.counters, name))
    return total


def _sa_lines(router: Router, bundle: SABundle, sa: SecurityAssociation, map_name: str) -> list[str]:
    lines = [
        f"      spi: {spi_text(sa.spi)}",
        f"        transform: {sa.transform_text} ,",
        f"        in use settings ={{{sa.mode.value}, }}",
        f"        slot: {sa.slot or 0}, conn id: {sa.conn_id}, crypto map: {map_name}",
    ]
    left = router.lifetimes.remaining(bundle, sa)
    k, s = left if left is not None else (0, 0)
    lines.append(f"        sa timing: remaining key lifetime (k/sec): ({k}/{s})")
    if sa.protocol is Protocol.ESP:
        lines.append(f"        IV size: {sa.iv_size} bytes")
    lines.append(f"        replay detection support: {'Y' if sa.anti_replay else 'N'}")
    return lines


def _detail_lines(db: SADatabase, bundles: list[SABundle], flow: FlowIdentity) -> list[str]:
    send: Counter = Counter()
    recv: Counter = Counter()
    for b in bundles:
        for sa in b.sas:
            for reason, n in sa.counters.drops.items():
                (send if reason.send else recv)[reason.counter] += n
    send["no sa"] = db.no_sa.get(flow, 0)
    out = []
    for row in DETAIL_COUNTERS:
        parts = []
        for label, name, is_send in row:
            n = (send if is_send else recv)[name]
            parts.append(f"{label if label.startswith('#') else '#pkts ' + label} {n}")
        out.append("    " + ", ".join(parts))
    return out


def _flow_lines(
    router: Router,
    db: SADatabase,
    flow: FlowIdentity,
    peer: str,
    bundles: list[SABundle],
    map_name: str,
    mtu: int,
    *,
    detail: bool,
    identity: bool,
) -> list[str]:
    c = _sum_counters(bundles)
    lines = [
        "",
        f"  local ident (addr/mask/prot/port): ({flow.local_text()})",
        f"  remote ident (addr/mask/prot/port): ({flow.remote_text()})",
        f"  current_peer: {peer}",
        "    PERMIT, flags={origin_is_acl,}",
        f"    #pkts encaps: {c.encaps}, #pkts encrypt: {c.encrypt}, #pkts digest {c.digest}",
        f"    #pkts decaps: {c.decaps}, #pkts decrypt: {c.decrypt}, #pkts verify {c.verify}",
        f"    #send errors {c.send_errors}, #recv errors {c.recv_errors}",
    ]
    if detail:
        lines += _detail_lines(db, bundles, flow)
    if identity:
        return lines
    newest = bundles[-1]
    current = newest.outbound[0].spi if newest.outbound else 0
    lines += [
        "",
        f"    local crypto endpt.: {newest.local}, remote crypto endpt.: {peer}",
        f"    path mtu {mtu}, media mtu {mtu}",
        f"    current outbound spi: {current:X}",
    ]
    sections = []
    for inbound in (True, False):
        for proto in (Protocol.ESP, Protocol.AH):
            head = f"    {'inbound' if inbound else 'outbound'} {proto.value} sas:"
            body = [head]
            for b in bundles:
                for sa in b.inbound if inbound else b.outbound:
                    if sa.protocol is proto:
                        body += _sa_lines(router, b, sa, map_name)
            sections.append(body)
    for body in sections:
        lines.append("")
        lines += body
    return lines


def _interface_blocks(router: Router, map_filter: str | None, *, detail: bool, identity: bool) -> list[str]:
    lines: list[str] = []
    cfg = router.config
    for name in sorted(cfg.interfaces):
        intf = cfg.interfaces[name]
        if not intf.crypto_map or (map_filter is not None and intf.crypto_map != map_filter):
            continue
        db = router.database_for(name)
        local = db.local if db is not None and db.local else "0.0.0.0"
        lines += ["", f"interface: {name}", f"  Crypto map tag: {intf.crypto_map}, local addr. {local}"]
        if db is None:
            continue
        flows = db.flows()
        for flow, peer in sorted(flows, key=lambda k: _flow_key(*k)):
            lines += _flow_lines(
                router,
                db,
                flow,
                peer,
                flows[(flow, peer)],
                intf.crypto_map,
                intf.mtu,
                detail=detail,
                identity=identity,
            )
    return lines


def _address_blocks(router: Router) -> list[str]:
    by_dest: dict[tuple[int, str], list[tuple[SABundle, SecurityAssociation]]] = {}
    for b in router.bundles():
        for sa in b.sas:
            dest = sa.local if sa.inbound else sa.peer
            key = tuple(int(x) for x in dest.split("."))
            by_dest.setdefault((key, dest), []).append((b, sa))
    lines: list[str] = []
    for (_, dest), items in sorted(by_dest.items()):
        lines += ["", f"dest address: {dest}"]
        for proto in (Protocol.AH, Protocol.ESP):
            these = [(b, sa) for b, sa in items if sa.protocol is proto]
            if not these:
                continue
            lines.append(f"   protocol: {proto.name}")
            for b, sa in these:
                lines += _sa_lines(router, b, sa, b.map_name)
    return lines


def show_ipsec_sa(
    router: Router,
    *,
    map_name: str | None = None,
    address: bool = False,
    identity: bool = False,
    detail: bool = False,
) -> str:
    """The text of ``show crypto ipsec sa`` with the given options."""
    if address:
        lines = _address_blocks(router)
    else:
        lines = _interface_blocks(router, map_name, detail=detail, identity=identity)
    return "".join(line + "\n" for line in lines)
