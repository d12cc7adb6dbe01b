"""Every example lab, run once on the software engine with captures and JSON events, checked by
references we did not write: tshark decrypts and authenticates every ESP packet with the lab's
esp_sa file, Scapy reads every pcap back, and each lab delivers the traffic its description
promises (checked from the events, per flow, not from the lab's own summary)."""

from __future__ import annotations

import collections
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP
from scapy.utils import PcapReader

from sim.cli import main as esa
from sim.lab.events import JsonLines
from sim.lab.format import load_lab
from sim.lab.lab import Lab

LABS = Path(__file__).resolve().parents[1] / "examples" / "labs"
EXAMPLES = sorted(p.stem for p in LABS.glob("*.yaml"))
TSHARK = shutil.which("tshark")

REQUIRED = {"simple", "elaborate", "ah-transport", "ah-esp", "legacy-rfc1828-1829", "nesting", "redundant"}

# What each lab must deliver: flow -> (packets delivered, replies delivered), and the flows it
# must drop. Written from the lab descriptions (the spec's behaviour), not from a run.
PROMISES: dict[str, tuple[dict[str, tuple[int, int]], set[str]]] = {
    "simple": ({"ping": (3, 3), "udp": (4, 4), "big": (2, 2), "clear": (1, 1)}, set()),
    "elaborate": ({"telnet-out": (4, 4), "telnet-in": (2, 2), "web": (3, 3)}, {"plain-ping"}),
    "ah-transport": ({"router-ping": (3, 3), "router-udp": (2, 0), "lan-ping": (2, 2)}, set()),
    "ah-esp": ({"ping": (3, 3), "tcp": (3, 3)}, set()),
    "legacy-rfc1828-1829": ({"ping": (3, 3), "udp": (2, 2)}, set()),
    "nesting": ({"ping": (3, 3), "udp": (2, 2)}, set()),
    "redundant": ({"ping": (6, 6)}, set()),
}


class Run:
    def __init__(self, name: str, out: Path, seed: int | None = None) -> None:
        buf = io.StringIO()
        spec = load_lab(LABS / f"{name}.yaml")
        self.result = Lab(spec, capture=out, seed=seed, sinks=[JsonLines(buf)]).run()
        self.lines = buf.getvalue().splitlines()
        self.events = [json.loads(line) for line in self.lines]
        self.dir = out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Run]:
    return {name: Run(name, tmp_path_factory.mktemp(name)) for name in EXAMPLES}


def test_the_required_examples_exist() -> None:
    assert REQUIRED <= set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_lab_delivers_what_it_promises(runs, name) -> None:
    events = runs[name].events
    delivered = collections.Counter((e["flow"], e["reply"]) for e in events if e["event"] == "delivered")
    dropped = collections.Counter((e["flow"], e["reply"]) for e in events if e["event"] == "dropped")
    sent = collections.Counter((e["flow"], e["reply"]) for e in events if e["event"] == "sent")
    want, drops = PROMISES[name]
    for flow, (n, replies) in want.items():
        assert delivered[(flow, False)] == n == sent[(flow, False)], (
            flow,
            [e for e in events if e["event"] == "dropped"],
        )
        assert delivered[(flow, True)] == replies, flow
        assert dropped[(flow, False)] == 0 and dropped[(flow, True)] == 0
    for flow in drops:
        assert sent[(flow, False)] > 0 and dropped[(flow, False)] == sent[(flow, False)]
        assert delivered[(flow, False)] == 0
    assert not runs[name].result.expectation_failures()


@pytest.mark.parametrize("name", EXAMPLES)
def test_json_events_account_for_every_sent_packet(runs, name) -> None:
    events = runs[name].events
    kinds = {e["event"] for e in events}
    assert {"sent", "delivered", "sa_created"} <= kinds
    settled: dict[int, list[dict]] = collections.defaultdict(list)
    for e in events:
        if e["event"] in ("delivered", "dropped"):
            settled[e["id"]].append(e)
    sent = [e for e in events if e["event"] == "sent"]
    assert len({e["id"] for e in sent}) == len(sent)
    for e in sent:
        fate = settled[e["id"]]
        assert len(fate) == 1, e  # exactly one outcome per packet
        if fate[0]["event"] == "dropped":
            assert fate[0]["reason"] and fate[0]["where"]
        assert fate[0]["time"] >= e["time"]
    assert set(settled) == {e["id"] for e in sent}
    times = [e["time"] for e in events]
    assert times == sorted(times)
    execs = [e for e in events if e["event"] == "exec"]
    assert execs and all("Crypto map tag" in e["output"] or e["output"] for e in execs)


