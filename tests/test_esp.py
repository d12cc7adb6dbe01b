"""ESP codec: interop with Scapy's SecurityAssociation both ways, RFC 1829 vectors derived from
the RFC text, and hostile input (each dropped and counted, never delivered)."""

from __future__ import annotations

import hashlib
import hmac
import random
import struct

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.ipsec import ESP as ScapyESP
from scapy.layers.ipsec import SecurityAssociation as ScapySA
from scapy.packet import Raw, raw

from driver.registry import open_engine
from host.ipsec import bundle, esp, ipv4
from host.ipsec.burst import run_burst
from host.ipsec.sa import Drop, DropReason, SecurityAssociation

LOCAL, PEER = "10.0.0.1", "10.0.0.2"
DES_KEY = bytes.fromhex("0123456789abcdef")
MD5_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
SHA_KEY = bytes.fromhex("00112233445566778899aabbccddeeff00112233")
SCAPY_AUTH = {"esp-md5-hmac": ("HMAC-MD5-96", MD5_KEY), "esp-sha-hmac": ("HMAC-SHA1-96", SHA_KEY)}

COMBOS = [("esp-des",), ("esp-des", "esp-md5-hmac"), ("esp-des", "esp-sha-hmac")]
"""Table 2 of the spec: ESP needs an encryption transform; an ESP authenticator is optional."""


@pytest.fixture
def engine():
    e = open_engine("software")
    yield e
    e.close()


def make_pair(engine, transforms, mode="tunnel", spi=0x1001, **kw):
    """An outbound SA on LOCAL and the matching inbound SA on PEER, both installed."""
    auth = [t for t in transforms if t in SCAPY_AUTH]
    akey = SCAPY_AUTH[auth[0]][1] if auth else b""
    common = dict(
        protocol="esp", spi=spi, transforms=transforms, mode=mode, cipher_key=DES_KEY, auth_key=akey, **kw
    )
    out = SecurityAssociation(inbound=False, local=LOCAL, peer=PEER, **common)
    inn = SecurityAssociation(inbound=True, local=PEER, peer=LOCAL, **common)
    out.install(engine)
    inn.install(engine)
    return out, inn


def scapy_sa(transforms, mode, spi=0x1001):
    auth = [t for t in transforms if t in SCAPY_AUTH]
    kwargs = {}
    if auth:
        kwargs = dict(auth_algo=SCAPY_AUTH[auth[0]][0], auth_key=SCAPY_AUTH[auth[0]][1])
    if mode == "tunnel":
        kwargs["tunnel_header"] = IP(src=LOCAL, dst=PEER)
    return ScapySA(ScapyESP, spi=spi, crypt_algo="DES", crypt_key=DES_KEY, **kwargs)


def inner_packet(size=100, src="192.168.1.5", dst="192.168.2.7", seed=0):
    load = random.Random(seed).randbytes(size)
    return raw(IP(src=src, dst=dst, id=1234, ttl=60) / UDP(sport=1000, dport=2000) / Raw(load))


def peer_packet(size=100, seed=0):
    """Transport mode carries only traffic between the peers themselves."""
    return inner_packet(size, src=LOCAL, dst=PEER, seed=seed)


@pytest.mark.parametrize("mode", ["tunnel", "transport"])
@pytest.mark.parametrize("transforms", COMBOS, ids=["+".join(c) for c in COMBOS])
def test_scapy_decrypts_ours(engine, transforms, mode):
    out, _ = make_pair(engine, transforms, mode)
    ref = scapy_sa(transforms, mode)
    for size in (0, 1, 5, 6, 7, 100, 1400):
        pkt = inner_packet(size) if mode == "tunnel" else peer_packet(size)
        wire = esp.encapsulate(out, pkt)
        assert isinstance(wire, bytes)
        parsed = IP(wire)
        assert parsed.proto == 50 and parsed[ScapyESP].spi == 0x1001
        if mode == "tunnel":
            assert (parsed.src, parsed.dst) == (LOCAL, PEER)
        clear = ref.decrypt(IP(wire))  # verifies the ICV when the SA has an authenticator
        assert raw(clear) == pkt
    n = 7
    assert out.counters.encaps == n and out.counters.encrypt == n
    assert out.counters.digest == (n if len(transforms) == 2 else 0)


