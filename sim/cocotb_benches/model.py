"""The reference model: what the engine must answer to a job, computed with OpenSSL
(``cryptography``: single DES as ``TripleDES(key * 3)``) and ``hashlib`` / ``hmac``.

Written from the contract in :mod:`hdl.layouts` (statuses, what a result carries) and the RFCs
(2104 HMAC, 2403/2404 96-bit truncation, 1828 keyed MD5), not from the engine.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher as OsslCipher
from cryptography.hazmat.primitives.ciphers import modes

from driver.api import Auth, Cipher, Job, Op, SAParams, Status
from hdl.layouts import DES_BLOCK, icv_length


@dataclass(frozen=True)
class Expected:
    """A result as the model predicts it; ``icv`` is truncated to the SA's ICV length."""

    status: Status
    data: bytes = b""
    icv: bytes | None = None


def des_cbc(key: bytes, iv: bytes, data: bytes, decrypt: bool) -> bytes:
    """DES-CBC (FIPS 46-3, FIPS 81) through OpenSSL."""
    c = OsslCipher(TripleDES(key * 3), modes.CBC(iv))
    ctx = c.decryptor() if decrypt else c.encryptor()
    return ctx.update(data) + ctx.finalize()


def keyed_md5(key: bytes, datagram: bytes) -> bytes:
    """RFC 1828: MD5(key, keyfill, datagram, key, MD5fill); keyfill pads the key to 512 bits with
    MD5's own rule (a 1 bit, zeros, the key's bit length as 64 bits little-endian)."""
    fill = b"\x80" + bytes((55 - len(key)) % 64) + (8 * len(key)).to_bytes(8, "little")
    return hashlib.md5(key + fill + datagram + key).digest()


def mac(auth: Auth, key: bytes, message: bytes) -> bytes:
    """The ICV of ``message`` under ``auth``, truncated as the SA uses it."""
    if auth is Auth.HMAC_MD5_96:
        full = hmac.new(key, message, hashlib.md5).digest()
    elif auth is Auth.HMAC_SHA1_96:
        full = hmac.new(key, message, hashlib.sha1).digest()
    elif auth is Auth.KEYED_MD5:
        full = keyed_md5(key, message)
    else:
        raise ValueError(f"{auth.name} computes no ICV")
    return full[: icv_length(auth)]


def op_fits(op: Op, sa: SAParams) -> bool:
    """Whether the op's direction and pieces match the SA (else ``BAD_OP``)."""
    v = op.value
    return (
        bool(v & 0b100) == sa.inbound
        and bool(v & 0b001) == (sa.cipher is not Cipher.NONE)
        and bool(v & 0b010) == (sa.auth is not Auth.NONE)
    )


def expect(sa: SAParams | None, job: Job, max_job_bytes: int | None = None) -> Expected:
    """What the engine must return for ``job`` when its conn id holds ``sa`` (None: no valid SA).

    ``BAD_LENGTH`` also covers a job that does not cipher but carries ciphered-region bytes, and
    (with ``max_job_bytes``) data longer than the engine takes, as the engine's job intake says."""
    if sa is None:
        return Expected(Status.BAD_CONN)
    if not op_fits(job.op, sa):
        return Expected(Status.BAD_OP)
    auth_data, cdata = job.auth_data, job.cipher_data
    ciphers = sa.cipher is not Cipher.NONE
    if len(cdata) % DES_BLOCK or (cdata and len(auth_data) % DES_BLOCK) or (cdata and not ciphers):
        return Expected(Status.BAD_LENGTH)
    if max_job_bytes is not None and len(auth_data) + len(cdata) > max_job_bytes:
        return Expected(Status.BAD_LENGTH)
    if not sa.inbound:
        out = des_cbc(sa.des_key, job.iv, cdata, decrypt=False) if ciphers else b""
        icv = None
        if sa.auth is not Auth.NONE:
            icv = mac(sa.auth, sa.auth_key, auth_data + (out if ciphers else cdata))
        return Expected(Status.OK, out, icv)
    if sa.auth is not Auth.NONE:
        n = icv_length(sa.auth)
        want = (job.icv or b"").ljust(n, b"\0")[:n]
        if not hmac.compare_digest(mac(sa.auth, sa.auth_key, auth_data + cdata), want):
            return Expected(Status.ICV_MISMATCH)
    out = des_cbc(sa.des_key, job.iv, cdata, decrypt=True) if ciphers else b""
    return Expected(Status.OK, out, None)