@pytest.mark.parametrize("name", EXAMPLES)
def test_scapy_reads_every_capture(runs, name) -> None:
    sent = {(e["src"], e["dst"]) for e in runs[name].events if e["event"] == "sent"}
    pcaps = sorted(runs[name].dir.glob("*.pcap"))
    assert pcaps
    seen = set()
    for pcap in pcaps:
        with PcapReader(str(pcap)) as reader:
            for pkt in reader:
                ip = IP(bytes(pkt))
                assert ip.version == 4 and ip.len == len(bytes(pkt))
                seen.add((ip.src, ip.dst))
    # the LAN captures show the hosts' own packets, in the clear
    assert {s for s in sent if s in seen}


def _esp_options(esp_sa: Path) -> list[str]:
    opts = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"]
    for line in esp_sa.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            opts += ["-o", f"uat:esp_sa:{line}"]
    return opts


FIELDS = [
    "frame.number",
    "esp.spi",
    "esp.icv_good",
    "esp.icv_bad",
    "ip.src",
    "ip.dst",
    "ip.proto",
    "udp.srcport",
    "udp.dstport",
    "tcp.srcport",
    "tcp.dstport",
]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", EXAMPLES)
def test_tshark_decrypts_every_esp_packet(runs, name) -> None:
    run = runs[name]
    events = run.events
    legacy_spis = {
        e["spi"] for e in events if e["event"] == "sa_created" and "esp-rfc1829" in e["transforms"]
    }
    with_icv = {
        e["spi"]
        for e in events
        if e["event"] == "sa_created" and e["protocol"] == "esp" and "hmac" in e["transforms"]
    }
    sent = {
        (e["src"], e["dst"], e["protocol"], e["sport"], e["dport"]) for e in events if e["event"] == "sent"
    }
    total = good = 0
    for pcap in sorted(run.dir.glob("*.pcap")):
        cmd = [
            TSHARK,
            "-r",
            str(pcap),
            *_esp_options(run.dir / "esp_sa"),
            "-Y",
            "esp",
            "-T",
            "fields",
            "-E",
            "occurrence=a",
            "-E",
            "aggregator=,",
        ]
        for f in FIELDS:
            cmd += ["-e", f]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
        for row in out.splitlines():
            f = dict(zip(FIELDS, row.split("\t"), strict=True))
            spis = [int(s, 16) for s in f["esp.spi"].split(",") if s]
            if any(s in legacy_spis for s in spis):
                continue  # RFC 1829 ESP: Wireshark cannot read that format
            total += 1
            assert set(f["esp.icv_bad"].split(",")) <= {"", "0"}, (pcap.name, row)
            if all(s in with_icv for s in spis):
                assert f["esp.icv_good"].split(",") == ["1"] * len(spis), (pcap.name, row)
                good += 1
            # the innermost header and ports are those of a packet the lab sent
            src, dst = f["ip.src"].split(",")[-1], f["ip.dst"].split(",")[-1]
            proto = f["ip.proto"].split(",")[-1]
            name_of = {"1": "icmp", "6": "tcp", "17": "udp"}
            assert proto in name_of, (pcap.name, row)
            sport = f["udp.srcport"] or f["tcp.srcport"] or "0"
            dport = f["udp.dstport"] or f["tcp.dstport"] or "0"
            assert (src, dst, name_of[proto], int(sport), int(dport)) in sent, (pcap.name, row)
    esp_flows = name not in ("ah-transport", "legacy-rfc1828-1829")
    if esp_flows:
        assert total > 0 and good == total


