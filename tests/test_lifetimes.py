"""SA lifetimes on the virtual clock and traffic volume (spec, "How These Lifetimes Work").

Key management does not exist yet; a key manager that records the requests stands in for IKE,
and a test installs the "negotiated" SAs through Router.install_sas as IKE will.
"""

from __future__ import annotations

from scapy.layers.inet import IP, UDP
from scapy.packet import Raw, raw

from host.ipsec import esp
from host.ipsec.sa import Protocol
from tests.router_helpers import isakmp_routers, negotiate, two_routers


def udp(n: int = 100, sport: int = 1000) -> bytes:
    return raw(IP(src="10.1.1.5", dst="10.2.2.7") / UDP(sport=sport, dport=9) / Raw(b"u" * n))


def kinds(router, kind):
    return [ev for ev in router.recent_events if ev.kind == kind]


def test_time_lifetime_soft_rekey_then_hard_expiry():
    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers(lifetime=(120, 4608000))
    net.inject("A", "Ethernet0", udp())
    assert len(lan_b) == 1
    net.clock.advance_to(89.9)
    assert kinds(a, "rekey") == [] and a.key_manager.counts["rekey"] == 0
    net.clock.advance_to(90)  # 30 seconds before the seconds lifetime
    assert len(kinds(a, "rekey")) == 1
    req = a.key_manager.requests[-1]
    assert req.reason == "rekey" and req.replaces is ba and req.peers[0] == "192.168.0.2"
    assert req.lifetime == (3600, 4608000)  # the entry's (global) lifetime is what is proposed
    # B's SAs carried traffic too (inbound): it asks as well
    assert len(kinds(b, "rekey")) == 1
    assert "(4608000/30)" in a.exec("show crypto ipsec sa")
    net.clock.advance_to(119.5)
    assert a.bundles() == [ba]
    net.clock.advance_to(120)
    expired = kinds(a, "sa_expired")
    assert len(expired) == 2 and {e.data["why"] for e in expired} == {"seconds"}
    assert a.bundles() == [] and a.engine.conn_ids() == []
    # with no SA the next packet is dropped and new SAs are requested
    net.inject("A", "Ethernet0", udp())
    assert len(lan_b) == 1
    assert a.drops["no sa (requested from key management)"] == 1
    assert a.key_manager.counts["traffic"] == 1


def test_idle_sa_is_not_renegotiated():
    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers(lifetime=(120, 4608000))
    net.clock.advance_to(200)
    assert kinds(a, "rekey") == [] and a.key_manager.counts == {}
    assert len(kinds(a, "sa_expired")) == 2 and a.bundles() == []


def test_volume_lifetime_soft_and_hard_thresholds():
    kb = 2560
    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers(lifetime=(3600, kb))
    out_sa = ba.outbound[0]
    size = 60000  # big datagrams: few packets, fragmented on the link
    soft_at = hard_at = None
    for i in range(60):
        a.receive_burst([("Ethernet0", udp(size, sport=i))])
        if soft_at is None and kinds(a, "rekey"):
            soft_at = out_sa.counters.bytes
        if kinds(a, "sa_expired"):
            hard_at = out_sa.counters.bytes
            break
    assert soft_at is not None and hard_at is not None
    per_packet = size + 28
    assert soft_at - per_packet < (kb - 256) * 1024 <= soft_at
    assert hard_at - per_packet < kb * 1024 <= hard_at
    assert kinds(a, "sa_expired")[0].data["why"] == "kilobytes"
    assert len(kinds(a, "rekey")) == 1  # raised once
    assert a.bundles() == []


def test_rekeyed_sas_take_over_and_old_ones_expire():
    net, a, b, lan_a, lan_b, (old_a, old_b) = isakmp_routers(lifetime=(120, 4608000))
    net.inject("A", "Ethernet0", udp())
    net.clock.advance_to(90)
    assert len(kinds(a, "rekey")) == 1
    # "IKE" completes the negotiation: new sibling SAs on both sides
    new_a, new_b = negotiate(a, b, lifetime=(120, 4608000), spi_base=0x2000, seed=9)
    net.inject("A", "Ethernet0", udp(sport=2))
    wire = IP(net.wire[("A", "Serial0")][-1])
    assert int.from_bytes(raw(wire)[20:24], "big") == new_a.outbound[0].spi
    assert len(lan_b) == 2
    # a packet still in flight under the old SAs is accepted until they expire
    late = esp.encapsulate(old_a.outbound[0], udp(sport=3))
    net.inject("B", "Serial0", late)
    assert len(lan_b) == 3
    net.clock.advance_to(120)
    assert old_a not in a.bundles() and new_a in a.bundles()
    net.inject("A", "Ethernet0", udp(sport=4))
    assert len(lan_b) == 4 and not a.drops


