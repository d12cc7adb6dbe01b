"""``show crypto engine connections active`` / ``configuration`` on routers exchanging traffic.

Two routers with manual SAs (IOS text) pass real packets; router A's crypto engine is an engine
manager over the fault-injecting card of :mod:`tests.fault_injection` (slot 5) with the software
engine behind it. The rows are checked against the traffic sent, the conn ids against ``show
crypto ipsec sa``, the row layout against the IOS 12.x sample quoted in RESEARCH.md.
"""

from __future__ import annotations

import re

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.packet import Raw, raw

from driver.manager import EngineManager
from driver.registry import ACCELERATORS
from driver.software import SoftwareEngine
from host.ipsec.sa import DropReason
from host.show.crypto_engine import HEADER, connection_row
from tests.fault_injection import FaultyCard
from tests.router_helpers import Net, keys_for, manual_pair_config


def pair(transforms: str = "esp-des esp-sha-hmac", card: FaultyCard | None = None, **manager_kw):
    """Routers A (engine: manager over ``card``) and B (software), linked on Serial0."""
    keys = keys_for(transforms)
    engine = EngineManager(card or FaultyCard(max_conns=8), SoftwareEngine(), **manager_kw)
    net = Net()
    a = net.add(
        "A",
        manual_pair_config("A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", transforms, keys),
        seed=1,
        engine=engine,
    )
    b = net.add(
        "B",
        manual_pair_config(
            "B", "192.168.0.2", "192.168.0.1", "10.2.2.0", "10.1.1.0", transforms, keys, swap=True
        ),
        seed=2,
    )
    net.link("A", "Serial0", "B", "Serial0")
    return net, a, b, net.lan("A", "Ethernet0"), net.lan("B", "Ethernet0")


def ping(src: str, dst: str, n: int) -> bytes:
    return raw(IP(src=src, dst=dst, id=n, ttl=64) / ICMP(id=3, seq=n) / Raw(b"p" * (20 + n)))


def rows(text: str) -> dict[int, tuple]:
    """conn id -> (interface, address, state, algorithm, encrypt, decrypt)."""
    lines = text.splitlines()
    assert lines[0] == "" and lines[1] == HEADER
    out = {}
    for line in lines[2:]:
        f = line.split()
        assert len(f) == 7, line
        out[int(f[0])] = (f[1], f[2], f[3], f[4], int(f[5]), int(f[6]))
    return out


def config_blocks(text: str) -> dict[int, dict[str, str]]:
    """slot -> {label: value} of ``show crypto engine configuration``."""
    blocks: dict[int, dict[str, str]] = {}
    for chunk in text.strip("\n").split("\n\n"):
        fields = {}
        for line in chunk.splitlines():
            label, _, value = line.partition(":  ")
            fields[label.strip()] = value
        blocks[int(fields["crypto engine in slot"])] = fields
    return blocks


def sa_slots(text: str) -> list[tuple[int, int]]:
    """(slot, conn id) of every SA in ``show crypto ipsec sa``."""
    return [(int(s), int(c)) for s, c in re.findall(r"slot: (\d+), conn id: (\d+)", text)]


def test_row_layout_is_the_ios_sample():
    """RESEARCH.md's two IOS 12.x sample rows, rebuilt from their values."""
    assert HEADER == "  ID Interface     IP-Address      State  Algorithm             Encrypt  Decrypt"
    assert (
        connection_row(2000, "Ethernet0/0", "13.1.1.3", "set", "HMAC_SHA+DES_56_CB", 0, 114)
        == "2000 Ethernet0/0   13.1.1.3        set    HMAC_SHA+DES_56_CB          0      114"
    )
    assert (
        connection_row(2001, "Ethernet0/0", "13.1.1.3", "set", "HMAC_SHA+DES_56_CB", 114, 0)
        == "2001 Ethernet0/0   13.1.1.3        set    HMAC_SHA+DES_56_CB        114        0"
    )


