"""The ACL matcher (host/acl.py) and its line grammar, against a straightforward reference.

The reference evaluates an ACL the way the IOS documentation words it, with independent code:
addresses through the ``ipaddress`` module (a contiguous wildcard is a network) or bit by bit,
ports as explicit sets, first match wins, nothing matched is a deny."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.acl import TCP_PORTS, UDP_PORTS, Packet
from host.config.loader import config_from_text

# -- a reference evaluation -----------------------------------------------------------------


def ref_addr_match(spec: tuple, addr: str) -> bool:
    kind = spec[0]
    if kind == "any":
        return True
    if kind == "host":
        return addr == spec[1]
    base, wildcard = (int(ipaddress.IPv4Address(x)) for x in spec[1:])
    inverted = ~wildcard & 0xFFFFFFFF
    if inverted & (inverted + 1) == 0 or wildcard == 0:  # contiguous: a network
        prefix = 32 - wildcard.bit_length()
        net = ipaddress.IPv4Network(f"{ipaddress.IPv4Address(base & inverted)}/{prefix}")
        return ipaddress.IPv4Address(addr) in net
    value = int(ipaddress.IPv4Address(addr))
    return all((wildcard >> b) & 1 or ((value >> b) & 1) == ((base >> b) & 1) for b in range(32))


def ref_port_set(op: str, a: int, b: int = 0) -> set[int]:
    if op == "eq":
        return {a}
    if op == "neq":
        return set(range(65536)) - {a}
    if op == "lt":
        return set(range(a))
    if op == "gt":
        return set(range(a + 1, 65536))
    return set(range(a, b + 1))


PROTO = {"ip": None, "tcp": 6, "udp": 17, "icmp": 1, "esp": 50, "ahp": 51}


def ref_line_match(line: dict, pkt: dict) -> bool:
    proto = line["proto"]
    if proto is not None and pkt["proto"] != proto:
        return False
    if not (ref_addr_match(line["src"], pkt["src"]) and ref_addr_match(line["dst"], pkt["dst"])):
        return False
    if line.get("sport") and pkt["sport"] not in ref_port_set(*line["sport"]):
        return False
    return not (line.get("dport") and pkt["dport"] not in ref_port_set(*line["dport"]))


def ref_permits(lines: list[dict], pkt: dict) -> bool:
    for line in lines:
        if ref_line_match(line, pkt):
            return line["action"] == "permit"
    return False


def addr_text(spec: tuple) -> str:
    return {"any": lambda: "any", "host": lambda: f"host {spec[1]}"}.get(
        spec[0], lambda: f"{spec[1]} {spec[2]}"
    )()


def line_text(line: dict) -> str:
    words = [line["action"], line["proto_word"], addr_text(line["src"])]
    if line.get("sport"):
        words.append(" ".join(map(str, line["sport"])))
    words.append(addr_text(line["dst"]))
    if line.get("dport"):
        words.append(" ".join(map(str, line["dport"])))
    return " ".join(words)


# -- strategies: small address space so that matches happen ---------------------------------
octet = st.sampled_from([0, 1, 2, 10, 255])
addrs = st.builds(lambda a, b: f"10.{a}.0.{b}", octet, octet)
wildcards = st.sampled_from(
    ["0.0.0.0", "0.0.0.255", "0.255.255.255", "0.255.0.255", "0.0.255.3", "255.255.255.255"]
)
addr_specs = st.one_of(
    st.just(("any",)),
    st.builds(lambda a: ("host", a), addrs),
    st.builds(lambda a, w: ("net", a, w), addrs, wildcards),
)
ports = st.sampled_from([0, 1, 22, 23, 80, 500, 1023, 65535])


@st.composite
def port_ops(draw):
    op = draw(st.sampled_from(["eq", "neq", "lt", "gt", "range"]))
    a = draw(ports)
    if op == "range":
        b = draw(ports.filter(lambda p: p >= a))
        return (op, a, b)
    return (op, a)


@st.composite
def acl_lines(draw):
    proto_word = draw(st.sampled_from(list(PROTO) + ["50", "6", "17"]))
    proto = PROTO.get(proto_word, int(proto_word) if proto_word.isdigit() else None)
    line = {
        "action": draw(st.sampled_from(["permit", "deny"])),
        "proto_word": proto_word,
        "proto": proto,
        "src": draw(addr_specs),
        "dst": draw(addr_specs),
    }
    if proto in (6, 17):
        line["sport"] = draw(st.none() | port_ops())
        line["dport"] = draw(st.none() | port_ops())
    return line


packets = st.fixed_dictionaries(
    {
        "src": addrs,
        "dst": addrs,
        "proto": st.sampled_from([1, 6, 17, 50, 51]),
        "sport": ports,
        "dport": ports,
    }
)


def build(lines: list[dict]):
    text = "".join(f"access-list 150 {line_text(line)}\n" for line in lines)
    router, errors = config_from_text(text)
    assert errors == [], "".join(map(str, errors))
    return router.config.acls["150"]


@settings(max_examples=300, deadline=None)
@given(st.lists(acl_lines(), min_size=1, max_size=5), st.lists(packets, min_size=1, max_size=8))
def test_matcher_agrees_with_reference(lines, pkts):
    acl = build(lines)
    for p in pkts:
        pkt = Packet.of(p["src"], p["dst"], p["proto"], p["sport"], p["dport"])
        assert acl.permits(pkt) == ref_permits(lines, p), (lines, p)


@settings(max_examples=100, deadline=None)
@given(st.lists(acl_lines(), min_size=1, max_size=4))
def test_printed_lines_load_back_identically(lines):
    acl = build(lines)
    again, errors = config_from_text("".join(f"access-list 150 {e.text()}\n" for e in acl.entries))
    assert errors == []
    assert again.config.acls["150"].entries == acl.entries


# -- explicit cases -------------------------------------------------------------------------
def acl_of(*lines: str):
    router, errors = config_from_text("".join(f"access-list 101 {line}\n" for line in lines))
    assert errors == [], "".join(map(str, errors))
    return router.config.acls["101"]


def test_first_match_wins_and_implicit_deny():
    acl = acl_of("deny ip host 10.0.0.1 any", "permit ip 10.0.0.0 0.0.0.255 any")
    assert not acl.permits(Packet.of("10.0.0.1", "1.1.1.1", 6))
    assert acl.permits(Packet.of("10.0.0.2", "1.1.1.1", 6))
    assert not acl.permits(Packet.of("10.0.1.2", "1.1.1.1", 6))  # implicit deny


def test_named_ports_are_the_iana_numbers():
    # telnet 23, www 80 (TCP); isakmp 500 (UDP) - the well-known assignments
    acl = acl_of("permit tcp any any eq telnet", "permit tcp any eq www any", "permit udp any any eq isakmp")
    assert acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 6, 40000, 23))
    assert acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 6, 80, 40000))
    assert acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 17, 500, 500))
    assert not acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 17, 40000, 23))
    assert TCP_PORTS["smtp"] == 25 and UDP_PORTS["tftp"] == 69 and UDP_PORTS["snmp"] == 161


def test_esp_ahp_and_numbers_are_the_same_protocols():
    acl = acl_of("permit 50 any any", "permit ahp any any")
    assert acl.entries[0].text() == "permit esp any any"
    assert acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 50))
    assert acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 51))
    assert not acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 17))


def test_precedence_tos_log_accepted_and_matched():
    acl = acl_of("permit ip any any precedence critical tos max-throughput log")
    entry = acl.entries[0]
    assert (entry.precedence, entry.tos, entry.log) == (5, 4, True)
    tos_byte = (5 << 5) | (4 << 1)
    assert acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 6, tos=tos_byte))
    assert not acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 6, tos=0))
    assert entry.text() == "permit ip any any precedence critical tos max-throughput log"


def test_icmp_type():
    acl = acl_of("permit icmp any any echo", "permit icmp any any 3 4")
    assert acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 1, icmp_type=8, icmp_code=0))
    assert not acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 1, icmp_type=0, icmp_code=0))
    assert acl.permits(Packet.of("1.1.1.1", "2.2.2.2", 1, icmp_type=3, icmp_code=4))


def test_address_is_normalised_under_its_wildcard():
    acl = acl_of("permit ip 10.1.2.77 0.0.0.255 any")
    assert acl.entries[0].text() == "permit ip 10.1.2.0 0.0.0.255 any"


@pytest.mark.parametrize(
    "line",
    [
        "permit tcp any any eq 70000",
        "permit ip any any eq 23",  # ports only for tcp/udp
        "permit tcp any any range 80 23",
        "permit foo any any",
        "permit ip host any",
        "permit ip 10.0.0.0 any",
        "permit 256 any any",
        "permit ip any any precedence 8",
    ],
)
def test_bad_lines_are_refused(line):
    router, errors = config_from_text(f"access-list 101 {line}\n")
    assert len(errors) == 1 and errors[0].lineno == 1
    assert "101" not in router.config.acls


@st.composite
def flows(draw):
    """A flow as an ACL line (host or subnet pairs, optional protocol and eq ports)."""
    line = draw(acl_lines())
    line["action"] = "permit"
    return line


def addr_picker(draw_addr):
    def pick(spec):
        if spec[0] == "any":
            return draw_addr()
        if spec[0] == "host":
            return spec[1]
        base, wildcard = (int(ipaddress.IPv4Address(x)) for x in spec[1:])
        noise = int(ipaddress.IPv4Address(draw_addr()))
        return str(ipaddress.IPv4Address((base & ~wildcard) | (noise & wildcard)))

    return pick


@settings(max_examples=300, deadline=None)
@given(st.lists(acl_lines(), min_size=1, max_size=4), flows(), st.data())
def test_subset_check_is_sound(lines, flow, data):
    """If the ACL is said to permit the whole flow, every packet of the flow is permitted."""
    acl = build(lines)
    flow_entry = build([flow]).entries[0]
    if not acl.permits_all_of(flow_entry):
        return
    pick = addr_picker(lambda: data.draw(addrs))
    for _ in range(8):
        proto = flow["proto"] if flow["proto"] is not None else data.draw(st.sampled_from([1, 6, 17, 50]))
        sport = data.draw(ports.filter(lambda p: not flow.get("sport") or p in ref_port_set(*flow["sport"])))
        dport = data.draw(ports.filter(lambda p: not flow.get("dport") or p in ref_port_set(*flow["dport"])))
        pkt = Packet.of(pick(flow["src"]), pick(flow["dst"]), proto, sport, dport)
        assert flow_entry.matches(pkt)
        assert acl.permits(pkt), (lines, flow, pkt)


def test_subset_check_decides_figure3_shapes():
    subnets = acl_of("permit ip 10.0.0.0 0.0.0.255 20.0.0.0 0.0.0.255")
    hosts = acl_of("permit ip host 10.0.0.1 host 20.0.0.2")
    assert subnets.permits_all_of(hosts.entries[0])
    assert not hosts.permits_all_of(subnets.entries[0])
