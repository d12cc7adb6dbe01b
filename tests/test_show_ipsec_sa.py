"""``show crypto ipsec sa``, ``debug crypto ipsec`` and ``clear crypto sa`` against the spec.

Golden: the spec's ``show crypto ipsec sa`` sample is reproduced from a configuration and SA state
that yield it: router-alice (172.21.114.123) with the ``show crypto map`` sample's configuration,
the crypto map also on Tunnel0 sharing Ethernet0's database through ``local-address``; SAs
installed as IKE would with the sample's SPIs (the engine's conn ids 1-25 used and freed first so
that the SAs get 26 and 27); 10 pings to the peer and back; 30 seconds of a 120-second lifetime;
10 packets that fail to be sent (the outbound sequence number exhausted). The expected text is cut
out of the spec itself. The spec lost the sample's indentation after its first block, so the
comparison is exact for the first block and ignores leading blanks after it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.packet import raw

from driver.api import Auth, SAParams
from driver.registry import open_engine
from host.clock import Clock
from host.ipsec.sa import Protocol
from host.policy import FlowIdentity
from host.router import Router, SAKeys
from tests.router_helpers import Net, isakmp_routers, two_routers

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "ios-11.3T-ipsec-feature-guide.txt"
ALICE, BOB = "172.21.114.123", "172.21.114.67"

CONFIG = """
hostname {name}
crypto ipsec security-association lifetime seconds 120
crypto ipsec transform-set t1 esp-des esp-md5-hmac
access-list 141 permit ip host {me} host {peer}
crypto map {map} 10 ipsec-isakmp
 set peer {peer}
 set transform-set t1
 match address 141
crypto map {map} local-address Ethernet0
interface Ethernet0
 ip address {me} 255.255.255.0
 crypto map {map}
interface Tunnel0
 crypto map {map}
