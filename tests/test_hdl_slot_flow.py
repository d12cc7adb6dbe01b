"""The slot scheduler's and result emitter's job flows whose events meet in one cycle (a frame
that ends on its IV word: early start and commit together), checked on the engine core against
cryptography/hmac."""

from __future__ import annotations

import random

from hdl.layouts import Auth, Cipher, Op, Status, pack_job
from tests.test_hdl_engine import SA, JobCase, check_results, expect, mac, run_core


def ends_on_iv(op: Op, conn_id: int, tag: int, rng: random.Random) -> JobCase:
    """A ciphering frame cut after its IV word (``last`` there): the intake has started its
    cipher early and commits it the next cycle with BAD_LENGTH; only a header may come back."""
    icv = bytes(16) if op is Op.VERIFY_DECRYPT else None
    words = list(pack_job(op, conn_id, tag, b"", rng.randbytes(16), iv=rng.randbytes(8), icv=icv).words)
    return JobCase(words[:3], tag, conn_id, Status.BAD_LENGTH)


def test_core_frames_ending_on_their_iv_between_good_jobs():
    """Early start and commit in consecutive cycles of the intake (a frame ending on its IV word),
    back to back with good jobs of every kind, on two slots so that each slot is reused at once:
    every result against cryptography / hmac, the cut frames as a header alone."""
    rng = random.Random(11)
    sas = {
        1: SA(False, Cipher.DES_CBC, Auth.HMAC_SHA1_96, rng.randbytes(8), rng.randbytes(20)),
        2: SA(True, Cipher.DES_CBC, Auth.HMAC_MD5_96, rng.randbytes(8), rng.randbytes(16)),
        3: SA(False, Cipher.DES_CBC, Auth.NONE, rng.randbytes(8)),
        4: SA(True, Cipher.NONE, Auth.KEYED_MD5, auth_key=rng.randbytes(16)),
    }
    jobs: list[JobCase] = []
    tag = 1
    for _ in range(6):
        cut = [
            ends_on_iv(Op.ENCRYPT_AUTH, 1, tag, rng),
            ends_on_iv(Op.VERIFY_DECRYPT, 2, tag + 1, rng),
            ends_on_iv(Op.ENCRYPT, 3, tag + 2, rng),
        ]
        good = [
            expect(
                Op.ENCRYPT_AUTH,
                1,
                tag + 3,
                sas[1],
                64,
                rng.randbytes(8),
                rng.randbytes(24),
                rng.randbytes(8),
                None,
                256,
            ),
            expect(Op.ENCRYPT, 3, tag + 4, sas[3], 64, b"", rng.randbytes(8), rng.randbytes(8), None, 256),
            expect(Op.VERIFY, 4, tag + 5, sas[4], 64, rng.randbytes(20), b"", None, bytes(16), 256),
        ]
        tag += 6
        mixed = cut + good
        rng.shuffle(mixed)
        jobs += mixed
    # inbound ESP with the sender's ICV and with a wrong one; keyed MD5 with the right digest
    for icv_ok in (True, False):
        ct, iv = rng.randbytes(32), rng.randbytes(8)
        icv = mac(Auth.HMAC_MD5_96, sas[2].auth_key, ct)[:12] if icv_ok else bytes(12)
        jobs.append(expect(Op.VERIFY_DECRYPT, 2, tag, sas[2], 64, b"", ct, iv, icv, 256))
        tag += 1
    msg = rng.randbytes(40)
    jobs.append(
        expect(Op.VERIFY, 4, tag, sas[4], 64, msg, b"", None, mac(Auth.KEYED_MD5, sas[4].auth_key, msg), 256)
    )
    assert [j.status for j in jobs[-3:]] == [Status.OK, Status.ICV_MISMATCH, Status.OK]
    bench = run_core(jobs, sas, rng, slots=2, result_stall=0.2)
    check_results(jobs, bench.results)
