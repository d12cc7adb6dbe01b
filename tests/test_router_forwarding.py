"""Plain forwarding and interface filters of the router, and how they meet IPsec.

Scapy parses what the router sends (checksums, ICMP replies, fragments) and reassembles fragments
(``scapy.layers.inet.defragment``) as the reference."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP, defragment
from scapy.packet import Raw, raw

from host.clock import Clock
from host.router import Router
from tests.router_helpers import two_routers

BASIC = """
hostname R
interface Ethernet0
 ip address 10.1.1.1 255.255.255.0
interface Serial0
 ip address 192.168.0.1 255.255.255.252
interface Loopback0
 ip address 20.20.20.1 255.255.255.255
ip route 10.9.0.0 255.255.0.0 192.168.0.2
ip route 10.9.9.0 255.255.255.0 Ethernet0
"""


def router(extra: str = "") -> Router:
    return Router.from_config(BASIC + extra, clock=Clock(), rng=1)


def test_routes_connected_static_longest_prefix_and_ttl():
    r = router()
    pkt = raw(IP(src="10.1.1.5", dst="10.9.1.1", ttl=9) / UDP(sport=1, dport=2))
    ((iface, out),) = r.receive("Ethernet0", pkt)
    got = IP(out)
    assert iface == "Serial0" and got.ttl == 8
    assert got.chksum == IP(raw(IP(out))).chksum and IP(raw(got)).chksum == got.chksum
    del got.chksum
    assert raw(IP(raw(got))) == out  # Scapy computes the same header checksum
    ((iface, _),) = r.receive("Serial0", raw(IP(src="1.1.1.1", dst="10.9.9.4") / UDP()))
    assert iface == "Ethernet0"  # the /24 static route beats the /16
    assert r.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="8.8.8.8") / UDP())) == []
    assert r.drops["no route"] == 1
    assert r.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.9.1.1", ttl=1) / UDP())) == []
    assert r.drops["ttl exceeded"] == 1


def test_router_answers_echo_to_any_of_its_addresses():
    r = router()
    for dst in ("10.1.1.1", "20.20.20.1"):
        req = IP(src="10.1.1.5", dst=dst) / ICMP(type=8, id=3, seq=4) / Raw(b"abcdefg")
        ((iface, out),) = r.receive("Ethernet0", raw(req))
        rep = IP(out)
        assert iface == "Ethernet0" and (rep.src, rep.dst) == (dst, "10.1.1.5")
        assert rep[ICMP].type == 0 and (rep[ICMP].id, rep[ICMP].seq) == (3, 4)
        assert bytes(rep[Raw]) == b"abcdefg"
        chk = rep[ICMP].chksum
        del rep[ICMP].chksum
        assert IP(raw(rep))[ICMP].chksum == chk
    # a corrupted echo request is taken but not answered
    bad = bytearray(raw(IP(src="10.1.1.5", dst="10.1.1.1") / ICMP() / Raw(b"xy")))
    bad[-1] ^= 0xFF
    assert r.receive("Ethernet0", bytes(bad)) == []


def test_interface_access_groups_in_and_out():
    r = router(
        "access-list 110 permit tcp any any eq 23\n"
        "access-list 111 deny udp any any\naccess-list 111 permit ip any any\n"
        "interface Ethernet0\n ip access-group 110 in\ninterface Serial0\n ip access-group 111 out\n"
    )
    telnet = raw(IP(src="10.1.1.5", dst="10.9.1.1") / TCP(dport=23))
    assert len(r.receive("Ethernet0", telnet)) == 1
    assert r.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.9.1.1") / TCP(dport=80))) == []
    assert r.drops["denied by inbound access list"] == 1
    assert r.receive("Serial0", raw(IP(src="1.1.1.1", dst="10.9.1.1") / UDP())) == []
    assert r.drops["denied by outbound access list"] == 1


ACL_LINES = """access-list 110 permit tcp any any eq 23
access-list 110 permit tcp any eq 23 any
access-list 110 permit icmp any any
{ipsec}
interface Serial0
 ip access-group 110 in
 ip access-group 110 out
