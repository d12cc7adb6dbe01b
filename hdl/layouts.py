"""The hardware/software interface of the crypto engine: the one definition of every bit position.

The engine talks to its host over three streams of 64-bit words plus a context port:

``jobs`` (host -> engine)
    One job is a :data:`JobHeader` (two words), then, if the job ciphers, one IV word, then the
    job's data (``auth_len`` authenticated-only bytes followed by ``cipher_len`` ciphered bytes,
    packed eight bytes a word, the last word zero-filled), then, for a verifying job, the expected
    ICV as :data:`ICV_WORDS` words. ``last`` is set on the job's final word.

``results`` (engine -> host)
    One result is a :data:`ResultHeader` word, then ``data_len`` bytes of output data (the
    ciphered region of a ciphering job; authenticate-only jobs return no data), then, for a job
    that generates an ICV, :data:`ICV_WORDS` ICV words. A result whose status is not ``OK``
    carries no data and no ICV: the engine never releases data that failed its check.
    Results carry the job's tag and may complete out of order.

``contexts`` (host -> engine)
    One :data:`ContextWrite` per beat: writes the :data:`SAContext` of one conn id. Writing a
    context whose ``valid`` bit is clear invalidates the conn id; jobs naming it then complete
    with ``Status.BAD_CONN``.

Byte order: the data streams carry bytes in network order, the first byte of a word in its most
significant bits (bits 63..56). Keys and chaining values are unsigned integers built the same
way: ``int.from_bytes(b, "big")``. Chaining values shorter than their field (MD5's 16 bytes in a
20-byte field) are left-aligned, so byte *i* always sits at the same bits.

Everything the driver needs to build or parse these words is next to the layouts: nothing else
in the project knows a bit position.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.lib import data, enum

__all__ = [
    "Op",
    "Cipher",
    "Auth",
    "Status",
    "JobHeader",
    "ResultHeader",
    "SAContext",
    "ContextWrite",
    "StreamWord",
    "WORD_BYTES",
    "ICV_WORDS",
    "ICV_BYTES",
    "DES_BLOCK",
    "HASH_STATE_BYTES",
    "JobWords",
    "ResultFrame",
    "pack_job",
    "pack_context",
    "unpack_context",
    "pack_result",
    "parse_result",
    "result_word_count",
    "icv_length",
    "op_ciphers",
    "op_authenticates",
    "op_inbound",
]

WORD_BYTES = 8
"""Bytes in one stream word."""
ICV_WORDS = 2
"""Stream words that carry an ICV (128 bits, left-aligned; HMAC-96 uses the first 12 bytes)."""
ICV_BYTES = ICV_WORDS * WORD_BYTES
DES_BLOCK = 8
"""DES block and IV size in bytes."""
HASH_STATE_BYTES = 20
"""Width of a chaining-value field: SHA-1's 160 bits (MD5's 128 bits are left-aligned in it)."""


class Op(enum.Enum, shape=4):
    """What a job asks of the engine. Bit 0: cipher, bit 1: authenticate, bit 2: inbound.

    Outbound jobs encrypt and generate an ICV; inbound jobs verify an ICV and decrypt. The op's
    direction and pieces must agree with the SA context the job names, else ``Status.BAD_OP``.
    """

    ENCRYPT = 0b0001
    AUTH = 0b0010
    ENCRYPT_AUTH = 0b0011
    """ESP outbound in one pass: encrypt, then MAC the authenticated prefix and the ciphertext."""
    DECRYPT = 0b0101
    VERIFY = 0b0110
    VERIFY_DECRYPT = 0b0111
    """ESP inbound in one pass: MAC the prefix and the ciphertext, and decrypt it."""


def op_ciphers(op: Op) -> bool:
    """Whether jobs of ``op`` run the cipher."""
    return bool(op.value & 0b001)


def op_authenticates(op: Op) -> bool:
    """Whether jobs of ``op`` run the MAC."""
    return bool(op.value & 0b010)


def op_inbound(op: Op) -> bool:
    """Whether ``op`` is an inbound (decrypt / verify) operation."""
    return bool(op.value & 0b100)


class Cipher(enum.Enum, shape=2):
    """The SA's cipher."""

    NONE = 0
    DES_CBC = 1
    """DES (FIPS 46-3) in CBC mode with an explicit 64-bit IV per job."""


class Auth(enum.Enum, shape=2):
    """The SA's authenticator."""

    NONE = 0
    HMAC_MD5_96 = 1
    """RFC 2403: HMAC-MD5 truncated to 96 bits."""
    HMAC_SHA1_96 = 2
    """RFC 2404: HMAC-SHA-1 truncated to 96 bits."""
    KEYED_MD5 = 3
    """RFC 1828: MD5(key, keyfill, datagram, key, MD5 fill), 128 bits."""


def icv_length(auth: Auth) -> int:
    """Bytes of ICV the authenticator produces (0 for no authenticator)."""
    return {Auth.NONE: 0, Auth.HMAC_MD5_96: 12, Auth.HMAC_SHA1_96: 12, Auth.KEYED_MD5: 16}[auth]


