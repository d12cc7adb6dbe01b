"""Every configuration command of the spec: what it sets in the model, its ``no`` form, modes,
abbreviations, file loading with line numbers, change notification and running-config reload."""

from __future__ import annotations

import ipaddress

from host.cli.session import ConfigOnlyRouter, Session, run_exec
from host.config.loader import config_from_text, load_config
from host.config.model import MapKind, SessionKey


def cfg(text: str):
    router, errors = config_from_text(text)
    assert errors == [], "".join(map(str, errors))
    return router.config


def test_hostname_changes_the_prompt_and_no_form_restores_it():
    s = Session(ConfigOnlyRouter(), mode="config")
    assert s.prompt == "Router(config)#"
    s.run("hostname Alice")
    assert s.prompt == "Alice(config)#"
    s.run("no hostname")
    assert s.prompt == "Router(config)#"


def test_interface_commands():
    c = cfg("""
interface s0
 ip address 10.0.0.2 255.255.255.0
 ip access-group 110 in
 ip access-group OUTSIDE out
 crypto map mymap
 mtu 1400
interface Loopback0
 ip address 20.20.20.1 255.255.255.255
""")
    s0 = c.interfaces["Serial0"]
    assert s0.address == ipaddress.IPv4Address("10.0.0.2") and str(s0.network) == "10.0.0.0/24"
    assert (s0.access_group_in, s0.access_group_out, s0.crypto_map, s0.mtu) == (
        "110",
        "OUTSIDE",
        "mymap",
        1400,
    )
    assert c.interfaces["Loopback0"].mtu == 1500


def test_interface_no_forms_and_one_crypto_map_per_interface():
    c = cfg("""
interface Ethernet 0
 ip address 10.0.0.2 255.255.255.0
 crypto map a
 crypto map b
 ip access-group 101 in
 no ip access-group 101 in
 mtu 1000
 no mtu
""")
    e0 = c.interfaces["Ethernet0"]
    assert e0.crypto_map == "b" and e0.access_group_in is None and e0.mtu == 1500
    c2 = cfg("interface e0\n crypto map a\n no crypto map\n no ip address\n")
    assert c2.interfaces["Ethernet0"].crypto_map is None and c2.interfaces["Ethernet0"].address is None


def test_static_routes():
    c = cfg("ip route 0.0.0.0 0.0.0.0 10.0.0.1\nip route 172.16.0.0 255.255.0.0 Serial0 5\n")
    assert [(str(r.network), str(r.next_hop), r.interface, r.distance) for r in c.routes] == [
        ("0.0.0.0/0", "10.0.0.1", None, 1),
        ("172.16.0.0/16", "None", "Serial0", 5),
    ]
    c = cfg("ip route 172.16.0.0 255.255.0.0 10.0.0.1\nno ip route 172.16.0.0 255.255.0.0\n")
    assert c.routes == []


def test_transform_sets_mode_and_replacement():
    c = cfg("""
crypto ipsec transform-set t1 esp-md5-hmac esp-des
 mode transport
crypto ipsec transform-set older ah-rfc1828 esp-rfc1829
 initialization-vector size 4
crypto ipsec transform-set t1 ah-sha-hmac esp-des esp-sha-hmac
""")
    t1 = c.transform_sets["t1"]
    assert t1.transforms == ("ah-sha-hmac", "esp-des", "esp-sha-hmac")  # replaced
    assert t1.mode == "transport"  # the mode stays with the set
    assert c.transform_sets["older"].iv_size == 4
    c = cfg(
        "crypto ipsec transform-set o ah-rfc1828 esp-rfc1829\ncrypto ipsec transform-set o\n"
        " initialization-vector size\n mode\n"
    )
    assert (c.transform_sets["o"].iv_size, c.transform_sets["o"].mode) == (8, "tunnel")
    c = cfg("crypto ipsec transform-set t esp-des\nno crypto ipsec transform-set t\n")
    assert c.transform_sets == {}


