"""``esa console`` and ``esa demo`` as a user runs them: a subprocess with piped stdin (no pty).

Asserts the prompts of every mode, IOS feedback for wrong, incomplete and ambiguous input, ``?``
help, abbreviations, ``--config`` loading with line numbers, the exit status, and that no input
ever produces a Python traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from host.cli.session import ConfigOnlyRouter, Session

ROOT = Path(__file__).resolve().parents[1]


def esa(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


SCRIPT = """enable
configure terminal
hostname Alice
interface Serial0
ip address 10.0.0.2 255.255.255.0
exit
crypto ipsec transform-set t1 esp-des esp-md5-hmac
mode transport
exit
crypto map vpn 10 ipsec-isakmp
set transform-set t1
exit
ip access-list extended LAN
permit ip any any
end
sh cry ipsec trans
exit
"""


def test_prompts_of_every_mode():
    result = esa("console", stdin=SCRIPT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for prompt_line in (
        "Router>enable",
        "Router#configure terminal",
        "Router(config)#hostname Alice",
        "Alice(config)#interface Serial0",
        "Alice(config-if)#ip address 10.0.0.2 255.255.255.0",
        "Alice(config-if)#exit",
        "Alice(config)#crypto ipsec transform-set t1 esp-des esp-md5-hmac",
        "Alice(cfg-crypto-trans)#mode transport",
        "Alice(config)#crypto map vpn 10 ipsec-isakmp",
        "Alice(config-crypto-map)#set transform-set t1",
        "Alice(config-ext-nacl)#permit ip any any",
        "Alice(config-ext-nacl)#end",
        "Alice#sh cry ipsec trans",
        "Transform set t1: { esp-des esp-md5-hmac }",
        "    will negotiate = { Transport, },",
        "Alice#exit",
    ):
        assert prompt_line in lines, prompt_line
    assert result.stderr == ""


def test_error_feedback_is_ios_style_with_the_marker_under_the_word():
    result = esa(
        "console",
        stdin="enable\nshow crypto mapp\nshow crypto\nsh c m\nconfigure terminal\n"
        "crypto map m 10 cisco\nfoo\n",
    )
    assert result.returncode == 0
    out = result.stdout.splitlines()
    i = out.index("Router#show crypto mapp")
    assert out[i + 1] == " " * len("Router#show crypto ") + "^"
    assert out[i + 2] == "% Invalid input detected at '^' marker."
    assert "% Incomplete command." in out[out.index("Router#show crypto") + 1]
    assert out[out.index("Router#sh c m") + 1] == "Router#configure terminal"  # a valid abbreviation
    assert any("CET" in line and "not supported" in line for line in out)
    assert "Traceback" not in result.stdout + result.stderr


def test_ambiguous_and_help():
    result = esa(
        "console",
        stdin="enable\nconfigure terminal\ncrypto map m 10 ipsec-isakmp\nset s\nset ?\n"
        "se?\nexit\ncrypto ?\nend\nshow ?\n",
    )
    out = result.stdout
    assert '% Ambiguous command:  "set s"' in out
    after = out.split("Router(config-crypto-map)#set ?\n")[1]
    for word in ("peer", "pfs", "security-association", "session-key", "transform-set"):
        assert f"  {word}" in after.split("Router(config-crypto-map)#")[0]
    assert "Router(config-crypto-map)#se?\nset\n" in out
    assert "  dynamic-map" in out.split("Router(config)#crypto ?\n")[1].split("Router(config)#")[0]
    assert "  running-config" in out.split("Router#show ?\n")[1]


def test_config_file_errors_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "r.cfg"
    path.write_text("hostname Bob\ncrypto map m 10 cisco\ninterface Serial0\n ip address 10.0.0.1\n")
    result = esa("console", "--config", str(path), stdin="enable\nshow running-config\n")
    assert result.returncode == 0
    assert f"{path}:2: crypto map m 10 cisco\n" in result.stdout
    assert f"{path}:4:  ip address 10.0.0.1\n% Incomplete command.\n" in result.stdout
    assert "Bob>enable" in result.stdout and "interface Serial0" in result.stdout


def test_could_not_start_is_the_only_failure():
    assert esa("console", "--config", "/nonexistent/file.cfg").returncode == 2
    assert esa("console", "--engine", "nosuch").returncode == 2
    assert esa("console", stdin="").returncode == 0


def test_demo_prints_the_show_outputs():
    # the console half of the demo; its lab half (on the simulated engine) is tested in test_lab_demo
    result = esa("demo", "--no-lab")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "! 0 line(s) refused" in out
    for text in (
        'Crypto Map "toSomewhere" 10 ipsec-isakmp',
        'Crypto Map Template"mydynamicmap" 10',
        "Transform set encryp-auth: { esp-des esp-sha-hmac }",
        "Security-association lifetime: 100000 kilobytes/600 seconds",
        "Extended IP access list 110",
        "Current configuration:",
    ):
        assert text in out


WORDS = [
    "show",
    "sh",
    "crypto",
    "cry",
    "map",
    "ipsec",
    "?",
    "no",
    "set",
    "peer",
    "1.1.1.1",
    "999999999999",
    "interface",
    "s0",
    "ip",
    "address",
    "transform-set",
    "esp-des",
    "ah-md5-hmac",
    "exit",
    "end",
    "enable",
    "configure",
    "terminal",
    "access-list",
    "101",
    "permit",
    "tcp",
    "any",
    "host",
    "eq",
    "www",
    "range",
    "session-key",
    "inbound",
    "esp",
    "256",
    "cipher",
    "00",
    "zz",
    "dynamic-map",
    "local-address",
    "do",
    "initialization-vector",
    "size",
    "mode",
    "pfs",
    "lifetime",
    "seconds",
    '"',
    "\t",
    "-",
    "0",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join), max_size=12))
def test_no_input_makes_a_traceback(lines):
    session = Session(ConfigOnlyRouter(), mode="enable")
    session.run("configure terminal")
    for line in lines:
        outcome = session.run(line)
        text = outcome.feedback(len(session.prompt))
        assert "Internal error" not in text and "Traceback" not in text, (line, text)


def test_interactive_mode_under_prompt_toolkit():
    """The interactive loop with prompt_toolkit's pipe input (no pty): typed lines run, ``?`` shows
    help without entering a '?' into the line, Ctrl-D ends the session."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from sim.console import interactive

    session = Session(ConfigOnlyRouter())
    with create_pipe_input() as pipe:
        pipe.send_text("enable\rconf t\rhostn?ame Lab\rinterface s0\rend\r\x04")
        interactive(session, input=pipe, output=DummyOutput())
    assert session.config.hostname == "Lab"
    assert "Serial0" in session.config.interfaces
    assert session.prompt == "Lab#"