"""


def spec_sample() -> str:
    text = SPEC.read_text()
    start = text.index("```\nRouter#show crypto ipsec sa\n") + len("```\nRouter#show crypto ipsec sa\n")
    end = text.index("outbound ah sas:\n```\n\nshow crypto ipsec security-association lifetime")
    return text[start : end + len("outbound ah sas:\n")].replace("\n```\n\n```\n", "\n\n")


def burn_conn_ids(engine, n: int) -> None:
    """Use and free ``n`` conn ids, so that the next SAs get the ids the samples show."""
    ids = [
        engine.install(SAParams(inbound=True, auth=Auth.HMAC_MD5_96, auth_key=bytes(16))) for _ in range(n)
    ]
    for i in ids:
        engine.remove(i)


def alice_and_bob(clock: Clock, *, burn: int = 25, debug: bool = False):
    net = Net(clock)
    engine = open_engine("software")
    burn_conn_ids(engine, burn)
    alice = net.add(
        "alice", CONFIG.format(name="router", me=ALICE, peer=BOB, map="router-alice"), engine=engine
    )
    bob = net.add("bob", CONFIG.format(name="bob", me=BOB, peer=ALICE, map="router-bob"), seed=2)
    net.link("alice", "Ethernet0", "bob", "Ethernet0")
    if debug:
        alice.exec("debug crypto ipsec")
    des_ab, des_ba = bytes.fromhex("0123456789abcdef"), bytes.fromhex("fedcba9876543210")
    md5_ab, md5_ba = bytes(range(16)), bytes(range(16, 32))
    ab, ba = SAKeys(0x20890A6F, des_ab, md5_ab), SAKeys(0x257A1039, des_ba, md5_ba)
    flow = FlowIdentity.of(ALICE, "255.255.255.255", BOB, "255.255.255.255")
    alice.install_sas(
        database="Ethernet0",
        entry=("router-alice", 10),
        peer=BOB,
        flow=flow,
        transform_set="t1",
        keys={("outbound", "esp"): ab, ("inbound", "esp"): ba},
    )
    bob.install_sas(
        database="Ethernet0",
        entry=("router-bob", 10),
        peer=ALICE,
        flow=flow.mirrored(),
        transform_set="t1",
        keys={("outbound", "esp"): ba, ("inbound", "esp"): ab},
    )
    return net, alice, bob


def ping(seq: int) -> bytes:
    return raw(IP(src=ALICE, dst=BOB, id=seq) / ICMP(id=1, seq=seq))


@pytest.mark.skipif(not SPEC.exists(), reason="the spec is not beside the repository")
def test_spec_sample_reproduced():
    clock = Clock()
    net, alice, bob = alice_and_bob(clock)
    for seq in range(10):
        net.originate("alice", ping(seq))
    assert alice.counters["delivered"] == 10 and bob.counters["echo_replies"] == 10
    out_sa = alice.bundles()[0].outbound[0]
    out_sa.seq = 0xFFFFFFFF  # the sequence number space is used up: sending fails
    for seq in range(10):
        net.originate("alice", ping(100 + seq))
    assert alice.drops["sequence number overflow"] == 10
    clock.advance(30)
    got = alice.exec("show crypto ipsec sa")
    want = spec_sample()
    assert [line.strip() for line in got.splitlines()] == [line.strip() for line in want.splitlines()]
    # the first block kept its indentation in the spec: it must match exactly
    first_block = want[: want.index("#send errors 10, #recv errors 0\n") + 32]
    assert first_block.count("\n") == 11
    assert got.startswith(first_block)


def test_indentation_is_the_first_blocks_throughout():
    clock = Clock()
    net, alice, bob = alice_and_bob(clock)
    lines = alice.exec("show crypto ipsec sa").splitlines()
    indent = {
        line.strip().split(":")[0].split(" ")[0]: len(line) - len(line.lstrip()) for line in lines if line
    }
    assert indent["interface"] == 0 and indent["Crypto"] == 2 and indent["current_peer"] == 2
    assert indent["PERMIT,"] == 4 and indent["#pkts"] == 4 and indent["local"] == 4
    assert indent["inbound"] == 4 and indent["spi"] == 6 and indent["transform"] == 8


@pytest.mark.skipif(not SPEC.exists(), reason="the spec is not beside the repository")
def test_debug_create_sa_matches_the_spec_sample():
    clock = Clock(start=24 * 60 + 35)
    net = Net(clock)
    engine = open_engine("software")
    burn_conn_ids(engine, 28)
    alice = net.add(
        "alice", CONFIG.format(name="router", me=ALICE, peer=BOB, map="router-alice"), engine=engine
    )
    alice.exec("debug crypto ipsec")
    flow = FlowIdentity.of(ALICE, "255.255.255.255", BOB, "255.255.255.255")
    alice.install_sas(
        database="Ethernet0",
        entry=("router-alice", 10),
        peer=BOB,
        flow=flow,
        transform_set="t1",
        keys={
            ("inbound", "esp"): SAKeys(0x120F043C, bytes(8), bytes(16)),
            ("outbound", "esp"): SAKeys(0x38914A4, bytes(8), bytes(16)),
        },
    )
    spec = SPEC.read_text()
    want = re.search(r"```\n(00:24:35: IPSEC\(create_sa\).*?)\n```", spec, re.S).group(1)
    assert "\n".join(line for line in alice.log if "create_sa" in line) == want
    # the outbound initialize_sas message (the inbound one's sample writes "4608000 kb" once)
    want = re.search(r"```\n(00:24:35: IPSEC\(initialize_sas\).*?conn_id= 30.*?)\n```", spec, re.S).group(1)
    want = want[want.rindex("00:24:35: IPSEC(initialize_sas)") :]
    assert want in alice.log
    assert sum("initialize_sas" in line for line in alice.log) == 2


@pytest.mark.skipif(not SPEC.exists(), reason="the spec is not beside the repository")
def test_debug_sa_request_matches_the_spec_sample():
    config = CONFIG.format(name="router", me=ALICE, peer=BOB, map="router-alice") + (
        "crypto ipsec transform-set t2 ah-sha-hmac\ncrypto map router-alice 10\n set transform-set t1 t2\n"
    )
    alice = Router.from_config(config, clock=Clock(start=24 * 60 + 30))
    alice.exec("debug crypto ipsec")
    out = alice.send_local(ping(1))
    assert out == [] and alice.drops["no sa (requested from key management)"] == 1
    assert alice.key_manager.counts["traffic"] == 1
    want = re.search(r"```\n(00:24:30: IPSEC\(sa_request\).*?)\n```", SPEC.read_text(), re.S).group(1)
    assert "\n".join(alice.log) + "." == want  # the spec's sample ends its second message with a '.'


def test_show_address_identity_map_and_detail():
    net, a, b, lan_a, lan_b, _ = isakmp_routers("ah-sha-hmac esp-des esp-md5-hmac")
    net.inject("A", "Ethernet0", raw(IP(src="10.1.1.5", dst="10.2.2.7") / ICMP()))
    text = a.exec("show crypto ipsec sa address")
    assert text.index("dest address: 192.168.0.1") < text.index("dest address: 192.168.0.2")
    block = text[text.index("dest address: 192.168.0.2") :]
    assert block.index("protocol: AH") < block.index("protocol: ESP")
    ident = a.exec("show crypto ipsec sa identity")
    assert "spi:" not in ident and "#pkts encaps: 1, #pkts encrypt: 1, #pkts digest 1" in ident
    assert a.exec("show crypto ipsec sa map nosuch") == ""
    assert "interface: Serial0" in a.exec("show crypto ipsec sa map vpn")
    assert "#pkts no sa (send) 0" in a.exec("sh cry ipsec sa det")
    full = a.exec("show crypto ipsec sa")
    assert full.count("replay detection support: Y") == 4 and full.count("IV size: 8 bytes") == 2


def sas_of(r: Router) -> set[tuple[str, int]]:
    return {(sa.protocol.value, sa.spi) for sa in r.security_associations()}


def test_clear_crypto_sa_deletes_negotiated_and_reinstalls_manual_sas():
    net, a, b, lan_a, lan_b, _ = isakmp_routers()
    a.configure(
        "access-list 102 permit ip 10.1.1.0 0.0.0.255 10.3.3.0 0.0.0.255\n"
        "crypto map vpn 20 ipsec-manual\n match address 102\n set transform-set ts\n set peer 192.168.0.2\n"
        " set session-key inbound esp 900 cipher 0011223344556677 authenticator " + "aa" * 20 + "\n"
        " set session-key outbound esp 901 cipher 7766554433221100 authenticator " + "bb" * 20 + "\n"
    )
    before = sas_of(a)
    assert ("esp", 900) in before and ("esp", 0x1000) in before
    manual_ids = {sa.conn_id for sa in a.security_associations() if sa.manual}
    events = []
    a.subscribe(lambda ev: events.append(ev))
    a.exec("clear crypto sa")
    assert sas_of(a) == {("esp", 900), ("esp", 901)}
    assert {sa.conn_id for sa in a.security_associations()}.isdisjoint(manual_ids)  # fresh contexts
    assert [ev.kind for ev in events].count("sa_deleted") == 4
    assert [ev.kind for ev in events].count("sa_created") == 2
    # the freed conn ids are gone from the engine
    assert set(a.engine.conn_ids()) == {sa.conn_id for sa in a.security_associations()}


def test_clear_peer_map_entry_and_counters():
    net, a, b, lan_a, lan_b, (bundle_a, _) = isakmp_routers("ah-md5-hmac esp-des")
    net.inject("A", "Ethernet0", raw(IP(src="10.1.1.5", dst="10.2.2.7") / ICMP()))
    assert "#pkts encaps: 1" in a.exec("show crypto ipsec sa")
    a.exec("clear crypto sa counters")
    assert "#pkts encaps: 0" in a.exec("show crypto ipsec sa") and len(a.bundles()) == 1
    a.exec("clear crypto sa peer 10.9.9.9")
    a.exec("clear crypto sa map other")
    assert len(a.bundles()) == 1
    # entry: one SA named by destination/protocol/SPI takes its siblings with it
    ah_in = next(sa for sa in bundle_a.inbound if sa.protocol is Protocol.AH)
    a.exec(f"clear crypto sa entry 192.168.0.1 AH {ah_in.spi}")
    assert a.bundles() == []
    negotiate_again = isakmp_routers("esp-des")  # a fresh pair for peer and map
    _, a2, _, _, _, _ = negotiate_again
    a2.exec("clear crypto sa peer 192.168.0.2")
    assert a2.bundles() == []
    _, a3, _, _, _, _ = isakmp_routers("esp-des")
    a3.exec("clear crypto sa map vpn")
    assert a3.bundles() == []


def test_clear_and_show_on_a_router_without_ipsec_feedback():
    net, a, b, _, _ = two_routers()
    assert "% Invalid input" in a.exec("clear crypto sa entry 1.2.3.4 gre 300")
    assert "Crypto IPSEC debugging is on" in a.exec("debug crypto ipsec")
    assert "Crypto IPSEC debugging is off" in a.exec("no debug crypto ipsec")


def test_clear_crypto_sa_in_global_configuration_mode_as_the_spec_lists_it():
    net, a, b, lan_a, lan_b, _ = isakmp_routers()
    assert a.configure("clear crypto sa\n") == []
    assert a.bundles() == []
