"""`esa hdl export`: the engine's Verilog and a JSON description of its parameters and layouts.

The JSON is derived from :mod:`hdl.layouts` by walking its ``StructLayout`` objects and enums, so
every offset and width in it comes from the one definition.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from amaranth.hdl import Shape
from amaranth.lib import data, enum

import hdl.layouts as layouts
from driver.cosim.verilog import TOP, build_engine, engine_parameters, engine_verilog, port_info
from hdl.target import TARGETS

LAYOUT_NAMES = ("JobHeader", "ResultHeader", "SAContext", "ContextWrite", "StreamWord", "PerfCounters")
ENUM_NAMES = ("Op", "Cipher", "Auth", "Status")
CONSTANT_NAMES = ("WORD_BYTES", "ICV_WORDS", "ICV_BYTES", "DES_BLOCK", "HASH_STATE_BYTES")


def describe_enum(cls: type[enum.Enum]) -> dict[str, object]:
    """An enum as ``{"width": w, "values": {name: value}}``."""
    return {"width": Shape.cast(cls).width, "values": {m.name: m.value for m in cls}}


def describe_shape(shape: object) -> dict[str, object]:
    """One field's shape: a nested struct, an enum, or a plain width."""
    if isinstance(shape, data.Layout):
        return describe_layout(shape)
    if isinstance(shape, type) and issubclass(shape, enum.Enum):
        return {"enum": shape.__name__, **describe_enum(shape)}
    return {"width": Shape.cast(shape).width}


def describe_layout(layout: data.Layout) -> dict[str, object]:
    """A struct layout as ``{"width": w, "fields": {name: {"offset", "width", ...}}}``."""
    fields: dict[str, object] = {}
    for name, field in layout:
        fields[name] = {"offset": field.offset, **describe_shape(field.shape)}
    return {"width": layout.size, "fields": fields}


def describe_layouts() -> dict[str, object]:
    """Every wire layout, enum and framing constant of :mod:`hdl.layouts`."""
    return {
        "layouts": {n: describe_layout(getattr(layouts, n)) for n in LAYOUT_NAMES if hasattr(layouts, n)},
        "enums": {n: describe_enum(getattr(layouts, n)) for n in ENUM_NAMES},
        "constants": {n: getattr(layouts, n) for n in CONSTANT_NAMES},
    }


def export(
    out: Path, params: Mapping[str, object] | None = None, target: str = "generic"
) -> tuple[Path, Path]:
    """Write ``engine.v`` and ``engine.json`` into ``out``; return their paths. ``target``: a
    key of :data:`hdl.target.TARGETS` (``generic``: plain Verilog; ``ecp5``: with the ECP5 cells
    :mod:`hdl.md5` uses, for ECP5 synthesis only)."""
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; known: {', '.join(TARGETS)}")
    engine = build_engine(params)
    verilog = engine_verilog(engine, TARGETS[target])
    ports = port_info(engine)
    out.mkdir(parents=True, exist_ok=True)
    v_path, j_path = out / f"{TOP}.v", out / f"{TOP}.json"
    v_path.write_text(verilog)
    description = {
        "top": TOP,
        "verilog": v_path.name,
        "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
        "requested_parameters": dict(params or {}),
        "target": target,
        "parameters": engine_parameters(engine),
        "ports": {
            "clock": "clk",
            "reset": "rst",
            "jobs": {
                "payload": "jobs__payload",
                "valid": "jobs__valid",
                "ready": "jobs__ready",
                "width": ports.job_width,
                "layout": "StreamWord",
            },
            "results": {
                "payload": "results__payload",
                "valid": "results__valid",
                "ready": "results__ready",
                "width": ports.result_width,
                "layout": "StreamWord",
            },
            "contexts": {
                "payload": "contexts__payload",
                "valid": "contexts__valid",
                "ready": "contexts__ready",
                "width": ports.context_width,
                "layout": "ContextWrite",
            },
            "perf": {"name": "perf", "width": ports.perf_width, "layout": "PerfCounters"},
        },
        **describe_layouts(),
    }
    j_path.write_text(json.dumps(description, indent=2, default=str) + "\n")
    return v_path, j_path