@pytest.mark.parametrize("mode", ["tunnel", "transport"])
@pytest.mark.parametrize("transforms", COMBOS, ids=["+".join(c) for c in COMBOS])
def test_we_decrypt_scapys(engine, transforms, mode):
    _, inn = make_pair(engine, transforms, mode)
    ref = scapy_sa(transforms, mode)
    sizes = (0, 3, 64, 512, 1400)
    for size in sizes:
        pkt = inner_packet(size) if mode == "tunnel" else peer_packet(size)
        wire = raw(ref.encrypt(IP(pkt)))
        got = esp.decapsulate(inn, wire)
        assert got == pkt, got
    c = inn.counters
    assert (c.decaps, c.decrypt, c.recv_errors) == (len(sizes), len(sizes), 0)
    assert c.verify == (len(sizes) if len(transforms) == 2 else 0)


@pytest.mark.parametrize("transforms", COMBOS[1:], ids=["md5", "sha"])
def test_byte_exact_with_scapy(engine, transforms):
    """With the same IV and sequence number, our ESP payload is Scapy's, byte for byte."""
    iv = bytes.fromhex("fedcba9876543210")
    out, _ = make_pair(engine, transforms, rng=lambda n: iv[:n])
    ref = scapy_sa(transforms, "tunnel")
    pkt = inner_packet(333)
    ours = IP(esp.encapsulate(out, pkt))
    theirs = ref.encrypt(IP(pkt), seq_num=1, iv=iv)
    assert raw(ours[ScapyESP]) == raw(theirs[ScapyESP])


def test_burst_matches_single(engine):
    """A burst through one engine run gives what Scapy accepts, for interleaved SAs."""
    sa1, in1 = make_pair(engine, ("esp-des", "esp-sha-hmac"), spi=0x2001)
    sa2, in2 = make_pair(engine, ("esp-des", "esp-md5-hmac"), spi=0x2002)
    pkts = [inner_packet(random.Random(i).randrange(0, 1500), seed=i) for i in range(40)]
    steps = [esp.prepare_outbound(sa1 if i % 2 else sa2, p) for i, p in enumerate(pkts)]
    wires = run_burst(steps)
    back = run_burst([esp.prepare_inbound(in1 if i % 2 else in2, w) for i, w in enumerate(wires)])
    assert back == pkts
    for i, w in enumerate(wires):
        ref = scapy_sa(
            ("esp-des", "esp-sha-hmac" if i % 2 else "esp-md5-hmac"),
            "tunnel",
            spi=0x2001 if i % 2 else 0x2002,
        )
        assert raw(ref.decrypt(IP(w))) == pkts[i]


def test_seeded_rng_reproducible(engine):
    outs = []
    for _ in range(2):
        out, _ = make_pair(engine, ("esp-des", "esp-md5-hmac"), rng=random.Random(42).randbytes)
        outs.append([esp.encapsulate(out, inner_packet(50, seed=k)) for k in range(3)])
    assert outs[0] == outs[1]
    assert len({w[28:36] for w in outs[0]}) == 3  # a fresh IV per packet


# -- RFC 1829 ------------------------------------------------------------------------------------


def des_cbc(key, iv, data, decrypt=False):
    c = Cipher(TripleDES(key * 3), modes.CBC(iv))
    ctx = c.decryptor() if decrypt else c.encryptor()
    return ctx.update(data) + ctx.finalize()


