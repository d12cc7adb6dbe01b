"""Crypto policy: crypto map set evaluation, flow identities, per-host narrowing, manual entries,
dynamic maps, and the spec's Figure 3 mirror-image cases 1-4 (as DESIGN.md describes the figure).

Figure 3's network: Router A protects Subnet X (10.0.0.0/24, Host A = 10.0.0.1), Router B
protects Subnet Y (20.0.0.0/24, Host B = 20.0.0.2); A's outside address 1.1.1.1, B's 2.2.2.2."""

from __future__ import annotations

import pytest

from host.acl import Packet
from host.config.loader import config_from_text
from host.policy import (
    FlowIdentity,
    accept_proposal,
    classify_inbound,
    classify_outbound,
    identity_of,
    manual_entries,
)


def cfg(text: str):
    router, errors = config_from_text(text)
    assert errors == [], "".join(map(str, errors))
    return router.config


def router_cfg(peer: str, *acl_lines: str, per_host: bool = False) -> object:
    acl = "".join(f"access-list 101 {line}\n" for line in acl_lines)
    extra = " set security-association level per-host\n" if per_host else ""
    return cfg(
        f"crypto ipsec transform-set t esp-des esp-sha-hmac\n{acl}"
        f"crypto map vpn 10 ipsec-isakmp\n set peer {peer}\n set transform-set t\n match address 101\n{extra}"
    )


A_ADDR, B_ADDR = "1.1.1.1", "2.2.2.2"
SUBNETS_A = "permit ip 10.0.0.0 0.0.0.255 20.0.0.0 0.0.0.255"
SUBNETS_B = "permit ip 20.0.0.0 0.0.0.255 10.0.0.0 0.0.0.255"
HOSTS_A = "permit ip host 10.0.0.1 host 20.0.0.2"
HOSTS_B = "permit ip host 20.0.0.2 host 10.0.0.1"


def negotiate(initiator, init_addr: str, responder, pkt: Packet) -> bool:
    """The initiator's packet triggers a request for the flow its ACL defines; the responder
    accepts it only if a crypto map entry permits that flow (in its own orientation)."""
    match = classify_outbound(initiator, "vpn", pkt)
    assert match is not None and match.action == "protect"
    offered = match.identity.mirrored()  # as the responder sees it: its side local
    return accept_proposal(responder, "vpn", init_addr, offered) is not None


A_TO_B = Packet.of("10.0.0.1", "20.0.0.2", 6, 1025, 23)
B_TO_A = Packet.of("20.0.0.2", "10.0.0.1", 6, 23, 1025)


@pytest.mark.parametrize(
    "a_line,b_line", [(SUBNETS_A, SUBNETS_B), (HOSTS_A, HOSTS_B)], ids=["case1", "case2"]
)
def test_cases_1_and_2_mirror_images_work_whichever_side_starts(a_line, b_line):
    a, b = router_cfg(B_ADDR, a_line), router_cfg(A_ADDR, b_line)
    assert negotiate(a, A_ADDR, b, A_TO_B)
    assert negotiate(b, B_ADDR, a, B_TO_A)


def test_case_3_host_request_within_subnet_acl_succeeds():
    a, b = router_cfg(B_ADDR, HOSTS_A), router_cfg(A_ADDR, SUBNETS_B)
    assert negotiate(a, A_ADDR, b, A_TO_B)


def test_case_4_subnet_request_beyond_host_acl_is_refused():
    a, b = router_cfg(B_ADDR, HOSTS_A), router_cfg(A_ADDR, SUBNETS_B)
    assert not negotiate(b, B_ADDR, a, B_TO_A)


def test_proposal_from_unlisted_peer_is_refused_by_static_entries():
    a, b = router_cfg(B_ADDR, SUBNETS_A), router_cfg(A_ADDR, SUBNETS_B)
    assert not negotiate(a, "9.9.9.9", b, A_TO_B)


