"""The deepest register-to-register paths of a synthesized ECP5 netlist, found in seconds.

nextpnr needs close to an hour to place and route the whole default engine, and its placement
estimate names no path. This walks the ``synth_ecp5`` JSON netlist instead: every flip-flop,
block-RAM output and LUT-RAM output starts a path, every cell in between adds a rough delay in
*levels* (one level is one LUT4 with its routing: about 1.1 ns on an ECP5 -8), and every
flip-flop, block-RAM or LUT-RAM input ends one. The figures rank paths; they are not timing.
Calibration on this project's units alone (`esa hdl synth --unit NAME`, nextpnr seed 1): the CBC
unit is 7.3 levels and routes at 102.8-110.1 MHz (three seeds), the MD5 core with its cell-built
step 6.4 levels at 117.2-119.6 MHz (three seeds), the plain MD5 core 9.4 levels at 81.1 MHz, the
HMAC unit 6.5 levels at 111.7 MHz. Long carry chains cost nextpnr more than they cost here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

LUT = 1.0
"""A LUT4 input to its output, with the route into it."""
WIDE_MUX = 0.25
"""PFUMX / L6MUX21: a LUT output through the slice's wide-function mux."""
MUX_SELECT = 0.6
"""PFUMX / L6MUX21 select input (a routed net)."""
CARRY_HOP = 0.06
"""CCU2C carry-in to carry-out: the dedicated carry chain, two bits per cell."""
CARRY_SUM = 0.4
"""CCU2C carry-in to a sum output."""
BRAM_CLOCK_TO_OUT = 3.0
"""DP16KD clock to data out without its output register: about 3.5 ns on an ECP5 -8."""
FF_CLOCK_TO_OUT = 0.5

_CLOCKS = {"CLK", "CLKA", "CLKB", "WCK"}


@dataclass
class LogicPath:
    """One register-to-register path: ``levels`` of delay (see the module docstring) from the
    register ``start`` to the input ``end`` (cell type and port in ``end_pin``) through ``nets``."""

    levels: float
    start: str
    end: str
    end_pin: str
    nets: list[str]
    drivers: list[str]
    """The cell type driving each of ``nets`` (``"input"`` for a top-level input)."""

    @property
    def luts(self) -> int:
        """LUT4s and carry cells on the path (the wide muxes of LUT5..7 not counted)."""
        return sum(kind in ("LUT4", "CCU2C") for kind in self.drivers)


def _arcs(cell: dict, out_port: str) -> list[tuple[str, float]] | float:
    """The cell's input ports that reach ``out_port``, each with its delay; a float (clock to
    out) where the output starts a path."""
    kind = cell["type"]
    if kind == "TRELLIS_FF":
        return FF_CLOCK_TO_OUT
    if kind in ("DP16KD", "PDPW16KD"):
        return BRAM_CLOCK_TO_OUT
    if kind == "LUT4":
        return [(p, LUT) for p in "ABCD"]
    if kind in ("PFUMX", "L6MUX21"):
        return [("ALUT", WIDE_MUX), ("BLUT", WIDE_MUX), ("D0", WIDE_MUX), ("D1", WIDE_MUX)] + [
            ("C0", MUX_SELECT),
            ("SD", MUX_SELECT),
        ]
    if kind == "CCU2C":
        lows = [(p + "0", LUT) for p in "ABCD"]
        if out_port == "S0":
            return [*lows, ("CIN", CARRY_SUM)]
        highs = [(p + "1", LUT) for p in "ABCD"]
        if out_port == "S1":
            return [*lows, *highs, ("CIN", CARRY_SUM)]
        return [*lows, *highs, ("CIN", CARRY_HOP)]
    if kind == "TRELLIS_DPR16X4":
        return [("RAD", LUT)]  # asynchronous read
    return []


_ENDS = {"TRELLIS_FF", "DP16KD", "PDPW16KD", "TRELLIS_DPR16X4"}


