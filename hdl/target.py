"""What the engine is elaborated for, handed to ``elaborate`` as Amaranth's ``platform``.

The engine is plain Amaranth everywhere but in a few places where an FPGA family's own cells
beat what synthesis infers (the MD5 step's adders on ECP5: see :mod:`hdl.md5`). Those places
ask :func:`family` and build the vendor cells only for that family's synthesis; simulation
(Amaranth's simulator, Verilator, Icarus) elaborates with no platform and gets the plain,
equivalent logic.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Target", "ECP5", "TARGETS", "family"]


@dataclass(frozen=True)
class Target:
    """A synthesis target: ``family`` names the FPGA family whose primitives may be used."""

    family: str


ECP5 = Target("ecp5")
"""Lattice ECP5, synthesised with yosys ``synth_ecp5`` (``esa hdl synth``)."""

TARGETS: dict[str, Target | None] = {"generic": None, "ecp5": ECP5}
"""``esa hdl export --target`` choices: ``generic`` is plain Verilog for any simulator or flow."""


def family(platform: object) -> str | None:
    """The FPGA family ``platform`` targets, or None (simulation, generic export)."""
    return getattr(platform, "family", None)