def test_connections_active_counts_each_direction_on_both_routers():
    net, a, b, lan_a, lan_b = pair()
    for n in range(5):
        net.inject("A", "Ethernet0", ping("10.1.1.5", "10.2.2.7", n))
    for n in range(3):
        net.inject("B", "Ethernet0", ping("10.2.2.7", "10.1.1.5", n))
    assert (len(lan_b), len(lan_a)) == (5, 3)
    for router, sent, got, addr in ((a, 5, 3, "192.168.0.1"), (b, 3, 5, "192.168.0.2")):
        table = rows(router.exec("show crypto engine connections active"))
        sas = {sa.inbound: sa.conn_id for sa in router.security_associations()}
        assert sorted(table) == sorted(sas.values())
        assert table[sas[False]] == ("Serial0", addr, "set", "HMAC_SHA+DES_56_CB", sent, 0)
        assert table[sas[True]] == ("Serial0", addr, "set", "HMAC_SHA+DES_56_CB", 0, got)
        # the same conn ids as show crypto ipsec sa prints
        assert sorted(c for _, c in sa_slots(router.exec("show crypto ipsec sa"))) == sorted(table)
    assert {s for s, _ in sa_slots(a.exec("show crypto ipsec sa"))} == {5}
    assert {s for s, _ in sa_slots(b.exec("show crypto ipsec sa"))} == {0}


@pytest.mark.parametrize(
    ("transforms", "algorithms"),
    [
        ("esp-des", ["DES_56_CB"]),
        ("esp-des esp-md5-hmac", ["HMAC_MD5+DES_56_CB"]),
        ("ah-sha-hmac", ["HMAC_SHA"]),
        ("ah-md5-hmac esp-des esp-sha-hmac", ["HMAC_MD5", "HMAC_SHA+DES_56_CB"]),
    ],
)
def test_algorithm_names(transforms, algorithms):
    net, a, _, _, lan_b = pair(transforms)
    net.inject("A", "Ethernet0", ping("10.1.1.5", "10.2.2.7", 1))
    assert len(lan_b) == 1
    table = rows(a.exec("show crypto engine connections active"))
    assert sorted(r[3] for r in table.values()) == sorted(algorithms * 2)
    # one packet out: each outbound SA (ESP and AH alike) encrypted it once
    assert sorted(r[4] for r in table.values()) == sorted([0] * len(algorithms) + [1] * len(algorithms))


def test_full_card_sends_an_sa_to_software_and_shows_it():
    card = FaultyCard(max_conns=1)
    net, a, b, lan_a, lan_b = pair(card=card)
    assert sorted(s for s, _ in sa_slots(a.exec("show crypto ipsec sa"))) == [0, 5]
    assert any("%CRYPTO-4-ENGINE_FULL: crypto engine slot 5" in line for line in a.log)
    for n in range(4):
        net.inject("A", "Ethernet0", ping("10.1.1.5", "10.2.2.7", n))
        net.inject("B", "Ethernet0", ping("10.2.2.7", "10.1.1.5", n))
    assert (len(lan_a), len(lan_b)) == (4, 4)
    conf = config_blocks(a.exec("show crypto engine configuration"))
    assert sorted(conf) == [0, 5]
    card_block, soft = conf[5], conf[0]
    assert card_block["crypto engine type"] == "hardware" and card_block["crypto engine state"] == "installed"
    assert card_block["connections in use"] == "1 of 1" and card_block["fallbacks to software"] == "1"
    assert soft["crypto engine type"] == "software" and soft["connections in use"] == "1 of 4096"
    assert int(card_block["jobs completed"]) == 4 and int(soft["jobs completed"]) == 4
    assert card.inner.stats.jobs == 4  # the card really did its share


