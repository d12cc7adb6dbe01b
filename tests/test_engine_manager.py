"""The engine manager: an accelerator with software fallback, tested by injecting faults.

The accelerator here is :class:`FaultyCard`, a test-only :class:`~driver.api.CryptoEngine` that
delegates to a real :class:`~driver.software.SoftwareEngine` sitting in card slot 5 with a small
context memory and queue, and that can be told to stop answering, raise
:class:`~driver.api.EngineFault`, answer with impossible results, or die (every later call
fails, as a killed simulator process does). Every result is checked against DES-CBC and HMAC
computed with ``cryptography`` directly.
"""

from __future__ import annotations

import random
import shutil

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as ossl_hmac
from cryptography.hazmat.primitives.ciphers import Cipher as OsslCipher
from cryptography.hazmat.primitives.ciphers import modes

from driver import registry
from driver.api import (
    Auth,
    CapacityError,
    Cipher,
    CryptoEngine,
    EngineError,
    EngineFault,
    Job,
    Op,
    Result,
    SAParams,
    Status,
)
from driver.manager import EngineManager, engine_slots
from driver.software import SoftwareEngine
from tests.fault_injection import FaultyCard

# -- references we did not write ----------------------------------------------------------------


def ref_cbc(key: bytes, iv: bytes, data: bytes, decrypt: bool = False) -> bytes:
    c = OsslCipher(TripleDES(key * 3), modes.CBC(iv))
    ctx = c.decryptor() if decrypt else c.encryptor()
    return ctx.update(data) + ctx.finalize()


def ref_hmac96(auth: Auth, key: bytes, data: bytes) -> bytes:
    h = ossl_hmac.HMAC(key, hashes.SHA1() if auth is Auth.HMAC_SHA1_96 else hashes.MD5())
    h.update(data)
    return h.finalize()[:12]


class Traffic:
    """ESP-shaped SAs and jobs with their expected results."""

    def __init__(self, seed: int = 1) -> None:
        self.rnd = random.Random(seed)
        self.sas: dict[int, SAParams] = {}
        self.tag = 0

    def sa(self, inbound: bool, auth: Auth = Auth.HMAC_SHA1_96) -> SAParams:
        n = 20 if auth is Auth.HMAC_SHA1_96 else 16
        return SAParams(
            inbound=inbound,
            cipher=Cipher.DES_CBC,
            auth=auth,
            des_key=self.rnd.randbytes(8),
            auth_key=self.rnd.randbytes(n),
        )

    def install(self, engine: CryptoEngine, sa: SAParams) -> int:
        conn = engine.install(sa)
        self.sas[conn] = sa
        return conn

    def job(self, conn: int, size: int | None = None) -> tuple[Job, Result]:
        """A job on ``conn`` and the result a correct engine gives (tags unique per Traffic)."""
        sa = self.sas[conn]
        self.tag = (self.tag + 1) % 65536
        size = size if size is not None else 8 * self.rnd.randint(1, 40)
        head = self.rnd.randbytes(16)  # SPI, sequence number, IV
        iv = head[8:]
        body = self.rnd.randbytes(size)
        if not sa.inbound:
            ct = ref_cbc(sa.des_key, iv, body)
            icv = ref_hmac96(sa.auth, sa.auth_key, head + ct)
            job = Job(Op.ENCRYPT_AUTH, conn, self.tag, head, body, iv)
            return job, Result(self.tag, conn, Status.OK, ct, icv)
        icv = ref_hmac96(sa.auth, sa.auth_key, head + body)
        job = Job(Op.VERIFY_DECRYPT, conn, self.tag, head, body, iv, icv)
        return job, Result(self.tag, conn, Status.OK, ref_cbc(sa.des_key, iv, body, decrypt=True))


def run_and_check(engine: CryptoEngine, traffic: Traffic, conns: list[int], n: int) -> None:
    pairs = [traffic.job(conns[i % len(conns)]) for i in range(n)]
    got = engine.run([j for j, _ in pairs])
    assert got == [want for _, want in pairs]


def manager(card: FaultyCard, **kw) -> EngineManager:
    kw.setdefault("timeout_polls", 20)
    return EngineManager(card, SoftwareEngine(), **kw)


# -- slots exhausted ----------------------------------------------------------------------------