def test_manual_sas_never_expire():
    net, a, b, lan_a, lan_b = two_routers("ah-sha-hmac esp-des")
    net.clock.advance(10 * 86400)
    for i in range(3):
        net.inject("A", "Ethernet0", udp(sport=i))
    assert len(lan_b) == 3
    assert kinds(a, "sa_expired") == [] and kinds(a, "rekey") == []
    assert "sa timing: remaining key lifetime (k/sec): (0/0)" in a.exec("show crypto ipsec sa")
    assert {sa.protocol for sa in a.security_associations()} == {Protocol.AH, Protocol.ESP}


def test_per_map_lifetime_overrides_the_global_one():
    extra = "crypto map vpn 10\n set security-association lifetime seconds 300\n"
    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers(extra_a=extra)
    assert ba.lifetime == (300, 4608000) and bb.lifetime == (3600, 4608000)
    net.inject("A", "Ethernet0", udp())
    net.clock.advance_to(270)
    assert len(kinds(a, "rekey")) == 1 and kinds(b, "rekey") == []
    net.clock.advance_to(300)
    assert a.bundles() == [] and b.bundles() == [bb]


def test_key_manager_hears_of_deleted_bundles():
    class Recorder:
        def __init__(self):
            self.deleted = []
            self.requests = []

        def request_sa(self, request):
            self.requests.append(request)

        def sas_deleted(self, bundle, why):
            self.deleted.append((bundle, why))

    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers(lifetime=(120, 4608000))
    a.key_manager = km = Recorder()
    net.clock.advance_to(120)
    assert km.deleted == [(ba, "seconds")]
    (ba2, _) = negotiate(a, b, spi_base=0x3000)
    a.exec("clear crypto sa")
    assert km.deleted[-1] == (ba2, "cleared")


def test_rekey_of_sas_from_a_dynamic_map_uses_the_dynamic_entry_and_the_current_peer():
    from host.policy import FlowIdentity
    from host.router import Router, SAKeys
    from tests.router_helpers import isakmp_pair_config

    cfg = isakmp_pair_config("A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", "esp-des")
    cfg += (
        "crypto ipsec transform-set dyn-ts esp-des esp-md5-hmac\n"
        "crypto dynamic-map dyn 10\n set transform-set dyn-ts\n"
        " set security-association lifetime seconds 200\n"
        "crypto map vpn 30 ipsec-isakmp dynamic dyn\n"
    )
    a = Router.from_config(cfg)
    flow = FlowIdentity.of("10.1.1.0", "255.255.255.0", "10.7.7.0", "255.255.255.0")
    keys = {(d, "esp"): SAKeys(0x700 + i, bytes(8), bytes(16)) for i, d in enumerate(("inbound", "outbound"))}
    bundle = a.install_sas(
        database="Serial0",
        entry=("vpn", 30),
        peer="192.168.0.9",
        flow=flow,
        transform_set="dyn-ts",
        keys=keys,
        lifetime=(200, 4608000),
        dynamic=("dyn", 10),
    )
    # the SAs act as a temporary crypto map entry: traffic of their flow is protected by them
    a.configure("ip route 10.7.7.0 255.255.255.0 192.168.0.2\n")
    ((_, wire),) = a.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.7.7.7") / UDP()))
    assert wire[9] == 50 and int.from_bytes(wire[20:24], "big") == 0x701
    # and its unprotected inbound traffic is refused
    assert a.receive("Serial0", raw(IP(src="10.7.7.7", dst="10.1.1.5") / UDP())) == []
    assert a.drops["unprotected packet matches crypto access list"] == 1
    a.clock.advance_to(170)
    (req,) = a.key_manager.requests
    assert req.reason == "rekey" and req.dynamic is not None and req.dynamic.map_name == "dyn"
    assert (
        req.replaces is bundle
        and req.peers == ["192.168.0.9"]
        and req.transform_sets == ["dyn-ts"]
        and req.lifetime[0] == 200
    )


def test_clearing_counters_does_not_extend_a_lifetime():
    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers(lifetime=(120, 2560))
    a.receive_burst([("Ethernet0", udp(60000, sport=i)) for i in range(20)])  # ~1.2 MB
    before = a.lifetimes.remaining(ba, ba.outbound[0])
    a.exec("clear crypto sa counters")
    assert "#pkts encaps: 0" in a.exec("show crypto ipsec sa")
    assert a.lifetimes.remaining(ba, ba.outbound[0]) == before
    net.clock.advance_to(90)
    assert len(kinds(a, "rekey")) == 1  # it still counts as having carried traffic
