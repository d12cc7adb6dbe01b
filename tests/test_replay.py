"""The anti-replay window against a plain model of RFC 2401 appendix C, and its use by SAs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driver.registry import open_engine
from host.ipsec import ah, esp, ipv4
from host.ipsec.replay import ReplayVerdict, ReplayWindow
from host.ipsec.sa import Drop, DropReason, SecurityAssociation


class Model:
    """RFC 2401 appendix C in its plainest form: the set of accepted numbers and the highest."""

    def __init__(self, size: int) -> None:
        self.size, self.top, self.seen = size, 0, set()

    def verdict(self, seq: int) -> ReplayVerdict:
        if seq == 0 or (seq <= self.top and self.top - seq >= self.size):
            return ReplayVerdict.TOO_OLD
        return ReplayVerdict.DUPLICATE if seq in self.seen else ReplayVerdict.NEW

    def accept(self, seq: int) -> None:
        self.seen.add(seq)
        self.top = max(self.top, seq)


@settings(max_examples=300, deadline=None)
@given(
    size=st.sampled_from([32, 64, 128]),
    ops=st.lists(st.tuples(st.integers(0, 400), st.booleans()), max_size=200),
)
def test_window_matches_model(size, ops):
    w, m = ReplayWindow(size), Model(size)
    for seq, icv_ok in ops:
        assert w.check(seq) is m.verdict(seq)
        if icv_ok:  # only authenticated packets update the window
            v = w.update(seq)
            assert v is m.verdict(seq)
            if v is ReplayVerdict.NEW:
                m.accept(seq)
        assert w.top == m.top


def test_window_edges():
    w = ReplayWindow(64)
    assert w.check(0) is ReplayVerdict.TOO_OLD
    assert w.update(100) is ReplayVerdict.NEW
    assert w.check(37) is ReplayVerdict.NEW  # 100 - 37 = 63: the window's last slot
    assert w.check(36) is ReplayVerdict.TOO_OLD  # 64 behind
    assert w.update(37) is ReplayVerdict.NEW
    assert w.update(37) is ReplayVerdict.DUPLICATE
    assert w.update(100) is ReplayVerdict.DUPLICATE
    assert w.update(100 + 1000) is ReplayVerdict.NEW  # a jump far ahead clears the bitmap
    assert w.check(1099) is ReplayVerdict.NEW and w.check(1100) is ReplayVerdict.DUPLICATE
    assert w.check(0xFFFFFFFF) is ReplayVerdict.NEW
    with pytest.raises(ValueError):
        ReplayWindow(16)


@pytest.fixture
def engine():
    e = open_engine("software")
    yield e
    e.close()


def pair(engine, protocol, transforms, **kw):
    keys = {"esp-des": {"cipher_key": bytes(range(8))}}
    akey = {"esp-md5-hmac": 16, "esp-sha-hmac": 20, "ah-md5-hmac": 16, "ah-sha-hmac": 20, "ah-rfc1828": 16}
    extra = {}
    for t in transforms:
        extra.update(keys.get(t, {}))
        if t == "esp-rfc1829":
            extra["cipher_key"] = bytes(range(8))
        if t in akey:
            extra["auth_key"] = bytes(range(akey[t]))
    common = dict(protocol=protocol, spi=0x4444, transforms=transforms, **extra, **kw)
    out = SecurityAssociation(inbound=False, local="1.1.1.1", peer="2.2.2.2", **common)
    inn = SecurityAssociation(inbound=True, local="2.2.2.2", peer="1.1.1.1", **common)
    out.install(engine)
    inn.install(engine)
    return out, inn


PKT = ipv4.build("10.1.1.1", "10.2.2.2", ipv4.PROTO_UDP, b"\x00\x01\x00\x02\x00\x0c\x00\x00abcd")


@pytest.mark.parametrize(
    ("protocol", "transforms", "manual", "window"),
    [
        ("esp", ["esp-des", "esp-sha-hmac"], False, True),
        ("esp", ["esp-des", "esp-md5-hmac"], True, False),  # manual keys: no anti-replay
        ("esp", ["esp-des"], False, False),  # no data authentication: no anti-replay
        ("esp", ["esp-rfc1829"], False, False),  # RFC 1829: no sequence number
        ("ah", ["ah-md5-hmac"], False, True),
        ("ah", ["ah-sha-hmac"], True, False),
        ("ah", ["ah-rfc1828"], False, False),  # RFC 1828: no sequence number
    ],
)
def test_which_sas_detect_replays(engine, protocol, transforms, manual, window):
    out, inn = pair(engine, protocol, transforms, manual=manual)
    codec = esp if protocol == "esp" else ah
    assert inn.anti_replay is window and (inn.replay is not None) is window
    wire = codec.encapsulate(out, PKT)
    assert codec.decapsulate(inn, wire) == PKT
    second = codec.decapsulate(inn, wire)
    if window:
        assert isinstance(second, Drop) and second.reason is DropReason.REPLAY
        assert inn.counters.drops[DropReason.REPLAY] == 1
        assert inn.counters.detail()["replay failed"] == 1
    else:
        assert second == PKT


def test_replays_and_forgeries_do_not_count_against_lifetime(engine):
    out, inn = pair(engine, "esp", ["esp-des", "esp-sha-hmac"])
    wire = esp.encapsulate(out, PKT)
    assert esp.decapsulate(inn, wire) == PKT
    bytes_after_one = inn.counters.bytes
    forged = bytearray(esp.encapsulate(out, PKT))
    forged[-3] ^= 1
    for bad in (wire, wire, bytes(forged)):
        assert isinstance(esp.decapsulate(inn, bad), Drop)
    assert inn.counters.bytes == bytes_after_one and inn.counters.packets == 1
    assert inn.replay.top == 1  # the forgery (seq 2) did not move the window
    assert inn.counters.recv_errors == 3
