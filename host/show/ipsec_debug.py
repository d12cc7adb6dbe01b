"""``debug crypto ipsec`` messages, in the layout of the spec's sample display.

Each function returns one message (several lines); the router stamps its first line with the
clock (``00:24:35: ``) when debugging is on. The sample lost its indentation in conversion; the
messages are printed exactly as the spec's text shows them (continuation lines flush left).

- ``IPSEC(sa_request)``: the data plane asks key management for SAs, one message per protocol of
  each of the entry's transform sets, in priority order. ``(type=1)`` marks a host proxy
  (mask 255.255.255.255) and ``(type=4)`` a subnet (the ISAKMP ID types IPV4_ADDR and
  IPV4_ADDR_SUBNET). ``flags= 0x4`` for ESP and ``0x0`` for AH, as in the sample.
- ``IPSEC(initialize_sas)``: key management handed IPsec a negotiated SA (one message per SA,
  inbound first, before their ``create_sa`` messages). The sample prints ``4608000 kb`` once and
  ``4608000kb`` everywhere else; the latter is used.
- ``IPSEC(create_sa): sa created``: an SA went into the SA database (manual or negotiated).
- ``IPSEC(delete_sa): deleting SA``: an SA left it (expired or cleared). The spec has no sample;
  the layout is create_sa's (what later IOS releases print).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from host.ipsec.sa import Protocol, SecurityAssociation

if TYPE_CHECKING:
    from host.config.model import RouterConfig
    from host.keymgmt import SARequest
    from host.policy import FlowIdentity

__all__ = ["create_sa_lines", "delete_sa_lines", "sa_request_lines", "initialize_sas_lines", "spi_text"]


def spi_text(spi: int) -> str:
    """``0x120F043C(302974012)``: hex without leading zeros, then decimal."""
    return f"0x{spi:X}({spi})"


def _sa_block(sa: SecurityAssociation, conn_id: int | None) -> str:
    dest = sa.local if sa.inbound else sa.peer
    return (
        f"(sa) sa_dest= {dest}, sa_prot= {sa.protocol.number},\n"
        f"sa_spi= {spi_text(sa.spi)},\n"
        f"sa_trans= {sa.transform_text} , sa_conn_id= {conn_id if conn_id is not None else 0}"
    )


def create_sa_lines(sa: SecurityAssociation) -> list[str]:
    """The ``create_sa`` message of an SA just installed."""
    return ["IPSEC(create_sa): sa created,\n" + _sa_block(sa, sa.conn_id)]


def delete_sa_lines(sa: SecurityAssociation, conn_id: int | None) -> list[str]:
    """The ``delete_sa`` message of an SA just removed (``conn_id``: the one it had)."""
    return ["IPSEC(delete_sa): deleting SA,\n" + _sa_block(sa, conn_id)]


def _proxy(addr: int, mask: int, proto: int, port: int) -> str:
    import ipaddress

    kind = 1 if mask == 0xFFFFFFFF else 4
    return f"{ipaddress.IPv4Address(addr)}/{ipaddress.IPv4Address(mask)}/{proto}/{port} (type={kind})"


def _proxies(flow: FlowIdentity) -> tuple[str, str]:
    return (
        _proxy(flow.local_addr, flow.local_mask, flow.protocol, flow.local_port),
        _proxy(flow.remote_addr, flow.remote_mask, flow.protocol, flow.remote_port),
    )


def sa_request_lines(config: RouterConfig, req: SARequest) -> list[str]:
    """The ``sa_request`` messages of a request to key management."""
    src_proxy, dest_proxy = _proxies(req.flow)
    peer = req.peers[0] if req.peers else "0.0.0.0"
    seconds, kilobytes = req.lifetime
    out = []
    for name in req.transform_sets:
        ts = config.transform_sets.get(name)
        if ts is None:
            continue
        parts = []
        if ts.esp:
            parts.append((Protocol.ESP, " ".join(ts.esp)))
        if ts.ah:
            parts.append((Protocol.AH, ts.ah))
        for proto, transforms in parts:
            out.append(
                "IPSEC(sa_request): ,\n"
                f"(key eng. msg.) src= {req.local}, dest= {peer},\n"
                f"src_proxy= {src_proxy},\n"
                f"dest_proxy= {dest_proxy},\n"
                f"protocol= {proto.name}, transform= {transforms} ,\n"
                f"lifedur= {seconds}s and {kilobytes}kb,\n"
                f"spi= 0x0(0), conn_id= 0, keysize= 0, flags= {'0x4' if proto is Protocol.ESP else '0x0'}"
            )
    return out


def initialize_sas_lines(sa: SecurityAssociation, flow: FlowIdentity, lifetime: tuple[int, int]) -> list[str]:
    """The ``initialize_sas`` message of a negotiated SA (``flow`` in local orientation)."""
    local_proxy, remote_proxy = _proxies(flow)
    if sa.inbound:
        ends = f"dest= {sa.local}, src= {sa.peer},\ndest_proxy= {local_proxy},\nsrc_proxy= {remote_proxy},"
    else:
        ends = f"src= {sa.local}, dest= {sa.peer},\nsrc_proxy= {local_proxy},\ndest_proxy= {remote_proxy},"
    flags = "0x4" if sa.protocol is Protocol.ESP else "0x0"
    return [
        "IPSEC(initialize_sas): ,\n"
        f"(key eng. msg.) {ends}\n"
        f"protocol= {sa.protocol.name}, transform= {sa.transform_text} ,\n"
        f"lifedur= {lifetime[0]}s and {lifetime[1]}kb,\n"
        f"spi= {spi_text(sa.spi)}, conn_id= {sa.conn_id}, keysize= 0, flags= {flags}"
    ]
