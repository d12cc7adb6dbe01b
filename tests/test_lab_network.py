"""The lab's network on the virtual clock: latency and ordering, link MTU and the routers'
fragmentation, drops where nothing is connected, a router failing, SA lifetimes passing through
a run as events, and the accounting of packets that never arrive."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from scapy.layers.inet import IP
from scapy.utils import PcapReader

from sim.lab.events import JsonLines
from sim.lab.format import parse_lab
from sim.lab.lab import Lab
from sim.lab.ledger import Ledger
from tests.router_helpers import isakmp_pair_config, negotiate

ROOT = Path(__file__).resolve().parents[1]

PLAIN = """\
routers:
  A:
    config: |
      interface Serial0
       ip address 10.0.0.1 255.255.255.252
      interface Serial1
       ip address 10.0.9.1 255.255.255.252
      interface Ethernet0
       ip address 10.1.0.1 255.255.255.0
      ip route 10.2.0.0 255.255.0.0 10.0.0.2
      ip route 10.9.0.0 255.255.0.0 10.0.9.2
  B:
    config: |
      interface Serial0
       ip address 10.0.0.2 255.255.255.252
      interface Ethernet0
       ip address 10.2.0.1 255.255.255.0
      ip route 10.1.0.0 255.255.0.0 10.0.0.1
links:
  - {name: wan, between: [A Serial0, B Serial0], latency: 5ms, mtu: MTU BANDWIDTH}
hosts:
  h1: {router: A, interface: Ethernet0, address: 10.1.0.10, latency: 100us}
  h2: {router: B, interface: Ethernet0, address: 10.2.0.10, latency: 300us}
