"""Global configuration commands (``Router(config)#``) other than ACLs, transform sets and maps.

``hostname``, ``interface``, ``ip route``, ``ip host`` (names for ``set peer``; the spec says a peer
given by name must be mapped with it), ``crypto ipsec security-association lifetime``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from host.cli.cursor import IPV4, WORD, Cursor, number
from host.cli.tree import Node
from host.config.errors import ConfigError
from host.config.model import (
    DEFAULT_LIFETIME_KILOBYTES,
    DEFAULT_LIFETIME_SECONDS,
    KILOBYTES_RANGE,
    SECONDS_RANGE,
    Lifetime,
    StaticRoute,
)
from host.config.names import INTERFACE, INTERFACE_TYPES, canonical_interface

__all__ = ["register", "take_interface", "check_mask"]

_HOSTNAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")


def take_interface(cur: Cursor, help: str = "Interface") -> str:
    """An interface name as one word (``Serial0``, ``s0``) or two (``Serial 0``)."""
    tok = cur.peek()
    if tok is not None and not any(ch.isdigit() for ch in tok.text) and not cur.at_help:
        kind = cur.keyword({t: f"{t} interface" for t in INTERFACE_TYPES})
        unit = cur.arg(WORD.described(f"{kind} interface number"))
        try:
            return canonical_interface(kind + unit)
        except ValueError as exc:
            raise cur.invalid(str(exc), at=cur.pos - 1) from None
    return cur.arg(INTERFACE.described(help))


def check_mask(cur: Cursor, mask: ipaddress.IPv4Address, at: int) -> None:
    """Refuse a non-contiguous subnet mask."""
    value = int(mask)
    inverted = ~value & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise cur.invalid(f"bad mask {mask}: a subnet mask is contiguous ones", at=at)


def _hostname(cur: Cursor, s: Any) -> None:
    if cur.negated:
        cur.end()
        name = "Router"
    else:
        at = cur.pos
        name = cur.arg(WORD.described("This system's network name"))
        cur.end()
        if not _HOSTNAME.match(name):
            raise cur.invalid("a hostname starts with a letter and has letters, digits and hyphens", at=at)
    s.config.hostname = name
    s.config.changed("hostname")


def _interface(cur: Cursor, s: Any) -> None:
    name = take_interface(cur, "Interface to configure")
    cur.end()
    if cur.negated:
        if name not in s.config.interfaces:
            raise ConfigError(f"interface {name} does not exist")
        del s.config.interfaces[name]
        s.config.changed("interface", name)
        return
    if name not in s.config.interfaces:
        s.config.interface(name)
        s.config.changed("interface", name)
    s.enter("config-if", name)


def _ip_route(cur: Cursor, s: Any) -> None:
    prefix = cur.arg(IPV4.described("Destination prefix"))
    at = cur.pos
    mask = cur.arg(IPV4.described("Destination prefix mask"))
    check_mask(cur, mask, at)
    next_hop = cur.maybe_arg(IPV4.described("Forwarding router's address"))
    interface = None
    if next_hop is None and not (cur.negated and cur.peek() is None and not cur.at_help):
        interface = take_interface(cur, "Forwarding interface")
    distance = 1
    if not cur.negated:
        distance = cur.maybe_arg(number(1, 255, "Distance metric for this route")) or 1
    cur.end()
    if int(prefix) & ~int(mask) & 0xFFFFFFFF:
        raise ConfigError("Inconsistent address and mask")
    routes = s.config.routes
    same = [
        r
        for r in routes
        if r.prefix == prefix
        and r.mask == mask
        and (next_hop is None and interface is None or (r.next_hop, r.interface) == (next_hop, interface))
    ]
    if cur.negated:
        if not same:
            raise ConfigError(f"no such route: {prefix} {mask}")
        s.config.routes = [r for r in routes if r not in same]
    else:
        s.config.routes = [r for r in routes if r not in same]
        s.config.routes.append(StaticRoute(prefix, mask, next_hop, interface, distance))
    s.config.changed("route", (str(prefix), str(mask)))


def _ip_host(cur: Cursor, s: Any) -> None:
    at = cur.pos
    name = cur.arg(WORD.described("Name of host")).lower()
    address = None if cur.negated else cur.arg(IPV4.described("Host IP address"))
    if cur.negated:
        cur.maybe_arg(IPV4.described("Host IP address"))
    cur.end()
    if not _HOSTNAME.match(name.split(".")[0]) or not all(_HOSTNAME.match(p) for p in name.split(".")):
        raise cur.invalid("a host name is letters, digits, hyphens and dots, starting with a letter", at=at)
    if cur.negated:
        if s.config.hosts.pop(name, None) is None:
            raise ConfigError(f"host {name} is not defined")
    else:
        s.config.hosts[name] = address
    s.config.changed("host", name)


def _sa_lifetime(cur: Cursor, s: Any) -> None:
    which = cur.keyword(
        {
            "seconds": "Time-based key duration in seconds",
            "kilobytes": "Volume-based key duration",
        }
    )
    if cur.negated:
        cur.end()
        value = DEFAULT_LIFETIME_SECONDS if which == "seconds" else DEFAULT_LIFETIME_KILOBYTES
    else:
        low, high = SECONDS_RANGE if which == "seconds" else KILOBYTES_RANGE
        value = cur.arg(number(low, high, "Security association duration"))
        cur.end()
    old = s.config.sa_lifetime
    s.config.sa_lifetime = (
        Lifetime(value, old.kilobytes) if which == "seconds" else Lifetime(old.seconds, value)
    )
    s.config.changed("lifetime")


def register(root: Node) -> None:
    """Add the commands of this module to the global configuration tree."""
    root.register("hostname", _hostname, "Set system's network name", negatable=True)
    root.register("interface", _interface, "Select an interface to configure", negatable=True)
    root.describe("ip", "Global IP configuration subcommands")
    root.register("ip route", _ip_route, "Establish static routes", negatable=True)
    root.register("ip host", _ip_host, "Add an entry to the ip hostname table", negatable=True)
    root.describe("crypto", "Encryption module")
    root.describe("crypto ipsec", "Configure IPSEC policy")
    root.describe("crypto ipsec security-association", "Security association parameters")
    root.register(
        "crypto ipsec security-association lifetime",
        _sa_lifetime,
        "security association lifetime",
        negatable=True,
    )
