"""Hostile input at the router: every bad packet is dropped and counted, none is delivered, none
crashes. Forged ESP is built here with ``cryptography`` (DES-CBC) and ``hmac`` (HMAC-SHA1-96) from
RFC 2406/2405/2404 directly, so that the bytes do not come from our own codec."""

from __future__ import annotations

import hashlib
import hmac
import random
import struct

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from scapy.layers.inet import ICMP, IP, UDP
from scapy.packet import Raw, raw

from host.ipsec.sa import DropReason
from tests.router_helpers import isakmp_routers, two_routers


def inner(src="10.2.2.9", dst="10.1.1.5", n=30) -> bytes:
    return raw(IP(src=src, dst=dst, ttl=20) / UDP(sport=5000, dport=53) / Raw(b"z" * n))


def forge_esp(
    bundle_in,
    seq: int,
    payload: bytes,
    *,
    nh: int = 4,
    pad: bytes | None = None,
    flip_icv: bool = False,
    spi: int | None = None,
    padlen: int | None = None,
) -> bytes:
    """An RFC 2406 ESP packet (DES-CBC + HMAC-SHA1-96) for inbound SA ``bundle_in`` of router A,
    sent by its peer: IV || E(payload || pad || pad length || next header) and the ICV."""
    sa = bundle_in
    if pad is None:
        n = (-(len(payload) + 2)) % 8
        pad = bytes(range(1, n + 1))
    iv = random.Random(seq).randbytes(8)
    plain = payload + pad + bytes((len(pad) if padlen is None else padlen, nh))
    enc = Cipher(TripleDES(sa.cipher_key * 3), modes.CBC(iv)).encryptor()
    ct = enc.update(plain) + enc.finalize()
    head = struct.pack("!II", spi if spi is not None else sa.spi, seq) + iv
    icv = hmac.new(sa.auth_key, head + ct, hashlib.sha1).digest()[:12]
    if flip_icv:
        icv = bytes([icv[0] ^ 1]) + icv[1:]
    return raw(IP(src=sa.peer, dst=sa.local, proto=50, ttl=60) / Raw(head + ct + icv))


def setup():
    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers("esp-des esp-sha-hmac")
    return net, a, lan_a, ba, ba.inbound[0]


def test_forged_packet_is_accepted_as_a_baseline():
    net, a, lan_a, bundle, sa = setup()
    net.inject("A", "Serial0", forge_esp(sa, 1, inner()))
    assert len(lan_a) == 1 and not a.drops


def check_dropped(a, lan_a, reason: str, *, count: int = 1) -> None:
    assert lan_a == []
    assert a.drops[reason] == count, a.drops
    assert sum(a.drops.values()) == count, a.drops


def test_truncated_packets():
    net, a, lan_a, bundle, sa = setup()
    good = forge_esp(sa, 1, inner())
    for cut in (21, 24, 30, 40, len(good) - 1):
        short = IP(good[:cut])
        del short.len, short.chksum
        net.inject("A", "Serial0", raw(short))
    # a header whose total length claims more than arrived
    net.inject("A", "Serial0", good[:-5])
    assert lan_a == []
    assert sum(a.drops.values()) == 6
    assert a.drops["truncated"] + a.drops["bad length"] + a.drops["bad ip header"] == 6, a.drops
    assert sa.counters.decaps == 0


def test_wrong_spi():
    net, a, lan_a, bundle, sa = setup()
    net.inject("A", "Serial0", forge_esp(sa, 1, inner(), spi=sa.spi + 99))
    check_dropped(a, lan_a, "unknown spi")
    assert a.database_for("Serial0").unknown_spi == 1


def test_bad_icv_counted_on_the_sa():
    net, a, lan_a, bundle, sa = setup()
    net.inject("A", "Serial0", forge_esp(sa, 1, inner(), flip_icv=True))
    check_dropped(a, lan_a, "bad icv")
    assert sa.counters.drops[DropReason.BAD_ICV] == 1
    assert bundle.counters.recv_errors == 1
    # a forged packet does not move the anti-replay window: the genuine seq 1 still passes
    net.inject("A", "Serial0", forge_esp(sa, 1, inner()))
    assert len(lan_a) == 1


def test_replay_in_window_and_too_old():
    net, a, lan_a, bundle, sa = setup()
    pkts = [forge_esp(sa, s, inner(n=s)) for s in range(1, 101)]
    for p in pkts:
        net.inject("A", "Serial0", p)
    assert len(lan_a) == 100
    net.inject("A", "Serial0", pkts[99])  # seq 100: duplicate inside the window
    net.inject("A", "Serial0", pkts[50])  # seq 51: duplicate inside the 64-packet window
    net.inject("A", "Serial0", pkts[0])  # seq 1: left of the window
    assert len(lan_a) == 100
    assert a.drops["replay"] == 2 and a.drops["replay too old"] == 1
    assert "#pkts replay failed (rcv): 3" in a.exec("show crypto ipsec sa detail")