def test_slots_exhausted_software_serves_the_rest_with_identical_results():
    card = FaultyCard(max_conns=2)
    m = manager(card)
    t = Traffic()
    conns = [
        t.install(m, t.sa(inbound=bool(i % 2), auth=[Auth.HMAC_SHA1_96, Auth.HMAC_MD5_96][i % 2]))
        for i in range(5)
    ]
    assert len(set(conns)) == 5
    assert [m.slot_of(c) for c in conns] == [5, 5, 0, 0, 0]
    assert m.fallbacks == 3
    full = [line for line in m.log if line.startswith("%CRYPTO-4-ENGINE_FULL:")]
    assert len(full) == 3 and "slot 5 (testcard)" in full[0] and "slot 0" in full[0]
    run_and_check(m, t, conns, 60)
    assert card.inner.stats.jobs == 24  # the card really ran its two SAs' share
    assert m.soft.engine.stats.jobs == 36
    c = m.counters(conns[0])
    assert (c.encrypted, c.decrypted) == (12, 0)
    assert m.counters(conns[1]).decrypted == 12
    slots = engine_slots(m)
    assert [(s.slot, s.conns, s.state, s.fallbacks) for s in slots] == [(5, 2, "up", 3), (0, 3, "up", 0)]
    # a freed card slot is used again by the next SA
    m.remove(conns[0])
    t.sas.pop(conns[0])
    fresh = t.install(m, t.sa(inbound=False))
    assert m.slot_of(fresh) == 5 and fresh not in conns


def test_no_engine_left_raises_capacity_error_and_installs_nothing():
    m = EngineManager(FaultyCard(max_conns=1), SoftwareEngine(max_conns=1))
    t = Traffic()
    a = t.install(m, t.sa(False))
    b = t.install(m, t.sa(True))
    with pytest.raises(CapacityError):
        m.install(t.sa(False))
    assert m.conn_ids() == sorted([a, b])
    assert [m.slot_of(a), m.slot_of(b)] == [5, 0]


# -- the accelerator fails --------------------------------------------------------------------

MODES = ["silent", "fault", "killed", "bad_tag", "lost_context", "short", "broken_pipe"]


@pytest.mark.parametrize("mode", MODES)
def test_accelerator_dies_mid_burst_every_job_still_completes_correctly(mode):
    card = FaultyCard(max_conns=4, queue_depth=16, per_poll=3, fail_after=7, mode=mode)
    m = manager(card)
    t = Traffic(seed=3)
    conns = [t.install(m, t.sa(inbound=i % 2 == 1)) for i in range(6)]  # 4 on the card, 2 not
    assert [m.slot_of(c) for c in conns] == [5, 5, 5, 5, 0, 0]
    before = {c: m.counters(c) for c in conns}
    run_and_check(m, t, conns, 90)  # the card answers 7 jobs, then fails in the middle
    assert card.answered == 7
    assert m.accel.failed and m.failovers == 1
    assert [m.slot_of(c) for c in conns] == [0] * 6  # same conn ids, now all in software
    assert {c: m.counters(c) for c in conns} == before  # the very same counter objects
    assert sum(m.counters(c).encrypted + m.counters(c).decrypted for c in conns) == 90
    assert m.migrated == 4 and m.rerun > 0
    assert card.closed
    info = [line for line in m.log if line.startswith("%ISA-6-INFO: ISA slot 5: ")]
    assert len(info) == 1
    if mode == "silent":
        assert info[0] == "%ISA-6-INFO: ISA slot 5: Firmware heartbeat failed"
    failed = [line for line in m.log if line.startswith("%CRYPTO-4-ENGINE_FAILED:")]
    assert len(failed) == 1 and "4 connections" in failed[0] and "slot 0" in failed[0]
    # and it keeps forwarding: more traffic, a new SA, all in software
    fresh = t.install(m, t.sa(False))
    assert m.slot_of(fresh) == 0
    run_and_check(m, t, [*conns, fresh], 21)
    slots = engine_slots(m)
    assert [(s.slot, s.state, s.conns, s.failovers) for s in slots] == [(5, "failed", 0, 1), (0, "up", 7, 0)]


def test_accelerator_killed_between_bursts_is_noticed_at_the_next_submit():
    card = FaultyCard()
    m = manager(card)
    t = Traffic(seed=4)
    conns = [t.install(m, t.sa(inbound=i % 2 == 1)) for i in range(3)]
    run_and_check(m, t, conns, 9)
    card.break_now("killed")
    run_and_check(m, t, conns, 9)
    assert m.accel.failed and m.rerun == 0 and m.migrated == 3
    assert "simulator process exited" in m.accel.fault


def test_accelerator_killed_before_install_and_remove():
    card = FaultyCard()
    m = manager(card)
    t = Traffic(seed=5)
    a = t.install(m, t.sa(False))
    card.break_now("killed")
    b = t.install(m, t.sa(True))  # the card fails here; a moves, b goes to software
    assert m.accel.failed and [m.slot_of(a), m.slot_of(b)] == [0, 0]
    run_and_check(m, t, [a, b], 6)

    card2 = FaultyCard()
    m2 = manager(card2)
    x = t.install(m2, t.sa(False))
    y = t.install(m2, t.sa(False))
    card2.break_now("killed")
    m2.remove(x)  # the fault shows while removing: y moves to software, x is gone
    assert m2.accel.failed and m2.conn_ids() == [y] and m2.slot_of(y) == 0
    run_and_check(m2, t, [y], 4)


