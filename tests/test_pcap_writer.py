"""The lab's pcap writer and esp_sa file, read back by references we did not write: Scapy's pcap
reader, tshark's dissectors, and tshark's ESP decryption with the keys of our esp_sa file."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.utils import PcapReader

from driver.registry import open_engine
from host.ipsec import esp
from host.ipsec.sa import SecurityAssociation
from sim.lab import packets
from sim.lab.esp_sa import EspSaLine, line_for, write_esp_sa
from sim.lab.pcap import EPOCH, LINKTYPE_RAW, PcapWriter

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


def tshark(pcap: Path, *args: str) -> list[str]:
    out = subprocess.run(
        [TSHARK, "-r", str(pcap), *args], capture_output=True, text=True, check=True, timeout=60
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def esp_opts(esp_sa: Path) -> list[str]:
    opts = ["-o", "esp.enable_encryption_decode:TRUE", "-o", "esp.enable_authentication_check:TRUE"]
    for line in esp_sa.read_text().splitlines():
        if line and not line.startswith("#"):
            opts += ["-o", f"uat:esp_sa:{line}"]
    return opts


def test_scapy_reads_back_packets_and_times(tmp_path: Path) -> None:
    pkts = [
        packets.udp("10.1.1.10", "10.2.2.10", 1025, 53, 100, ip_id=1),
        packets.tcp("10.1.1.10", "10.2.2.10", 1026, 23, 60, ip_id=2, seq=1000),
        packets.echo("10.1.1.10", "10.2.2.10", 7, 1, 84, ip_id=3),
    ]
    times = [0.0, 1.25, 3.000001]
    path = tmp_path / "x.pcap"
    with PcapWriter(path) as w:
        for t, p in zip(times, pkts, strict=True):
            w.write(t, p)
    with PcapReader(str(path)) as reader:
        assert reader.linktype == LINKTYPE_RAW
        got = list(reader)
    assert [bytes(p) for p in got] == pkts
    assert [float(p.time) for p in got] == pytest.approx([EPOCH + t for t in times], abs=1e-6)
    # Scapy's own checksum computation agrees with ours.
    for p in got:
        ip = IP(bytes(p))
        ref = IP(bytes(p))
        del ref.chksum
        if ref.haslayer(UDP):
            del ref[UDP].chksum
        if ref.haslayer(TCP):
            del ref[TCP].chksum
        assert bytes(IP(bytes(ref))) == bytes(ip)


def test_snaplen_cuts_and_keeps_original_length(tmp_path: Path) -> None:
    path = tmp_path / "snap.pcap"
    big = packets.udp("10.0.0.1", "10.0.0.2", 1, 2, 400, ip_id=9)
    with PcapWriter(path, snaplen=100) as w:
        w.write(0.5, big)
    raw = path.read_bytes()
    assert int.from_bytes(raw[16:20], "little") == 100  # snaplen in the header
    assert int.from_bytes(raw[32:36], "little") == 100  # captured length
    assert int.from_bytes(raw[36:40], "little") == 400  # original length


@needs_tshark
def test_tshark_dissects_raw_ip(tmp_path: Path) -> None:
    path = tmp_path / "raw.pcap"
    with PcapWriter(path) as w:
        w.write(0.0, packets.tcp("10.1.2.5", "172.20.3.9", 1025, 23, 80, ip_id=5, seq=1))
        w.write(0.1, packets.echo("10.1.2.5", "172.20.3.9", 3, 4, 60, ip_id=6))
    rows = tshark(
        path,
        "-T",
        "fields",
        "-e",
        "ip.src",
        "-e",
        "ip.dst",
        "-e",
        "tcp.dstport",
        "-e",
        "icmp.seq",
        "-e",
        "tcp.checksum.status",
        "-o",
        "tcp.check_checksum:TRUE",
    )
    assert rows[0].split("\t")[:3] == ["10.1.2.5", "172.20.3.9", "23"]
    assert rows[0].split("\t")[4] == "1"  # tshark: checksum status 1 = "Good"
    assert rows[1].split("\t")[3] == "4"


def _sa_pair(engine, transforms, spi, rng):
    auth = [t for t in transforms if t.endswith("hmac")]
    akey = rng.randbytes(20 if auth == ["esp-sha-hmac"] else 16) if auth else b""
    common = dict(protocol="esp", spi=spi, transforms=transforms, cipher_key=rng.randbytes(8), auth_key=akey)
    out = SecurityAssociation(inbound=False, local="192.0.2.1", peer="192.0.2.2", rng=rng.randbytes, **common)
    inn = SecurityAssociation(inbound=True, local="192.0.2.2", peer="192.0.2.1", **common)
    out.install(engine)
    inn.install(engine)
    return out, inn


@needs_tshark
@pytest.mark.parametrize(
    "transforms", [("esp-des", "esp-sha-hmac"), ("esp-des", "esp-md5-hmac"), ("esp-des",)]
)
def test_tshark_decrypts_with_our_esp_sa_file(tmp_path: Path, transforms) -> None:
    rng = random.Random(7)
    engine = open_engine("software")
    out, inn = _sa_pair(engine, transforms, 0x1234, rng)
    inner = [packets.udp("10.1.1.10", "10.2.2.10", 4000 + i, 9, 60 + 37 * i, ip_id=i + 1) for i in range(4)]
    pcap, keys = tmp_path / "esp.pcap", tmp_path / "esp_sa"
    with PcapWriter(pcap) as w:
        for i, p in enumerate(inner):
            w.write(i * 0.01, esp.encapsulate(out, p))
    written = write_esp_sa(keys, [out, inn])
    assert len(written) == 1  # the two ends of one SA make one line
    rows = tshark(
        pcap,
        *esp_opts(keys),
        "-T",
        "fields",
        "-e",
        "esp.spi",
        "-e",
        "esp.icv_good",
        "-e",
        "ip.src",
        "-e",
        "udp.srcport",
        "-e",
        "udp.dstport",
    )
    assert len(rows) == len(inner)
    for i, row in enumerate(rows):
        f = row.split("\t")
        if len(transforms) == 2:
            assert f[1] == "1", row  # tshark verified our HMAC-96 ICV with the file's key
        # the decrypted inner header and ports: the outer source, then the inner one
        assert f[2] == "192.0.2.1,10.1.1.10"
        assert (f[3], f[4]) == (str(4000 + i), "9")
    engine.close()


@needs_tshark
def test_wrong_key_is_icv_bad(tmp_path: Path) -> None:
    """The check above can fail: with one key bit flipped tshark reports icv_bad."""
    rng = random.Random(3)
    engine = open_engine("software")
    out, _ = _sa_pair(engine, ("esp-des", "esp-sha-hmac"), 0x999, rng)
    pcap, keys = tmp_path / "esp.pcap", tmp_path / "esp_sa"
    with PcapWriter(pcap) as w:
        w.write(0, esp.encapsulate(out, packets.udp("10.1.1.10", "10.2.2.10", 1, 2, 64, ip_id=1)))
    line = line_for(out)
    assert isinstance(line, EspSaLine)
    bad = EspSaLine(
        line.src,
        line.dst,
        line.spi,
        line.encryption,
        line.encryption_key,
        line.authentication,
        bytes([line.authentication_key[0] ^ 1]) + line.authentication_key[1:],
    )
    keys.write_text(bad.text() + "\n")
    rows = tshark(pcap, *esp_opts(keys), "-T", "fields", "-e", "esp.icv_good", "-e", "esp.icv_bad")
    assert rows == ["0\t1"]  # icv_good false, icv_bad true
    engine.close()


def test_esp_sa_line_format_and_legacy_comment(tmp_path: Path) -> None:
    engine = open_engine("software")
    sa = SecurityAssociation(
        protocol="esp",
        spi=300,
        inbound=True,
        local="10.0.0.2",
        peer="10.0.0.1",
        transforms=("esp-des", "esp-md5-hmac"),
        cipher_key=bytes.fromhex("0123456789abcdef"),
        auth_key=bytes(range(16)),
    )
    assert line_for(sa).text() == (
        '"IPv4","10.0.0.1","10.0.0.2","0x0000012c","DES-CBC [RFC2405]","0x0123456789abcdef",'
        '"HMAC-MD5-96 [RFC2403]","0x000102030405060708090a0b0c0d0e0f"'
    )
    legacy = SecurityAssociation(
        protocol="esp",
        spi=301,
        inbound=False,
        local="10.0.0.2",
        peer="10.0.0.1",
        transforms=("esp-rfc1829",),
        cipher_key=bytes(8),
        iv_size=4,
    )
    assert isinstance(line_for(legacy), str) and line_for(legacy).startswith("#")
    written = write_esp_sa(tmp_path / "esp_sa", [sa, legacy, sa])
    assert len(written) == 1
    lines = (tmp_path / "esp_sa").read_text().splitlines()
    assert sum(1 for x in lines if not x.startswith("#")) == 1
    engine.close()
