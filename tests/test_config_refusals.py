"""Every refusal the spec states, and that a refused line changes nothing at all.

Each case types some setup lines into a configuration session, then the refused line, and checks
the feedback and that the running configuration and the version counter did not move."""

from __future__ import annotations

import pytest

from host.cli.cursor import CliError
from host.cli.session import ConfigOnlyRouter, Session
from host.config.errors import ConfigError
from host.show.running_config import show_running_config

TS = "crypto ipsec transform-set "
MANUAL = [TS + "t ah-sha-hmac esp-des esp-sha-hmac", "crypto map m 10 ipsec-manual", "set transform-set t"]
ISAKMP = [TS + "t esp-des", "crypto map m 10 ipsec-isakmp"]
DYNAMIC = [TS + "t esp-des", "crypto dynamic-map d 10"]
KEY20 = "11" * 20

CASES = [
    # Table 2
    ([], TS + "x ah-md5-hmac ah-sha-hmac", "at most one AH transform"),
    ([], TS + "x esp-des esp-rfc1829", "at most one ESP encryption transform"),
    ([], TS + "x esp-des esp-md5-hmac esp-sha-hmac", "at most one ESP authentication transform"),
    ([], TS + "x esp-rfc1829 esp-md5-hmac", "esp-rfc1829 does not allow"),
    ([], TS + "x esp-sha-hmac esp-rfc1829", "esp-rfc1829 does not allow"),
    ([], TS + "x esp-md5-hmac", "needs an ESP encryption transform"),
    ([], TS + "x ah-rfc-1828", "Invalid input"),
    ([], TS + "x", "does not exist"),
    # initialization-vector size only with esp-rfc1829
    ([TS + "x esp-des"], "initialization-vector size 4", "only to transform sets with esp-rfc1829"),
    # crypto map types
    ([], "crypto map m 10 cisco", "CET"),
    ([], "crypto map m 10", "CET"),
    (
        ["crypto map m 10 ipsec-isakmp", "set peer 1.1.1.1", "exit"],
        "crypto map m 10 ipsec-manual",
        "cannot be changed",
    ),
    (["crypto map m 10 ipsec-manual", "exit"], "crypto map m 10 ipsec-isakmp", "cannot be changed"),
    (["crypto map m 10 ipsec-isakmp dynamic d"], "crypto map m 10 ipsec-isakmp", "cannot be changed"),
    (
        ["crypto map m 10 ipsec-isakmp dynamic d"],
        "crypto map m 10 ipsec-isakmp dynamic e",
        "cannot be changed",
    ),
    # set peer: one for manual
    (MANUAL + ["set peer 10.0.0.1"], "set peer 10.0.0.2", "only one peer"),
    # set transform-set limits and existence
    (MANUAL + [TS + "u esp-des", "crypto map m 10"], "set transform-set t u", "at most 1 transform set"),
    (
        ISAKMP + [TS + f"t{i} esp-des" for i in range(7)] + ["crypto map m 10"],
        "set transform-set t0 t1 t2 t3 t4 t5 t6",
        "at most 6 transform sets",
    ),
    (
        DYNAMIC + [TS + f"t{i} esp-des" for i in range(7)] + ["crypto dynamic-map d 10"],
        "set transform-set t0 t1 t2 t3 t4 t5 t6",
        "at most 6 transform sets",
    ),
    (ISAKMP, "set transform-set nosuch", "does not exist"),
    # session keys: manual only, SPI range, key lengths
    (ISAKMP, f"set session-key inbound ah 256 {KEY20}", "only available for ipsec-manual"),
    (DYNAMIC, f"set session-key inbound ah 256 {KEY20}", "only available for ipsec-manual"),
    (MANUAL, f"set session-key inbound ah 255 {KEY20}", "256-4294967295"),
    (MANUAL, f"set session-key inbound ah 4294967296 {KEY20}", "256-4294967295"),
    (MANUAL, "set session-key inbound ah 256 " + "11" * 19, "must be 20 bytes"),
    (
        MANUAL,
        "set session-key inbound esp 256 cipher " + "11" * 7 + f" authenticator {KEY20}",
        "must be at least 8 bytes",
    ),
    (MANUAL, "set session-key inbound esp 256 cipher " + "11" * 8, "needs an authenticator"),
    (MANUAL, "set session-key inbound esp 256 cipher 123 authenticator " + KEY20, "even number of hex"),
    (
        [TS + "m5 ah-md5-hmac", "crypto map m 10 ipsec-manual", "set transform-set m5"],
        "set session-key outbound ah 256 " + "11" * 15,
        "must be at least 16 bytes",
    ),
    # keys given first, then a transform set they do not fit
    (
        [
            TS + "sha ah-sha-hmac",
            "crypto map m 10 ipsec-manual",
            "set session-key inbound ah 256 " + "11" * 16,
        ],
        "set transform-set sha",
        "do not fit",
    ),
    # a transform set used by a manual entry cannot change into one its keys do not fit
    (
        [
            TS + "m5 ah-md5-hmac",
            "crypto map m 10 ipsec-manual",
            "set transform-set m5",
            "set session-key inbound ah 256 " + "11" * 16,
            "exit",
        ],
        TS + "m5 ah-sha-hmac",
        "do not fit",
    ),
    # unique SPI per destination address and protocol
    (
        MANUAL + ["set session-key inbound ah 300 " + KEY20, "crypto map m 20 ipsec-manual"],
        "set session-key inbound ah 300 " + KEY20,
        "already used by crypto map m 10",
    ),
    (
        MANUAL
        + [
            "set peer 10.0.0.1",
            "set session-key outbound ah 300 " + KEY20,
            "crypto map n 10 ipsec-manual",
            "set peer 10.0.0.1",
        ],
        "set session-key outbound ah 300 " + KEY20,
        "to 10.0.0.1 is already used",
    ),
    (
        MANUAL
        + [
            "set peer 10.0.0.1",
            "set session-key outbound ah 300 " + KEY20,
            "crypto map n 10 ipsec-manual",
            "set session-key outbound ah 300 " + KEY20,
        ],
        "set peer 10.0.0.1",
        "already used",
    ),
    # pfs, per-host, lifetimes per entry type
    (MANUAL, "set pfs group2", "only available for ipsec-isakmp and dynamic"),
    (MANUAL, "set security-association level per-host", "only available for ipsec-isakmp crypto"),
    (DYNAMIC, "set security-association level per-host", "only available for ipsec-isakmp crypto"),
    (MANUAL, "set security-association lifetime seconds 600", "only available for ipsec-isakmp and dynamic"),
    (ISAKMP, "set security-association lifetime seconds 119", "120-86400"),
    (ISAKMP, "set security-association lifetime kilobytes 2559", "2560-536870912"),
    ([], "crypto ipsec security-association lifetime seconds 86401", "120-86400"),
    # match address: extended lists only, one list per entry of a set
    (ISAKMP, "match address 99", "extended IP access lists"),
    (
        ISAKMP + ["match address 101", "crypto map m 20 ipsec-isakmp"],
        "match address 101",
        "different access lists",
    ),
    # deleting a transform set in use
    (ISAKMP + ["set transform-set t", "exit"], "no crypto ipsec transform-set t", "in use"),
    # interfaces and routes
    (["interface Serial0"], "ip address 10.0.0.1 255.0.255.0", "contiguous"),
    (["interface Serial0"], "ip address 10.0.0.0 255.255.255.0", "network or broadcast"),
    ([], "ip route 10.0.0.1 255.255.255.0 10.0.0.254", "Inconsistent address and mask"),
    ([], "hostname 1router", "hostname starts with a letter"),
    ([], "access-list 99 permit ip any any", "100-199"),
]


