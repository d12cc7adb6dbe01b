"""The host-side HMAC precompute (driver/hash_state.py) against hashlib and hmac."""

import hashlib
import hmac
import random

import pytest

from driver.hash_state import (
    MD5_IV,
    SHA1_IV,
    finish,
    hash_padding,
    hmac_states,
    keyed_md5_state,
    md5_compress,
    sha1_compress,
)
from hdl.layouts import Auth

ALGS = {"md5": (hashlib.md5, MD5_IV, Auth.HMAC_MD5_96), "sha1": (hashlib.sha1, SHA1_IV, Auth.HMAC_SHA1_96)}


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("length", [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000])
def test_finish_from_iv_is_the_plain_hash(alg, length):
    ref, iv, _ = ALGS[alg]
    msg = random.Random(length).randbytes(length)
    assert finish(alg, iv, 0, msg) == ref(msg).digest()


@pytest.mark.parametrize("alg", ALGS)
def test_finish_after_whole_prefix_blocks(alg):
    ref, iv, _ = ALGS[alg]
    rng = random.Random(7)
    prefix, rest = rng.randbytes(128), rng.randbytes(77)
    compress = {"md5": md5_compress, "sha1": sha1_compress}[alg]
    state = compress(compress(iv, prefix[:64]), prefix[64:])
    assert finish(alg, state, 128, rest) == ref(prefix + rest).digest()


def test_padding_lengths_cross_the_56_byte_boundary():
    for n in range(200):
        pad = hash_padding("sha1", n)
        assert (n + len(pad)) % 64 == 0 and 9 <= len(pad) <= 72


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("key_len", [0, 16, 20, 64, 65, 131])
def test_hmac_states_finish_to_hmac(alg, key_len):
    ref, _, auth = ALGS[alg]
    rng = random.Random(key_len)
    key, msg = rng.randbytes(key_len), rng.randbytes(rng.randrange(300))
    inner, outer = hmac_states(auth, key)
    mac = finish(alg, outer, 64, finish(alg, inner, 64, msg))
    assert mac == hmac.new(key, msg, ref).digest()


def test_rfc2202_hmac_md5_case_2():
    inner, outer = hmac_states(Auth.HMAC_MD5_96, b"Jefe")
    mac = finish("md5", outer, 64, finish("md5", inner, 64, b"what do ya want for nothing?"))
    assert mac.hex() == "750c783e6ab0b503eaa86e310a5db738"


def test_keyed_md5_state_is_rfc1828():
    # RFC 1828: MD5(key, keyfill, datagram, key, MD5fill); key+keyfill is the key padded to 64
    # bytes with MD5's fill (0x80, zeros, the key's bit length as 8 little-endian bytes).
    key = bytes(range(16))
    datagram = b"an IP datagram with its mutable fields zeroed"
    keyfill = b"\x80" + bytes(64 - 16 - 1 - 8) + (16 * 8).to_bytes(8, "little")
    expected = hashlib.md5(key + keyfill + datagram + key).digest()
    inner, outer = keyed_md5_state(key)
    assert outer == key
    assert finish("md5", inner, 64, datagram + outer) == expected


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="not an HMAC authenticator"):
        hmac_states(Auth.KEYED_MD5, b"k")
    with pytest.raises(ValueError, match="16 bytes here"):
        keyed_md5_state(bytes(20))
    with pytest.raises(ValueError, match="whole blocks"):
        finish("md5", MD5_IV, 10, b"")
    with pytest.raises(ValueError, match="a block is 64 bytes"):
        sha1_compress(SHA1_IV, bytes(63))