def test_jobs_of_an_sa_removed_while_in_flight_on_a_dying_card_end_bad_conn():
    card = FaultyCard(per_poll=1, fail_after=1, mode="silent")
    m = manager(card, timeout_polls=5)
    t = Traffic(seed=6)
    keep, doomed = t.install(m, t.sa(False)), t.install(m, t.sa(False))
    jobs = [t.job(keep)[0], t.job(doomed)[0], t.job(doomed)[0], t.job(keep)[0]]
    want_keep = {}
    # recompute the expected results of keep's jobs
    for j in jobs:
        if j.conn_id == keep:
            sa = t.sas[keep]
            ct = ref_cbc(sa.des_key, j.iv, j.cipher_data)
            want_keep[j.tag] = Result(
                j.tag, keep, Status.OK, ct, ref_hmac96(sa.auth, sa.auth_key, j.auth_data + ct)
            )
    assert m.submit(jobs) == 4
    got = {r.tag: r for r in m.poll()}
    m.remove(doomed)
    for _ in range(50):
        got.update((r.tag, r) for r in m.poll())
    assert m.accel.failed and len(got) == 4 and m.pending() == 0
    for j in jobs:
        if j.conn_id == keep:
            assert got[j.tag] == want_keep[j.tag]
        else:
            assert got[j.tag].status is Status.BAD_CONN and got[j.tag].data == b""


def test_software_engine_fault_is_not_hidden():
    class DeadSoftware(SoftwareEngine):
        def poll(self, max_results=None):
            raise EngineFault("boom")

    m = EngineManager(None, DeadSoftware())
    t = Traffic()
    c = t.install(m, t.sa(False))
    with pytest.raises(EngineFault, match="software engine"):
        m.run([t.job(c)[0]])


# -- queue full ---------------------------------------------------------------------------------


def test_queue_full_wait_policy_accepts_the_prefix_and_run_completes_everything():
    card = FaultyCard(queue_depth=4, per_poll=2)
    m = manager(card, on_queue_full="wait")
    t = Traffic(seed=7)
    conns = [t.install(m, t.sa(inbound=i % 2 == 1)) for i in range(2)]
    pairs = [t.job(conns[i % 2]) for i in range(10)]
    assert m.submit([j for j, _ in pairs]) == 4
    assert m.stats.queue_full == 1 and m.accel.ppq_full == 1
    assert m.pending() == 4
    got = {r.tag: r for r in m.poll()}
    rest = [j for j, _ in pairs[4:]]
    for _ in range(100):
        rest = rest[m.submit(rest) :]
        got.update((r.tag, r) for r in m.poll())
        if len(got) == 10:
            break
    assert [got[want.tag] for _, want in pairs] == [want for _, want in pairs]
    assert m.accel.ppq_full >= 2 and m.accel.dropped == 0
    # and through run(): the waiting is run()'s
    run_and_check(m, t, conns, 25)
    assert not m.accel.failed


def test_queue_full_drop_policy_reports_every_dropped_job():
    card = FaultyCard(queue_depth=4, per_poll=2)
    m = manager(card, on_queue_full="drop")
    t = Traffic(seed=8)
    conn = t.install(m, t.sa(False))
    pairs = [t.job(conn) for _ in range(10)]
    results = m.run([j for j, _ in pairs])
    assert len(results) == 10
    ok = [r for r in results if r.ok]
    dropped = [r for r in results if r.status is Status.QUEUE_FULL]
    assert len(ok) == 4 and len(dropped) == 6
    assert all(r.data == b"" and r.icv is None for r in dropped)
    for (_, want), got in zip(pairs, results, strict=True):
        assert got.status is Status.QUEUE_FULL or got == want
    assert m.accel.dropped == 6 and m.accel.ppq_full == 1 and m.stats.queue_full == 1
    c = m.counters(conn)
    assert (c.encrypted, c.errors) == (4, 6)


def test_bad_policy_and_malformed_jobs_are_refused():
    with pytest.raises(EngineError, match="on_queue_full"):
        EngineManager(FaultyCard(), on_queue_full="maybe")
    m = manager(FaultyCard())
    t = Traffic()
    c = t.install(m, t.sa(False))
    good = t.job(c)[0]
    bad = Job(Op.ENCRYPT_AUTH, c, 99, b"", bytes(8), iv=None)
    with pytest.raises(EngineError, match="IV"):
        m.submit([good, bad])
    assert m.pending() == 0
    (r,) = m.run([Job(Op.ENCRYPT_AUTH, 777, 5, b"", bytes(8), bytes(8))])
    assert r.status is Status.BAD_CONN and r.conn_id == 777


