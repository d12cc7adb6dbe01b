"""Random SAs and jobs for the benches: every op, every SA kind, random keys and lengths, and a
share of faulty jobs (corrupted ICVs, ops that do not fit their SA, misaligned lengths, conn ids
that hold no SA or lie beyond the engine's contexts)."""

from __future__ import annotations

import random
from dataclasses import replace

from driver.api import AUTH_KEY_BYTES, Auth, Cipher, Job, Op, SAParams

from .model import expect

SA_KINDS = [
    (Cipher.DES_CBC, Auth.NONE),
    (Cipher.DES_CBC, Auth.HMAC_MD5_96),
    (Cipher.DES_CBC, Auth.HMAC_SHA1_96),
    (Cipher.NONE, Auth.HMAC_MD5_96),
    (Cipher.NONE, Auth.HMAC_SHA1_96),
    (Cipher.NONE, Auth.KEYED_MD5),
]


def random_sa(rng: random.Random) -> SAParams:
    """An SA of a random kind and direction with random keys."""
    cipher, auth = rng.choice(SA_KINDS)
    return SAParams(
        inbound=rng.random() < 0.5,
        cipher=cipher,
        auth=auth,
        des_key=rng.randbytes(8) if cipher is Cipher.DES_CBC else b"",
        auth_key=rng.randbytes(AUTH_KEY_BYTES[auth]),
    )


def fitting_op(sa: SAParams) -> Op:
    """The op an SA's jobs use."""
    bits = (0b100 if sa.inbound else 0) | (0b001 if sa.cipher is not Cipher.NONE else 0)
    bits |= 0b010 if sa.auth is not Auth.NONE else 0
    return Op(bits)


def good_job(rng: random.Random, conn: int, tag: int, sa: SAParams, max_blocks: int = 24) -> Job:
    """A well-formed job for ``sa``; inbound authenticating jobs carry the right ICV."""
    op = fitting_op(sa)
    ciphers = sa.cipher is not Cipher.NONE
    if ciphers:
        auth_data = rng.randbytes(8 * rng.choice([0, 1, 2, 2, 3])) if sa.auth is not Auth.NONE else b""
        cipher_data = rng.randbytes(8 * rng.randint(0 if rng.random() < 0.05 else 1, max_blocks))
    else:
        auth_data, cipher_data = rng.randbytes(rng.randint(0, 8 * max_blocks + 7)), b""
    iv = rng.randbytes(8) if ciphers else None
    icv = None
    if sa.inbound and sa.auth is not Auth.NONE:
        twin = replace(sa, inbound=False)
        out_op = Op(op.value & 0b011)
        if ciphers:
            # make the ICV over the ciphertext that an outbound twin would have sent
            icv = expect(twin, Job(out_op, conn, tag, auth_data, cipher_data, iv)).icv
        else:
            icv = expect(twin, Job(out_op, conn, tag, auth_data, cipher_data)).icv
    return Job(op, conn, tag, auth_data=auth_data, cipher_data=cipher_data, iv=iv, icv=icv)


def corrupt_icv(rng: random.Random, job: Job) -> Job:
    """The job with one bit of its expected ICV flipped."""
    icv = bytearray(job.icv or b"")
    i = rng.randrange(len(icv))
    icv[i] ^= 1 << rng.randrange(8)
    return replace(job, icv=bytes(icv))


def misfit_job(rng: random.Random, conn: int, tag: int, sa: SAParams) -> Job:
    """A job whose op does not fit ``sa`` (direction flipped or a piece added or dropped)."""
    good = fitting_op(sa)
    choices = [op for op in Op if op is not good]
    op = rng.choice(choices)
    ciphers, verifies = bool(op.value & 1), op in (Op.VERIFY, Op.VERIFY_DECRYPT)
    return Job(
        op,
        conn,
        tag,
        auth_data=rng.randbytes(8),
        cipher_data=rng.randbytes(16) if ciphers else b"",
        iv=rng.randbytes(8) if ciphers else None,
        icv=rng.randbytes(12) if verifies else None,
    )


def misaligned_job(rng: random.Random, conn: int, tag: int, sa: SAParams) -> Job | None:
    """A job for a ciphering ``sa`` with a cipher or auth length that is not a multiple of 8."""
    if sa.cipher is Cipher.NONE:
        return None
    job = good_job(rng, conn, tag, sa)
    if sa.auth is not Auth.NONE and rng.random() < 0.5:
        return replace(
            job,
            auth_data=rng.randbytes(8 * rng.randint(0, 2) + rng.randint(1, 7)),
            cipher_data=job.cipher_data or bytes(8),
        )
    return replace(job, cipher_data=rng.randbytes(8 * rng.randint(0, 4) + rng.randint(1, 7)))