def test_bad_padding_and_wrong_next_header():
    net, a, lan_a, bundle, sa = setup()
    body = inner(n=31)  # 59 bytes: 3 bytes of padding
    net.inject("A", "Serial0", forge_esp(sa, 1, body, pad=b"\x01\x02\x09"))
    net.inject("A", "Serial0", forge_esp(sa, 2, body, padlen=200))  # more padding than data
    # eleven bytes of padding 1..11 are valid (RFC 2406 allows up to 255)
    net.inject("A", "Serial0", forge_esp(sa, 4, body, pad=bytes(range(1, 12))))
    assert len(lan_a) == 1
    lan_a.clear()
    net.inject("A", "Serial0", forge_esp(sa, 3, body, nh=17))
    assert lan_a == []
    assert a.drops["bad padding"] == 2 and a.drops["bad next header"] == 1, a.drops
    detail = a.exec("show crypto ipsec sa detail")
    assert "#pkts invalid prot (recv) 1" in detail
    assert "#pkts decap failed (rcv) 2" in detail


def test_inner_packet_outside_the_sa_flow_is_dropped():
    net, a, lan_a, bundle, sa = setup()
    # authentic ESP from the peer, but the inner source is not in 10.2.2.0/24
    net.inject("A", "Serial0", forge_esp(sa, 1, inner(src="10.66.0.1")))
    net.inject("A", "Serial0", forge_esp(sa, 2, inner(dst="10.1.9.9")))
    check_dropped(a, lan_a, "flow not permitted", count=2)
    assert "#pkts invalid identity (recv) 2" in a.exec("show crypto ipsec sa detail")
    # and a garbled inner datagram
    net.inject("A", "Serial0", forge_esp(sa, 3, b"\x45" + bytes(30)))
    assert a.drops["bad inner packet"] == 1


def test_unprotected_traffic_that_should_be_protected_is_dropped():
    net, a, lan_a, bundle, sa = setup()
    net.inject("A", "Serial0", inner())
    check_dropped(a, lan_a, "unprotected packet matches crypto access list")
    # traffic the crypto ACL does not claim passes in the clear
    net.inject("A", "Serial0", inner(src="172.16.0.1"))
    assert len(lan_a) == 1


def test_manual_sas_have_no_replay_protection_as_the_spec_says():
    net, a, b, lan_a, lan_b = two_routers("esp-des esp-sha-hmac")
    net.inject("B", "Ethernet0", raw(IP(src="10.2.2.7", dst="10.1.1.5") / ICMP()))
    wire = net.wire[("B", "Serial0")][0]
    net.inject("A", "Serial0", wire)
    net.inject("A", "Serial0", wire)
    assert len(lan_a) == 3
    assert "replay detection support: N" in a.exec("show crypto ipsec sa")


def test_random_garbage_never_crashes_and_is_never_delivered():
    net, a, lan_a, bundle, sa = setup()
    rnd = random.Random(5)
    good = forge_esp(sa, 1, inner())
    clear_to_router = 0
    for i in range(400):
        kind = i % 4
        if kind == 0:
            data = rnd.randbytes(rnd.randrange(0, 200))
        elif kind == 1:  # a valid header in front of noise
            proto = rnd.choice([50, 51, 4, 6, 17])
            noise = rnd.randbytes(rnd.randrange(0, 120))
            data = raw(IP(src=sa.peer, dst=sa.local, proto=proto) / Raw(noise))
            clear_to_router += 2 * (proto not in (50, 51))  # Serial0 and Ethernet0 take it
        else:  # a genuine packet with bytes flipped
            b = bytearray(good)
            for _ in range(rnd.randrange(1, 4)):
                b[rnd.randrange(20, len(b))] ^= 1 << rnd.randrange(8)
            data = bytes(b)
        for iface in ("Serial0", "Ethernet0", "Nope0"):
            net.inject("A", iface, data)
    assert lan_a == []
    # every datagram was dropped with a reason, or (clear protocols addressed to the router
    # itself, arriving on an interface without crypto map) taken by the router
    assert sum(a.drops.values()) + a.counters["delivered"] == 1200
    assert a.counters["delivered"] == clear_to_router
    assert a.drops["internal error"] == 0


def test_ah_forgeries_replays_and_truncation():
    from scapy.layers.ipsec import AH as ScapyAH
    from scapy.layers.ipsec import SecurityAssociation as ScapySA

    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers("ah-sha-hmac")
    sa = ba.inbound[0]

    def scapy_ah(key: bytes):
        return ScapySA(
            ScapyAH,
            spi=sa.spi,
            auth_algo="HMAC-SHA1-96",
            auth_key=key,
            tunnel_header=IP(src=sa.peer, dst=sa.local),
        )

    good = scapy_ah(sa.auth_key)
    forged = scapy_ah(bytes(20))
    inner_pkt = IP(inner())
    net.inject("A", "Serial0", raw(good.encrypt(inner_pkt, seq_num=1)))
    assert len(lan_a) == 1
    net.inject("A", "Serial0", raw(forged.encrypt(inner_pkt, seq_num=2)))
    net.inject("A", "Serial0", raw(good.encrypt(inner_pkt, seq_num=1)))
    cut = IP(raw(good.encrypt(inner_pkt, seq_num=3))[:40])
    del cut.len, cut.chksum
    net.inject("A", "Serial0", raw(cut))
    assert len(lan_a) == 1
    assert a.drops["bad icv"] == 1 and a.drops["replay"] == 1 and a.drops["truncated"] == 1, a.drops
    # the genuine seq 2 is still acceptable: the forgery did not move the window
    net.inject("A", "Serial0", raw(good.encrypt(inner_pkt, seq_num=2)))
    assert len(lan_a) == 2
