"""IPv4 helpers against Scapy: header build/parse and checksum, fragmentation, reassembly."""

from __future__ import annotations

import random

import pytest
from scapy.layers.inet import IP, UDP, defragment
from scapy.layers.inet import fragment as scapy_fragment
from scapy.packet import Raw, raw

from host.ipsec import ipv4
from host.ipsec.ipv4 import PacketError, Reassembler


def scapy_pkt(size=100, **kw):
    return raw(
        IP(src="10.1.2.3", dst="10.4.5.6", **kw)
        / UDP(sport=7, dport=9)
        / Raw(random.Random(size).randbytes(size))
    )


def test_build_matches_scapy():
    payload = b"\x00\x07\x00\x09\x00\x0c\x00\x00abcd"
    ours = ipv4.build("10.1.2.3", "10.4.5.6", 17, payload, tos=0x10, ident=777, ttl=42, flags=ipv4.FLAG_DF)
    theirs = raw(
        IP(src="10.1.2.3", dst="10.4.5.6", proto=17, tos=0x10, id=777, ttl=42, flags="DF") / Raw(payload)
    )
    assert ours == theirs


@pytest.mark.parametrize("kw", [{}, {"options": [b"\x94\x04\x00\x00"]}, {"flags": "MF", "frag": 5}])
def test_parse_matches_scapy(kw):
    if "options" in kw:
        from scapy.layers.inet import IPOption

        kw = {"options": [IPOption(kw["options"][0])]}
    wire = scapy_pkt(50, **kw)
    hdr, payload = ipv4.parse(wire)
    p = IP(wire)
    assert hdr.src == ipv4.addr_bytes(p.src) and hdr.dst == ipv4.addr_bytes(p.dst)
    assert (hdr.proto, hdr.ttl, hdr.ident, hdr.total_length) == (p.proto, p.ttl, p.id, p.len)
    assert (hdr.flags, hdr.frag_offset, hdr.checksum) == (int(p.flags), p.frag, p.chksum)
    assert hdr.header_length == p.ihl * 4 and payload == raw(p.payload)
    assert ipv4.with_header(hdr, payload) == wire  # rebuilding gives Scapy's checksum


def test_checksum_reference():
    # RFC 1071 section 3 example: 0001 f203 f4f5 f6f7 sums to 0xddf2, complement 0x220d
    assert ipv4.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "truncated"),
        (bytes(19), "truncated"),
        (b"\x65" + bytes(19), "not IPv4"),
        (b"\x44" + bytes(19), "bad header length"),
    ],
)
def test_parse_rejects(data, reason):
    with pytest.raises(PacketError) as e:
        ipv4.parse(data)
    assert e.value.reason == reason


def test_parse_rejects_bad_length_and_checksum():
    wire = bytearray(scapy_pkt(40))
    with pytest.raises(PacketError, match="truncated"):
        ipv4.parse(bytes(wire[:-1]))
    hdr, payload = ipv4.parse(bytes(wire) + b"\0\0\0")  # link-layer padding is dropped
    assert len(payload) == len(wire) - 20
    wire[8] ^= 1
    with pytest.raises(PacketError, match="bad checksum"):
        ipv4.parse(bytes(wire))
    assert ipv4.parse(bytes(wire), verify_checksum=False)[0].ttl == wire[8]


@pytest.mark.parametrize("mtu", [68, 576, 1500])
def test_fragments_reassemble_in_scapy(mtu):
    wire = scapy_pkt(3000, id=4242)
    frags = ipv4.fragment(wire, mtu)
    assert all(len(f) <= mtu for f in frags) and len(frags) > 1
    for f in frags:
        ipv4.parse(f)  # every fragment has a valid checksum
    whole = defragment([IP(f) for f in frags])
    assert len(whole) == 1 and raw(whole[0]) == wire


def test_fragment_passthrough_and_df():
    wire = scapy_pkt(100)
    assert ipv4.fragment(wire, 1500) == [wire]
    with pytest.raises(PacketError, match="DF set"):
        ipv4.fragment(scapy_pkt(2000, flags="DF"), 1500)


def test_reassemble_scapy_fragments_out_of_order():
    wire = scapy_pkt(2500, id=99)
    frags = [raw(f) for f in scapy_fragment(IP(wire), fragsize=400)]
    random.Random(3).shuffle(frags)
    r = Reassembler(clock=lambda: 0.0)
    got = [r.add(f) for f in frags]
    assert got[:-1] == [None] * (len(frags) - 1)
    assert got[-1] == wire and r.pending() == 0


def test_reassemble_our_fragments_with_duplicates():
    wire = scapy_pkt(1800, id=5)
    frags = ipv4.fragment(wire, 600)
    r = Reassembler(clock=lambda: 0.0)
    assert len(frags) == 4
    assert r.add(frags[0]) is None and r.add(frags[0]) is None
    assert r.add(frags[3]) is None and r.add(frags[2]) is None
    assert r.add(frags[1]) == wire


def test_reassembly_timeout_on_virtual_clock():
    now = [0.0]
    r = Reassembler(clock=lambda: now[0], timeout=30)
    frags = ipv4.fragment(scapy_pkt(1000, id=1), 500)
    r.add(frags[0])
    now[0] = 31.0
    r.expire()
    assert r.pending() == 0 and r.timeouts == 1
    assert r.add(frags[1]) is None  # the first half is gone: never completes
    assert r.pending() == 1


def test_reassembly_bounds_and_hostile_fragments():
    r = Reassembler(clock=lambda: 0.0, max_pending=2)
    for ident in range(3):
        r.add(ipv4.fragment(scapy_pkt(1000, id=ident), 500)[0])
    assert r.pending() == 2 and r.overflows == 1
    bad = raw(IP(src="1.1.1.1", dst="2.2.2.2", id=7, flags="MF", frag=0, proto=17) / Raw(bytes(13)))
    with pytest.raises(PacketError, match="bad fragment"):
        Reassembler(clock=lambda: 0.0).add(bad)  # a middle fragment not a multiple of 8
    huge = raw(IP(src="1.1.1.1", dst="2.2.2.2", id=8, frag=8190, proto=17) / Raw(bytes(100)))
    with pytest.raises(PacketError):
        Reassembler(clock=lambda: 0.0).add(huge)  # would exceed 65535 bytes


def test_build_too_big():
    with pytest.raises(PacketError, match="too big"):
        ipv4.build("1.1.1.1", "2.2.2.2", 17, bytes(65516))


def test_addresses():
    assert ipv4.addr_str(ipv4.addr_bytes("192.168.0.1")) == "192.168.0.1"
    for bad in ("1.2.3", "300.1.1.1", "a.b.c.d"):
        with pytest.raises(ValueError):
            ipv4.addr_bytes(bad)
