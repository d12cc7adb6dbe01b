"""The engine's Verilog, and the facts about its ports that a testbench needs."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import amaranth
from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import wiring

TOP = "engine"
"""The Verilog module name of the exported engine."""


def parse_params(items: list[str] | None) -> dict[str, object]:
    """``["conns=64", "des_stages=4"]`` -> ``{"conns": 64, "des_stages": 4}`` (Python literals,
    else strings). Raises ``ValueError`` for an item without ``=``."""
    params: dict[str, object] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"parameter {item!r} is not of the form name=value")
        try:
            value: object = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        params[key.strip()] = value
    return params


def build_engine(params: Mapping[str, object] | None = None):
    """An :class:`hdl.engine.Engine` with ``params`` as its constructor keywords."""
    from hdl.engine import Engine, check_parameters

    try:
        check_parameters(dict(params or {}))
        return Engine(**dict(params or {}))
    except TypeError as e:
        raise ValueError(f"bad engine parameter: {e}") from None


def engine_parameters(engine) -> dict[str, object]:
    """The engine's parameters as it reports them (``parameters()`` or a ``parameters`` dict)."""
    p = getattr(engine, "parameters", None)
    if callable(p):
        p = p()
    return dict(p or {})


@dataclass(frozen=True)
class PortInfo:
    """Widths of the engine's top-level ports, from its signature (never hard-coded)."""

    job_width: int
    result_width: int
    context_width: int
    perf_width: int
    """0 when the engine has no ``perf`` port."""


def port_info(engine: wiring.Component) -> PortInfo:
    """Read the port widths off ``engine.signature``."""
    members = engine.signature.members

    def payload(name: str) -> int:
        return Shape.cast(members[name].signature.members["payload"].shape).width

    perf = 0
    if "perf" in members:
        perf = Shape.cast(members["perf"].shape).width
    return PortInfo(payload("jobs"), payload("results"), payload("contexts"), perf)


def engine_verilog(engine: wiring.Component, target: object = None) -> str:
    """Verilog of ``engine`` as module :data:`TOP`, ports named as Amaranth flattens them
    (``jobs__payload``, ``jobs__valid``, ..., ``clk``, ``rst``). ``target``: an
    :mod:`hdl.target` synthesis target (vendor cells where they help), or None for plain Verilog
    that any simulator runs."""
    return verilog.convert(engine, name=TOP, emit_src=False, platform=target)


def _hdl_sources_digest() -> str:
    import hdl

    key = hashlib.sha256(amaranth.__version__.encode())
    for path in sorted(Path(hdl.__file__).parent.glob("*.py")):
        key.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return key.hexdigest()


@dataclass(frozen=True)
class EngineDesign:
    """What a simulator build needs of an engine: its Verilog, its port widths, its parameters."""

    verilog: str
    ports: PortInfo
    parameters: dict[str, object]


def engine_design(params: Mapping[str, object], cache_dir: Path) -> EngineDesign:
    """The :class:`EngineDesign` of the engine built from ``params``, kept in ``cache_dir`` under a
    hash of the parameters, every ``hdl/`` source file and the Amaranth version: converting the
    default engine to Verilog takes seconds, and every simulator process of a lab would pay them
    again. A hit constructs no engine at all. Raises ``ValueError`` for bad parameters."""
    key = hashlib.sha256(_hdl_sources_digest().encode())
    key.update(repr(sorted((str(k), repr(v)) for k, v in params.items())).encode())
    stem = cache_dir / f"engine-{key.hexdigest()[:16]}"
    try:
        facts = json.loads(stem.with_suffix(".json").read_text())
        verilog_text = stem.with_suffix(".v").read_text()
        return EngineDesign(verilog_text, PortInfo(**facts["ports"]), facts["parameters"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    engine = build_engine(params)
    design = EngineDesign(engine_verilog(engine), port_info(engine), engine_parameters(engine))
    facts = {"ports": dataclasses.asdict(design.ports), "parameters": design.parameters}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Verilog first, facts last (each replaced atomically): facts present means both are whole
        for suffix, text in ((".v", design.verilog), (".json", json.dumps(facts, default=str))):
            tmp = stem.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.replace(stem.with_suffix(suffix))
    except OSError:
        pass  # an unwritable cache only costs the next open the conversion again
    return design
