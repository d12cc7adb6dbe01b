"""Two routers configured with IOS text protect real IPv4 traffic between their LANs.

The references: Scapy builds the traffic, and Scapy's ``SecurityAssociation`` (keyed from the same
IOS ``set session-key`` lines) decrypts/verifies what crossed the link and builds protected
packets that the routers must accept.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.ipsec import AH as ScapyAH
from scapy.layers.ipsec import ESP as ScapyESP
from scapy.layers.ipsec import SecurityAssociation as ScapySA
from scapy.packet import Raw, raw

from tests.router_helpers import KEYS, two_routers

DRAFT_SETS = [
    "esp-des",
    "esp-des esp-md5-hmac",
    "esp-des esp-sha-hmac",
    "ah-md5-hmac",
    "ah-sha-hmac",
    "ah-md5-hmac esp-des",
    "ah-sha-hmac esp-des esp-md5-hmac",
    "ah-md5-hmac esp-des esp-sha-hmac",
]
SCAPY_AUTH = {"md5": "HMAC-MD5-96", "sha": "HMAC-SHA1-96"}


def scapy_sas(transforms: str, direction: str, tunnel: bool):
    """Scapy SAs for A's ``direction`` ("out": A -> B) from the same keys IOS was given."""
    tag = "out" if direction == "out" else "in"
    src, dst = ("192.168.0.1", "192.168.0.2") if direction == "out" else ("192.168.0.2", "192.168.0.1")
    hdr = {"tunnel_header": IP(src=src, dst=dst)} if tunnel else {}
    out = {}
    words = transforms.split()
    esp_auth = next((w for w in words if w.startswith("esp-") and w.endswith("-hmac")), None)
    if "esp-des" in words:
        kw = {}
        if esp_auth:
            key = bytes.fromhex(KEYS["esp_auth_" + tag])
            # IOS truncates a longer key to the algorithm's length (spec, set session-key)
            kw = {"auth_algo": SCAPY_AUTH[esp_auth[4:7]], "auth_key": key[:16] if "md5" in esp_auth else key}
        out["esp"] = ScapySA(
            ScapyESP,
            spi=int(KEYS["spi_esp_" + tag]),
            crypt_algo="DES",
            crypt_key=bytes.fromhex(KEYS["esp_cipher_" + tag]),
            **kw,
        )
        if tunnel:
            out["esp"] = ScapySA(
                ScapyESP,
                spi=int(KEYS["spi_esp_" + tag]),
                crypt_algo="DES",
                crypt_key=bytes.fromhex(KEYS["esp_cipher_" + tag]),
                **hdr,
                **kw,
            )
    ah = next((w for w in words if w.startswith("ah-")), None)
    if ah:
        key = bytes.fromhex(KEYS["ah_" + tag])
        if ah == "ah-md5-hmac":
            key = key[:16]
        # AH over ESP: ESP makes the tunnel header, AH sits behind it (transport adjacency).
        ah_hdr = hdr if "esp-des" not in words else {}
        out["ah"] = ScapySA(
            ScapyAH, spi=int(KEYS["spi_ah_" + tag]), auth_algo=SCAPY_AUTH[ah[3:6]], auth_key=key, **ah_hdr
        )
    return out


def esp_as_raw(pkt):
    """The packet with an ESP payload kept as raw bytes: Scapy's AH would otherwise sign or
    verify the ESP layer instead of the AH one (its ``sign``/``verify`` test for ESP first)."""
    pkt = IP(raw(pkt))
    if pkt.proto == 50:
        body = raw(pkt.payload)
        pkt.remove_payload()
        pkt = IP(raw(pkt / Raw(body)))
        pkt.remove_payload()
        pkt = pkt / Raw(body)
    elif pkt.proto == 51 and pkt[ScapyAH].nh == 50:
        body = raw(pkt[ScapyAH].payload)
        pkt[ScapyAH].remove_payload()
        pkt = pkt / Raw(body)
    return pkt


