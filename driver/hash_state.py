"""The host side of the HMAC precompute: the chaining values an SA context stores.

The engine never sees an authentication key. For HMAC (RFC 2104) the host compresses the key
XOR ipad and key XOR opad blocks once, when the SA is installed, and the SA context keeps the two
chaining values (``inner`` / ``outer``); the engine then starts every packet's inner hash from
``inner`` and its outer hash from ``outer``, both with 64 bytes already counted. For RFC 1828
keyed MD5 the context keeps the MD5 chaining value after the key+keyfill block (``inner``) and the
key itself (``outer``), which the engine appends to the datagram.

A chaining value is kept as the bytes the hash would print as its digest if it stopped there:
MD5's A, B, C, D as little-endian words (16 bytes), SHA-1's H0..H4 as big-endian words (20 bytes).
:mod:`hdl.layouts` left-aligns the 16 MD5 bytes in the 20-byte context field.

The compression functions below are written from RFC 1321 section 3.4 and FIPS 180-4 section 6.1.2;
``finish`` completes a hash from a chaining value, which is how the tests check all of this
against :mod:`hashlib` and :mod:`hmac`.
"""

from __future__ import annotations

import math
import struct

from hdl.layouts import Auth

__all__ = [
    "BLOCK_BYTES",
    "MD5_IV",
    "SHA1_IV",
    "md5_compress",
    "sha1_compress",
    "hash_padding",
    "finish",
    "hmac_states",
    "keyed_md5_state",
]

BLOCK_BYTES = 64
"""Both hashes compress 64-byte blocks."""

MD5_IV = bytes.fromhex("0123456789abcdeffedcba9876543210")
"""RFC 1321 3.3: A = 67452301, B = efcdab89, C = 98badcfe, D = 10325476, low byte first."""
SHA1_IV = bytes.fromhex("67452301efcdab8998badcfe10325476c3d2e1f0")
"""FIPS 180-4 5.3.1: H0..H4."""

_MASK = 0xFFFFFFFF

# RFC 1321 3.4: T[i] = 4294967296 * abs(sin(i)), i = 1..64 (integer part).
_MD5_T = [int(abs(math.sin(i)) * 2**32) & _MASK for i in range(1, 65)]
# Per-round shift amounts (the s in [abcd k s i]).
_MD5_S = [7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4
# The message word k each step uses, round by round.
_MD5_K = (
    list(range(16))
    + [(1 + 5 * i) % 16 for i in range(16)]
    + [(5 + 3 * i) % 16 for i in range(16)]
    + [(7 * i) % 16 for i in range(16)]
)


def _rotl(x: int, n: int) -> int:
    return ((x << n) | (x >> (32 - n))) & _MASK


def _check(state: bytes, size: int, block: bytes) -> None:
    if len(state) != size:
        raise ValueError(f"the chaining value is {size} bytes, not {len(state)}")
    if len(block) != BLOCK_BYTES:
        raise ValueError(f"a block is {BLOCK_BYTES} bytes, not {len(block)}")


def md5_compress(state: bytes, block: bytes) -> bytes:
    """One MD5 compression (RFC 1321 3.4) of a 64-byte ``block`` from the 16-byte ``state``."""
    _check(state, 16, block)
    x = struct.unpack("<16I", block)
    a0, b0, c0, d0 = struct.unpack("<4I", state)
    a, b, c, d = a0, b0, c0, d0
    for i in range(64):
        if i < 16:
            f = (b & c) | (~b & d)  # F(X,Y,Z) = XY v not(X) Z
        elif i < 32:
            f = (b & d) | (c & ~d)  # G(X,Y,Z) = XZ v Y not(Z)
        elif i < 48:
            f = b ^ c ^ d  # H(X,Y,Z) = X xor Y xor Z
        else:
            f = c ^ (b | (~d & _MASK))  # I(X,Y,Z) = Y xor (X v not(Z))
        # a = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s), then the roles rotate: (a,b,c,d) <- (d,a',b,c)
        a, b, c, d = d, (b + _rotl((a + f + x[_MD5_K[i]] + _MD5_T[i]) & _MASK, _MD5_S[i])) & _MASK, b, c
    return struct.pack("<4I", (a0 + a) & _MASK, (b0 + b) & _MASK, (c0 + c) & _MASK, (d0 + d) & _MASK)


def sha1_compress(state: bytes, block: bytes) -> bytes:
    """One SHA-1 compression (FIPS 180-4 6.1.2) of a 64-byte ``block`` from the 20-byte ``state``."""
    _check(state, 20, block)
    w = list(struct.unpack(">16I", block))
    for t in range(16, 80):
        w.append(_rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1))
    h = struct.unpack(">5I", state)
    a, b, c, d, e = h
    for t in range(80):
        if t < 20:
            f, k = (b & c) ^ (~b & d), 0x5A827999  # Ch
        elif t < 40:
            f, k = b ^ c ^ d, 0x6ED9EBA1  # Parity
        elif t < 60:
            f, k = (b & c) ^ (b & d) ^ (c & d), 0x8F1BBCDC  # Maj
        else:
            f, k = b ^ c ^ d, 0xCA62C1D6  # Parity
        temp = (_rotl(a, 5) + (f & _MASK) + e + k + w[t]) & _MASK
        a, b, c, d, e = temp, a, _rotl(b, 30), c, d
    return struct.pack(">5I", *((x + y) & _MASK for x, y in zip(h, (a, b, c, d, e), strict=True)))