traffic:
TRAFFIC
"""


def run(traffic: str, mtu: int = 1500, capture=None, bandwidth: str = "", **kw):
    text = PLAIN.replace("MTU", str(mtu)).replace("TRAFFIC", traffic)
    text = text.replace(" BANDWIDTH", f", bandwidth: {bandwidth}" if bandwidth else "")
    buf = io.StringIO()
    lab = Lab(parse_lab(text, source="t.yaml"), capture=capture, sinks=[JsonLines(buf)], **kw)
    result = lab.run()
    return result, [json.loads(line) for line in buf.getvalue().splitlines()]


def test_latency_adds_up_and_order_is_kept() -> None:
    _, events = run("  - {name: p, from: h1, to: h2, count: 5, interval: 1ms, at: 1s}")
    sent = {e["id"]: e for e in events if e["event"] == "sent"}
    got = [e for e in events if e["event"] == "delivered" and not e["reply"]]
    # host h1 100us + link 5ms + host h2 300us, per the lab file
    assert [round(e["latency"], 9) for e in got] == [0.0054] * 5
    assert [e["n"] for e in got] == [1, 2, 3, 4, 5]
    replies = [e for e in events if e["event"] == "delivered" and e["reply"]]
    assert all(round(e["time"] - sent[e["id"]]["time"], 9) == 0.0054 for e in replies)
    requests = {e["n"]: e for e in sent.values() if not e["reply"]}
    assert [round(e["time"] - requests[e["n"]]["time"], 9) for e in replies] == [0.0108] * 5


def test_link_mtu_makes_routers_fragment_and_hosts_reassemble(tmp_path) -> None:
    result, events = run(
        "  - {name: big, from: h1, to: h2, protocol: udp, dport: 9, size: 1400, reply: true}",
        mtu=576,
        capture=tmp_path,
    )
    assert result.flows["big"].delivered == 1 and result.replies["big"].delivered == 1
    with PcapReader(str(tmp_path / "wan.pcap")) as reader:
        frames = [IP(bytes(p)) for p in reader]
    assert len(frames) == 6  # 1400 bytes in 576-byte fragments (552 data bytes each), both ways
    assert max(len(bytes(f)) for f in frames) <= 576
    assert {f.flags.MF for f in frames} == {0, 1}


def test_unconnected_interface_and_unknown_lan_address_are_drops_with_where() -> None:
    result, events = run(
        "  - {name: nowhere, from: h1, to: 10.9.0.1}\n  - {name: nobody, from: h1, to: 10.2.0.99}"
    )
    drops = {e["flow"]: e for e in events if e["event"] == "dropped"}
    assert drops["nowhere"]["reason"] == "A Serial1 is not connected"
    assert drops["nowhere"]["where"] == "router A"
    assert drops["nobody"]["reason"] == "no host with address 10.2.0.99"
    assert drops["nobody"]["where"] == "segment B-Ethernet0"


def test_a_failing_router_is_a_counted_drop_not_a_crash() -> None:
    text = PLAIN.replace("MTU", "1500").replace("TRAFFIC", "  - {name: p, from: h1, to: h2, count: 2}")
    text = text.replace(" BANDWIDTH", "")
    lab = Lab(parse_lab(text, source="t.yaml"))
    lab.build()

    def broken(interface, datagram):
        raise RuntimeError("engine on fire")

    lab.routers["B"].router.receive = broken
    result = lab.run()
    assert result.flows["p"].dropped == 2
    assert result.flows["p"].reasons == {"router error: RuntimeError: engine on fire": 2}


def test_sa_lifetimes_run_on_the_lab_clock() -> None:
    a_cfg = isakmp_pair_config(
        "A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", "esp-des esp-sha-hmac"
    )
    b_cfg = isakmp_pair_config(
        "B", "192.168.0.2", "192.168.0.1", "10.2.2.0", "10.1.1.0", "esp-des esp-sha-hmac"
    )
    indent = lambda t: "\n".join("      " + line for line in t.splitlines())  # noqa: E731
    text = (
        f"duration: 200s\nrouters:\n  A:\n    config: |\n{indent(a_cfg)}\n"
        f"  B:\n    config: |\n{indent(b_cfg)}\n"
        "links:\n  - {between: [A Serial0, B Serial0]}\n"
        "hosts:\n  h1: {router: A, interface: Ethernet0, address: 10.1.1.10}\n"
        "  h2: {router: B, interface: Ethernet0, address: 10.2.2.10}\n"
        "traffic:\n  - {name: before, from: h1, to: h2, at: 10s}\n"
        "  - {name: after, from: h1, to: h2, at: 150s}\n"
    )
    buf = io.StringIO()
    lab = Lab(parse_lab(text, source="t.yaml"), sinks=[JsonLines(buf)])
    lab.build()
    negotiate(lab.routers["A"].router, lab.routers["B"].router, lifetime=(120, 4_608_000))
    result = lab.run()
    events = [json.loads(line) for line in buf.getvalue().splitlines()]
    created = [e for e in events if e["event"] == "sa_created"]
    expired = [e for e in events if e["event"] == "sa_expired"]
    assert len(created) == 4 and all(e["time"] == 0 for e in created)
    assert len(expired) == 4 and all(e["time"] == pytest.approx(120) for e in expired)
    assert {e["why"] for e in expired} == {"seconds"}
    assert result.flows["before"].delivered == 1 and result.replies["before"].delivered == 1
    assert result.flows["after"].dropped == 1
    assert list(result.flows["after"].reasons) == [
        "no sa (requested from key management) (crypto map vpn 10)"
    ]
    assert any(e["event"] == "sa_request" and e["router"] == "A" for e in events)
    assert result.end_time == 200


def test_unsettled_packets_are_dropped_as_never_arrived() -> None:
    seen = []
    ledger = Ledger(lambda kind, p, **f: seen.append((kind, p.id, f)))
    p = ledger.new(flow="f", n=1, reply=False, src_host="h", time=0.0, size=100, summary="x")
    ledger.seen([p.id], "held by router B (in Serial0)")
    ledger.settle_rest(9.0)
    assert seen[0][0] == "dropped" and seen[0][2]["where"] == "held by router B (in Serial0)"
    assert "never arrived" in seen[0][2]["reason"]
    ledger.delivered([p.id], 10.0, "h2")  # settled once only
    assert len(seen) == 1


def test_exec_debug_and_clear_show_up_as_events() -> None:
    cfg = (ROOT / "examples" / "configs" / "manual.cfg").read_text()
    text = "routers:\n  A:\n    config: |\n" + "".join(f"      {line}\n" for line in cfg.splitlines())
    text += "exec:\n  - {at: 0s, router: A, command: debug crypto ipsec}\n"
    text += "  - {at: 1s, router: A, command: clear crypto sa}\n"
    events: list[dict] = []
    Lab(parse_lab(text, source="t.yaml"), sinks=[events.append]).run()
    assert [e["output"] for e in events if e["event"] == "exec"][0].startswith("Crypto IPSEC debugging is on")
    deleted = [e for e in events if e["event"] == "sa_deleted"]
    assert (
        len(deleted) == 4
        and {e["why"] for e in deleted} == {"cleared"}
        and {e["time"] for e in deleted} == {1.0}
    )
    logs = [e["text"] for e in events if e["event"] == "log"]
    assert sum("IPSEC(delete_sa)" in t for t in logs) == 4 and sum("IPSEC(create_sa)" in t for t in logs) == 4
    assert (
        len([e for e in events if e["event"] == "sa_created"]) == 8
    )  # at the start, and again after the clear


def test_bandwidth_adds_transmission_time_and_queues(tmp_path) -> None:
    _, events = run(
        "  - {name: burst, from: h1, to: h2, protocol: udp, dport: 9, size: 1250, count: 3, interval: 0}",
        bandwidth="1Mbit",
        capture=tmp_path,
    )
    got = [e for e in events if e["event"] == "delivered"]
    # 1250 bytes = 10 ms at 1 Mbit/s each, queued one behind the other; plus 5 ms link and the
    # hosts' 0.1 ms and 0.3 ms
    assert [round(e["latency"], 9) for e in got] == [0.0154, 0.0254, 0.0354]
    from sim.lab.pcap import EPOCH

    with PcapReader(str(tmp_path / "wan.pcap")) as reader:
        starts = [round(float(p.time) - EPOCH, 6) for p in reader]
    assert starts == [0.0001, 0.0101, 0.0201]  # captured when each transmission starts


def test_bandwidth_values() -> None:
    from sim.lab.format import parse_bandwidth

    assert parse_bandwidth("64k") == 64000 and parse_bandwidth("1.544Mbit") == pytest.approx(1_544_000)
    assert (
        parse_bandwidth("10Mbps") == 10e6 and parse_bandwidth(9600) == 9600 and parse_bandwidth("1G") == 1e9
    )
    for bad in ("fast", 0, "-1k", True, "10 Mbytes"):
        with pytest.raises(ValueError):
            parse_bandwidth(bad)