def ah_over_esp(sa: ScapySA, esp_pkt, seq: int):
    """AH (transport) over an ESP packet, signed by Scapy's AH algorithm. Scapy's own
    ``encrypt`` cannot do this: it re-dissects the payload as ESP and then signs that."""
    esp_pkt = IP(raw(esp_pkt))
    body = raw(esp_pkt.payload)
    hdr = esp_pkt.copy()
    hdr.remove_payload()
    hdr.proto = 51
    del hdr.len, hdr.chksum
    ah = ScapyAH(nh=50, spi=sa.spi, seq=seq, icv=bytes(sa.auth_algo.icv_size), payloadlen=4)
    pkt = IP(raw(hdr / ah / Raw(body)))
    pkt[ScapyAH].remove_payload()
    pkt = pkt / Raw(body)
    return sa.auth_algo.sign(pkt, sa.auth_key)


def ping(src="10.1.1.5", dst="10.2.2.7", payload=b"x" * 40, ident=1) -> bytes:
    return raw(IP(src=src, dst=dst, id=ident, ttl=64) / ICMP(id=7, seq=ident) / Raw(payload))


def test_manual_esp_tunnel_delivers_inner_packet_and_wire_is_esp():
    net, a, b, lan_a, lan_b = two_routers("esp-des esp-sha-hmac")
    pkt = ping()
    net.inject("A", "Ethernet0", pkt)
    assert len(lan_b) == 1
    got = IP(lan_b[0])
    assert (got.src, got.dst, got.ttl) == ("10.1.1.5", "10.2.2.7", 62)
    assert bytes(got[ICMP]) == bytes(IP(pkt)[ICMP])
    wire = IP(net.wire[("A", "Serial0")][0])
    assert (wire.src, wire.dst, wire.proto) == ("192.168.0.1", "192.168.0.2", 50)
    assert b"x" * 40 not in raw(wire)
    # the reverse direction through the inbound SAs of A
    net.inject("B", "Ethernet0", ping("10.2.2.7", "10.1.1.5", b"y" * 10))
    assert len(lan_a) == 1 and IP(lan_a[0]).src == "10.2.2.7"
    assert not a.drops and not b.drops


@pytest.mark.parametrize("transforms", DRAFT_SETS)
def test_scapy_decrypts_what_the_router_sends(transforms):
    net, a, b, lan_a, lan_b = two_routers(transforms)
    inner = ping(payload=bytes(range(100)))
    net.inject("A", "Ethernet0", inner)
    assert len(lan_b) == 1, b.drops
    wire = IP(net.wire[("A", "Serial0")][0])
    sas = scapy_sas(transforms, "out", tunnel=True)
    pkt = wire
    if "ah" in sas:
        pkt = IP(raw(sas["ah"].decrypt(esp_as_raw(pkt))))
    if "esp" in sas:
        pkt = sas["esp"].decrypt(pkt)
    expect = IP(inner)
    expect.ttl -= 1
    del expect.chksum
    assert raw(pkt) == raw(expect)


@pytest.mark.parametrize("transforms", DRAFT_SETS)
def test_router_accepts_what_scapy_protects(transforms):
    net, a, b, lan_a, lan_b = two_routers(transforms)
    sas = scapy_sas(transforms, "in", tunnel=True)
    for seq in (1, 2, 3):
        inner = (
            IP(src="10.2.2.9", dst="10.1.1.5", ttl=30)
            / UDP(sport=1000 + seq, dport=53)
            / Raw(b"q" * seq * 50)
        )
        pkt = inner
        if "esp" in sas:
            pkt = sas["esp"].encrypt(pkt, seq_num=seq)
        if "ah" in sas:
            pkt = ah_over_esp(sas["ah"], pkt, seq) if "esp" in sas else sas["ah"].encrypt(pkt, seq_num=seq)
        net.inject("A", "Serial0", raw(pkt))
    assert len(lan_a) == 3, a.drops
    assert [IP(p)[UDP].sport for p in lan_a] == [1001, 1002, 1003]
    assert all(IP(p).ttl == 29 for p in lan_a)