def test_table2_allowed_combinations():
    for combo in (
        "ah-md5-hmac",
        "esp-des",
        "esp-des esp-md5-hmac",
        "ah-sha-hmac esp-des esp-sha-hmac",
        "ah-rfc1828 esp-rfc1829",
        "ah-rfc1828",
        "esp-rfc1829",
        "ah-md5-hmac esp-rfc1829",
    ):
        assert cfg(f"crypto ipsec transform-set x {combo}\n").transform_sets["x"].transforms == tuple(
            combo.split()
        )


def test_global_lifetimes_and_defaults():
    c = cfg("")
    assert (c.sa_lifetime.seconds, c.sa_lifetime.kilobytes) == (3600, 4608000)
    c = cfg(
        "crypto ipsec security-association lifetime seconds 2700\n"
        "crypto ipsec security-association lifetime kilobytes 2304000\n"
    )
    assert (c.sa_lifetime.seconds, c.sa_lifetime.kilobytes) == (2700, 2304000)
    c = cfg(
        "crypto ipsec security-association lifetime seconds 2700\n"
        "no crypto ipsec security-association lifetime seconds\n"
    )
    assert c.sa_lifetime.seconds == 3600


def test_isakmp_entry_settings():
    c = cfg("""
crypto ipsec transform-set my_t_set1 esp-des esp-sha-hmac
crypto ipsec transform-set my_t_set2 ah-sha-hmac esp-des esp-sha-hmac
crypto map mymap 10 ipsec-isakmp
  match address 101
  set transform-set my_t_set1 my_t_set2
  set peer 10.0.0.1
  set peer 10.0.0.2
  set pfs
  set security-association level per-host
  set security-association lifetime seconds 2700
""")
    e = c.crypto_maps["mymap"].entries[10]
    assert e.kind is MapKind.IPSEC_ISAKMP and e.acl == "101"
    assert e.transform_sets == ["my_t_set1", "my_t_set2"] and e.peers == ["10.0.0.1", "10.0.0.2"]
    assert e.pfs == "group1" and e.per_host  # group1 by default
    assert e.effective_lifetime(c) == (2700, 4608000)
    c = cfg(
        "crypto map m 10 ipsec-isakmp\n set pfs group2\n set peer 1.1.1.1\n no set peer 1.1.1.1\n"
        " set security-association level per-host\n no set security-association level per-host\n"
    )
    e = c.crypto_maps["m"].entries[10]
    assert (e.pfs, e.peers, e.per_host) == ("group2", [], False)


AUTH_IN = "0000111122223333444455556666777788889999"
AUTH_OUT = "9999888877776666555544443333222211110000"


def test_manual_entry_and_session_keys():
    c = cfg(f"""
crypto ipsec transform-set someset ah-sha-hmac esp-des esp-sha-hmac
crypto map mymap 10 ipsec-manual
match address 101
set transform-set someset
set peer 10.0.0.1
set session-key inbound ah 300 9876543210987654321098765432109876543210
set session-key outbound ah 300 fedcbafedcbafedcbafedcbafedcbafedcbafedc
set session-key inbound esp 300 cipher 0123456789012345 authenticator {AUTH_IN}
set session-key outbound esp 300 cipher abcdefabcdefabcd authenticator {AUTH_OUT}
access-list 101 permit ip 10.0.1.0 0.0.0.255 10.0.2.0 0.0.0.255
""")
    e = c.crypto_maps["mymap"].entries[10]
    assert e.kind is MapKind.IPSEC_MANUAL
    assert e.session_keys[("inbound", "esp")] == SessionKey(
        300,
        cipher=bytes.fromhex("0123456789012345"),
        authenticator=bytes.fromhex(AUTH_IN),
    )
    assert e.manual_ready(c)


def test_long_keys_are_kept_as_typed_and_truncated_for_use():
    c = cfg(
        "crypto ipsec transform-set t ah-md5-hmac esp-des\n"
        "crypto map m 1 ipsec-manual\n set transform-set t\n"
        " set session-key inbound ah 256 " + "11" * 20 + "\n"
        " set session-key inbound esp 256 cipher " + "22" * 12 + "\n"
    )
    e = c.crypto_maps["m"].entries[1]
    assert len(e.session_keys[("inbound", "ah")].key) == 20
    used = e.manual_keys(c, "inbound", "ah")
    assert used.key == b"\x11" * 16  # MD5: 16 bytes
    assert e.manual_keys(c, "inbound", "esp").cipher == b"\x22" * 8  # DES: 8 bytes