class Status(enum.Enum, shape=4):
    """How a job ended."""

    OK = 0
    ICV_MISMATCH = 1
    """An inbound job's computed ICV differs from the one supplied: no data is returned."""
    BAD_CONN = 2
    """The conn id is beyond the engine's contexts or names an invalid (empty) context."""
    BAD_OP = 3
    """The op is undefined, or its direction or pieces do not match the SA context."""
    BAD_LENGTH = 4
    """``cipher_len`` is not a multiple of 8, ``auth_len`` is not a multiple of 8 ahead of
    ciphered data, or the job's words disagree with its lengths (``last`` early or late)."""
    QUEUE_FULL = 15
    """Never produced by the engine: the host driver's engine manager completed the job
    without running it because the engine's queue was full (its ``on_queue_full="drop"``
    policy, IOS's "ppq full"). A result frame carrying it is a faulty engine's."""


JobHeader = data.StructLayout(
    {
        "op": Op,
        "_reserved0": 12,
        "conn_id": 16,
        "tag": 16,
        "auth_len": 16,
        "cipher_len": 16,
        "_reserved1": 48,
    }
)
"""The first two words of a job: word 0 carries bits 63..0 of this struct, word 1 bits 127..64.

``op``: :class:`Op`. ``conn_id``: the SA context slot. ``tag``: returned in the result.
``auth_len``: authenticated-only bytes at the head of the data (ESP: SPI, sequence number and
IV; AH: the whole prepared datagram). ``cipher_len``: bytes ciphered after them, a multiple of 8.
"""

ResultHeader = data.StructLayout(
    {
        "tag": 16,
        "status": Status,
        "has_icv": 1,
        "_reserved0": 11,
        "conn_id": 16,
        "data_len": 16,
    }
)
"""The first word of a result. ``data_len``: output bytes that follow (0 unless status is OK).
``has_icv``: :data:`ICV_WORDS` ICV words follow the data (outbound authenticating jobs, status OK)."""

SAContext = data.StructLayout(
    {
        "valid": 1,
        "inbound": 1,
        "cipher": Cipher,
        "auth": Auth,
        "des_key": 64,
        "inner": HASH_STATE_BYTES * 8,
        "outer": HASH_STATE_BYTES * 8,
    }
)
"""One security association as the engine keeps it, one per conn id.

``valid``: the conn id holds an SA. ``inbound``: the SA's direction (jobs must match).
``des_key``: the 8 key bytes (parity bits ignored). ``inner`` / ``outer``: HMAC chaining values
after compressing the key XOR ipad / opad block (MD5 or SHA-1 per ``auth``). For ``KEYED_MD5``,
``inner`` is the MD5 chaining value after the key+keyfill block and ``outer`` holds the 16-byte
key that is appended to the datagram.
"""

ContextWrite = data.StructLayout(
    {
        "conn_id": 16,
        "context": SAContext,
    }
)
"""One beat of the ``contexts`` stream."""

StreamWord = data.StructLayout(
    {
        "data": 64,
        "last": 1,
    }
)
"""The payload of the ``jobs`` and ``results`` streams: one word and the end-of-frame flag."""

PERF_COUNTER_BITS = 48
"""Width of each performance counter (wraps after 2**48 events: weeks at 100 MHz)."""

PerfCounters = data.StructLayout(
    {
        "cycles": PERF_COUNTER_BITS,
        "busy_cycles": PERF_COUNTER_BITS,
        "stall_cycles": PERF_COUNTER_BITS,
        "jobs_done": PERF_COUNTER_BITS,
        "des_blocks": PERF_COUNTER_BITS,
        "hash_blocks": PERF_COUNTER_BITS,
    }
)
"""The engine's free-running performance counters (all reset to zero with the engine).

``cycles``: clock cycles since reset. ``busy_cycles``: cycles with at least one job inside the
engine. ``stall_cycles``: cycles in which a job word was offered but not taken, or a result word
was offered but not taken by the host. ``jobs_done``: result frames completed. ``des_blocks``:
8-byte blocks that left the cipher. ``hash_blocks``: 64-byte message blocks (a message's last
one possibly partial) handed to the hash lanes; padding and HMAC outer blocks are not counted.
"""

HEADER_WORDS = JobHeader.size // 64


def _words(blob: bytes) -> list[int]:
    pad = (-len(blob)) % WORD_BYTES
    blob = blob + bytes(pad)
    return [int.from_bytes(blob[i : i + WORD_BYTES], "big") for i in range(0, len(blob), WORD_BYTES)]


def _state_field(state: bytes) -> int:
    if len(state) > HASH_STATE_BYTES:
        raise ValueError(f"chaining value of {len(state)} bytes exceeds {HASH_STATE_BYTES}")
    return int.from_bytes(state.ljust(HASH_STATE_BYTES, b"\0"), "big")


@dataclass(frozen=True)
class JobWords:
    """A job as the words of the ``jobs`` stream; ``last`` is implied on the final word."""

    words: tuple[int, ...]


