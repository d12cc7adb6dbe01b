"""Nesting (the spec's Figure 1) and redundant interfaces sharing a ``local-address`` database.

Figure 1: router A protects traffic for router C (the inner peer, ESP with encryption and
authentication) and, before sending it, encapsulates it again for router B (the outer peer,
AH: authentication only). B verifies and strips its layer and forwards the inner ESP to C, which
decrypts it. Scapy's SecurityAssociation peels both layers off the wire packet as the reference.
"""

from __future__ import annotations

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.ipsec import AH as ScapyAH
from scapy.layers.ipsec import ESP as ScapyESP
from scapy.layers.ipsec import SecurityAssociation as ScapySA
from scapy.packet import Raw, raw

from tests.router_helpers import Net

A_IP, B_A, B_C, C_IP = "192.168.1.1", "192.168.1.2", "192.168.2.1", "192.168.2.2"
ESP_KEY, ESP_AUTH = "0123456789abcdef", "11" * 20
ESP_KEY2, ESP_AUTH2 = "fedcba9876543210", "22" * 20
AH_KEY, AH_KEY2 = "33" * 20, "44" * 20

ROUTER_A = f"""
hostname A
crypto ipsec transform-set inner esp-des esp-sha-hmac
crypto ipsec transform-set outer ah-sha-hmac
access-list 101 permit ip 10.1.1.0 0.0.0.255 10.3.3.0 0.0.0.255
access-list 102 permit 50 host {A_IP} host {C_IP}
crypto map nest 10 ipsec-manual
 match address 101
 set transform-set inner
 set peer {C_IP}
 set session-key outbound esp 500 cipher {ESP_KEY} authenticator {ESP_AUTH}
 set session-key inbound esp 501 cipher {ESP_KEY2} authenticator {ESP_AUTH2}
crypto map nest 20 ipsec-manual
 match address 102
 set transform-set outer
 set peer {B_A}
 set session-key outbound ah 600 {AH_KEY}
 set session-key inbound ah 601 {AH_KEY2}
interface Ethernet0
 ip address 10.1.1.1 255.255.255.0
interface Serial0
 ip address {A_IP} 255.255.255.0
 crypto map nest
ip route 0.0.0.0 0.0.0.0 {B_A}
"""

ROUTER_B = f"""
hostname B
crypto ipsec transform-set outer ah-sha-hmac
access-list 102 permit 50 host {C_IP} host {A_IP}
crypto map toA 10 ipsec-manual
 match address 102
 set transform-set outer
 set peer {A_IP}
 set session-key outbound ah 601 {AH_KEY2}
 set session-key inbound ah 600 {AH_KEY}
interface Serial0
 ip address {B_A} 255.255.255.0
 crypto map toA
interface Serial1
 ip address {B_C} 255.255.255.0
ip route 10.3.3.0 255.255.255.0 {C_IP}
ip route 10.1.1.0 255.255.255.0 {A_IP}
"""

ROUTER_C = f"""
hostname C
crypto ipsec transform-set inner esp-des esp-sha-hmac
access-list 101 permit ip 10.3.3.0 0.0.0.255 10.1.1.0 0.0.0.255
crypto map toA 10 ipsec-manual
 match address 101
 set transform-set inner
 set peer {A_IP}
 set session-key outbound esp 501 cipher {ESP_KEY2} authenticator {ESP_AUTH2}
 set session-key inbound esp 500 cipher {ESP_KEY} authenticator {ESP_AUTH}
interface Ethernet0
 ip address 10.3.3.1 255.255.255.0
interface Serial0
 ip address {C_IP} 255.255.255.0
 crypto map toA
ip route 0.0.0.0 0.0.0.0 {B_C}
"""


def nested_net():
    net = Net()
    net.add("A", ROUTER_A)
    net.add("B", ROUTER_B, seed=2)
    net.add("C", ROUTER_C, seed=3)
    net.link("A", "Serial0", "B", "Serial0")
    net.link("B", "Serial1", "C", "Serial0")
    return net, net.lan("A", "Ethernet0"), net.lan("C", "Ethernet0")


def test_figure_1_nesting_both_ways():
    net, lan_a, lan_c = nested_net()
    inner = raw(IP(src="10.1.1.5", dst="10.3.3.7", ttl=64) / UDP(sport=4, dport=5) / Raw(b"secret!" * 5))
    net.inject("A", "Ethernet0", inner)
    assert len(lan_c) == 1, {n: r.drops for n, r in net.routers.items()}
    got = IP(lan_c[0])
    assert (got.src, got.dst, bytes(got[Raw])) == ("10.1.1.5", "10.3.3.7", b"secret!" * 5)
    # on the A-B link: AH from A to B around ESP from A to C
    wire = IP(net.wire[("A", "Serial0")][0])
    assert (wire.src, wire.dst, wire.proto) == (A_IP, B_A, 51)
    outer_sa = ScapySA(
        ScapyAH,
        spi=600,
        auth_algo="HMAC-SHA1-96",
        auth_key=bytes.fromhex(AH_KEY),
        tunnel_header=IP(src=A_IP, dst=B_A),
    )
    # keep AH's payload raw: Scapy's verify would otherwise pick the inner ESP layer
    body = raw(wire[ScapyAH].payload)
    wire[ScapyAH].remove_payload()
    mid = IP(raw(outer_sa.decrypt(wire / Raw(body))))
    assert (mid.src, mid.dst, mid.proto) == (A_IP, C_IP, 50)
    inner_sa = ScapySA(
        ScapyESP,
        spi=500,
        crypt_algo="DES",
        crypt_key=bytes.fromhex(ESP_KEY),
        auth_algo="HMAC-SHA1-96",
        auth_key=bytes.fromhex(ESP_AUTH),
        tunnel_header=IP(src=A_IP, dst=C_IP),
    )
    plain = inner_sa.decrypt(IP(raw(mid)))
    assert bytes(plain[Raw]) == b"secret!" * 5
    # on the B-C link only the inner ESP travels
    assert IP(net.wire[("B", "Serial1")][0]).proto == 50
    # the way back: C's ESP is wrapped in AH by B, A peels both
    net.inject("C", "Ethernet0", raw(IP(src="10.3.3.7", dst="10.1.1.5") / ICMP() / Raw(b"back")))
    assert len(lan_a) == 1 and bytes(IP(lan_a[0])[Raw]) == b"back"
    assert IP(net.wire[("B", "Serial0")][0]).proto == 51