@pytest.mark.parametrize("iv_size", [4, 8])
@pytest.mark.parametrize("mode", ["tunnel", "transport"])
def test_rfc1829_vector(engine, iv_size, mode):
    """Derivation from RFC 1829 section 2 (payload format) and 3.1 (encryption):

    ESP = SPI (32 bits) | IV field (32 or 64 bits) | DES-CBC(payload | padding | pad length |
    payload type). With a 32-bit IV field the 64-bit CBC IV is "the 32-bit value followed by
    (concatenated with) the bit-wise complement of the 32-bit value". Padding fills the payload
    plus the two trailer bytes to a multiple of 8; its values are the implementation's choice
    (ours: 1, 2, 3, ...). Payload type is 4 (IP) in tunnel mode, else the original protocol.
    No sequence number, no authenticator.
    """
    iv_field = bytes.fromhex("a1b2c3d4e5f60718")[:iv_size]
    out, inn = make_pair(
        engine, ("esp-rfc1829",), mode, spi=0x12345678, iv_size=iv_size, rng=lambda n: iv_field[:n]
    )
    pkt = inner_packet(37) if mode == "tunnel" else peer_packet(37)
    if iv_size == 4:
        cbc_iv = iv_field + bytes(b ^ 0xFF for b in iv_field)
        assert cbc_iv == bytes.fromhex("a1b2c3d45e4d3c2b")
    else:
        cbc_iv = iv_field
    ihl = 20
    payload, ptype = (pkt, 4) if mode == "tunnel" else (pkt[ihl:], 17)
    padlen = (8 - (len(payload) + 2) % 8) % 8
    plain = payload + bytes(range(1, padlen + 1)) + bytes([padlen, ptype])
    expect_esp = struct.pack("!I", 0x12345678) + iv_field + des_cbc(DES_KEY, cbc_iv, plain)

    wire = esp.encapsulate(out, pkt)
    assert isinstance(wire, bytes)
    assert wire[20:] == expect_esp
    assert wire[9] == 50 and len(wire) == 20 + len(expect_esp)
    # and a packet built by hand from the same derivation is accepted
    hand = raw(IP(src=LOCAL, dst=PEER, id=1234, ttl=60, proto=50) / Raw(expect_esp))
    assert esp.decapsulate(inn, hand) == pkt
    assert inn.replay is None and not inn.anti_replay


def test_rfc1829_ignores_padding_values(engine):
    """RFC 1829: padding values are unspecified and "MUST be ignored" after decryption."""
    _, inn = make_pair(engine, ("esp-rfc1829",), spi=0x300, iv_size=8)
    pkt = inner_packet(5)
    iv = bytes(8)
    plain = pkt + b"\xaa" * ((-(len(pkt) + 2)) % 8) + bytes([(-(len(pkt) + 2)) % 8, 4])
    wire = raw(
        IP(src=LOCAL, dst=PEER, proto=50) / Raw(struct.pack("!I", 0x300) + iv + des_cbc(DES_KEY, iv, plain))
    )
    assert esp.decapsulate(inn, wire) == pkt


# -- hostile input -------------------------------------------------------------------------------


def craft(inn, plaintext, seq=1, iv=bytes(8), icv_key=SHA_KEY, spi=0x1001, corrupt_icv=False):
    """An ESP packet made by hand as a peer would (DES-CBC + HMAC-SHA1-96 from references)."""
    ct = des_cbc(DES_KEY, iv, plaintext)
    head = struct.pack("!II", spi, seq) + iv
    icv = hmac.new(icv_key, head + ct, hashlib.sha1).digest()[:12]
    if corrupt_icv:
        icv = bytes([icv[0] ^ 1]) + icv[1:]
    return raw(IP(src=LOCAL, dst=PEER, proto=50) / Raw(head + ct + icv))


def assert_dropped(sa, wire, reason):
    before = sa.counters.recv_errors
    got = esp.decapsulate(sa, wire)
    assert isinstance(got, Drop) and not got, got
    assert got.reason is reason, (got.reason, got.detail)
    assert sa.counters.recv_errors == before + 1
    assert sa.counters.drops[reason] >= 1


@pytest.fixture
def sha_pair(engine):
    return make_pair(engine, ("esp-des", "esp-sha-hmac"))


def test_truncated(sha_pair):
    out, inn = sha_pair
    wire = esp.encapsulate(out, inner_packet(64))
    for cut in (0, 10, 19, 21, 24, 36, 20 + 16 + 8 + 11):
        got = esp.decapsulate(inn, wire[:cut])
        assert isinstance(got, Drop) and got.reason in (
            DropReason.TRUNCATED,
            DropReason.WRONG_SA,
            DropReason.BAD_LENGTH,
        ), (cut, got)
    # a datagram shortened after the header claims its length
    got = esp.decapsulate(inn, wire[:-4])
    assert isinstance(got, Drop) and got.reason is DropReason.TRUNCATED
    assert inn.counters.decaps == 0 and inn.counters.recv_errors == 8


