"""The router on the simulated engine: the spec's simple lab on the ``amaranth`` backend delivers
the same inner traffic as on the software engine (OpenSSL), with byte-identical captures (IVs
come from the seed, ciphertext and ICVs from the engine), and tshark - a reference we did not
write - decrypts and authenticates every ESP packet of the amaranth run's captures. The routers'
``show crypto ipsec sa`` names the accelerator's slot.

(Every example lab on every engine is tests/test_lab_engines.py, opt-in with ``-m slow``.)"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.test_lab_engines import _packets, _pcaps, _run
from tests.test_lab_examples import TSHARK, _esp_options

LAB = "simple"
FIELDS = ["esp.icv_good", "esp.icv_bad", "ip.src", "ip.dst"]
"""What tshark prints per ESP packet (the last occurrence: the decrypted inner header)."""


def test_simple_lab_on_amaranth_is_the_software_run_and_tshark_reads_it(tmp_path) -> None:
    """One test, not three sharing a fixture: under pytest-xdist each worker would run the lab."""
    ref = _run(LAB, "software", tmp_path / "software")
    got = _run(LAB, "amaranth", tmp_path / "amaranth")
    # the same inner traffic delivered, nothing dropped, byte-identical captures
    assert _packets(got) == _packets(ref)
    assert [e for e in got if e["event"] == "delivered"] and not [e for e in got if e["event"] == "dropped"]
    assert _pcaps(tmp_path / "amaranth") == _pcaps(tmp_path / "software")
    # show crypto ipsec sa names the accelerator's slot; nothing fell back to software
    shows = [e["output"] for e in got if e["event"] == "exec" and "ipsec sa" in e["command"]]
    assert shows and all("slot: 5, conn id:" in s for s in shows)
    assert not any("slot: 0," in s for s in shows)
    if TSHARK is None:
        pytest.skip("tshark is not installed: the captures were not decrypted")
    _tshark_decrypts(tmp_path / "amaranth", {(e["src"], e["dst"]) for e in got if e["event"] == "sent"})


def _tshark_decrypts(d: Path, sent: set[tuple[str, str]]) -> None:
    """Every ESP packet in ``d``'s captures authenticates (ICV good) and decrypts to a packet
    the lab sent (its innermost addresses)."""
    esp = 0
    for pcap in sorted(d.glob("*.pcap")):
        cmd = [TSHARK, "-r", str(pcap), *_esp_options(d / "esp_sa"), "-Y", "esp", "-T", "fields"]
        cmd += ["-E", "occurrence=l"] + [a for f in FIELDS for a in ("-e", f)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
        for row in out.splitlines():
            good, bad, src, dst = row.split("\t")
            assert (good, bad) == ("1", "0"), (pcap.name, row)
            assert (src, dst) in sent, (pcap.name, row)
            esp += 1
    assert esp > 0
