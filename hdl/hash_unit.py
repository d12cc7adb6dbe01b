"""A hash lane: MD5 or SHA-1 of one message at a time, padding and length in hardware.

The lane turns a stream of 64-bit message words (network byte order, the first byte in bits
63..56) into 64-byte blocks, appends the fill of RFC 1321 3.1-3.2 / FIPS 180-4 5.1.1 (0x80, zeros,
the message's bit length: 8 bytes little-endian for MD5, big-endian for SHA-1), and feeds them to
an :class:`~hdl.md5.MD5Core` or :class:`~hdl.sha1.SHA1Core`. The message may continue a hash whose
first blocks were compressed elsewhere (HMAC's key blocks, precomputed by the host): the lane starts
from the given chaining value and counts the bytes already hashed into the length.

The lane assembles the next block while the core compresses the current one, in the two banks of
a :class:`~hdl.block_buffer.BlockBuffer` that the core reads its words from, so a long message
costs the core's 66 (MD5) or 82 (SHA-1) cycles per block as long as the words keep coming.

Chaining values and digests are 160-bit fields of bytes in network order, as in the SA context
(:mod:`hdl.layouts`): SHA-1's H0..H4 big-endian, MD5's A..D little-endian in the top 128 bits
(the bottom 32 bits zero on output, ignored on input).
"""

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .block_buffer import BlockBuffer
from .md5 import MD5Core
from .sha1 import SHA1Core

__all__ = ["HashAlgorithm", "HashStart", "HashLane", "LENGTH_BITS", "STATE_BITS"]

STATE_BITS = 160
"""Width of a chaining value or digest field."""
LENGTH_BITS = 18
"""Width of a message's byte count (up to 2**18 - 1 bytes)."""


class HashAlgorithm(enum.Enum, shape=1):
    """Which hash a lane computes."""

    MD5 = 0
    SHA1 = 1


HashStart = data.StructLayout(
    {
        "algorithm": HashAlgorithm,
        "iv": STATE_BITS,
        "prefix": 16,
        "length": LENGTH_BITS,
    }
)
"""The start of one message.

``algorithm``: MD5 or SHA-1. ``iv``: the chaining value to start from (the algorithm's standard
IV for a plain hash, a precomputed HMAC state otherwise), network-order bytes. ``prefix``: bytes
already hashed into ``iv`` (0, or 64 after an HMAC key block); counted into the length, and a
multiple of 64 (its low 6 bits are ignored). ``length``: message bytes that follow on ``data``.
"""


def _bswap32(v):
    return Cat(v[24:32], v[16:24], v[8:16], v[0:8])


def _bswap64(v):
    return Cat(*(v[8 * i : 8 * i + 8] for i in reversed(range(8))))


def _words32(field, n):
    """The ``n`` big-endian 32-bit words of the top of a network-order bit field, first word first."""
    top = len(field)
    return [field[top - 32 * (j + 1) : top - 32 * j] for j in range(n)]