def test_registry_extension_point_adds_exec_and_config_commands():
    """What the data-plane engineer does: register a handler; it gets abbreviations, help, the
    ``no`` form, and the router object."""
    from host.cli.cursor import WORD
    from host.cli.registry import EXEC
    from host.cli.tree import Node

    calls = []

    def debug_ipsec(cur, session):
        cur.end()
        calls.append(("debug", cur.negated, session.router))

    def clear_sa(cur, session):
        peer = None
        if cur.maybe_keyword({"peer": "Clear SAs of one peer"}):
            peer = cur.arg(WORD.described("Peer address"))
        cur.end()
        calls.append(("clear", peer))
        session.write("cleared\n")

    # test-only keyword paths, removed afterwards (the real ones belong to the data plane)
    EXEC.register("debug crypto selftest", debug_ipsec, "test hook", negatable=True)
    EXEC.register("clear crypto selftest", clear_sa, "test hook", config=True)
    try:
        router = ConfigOnlyRouter()
        session = Session(router, mode="enable")
        assert session.run("deb cry selft").error is None
        assert session.run("no debug crypto selftest").error is None
        assert session.run("clear cry selftest peer 1.1.1.1").output == "cleared\n"
        assert "  peer" in session.run("clear crypto selftest ?").feedback(0)
        session.run("configure terminal")
        assert session.run("clear crypto selftest").output == "cleared\n"
        assert session.run("do debug crypto selftest").error is None
    finally:
        for root in (EXEC.enable, EXEC.config):
            for verb in ("debug", "clear"):
                root.children.get(verb, Node()).children.get("crypto", Node()).children.pop("selftest", None)
    assert calls == [
        ("debug", False, router),
        ("debug", True, router),
        ("clear", "1.1.1.1"),
        ("clear", None),
        ("debug", False, router),
    ]


def test_exact_keyword_wins_and_shared_prefix_is_ambiguous():
    session = Session(ConfigOnlyRouter(), mode="config")
    outcome = session.run("i")  # interface, ip
    assert outcome.feedback(0) == '% Ambiguous command:  "i"\n'
    assert session.run("ip route 0.0.0.0 0.0.0.0 10.0.0.1").error is None
    assert session.run("in Serial0").error is None and session.prompt == "Router(config-if)#"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40), max_size=10
    )
)
def test_arbitrary_text_never_breaks_the_session(lines):
    session = Session(ConfigOnlyRouter(), mode="enable")
    session.run("configure terminal")
    for line in lines:
        text = session.run(line.replace("\n", " ").replace("\r", " ")).feedback(len(session.prompt))
        assert "Internal error" not in text and "Traceback" not in text, (line, text)
