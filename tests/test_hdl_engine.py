"""The engine top in Amaranth's simulator, checked against cryptography (DES-CBC) and hashlib/hmac.

Two devices under test: :class:`hdl.engine_core.EngineCore` (everything but the crypto units)
with the crypto units replaced by testbench processes that compute with the reference libraries,
and the full :class:`hdl.engine.Engine` with the real CBC unit and hash lanes. Jobs are built
with :func:`hdl.layouts.pack_job`, results parsed with :func:`hdl.layouts.parse_result`, and every
result compared with a reference computed here from `cryptography` and `hmac`/`hashlib`.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass, field

import pytest
from amaranth.sim import Simulator
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher as CryptoCipher
from cryptography.hazmat.primitives.ciphers import modes

from driver.hash_state import hash_padding, hmac_states, keyed_md5_state
from hdl.crypto_ports import READ_LATENCY
from hdl.engine_core import EngineCore
from hdl.layouts import (
    Auth,
    Cipher,
    ContextWrite,
    Op,
    Status,
    StreamWord,
    icv_length,
    op_authenticates,
    op_ciphers,
    op_inbound,
    pack_context,
    pack_job,
    parse_result,
    result_word_count,
    unpack_context,
)
from sim.cocotb_benches.vectors import (
    FIPS81_CT,
    FIPS81_IV,
    FIPS81_KEY,
    FIPS81_PT,
    TESTMGR_ASSOC,
    TESTMGR_AUTH_KEY,
    TESTMGR_CT,
    TESTMGR_ENC_KEY,
    TESTMGR_ICV96,
    TESTMGR_IV,
    TESTMGR_PT,
)

# ---------------------------------------------------------------- reference model


def des_cbc(key: bytes, iv: bytes, data: bytes, decrypt: bool) -> bytes:
    """Single DES in CBC mode (TripleDES with K1=K2=K3 is exactly single DES)."""
    c = CryptoCipher(TripleDES(key * 3), modes.CBC(iv))
    x = c.decryptor() if decrypt else c.encryptor()
    return x.update(data) + x.finalize()


def mac(auth: Auth, key: bytes, msg: bytes) -> bytes:
    """The full MAC for ``auth`` (HMAC digest, or the RFC 1828 keyed-MD5 digest)."""
    if auth is Auth.HMAC_MD5_96:
        return hmac.new(key, msg, hashlib.md5).digest()
    if auth is Auth.HMAC_SHA1_96:
        return hmac.new(key, msg, hashlib.sha1).digest()
    if auth is Auth.KEYED_MD5:
        return hashlib.md5(key + hash_padding("md5", len(key)) + msg + key).digest()
    raise ValueError(auth)


@dataclass
class SA:
    """One SA as the test installs it (keys in the clear, for the reference)."""

    inbound: bool
    cipher: Cipher
    auth: Auth
    des_key: bytes = bytes(8)
    auth_key: bytes = b""
    valid: bool = True

    def context_bits(self) -> int:
        inner = outer = b""
        if self.auth in (Auth.HMAC_MD5_96, Auth.HMAC_SHA1_96):
            inner, outer = hmac_states(self.auth, self.auth_key)
        elif self.auth is Auth.KEYED_MD5:
            inner, outer = keyed_md5_state(self.auth_key)
        return pack_context(
            inbound=self.inbound,
            cipher=self.cipher,
            auth=self.auth,
            des_key=self.des_key,
            inner=inner,
            outer=outer,
            valid=self.valid,
        )


@dataclass
class JobCase:
    """A job, its stream words and the result the reference expects."""

    words: list[int]
    tag: int
    conn_id: int
    status: Status
    data: bytes = b""
    icv: bytes | None = None
    """Expected ICV bytes (truncated to the SA's ICV length) for outbound authenticating jobs."""


def expect(
    op: Op,
    conn_id: int,
    tag: int,
    sa: SA | None,
    conns: int,
    auth_data: bytes,
    cipher_data: bytes,
    iv: bytes | None,
    icv: bytes | None,
    max_job: int,
) -> JobCase:
    """Build a well-formed job frame and the result the contract of hdl.layouts calls for."""
    words = list(pack_job(op, conn_id, tag, auth_data, cipher_data, iv=iv, icv=icv).words)
    job = JobCase(words, tag, conn_id, Status.OK)
    if conn_id >= conns or sa is None or not sa.valid:
        job.status = Status.BAD_CONN
    elif (
        op_inbound(op) != sa.inbound
        or op_ciphers(op) != (sa.cipher is not Cipher.NONE)
        or op_authenticates(op) != (sa.auth is not Auth.NONE)
    ):
        job.status = Status.BAD_OP
    elif (
        len(cipher_data) % 8
        or (op_ciphers(op) and len(auth_data) % 8)
        or (not op_ciphers(op) and cipher_data)
        or len(auth_data) + len(cipher_data) > max_job
    ):
        job.status = Status.BAD_LENGTH
    if job.status is not Status.OK:
        return job
    out = des_cbc(sa.des_key, iv, cipher_data, op_inbound(op)) if op_ciphers(op) else b""
    if op_authenticates(op):
        covered = cipher_data if op_inbound(op) else out
        digest = mac(sa.auth, sa.auth_key, auth_data + covered)[: icv_length(sa.auth)]
        if op_inbound(op):
            if icv[: icv_length(sa.auth)] != digest:
                job.status = Status.ICV_MISMATCH
                return job
        else:
            job.icv = digest
    job.data = out
    return job


def random_sa(rng: random.Random, inbound: bool | None = None) -> SA:
    inbound = rng.random() < 0.5 if inbound is None else inbound
    kind = rng.choice(["esp", "esp", "cipher", "auth"])
    cipher = Cipher.NONE if kind == "auth" else Cipher.DES_CBC
    auth = (
        Auth.NONE
        if kind == "cipher"
        else rng.choice([Auth.HMAC_MD5_96, Auth.HMAC_SHA1_96] + ([Auth.KEYED_MD5] if kind == "auth" else []))
    )
    key_len = {Auth.NONE: 0, Auth.HMAC_MD5_96: 16, Auth.HMAC_SHA1_96: 20, Auth.KEYED_MD5: 16}[auth]
    return SA(inbound, cipher, auth, rng.randbytes(8), rng.randbytes(key_len))


def op_for(sa: SA) -> Op:
    value = int(sa.cipher is not Cipher.NONE) | (int(sa.auth is not Auth.NONE) << 1) | (int(sa.inbound) << 2)
    return Op(value)


def random_job(
    rng: random.Random,
    sa: SA | None,
    conn_id: int,
    tag: int,
    conns: int,
    max_job: int,
    max_blocks: int = 12,
    op: Op | None = None,
    corrupt_icv: float = 0.3,
) -> JobCase:
    """A random job for ``sa`` (or for a missing SA), with a correct or corrupted ICV."""
    if op is None:
        op = op_for(sa) if sa is not None else rng.choice(list(Op))
    ciphers = op_ciphers(op)
    if ciphers:
        auth_data = rng.randbytes(8 * rng.randint(0, 3)) if op_authenticates(op) else b""
        cipher_data = rng.randbytes(8 * rng.randint(1, max_blocks))
    else:
        auth_data, cipher_data = rng.randbytes(rng.randint(0, 8 * max_blocks)), b""
    iv = rng.randbytes(8) if ciphers else None
    icv = None
    if op_inbound(op) and op_authenticates(op):
        icv = rng.randbytes(16)
        if sa is not None and sa.auth is not Auth.NONE and rng.random() > corrupt_icv:
            # the sender's ICV: MAC over the prefix and the ciphertext as received
            icv = mac(sa.auth, sa.auth_key, auth_data + cipher_data)[: icv_length(sa.auth)]
    return expect(op, conn_id, tag, sa, conns, auth_data, cipher_data, iv, icv, max_job)


def malformed_job(rng: random.Random, sa: SA, conn_id: int, tag: int) -> JobCase:
    """A frame whose ``last`` comes early or late, whose lengths are misaligned, or whose op is
    undefined."""
    op = op_for(sa)
    kinds = ["short", "long", "undefined_op"] + (["misaligned"] if op_ciphers(op) else [])
    kind = rng.choice(kinds)
    cipher = rng.randbytes(8 * rng.randint(1, 4)) if op_ciphers(op) else b""
    auth = rng.randbytes(rng.randint(1, 20)) if not op_ciphers(op) else b""
    if kind == "misaligned":
        cipher += rng.randbytes(rng.randint(1, 7))
    iv = bytes(8) if op_ciphers(op) else None
    icv = bytes(16) if op_inbound(op) and op_authenticates(op) else None
    words = list(pack_job(op, conn_id, tag, auth, cipher, iv=iv, icv=icv).words)
    status = Status.BAD_LENGTH
    if kind == "short":
        words = words[: rng.randint(1, len(words) - 1)]
    elif kind == "long":
        words += [rng.getrandbits(64) for _ in range(rng.randint(1, 3))]
    elif kind == "undefined_op":
        undefined = rng.choice([v for v in range(16) if v not in {o.value for o in Op}])
        words[0] = (words[0] & ~0xF) | undefined
        status = Status.BAD_OP
    return JobCase(words, tag, conn_id, status)


# ---------------------------------------------------------------- stream drivers


@dataclass
class Bench:
    """Drives one engine (core or full) and collects its results."""

    dut: object
    rng: random.Random
    job_idle: float = 0.0
    result_stall: float = 0.0
    results: list = field(default_factory=list)
    cycles: int = 0

    async def write_context(self, ctx, conn_id: int, bits: int) -> None:
        cs = self.dut.contexts
        ctx.set(cs.payload, ContextWrite.from_bits(conn_id | (bits << 16)))
        ctx.set(cs.valid, 1)
        await ctx.tick().until(cs.ready)
        ctx.set(cs.valid, 0)

    async def send_words(self, ctx, words: list[int]) -> None:
        js = self.dut.jobs
        for i, w in enumerate(words):
            while self.job_idle and self.rng.random() < self.job_idle:
                await ctx.tick()
            ctx.set(js.payload, StreamWord.const({"data": w, "last": int(i == len(words) - 1)}))
            ctx.set(js.valid, 1)
            await ctx.tick().until(js.ready)
            ctx.set(js.valid, 0)

    async def collect(self, ctx, count: int) -> None:
        rs = self.dut.results
        frame: list[int] = []
        while len(self.results) < count:
            ready = not (self.result_stall and self.rng.random() < self.result_stall)
            ctx.set(rs.ready, int(ready))
            await ctx.tick()
            self.cycles += 1
            # the transfer happened at this edge if valid and ready were both high before it
            if ready and self._last_valid:
                frame.append(self._last_word["data"])
                if self._last_word["last"]:
                    assert len(frame) == result_word_count(frame[0]), "result frame length"
                    self.results.append(parse_result(frame))
                    frame = []
            self._last_valid = ctx.get(rs.valid)
            self._last_word = {"data": ctx.get(rs.payload.data), "last": ctx.get(rs.payload.last)}
        ctx.set(rs.ready, 0)

    _last_valid: int = 0
    _last_word: dict = field(default_factory=dict)


def check_results(jobs: list[JobCase], results: list, sas_auth: dict[int, Auth] | None = None) -> None:
    """Every job has exactly one result, equal to the reference (matched by tag)."""
    by_tag = {}
    for r in results:
        assert r.tag not in by_tag, f"two results for tag {r.tag}"
        by_tag[r.tag] = r
    assert sorted(by_tag) == sorted(j.tag for j in jobs)
    for j in jobs:
        r = by_tag[j.tag]
        assert (r.conn_id, r.status) == (j.conn_id, j.status), f"tag {j.tag}: {r.status} != {j.status}"
        assert r.data == j.data, f"tag {j.tag}: data differs"
        if j.icv is None:
            assert r.icv is None, f"tag {j.tag}: unexpected ICV"
        else:
            assert r.icv is not None and r.icv[: len(j.icv)] == j.icv, f"tag {j.tag}: ICV differs"


# ---------------------------------------------------------------- crypto stubs for EngineCore


async def take(ctx, stream):
    """Receive one payload (a loop rather than ``until``, so that background testbenches can be
    abandoned at any point)."""
    ctx.set(stream.ready, 1)
    while True:
        _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
        if valid:
            ctx.set(stream.ready, 0)
            return payload


class CryptoStubs:
    """Testbench stand-ins for the cipher and hash units of EngineCore, computing with the
    reference libraries. They use the core's ports exactly as a unit must: take a start, read
    input words, write output blocks, pulse done."""

    def __init__(self, core: EngineCore, keys: dict[bytes, tuple[Auth, bytes]], rng: random.Random):
        self.core, self.keys, self.rng = core, keys, rng

    async def cipher(self, ctx) -> None:
        cp = self.core.cipher
        while True:
            job = await take(ctx, cp.start)
            base = job.slot << self.core.idx_bits
            data = b""
            for i in range(job.blocks):
                while (
                    ctx.get(cp.fill_active)
                    and ctx.get(cp.fill_slot) == job.slot
                    and (job.first + i >= ctx.get(cp.fill_words))
                ):
                    await ctx.tick()  # cut-through: this word has not arrived yet
                ctx.set(cp.rd_addr, base + job.first + i)
                await ctx.tick().repeat(READ_LATENCY)  # the read's word is on rd_data
                data += ctx.get(cp.rd_data).to_bytes(8, "big")
            out = des_cbc(job.key.to_bytes(8, "big"), job.iv.to_bytes(8, "big"), data, bool(job.decrypt))
            for i in range(job.blocks):
                ctx.set(cp.wr_en, 1)
                ctx.set(cp.wr_addr, base + job.first + i)
                ctx.set(cp.wr_data, int.from_bytes(out[8 * i : 8 * i + 8], "big"))
                await ctx.tick()
            ctx.set(cp.wr_en, 0)
            for _ in range(self.rng.randint(0, 3)):
                await ctx.tick()
            ctx.set(cp.done, 1)
            ctx.set(cp.done_slot, job.slot)
            await ctx.tick()
            ctx.set(cp.done, 0)

    async def hash(self, ctx) -> None:
        hp = self.core.hash
        while True:
            job = await take(ctx, hp.start)
            base = job.slot << self.core.idx_bits
            msg = b""
            for i in range(-(-job.msg_bytes // 8)):
                ctx.set(hp.rd_addr, base + i)
                ctx.set(hp.rd_out, int(i >= job.split))
                await ctx.tick().repeat(READ_LATENCY)  # the read's word is on rd_data
                msg += ctx.get(hp.rd_data).to_bytes(8, "big")
            msg = msg[: job.msg_bytes]
            auth, key = self.keys[job.inner.to_bytes(20, "big")]
            digest = mac(auth, key, msg)[:16]
            ctx.set(hp.done, 1)
            ctx.set(hp.done_slot, job.slot)
            ctx.set(hp.done_icv, int.from_bytes(digest, "big"))
            await ctx.tick()
            ctx.set(hp.done, 0)


def run_core(
    jobs: list[JobCase],
    sas: dict[int, SA],
    rng: random.Random,
    *,
    conns: int = 64,
    slots: int = 8,
    max_job_bytes: int = 256,
    job_idle: float = 0.0,
    result_stall: float = 0.0,
    actions: list | None = None,
) -> Bench:
    """Run ``jobs`` through an EngineCore with stubbed crypto; ``actions`` interleaves context
    writes ``("ctx", conn, bits)`` with jobs ``("job", JobCase)`` (default: contexts, then jobs)."""
    core = EngineCore(conns=conns, slots=slots, max_job_bytes=max_job_bytes)
    if actions is None:
        actions = [("ctx", c, sa) for c, sa in sas.items()] + [("job", j) for j in jobs]
    keys = {}
    for a in actions:
        if a[0] == "ctx" and a[2].auth is not Auth.NONE:
            keys[unpack_context(a[2].context_bits())["inner"]] = (a[2].auth, a[2].auth_key)
    bench = Bench(core, rng, job_idle, result_stall)
    stubs = CryptoStubs(core, keys, rng)

    async def driver(ctx):
        for a in actions:
            if a[0] == "ctx":
                await bench.write_context(ctx, a[1], a[2].context_bits())
            else:
                await bench.send_words(ctx, a[1].words)

    async def collector(ctx):
        await bench.collect(ctx, len(jobs))

    sim = Simulator(core)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(collector)
    sim.add_testbench(stubs.cipher, background=True)
    sim.add_testbench(stubs.hash, background=True)
    sim.run()
    return bench


# ---------------------------------------------------------------- EngineCore tests (stubbed crypto)


def test_core_every_op_against_references():
    rng = random.Random(1)
    sas, jobs, tag = {}, [], 0
    kinds = [
        (False, Cipher.DES_CBC, Auth.HMAC_SHA1_96),
        (True, Cipher.DES_CBC, Auth.HMAC_MD5_96),
        (False, Cipher.DES_CBC, Auth.NONE),
        (True, Cipher.DES_CBC, Auth.NONE),
        (False, Cipher.NONE, Auth.HMAC_MD5_96),
        (True, Cipher.NONE, Auth.HMAC_SHA1_96),
        (False, Cipher.NONE, Auth.KEYED_MD5),
        (True, Cipher.NONE, Auth.KEYED_MD5),
    ]
    for conn, (inbound, cipher, auth) in enumerate(kinds):
        key_len = {Auth.NONE: 0, Auth.HMAC_MD5_96: 16, Auth.HMAC_SHA1_96: 20, Auth.KEYED_MD5: 16}[auth]
        sas[conn] = SA(inbound, cipher, auth, rng.randbytes(8), rng.randbytes(key_len))
    for conn, sa in sas.items():
        for corrupt in (0.0, 1.0):
            jobs.append(random_job(rng, sa, conn, tag, 64, 256, corrupt_icv=corrupt))
            tag += 1
    bench = run_core(jobs, sas, rng)
    check_results(jobs, bench.results)
    assert {j.status for j in jobs} == {Status.OK, Status.ICV_MISMATCH}


def test_core_rejects_bad_conn_op_and_length():
    rng = random.Random(2)
    sas = {
        3: SA(False, Cipher.DES_CBC, Auth.HMAC_SHA1_96, rng.randbytes(8), rng.randbytes(20)),
        4: SA(True, Cipher.DES_CBC, Auth.NONE, rng.randbytes(8)),
        5: SA(False, Cipher.NONE, Auth.HMAC_MD5_96, auth_key=rng.randbytes(16), valid=False),
    }
    iv = bytes(8)
    jobs = [
        expect(Op.ENCRYPT_AUTH, 70, 1, None, 64, bytes(8), bytes(16), iv, None, 256),  # beyond conns
        expect(Op.ENCRYPT_AUTH, 9, 2, None, 64, bytes(8), bytes(16), iv, None, 256),  # empty slot
        expect(Op.AUTH, 5, 3, sas[5], 64, bytes(8), b"", None, None, 256),  # invalidated
        expect(Op.DECRYPT, 3, 4, sas[3], 64, b"", bytes(16), iv, None, 256),  # direction
        expect(Op.ENCRYPT, 3, 5, sas[3], 64, b"", bytes(16), iv, None, 256),  # pieces
        expect(Op.VERIFY_DECRYPT, 4, 6, sas[4], 64, b"", bytes(16), iv, bytes(12), 256),  # pieces
        expect(Op.ENCRYPT_AUTH, 3, 7, sas[3], 64, bytes(8), bytes(13), iv, None, 256),  # cipher_len
        expect(Op.ENCRYPT_AUTH, 3, 8, sas[3], 64, bytes(5), bytes(16), iv, None, 256),  # auth_len
        expect(Op.ENCRYPT_AUTH, 3, 9, sas[3], 64, bytes(8), bytes(256), iv, None, 256),  # too long
        expect(Op.DECRYPT, 4, 10, sas[4], 64, b"", bytes(24), iv, None, 256),  # a good one between
    ]
    assert [j.status for j in jobs] == [Status.BAD_CONN] * 3 + [Status.BAD_OP] * 3 + [
        Status.BAD_LENGTH
    ] * 3 + [Status.OK]
    short = expect(Op.DECRYPT, 4, 11, sas[4], 64, b"", bytes(24), iv, None, 256)
    short.words, short.status, short.data = short.words[:-1], Status.BAD_LENGTH, b""
    long = expect(Op.DECRYPT, 4, 12, sas[4], 64, b"", bytes(24), iv, None, 256)
    long.words, long.status, long.data = long.words + [7, 8], Status.BAD_LENGTH, b""
    one_word = JobCase([pack_job(Op.DECRYPT, 4, 13, b"", bytes(8), iv=iv).words[0]], 13, 4, Status.BAD_LENGTH)
    undefined = expect(Op.DECRYPT, 4, 14, sas[4], 64, b"", bytes(8), iv, None, 256)
    undefined.words[0] = (undefined.words[0] & ~0xF) | 0b1000
    undefined.status, undefined.data = Status.BAD_OP, b""
    after = expect(Op.DECRYPT, 4, 15, sas[4], 64, b"", rng.randbytes(24), iv, None, 256)
    at_max = expect(Op.DECRYPT, 4, 16, sas[4], 64, b"", rng.randbytes(256), iv, None, 256)
    at_max_esp = expect(
        Op.ENCRYPT_AUTH, 3, 17, sas[3], 64, rng.randbytes(8), rng.randbytes(248), iv, None, 256
    )
    assert at_max.status is at_max_esp.status is Status.OK
    jobs += [short, long, one_word, undefined, after, at_max, at_max_esp]
    bench = run_core(jobs, sas, rng)
    check_results(jobs, bench.results)


def test_core_random_mix_with_backpressure_and_context_rewrites():
    rng = random.Random(3)
    conns, max_job = 64, 256
    sas: dict[int, SA] = {}
    actions, jobs = [], []
    for conn in rng.sample(range(conns), 24):
        sas[conn] = random_sa(rng)
        actions.append(("ctx", conn, sas[conn]))
    for tag in range(60):
        r = rng.random()
        conn = rng.choice(list(sas)) if rng.random() < 0.8 else rng.randrange(conns + 8)
        if r < 0.15 and conn < conns:
            sa = random_sa(rng)
            sa.valid = rng.random() > 0.2
            sas[conn] = sa
            actions.append(("ctx", conn, sa))
        sa = sas.get(conn)
        if r > 0.9 and sa is not None and sa.valid:
            job = malformed_job(rng, sa, conn, tag)
        else:
            job = random_job(rng, sa, conn, tag, conns, max_job, max_blocks=20)
        jobs.append(job)
        actions.append(("job", job))
    bench = run_core(
        jobs, sas, rng, conns=conns, max_job_bytes=max_job, job_idle=0.3, result_stall=0.4, actions=actions
    )
    check_results(jobs, bench.results)
    assert len({j.status for j in jobs}) >= 4


# ---------------------------------------------------------------- the full engine (real crypto units)

SMALL = {"conns": 64, "cbc_lanes": 4, "hash_lanes": 2, "slots": 8, "max_job_bytes": 256}
"""A small configuration for quick simulation: same units, fewer of them."""


def run_engine(
    jobs: list[JobCase],
    sas: dict[int, SA],
    rng: random.Random,
    *,
    params=None,
    job_idle: float = 0.0,
    result_stall: float = 0.0,
    actions: list | None = None,
):
    """Run ``jobs`` through the full Engine; returns (bench, perf counters at the end)."""
    from hdl.engine import Engine

    dut = Engine(**(SMALL if params is None else params))
    bench = Bench(dut, rng, job_idle, result_stall)
    if actions is None:
        actions = [("ctx", c, sa) for c, sa in sas.items()] + [("job", j) for j in jobs]
    perf = {}

    async def driver(ctx):
        for a in actions:
            if a[0] == "ctx":
                await bench.write_context(ctx, a[1], a[2].context_bits())
            else:
                await bench.send_words(ctx, a[1].words)

    async def collector(ctx):
        await bench.collect(ctx, len(jobs))
        for name in ("cycles", "busy_cycles", "stall_cycles", "jobs_done", "des_blocks", "hash_blocks"):
            perf[name] = ctx.get(getattr(dut.perf, name))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(collector)
    sim.run()
    return bench, perf


def test_engine_known_answers_fips81_and_testmgr_esp():
    """FIPS 81 DES-CBC, and the Linux testmgr hmac(md5)+cbc(des) ESP vector both ways."""
    rng = random.Random(10)
    fips = SA(False, Cipher.DES_CBC, Auth.NONE, FIPS81_KEY)
    esp_out = SA(
        False,
        Cipher.DES_CBC,
        Auth.HMAC_MD5_96,
        TESTMGR_ENC_KEY,
        TESTMGR_AUTH_KEY,
    )
    esp_in = SA(True, esp_out.cipher, esp_out.auth, esp_out.des_key, esp_out.auth_key)
    sas = {1: fips, 700 % 64: esp_out, 2: esp_in}
    iv, assoc = TESTMGR_IV, TESTMGR_ASSOC
    j0 = expect(
        Op.ENCRYPT,
        1,
        0,
        fips,
        64,
        b"",
        FIPS81_PT,
        FIPS81_IV,
        None,
        256,
    )
    assert j0.data == FIPS81_CT
    j1 = expect(Op.ENCRYPT_AUTH, 700 % 64, 1, esp_out, 64, assoc, TESTMGR_PT, iv, None, 256)
    assert j1.icv == TESTMGR_ICV96
    assert j1.data == TESTMGR_CT
    j2 = expect(Op.VERIFY_DECRYPT, 2, 2, esp_in, 64, assoc, j1.data, iv, j1.icv, 256)
    assert j2.data == TESTMGR_PT
    bad_icv = bytes([j1.icv[0] ^ 1]) + j1.icv[1:]
    j3 = expect(Op.VERIFY_DECRYPT, 2, 3, esp_in, 64, assoc, j1.data, iv, bad_icv, 256)
    assert j3.status is Status.ICV_MISMATCH
    jobs = [j0, j1, j2, j3]
    bench, perf = run_engine(jobs, sas, rng)
    check_results(jobs, bench.results)
    assert perf["jobs_done"] == 4
    assert perf["des_blocks"] == 3 + 16 + 16 + 16  # the failed verify decrypts too, returns nothing


def test_engine_rfc2202_hmac_and_rfc1828():
    """RFC 2202 test cases 1, 2 and 5 (HMAC-MD5 and HMAC-SHA-1, 96-bit), as AH-style AUTH jobs,
    and RFC 1828 keyed MD5 checked with hashlib."""
    rng = random.Random(11)
    jefe = b"what do ya want for nothing?"
    cases = [
        (Auth.HMAC_MD5_96, b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8"),
        (Auth.HMAC_MD5_96, b"Jefe".ljust(16, b"\0"), jefe, "750c783e6ab0b503eaa86e31"),
        (Auth.HMAC_MD5_96, b"\x0c" * 16, b"Test With Truncation", "56461ef2342edc00f9bab995"),
        (Auth.HMAC_SHA1_96, b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6"),
        (Auth.HMAC_SHA1_96, b"Jefe".ljust(20, b"\0"), jefe, "effcdf6ae5eb2fa2d27416d5"),
        (Auth.HMAC_SHA1_96, b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1"),
    ]
    sas, jobs = {}, []
    for i, (auth, key, msg, want) in enumerate(cases):
        # RFC 2202 uses "Jefe" as a 4-byte key; HMAC zero-pads keys to the block, so the padded
        # key of the SA's fixed length gives the same MAC.
        sas[i] = SA(False, Cipher.NONE, auth, auth_key=key)
        job = expect(Op.AUTH, i, i, sas[i], 64, msg, b"", None, None, 256)
        assert job.icv == bytes.fromhex(want)
        jobs.append(job)
    sas[10] = SA(False, Cipher.NONE, Auth.KEYED_MD5, auth_key=rng.randbytes(16))
    sas[11] = SA(True, Cipher.NONE, Auth.KEYED_MD5, auth_key=sas[10].auth_key)
    for n in (0, 1, 55, 64, 120):
        msg = rng.randbytes(n)
        out = expect(Op.AUTH, 10, 20 + n, sas[10], 64, msg, b"", None, None, 256)
        jobs.append(out)
        jobs.append(expect(Op.VERIFY, 11, 200 + n, sas[11], 64, msg, b"", None, out.icv, 256))
    bench, _ = run_engine(jobs, sas, rng)
    check_results(jobs, bench.results)


def random_engine_run(
    seed: int,
    n_jobs: int,
    params: dict,
    max_blocks: int,
    conns_used: int,
    job_idle: float,
    result_stall: float,
) -> None:
    rng = random.Random(seed)
    conns, max_job = params["conns"], params["max_job_bytes"]
    sas: dict[int, SA] = {}
    actions, jobs = [], []
    for conn in rng.sample(range(conns), conns_used):
        sas[conn] = random_sa(rng)
        actions.append(("ctx", conn, sas[conn]))
    for tag in range(n_jobs):
        r = rng.random()
        conn = rng.choice(list(sas)) if rng.random() < 0.85 else rng.randrange(conns + 8)
        if r < 0.08 and conn < conns:
            sa = random_sa(rng)
            sa.valid = rng.random() > 0.25
            sas[conn] = sa
            actions.append(("ctx", conn, sa))
        sa = sas.get(conn)
        if r > 0.92 and sa is not None and sa.valid:
            job = malformed_job(rng, sa, conn, tag)
        else:
            job = random_job(rng, sa, conn, tag, conns, max_job, max_blocks=max_blocks)
        jobs.append(job)
        actions.append(("job", job))
    bench, perf = run_engine(
        jobs, sas, rng, params=params, job_idle=job_idle, result_stall=result_stall, actions=actions
    )
    check_results(jobs, bench.results)
    assert perf["jobs_done"] == n_jobs
    # blocks through the cipher: every OK-so-far ciphering job's data (failed verifies included)
    ciphered = sum(len(j.data) // 8 for j in jobs if j.status is Status.OK)
    assert perf["des_blocks"] >= ciphered
    assert 0 < perf["busy_cycles"] <= perf["cycles"]
    assert perf["stall_cycles"] > 0 and perf["hash_blocks"] > 0


def test_engine_random_mix_with_backpressure():
    random_engine_run(20, 40, SMALL, max_blocks=16, conns_used=12, job_idle=0.2, result_stall=0.3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [21])
def test_engine_random_mix_long(seed):
    params = {"conns": 1024, "cbc_lanes": 16, "hash_lanes": 4, "slots": 24, "max_job_bytes": 2048}
    random_engine_run(seed, 200, params, max_blocks=100, conns_used=100, job_idle=0.1, result_stall=0.2)
