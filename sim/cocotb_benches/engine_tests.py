"""cocotb tests of the engine's Verilog. Each test says what it stimulates; the bench
(:mod:`.engine_tb`) does the how, the model (:mod:`.model`) says what must come back.

Settings come from the environment (set by ``tests/test_cocotb_engine.py``): ``ESA_TB_CONNS`` the
engine's context count, ``ESA_TB_JOBS`` random jobs per randomised test, ``ESA_TB_SEED``.
"""

from __future__ import annotations

import os
import random

import cocotb

from driver.api import Auth, Cipher, Job, Op, SAParams, Status
from hdl.layouts import JobHeader, pack_job

from . import vectors as v
from .engine_tb import EngineBench
from .model import Expected, keyed_md5
from .stimulus import corrupt_icv, good_job, misaligned_job, misfit_job, random_sa

CONNS = int(os.environ.get("ESA_TB_CONNS", "64"))
JOBS = int(os.environ.get("ESA_TB_JOBS", "40"))
SEED = int(os.environ.get("ESA_TB_SEED", "1"))
TIMEOUT = 200_000


@cocotb.test()
async def known_answers(dut):
    """FIPS 81 CBC both ways, RFC 2202 HMAC-96 generate and verify, the Linux testmgr ESP vector
    both ways, and RFC 1828 keyed MD5: each result equals the published bytes."""
    tb = EngineBench(dut, SEED)
    await tb.reset(conns=CONNS)
    await tb.install(1, SAParams(inbound=False, cipher=Cipher.DES_CBC, des_key=v.FIPS81_KEY))
    await tb.install(2, SAParams(inbound=True, cipher=Cipher.DES_CBC, des_key=v.FIPS81_KEY))
    tb.submit(
        Job(Op.ENCRYPT, 1, 1, cipher_data=v.FIPS81_PT, iv=v.FIPS81_IV), Expected(Status.OK, v.FIPS81_CT)
    )
    tb.submit(
        Job(Op.DECRYPT, 2, 2, cipher_data=v.FIPS81_CT, iv=v.FIPS81_IV), Expected(Status.OK, v.FIPS81_PT)
    )
    conn, tag = 3, 10
    for auth, key, data, icv in v.RFC2202:
        await tb.install(conn, SAParams(inbound=False, auth=auth, auth_key=key))
        await tb.install(conn + 1, SAParams(inbound=True, auth=auth, auth_key=key))
        tb.submit(Job(Op.AUTH, conn, tag, auth_data=data), Expected(Status.OK, b"", bytes.fromhex(icv)))
        tb.submit(
            Job(Op.VERIFY, conn + 1, tag + 1, auth_data=data, icv=bytes.fromhex(icv)), Expected(Status.OK)
        )
        conn, tag = conn + 2, tag + 2
    esp = dict(
        cipher=Cipher.DES_CBC, auth=Auth.HMAC_MD5_96, des_key=v.TESTMGR_ENC_KEY, auth_key=v.TESTMGR_AUTH_KEY
    )
    await tb.install(conn, SAParams(inbound=False, **esp))
    await tb.install(conn + 1, SAParams(inbound=True, **esp))
    tb.submit(
        Job(Op.ENCRYPT_AUTH, conn, 100, v.TESTMGR_ASSOC, v.TESTMGR_PT, v.TESTMGR_IV),
        Expected(Status.OK, v.TESTMGR_CT, v.TESTMGR_ICV96),
    )
    tb.submit(
        Job(Op.VERIFY_DECRYPT, conn + 1, 101, v.TESTMGR_ASSOC, v.TESTMGR_CT, v.TESTMGR_IV, v.TESTMGR_ICV96),
        Expected(Status.OK, v.TESTMGR_PT),
    )
    key = bytes(range(16))
    await tb.install(conn + 2, SAParams(inbound=False, auth=Auth.KEYED_MD5, auth_key=key))
    for i, datagram in enumerate([b"", b"x" * 55, bytes(range(200))]):
        tb.submit(
            Job(Op.AUTH, conn + 2, 110 + i, auth_data=datagram),
            Expected(Status.OK, b"", keyed_md5(key, datagram)),
        )
    await tb.drain(TIMEOUT)
    tb.assert_clean()