@pytest.mark.parametrize(
    "transforms", ["esp-des esp-md5-hmac", "ah-sha-hmac", "ah-md5-hmac esp-des esp-sha-hmac"]
)
def test_transport_mode_between_the_peers_themselves(transforms):
    acl = "access-list 101 permit ip host {me} host {peer}"
    net, a, b, _, _ = two_routers(transforms, mode="transport")
    for r, me, peer in ((a, "192.168.0.1", "192.168.0.2"), (b, "192.168.0.2", "192.168.0.1")):
        r.configure(f"no access-list 101\n{acl.format(me=me, peer=peer)}\n")
        r.exec("clear crypto sa")
    sa = a.bundles()[0].outbound[0]
    assert sa.mode.value == "Transport"
    net.originate("A", ping("192.168.0.1", "192.168.0.2"))
    wire = IP(net.wire[("A", "Serial0")][0])
    assert wire.proto in (50, 51) and wire.src == "192.168.0.1"
    # the echo was delivered to B, answered, protected by B and accepted by A
    assert b.counters["echo_replies"] == 1
    assert a.counters["delivered"] == 1, a.drops
    sas = scapy_sas(transforms, "out", tunnel=False)
    pkt = wire
    if "ah" in sas:
        pkt = IP(raw(sas["ah"].decrypt(esp_as_raw(pkt))))
    if "esp" in sas:
        pkt = sas["esp"].decrypt(pkt)
    assert pkt[ICMP].type == 8 and bytes(pkt[Raw]) == b"x" * 40


def test_traffic_not_in_the_crypto_acl_goes_in_the_clear():
    net, a, b, lan_a, lan_b = two_routers(
        extra_a="ip route 10.9.9.0 255.255.255.0 192.168.0.2",
        extra_b="interface Ethernet1\n ip address 10.9.9.1 255.255.255.0",
    )
    lan9 = net.lan("B", "Ethernet1")
    tcp = raw(IP(src="10.1.1.5", dst="10.9.9.9") / TCP(sport=1234, dport=23))
    net.inject("A", "Ethernet0", tcp)
    assert IP(net.wire[("A", "Serial0")][0]).proto == 6
    assert len(lan9) == 1


def test_burst_of_packets_runs_as_one_engine_burst():
    net, a, b, lan_a, lan_b = two_routers("ah-sha-hmac esp-des esp-md5-hmac")
    runs = []
    real = a.engine.run

    def counting(jobs, *args, **kw):
        jobs = list(jobs)
        runs.append(len(jobs))
        return real(jobs, *args, **kw)

    a.engine.run = counting
    out = a.receive_burst([("Ethernet0", ping(ident=i)) for i in range(20)])
    assert runs == [20, 20]  # the ESP layer of all packets, then the AH layer
    assert len(out) == 20
    for _, p in out:
        net.run([("B", "Serial0", p)])
    assert len(lan_b) == 20