def test_deny_before_permit_narrows_what_is_accepted():
    b = router_cfg(A_ADDR, "deny ip host 20.0.0.2 any", SUBNETS_B)
    inside = FlowIdentity.of("20.0.0.3", "255.255.255.255", "10.0.0.1", "255.255.255.255")
    assert accept_proposal(b, "vpn", A_ADDR, inside) is not None
    whole = FlowIdentity.of("20.0.0.0", "255.255.255.0", "10.0.0.0", "255.255.255.0")
    assert accept_proposal(b, "vpn", A_ADDR, whole) is None  # part of it is denied


def test_flow_identity_of_a_permit_line_matches_the_spec_notation():
    c = cfg(
        "access-list 101 permit ip host 172.21.114.123 host 172.21.114.67\n"
        "access-list 102 permit tcp 10.1.2.0 0.0.0.255 172.20.3.0 0.0.0.255 eq 23\n"
    )
    ident = identity_of(c.acls["101"].entries[0])
    assert ident.local_text() == "172.21.114.123/255.255.255.255/0/0"  # spec: show crypto ipsec sa
    assert ident.remote_text() == "172.21.114.67/255.255.255.255/0/0"
    ident = identity_of(c.acls["102"].entries[0])
    assert (ident.local_text(), ident.remote_text()) == (
        "10.1.2.0/255.255.255.0/6/0",
        "172.20.3.0/255.255.255.0/6/23",
    )


def test_per_host_narrowing_follows_the_spec_example():
    c = router_cfg(B_ADDR, "permit ip 1.1.1.0 0.0.0.255 2.2.2.0 0.0.0.255", per_host=True)
    for src, dst in (("1.1.1.1", "2.2.2.1"), ("1.1.1.1", "2.2.2.2"), ("1.1.1.2", "2.2.2.1")):
        m = classify_outbound(c, "vpn", Packet.of(src, dst, 17))
        assert m.identity == FlowIdentity.of(src, "255.255.255.255", dst, "255.255.255.255")
    plain = router_cfg(B_ADDR, "permit ip 1.1.1.0 0.0.0.255 2.2.2.0 0.0.0.255")
    m = classify_outbound(plain, "vpn", Packet.of("1.1.1.1", "2.2.2.1", 17))
    assert m.identity == FlowIdentity.of("1.1.1.0", "255.255.255.0", "2.2.2.0", "255.255.255.0")


def test_per_host_keeps_protocol_and_ports_of_the_line():
    c = router_cfg(B_ADDR, "permit tcp 1.1.1.0 0.0.0.255 2.2.2.0 0.0.0.255 eq telnet", per_host=True)
    m = classify_outbound(c, "vpn", Packet.of("1.1.1.9", "2.2.2.9", 6, 3000, 23))
    assert (m.identity.protocol, m.identity.local_port, m.identity.remote_port) == (6, 0, 23)


MAPSET = """crypto ipsec transform-set t esp-des
access-list 110 deny ip host 10.0.0.5 any
access-list 110 permit ip 10.0.0.0 0.0.0.255 20.0.0.0 0.0.0.255
access-list 120 permit ip 10.0.0.0 0.0.0.255 any
access-list 130 permit tcp any any eq www
crypto map s 30 ipsec-isakmp
 match address 130
 set peer 3.3.3.3
crypto map s 10 ipsec-isakmp
 match address 110
 set peer 1.1.1.1
crypto map s 20 ipsec-isakmp
 match address 120
 set peer 2.2.2.2
"""


def test_entries_evaluated_in_sequence_order_deny_moves_on():
    c = cfg(MAPSET)
    assert classify_outbound(c, "s", Packet.of("10.0.0.1", "20.0.0.1", 6)).entry.seq == 10
    assert classify_outbound(c, "s", Packet.of("10.0.0.5", "20.0.0.1", 6)).entry.seq == 20  # denied in 10
    assert classify_outbound(c, "s", Packet.of("30.0.0.1", "40.0.0.1", 6, 1, 80)).entry.seq == 30
    assert classify_outbound(c, "s", Packet.of("30.0.0.1", "40.0.0.1", 17)) is None