@cocotb.test()
async def random_jobs_with_back_pressure(dut):
    """Random SAs in many slots, random keys and lengths, every op interleaved, some corrupted
    ICVs, ill-fitting ops, misaligned lengths and bad conn ids, with valid and ready toggling at
    random on both streams: every result matches OpenSSL / hashlib."""
    tb = EngineBench(dut, SEED, job_valid_pct=70, result_ready_pct=60)
    await tb.reset(conns=CONNS)
    rng = random.Random(SEED)
    slots = rng.sample(range(1, CONNS), min(CONNS - 1, 24))
    for conn in slots:
        await tb.install(conn, random_sa(rng))
    empty = [c for c in range(1, CONNS) if c not in tb.sas]
    for tag in range(JOBS):
        conn = rng.choice(slots)
        sa = tb.sas[conn]
        roll = rng.random()
        job = None
        if roll < 0.08:
            job = misfit_job(rng, conn, tag, sa)
        elif roll < 0.14:
            job = misaligned_job(rng, conn, tag, sa)
        elif roll < 0.20:
            bad = rng.choice(empty + [CONNS, CONNS + 5, 0xFFFF]) if empty else CONNS
            job = good_job(rng, bad, tag, sa, max_blocks=4)
        if job is None:
            job = good_job(rng, conn, tag, sa)
            if job.icv is not None and rng.random() < 0.3:
                job = corrupt_icv(rng, job)
        tb.submit(job)
    await tb.drain(TIMEOUT)
    tb.assert_clean()
    statuses = {r.status for r in tb.checker.results.values()}
    assert Status.OK in statuses and len(statuses) >= 3, f"too little variety: {statuses}"


@cocotb.test()
async def invalidated_and_rewritten_slots(dut):
    """Jobs on a slot after it is invalidated complete with BAD_CONN and the engine carries on; a
    slot rewritten with a new key uses the new key; undefined ops and frames whose words disagree
    with their lengths are refused with an error status, without hanging the engine."""
    tb = EngineBench(dut, SEED)
    await tb.reset(conns=CONNS)
    rng = random.Random(SEED + 1)
    sa1 = SAParams(
        inbound=False,
        cipher=Cipher.DES_CBC,
        auth=Auth.HMAC_SHA1_96,
        des_key=rng.randbytes(8),
        auth_key=rng.randbytes(20),
    )
    await tb.install(5, sa1)
    tb.submit(good_job(rng, 5, 1, sa1))
    await tb.drain(TIMEOUT)
    await tb.invalidate(5)
    tb.submit(good_job(rng, 5, 2, sa1))
    await tb.drain(TIMEOUT)
    sa2 = SAParams(
        inbound=False,
        cipher=Cipher.DES_CBC,
        auth=Auth.HMAC_MD5_96,
        des_key=rng.randbytes(8),
        auth_key=rng.randbytes(16),
    )
    await tb.install(5, sa2)
    tb.submit(good_job(rng, 5, 3, sa2))
    # an undefined op code (bit pattern outside Op), written through the header layout
    words = list(pack_job(Op.ENCRYPT_AUTH, 5, 4, bytes(8), bytes(8), bytes(8)).words)
    op_field = JobHeader["op"]
    words[0] = (words[0] & ~(((1 << op_field.width) - 1) << op_field.offset)) | (0b1000 << op_field.offset)
    tb.checker.expect(Job(Op.ENCRYPT_AUTH, 5, 4), Expected(Status.BAD_OP))
    tb.submit_words(words)
    # a frame that ends before its lengths say it should
    short = list(pack_job(Op.ENCRYPT_AUTH, 5, 5, bytes(8), bytes(32), bytes(8)).words)[:-2]
    tb.checker.expect(Job(Op.ENCRYPT_AUTH, 5, 5), Expected(Status.BAD_LENGTH))
    tb.submit_words(short)
    tb.submit(good_job(rng, 5, 6, sa2))
    await tb.drain(TIMEOUT)
    tb.assert_clean()


@cocotb.test()
async def many_slots_full_rate(dut):
    """CBC encryption and ESP jobs of many different slots offered back to back at full rate,
    results taken at full rate: all complete and match the references (in any order)."""
    tb = EngineBench(dut, SEED + 2)
    await tb.reset(conns=CONNS)
    rng = random.Random(SEED + 2)
    kinds = [
        (Cipher.DES_CBC, Auth.NONE),
        (Cipher.DES_CBC, Auth.HMAC_SHA1_96),
        (Cipher.DES_CBC, Auth.HMAC_MD5_96),
    ]
    slots = list(range(1, min(CONNS, 17)))
    for i, conn in enumerate(slots):
        cipher, auth = kinds[i % len(kinds)]
        await tb.install(
            conn,
            SAParams(
                inbound=i % 4 == 3,
                cipher=cipher,
                auth=auth,
                des_key=rng.randbytes(8),
                auth_key=rng.randbytes({Auth.NONE: 0, Auth.HMAC_SHA1_96: 20, Auth.HMAC_MD5_96: 16}[auth]),
            ),
        )
    for tag in range(max(JOBS // 2, len(slots))):
        conn = slots[tag % len(slots)]
        tb.submit(good_job(rng, conn, tag, tb.sas[conn], max_blocks=12))
    await tb.drain(TIMEOUT)
    tb.assert_clean()