def test_card_killed_under_traffic_router_keeps_forwarding_on_software():
    card = FaultyCard(max_conns=8)
    net, a, b, lan_a, lan_b = pair(card=card)
    logs = []
    a.subscribe(lambda ev: logs.append(ev.data["text"]) if ev.kind == "log" else None)
    for n in range(4):
        net.inject("A", "Ethernet0", ping("10.1.1.5", "10.2.2.7", n))
    card.break_now("killed")
    for n in range(4, 8):
        net.inject("A", "Ethernet0", ping("10.1.1.5", "10.2.2.7", n))
        net.inject("B", "Ethernet0", ping("10.2.2.7", "10.1.1.5", n))
    assert [IP(p).id for p in lan_b] == list(range(8)) and len(lan_a) == 4
    assert {s for s, _ in sa_slots(a.exec("show crypto ipsec sa"))} == {0}
    table = rows(a.exec("show crypto engine connections active"))
    assert sorted((r[4], r[5]) for r in table.values()) == [(0, 4), (8, 0)]  # counts span the failover
    conf = config_blocks(a.exec("show crypto engine configuration"))
    assert conf[5]["crypto engine state"] == "failed"
    assert "simulator process exited" in conf[5]["failure reason"]
    assert conf[5]["failovers to software"] == "1" and conf[5]["connections in use"] == "0 of 8"
    assert conf[0]["connections in use"] == "2 of 4096"
    assert any("%ISA-6-INFO: ISA slot 5: testcard: simulator process exited" in t for t in logs)
    assert any("%CRYPTO-4-ENGINE_FAILED: crypto engine slot 5" in line for line in a.log)


def test_card_that_goes_silent_mid_burst_loses_no_packet():
    card = FaultyCard(max_conns=8, per_poll=2, fail_after=3, mode="silent")
    net, a, b, lan_a, lan_b = pair(card=card, timeout_polls=5)
    out = a.receive_burst([("Ethernet0", ping("10.1.1.5", "10.2.2.7", n)) for n in range(10)])
    assert len(out) == 10 and sum(a.drops.values()) == 0
    net.run([("B", iface, data) for iface, data in out])
    assert sorted(IP(p).id for p in lan_b) == list(range(10))
    assert any(line.endswith("%ISA-6-INFO: ISA slot 5: Firmware heartbeat failed") for line in a.log)


@pytest.mark.parametrize("policy", ["wait", "drop"])
def test_ppq_full_is_counted_and_drops_are_reported(policy):
    card = FaultyCard(max_conns=8, queue_depth=3)
    net, a, b, lan_a, lan_b = pair(card=card, on_queue_full=policy)
    out = a.receive_burst([("Ethernet0", ping("10.1.1.5", "10.2.2.7", n)) for n in range(8)])
    conf = config_blocks(a.exec("show crypto engine configuration"))[5]
    outbound = next(sa for sa in a.security_associations() if not sa.inbound)
    engine_drops = outbound.counters.drops[DropReason.SEND_ENGINE_ERROR]
    assert int(conf["ppq full errors"]) >= 1
    if policy == "wait":
        assert len(out) == 8 and engine_drops == 0 and conf["ppq full drops"] == "0"
    else:
        assert len(out) == 3 and engine_drops == 5 and conf["ppq full drops"] == "5"
        assert a.drops["engine error"] == 5
        detail = a.exec("show crypto ipsec sa detail")
        assert re.search(r"internal err \(send\):? 5", detail), detail
    net.run([("B", iface, data) for iface, data in out])
    assert len(lan_b) == len(out)


def test_software_only_router_shows_its_one_engine():
    net, a, b, _, _ = pair()
    conf = config_blocks(b.exec("show crypto engine configuration"))
    assert list(conf) == [0]
    assert conf[0]["crypto engine name"] == "software"
    assert conf[0]["platform"] == "Cisco Software Crypto Engine"
    assert conf[0]["connections in use"] == "2 of 4096"
    assert "fallbacks to software" not in conf[0]


# -- esa console --engine ----------------------------------------------------------------------