class HashLane(wiring.Component):
    """One MD5/SHA-1 hash with padding, for one message at a time.

    Ports
    -----
    start : In(stream.Signature(HashStart))
        Begin a message. Accepted when the lane is idle (its previous digest has been taken).
    data : In(stream.Signature(64))
        The message: ``ceil(length / 8)`` words, eight bytes each in network order; bytes of the
        last word beyond ``length`` are ignored. The lane takes exactly that many words, at up to
        one per cycle, and applies back-pressure while its block buffer waits for the core.
    digest : Out(stream.Signature(160))
        The final chaining value of the message (its digest if it was hashed from the standard
        IV), network-order bytes, MD5 in the top 128 bits. Held until taken.

    Parameters
    ----------
    md5 : bool
        Build the MD5 core. Without it the lane is SHA-1 only: it computes SHA-1 whatever
        ``algorithm`` says (so an MD5 request still completes, with a meaningless digest).
    md5_step_cycles : 1 or 2
        Passed to :class:`~hdl.md5.MD5Core` as ``step_cycles``.
    md5_carry : "auto", None or "ecp5"
        Passed to :class:`~hdl.md5.MD5Core` as ``carry`` (ECP5 carry cells; ``"auto"``: when
        elaborated for ECP5).

    Cost per message: 1 start cycle, 8 cycles to assemble the first block, then 66 (MD5) or 82
    (SHA-1) cycles per block, then 2 cycles to the digest.
    """

    start: In(stream.Signature(HashStart))
    data: In(stream.Signature(64))
    digest: Out(stream.Signature(STATE_BITS))

    def __init__(self, *, md5: bool = True, md5_step_cycles: int = 1, md5_carry: str | None = "auto"):
        self.md5 = md5
        self.md5_step_cycles = md5_step_cycles
        self.md5_carry = md5_carry
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.sha1 = sha1 = SHA1Core()
        if self.md5:
            m.submodules.md5 = md5 = MD5Core(step_cycles=self.md5_step_cycles, carry=self.md5_carry)

        algorithm = Signal(HashAlgorithm)
        iv = Signal(STATE_BITS)
        length = Signal(LENGTH_BITS)
        bit_length = Signal(64)
        # Down-counters (so that each decision below is a comparison of a register with a constant):
        data_left = Signal(16)  # words still to come from `data` (ceil(length / 8) at the start)
        words_left = Signal(16)  # words of the padded message still to write into the buffer
        marker_due = Signal()  # the 0x80 still needs a word of its own (length % 8 == 0)
        slot = Signal(3)  # where the next word goes in the buffer
        m.submodules.buffer = buffer = BlockBuffer(readers=2 if self.md5 else 1)
        # the buffer holds a whole block for the MD5 or the SHA-1 core: registers, so that a
        # core's `valid` and the lane's view of the handoff are each one gate from registers on
        # both sides
        offer_md5, offer_sha1 = Signal(), Signal()
        full = offer_md5 | offer_sha1
        first = Signal()  # the buffer's block is the message's first
        outstanding = Signal(2)  # blocks handed to the core whose `done` has not come

        # -- the padded message, one 64-bit word at a time ---------------------------------------
        tail_bytes = Signal(3)  # bytes of the last data word that belong to the message (0: all 8)
        m.d.comb += tail_bytes.eq(length[0:3])
        keep = Signal(64)  # the message bytes of the last data word, then the 0x80 after them
        marker = Signal(64)
        with m.Switch(tail_bytes):
            for r in range(1, 8):
                with m.Case(r):
                    m.d.comb += keep.eq(((1 << (8 * r)) - 1) << (64 - 8 * r))
                    m.d.comb += marker.eq(0x80 << (56 - 8 * r))
            with m.Default():
                m.d.comb += keep.eq(2**64 - 1)

        length_word = Signal(64)
        if self.md5:
            m.d.comb += length_word.eq(Mux(algorithm == HashAlgorithm.MD5, _bswap64(bit_length), bit_length))
        else:
            m.d.comb += length_word.eq(bit_length)

        word = Signal(64)
        # data_left != 0 and data_left == 1, kept in registers beside it (they select the word
        # the buffer writes: no comparison of the counter on that path)
        from_data = Signal()
        data_last = Signal()
        with m.If(from_data):
            with m.If(data_last):
                m.d.comb += word.eq((self.data.payload & keep) | marker)
            with m.Else():
                m.d.comb += word.eq(self.data.payload)
        with m.Elif(marker_due):
            m.d.comb += word.eq(Const(0x80 << 56, 64))
        with m.Elif(words_left == 1):
            m.d.comb += word.eq(length_word)

        # -- the block, as each core wants it: SHA-1 reads big-endian words, MD5 little-endian --
        wiring.connect(m, sha1.read, buffer.read[0])
        cores = [(sha1, _words32(iv, 5))]
        if self.md5:
            md5_port = buffer.read[1]
            m.d.comb += [md5_port.row.eq(md5.read.row), md5_port.next.eq(md5.read.next)]
            m.d.comb += [md5.read.data[j].eq(_bswap32(md5_port.data[j])) for j in range(2)]
            cores.append((md5, [_bswap32(v) for v in _words32(iv, 4)]))
        for core, state in cores:
            p = core.blocks.payload
            m.d.comb += [p.iv[j].eq(state[j]) for j in range(len(state))]
            m.d.comb += p.chain.eq(~first)
        handoff = Signal()
        core_done = Signal()
        sha1_cv = Cat(*(sha1.cv[j] for j in reversed(range(5))))
        if self.md5:
            is_md5 = algorithm == HashAlgorithm.MD5
            m.d.comb += [md5.blocks.valid.eq(offer_md5), sha1.blocks.valid.eq(offer_sha1)]
            m.d.comb += handoff.eq((offer_md5 & md5.blocks.ready) | (offer_sha1 & sha1.blocks.ready))
            m.d.comb += core_done.eq(Mux(is_md5, md5.done, sha1.done))
            md5_cv = Cat(Const(0, 32), *(_bswap32(md5.cv[j]) for j in reversed(range(4))))
            m.d.comb += self.digest.payload.eq(Mux(is_md5, md5_cv, sha1_cv))
        else:
            # Without an MD5 core every message goes through SHA-1 (an MD5 request gets a
            # meaningless digest, but the lane never stalls on it).
            is_md5 = Const(0)
            m.d.comb += sha1.blocks.valid.eq(offer_sha1)
            m.d.comb += handoff.eq(sha1.blocks.valid & sha1.blocks.ready)
            m.d.comb += core_done.eq(sha1.done)
            m.d.comb += self.digest.payload.eq(sha1_cv)
        m.d.sync += outstanding.eq(outstanding + handoff - core_done)
        m.d.comb += [
            buffer.write_row.eq(slot),
            buffer.write_data.eq(word),
            buffer.swap.eq(handoff),
        ]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.start.ready.eq(1)
                with m.If(self.start.valid):
                    p = self.start.payload
                    m.d.sync += [
                        algorithm.eq(p.algorithm),
                        iv.eq(p.iv),
                        length.eq(p.length),
                        bit_length.eq(Cat(Const(0, 3), p.length + Cat(Const(0, 6), p.prefix[6:]))),
                        data_left.eq((p.length + 7) >> 3),
                        from_data.eq(((p.length + 7) >> 3) != 0),
                        data_last.eq(((p.length + 7) >> 3) == 1),
                        words_left.eq(((p.length + 72) >> 6) << 3),
                        marker_due.eq(p.length[0:3] == 0),
                        slot.eq(0),
                        first.eq(1),
                    ]
                    m.next = "FILL"
            with m.State("FILL"):
                # Write the next word of the padded message unless the buffer waits for the core.
                with m.If(~full & (~from_data | self.data.valid)):
                    m.d.comb += [self.data.ready.eq(from_data), buffer.write_en.eq(1)]
                    m.d.sync += [slot.eq(slot + 1), words_left.eq(words_left - 1)]
                    with m.If(from_data):
                        m.d.sync += data_left.eq(data_left - 1)
                        m.d.sync += [from_data.eq(~data_last), data_last.eq(data_left == 2)]
                    with m.Elif(marker_due):
                        m.d.sync += marker_due.eq(0)
                    with m.If(slot == 7):
                        m.d.sync += [offer_md5.eq(is_md5), offer_sha1.eq(~is_md5)]
                with m.If(handoff):
                    m.d.sync += [offer_md5.eq(0), offer_sha1.eq(0), first.eq(0)]
                    with m.If(words_left == 0):
                        m.next = "FINISH"
            with m.State("FINISH"):
                # The last block is with the core: wait for its `done` (the last one outstanding).
                with m.If(core_done & (outstanding == 1)):
                    m.next = "DIGEST"
            with m.State("DIGEST"):
                m.d.comb += self.digest.valid.eq(1)
                with m.If(self.digest.ready):
                    m.next = "IDLE"
        return m
