"""Interface names as IOS writes them: ``s0`` and ``Serial 0`` both name ``Serial0``."""

from __future__ import annotations

import re

from host.cli.cursor import Arg, match_keyword

__all__ = ["INTERFACE_TYPES", "canonical_interface", "INTERFACE"]

INTERFACE_TYPES = (
    "Dialer",
    "Ethernet",
    "FastEthernet",
    "GigabitEthernet",
    "Loopback",
    "Null",
    "Serial",
    "Tunnel",
)
"""The interface types the emulated router knows."""

_NAME = re.compile(r"^([A-Za-z-]+)\s*([0-9]+(?:/[0-9]+)*(?:\.[0-9]+)?)$")


def canonical_interface(text: str) -> str:
    """``Serial0`` from ``s0``, ``serial 0`` or ``Serial0``; ``ValueError`` if it names no type."""
    m = _NAME.match(text.strip())
    if not m:
        raise ValueError(f"not an interface name: {text!r}")
    found = match_keyword(m.group(1), INTERFACE_TYPES)
    if len(found) != 1:
        raise ValueError(f"not an interface type: {m.group(1)!r}")
    return found[0] + m.group(2)


INTERFACE = Arg(
    "Interface", "interface type and number, e.g. Serial0, Ethernet0, Loopback0", canonical_interface
)
"""An interface-name argument (one word, like ``Serial0`` or ``s0``)."""