class Netlist:
    """The top module of a ``synth_ecp5`` JSON netlist, ready for path queries."""

    def __init__(self, path: Path) -> None:
        modules = json.loads(Path(path).read_text())["modules"]
        # the module yosys marks as the top (the cell library's blackboxes come along)
        tops = [m for m in modules.values() if int(m.get("attributes", {}).get("top", "0"), 2)]
        self.top = tops[0] if tops else max(modules.values(), key=lambda m: len(m.get("cells", {})))
        self.cells: dict[str, dict] = self.top["cells"]
        self._names = self._net_names()
        self._driver: dict[int, tuple[str, str]] = {}
        for name, cell in self.cells.items():
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                if dirs.get(port) == "output":
                    for bit in bits:
                        if isinstance(bit, int):
                            self._driver[bit] = (name, port)
        self._arrival: dict[int, float] = {}
        self._via: dict[int, int | None] = {}

    def _net_names(self) -> dict[int, str]:
        best: dict[int, tuple[tuple, str]] = {}
        for name, net in self.top["netnames"].items():
            bits = net["bits"]
            for i, bit in enumerate(bits):
                if not isinstance(bit, int):
                    continue
                label = f"{name}[{i}]" if len(bits) > 1 else name
                # prefer names the designer wrote: shown, without yosys's $ names, short
                rank = (net.get("hide_name", 0), name.count("$"), len(label))
                if bit not in best or rank < best[bit][0]:
                    best[bit] = (rank, label)
        return {bit: label for bit, (_, label) in best.items()}

    def name(self, bit: int) -> str:
        return self._names.get(bit, f"net{bit}")

    def arrival(self, bit: int | str) -> float:
        """The latest arrival at net ``bit`` in levels (0 for constants and top-level inputs)."""
        if not isinstance(bit, int) or bit not in self._driver:
            return 0.0
        stack = [bit]
        while stack:
            net = stack[-1]
            if net in self._arrival:
                stack.pop()
                continue
            cell_name, port = self._driver[net]
            cell = self.cells[cell_name]
            arcs = _arcs(cell, port)
            if isinstance(arcs, float):
                self._arrival[net], self._via[net] = arcs, None
                stack.pop()
                continue
            inputs = [
                (b, delay)
                for p, delay in arcs
                for b in cell["connections"].get(p, [])
                if isinstance(b, int) and b in self._driver
            ]
            pending = [b for b, _ in inputs if b not in self._arrival]
            if pending:
                stack.extend(pending)
                continue
            best, via = 0.0, None
            for b, delay in inputs:
                if self._arrival[b] + delay > best:
                    best, via = self._arrival[b] + delay, b
            self._arrival[net], self._via[net] = best, via
            stack.pop()
        return self._arrival[bit]

    def path_to(self, bit: int) -> list[int]:
        """The nets of the latest path into ``bit``, from its start."""
        nets: list[int] = []
        net: int | None = bit
        while net is not None:
            nets.append(net)
            net = self._via.get(net)
        return nets[::-1]

    def deepest(self, count: int = 10) -> list[LogicPath]:
        """The ``count`` deepest paths, one per group of like paths (names that differ only in
        their numbers, such as lane 3 and lane 7 of one register, form one group)."""
        ends = []
        for name, cell in self.cells.items():
            if cell["type"] not in _ENDS:
                continue
            dirs = cell.get("port_directions", {})
            for port, bits in cell["connections"].items():
                if dirs.get(port) != "input" or port in _CLOCKS or port == "RAD":
                    continue
                for bit in bits:
                    if isinstance(bit, int):
                        ends.append((self.arrival(bit), bit, name, port))
        ends.sort(key=lambda e: -e[0])
        paths: list[LogicPath] = []
        groups: set[tuple[str, str]] = set()
        for levels, bit, cell_name, port in ends:
            nets = self.path_to(bit)
            start, end = self.name(nets[0]), self._end_name(cell_name, bit)
            group = (_group(start), _group(end))
            if group in groups:
                continue
            groups.add(group)
            paths.append(
                LogicPath(
                    levels=round(levels, 2),
                    start=start,
                    end=end,
                    end_pin=f"{self.cells[cell_name]['type']}.{port}",
                    nets=[self.name(n) for n in nets],
                    drivers=[self._driver_type(n) for n in nets],
                )
            )
            if len(paths) == count:
                break
        return paths

    def _driver_type(self, bit: int) -> str:
        return self.cells[self._driver[bit][0]]["type"] if bit in self._driver else "input"

    def _end_name(self, cell_name: str, bit: int) -> str:
        """A flip-flop is best named by its output (the register); other ends by their input."""
        cell = self.cells[cell_name]
        if cell["type"] == "TRELLIS_FF":
            q = cell["connections"].get("Q", [])
            if q and isinstance(q[0], int):
                return self.name(q[0])
        return self.name(bit)


def _group(name: str) -> str:
    return re.sub(r"\d+", "#", name.split("[")[0].split("_TRELLIS_")[0])


def deepest_paths(synth_json: Path, count: int = 10) -> list[LogicPath]:
    """The ``count`` deepest register-to-register path groups of ``synth_json``."""
    return Netlist(synth_json).deepest(count)