def _console(monkeypatch, capsys, tmp_path, engine: str, script: str) -> tuple[int, str, str]:
    """Run ``esa console --engine ENGINE --config A.cfg`` in process with ``script`` piped in."""
    import io

    from sim.cli import main

    cfg = tmp_path / "a.cfg"
    transforms = "esp-des esp-md5-hmac"
    cfg.write_text(
        manual_pair_config(
            "A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", transforms, keys_for(transforms)
        )
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    code = main(["console", "--engine", engine, "--config", str(cfg)])
    out, err = capsys.readouterr()
    return code, out, err


def test_console_runs_the_real_router_on_the_chosen_engine(monkeypatch, capsys, tmp_path):
    from driver import registry

    monkeypatch.setitem(registry.BACKENDS, "testcard", f"{FaultyCard.__module__}:FaultyCard")
    monkeypatch.setattr(registry, "ACCELERATORS", {*registry.ACCELERATORS, "testcard"})
    script = "\n".join(
        [
            "enable",
            "show crypto ipsec sa",
            "show crypto engine connections active",
            "show crypto engine configuration",
            "",
        ]
    )
    code, out, err = _console(monkeypatch, capsys, tmp_path, "testcard", script)
    assert code == 0, err
    assert sorted(sa_slots(out)) == [(5, 1), (5, 2)]  # the manual SAs, on the card
    table = rows(out.split("A#show crypto engine connections active\n")[1].split("A#")[0])
    assert [(r[0], r[1], r[3]) for r in table.values()] == [
        ("Serial0", "192.168.0.1", "HMAC_MD5+DES_56_CB")
    ] * 2
    conf = config_blocks(out.split("A#show crypto engine configuration\n")[1].split("A#")[0])
    assert conf[5]["crypto engine name"] == "testcard" and conf[5]["connections in use"] == "2 of 4"
    assert conf[0]["crypto engine name"] == "software"


def test_console_default_engine_is_software(monkeypatch, capsys, tmp_path):
    code, out, err = _console(monkeypatch, capsys, tmp_path, "software", "show crypto engine configuration\n")
    assert code == 0, err
    conf = config_blocks(out.split("A>show crypto engine configuration\n")[1].split("A>")[0])
    assert list(conf) == [0] and conf[0]["connections in use"] == "2 of 4096"


@pytest.mark.skipif("amaranth" not in ACCELERATORS, reason="driver/amaranth_backend.py is not there")
def test_router_offloads_to_the_amaranth_engine():
    """Router A on ``--engine amaranth`` (the HDL engine in Amaranth's simulator, software
    behind it), B on software: traffic both ways, the rows count it, the card counts cycles."""
    from driver.registry import open_engine

    keys = keys_for("esp-des esp-sha-hmac")
    net = Net()
    a = net.add(
        "A",
        manual_pair_config(
            "A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", "esp-des esp-sha-hmac", keys
        ),
        engine=open_engine("amaranth"),
    )
    net.add(
        "B",
        manual_pair_config(
            "B", "192.168.0.2", "192.168.0.1", "10.2.2.0", "10.1.1.0", "esp-des esp-sha-hmac", keys, swap=True
        ),
        seed=2,
    )
    net.link("A", "Serial0", "B", "Serial0")
    lan_a, lan_b = net.lan("A", "Ethernet0"), net.lan("B", "Ethernet0")
    try:
        for n in range(3):
            net.inject("A", "Ethernet0", ping("10.1.1.5", "10.2.2.7", n))
            net.inject("B", "Ethernet0", ping("10.2.2.7", "10.1.1.5", n))
        assert (len(lan_a), len(lan_b)) == (3, 3)
        assert {s for s, _ in sa_slots(a.exec("show crypto ipsec sa"))} == {5}
        table = rows(a.exec("show crypto engine connections active"))
        assert sorted((r[4], r[5]) for r in table.values()) == [(0, 3), (3, 0)]
        card = config_blocks(a.exec("show crypto engine configuration"))[5]
        assert card["crypto engine name"] == "amaranth" and card["crypto engine state"] == "installed"
        assert card["jobs completed"] == "6" and int(card["cycles"]) > 0
    finally:
        a.close()