def test_inbound_is_evaluated_mirrored():
    c = cfg(MAPSET)
    inbound = Packet.of("20.0.0.1", "10.0.0.1", 6)
    assert classify_inbound(c, "s", inbound).entry.seq == 10
    assert classify_outbound(c, "s", inbound) is None
    m = classify_inbound(c, "s", inbound)
    assert m.identity.local_text() == "10.0.0.0/255.255.255.0/0/0"


def test_manual_entry_uses_only_the_first_permit():
    c = cfg("""crypto ipsec transform-set t ah-md5-hmac
access-list 101 deny ip host 10.0.0.9 any
access-list 101 permit ip host 10.0.0.1 host 20.0.0.1
access-list 101 permit ip host 10.0.0.2 host 20.0.0.2
crypto map m 10 ipsec-manual
 match address 101
""")
    assert classify_outbound(c, "m", Packet.of("10.0.0.1", "20.0.0.1", 6)) is not None
    assert classify_outbound(c, "m", Packet.of("10.0.0.2", "20.0.0.2", 6)) is None  # ignored line
    assert classify_outbound(c, "m", Packet.of("10.0.0.9", "20.0.0.1", 6)) is None


def test_manual_entries_ready_for_installation():
    c = cfg("""crypto ipsec transform-set t ah-md5-hmac
access-list 101 permit ip host 10.0.0.1 host 20.0.0.1
crypto map m 10 ipsec-manual
 match address 101
 set peer 20.0.0.254
 set transform-set t
 set session-key inbound ah 256 00112233445566778899aabbccddeeff
""")
    assert manual_entries(c) == []
    with c.transaction():
        c.crypto_maps["m"].entries[10].session_keys[("outbound", "ah")] = (
            c.crypto_maps["m"].entries[10].session_keys[("inbound", "ah")]
        )
        c.changed("crypto-map", ("m", 10))
    assert [e.seq for e in manual_entries(c)] == [10]


DYN = """crypto ipsec transform-set t esp-des
access-list 150 permit ip host 10.0.0.1 host 20.0.0.1
access-list 152 permit ip 10.0.0.0 0.0.0.255 any
crypto dynamic-map d 10
 set transform-set t
 match address 152
crypto dynamic-map d 20
 set transform-set t
crypto map s 10 ipsec-isakmp
 set peer 1.1.1.1
 match address 150
crypto map s 20 ipsec-isakmp dynamic d
"""


def test_dynamic_entries_take_their_place_and_accept_unknown_peers():
    c = cfg(DYN)
    m = classify_outbound(c, "s", Packet.of("10.0.0.7", "30.0.0.1", 6))
    assert (m.entry.seq, m.dynamic.seq) == (20, 10)
    flow = FlowIdentity.of("10.0.0.0", "255.255.255.0", "30.0.0.0", "255.255.255.0")
    got = accept_proposal(c, "s", "9.9.9.9", flow)
    assert got is not None and got.dynamic.seq == 10
    # outside 152: entry 20 has no ACL and accepts any flow
    other = FlowIdentity.of("40.0.0.0", "255.255.255.0", "30.0.0.0", "255.255.255.0")
    assert accept_proposal(c, "s", "9.9.9.9", other).dynamic.seq == 20
    # a dynamic entry without ACL is ignored for traffic
    assert classify_outbound(c, "s", Packet.of("40.0.0.1", "30.0.0.1", 6)) is None


def test_dynamic_entry_with_missing_or_empty_acl_drops_everything():
    c = cfg("crypto dynamic-map d 10\n match address 199\ncrypto map s 10 ipsec-isakmp dynamic d\n")
    m = classify_outbound(c, "s", Packet.of("1.1.1.1", "2.2.2.2", 6))
    assert m.action == "drop"
    assert (
        accept_proposal(
            c, "s", "9.9.9.9", FlowIdentity.of("1.1.1.1", "255.255.255.255", "2.2.2.2", "255.255.255.255")
        )
        is None
    )