def pack_job(
    op: Op,
    conn_id: int,
    tag: int,
    auth_data: bytes = b"",
    cipher_data: bytes = b"",
    iv: bytes | None = None,
    icv: bytes | None = None,
) -> JobWords:
    """Build the stream words of one job.

    ``iv`` is required exactly when ``op`` ciphers; ``icv`` (the expected ICV, 12 or 16 bytes)
    exactly when ``op`` is inbound and authenticates. The lengths are not checked for alignment
    here: the engine's answer to a misaligned job (``BAD_LENGTH``) is part of its contract.
    """
    if not (0 <= conn_id < 1 << 16 and 0 <= tag < 1 << 16):
        raise ValueError("conn_id and tag must fit in 16 bits")
    if len(auth_data) >= 1 << 16 or len(cipher_data) >= 1 << 16:
        raise ValueError("auth and cipher regions must each be shorter than 65536 bytes")
    if op_ciphers(op) != (iv is not None):
        raise ValueError(f"{op.name} {'needs' if op_ciphers(op) else 'takes no'} IV")
    if (op_inbound(op) and op_authenticates(op)) != (icv is not None):
        raise ValueError(f"{op.name} {'needs' if icv is None else 'takes no'} expected ICV")
    if iv is not None and len(iv) != DES_BLOCK:
        raise ValueError("the IV is 8 bytes")
    if icv is not None and not 0 < len(icv) <= ICV_BYTES:
        raise ValueError(f"the ICV is 1..{ICV_BYTES} bytes")
    header = (
        JobHeader.const(
            {
                "op": op,
                "conn_id": conn_id,
                "tag": tag,
                "auth_len": len(auth_data),
                "cipher_len": len(cipher_data),
            }
        )
        .as_value()
        .value
    )
    words = [(header >> (64 * i)) & (2**64 - 1) for i in range(HEADER_WORDS)]
    if iv is not None:
        words.append(int.from_bytes(iv, "big"))
    words += _words(auth_data + cipher_data)
    if icv is not None:
        words += _words(icv.ljust(ICV_BYTES, b"\0"))
    return JobWords(tuple(words))


def pack_context(
    *,
    inbound: bool,
    cipher: Cipher,
    auth: Auth,
    des_key: bytes = bytes(8),
    inner: bytes = b"",
    outer: bytes = b"",
    valid: bool = True,
) -> int:
    """The :data:`SAContext` bits for one SA (see that layout for the meaning of each field)."""
    if len(des_key) != 8:
        raise ValueError("the DES key is 8 bytes")
    return (
        SAContext.const(
            {
                "valid": int(valid),
                "inbound": int(inbound),
                "cipher": cipher,
                "auth": auth,
                "des_key": int.from_bytes(des_key, "big"),
                "inner": _state_field(inner),
                "outer": _state_field(outer),
            }
        )
        .as_value()
        .value
    )


def unpack_context(bits: int) -> dict:
    """The fields of a packed :data:`SAContext`, as Python values (chaining values as bytes)."""
    c = SAContext.from_bits(bits)
    return {
        "valid": bool(c.valid),
        "inbound": bool(c.inbound),
        "cipher": Cipher(c.cipher),
        "auth": Auth(c.auth),
        "des_key": c.des_key.to_bytes(8, "big"),
        "inner": c.inner.to_bytes(HASH_STATE_BYTES, "big"),
        "outer": c.outer.to_bytes(HASH_STATE_BYTES, "big"),
    }


@dataclass(frozen=True)
class ResultFrame:
    """One result as the host sees it."""

    tag: int
    conn_id: int
    status: Status
    data: bytes
    icv: bytes | None
    """The full 16 ICV bytes for an ICV-generating job; truncate with :func:`icv_length`."""


def result_word_count(header_word: int) -> int:
    """How many words the result that starts with ``header_word`` has, header included."""
    h = ResultHeader.from_bits(header_word)
    return 1 + -(-h.data_len // WORD_BYTES) + (ICV_WORDS if h.has_icv else 0)


def pack_result(
    tag: int, conn_id: int, status: Status, data: bytes = b"", icv: bytes | None = None
) -> list[int]:
    """The words of one result frame: what a model of the engine emits for a finished job."""
    if status is not Status.OK:
        data, icv = b"", None
    header = (
        ResultHeader.const(
            {
                "tag": tag,
                "status": status,
                "conn_id": conn_id,
                "data_len": len(data),
                "has_icv": int(icv is not None),
            }
        )
        .as_value()
        .value
    )
    words = [header] + _words(data)
    if icv is not None:
        words += _words(icv.ljust(ICV_BYTES, b"\0"))
    return words


def parse_result(words: list[int]) -> ResultFrame:
    """Decode the words of one result frame."""
    h = ResultHeader.from_bits(words[0])
    status = Status(h.status)
    n_data = -(-h.data_len // WORD_BYTES)
    body = b"".join(w.to_bytes(WORD_BYTES, "big") for w in words[1 : 1 + n_data])
    icv = None
    if h.has_icv:
        icv_words = words[1 + n_data : 1 + n_data + ICV_WORDS]
        icv = b"".join(w.to_bytes(WORD_BYTES, "big") for w in icv_words)
    return ResultFrame(tag=h.tag, conn_id=h.conn_id, status=status, data=body[: h.data_len], icv=icv)