def test_legacy_rfc1828_rfc1829_pair_with_a_4_byte_iv():
    """AH per RFC 1826/1828 around ESP per RFC 1829 with a 32-bit IV field; the ESP payload is
    decrypted here with DES-CBC from ``cryptography`` and the IV of RFC 1829 section 3.1
    (the 32-bit field followed by its one's complement)."""
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes

    net, a, b, lan_a, lan_b = two_routers(
        "ah-rfc1828 esp-rfc1829",
        extra_a="crypto ipsec transform-set ts ah-rfc1828 esp-rfc1829\n initialization-vector size 4",
        extra_b="crypto ipsec transform-set ts ah-rfc1828 esp-rfc1829\n initialization-vector size 4",
    )
    for r in (a, b):
        r.exec("clear crypto sa")  # the IV size changed after the SAs were installed
    inner = ping(payload=b"legacy" * 7)
    net.inject("A", "Ethernet0", inner)
    assert len(lan_b) == 1, b.drops
    wire = net.wire[("A", "Serial0")][0]
    assert wire[9] == 51 and wire[20] == 50 and wire[21] == 4  # AH: ESP next, 4 words of MD5
    esp_part = wire[20 + 24 :]
    assert int.from_bytes(esp_part[:4], "big") == int(KEYS["spi_esp_out"])
    field = esp_part[4:8]
    iv = field + (int.from_bytes(field, "big") ^ 0xFFFFFFFF).to_bytes(4, "big")
    dec = Cipher(TripleDES(bytes.fromhex(KEYS["esp_cipher_out"]) * 3), modes.CBC(iv)).decryptor()
    plain = dec.update(esp_part[8:]) + dec.finalize()
    padlen, nh = plain[-2], plain[-1]
    forwarded = IP(inner)
    forwarded.ttl -= 1
    del forwarded.chksum
    assert nh == 4 and plain[: len(plain) - 2 - padlen] == raw(forwarded)
    text = a.exec("show crypto ipsec sa")
    assert "IV size: 4 bytes" in text and "replay detection support: Y" not in text


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize(
    "transforms", ["esp-des", "esp-des esp-md5-hmac", "ah-sha-hmac esp-des esp-sha-hmac"]
)
def test_tshark_decrypts_with_the_routers_esp_sa_lines(tmp_path, transforms):
    from scapy.utils import wrpcap

    net, a, b, lan_a, lan_b = two_routers(transforms)
    net.inject("A", "Ethernet0", ping(payload=b"tshark-sees-this!"))
    net.inject("B", "Ethernet0", ping("10.2.2.7", "10.1.1.5", payload=b"and-this-too!"))
    pcap = tmp_path / "link.pcap"
    wrpcap(str(pcap), [IP(p) for p in net.wire[("A", "Serial0")] + net.wire[("B", "Serial0")]])
    lines = a.esp_sa_lines()
    assert len(lines) == 2 and sorted(lines) == sorted(b.esp_sa_lines())
    cmd = [
        "tshark",
        "-r",
        str(pcap),
        "-o",
        "esp.enable_encryption_decode:TRUE",
        "-o",
        "esp.enable_authentication_check:TRUE",
        "-T",
        "fields",
        "-e",
        "esp.icv_good",
        "-e",
        "data.data",
        "-e",
        "icmp.type",
    ]
    for line in lines:
        cmd += ["-o", f"uat:esp_sa:{line}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout.splitlines()
    assert len(out) == 2
    fields = [row.split("\t") for row in out]
    assert [f[2] for f in fields] == ["8", "8"]  # the inner ICMP echo requests are dissected
    if "hmac" in transforms.split("esp-des")[-1]:
        assert [f[0] for f in fields] == ["1", "1"] or [f[0] for f in fields] == ["True", "True"]
    payloads = {bytes.fromhex(f[1].replace(":", "")) for f in fields}
    assert payloads == {b"tshark-sees-this!", b"and-this-too!"}


def test_transport_mode_is_ignored_for_traffic_of_hosts_behind_the_peers():
    """Spec (mode): the setting "is only used when the traffic to be protected has the same IP
    addresses as the IPSec peers ... all other traffic is encapsulated in tunnel mode"."""
    net, a, b, lan_a, lan_b = two_routers("esp-des esp-sha-hmac", mode="transport")
    assert all(sa.mode.value == "Tunnel" for sa in a.security_associations())
    assert "in use settings ={Tunnel, }" in a.exec("show crypto ipsec sa")
    net.inject("A", "Ethernet0", ping())
    assert len(lan_b) == 1 and IP(net.wire[("A", "Serial0")][0]).dst == "192.168.0.2"
