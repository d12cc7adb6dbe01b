"""Pieces several crypto show commands print: the access-list block of a crypto map entry."""

from __future__ import annotations

import ipaddress

from host.acl import AclEntry, PortMatch, protocol_name
from host.config.model import RouterConfig

__all__ = ["acl_block", "lifetime_text"]


def _dotted(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


def _port(port: PortMatch) -> str:
    if port.op == "range":
        return f"range {port.low} {port.high}"
    return f"{port.op} {port.low}"


def _entry_lines(acl_name: str, entry: AclEntry, indent: tuple[int, int]) -> list[str]:
    """``access-list N permit PROT`` then ``source:``/``dest:`` address/wildcard lines.

    From the spec's samples (``show crypto map``, ``show crypto dynamic-map``). Ports have no
    sample; they are printed as ``port: eq 23`` under the side they belong to (a choice)."""
    head, body = indent
    pad = " " * body
    lines = [f"{' ' * head}access-list {acl_name} {entry.action} {protocol_name(entry.protocol)}"]
    lines.append(f"{pad}source: addr = {_dotted(entry.src.addr)}/{_dotted(entry.src.wildcard)}")
    if entry.src_port is not None:
        lines.append(f"{pad}        port: {_port(entry.src_port)}")
    lines.append(f"{pad}dest:   addr = {_dotted(entry.dst.addr)}/{_dotted(entry.dst.wildcard)}")
    if entry.dst_port is not None:
        lines.append(f"{pad}        port: {_port(entry.dst_port)}")
    return lines


def acl_block(config: RouterConfig, acl_name: str | None, indent: tuple[int, int, int]) -> list[str]:
    """``Extended IP access list N`` and its entries, at the three indents given
    (header, ``access-list`` line, ``source``/``dest`` lines). Nothing if no ACL is matched."""
    if acl_name is None:
        return []
    lines = [f"{' ' * indent[0]}Extended IP access list {acl_name}"]
    acl = config.acls.get(acl_name)
    for entry in acl.entries if acl else []:
        lines += _entry_lines(acl_name, entry, indent[1:])
    return lines


def lifetime_text(seconds: int, kilobytes: int) -> str:
    """``4608000 kilobytes/120 seconds`` as in the spec's samples."""
    return f"{kilobytes} kilobytes/{seconds} seconds"