@pytest.mark.parametrize("setup,line,expected", CASES, ids=[c[1] for c in CASES])
def test_refused_and_nothing_changed(setup, line, expected):
    session = Session(ConfigOnlyRouter(), mode="config")
    for step in setup:
        outcome = session.run(step)
        assert outcome.error is None, (step, outcome.feedback(0))
    before, version, mode = show_running_config(session.config), session.config.version, session.mode
    outcome = session.run(line)
    assert isinstance(outcome.error, (CliError, ConfigError)), outcome
    feedback = outcome.feedback(len(session.prompt))
    assert feedback.startswith(("%", " ")) and "Traceback" not in feedback
    assert expected in feedback
    assert show_running_config(session.config) == before
    assert session.config.version == version
    assert session.mode is mode


def test_type_change_keeps_the_entry_as_it_was():
    session = Session(ConfigOnlyRouter(), mode="config")
    for step in ("crypto map m 10 ipsec-isakmp", "set peer 1.1.1.1", "set pfs group2", "exit"):
        session.run(step)
    session.run("crypto map m 10 ipsec-manual")
    entry = session.config.crypto_maps["m"].entries[10]
    assert (entry.kind.value, entry.peers, entry.pfs) == ("ipsec-isakmp", ["1.1.1.1"], "group2")


def test_same_spi_allowed_where_the_destinations_differ():
    session = Session(ConfigOnlyRouter(), mode="config")
    steps = MANUAL + [
        "set peer 10.0.0.1",
        "set session-key inbound ah 300 " + KEY20,
        "set session-key outbound ah 300 " + KEY20,
        "set session-key inbound esp 300 cipher " + "22" * 8 + " authenticator " + KEY20,  # other protocol
        "crypto map n 10 ipsec-manual",
        "set peer 10.0.0.2",
        "set session-key outbound ah 300 " + KEY20,  # another peer
        "interface Serial0",
        "ip address 10.1.0.1 255.255.255.0",
        "crypto map m",
        "interface Serial1",
        "ip address 10.2.0.1 255.255.255.0",
        "crypto map n",
        "crypto map n 10",
        "set session-key inbound ah 300 " + KEY20,  # another local address
    ]
    for step in steps:
        assert session.run(step).error is None, step


def test_limits_themselves_are_accepted():
    session = Session(ConfigOnlyRouter(), mode="config")
    for i in range(6):
        session.run(f"crypto ipsec transform-set t{i} esp-des")
    session.run("crypto map m 10 ipsec-isakmp")
    assert session.run("set transform-set t0 t1 t2 t3 t4 t5").error is None
    session.run("crypto map k 10 ipsec-manual")
    assert session.run("set session-key inbound ah 256 " + "11" * 20).error is None
    assert session.run("set session-key outbound ah 4294967295 " + "11" * 20).error is None
    assert session.run("set peer 10.0.0.1").error is None
    assert session.run("set peer 10.0.0.1").error is None  # the same peer again is no change
    assert session.run("no set peer 10.0.0.1").error is None
    assert session.run("set peer 10.0.0.2").error is None  # after deleting the old one
