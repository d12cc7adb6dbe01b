"""Interface configuration commands (``Router(config-if)#``).

``ip address A M``, ``ip access-group ACL {in|out}``, ``crypto map NAME`` (one crypto map set per
interface: a new one replaces the old), ``mtu``, ``shutdown``.
"""

from __future__ import annotations

from typing import Any

from host.cli.cursor import IPV4, WORD, Arg, Cursor, number
from host.cli.tree import Node
from host.config.acl_syntax import acl_name_arg
from host.config.cmd_global import check_mask
from host.config.errors import ConfigError
from host.config.model import Interface

__all__ = ["register"]

ACL_REF = Arg("WORD", "IP access list (100-199 or a name)", acl_name_arg)


def _intf(s: Any) -> Interface:
    intf = s.config.interfaces.get(s.key)
    if intf is None:
        raise ConfigError(f"interface {s.key} no longer exists")
    return intf


def _ip_address(cur: Cursor, s: Any) -> None:
    if cur.negated:
        addr = cur.maybe_arg(IPV4.described("IP address"))
        if addr is not None:
            cur.arg(IPV4.described("IP subnet mask"))
        cur.end()
        intf = _intf(s)
        intf.address = intf.mask = None
    else:
        addr = cur.arg(IPV4.described("IP address"))
        at = cur.pos
        mask = cur.arg(IPV4.described("IP subnet mask"))
        check_mask(cur, mask, at)
        cur.end()
        if int(mask) != 0xFFFFFFFF and int(addr) & ~int(mask) & 0xFFFFFFFF in (0, ~int(mask) & 0xFFFFFFFF):
            raise ConfigError(f"{addr} {mask} is the subnet's network or broadcast address")
        intf = _intf(s)
        intf.address, intf.mask = addr, mask
    s.config.changed("interface", s.key)


def _access_group(cur: Cursor, s: Any) -> None:
    name = cur.maybe_arg(ACL_REF) if cur.negated else cur.arg(ACL_REF)
    direction = cur.keyword({"in": "inbound packets", "out": "outbound packets"})
    cur.end()
    intf = _intf(s)
    attr = "access_group_in" if direction == "in" else "access_group_out"
    if cur.negated:
        setattr(intf, attr, None)
    else:
        setattr(intf, attr, name)
    s.config.changed("interface", s.key)


def _crypto_map(cur: Cursor, s: Any) -> None:
    if cur.negated:
        cur.maybe_arg(WORD.described("Crypto map tag (ignored)"))
        cur.end()
        _intf(s).crypto_map = None
    else:
        name = cur.arg(WORD.described("Crypto map tag"))
        cur.end()
        _intf(s).crypto_map = name
    s.config.changed("interface", s.key)


def _mtu(cur: Cursor, s: Any) -> None:
    value = 1500
    if cur.negated:
        cur.maybe_arg(number(64, 18000, "MTU size in bytes"))
    else:
        value = cur.arg(number(64, 18000, "MTU size in bytes"))
    cur.end()
    _intf(s).mtu = value
    s.config.changed("interface", s.key)


def _shutdown(cur: Cursor, s: Any) -> None:
    cur.end()
    _intf(s).shutdown = not cur.negated
    s.config.changed("interface", s.key)


def register(root: Node) -> None:
    """Add the interface-mode commands to ``root``."""
    root.describe("ip", "Interface Internet Protocol config commands")
    root.register("ip address", _ip_address, "Set the IP address of an interface", negatable=True)
    root.register("ip access-group", _access_group, "Specify access control for packets", negatable=True)
    root.describe("crypto", "Encryption/Decryption commands")
    root.register("crypto map", _crypto_map, "Assign a Crypto Map", negatable=True)
    root.register("mtu", _mtu, "Set the interface Maximum Transmission Unit (MTU)", negatable=True)
    root.register("shutdown", _shutdown, "Shutdown the selected interface", negatable=True)