def test_inner_esp_without_outer_protection_is_dropped_by_a():
    net, lan_a, lan_c = nested_net()
    c = net.routers["C"]
    out = c.receive("Ethernet0", raw(IP(src="10.3.3.7", dst="10.1.1.5") / ICMP()))
    ((_, esp_pkt),) = out
    # delivered to A directly (bypassing B's AH): A's entry 20 requires it under AH
    net.inject("A", "Serial0", esp_pkt)
    assert lan_a == []
    a = net.routers["A"]
    assert a.drops["unprotected packet matches crypto access list"] == 1
    assert sum(a.drops.values()) == 1


SHARED = """
hostname R
crypto ipsec transform-set ts esp-des esp-md5-hmac
access-list 101 permit ip 10.1.1.0 0.0.0.255 10.2.2.0 0.0.0.255
crypto map toSomewhere 10 ipsec-manual
 match address 101
 set transform-set ts
 set peer 172.20.0.1
 set session-key inbound esp 700 cipher 0011223344556677 authenticator 00112233445566778899aabbccddeeff
 set session-key outbound esp 701 cipher 7766554433221100 authenticator ffeeddccbbaa99887766554433221100
interface Loopback0
 ip address 20.20.20.1 255.255.255.255
interface Ethernet0
 ip address 10.1.1.1 255.255.255.0
interface Serial0
 ip address 172.16.0.1 255.255.255.0
 crypto map toSomewhere
interface Serial1
 ip address 172.17.0.1 255.255.255.0
 crypto map toSomewhere
ip route 10.2.2.0 255.255.255.0 172.16.0.2
ip route 172.20.0.0 255.255.255.0 172.16.0.2
"""

PEER = """
hostname P
crypto ipsec transform-set ts esp-des esp-md5-hmac
access-list 101 permit ip 10.2.2.0 0.0.0.255 10.1.1.0 0.0.0.255
crypto map m 10 ipsec-manual
 match address 101
 set transform-set ts
 set peer 20.20.20.1
 set session-key inbound esp 701 cipher 7766554433221100 authenticator ffeeddccbbaa99887766554433221100
 set session-key outbound esp 700 cipher 0011223344556677 authenticator 00112233445566778899aabbccddeeff
interface Ethernet0
 ip address 10.2.2.1 255.255.255.0
interface Serial0
 ip address 172.20.0.1 255.255.255.0
 crypto map m
ip route 0.0.0.0 0.0.0.0 172.20.0.2
"""


def test_local_address_shares_one_database_between_redundant_interfaces():
    net = Net()
    r = net.add("R", SHARED + "crypto map toSomewhere local-address Loopback0\n")
    p = net.add("P", PEER, seed=2)
    db = r.database_for("Serial0")
    assert db is r.database_for("Serial1") and db.local == "20.20.20.1"
    assert len(r.bundles()) == 1  # one set of SAs for both interfaces
    out = r.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.2.2.7") / UDP()))
    ((iface, wire),) = out
    assert iface == "Serial0" and IP(wire).src == "20.20.20.1"
    ((p_iface, delivered),) = p.receive("Serial0", wire)
    assert p_iface == "Ethernet0" and IP(delivered).dst == "10.2.2.7"
    # P's reply may come back through either interface: both accept it
    for i, iface in enumerate(("Serial0", "Serial1")):
        ((_, esp_back),) = p.receive("Ethernet0", raw(IP(src="10.2.2.7", dst="10.1.1.5", id=i) / UDP()))
        ((got_iface, _),) = r.receive(iface, esp_back)
        assert got_iface == "Ethernet0"
    assert r.bundles()[0].counters.decaps == 2 and not r.drops
    text = r.exec("show crypto ipsec sa")
    assert text.count("local addr. 20.20.20.1") == 2 and text.count("spi: 0x2BC(700)") == 2


def test_without_local_address_each_interface_has_its_own_database():
    net = Net()
    r = net.add("R", SHARED)
    d0, d1 = r.database_for("Serial0"), r.database_for("Serial1")
    assert d0 is not d1 and (d0.local, d1.local) == ("172.16.0.1", "172.17.0.1")
    assert len(r.bundles()) == 2
    conn_ids = [sa.conn_id for sa in r.security_associations()]
    assert len(set(conn_ids)) == 4
    ((_, wire),) = r.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.2.2.7") / UDP()))
    assert IP(wire).src == "172.16.0.1"
    # adding local-address afterwards merges them (the per-interface SAs are replaced)
    r.configure("crypto map toSomewhere local-address Loopback0\n")
    assert r.database_for("Serial0") is r.database_for("Serial1") and len(r.bundles()) == 1
    assert set(r.engine.conn_ids()) == {sa.conn_id for sa in r.security_associations()}
