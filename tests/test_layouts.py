"""The wire formats of hdl.layouts, checked against bit positions worked out by hand."""

import pytest

from hdl.layouts import (
    Auth,
    Cipher,
    Op,
    Status,
    pack_context,
    pack_job,
    pack_result,
    parse_result,
    result_word_count,
    unpack_context,
)


def test_job_header_bit_positions():
    # op in bits 3..0, conn_id 31..16, tag 47..32, auth_len 63..48 of word 0; cipher_len 15..0 of word 1
    words = pack_job(
        Op.ENCRYPT_AUTH,
        conn_id=0x0123,
        tag=0xBEEF,
        auth_data=bytes(16),
        cipher_data=bytes(24),
        iv=bytes.fromhex("0102030405060708"),
    ).words
    assert words[0] == (16 << 48) | (0xBEEF << 32) | (0x0123 << 16) | 0b0011
    assert words[1] == 24
    assert words[2] == 0x0102030405060708
    assert len(words) == 2 + 1 + 5


def test_job_data_is_network_order_and_zero_filled():
    words = pack_job(Op.AUTH, 1, 2, auth_data=b"\x01\x02\x03").words
    assert words[2:] == (0x0102030000000000,)


def test_verify_job_carries_left_aligned_icv():
    icv = bytes(range(1, 13))
    words = pack_job(Op.VERIFY, 1, 2, auth_data=bytes(8), icv=icv).words
    assert words[-2:] == (0x0102030405060708, 0x090A0B0C00000000)


@pytest.mark.parametrize(
    "op,kw",
    [
        (Op.ENCRYPT, {}),
        (Op.AUTH, {"iv": bytes(8)}),
        (Op.VERIFY, {}),
        (Op.ENCRYPT_AUTH, {"iv": bytes(8), "icv": bytes(12)}),
    ],
)
def test_pack_job_refuses_inconsistent_arguments(op, kw):
    with pytest.raises(ValueError):
        pack_job(op, 1, 2, **kw)


def test_context_round_trip_and_left_aligned_md5_state():
    md5_state = bytes(range(16))
    bits = pack_context(
        inbound=True,
        cipher=Cipher.DES_CBC,
        auth=Auth.HMAC_MD5_96,
        des_key=bytes.fromhex("0123456789abcdef"),
        inner=md5_state,
        outer=md5_state,
    )
    ctx = unpack_context(bits)
    assert ctx["valid"] and ctx["inbound"]
    assert ctx["cipher"] is Cipher.DES_CBC and ctx["auth"] is Auth.HMAC_MD5_96
    assert ctx["des_key"] == bytes.fromhex("0123456789abcdef")
    assert ctx["inner"] == md5_state + bytes(4)
    # valid is bit 0, inbound bit 1, cipher bits 3..2, auth bits 5..4, key bits 69..6
    assert bits & 0x3F == 0b01_01_1_1
    assert (bits >> 6) & (2**64 - 1) == 0x0123456789ABCDEF


def test_result_round_trip():
    words = pack_result(tag=9, conn_id=3, status=Status.OK, data=bytes(range(10)), icv=bytes(12))
    assert result_word_count(words[0]) == len(words) == 1 + 2 + 2
    r = parse_result(words)
    assert (r.tag, r.conn_id, r.status, r.data, r.icv) == (9, 3, Status.OK, bytes(range(10)), bytes(16))


def test_failed_result_carries_nothing():
    words = pack_result(tag=1, conn_id=3, status=Status.ICV_MISMATCH, data=b"secret", icv=bytes(12))
    assert len(words) == 1
    assert parse_result(words).data == b""
