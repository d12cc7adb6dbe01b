"""The ``amaranth`` backend's own behaviour, beyond the conformance suite (which it also runs):
its performance counters against the counts the standards imply (FIPS 81 CBC blocks, RFC 2104 /
FIPS 180 compressions), hardware tags mapped back to the caller's tags, context writes ordered
with jobs, pooled simulators that come back reset, parameters, and the watchdog that makes a
stuck engine an EngineFault (and the engine manager fail over to software); and a console router
on it."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher as OsslCipher
from cryptography.hazmat.primitives.ciphers import modes

from driver.amaranth_backend import SIM_DEFAULTS, AmaranthEngine
from driver.api import Auth, Cipher, EngineError, EngineFault, Job, Op, SAParams, Status
from driver.registry import ACCELERATORS, open_backend, open_engine

KEY = bytes.fromhex("0123456789abcdef")
SHA_KEY = bytes(range(20))


def des_cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    enc = OsslCipher(TripleDES(key * 3), modes.CBC(iv)).encryptor()
    return enc.update(data) + enc.finalize()


def hmac_sha1_96(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha1).digest()[:12]


@pytest.fixture
def engine():
    e = AmaranthEngine()
    yield e
    e.close()


def test_registered_as_accelerator_in_slot_5() -> None:
    assert "amaranth" in ACCELERATORS
    bare = open_backend("amaranth")
    try:
        assert isinstance(bare, AmaranthEngine) and bare.card_slot == 5
        assert bare.max_conns == SIM_DEFAULTS["conns"] - 1
    finally:
        bare.close()


def test_perf_counters_count_what_the_standards_imply(engine) -> None:
    """des_blocks: one per 8 ciphered bytes (FIPS 81 CBC); hash_blocks: one per 64 bytes of
    message, the last one possibly partial (hdl.layouts: padding and HMAC outer blocks are not
    counted); jobs_done: one per result."""
    out_id = engine.install(
        SAParams(inbound=False, cipher=Cipher.DES_CBC, auth=Auth.HMAC_SHA1_96, des_key=KEY, auth_key=SHA_KEY)
    )
    shapes = [(16, 0), (16, 8), (16, 48), (8, 120), (16, 200)]
    jobs = [
        Job(Op.ENCRYPT_AUTH, out_id, t, auth_data=bytes(a), cipher_data=bytes(range(c)), iv=bytes(8))
        for t, (a, c) in enumerate(shapes)
    ]
    results = engine.run(jobs)
    for job, r in zip(jobs, results, strict=True):
        ct = des_cbc(KEY, bytes(8), job.cipher_data)
        assert r.status is Status.OK and r.data == ct and r.icv == hmac_sha1_96(SHA_KEY, job.auth_data + ct)
    extra = engine.stats.extra
    assert extra["jobs_done"] == len(jobs)
    assert extra["des_blocks"] == sum(c // 8 for _, c in shapes)
    assert extra["hash_blocks"] == sum(-(-(a + c) // 64) for a, c in shapes)
    # the engine's own cycle counter and the testbench's count of clock edges agree
    assert extra["cycles"] == engine.cycles > 0
    assert 0 < extra["busy_cycles"] <= extra["cycles"]
    assert extra["sim_ms"] >= 0 and extra["cycles_per_s"] > 0


def test_duplicate_caller_tags_are_told_apart(engine) -> None:
    """The engine sees hardware tags of the backend's own; the caller's may repeat."""
    conn = engine.install(SAParams(inbound=False, cipher=Cipher.DES_CBC, des_key=KEY))
    blocks = [bytes([i]) * 8 * (1 + 20 * (i % 2)) for i in range(6)]
    jobs = [Job(Op.ENCRYPT, conn, 7, cipher_data=b, iv=bytes(8)) for b in blocks]
    assert engine.submit(jobs) == len(jobs)
    got = []
    while engine.pending():
        got += engine.poll()
    assert len(got) == len(jobs) and all(r.tag == 7 and r.ok for r in got)
    assert sorted(r.data for r in got) == sorted(des_cbc(KEY, bytes(8), b) for b in blocks)


def test_context_writes_are_ordered_with_jobs(engine) -> None:
    """A job submitted before its SA is removed runs under it; one submitted after finds the
    conn id empty; a conn id is written again only after a full round of the others."""
    conn = engine.install(SAParams(inbound=False, cipher=Cipher.DES_CBC, des_key=KEY))
    before = Job(Op.ENCRYPT, conn, 1, cipher_data=bytes(64), iv=bytes(8))
    after = Job(Op.ENCRYPT, conn, 2, cipher_data=bytes(64), iv=bytes(8))
    assert engine.submit([before]) == 1
    engine.remove(conn)
    assert engine.submit([after]) == 1
    results = {}
    while engine.pending():
        results.update((r.tag, r) for r in engine.poll())
    assert results[1].status is Status.OK and results[1].data == des_cbc(KEY, bytes(8), bytes(64))
    assert results[2].status is Status.BAD_CONN and results[2].data == b""
    assert engine.install(SAParams(inbound=False, cipher=Cipher.DES_CBC, des_key=KEY)) != conn


def test_a_reused_simulator_starts_from_reset() -> None:
    first = AmaranthEngine(conns=32)
    conn = first.install(SAParams(inbound=False, cipher=Cipher.DES_CBC, des_key=KEY))
    (r,) = first.run([Job(Op.ENCRYPT, conn, 1, cipher_data=bytes(8), iv=bytes(8))])
    assert r.ok
    first.close()
    with pytest.raises(EngineFault):
        first.submit([Job(Op.ENCRYPT, conn, 1, cipher_data=bytes(8), iv=bytes(8))])
    second = AmaranthEngine(conns=32)
    try:
        # the same conn id, never installed on this engine: its context memory was reset
        (r,) = second.run([Job(Op.ENCRYPT, conn, 1, cipher_data=bytes(8), iv=bytes(8))])
        assert r.status is Status.BAD_CONN
        assert second.cycles == second.stats.extra["cycles"]
    finally:
        second.close()


def test_engine_parameters_are_keyword_arguments() -> None:
    small = AmaranthEngine(conns=8, hash_lanes=1, cbc_lanes=1, slots=2, queue_depth=3)
    try:
        assert small.max_conns == 7 and small.queue_depth == 3
        assert small.params["hash_lanes"] == 1
        ids = [
            small.install(SAParams(inbound=True, auth=Auth.HMAC_SHA1_96, auth_key=SHA_KEY)) for _ in range(7)
        ]
        assert sorted(ids) == list(range(1, 8))
        data = [bytes([i]) * (30 + i) for i in range(4)]
        results = small.run(
            [Job(Op.VERIFY, ids[i], i, auth_data=d, icv=hmac_sha1_96(SHA_KEY, d)) for i, d in enumerate(data)]
        )
        assert [r.status for r in results] == [Status.OK] * 4
        assert small.stats.queue_full >= 1  # four jobs through a queue of three
    finally:
        small.close()
    with pytest.raises(EngineError, match="unknown Engine parameter"):
        AmaranthEngine(lanes=3)


def test_sha1_only_lanes_leave_md5_jobs_to_the_md5_lane() -> None:
    """``md5_lanes``: with one MD5 lane of three, interleaved HMAC-MD5-96 and HMAC-SHA1-96 jobs
    all compute the ICVs hmac computes (MD5 jobs wait for lane 0, SHA-1 jobs use any)."""
    keys = {
        Auth.HMAC_SHA1_96: (SHA_KEY, hashlib.sha1),
        Auth.HMAC_MD5_96: (bytes(range(100, 116)), hashlib.md5),
    }
    mixed = AmaranthEngine(conns=8, hash_lanes=3, md5_lanes=1, cbc_lanes=1, slots=6)
    try:
        conns = {a: mixed.install(SAParams(inbound=False, auth=a, auth_key=k)) for a, (k, _) in keys.items()}
        auths = [Auth.HMAC_MD5_96 if i % 3 else Auth.HMAC_SHA1_96 for i in range(8)]
        data = [bytes([i]) * (60 + 37 * i) for i in range(8)]
        jobs = [
            Job(Op.AUTH, conns[a], i, auth_data=d) for i, (a, d) in enumerate(zip(auths, data, strict=True))
        ]
        results = sorted(mixed.run(jobs), key=lambda r: r.tag)
        assert [r.status for r in results] == [Status.OK] * 8
        for a, d, r in zip(auths, data, results, strict=True):
            key, digest = keys[a]
            assert r.icv == hmac.new(key, d, digest).digest()[:12]
    finally:
        mixed.close()
    with pytest.raises(EngineError, match="md5_lanes must be None or at least 1"):
        AmaranthEngine(md5_lanes=0)


def test_watchdog_is_an_engine_fault_and_the_manager_fails_over() -> None:
    """A 1400-byte CBC encryption is ~175 serial cipher round trips with no word moving in
    between: a watchdog far shorter than that takes the engine for hung."""
    bare = AmaranthEngine(watchdog_cycles=40, poll_cycles=50)
    conn = bare.install(SAParams(inbound=False, cipher=Cipher.DES_CBC, des_key=KEY))
    bare.submit([Job(Op.ENCRYPT, conn, 1, cipher_data=bytes(1400), iv=bytes(8))])
    with pytest.raises(EngineFault, match="no word moved"):
        for _ in range(10):
            bare.poll()
    with pytest.raises(EngineFault):
        bare.poll()  # closed for good
    managed = open_engine("amaranth", watchdog_cycles=40, poll_cycles=50)
    try:
        conn = managed.install(SAParams(inbound=False, cipher=Cipher.DES_CBC, des_key=KEY))
        (r,) = managed.run([Job(Op.ENCRYPT, conn, 1, cipher_data=bytes(1400), iv=bytes(8))])
        assert r.ok and r.data == des_cbc(KEY, bytes(8), bytes(1400))
        assert managed.failovers == 1 and managed.slot_of(conn) == 0
        assert any("ENGINE_FAILED" in line for line in managed.log)
    finally:
        managed.close()


CONSOLE_SCRIPT = """enable
configure terminal
access-list 101 permit ip 10.0.0.0 0.0.0.255 10.2.2.0 0.0.0.255
crypto ipsec transform-set myset esp-des esp-sha-hmac
crypto map toRemoteSite 10 ipsec-manual
match address 101
set transform-set myset
set peer 10.2.2.5
set session-key inbound esp 1001 cipher 0123456789abcdef authenticator {key}
set session-key outbound esp 1002 cipher fedcba9876543210 authenticator {key}
exit
interface Serial0
ip address 10.0.0.2 255.255.255.252
crypto map toRemoteSite
end
show crypto engine connections active
show crypto engine configuration
show crypto ipsec sa
""".format(key="00112233445566778899aabbccddeeff00112233")


def test_console_router_on_the_amaranth_engine() -> None:
    """``esa console --engine amaranth`` as a user runs it: the spec's manual-key crypto map
    installs its two SAs in the simulated engine's contexts (slot 5), not in software."""
    result = subprocess.run(
        [sys.executable, "-m", "sim.cli", "console", "--engine", "amaranth"],
        input=CONSOLE_SCRIPT,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = [line.split() for line in out.splitlines() if "HMAC_SHA+DES_56_CB" in line]
    assert [r[:2] for r in rows] == [["1", "Serial0"], ["2", "Serial0"]]
    engine_block, _, software_block = out.partition("crypto engine name:  software")
    assert "crypto engine name:  amaranth" in engine_block and "crypto engine in slot:  5" in engine_block
    assert "connections in use:  2 of 1023" in engine_block
    assert "connections in use:  0 of" in software_block
    assert out.count("slot: 5, conn id:") == 2 and "slot: 0," not in out
