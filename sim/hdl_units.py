"""One unit of the engine alone, as Verilog, for `esa hdl synth --unit NAME`.

Placing and routing the whole default engine takes nextpnr close to an hour; a unit alone takes
minutes and shows the unit's own critical path. The unit's ports become the top module's ports
(out of context, nextpnr leaves them unplaced), its constructor keywords come from ``--param``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import wiring

from driver.cosim.verilog import TOP


class _DESTop(wiring.Component):
    """:class:`hdl.des.DESPipeline` with plain ports: its ``o`` is always ready, and a constant
    ``ready`` cannot be a top-level port."""

    def __init__(self, **params: object) -> None:
        from amaranth.lib import stream

        from hdl.des import DESPipeline, des_input_layout, des_output_layout

        self._des = DESPipeline(**params)
        width = self._des.id_width
        super().__init__(
            {
                "i": wiring.In(stream.Signature(des_input_layout(width))),
                "o": wiring.Out(stream.Signature(des_output_layout(width))),
            }
        )

    def elaborate(self, platform):
        from amaranth.hdl import Module

        m = Module()
        m.submodules.des = des = self._des
        wiring.connect(m, wiring.flipped(self.i), des.i)
        m.d.comb += [self.o.valid.eq(des.o.valid), self.o.payload.eq(des.o.payload)]
        return m


UNITS: dict[str, str] = {
    "cbc": "hdl.cbc:CBCUnit",
    "des": "hdl.des:DESPipeline",
    "hmac": "hdl.hmac:HMACUnit",
    "md5": "hdl.md5:MD5Core",
    "sha1": "hdl.sha1:SHA1Core",
}
"""``--unit`` choices: a name -> the unit's class (``module:Class``), built with the given keywords
and its defaults otherwise. ``hmac`` is one HMAC unit (both cores); ``des`` is the DES pipeline
with ``id_width`` 5 unless given, behind plain ports (see :class:`_DESTop`)."""


def _unit_class(name: str) -> type:
    module, cls = UNITS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def build_unit(name: str, params: Mapping[str, object] | None = None) -> wiring.Component:
    """The unit ``name`` built with ``params``; ``ValueError`` for an unknown unit or bad keyword
    (checked against the constructor's signature before anything is built)."""
    if name not in UNITS:
        raise ValueError(f"unknown unit {name!r}; known: {', '.join(UNITS)}")
    params = dict(params or {})
    if name == "des":
        params.setdefault("id_width", 5)
    try:
        inspect.signature(_unit_class(name)).bind(**params)
    except TypeError as e:
        raise ValueError(f"bad {name} parameter: {e}") from None
    if name == "des":
        return _DESTop(**params)
    return _unit_class(name)(**params)


def export_unit(
    name: str, out: Path, params: Mapping[str, object] | None = None, target: str = "generic"
) -> Path:
    """Write the unit's Verilog as module :data:`~driver.cosim.verilog.TOP` into ``out``, for
    ``target`` (a key of :data:`hdl.target.TARGETS`)."""
    from hdl.target import TARGETS

    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    unit = build_unit(name, params)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{TOP}.v"
    path.write_text(verilog.convert(unit, name=TOP, emit_src=False, platform=TARGETS[target]))
    return path