def test_manual_readiness_lists_what_is_missing():
    c = cfg(
        "crypto ipsec transform-set t ah-md5-hmac\ncrypto map m 1 ipsec-manual\n set transform-set t\n"
        " set session-key inbound ah 256 " + "11" * 16 + "\n"
    )
    e = c.crypto_maps["m"].entries[1]
    assert e.manual_problems(c) == ["no match address", "no peer", "no outbound ah session key"]


def test_dynamic_maps_and_references():
    c = cfg("""
crypto ipsec transform-set a esp-des
crypto map mymap 30 ipsec-isakmp dynamic mydynamicmap
crypto dynamic-map mydynamicmap 10
  match address 103
  set transform-set a
  set pfs group2
  set security-association lifetime kilobytes 100000
""")
    assert c.crypto_maps["mymap"].entries[30].dynamic == "mydynamicmap"
    d = c.dynamic_maps["mydynamicmap"].entries[10]
    assert (d.acl, d.transform_sets, d.pfs, d.effective_lifetime(c)) == (
        "103",
        ["a"],
        "group2",
        (3600, 100000),
    )
    c = cfg("crypto dynamic-map d 10\ncrypto dynamic-map d 20\nno crypto dynamic-map d 10\n")
    assert list(c.dynamic_maps["d"].entries) == [20]


def test_dynamic_reference_has_no_submode():
    s = Session(ConfigOnlyRouter(), mode="config")
    s.run("crypto map m 30 ipsec-isakmp dynamic d")
    assert s.prompt == "Router(config)#"
    s.run("crypto map m 10 ipsec-isakmp")
    assert s.prompt == "Router(config-crypto-map)#"


def test_local_address_and_deleting_maps():
    c = cfg(
        "crypto map m local-address Loopback0\ncrypto map m 10 ipsec-isakmp\ncrypto map m 20 ipsec-isakmp\n"
        "no crypto map m 10\n"
    )
    assert c.crypto_maps["m"].local_address == "Loopback0" and list(c.crypto_maps["m"].entries) == [20]
    c = cfg("crypto map m 10 ipsec-isakmp\nno crypto map m\n")
    assert c.crypto_maps == {}
    c = cfg("crypto map m local-address Loopback0\nno crypto map m local-address\n")
    assert c.crypto_maps["m"].local_address is None


def test_existing_entry_reentered_without_type():
    s = Session(ConfigOnlyRouter(), mode="config")
    s.run("crypto map m 10 ipsec-manual")
    s.run("exit")
    assert s.run("crypto map m 10").error is None
    assert s.prompt == "Router(config-crypto-map)#"


def test_named_acl_mode():
    c = cfg(
        "ip access-list extended OUTSIDE\n permit udp any any eq isakmp\n deny ip any any log\n"
        " remark anything here\n no deny ip any any log\n"
    )
    assert [e.text() for e in c.acls["OUTSIDE"].entries] == ["permit udp any any eq isakmp"]
    c = cfg("access-list 101 permit ip any any\nno access-list 101\n")
    assert c.acls == {}


def test_abbreviations_work_at_every_level():
    c = cfg(
        "cry ips trans t1 esp-des esp-sha\ncry ips sec lif sec 600\ncry map m 10 ipsec-i\n mat add 101\n"
        " set tr t1\n set pe 1.1.1.1\nint s0\n ip add 10.0.0.1 255.255.255.0\n cry map m\n"
        "acc 101 perm tcp any any eq tel\n"
    )
    assert c.transform_sets["t1"].transforms == ("esp-des", "esp-sha-hmac")
    assert c.sa_lifetime.seconds == 600
    assert c.crypto_maps["m"].entries[10].transform_sets == ["t1"]
    assert c.interfaces["Serial0"].crypto_map == "m"
    assert c.acls["101"].entries[0].text() == "permit tcp any any eq telnet"


