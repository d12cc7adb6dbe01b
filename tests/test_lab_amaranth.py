"""The router on the simulated engine: the spec's simple lab on the ``amaranth`` backend delivers
the same inner traffic as on the software engine (OpenSSL), with byte-identical captures (IVs
come from the seed, ciphertext and ICVs from the engine), and tshark - a reference we did not
write - decrypts and authenticates every ESP packet of the amaranth run's captures. The routers'
``show crypto ipsec sa`` names the accelerator's slot.

(Every example lab on every engine is tests/test_lab_engines.py, opt-in with ``-m slow``.)"""

from __future__ import annotations

import subprocess

import pytest

from tests.test_lab_engines import _packets, _pcaps, _run
from tests.test_lab_examples import TSHARK, _esp_options

LAB = "simple"
FIELDS = ["esp.icv_good", "esp.icv_bad", "ip.src", "ip.dst"]
"""What tshark prints per ESP packet (the last occurrence: the decrypted inner header)."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("lab-amaranth")
    return out, _run(LAB, "software", out / "software"), _run(LAB, "amaranth", out / "amaranth")


def test_same_inner_traffic_and_captures_as_software(runs) -> None:
    out, ref, got = runs
    assert _packets(got) == _packets(ref)
    delivered = [e for e in got if e["event"] == "delivered"]
    assert delivered and not [e for e in got if e["event"] == "dropped"]
    assert _pcaps(out / "amaranth") == _pcaps(out / "software")


def test_show_crypto_ipsec_sa_names_the_accelerator_slot(runs) -> None:
    _, _, got = runs
    shows = [e["output"] for e in got if e["event"] == "exec" and "ipsec sa" in e["command"]]
    assert shows and all("slot: 5, conn id:" in s for s in shows)
    assert not any("slot: 0," in s for s in shows)  # nothing fell back to software


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_tshark_decrypts_the_amaranth_captures(runs) -> None:
    out, _, got = runs
    d = out / "amaranth"
    sent = {(e["src"], e["dst"]) for e in got if e["event"] == "sent"}
    esp = 0
    for pcap in sorted(d.glob("*.pcap")):
        cmd = [TSHARK, "-r", str(pcap), *_esp_options(d / "esp_sa"), "-Y", "esp", "-T", "fields"]
        cmd += ["-E", "occurrence=l"] + [a for f in FIELDS for a in ("-e", f)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
        for row in out.splitlines():
            good, bad, src, dst = row.split("\t")
            assert (good, bad) == ("1", "0"), (pcap.name, row)
            assert (src, dst) in sent, (pcap.name, row)  # the decrypted inner header is a lab packet's
            esp += 1
    assert esp > 0