def test_wrong_spi(sha_pair, engine):
    out, inn = sha_pair
    other, _ = make_pair(engine, ("esp-des", "esp-sha-hmac"), spi=0x9999)
    assert_dropped(inn, esp.encapsulate(other, inner_packet()), DropReason.WRONG_SA)


@pytest.mark.parametrize("where", ["icv", "ciphertext", "iv", "seq"])
def test_bad_icv(sha_pair, where):
    out, inn = sha_pair
    wire = bytearray(esp.encapsulate(out, inner_packet(200)))
    pos = {"icv": len(wire) - 1, "ciphertext": 60, "iv": 30, "seq": 27}[where]
    wire[pos] ^= 0x40
    assert_dropped(inn, bytes(wire), DropReason.BAD_ICV)
    assert inn.counters.decaps == 0 and inn.replay.top == 0  # a forgery never moves the window


def test_replay_in_window_and_too_old(sha_pair):
    out, inn = sha_pair
    wires = [esp.encapsulate(out, inner_packet(20, seed=i)) for i in range(80)]
    assert esp.decapsulate(inn, wires[5]) == inner_packet(20, seed=5)
    assert_dropped(inn, wires[5], DropReason.REPLAY)
    for w in wires[70:80]:
        assert isinstance(esp.decapsulate(inn, w), bytes)
    assert esp.decapsulate(inn, wires[20]) == inner_packet(20, seed=20)  # late, in window
    assert_dropped(inn, wires[20], DropReason.REPLAY)
    assert_dropped(inn, wires[10], DropReason.REPLAY_TOO_OLD)  # 80 - 11 >= 64
    assert inn.counters.decaps == 12


def test_replay_twice_in_one_burst(sha_pair):
    out, inn = sha_pair
    w = esp.encapsulate(out, inner_packet())
    got = run_burst([esp.prepare_inbound(inn, w), esp.prepare_inbound(inn, w)])
    assert isinstance(got[0], bytes) and isinstance(got[1], Drop)
    assert got[1].reason is DropReason.REPLAY


def test_bad_padding(sha_pair):
    _, inn = sha_pair
    pkt = inner_packet(5)  # 33 bytes: 5 bytes of padding
    good = pkt + bytes([1, 2, 3, 4, 5, 5, 4])
    assert esp.decapsulate(inn, craft(inn, good, seq=1)) == pkt
    assert_dropped(inn, craft(inn, pkt + bytes([1, 2, 9, 4, 5, 5, 4]), seq=2), DropReason.BAD_PADDING)
    # pad length larger than the plaintext
    assert_dropped(inn, craft(inn, bytes(6) + bytes([200, 4]), seq=3), DropReason.BAD_PADDING)


def test_wrong_next_header(sha_pair):
    _, inn = sha_pair
    pkt = inner_packet(5)
    assert_dropped(inn, craft(inn, pkt + bytes([1, 2, 3, 4, 5, 5, 17])), DropReason.BAD_NEXT_HEADER)


def test_garbage_inner_packet(sha_pair):
    _, inn = sha_pair
    assert_dropped(inn, craft(inn, b"\x45" + bytes(37) + bytes([0, 4])), DropReason.BAD_INNER)


def test_misaligned_ciphertext(sha_pair):
    out, inn = sha_pair
    wire = esp.encapsulate(out, inner_packet(100))
    cut = wire[:60] + wire[61:]
    cut = raw(IP(src=LOCAL, dst=PEER, proto=50) / Raw(cut[20:]))
    assert_dropped(inn, cut, DropReason.BAD_LENGTH)


def test_unauthenticated_esp_has_no_replay_window(engine):
    out, inn = make_pair(engine, ("esp-des",))
    w = esp.encapsulate(out, inner_packet())
    assert esp.decapsulate(inn, w) == esp.decapsulate(inn, w) == inner_packet()
    assert not inn.anti_replay