def test_global_commands_work_from_submodes_and_leave_them():
    s = Session(ConfigOnlyRouter(), mode="config")
    s.run("interface Serial0")
    assert s.prompt == "Router(config-if)#"
    assert s.run("access-list 101 permit ip any any").error is None
    assert s.prompt == "Router(config)#"
    s.run("interface Serial0")
    assert s.run("crypto map m local-address Serial0").error is None  # not 'crypto map NAME' of the interface
    assert (
        s.config.crypto_maps["m"].local_address == "Serial0"
        and s.config.interfaces["Serial0"].crypto_map is None
    )


def test_file_errors_carry_line_number_and_text_and_the_rest_loads():
    router = ConfigOnlyRouter()
    text = (
        "hostname A\ncrypto map m 10 cisco\n\n"
        "crypto ipsec transform-set t ah-md5-hmac ah-sha-hmac\nhostname B\n"
    )
    errors = load_config(router, text, source="r.cfg")
    assert [(e.lineno, e.text) for e in errors] == [
        (2, "crypto map m 10 cisco"),
        (4, "crypto ipsec transform-set t ah-md5-hmac ah-sha-hmac"),
    ]
    assert "CET" in errors[0].message and "not supported" in errors[0].message
    shown = str(errors[1])
    assert shown.startswith("r.cfg:4: crypto ipsec transform-set t ah-md5-hmac ah-sha-hmac\n")
    marker_line = shown.splitlines()[1]
    assert marker_line.index("^") == len("r.cfg:4: ") + shown.splitlines()[0].index("ah-sha-hmac") - len(
        "r.cfg:4: "
    )
    assert (
        router.config.hostname == "B"
        and router.config.crypto_maps == {}
        and router.config.transform_sets == {}
    )


def test_spec_text_verbatim_reports_only_its_typos():
    """The spec's elaborate example as printed: only the lines that IOS would refuse fail."""
    text = """interface Serial0
ip access-group 110 in
access-list 110 permit 50 any any
crypto transform-set encryp-auth esp-des esp-sha-hmac
crypto ipsec transform-set encryp-auth esp-des esp-sha-hmac
interface Loopback0
  ip address 20.20.20.1
crypto map toSomewhere 30 ipsec-isakmp dynamic mydynamicmap
"""
    router, errors = config_from_text(text)
    assert [e.lineno for e in errors] == [4, 7]
    assert "% Incomplete command." in errors[1].feedback
    assert "encryp-auth" in router.config.transform_sets and "toSomewhere" in router.config.crypto_maps


def test_change_notification_and_version():
    router = ConfigOnlyRouter()
    seen = []
    router.config.subscribe(lambda c, changes: seen.append([(ch.kind, ch.key) for ch in changes]))
    load_config(
        router,
        "crypto ipsec transform-set t esp-des\ncrypto map m 10 ipsec-manual\n set peer 1.1.1.1\n"
        "crypto map m 10 ipsec-isakmp\n",
    )
    assert seen == [[("transform-set", "t")], [("crypto-map", ("m", 10))], [("crypto-map", ("m", 10))]]
    assert router.config.version == 3  # the refused last line changed nothing and told no one


def test_running_config_loads_back_to_the_same_configuration():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "examples" / "configs").glob("*.cfg")):
        router, errors = config_from_text(path.read_text())
        assert errors == []
        shown = run_exec(router, "show running-config")
        assert shown.startswith("Building configuration...\n\nCurrent configuration:\n")
        again, errors = config_from_text(shown.split("\n", 3)[3])
        assert errors == [], "".join(map(str, errors))
        assert run_exec(again, "show running-config") == shown
        for command in (
            "show crypto map",
            "show crypto dynamic-map",
            "show crypto ipsec transform-set",
            "show access-lists",
            "show crypto ipsec security-association lifetime",
        ):
            assert run_exec(again, command) == run_exec(router, command)


