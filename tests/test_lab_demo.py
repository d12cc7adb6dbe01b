"""``esa demo``'s lab part: the spec's elaborate configuration run in the lab, show outputs printed."""

from __future__ import annotations

from sim.cli import main as esa


def test_demo_runs_the_elaborate_lab(capsys) -> None:
    assert esa(["demo"]) == 0
    out = capsys.readouterr().out
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