# -- rekeying -----------------------------------------------------------------------------------


@pytest.mark.parametrize("card_room", [4, 1], ids=["new-on-card", "new-in-software"])
def test_rekey_make_before_break_loses_no_packet_of_either_sa(card_room):
    card = FaultyCard(max_conns=card_room, queue_depth=64, per_poll=5)
    m = manager(card)
    t = Traffic(seed=9)
    old = t.install(m, t.sa(False))
    old_jobs = [t.job(old) for _ in range(12)]
    assert m.submit([j for j, _ in old_jobs]) == 12  # old SA's packets in flight
    got = {r.tag: r for r in m.poll()}
    new = t.install(m, t.sa(False))  # the new SA comes first ...
    assert new != old
    assert m.slot_of(new) == (5 if card_room > 1 else 0)
    new_jobs = [t.job(new) for _ in range(12)]
    assert m.submit([j for j, _ in new_jobs]) == 12
    for _ in range(100):
        got.update((r.tag, r) for r in m.poll())
        if len(got) == 24:
            break
    m.remove(old)  # ... the old one goes once its packets are through
    assert [got[w.tag] for _, w in old_jobs + new_jobs] == [w for _, w in old_jobs + new_jobs]
    run_and_check(m, t, [new], 5)
    assert m.conn_ids() == [new]


# -- the registry -------------------------------------------------------------------------------


def test_registry_wraps_accelerators_in_a_manager(monkeypatch):
    monkeypatch.setitem(registry.BACKENDS, "testcard", f"{FaultyCard.__module__}:FaultyCard")
    monkeypatch.setattr(registry, "ACCELERATORS", {*registry.ACCELERATORS, "testcard"})
    e = registry.open_engine("testcard", max_conns=1, on_queue_full="drop", timeout_polls=3)
    assert isinstance(e, EngineManager)
    assert e.name == "testcard" and e.card_slot == 5 and e.on_queue_full == "drop"
    assert e.accel.engine.max_conns == 1 and e.soft.engine.card_slot == 0
    bare = registry.open_backend("testcard")
    assert isinstance(bare, FaultyCard)
    assert type(registry.open_engine("software")) is SoftwareEngine
    with pytest.raises(ValueError, match="known engines: .*software"):
        registry.open_engine("no-such-engine")
    for name in registry.ACCELERATORS:
        assert name in registry.known_engines()


# -- a real simulator process killed mid-traffic -------------------------------------------------


def _cosim_unusable(sim: str) -> str | None:
    """Why the ``sim`` co-simulation backend cannot run here (None: it can)."""
    if sim not in registry.ACCELERATORS:
        return f"driver/{sim}_backend.py is not there"
    tools = ("g++", "make") if sim == "verilator" else ("iverilog", "vvp")
    missing = [t for t in tools if shutil.which(t) is None]
    return f"{', '.join(missing)} not installed" if missing else None


@pytest.mark.slow
@pytest.mark.parametrize(
    "sim",
    [
        pytest.param(
            s, marks=pytest.mark.skipif(_cosim_unusable(s) is not None, reason=str(_cosim_unusable(s)))
        )
        for s in ("verilator", "icarus")
    ],
)
def test_simulator_process_killed_mid_traffic_falls_back_to_software(sim):
    try:
        m = registry.open_engine(sim, timeout_polls=50)
    except EngineFault as e:
        pytest.skip(f"the {sim} backend cannot be built here: {e}")
    try:
        assert isinstance(m, EngineManager) and m.accel is not None
        t = Traffic(seed=11)
        conns = [t.install(m, t.sa(inbound=i % 2 == 1)) for i in range(4)]
        assert all(m.slot_of(c) == m.card_slot != 0 for c in conns)
        run_and_check(m, t, conns, 8)  # the simulator works
        pairs = [t.job(conns[i % 4], 64) for i in range(24)]
        k = m.submit([j for j, _ in pairs])
        assert k > 0
        proc = m.accel.engine._proc._proc  # the simulator's process
        proc.kill()
        proc.wait(timeout=30)
        rest = [j for j, _ in pairs[k:]]
        got = {}
        for _ in range(10_000):
            rest = rest[m.submit(rest) :]
            got.update((r.tag, r) for r in m.poll())
            if len(got) == len(pairs):
                break
        assert [got[w.tag] for _, w in pairs] == [w for _, w in pairs]
        assert m.accel.failed and [m.slot_of(c) for c in conns] == [0] * 4
        assert any(line.startswith(f"%ISA-6-INFO: ISA slot {m.card_slot}: ") for line in m.log)
        run_and_check(m, t, conns, 8)
    finally:
        m.close()