"""
IPSEC_LINES = """access-list 110 permit 50 any any
access-list 110 permit 51 any any
access-list 110 permit udp any eq 500 any eq 500"""


def test_interface_acl_must_permit_esp_as_the_spec_says():
    blocked = ACL_LINES.format(ipsec="")
    net, a, b, lan_a, lan_b = two_routers("esp-des esp-md5-hmac", extra_a=blocked, extra_b=blocked)
    ping = raw(IP(src="10.1.1.5", dst="10.2.2.7") / ICMP())
    net.inject("A", "Ethernet0", ping)
    assert lan_b == [] and a.drops["denied by outbound access list"] == 1
    # the ESP packet, had it left, is refused by B's inbound filter too
    from host.ipsec import esp

    wire = esp.encapsulate(a.bundles()[0].outbound[0], ping)
    net.inject("B", "Serial0", wire)
    assert lan_b == [] and b.drops["denied by inbound access list"] == 1
    # with the spec's three lines added, the same traffic passes
    for r in (a, b):
        assert r.configure(IPSEC_LINES) == []
    net.inject("A", "Ethernet0", ping)
    assert len(lan_b) == 1


def test_outer_fragmentation_at_the_interface_mtu_and_reassembly_at_the_peer():
    net, a, b, lan_a, lan_b = two_routers(
        "ah-sha-hmac esp-des esp-sha-hmac", extra_a="interface Serial0\n mtu 576\n"
    )
    big = raw(
        IP(src="10.1.1.5", dst="10.2.2.7", flags="DF") / UDP(sport=7, dport=7) / Raw(bytes(range(256)) * 5)
    )
    net.inject("A", "Ethernet0", big)
    frags = net.wire[("A", "Serial0")]
    assert len(frags) == 3 and all(len(f) <= 576 for f in frags)
    whole = defragment([IP(f) for f in frags])
    assert len(whole) == 1 and whole[0].proto == 51  # AH around ESP, reassembled by Scapy
    assert len(lan_b) == 1
    got = IP(lan_b[0])
    assert bytes(got[UDP].payload) == bytes(range(256)) * 5 and got.flags.DF


def test_clear_datagram_with_df_too_big_is_dropped():
    r = router("interface Serial0\n mtu 576\n")
    big = raw(IP(src="10.1.1.5", dst="10.9.1.1", flags="DF") / Raw(bytes(1000)))
    assert r.receive("Ethernet0", big) == []
    assert r.drops["needs fragmentation and DF set"] == 1
    small_ok = raw(IP(src="10.1.1.5", dst="10.9.1.1") / Raw(bytes(1000)))
    assert len(r.receive("Ethernet0", small_ok)) == 2


def test_shutdown_interface_neither_receives_nor_sends():
    r = router("interface Serial0\n shutdown\n")
    assert r.receive("Serial0", raw(IP(src="1.1.1.1", dst="10.1.1.9") / UDP())) == []
    assert r.drops["interface down"] == 1
    assert r.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.9.1.1") / UDP())) == []
    assert r.drops["no route"] == 1  # its connected network and the routes through it are gone


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=1450), min_size=1, max_size=6),
    transforms=st.sampled_from(["esp-des esp-sha-hmac", "ah-md5-hmac", "ah-sha-hmac esp-des esp-md5-hmac"]),
)
def test_any_size_crosses_a_small_mtu_link_intact(sizes, transforms):
    mtu = "interface Serial0\n mtu 576\n"
    net, a, b, lan_a, lan_b = two_routers(transforms, extra_a=mtu, extra_b=mtu)
    sent = []
    for i, n in enumerate(sizes):
        pkt = raw(IP(src="10.1.1.5", dst="10.2.2.7", id=i) / UDP(sport=i, dport=9) / Raw(bytes([i]) * n))
        sent.append(pkt)
        net.inject("A", "Ethernet0", pkt)
    assert all(len(f) <= 576 for f in net.wire[("A", "Serial0")])
    got = [IP(p) for p in lan_b]
    assert [bytes(g[UDP].payload) for g in got] == [bytes(IP(s)[UDP].payload) for s in sent]
    assert not a.drops and not b.drops


def test_udp_handlers_receive_datagrams_for_the_router_and_answer():
    r = router()
    seen = []

    def echo(datagram: bytes, iface):
        seen.append((IP(datagram)[UDP].dport, iface))
        got = IP(datagram)
        return [raw(IP(src=got.dst, dst=got.src) / UDP(sport=500, dport=got[UDP].sport) / Raw(b"ok"))]

    r.udp_handlers[500] = echo
    ((iface, out),) = r.receive(
        "Ethernet0", raw(IP(src="10.1.1.5", dst="10.1.1.1") / UDP(sport=500, dport=500))
    )
    assert seen == [(500, "Ethernet0")] and iface == "Ethernet0" and bytes(IP(out)[Raw]) == b"ok"
    assert r.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.1.1.1") / UDP(dport=501))) == []
