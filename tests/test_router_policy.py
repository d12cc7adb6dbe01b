"""The spec's "more elaborate" configuration on one router: which entry claims which traffic, what
is asked of key management, what is dropped, and the shared ``local-address`` database.

The configuration is the spec's, with what its text leaves out filled in: interface addresses
and masks, the "existing" interface access lists (permit everything else), a route to the remote
network, and ``crypto ipsec transform-set`` where the sample wrote ``crypto transform-set``."""

from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import raw

from host.router import Router, SAKeys

ELABORATE = """
hostname R
access-list 110 permit 50 any any
access-list 110 permit 51 any any
access-list 110 permit udp any eq 500 any eq 500
access-list 110 permit ip any any
access-list 111 permit 50 any any
access-list 111 permit 51 any any
access-list 111 permit udp any eq 500 any eq 500
access-list 111 permit ip any any
crypto ipsec security-association lifetime seconds 600
crypto ipsec security-association lifetime kilobytes 100000
access-list 101 permit tcp 10.1.2.0 0.0.0.255 172.20.3.0 0.0.0.255 eq 23
access-list 101 permit tcp 10.1.2.0 0.0.0.255 eq 23 172.20.3.0 0.0.0.255
access-list 102 permit tcp 10.2.4.0 0.0.0.255 eq 80 172.20.3.0 0.0.0.255
crypto ipsec transform-set encryp-auth esp-des esp-sha-hmac
crypto ipsec transform-set auth-only ah-sha-hmac
crypto map toSomewhere 10 ipsec-isakmp
  match address 101
  set transform-set encryp-auth
  set peer 172.20.0.1
  set peer 198.168.0.1
  set pfs group1
  set security-association lifetime seconds 500
  set security-association lifetime kilobytes 80000
crypto map toSomewhere 20 ipsec-isakmp
  match address 102
  set transform-set auth-only
  set peer 172.20.0.1
  set peer 198.168.0.1
  set pfs group1
  set security-association lifetime seconds 500
  set security-association lifetime kilobytes 80000
crypto map toSomewhere 30 ipsec-isakmp dynamic mydynamicmap
crypto dynamic-map mydynamicmap 10
  set transform-set encryp-auth
interface Loopback0
  ip address 20.20.20.1 255.255.255.255
interface Ethernet0
  ip address 10.1.2.1 255.255.255.0
interface Ethernet1
  ip address 10.2.4.1 255.255.255.0
interface Serial0
  ip address 172.16.0.1 255.255.255.0
  ip access-group 110 in
  ip access-group 111 out
  crypto map toSomewhere
interface Serial1
  ip address 172.17.0.1 255.255.255.0
  crypto map toSomewhere
crypto map toSomewhere local-address Loopback0
ip route 172.20.0.0 255.255.0.0 172.16.0.2
ip route 198.168.0.0 255.255.255.0 172.17.0.2
"""


def tcp(src, dst, sport, dport) -> bytes:
    return raw(IP(src=src, dst=dst) / TCP(sport=sport, dport=dport))


def test_entries_claim_their_traffic_and_ask_key_management():
    r = Router.from_config(ELABORATE)
    r.exec("debug crypto ipsec")
    assert r.receive("Ethernet0", tcp("10.1.2.5", "172.20.3.9", 1025, 23)) == []
    assert r.receive("Ethernet0", tcp("10.1.2.5", "172.20.3.9", 23, 1025)) == []
    assert r.receive("Ethernet1", tcp("10.2.4.7", "172.20.3.9", 80, 1030)) == []
    reqs = r.key_manager.requests
    assert [(q.entry.seq, q.flow.local_text(), q.flow.remote_text()) for q in reqs] == [
        (10, "10.1.2.0/255.255.255.0/6/0", "172.20.3.0/255.255.255.0/6/23"),
        (10, "10.1.2.0/255.255.255.0/6/23", "172.20.3.0/255.255.255.0/6/0"),
        (20, "10.2.4.0/255.255.255.0/6/80", "172.20.3.0/255.255.255.0/6/0"),
    ]
    assert all(q.local == "20.20.20.1" and q.peers == ["172.20.0.1", "198.168.0.1"] for q in reqs)
    assert all(q.lifetime == (500, 80000) and q.pfs == "group1" for q in reqs)
    assert reqs[2].transform_sets == ["auth-only"]
    assert r.drops["no sa (requested from key management)"] == 3
    assert any("lifedur= 500s and 80000kb" in line and "protocol= AH" in line for line in r.log)
    # traffic no entry claims leaves in the clear, through the interface ACLs
    ((iface, out),) = r.receive("Ethernet0", raw(IP(src="10.1.2.5", dst="172.20.3.9") / UDP(dport=53)))
    assert iface == "Serial0" and IP(out).proto == 17


def test_unprotected_inbound_telnet_is_dropped_on_both_interfaces():
    r = Router.from_config(ELABORATE)
    for iface in ("Serial0", "Serial1"):
        assert r.receive(iface, tcp("172.20.3.9", "10.1.2.5", 23, 1025)) == []
    assert r.drops["unprotected packet matches crypto access list"] == 2
    assert len(r.receive("Serial1", raw(IP(src="172.20.3.9", dst="10.1.2.5") / UDP()))) == 1


def test_negotiated_sas_in_the_shared_database_serve_both_interfaces():
    r = Router.from_config(ELABORATE)
    r.receive("Ethernet0", tcp("10.1.2.5", "172.20.3.9", 1025, 23))
    (req,) = r.key_manager.requests
    keys = {
        ("outbound", "esp"): SAKeys(0x4001, bytes.fromhex("0101010101010101"), bytes(20)),
        ("inbound", "esp"): SAKeys(0x4002, bytes.fromhex("0202020202020202"), bytes(range(20))),
    }
    bundle = r.install_sas(
        database=req.database,
        entry=("toSomewhere", 10),
        peer=req.peers[0],
        flow=req.flow,
        transform_set="encryp-auth",
        keys=keys,
        lifetime=req.lifetime,
    )
    assert r.database_for("Serial0") is r.database_for("Serial1") is req.database
    ((iface, out),) = r.receive("Ethernet0", tcp("10.1.2.5", "172.20.3.9", 1026, 23))
    wire = IP(out)
    assert iface == "Serial0" and (wire.src, wire.dst, wire.proto) == ("20.20.20.1", "172.20.0.1", 50)
    assert bundle.counters.encaps == 1
    text = r.exec("show crypto ipsec sa")
    assert text.count("current outbound spi: 4001") == 2  # listed under Serial0 and Serial1
    assert "sa timing: remaining key lifetime (k/sec): (79999/500)" in text