def hash_padding(algorithm: str, total_bytes: int) -> bytes:
    """The fill after ``total_bytes`` of message: 0x80, zeros, and the bit length (MD5 little-endian,
    SHA-1 big-endian), so that the padded length is a multiple of 64 bytes."""
    zeros = (55 - total_bytes) % BLOCK_BYTES
    order = {"md5": "<Q", "sha1": ">Q"}[algorithm]
    return b"\x80" + bytes(zeros) + struct.pack(order, (8 * total_bytes) & (2**64 - 1))


def _compress(algorithm: str):
    return {"md5": md5_compress, "sha1": sha1_compress}[algorithm]


def finish(algorithm: str, state: bytes, prefix_bytes: int, message: bytes) -> bytes:
    """The digest of a message whose first ``prefix_bytes`` (a multiple of 64) are already in
    ``state``, and whose remaining bytes are ``message``."""
    if prefix_bytes % BLOCK_BYTES:
        raise ValueError("the bytes already hashed must be whole blocks")
    compress = _compress(algorithm)
    padded = message + hash_padding(algorithm, prefix_bytes + len(message))
    for i in range(0, len(padded), BLOCK_BYTES):
        state = compress(state, padded[i : i + BLOCK_BYTES])
    return state


def hmac_states(auth: Auth, key: bytes) -> tuple[bytes, bytes]:
    """The ``(inner, outer)`` chaining values of HMAC (RFC 2104) with ``key`` for ``auth``
    (``HMAC_MD5_96`` or ``HMAC_SHA1_96``): the hash's state after the block key XOR ipad,
    respectively key XOR opad. A key longer than 64 bytes is first hashed, as RFC 2104 says."""
    if auth is Auth.HMAC_MD5_96:
        algorithm, iv = "md5", MD5_IV
    elif auth is Auth.HMAC_SHA1_96:
        algorithm, iv = "sha1", SHA1_IV
    else:
        raise ValueError(f"{auth.name} is not an HMAC authenticator")
    if len(key) > BLOCK_BYTES:
        key = finish(algorithm, iv, 0, key)
    key = key.ljust(BLOCK_BYTES, b"\0")
    compress = _compress(algorithm)
    inner = compress(iv, bytes(k ^ 0x36 for k in key))
    outer = compress(iv, bytes(k ^ 0x5C for k in key))
    return inner, outer


KEYED_MD5_KEY_BYTES = 16
"""The key length the SA context can carry for RFC 1828 (its ``outer`` field holds the key)."""


def keyed_md5_state(key: bytes) -> tuple[bytes, bytes]:
    """The ``(inner, outer)`` context values for RFC 1828 keyed MD5 with a 16-byte ``key``.

    RFC 1828 computes MD5(key, keyfill, datagram, key, MD5fill), where key+keyfill is the key
    padded to 512 bits with MD5's own fill (0x80, zeros, the key's bit length). ``inner`` is MD5's
    chaining value after that block; ``outer`` is the key, which the engine appends to the datagram.
    """
    if len(key) != KEYED_MD5_KEY_BYTES:
        raise ValueError(f"the RFC 1828 key is {KEYED_MD5_KEY_BYTES} bytes here, not {len(key)}")
    block = key + hash_padding("md5", len(key))
    return md5_compress(MD5_IV, block), key
