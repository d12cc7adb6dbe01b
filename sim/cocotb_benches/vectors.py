"""Published known answers the benches check the engine against, byte for byte."""

from __future__ import annotations

from driver.api import Auth

FIPS81_KEY = bytes.fromhex("0123456789abcdef")
FIPS81_IV = bytes.fromhex("1234567890abcdef")
FIPS81_PT = b"Now is the time for all "
FIPS81_CT = bytes.fromhex("e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6")
"""FIPS 81 appendix C, the CBC example."""

RFC2202 = [
    (Auth.HMAC_MD5_96, b"\x0b" * 16, b"Hi There", "9294727a3638bb1c13f48ef8"),
    (Auth.HMAC_MD5_96, b"Jefe".ljust(16, b"\0"), b"what do ya want for nothing?", "750c783e6ab0b503eaa86e31"),
    (Auth.HMAC_MD5_96, b"\xaa" * 16, b"\xdd" * 50, "56be34521d144c88dbb8c733"),
    (Auth.HMAC_MD5_96, b"\x0c" * 16, b"Test With Truncation", "56461ef2342edc00f9bab995"),
    (Auth.HMAC_SHA1_96, b"\x0b" * 20, b"Hi There", "b617318655057264e28bc0b6"),
    (
        Auth.HMAC_SHA1_96,
        b"Jefe".ljust(20, b"\0"),
        b"what do ya want for nothing?",
        "effcdf6ae5eb2fa2d27416d5",
    ),
    (Auth.HMAC_SHA1_96, b"\xaa" * 20, b"\xdd" * 50, "125d7342b9ac11cd91a39af4"),
    (Auth.HMAC_SHA1_96, b"\x0c" * 20, b"Test With Truncation", "4c1a03424b55e07fe7f27be1"),
]
"""RFC 2202 cases 1, 2, 3 and 5 as (auth, key, data, first 96 bits of the digest). The "Jefe" key
zero-padded to the SA's key length gives the same HMAC (RFC 2104 zero-pads short keys)."""

# Linux crypto/testmgr.h hmac_md5_des_cbc: ESP-shaped, associated data = SPI 0x4321 | seq 1 | IV.
TESTMGR_AUTH_KEY = bytes.fromhex("112233445566778899aabbccddeeff11")
TESTMGR_ENC_KEY = bytes.fromhex("E9C0FF2E760B6424")
TESTMGR_IV = bytes.fromhex("7D3388930F93B242")
TESTMGR_ASSOC = bytes.fromhex("0000432100000001") + TESTMGR_IV
TESTMGR_PT = bytes.fromhex(
    "6f54206f614d796e5320636565727374"
    "54206f6f4d206e612079655372637465"
    "20736f54206f614d796e532063656572"
    "737454206f6f4d206e61207965537263"
    "746520736f54206f614d796e53206365"
    "6572737454206f6f4d206e6120796553"
    "7263746520736f54206f614d796e5320"
    "63656572737454206f6f4d206e610a79"
)
TESTMGR_CT = bytes.fromhex(
    "70d6de648717f1e854318537ed6b018d"
    "e3cce01d5ef3fef141aa3391a77d9988"
    "4d856e2fa369f5823a6f25cb7d581f9b"
    "aa9c11d57667cede56d75a8069ea3a02"
    "f0c77ce3cb40e552d11092780b8e5bf1"
    "e3261fe11541c7ba99db08511cd301f4"
    "874739b8d2ddbdfb6613df1c0144f07a"
    "1a6b13f5d50bb8ba53bae176e3820786"
)
TESTMGR_ICV96 = bytes.fromhex("959e7d371e60af7c53126168")