def test_peer_names_resolve_through_ip_host():
    c = cfg(
        "ip host remotepeer.companyx.com 10.0.0.9\ncrypto map m 10 ipsec-isakmp\n"
        " set peer remotepeer.companyx.com\n set peer 10.0.0.1\n set peer unknown.example\n"
    )
    peers = c.crypto_maps["m"].entries[10].peers
    assert [str(c.resolve_peer(p)) for p in peers] == ["10.0.0.9", "10.0.0.1", "None"]
    c = cfg("ip host a 1.2.3.4\nno ip host a\n")
    assert c.hosts == {}


EVERYTHING = f"""hostname Edge-1
ip host peer.example 192.0.2.9
crypto ipsec security-association lifetime seconds 900
crypto ipsec transform-set old ah-rfc1828 esp-rfc1829
 initialization-vector size 4
crypto ipsec transform-set new ah-md5-hmac esp-des esp-sha-hmac
 mode transport
crypto dynamic-map dyn 5
 set peer 192.0.2.77
 set transform-set new old
 set security-association lifetime kilobytes 50000
 set pfs group2
 match address DYNLIST
crypto map out local-address Loopback0
crypto map out 10 ipsec-manual
 set peer 192.0.2.1
 set transform-set new
 set session-key inbound ah 1000 00112233445566778899aabbccddeeff
 set session-key outbound ah 1001 ffeeddccbbaa99887766554433221100
 set session-key inbound esp 1002 cipher 0011223344556677 authenticator {AUTH_IN}
 set session-key outbound esp 1003 cipher 7766554433221100 authenticator {AUTH_OUT}
 match address 110
crypto map out 20 ipsec-isakmp
 set peer peer.example
 set peer 192.0.2.2
 set transform-set new old
 set pfs
 set security-association level per-host
 set security-association lifetime seconds 300
 match address 120
crypto map out 30 ipsec-isakmp dynamic dyn
interface Loopback0
 ip address 192.0.2.254 255.255.255.255
interface FastEthernet0/1
 ip address 10.1.1.1 255.255.255.0
 ip access-group 199 in
 mtu 1400
 shutdown
 crypto map out
ip route 0.0.0.0 0.0.0.0 10.1.1.254
ip route 172.16.0.0 255.240.0.0 FastEthernet0/1 200
access-list 110 permit ip host 10.9.9.1 host 10.8.8.1
access-list 120 deny udp any any range ntp 200
access-list 120 permit tcp 10.9.0.0 0.0.255.255 gt 1023 10.8.0.0 0.0.255.255 eq www log
access-list 199 permit icmp any any echo-reply precedence 5 tos 2
ip access-list extended DYNLIST
 permit ip 10.9.0.0 0.0.255.255 any
"""


def test_every_setting_survives_running_config():
    router, errors = config_from_text(EVERYTHING)
    assert errors == [], "".join(map(str, errors))
    shown = run_exec(router, "show running-config")
    again, errors = config_from_text(shown.split("\n", 3)[3])
    assert errors == [], "".join(map(str, errors))
    assert run_exec(again, "show running-config") == shown
    a, b = router.config, again.config
    for name in ("hostname", "hosts", "interfaces", "routes", "acls", "transform_sets", "sa_lifetime"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.crypto_maps == b.crypto_maps and a.dynamic_maps == b.dynamic_maps


def test_a_failing_listener_does_not_undo_the_change():
    router = ConfigOnlyRouter()

    def broken(config, changes):
        raise RuntimeError("engine full")

    router.config.subscribe(broken)
    session = Session(router, mode="config")
    outcome = session.run("hostname Other")
    assert router.config.hostname == "Other" and session.prompt == "Other(config)#"
    assert outcome.output == "% Warning: RuntimeError: engine full\n"
    assert session.run("hostname Third").output == "% Warning: RuntimeError: engine full\n"


def test_listener_failures_during_a_file_load_are_reported():
    router = ConfigOnlyRouter()
    router.config.subscribe(lambda config, changes: 1 / 0)
    errors = load_config(router, "hostname X\n", source="f")
    assert [(e.lineno, e.message) for e in errors] == [
        (1, "% Warning: ZeroDivisionError: division by zero\n")
    ]
    assert router.config.hostname == "X"