def test_same_seed_same_pcaps_other_seed_other_ivs(tmp_path) -> None:
    a = Run("ah-esp", tmp_path / "a", seed=42)
    b = Run("ah-esp", tmp_path / "b", seed=42)
    c = Run("ah-esp", tmp_path / "c", seed=43)
    names = sorted(p.name for p in a.dir.glob("*.pcap"))
    assert names and names == sorted(p.name for p in b.dir.glob("*.pcap"))
    for n in names:
        assert (a.dir / n).read_bytes() == (b.dir / n).read_bytes(), n
    assert a.lines == b.lines
    assert (a.dir / "wan.pcap").read_bytes() != (c.dir / "wan.pcap").read_bytes()  # fresh IVs
    assert [e for e in a.events if e["event"] == "delivered"] == [
        e for e in c.events if e["event"] == "delivered"
    ]


def test_cli_json_and_human_output(tmp_path, capsys) -> None:
    assert esa(["lab", "run", str(LABS / "simple.yaml"), "--json", "--capture", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    events = [json.loads(line) for line in lines]
    assert events[-1]["event"] == "summary"
    assert events[-1]["flows"]["ping"]["delivered"] == 3 and events[-1]["flows"]["ping"]["rtt"]
    assert (tmp_path / "esp_sa").exists() and (tmp_path / "serial.pcap").exists()
    assert esa(["lab", "run", str(LABS / "elaborate.yaml")]) == 0
    out = capsys.readouterr().out
    assert "DROPPED    plain-ping#1" in out and "denied by outbound access list" in out
    assert "HQ# show crypto ipsec sa" in out and "all expectations met" in out


# What crosses each link, as tshark's dissectors name the layers (no keys given, so ESP stays
# opaque): the protocol nesting each lab's description promises.
LAYERS = {
    ("simple", "serial.pcap"): {
        "raw:ip:esp",
        "raw:ip:data",
        "raw:ip:icmp:data",
    },  # ESP, its fragments, clear ping
    ("ah-transport", "serial.pcap"): {"raw:ip:ah:icmp:data", "raw:ip:ah:udp:data", "raw:ip:icmp:data"},
    ("ah-esp", "wan.pcap"): {"raw:ip:ah:esp"},
    ("legacy-rfc1828-1829", "wan.pcap"): {"raw:ip:ah:esp"},
    ("nesting", "a-b.pcap"): {"raw:ip:ah:ip:esp"},  # AH tunnel to B around ESP to C
    ("nesting", "b-c.pcap"): {"raw:ip:esp"},
    ("elaborate", "serial0.pcap"): {"raw:ip:esp", "raw:ip:ah:ip:tcp"},  # telnet in ESP, web in AH
    ("redundant", "serial0.pcap"): {"raw:ip:esp"},
    ("redundant", "serial1.pcap"): {"raw:ip:esp"},
}


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
@pytest.mark.parametrize(("name", "pcap"), sorted(LAYERS))
def test_links_carry_the_promised_layers(runs, name, pcap) -> None:
    out = subprocess.run(
        [TSHARK, "-r", str(runs[name].dir / pcap), "-T", "fields", "-e", "frame.protocols"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert set(out.split()) == LAYERS[(name, pcap)]


SCAPY_AH = {"ah-md5-hmac": "HMAC-MD5-96", "ah-sha-hmac": "HMAC-SHA1-96"}


@pytest.mark.parametrize("name", ["ah-transport", "ah-esp", "nesting", "elaborate"])
def test_scapy_verifies_every_ah_packet(runs, name) -> None:
    """tshark does not check AH ICVs: Scapy's SecurityAssociation does, with the keys the lab
    reported in its sa_created events, in the SA's mode; the inner datagram must be one the lab
    sent (tunnel) or keep the lab's addresses (transport)."""
    from scapy.layers.ipsec import AH
    from scapy.layers.ipsec import SecurityAssociation as ScapySA
    from scapy.packet import raw

    events = runs[name].events
    keys = {}
    for e in events:
        if e["event"] == "sa_created" and e["protocol"] == "ah" and e["transforms"] in SCAPY_AH:
            keys[(e["dst"], e["spi"])] = (e["src"], SCAPY_AH[e["transforms"]], bytes.fromhex(e["auth_key"]))
    sent = {(e["src"], e["dst"]) for e in events if e["event"] == "sent"}
    verified = 0
    for pcap in sorted(runs[name].dir.glob("*.pcap")):
        with PcapReader(str(pcap)) as reader:
            for frame in reader:
                p = IP(bytes(frame))
                if p.proto != 51:
                    continue
                src, algo, key = keys[(p.dst, p[AH].spi)]
                # AH's next header says what it protects: a whole inner datagram (4, tunnel),
                # the ESP of the same bundle (50), or the transport payload.
                kw = {"tunnel_header": IP(src=src, dst=p.dst)} if p[AH].nh == 4 else {}
                sa = ScapySA(AH, spi=p[AH].spi, auth_algo=algo, auth_key=key, **kw)
                inner = IP(raw(sa.decrypt(IP(bytes(frame)))))  # raises on a bad ICV
                if p[AH].nh == 4 and name == "nesting":
                    ends = {("10.0.12.1", "10.0.23.2"), ("10.0.23.2", "10.0.12.1")}  # A and C
                    assert inner.proto == 50 and (inner.src, inner.dst) in ends
                elif p[AH].nh == 50:
                    assert inner.proto == 50 and (inner.src, inner.dst) == (p.src, p.dst)
                else:
                    assert (inner.src, inner.dst) in sent
                verified += 1
    assert verified > 0


def test_legacy_esp_decrypts_per_rfc_1829(runs) -> None:
    """RFC 1829 ESP (no reader in Wireshark or Scapy): decrypted here with OpenSSL's DES-CBC and
    the IV built as RFC 1829 says for a 32-bit IV field (the field, then its bitwise complement),
    behind the RFC 1826 AH header (next header, length in 32-bit words, reserved, SPI, data)."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    run = runs["legacy-rfc1828-1829"]
    keys = {
        (e["dst"], e["spi"]): bytes.fromhex(e["cipher_key"])
        for e in run.events
        if e["event"] == "sa_created" and e["transforms"] == "esp-rfc1829"
    }
    sent = {(e["src"], e["dst"], e["size"]) for e in run.events if e["event"] == "sent"}
    checked = 0
    with PcapReader(str(run.dir / "wan.pcap")) as reader:
        for frame in reader:
            data = bytes(frame)
            hl = (data[0] & 0xF) * 4
            assert data[9] == 51  # AH first
            assert data[hl] == 50 and data[hl + 1] == 4  # next: ESP; RFC 1826 length: 4 words of data
            ah_len = 8 + 4 * data[hl + 1]  # 128-bit keyed-MD5 authentication data
            esp = data[hl + ah_len :]
            spi, iv4 = int.from_bytes(esp[:4], "big"), esp[4:8]
            iv = iv4 + bytes(b ^ 0xFF for b in iv4)
            dst = ".".join(str(b) for b in data[16:20])
            dec = Cipher(TripleDES(keys[(dst, spi)] * 3), modes.CBC(iv)).decryptor()
            plain = dec.update(esp[8:]) + dec.finalize()
            inner = IP(plain)
            assert plain[-1] == 4  # payload type: IP in IP (tunnel)
            assert (inner.src, inner.dst, inner.len) in sent
            checked += 1
    assert checked == 10  # 3 pings and 2 UDP datagrams, each answered


def test_redundant_failover_keeps_the_same_sas(runs) -> None:
    from sim.lab.pcap import EPOCH

    run = runs["redundant"]

    def times(pcap: str) -> list[float]:
        with PcapReader(str(run.dir / pcap)) as reader:
            return [float(p.time) - EPOCH for p in reader]

    before, after = times("serial0.pcap"), times("serial1.pcap")
    assert before and after and max(before) < 3.0 < min(after)  # Serial0 shut at t=3s
    created = [e for e in run.events if e["event"] == "sa_created"]
    assert {e["time"] for e in created} == {0.0} and not any(e["event"] == "sa_deleted" for e in run.events)
    # one shared database: HQ shows the same SA pair (and its counters) under both interfaces
    last = [e["output"] for e in run.events if e["event"] == "exec" and e["router"] == "HQ"][-1]
    assert last.count("#pkts encaps: 6, #pkts encrypt: 6") == 2
    assert "interface: Serial0" in last and "interface: Serial1" in last
