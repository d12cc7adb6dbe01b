"""The SA database and the outbound decisions around it (spec: SPIs, siblings, flows, entries)."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import raw

from driver.registry import open_engine
from host.acl import Packet
from host.ipsec.sa import Protocol, SecurityAssociation
from host.ipsec.sadb import SABundle, SADatabase, SADBError
from host.policy import FlowIdentity
from host.router import Router, SAKeys
from tests.router_helpers import isakmp_pair_config, negotiate, two_routers

FLOW = FlowIdentity.of("10.1.1.0", "255.255.255.0", "10.2.2.0", "255.255.255.0")


def sa(spi: int, inbound: bool, proto: str = "esp", local="192.168.0.1", peer="192.168.0.2"):
    if proto == "esp":
        return SecurityAssociation(
            protocol="esp",
            spi=spi,
            inbound=inbound,
            local=local,
            peer=peer,
            transforms=["esp-des"],
            cipher_key=bytes(8),
        )
    return SecurityAssociation(
        protocol="ah",
        spi=spi,
        inbound=inbound,
        local=local,
        peer=peer,
        transforms=["ah-md5-hmac"],
        auth_key=bytes(16),
    )


def bundle(spi_in: int, spi_out: int, flow=FLOW, protos=("esp",)) -> SABundle:
    return SABundle(
        ("m", 10),
        "192.168.0.2",
        "192.168.0.1",
        flow,
        "ts",
        [sa(spi_in, True, p) for p in protos],
        [sa(spi_out, False, p) for p in protos],
    )


def test_spi_unique_per_destination_and_protocol():
    db = SADatabase("Serial0", "192.168.0.1")
    # the same SPI for both directions and both protocols is allowed (spec, set session-key)
    db.add(bundle(300, 300, protos=("esp", "ah")))
    with pytest.raises(SADBError, match="already used for esp to 192.168.0.1"):
        db.add(bundle(300, 999))
    with pytest.raises(SADBError, match="already used for ah to 192.168.0.2"):
        db.add(bundle(998, 300, protos=("ah",)))
    assert len(db) == 1  # refused bundles leave nothing behind
    assert db.lookup_inbound(bytes([192, 168, 0, 1]), 50, 300).inbound
    assert db.lookup_inbound(bytes([192, 168, 0, 2]), 50, 300) is None  # outbound SAs are not found inbound
    assert db.find_sa("192.168.0.2", Protocol.AH, 300) is not None


def test_siblings_leave_together_and_allocate_spi_avoids_used_ones():
    db = SADatabase("Serial0", "192.168.0.1")
    b = bundle(300, 301, protos=("esp", "ah"))
    db.add(b)
    assert db.bundle_of(b.inbound[1]) is b and db.bundle_of(b.outbound[0]) is b
    db.remove(b)
    assert db.lookup_inbound(bytes([192, 168, 0, 1]), 51, 300) is None and len(db) == 0
    db.add(bundle(300, 301))
    values = iter([5, 300, 300, 1234])
    assert db.allocate_spi("192.168.0.1", Protocol.ESP, lambda: next(values)) == 1234


def test_outbound_lookup_prefers_the_exact_flow_then_the_newest_covering_one():
    db = SADatabase("Serial0", "192.168.0.1")
    wide = bundle(300, 301)
    host = bundle(
        302, 303, flow=FlowIdentity.of("10.1.1.5", "255.255.255.255", "10.2.2.7", "255.255.255.255")
    )
    newer = bundle(304, 305)
    for b in (wide, host, newer):
        db.add(b)
    pkt = Packet.of("10.1.1.5", "10.2.2.7", 6)
    assert db.find_outbound(("m", 10), pkt, FLOW) is newer
    assert db.find_outbound(("m", 10), pkt, host.flow) is host
    assert db.find_outbound(("m", 10), Packet.of("10.1.1.9", "10.2.2.7", 6)) is newer
    assert db.find_outbound(("m", 20), pkt) is None
    assert db.find_outbound(("m", 10), Packet.of("10.9.9.9", "10.2.2.7", 6)) is None


def test_negotiated_sas_cannot_take_an_spi_a_manual_sa_uses():
    net, a, b, _, _ = two_routers()
    (manual,) = a.bundles()
    keys = {
        ("inbound", "esp"): SAKeys(2001, bytes(8), bytes(20)),
        ("outbound", "esp"): SAKeys(77, bytes(8), bytes(20)),
    }
    with pytest.raises(SADBError, match="SPI 2001"):
        a.install_sas(
            database="Serial0",
            entry=("vpn", 10),
            peer="192.168.0.2",
            flow=FLOW,
            transform_set="ts",
            keys=keys,
        )
    assert a.bundles() == [manual] and len(a.engine.conn_ids()) == 2


def test_per_host_level_requests_one_flow_per_host_pair():
    cfg = isakmp_pair_config("A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", "esp-des")
    a = Router.from_config(cfg + "crypto map vpn 10\n set security-association level per-host\n")
    for src in ("10.1.1.5", "10.1.1.6", "10.1.1.5"):
        a.receive("Ethernet0", raw(IP(src=src, dst="10.2.2.7") / UDP()))
    flows = [r.flow for r in a.key_manager.requests]
    assert [f.local_text() for f in flows] == ["10.1.1.5/255.255.255.255/0/0", "10.1.1.6/255.255.255.255/0/0"]
    assert {f.remote_text() for f in flows} == {"10.2.2.7/255.255.255.255/0/0"}
    assert a.drops["no sa (requested from key management)"] == 3  # the repeat is dropped, not re-requested
    # SAs for one host pair protect that pair only
    keys = {(d, "esp"): SAKeys(0x500 + i, bytes(8)) for i, d in enumerate(("inbound", "outbound"))}
    a.install_sas(
        database="Serial0",
        entry=("vpn", 10),
        peer="192.168.0.2",
        flow=flows[0],
        transform_set="ts",
        keys=keys,
    )
    assert len(a.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.2.2.7") / UDP()))) == 1
    assert a.receive("Ethernet0", raw(IP(src="10.1.1.6", dst="10.2.2.7") / UDP())) == []


def test_first_matching_permit_line_is_the_flow_identity():
    cfg = isakmp_pair_config("A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", "esp-des")
    cfg += "access-list 101 permit tcp 10.1.1.0 0.0.0.255 10.4.4.0 0.0.0.255 eq 23\n"
    cfg += "ip route 10.4.4.0 255.255.255.0 192.168.0.2\n"
    a = Router.from_config(cfg)
    a.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.4.4.4") / TCP(dport=23)))
    (req,) = a.key_manager.requests
    assert (req.flow.local_text(), req.flow.remote_text()) == (
        "10.1.1.0/255.255.255.0/6/0",
        "10.4.4.0/255.255.255.0/6/23",
    )
    assert req.peers == ["192.168.0.2"] and req.transform_sets == ["ts"]


def test_manual_entry_changes_apply_on_clear_and_deleted_entries_lose_their_sas():
    net, a, b, lan_a, lan_b = two_routers()
    (old,) = a.bundles()
    a.configure(
        "crypto map vpn 10\n set session-key outbound esp 4444 cipher 1111111111111111 authenticator "
        + "ee" * 20
        + "\n"
    )
    assert a.bundles() == [old] and old.outbound[0].spi == 2002
    a.exec("clear crypto sa")
    (new,) = a.bundles()
    assert new.outbound[0].spi == 4444
    a.configure("no crypto map vpn 10\n")
    assert a.bundles() == [] and a.engine.conn_ids() == []


def test_missing_sas_drop_by_entry_kind():
    # an incomplete manual entry: no SAs, its traffic is dropped
    net, a, b, lan_a, lan_b = two_routers()
    a.configure("crypto map vpn 10\n no set session-key inbound esp\n")
    a.exec("clear crypto sa")
    assert a.bundles() == []
    assert a.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.2.2.7") / UDP())) == []
    assert a.drops["no sa (ipsec-manual)"] == 1
    # a dynamic entry never asks for SAs
    cfg = isakmp_pair_config("D", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", "esp-des")
    cfg = cfg.replace(
        "crypto map vpn 10 ipsec-isakmp\n match address 101\n set transform-set ts\n set peer 192.168.0.2\n",
        "",
    )
    cfg += "crypto dynamic-map dyn 10\n set transform-set ts\n match address 101\n"
    cfg += "crypto map vpn 30 ipsec-isakmp dynamic dyn\n"
    d = Router.from_config(cfg)
    assert d.receive("Ethernet0", raw(IP(src="10.1.1.5", dst="10.2.2.7") / UDP())) == []
    assert d.drops["no sa (dynamic crypto map)"] == 1 and d.key_manager.requests == []


def test_install_sas_failure_leaves_nothing_installed():
    engine = open_engine("software", max_conns=3)
    cfg = isakmp_pair_config("A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", "ah-md5-hmac esp-des")
    a = Router.from_config(cfg, engine=engine)
    b = Router.from_config(
        isakmp_pair_config("B", "192.168.0.2", "192.168.0.1", "10.2.2.0", "10.1.1.0", "ah-md5-hmac esp-des")
    )
    with pytest.raises(Exception, match="conn ids are in use"):
        negotiate(a, b)
    assert a.bundles() == [] and engine.conn_ids() == []


def test_peer_host_names_resolve_through_ip_host():
    net, a, b, lan_a, lan_b = two_routers(extra_a="ip host remote-gw 192.168.0.2")
    a.configure("crypto map vpn 10\n no set peer 192.168.0.2\n set peer remote-gw\n")
    a.exec("clear crypto sa")
    (bundle,) = a.bundles()
    assert bundle.peer == "192.168.0.2"
    a.exec("clear crypto sa peer remote-gw")
    (again,) = a.bundles()  # manual SAs come back at once
    assert again is not bundle
    assert "Unable to resolve peer name" in a.exec("clear crypto sa peer nowhere")


def test_router_allocates_fresh_inbound_spis_for_key_management():
    net, a, b, _, _ = two_routers()
    used = {sa.spi for sa in a.security_associations() if sa.inbound}
    spis = {a.allocate_spi("Serial0", Protocol.ESP) for _ in range(50)}
    assert len(spis) == 50 and not spis & used and min(spis) >= 256
    with pytest.raises(SADBError):
        a.allocate_spi("Ethernet0", Protocol.ESP)


def test_outbound_goes_to_the_peer_last_heard_from():
    from tests.router_helpers import isakmp_routers

    net, a, b, lan_a, lan_b, (ba, bb) = isakmp_routers()
    a.configure("crypto map vpn 10\n set peer 192.168.0.3\n")
    keys = {
        ("inbound", "esp"): SAKeys(0x901, bytes(8), bytes(20)),
        ("outbound", "esp"): SAKeys(0x902, bytes(8), bytes(20)),
    }
    other = a.install_sas(
        database="Serial0", entry=("vpn", 10), peer="192.168.0.3", flow=ba.flow, transform_set="ts", keys=keys
    )
    ping = raw(IP(src="10.1.1.5", dst="10.2.2.7") / UDP())
    ((_, wire),) = a.receive("Ethernet0", ping)
    assert IP(wire).dst == "192.168.0.3" and other.counters.encaps == 1  # the newest negotiation
    net.inject("B", "Ethernet0", raw(IP(src="10.2.2.7", dst="10.1.1.5") / UDP()))  # B speaks
    assert len(lan_a) == 1
    ((_, wire),) = a.receive("Ethernet0", ping)
    assert IP(wire).dst == "192.168.0.2" and ba.counters.encaps == 1