def test_manual_sa_has_no_replay_window(engine):
    out, inn = make_pair(engine, ("esp-des", "esp-md5-hmac"), manual=True)
    w = esp.encapsulate(out, inner_packet())
    assert esp.decapsulate(inn, w) == esp.decapsulate(inn, w) == inner_packet()
    assert inn.replay is None


def test_sequence_overflow(engine):
    out, _ = make_pair(engine, ("esp-des", "esp-md5-hmac"))
    out.seq = 0xFFFFFFFF
    got = esp.encapsulate(out, inner_packet())
    assert isinstance(got, Drop) and got.reason is DropReason.SEQ_OVERFLOW
    assert out.counters.send_errors == 1


def test_not_installed_and_removed(engine):
    out, inn = make_pair(engine, ("esp-des", "esp-md5-hmac"))
    w = esp.encapsulate(out, inner_packet())
    engine.remove(inn.conn_id)  # the context vanishes under the SA (an engine reset)
    got = esp.decapsulate(inn, w)
    assert isinstance(got, Drop) and got.reason is DropReason.RECV_ENGINE_ERROR
    out.uninstall()
    got = esp.encapsulate(out, inner_packet())
    assert isinstance(got, Drop) and got.reason is DropReason.NOT_INSTALLED


def test_icmp_tunnel_through_bundle_api(engine):
    out, inn = make_pair(engine, ("esp-des", "esp-sha-hmac"))
    pkt = raw(IP(src="192.168.1.5", dst="192.168.2.7") / ICMP(id=7, seq=1) / Raw(b"ping" * 10))
    (wire,) = bundle.protect([out], [pkt])
    ((back, sas),) = bundle.unprotect(lambda dst, proto, spi: inn if spi == inn.spi else None, [wire])
    assert back == pkt and sas == (inn,)


# -- fuzzing: nothing escapes, nothing forged is delivered ---------------------------------------

_FUZZ_ENGINE = open_engine("software")
_FUZZ_OUT, _FUZZ_IN = make_pair(_FUZZ_ENGINE, ("esp-des", "esp-sha-hmac"), spi=0x7001, manual=True)
_FUZZ_LEGACY_OUT, _FUZZ_LEGACY_IN = make_pair(_FUZZ_ENGINE, ("esp-rfc1829",), spi=0x7002, iv_size=4)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=200))
def test_fuzz_garbage_never_raises(data):
    for sa in (_FUZZ_IN, _FUZZ_LEGACY_IN):
        got = esp.decapsulate(sa, data)
        assert isinstance(got, Drop)
        wrapped = raw(IP(src=LOCAL, dst=PEER, proto=50) / Raw(sa.spi_bytes + data))
        got = esp.decapsulate(sa, wrapped)
        assert isinstance(got, bytes | Drop)
        if sa is _FUZZ_IN:
            assert isinstance(got, Drop)  # no key, no valid ICV


@settings(max_examples=200, deadline=None)
@given(size=st.integers(0, 300), pos=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_fuzz_any_flipped_bit_behind_the_header_is_dropped(size, pos, bit):
    wire = bytearray(esp.encapsulate(_FUZZ_OUT, inner_packet(size)))
    i = 20 + pos % (len(wire) - 20)
    wire[i] ^= 1 << bit
    got = esp.decapsulate(_FUZZ_IN, bytes(wire))
    assert isinstance(got, Drop), (i, got)
    assert got.reason in (DropReason.BAD_ICV, DropReason.WRONG_SA)


@settings(max_examples=100, deadline=None)
@given(size=st.integers(0, 300), pos=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_fuzz_unauthenticated_esp_never_raises(size, pos, bit):
    """RFC 1829 ESP has no ICV: a flipped bit may even decrypt to something, but the codec
    only ever returns a datagram that parses, or a counted drop."""
    wire = bytearray(esp.encapsulate(_FUZZ_LEGACY_OUT, inner_packet(size)))
    i = 20 + pos % (len(wire) - 20)
    wire[i] ^= 1 << bit
    got = esp.decapsulate(_FUZZ_LEGACY_IN, bytes(wire))
    assert isinstance(got, bytes | Drop)
    if isinstance(got, bytes):
        ipv4.parse(got)
