"""`esa bench` runs end to end and reports every figure it promises (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from sim.bench import TRANSFORM_SETS, run_bench


def test_run_bench_reports_every_path():
    rows = run_bench("software", sizes=(64, 200), repeat=1, packets=40)
    paths = {"outbound", "raw-out", "raw-out-chained", "inbound", "raw-in", "raw-in-chained"}
    seen = {(r["transform_set"], r["size"], r["path"]) for r in rows}
    assert seen == {(t, s, p) for t in TRANSFORM_SETS for s in (64, 200) for p in paths}
    for r in rows:
        assert r["pps"] > 0 and r["mbps"] > 0 and r["packets"] == 40
        assert (r["overhead"] is None) == (r["path"] not in ("outbound", "inbound"))


def test_cli_json_and_errors():
    cmd = [
        sys.executable,
        "-m",
        "sim.cli",
        "bench",
        "--sizes",
        "64",
        "--repeat",
        "1",
        "--packets",
        "20",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 2 * 6 and all(r["engine"] == "software" for r in rows)
    assert "repeat 1/1" in done.stderr  # progress goes to stderr
    bad = subprocess.run(
        [sys.executable, "-m", "sim.cli", "bench", "--engine", "nope"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "known engines:" in bad.stderr and "software" in bad.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "sim.cli", "bench", "--sizes", "10"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "28..65000" in bad.stderr
