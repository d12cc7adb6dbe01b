"""The lab file format: what it accepts, and a clear error naming file and key for what it
does not (through the CLI too: exit status 2, one message, no traceback)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sim.cli import main as esa
from sim.lab.errors import LabError
from sim.lab.format import load_lab, parse_duration, parse_lab
from sim.lab.lab import Lab

ROOT = Path(__file__).resolve().parents[1]

GOOD = textwrap.dedent("""\
    lab: two routers
    routers:
      A:
        config: |
          interface Serial0
           ip address 10.0.0.1 255.255.255.252
          interface Ethernet0
           ip address 10.1.0.1 255.255.255.0
          ip route 10.2.0.0 255.255.0.0 10.0.0.2
      B:
        config-file: b.cfg
    links:
      - {between: [A Serial0, B Serial0], latency: 3ms, mtu: 1400}
    hosts:
      h1: {router: A, interface: Ethernet0, address: 10.1.0.10}
      h2: {router: B, interface: Ethernet0, address: 10.2.0.10}
    traffic:
      - {name: t, from: h1, to: h2, protocol: tcp, dport: telnet, count: 2, interval: 10ms, at: 1s,
         reply: true, expect: delivered}
      - {from: h2, to: 10.1.0.10}
    exec:
      - {at: 2s, router: A, commands: [show crypto ipsec sa, show crypto map]}
    """)
B_CFG = (
    "interface Serial0\n ip address 10.0.0.2 255.255.255.252\n"
    "interface Ethernet0\n ip address 10.2.0.1 255.255.0.0\n"
    "ip route 10.1.0.0 255.255.255.0 10.0.0.1\n"
)


@pytest.fixture
def labdir(tmp_path: Path) -> Path:
    (tmp_path / "b.cfg").write_text(B_CFG)
    (tmp_path / "lab.yaml").write_text(GOOD)
    return tmp_path


def test_durations() -> None:
    assert parse_duration("250ms") == pytest.approx(0.25)
    assert parse_duration("2s") == 2.0 and parse_duration("10m") == 600.0 and parse_duration(1.5) == 1.5
    assert parse_duration("100us") == pytest.approx(1e-4) and parse_duration("1h") == 3600.0
    for bad in ("-1s", "fast", "1 day", True, -2, [1]):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_good_file_parses(labdir: Path) -> None:
    spec = load_lab(labdir / "lab.yaml")
    assert spec.title == "two routers" and set(spec.routers) == {"A", "B"}
    assert spec.routers["B"].config == B_CFG and spec.routers["B"].source.endswith("b.cfg")
    assert spec.links[0].mtu == 1400 and spec.links[0].latency == pytest.approx(0.003)
    t = spec.flows[0]
    assert (t.dport, t.protocol, t.count, t.at, t.reply, t.dst_host) == (23, "tcp", 2, 1.0, True, "h2")
    assert spec.flows[1].name == "flow2" and spec.flows[1].protocol == "icmp" and spec.flows[1].reply
    assert spec.execs[0].commands == ("show crypto ipsec sa", "show crypto map")


def test_good_file_runs_and_link_mtu_reaches_the_interfaces(labdir: Path) -> None:
    lab = Lab(load_lab(labdir / "lab.yaml"))
    result = lab.run()
    assert result.flows["t"].delivered == 2 and result.replies["t"].delivered == 2
    assert result.flows["flow2"].delivered == 1 and result.replies["flow2"].delivered == 1
    assert lab.routers["A"].router.config.interfaces["Serial0"].mtu == 1400


BAD = [
    ("routers: [A]", "lab.yaml: routers", "expected a mapping"),
    ("routers:\n  A: {config: x, config-file: y}", "lab.yaml: routers.A", "exactly one of config"),
    ("routers:\n  A: {config-file: missing.cfg}", "lab.yaml: routers.A.config-file", "cannot read"),
    ("routers:\n  A: {config: ''}\nlinkz: []", "lab.yaml: linkz", "unknown key"),
    ("routers:\n  A: {config: ''}\nlinks:\n  - {between: [A Serial0]}", "lab.yaml: links[0].between", "two"),
    (
        "routers:\n  A: {config: ''}\nlinks:\n  - {between: [A Serial0, C Serial0]}",
        "lab.yaml: links[0].between[1]",
        "no router named 'C'",
    ),
    (
        "routers:\n  A: {config: ''}\nlinks:\n  - {between: [A Serial0, A Serial1], latency: soon}",
        "lab.yaml: links[0].latency",
        "not a duration",
    ),
    (
        "routers:\n  A: {config: ''}\nhosts:\n  h: {router: A, interface: E0, address: 10.0.0.300}",
        "lab.yaml: hosts.h.address",
        "not an IPv4 address",
    ),
    (
        "routers:\n  A: {config: ''}\nhosts:\n  h: {router: A, interface: E0, address: 10.0.0.3}\n"
        "traffic:\n  - {from: h, to: nowhere}",
        "lab.yaml: traffic[0].to",
        "neither a host name",
    ),
    (
        "routers:\n  A: {config: ''}\nhosts:\n  h: {router: A, interface: E0, address: 10.0.0.3}\n"
        "traffic:\n  - {from: h, to: h, protocol: tcp, dport: gopherz}",
        "lab.yaml: traffic[0].dport",
        "port",
    ),
    (
        "routers:\n  A: {config: ''}\nhosts:\n  h: {router: A, interface: E0, address: 10.0.0.3}\n"
        "traffic:\n  - {from: h, to: h, protocol: icmp, size: 10}",
        "lab.yaml: traffic[0].size",
        "out of range",
    ),
    (
        "routers:\n  A: {config: ''}\nhosts:\n  h: {router: A, interface: E0, address: 10.0.0.3}\n"
        "traffic:\n  - {from: h, to: h, protocol: udp}",
        "lab.yaml: traffic[0].dport",
        "needs a destination port",
    ),
    ("routers:\n  A: {config: ''}\nexec:\n  - {at: 1s, router: A}", "lab.yaml: exec[0]", "exactly one of"),
    ("routers:\n  A: {config: ''}\nseed: many", "lab.yaml: seed", "whole number"),
    ("routers: {A: {config: ''}}\n  bad: [indent", "lab.yaml:2", "not valid YAML"),
    ("", "lab.yaml", "empty"),
]


@pytest.mark.parametrize(("text", "where", "what"), BAD)
def test_bad_files_name_file_and_key(text: str, where: str, what: str) -> None:
    with pytest.raises(LabError) as info:
        parse_lab(text, source="lab.yaml")
    assert info.value.where == where
    assert what in info.value.message


BUILD_BAD = [
    (
        'routers:\n  A: {config: "interface Serial0\\n ip adress 1.2.3.4\\n"}',
        "routers.A",
        "configuration line(s) refused",
    ),
    ("routers:\n  A: {config: '', engine: warp}", "routers.A.engine", "unknown crypto engine"),
    (
        "routers:\n  A: {config: ''}\n  B: {config: ''}\nlinks:\n  - {between: [A Serial0, B Serial0]}",
        "links[0].between[0]",
        "has no interface Serial0",
    ),
    (
        'routers:\n  A: {config: "interface Ethernet0\\n ip address 10.0.0.1 255.255.255.0\\n"}\n'
        "hosts:\n  h: {router: A, interface: Ethernet0, address: 10.9.0.3}",
        "hosts.h.address",
        "is not in",
    ),
    (
        'routers:\n  A: {config: "interface E0\\n ip address 10.0.0.1 255.255.255.0\\n"}\n'
        "hosts:\n  h: {router: A, interface: E0, address: 10.0.0.3}",
        "hosts.h.interface",
        "has no interface E0 in its configuration (it has: Ethernet0)",
    ),
]


@pytest.mark.parametrize(("text", "key", "what"), BUILD_BAD)
def test_inconsistent_labs_fail_at_build_with_file_and_key(text: str, key: str, what: str) -> None:
    with pytest.raises(LabError) as info:
        Lab(parse_lab(text, source="lab.yaml")).run()
    assert info.value.where == f"lab.yaml: {key}"
    assert what in info.value.message


def test_cli_bad_file_exit_2_one_message(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "routers:\n  A: {config: ''}\nhosts:\n  h: {router: B, interface: E0, address: 10.0.0.1}\n"
    )
    assert esa(["lab", "run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"esa lab run: {bad}: hosts.h.router: no router named 'B' (routers: A)"
    assert esa(["lab", "run", str(tmp_path / "none.yaml")]) == 2
    assert "cannot read the lab file" in capsys.readouterr().err


def test_cli_subprocess_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("routers:\n  A: {config: ''}\ntraffic: 5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sim.cli", "lab", "run", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "traffic: expected a list" in proc.stderr


def test_the_documented_complete_example_runs() -> None:
    doc = (ROOT / "docs" / "lab-format.md").read_text()
    block = doc.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = parse_lab(block, source="docs/lab-format.md")
    example = load_lab(ROOT / "examples" / "labs" / "simple.yaml")
    assert [r.config for r in spec.routers.values()] == [r.config for r in example.routers.values()]
    assert spec.flows == example.flows and spec.links == example.links and spec.hosts == example.hosts
    result = Lab(spec).run()
    assert not result.expectation_failures()
    assert result.replies["ping"].delivered == 3


def test_esa_lab_check(tmp_path: Path, capsys) -> None:
    labs = sorted(str(p) for p in (ROOT / "examples" / "labs").glob("*.yaml"))
    assert esa(["lab", "check", *labs]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok (") == len(labs)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "routers: {A: {config: 'interface Serial0'}}\n"
        "hosts: {h: {router: A, interface: Ethernet0, address: 1.2.3.4}}\n"
    )
    assert esa(["lab", "check", str(bad), labs[0]]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"esa lab check: {bad}: hosts.h.interface: router A has no interface "
        "Ethernet0 in its configuration (it has: Serial0)"
    )
    assert captured.out.count(": ok (") == 1
