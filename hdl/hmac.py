"""The MAC half of the engine: HMAC (RFC 2104) and RFC 1828 keyed MD5 from precomputed states.

An :class:`HMACUnit` computes one job's ICV on one :class:`~hdl.hash_unit.HashLane`; an
:class:`HMACPool` holds several units behind one job stream, one data stream and one result stream,
so that the MACs of several packets are computed at once.

Per job, from the SA context's ``inner`` / ``outer`` fields (see :data:`hdl.layouts.SAContext`):

``HMAC_MD5_96``, ``HMAC_SHA1_96`` (RFC 2403, RFC 2404)
    inner digest = hash from ``inner``, 64 bytes already counted, over the message;
    ICV = the first 12 bytes of the hash from ``outer``, 64 bytes counted, over the inner digest.
``KEYED_MD5`` (RFC 1828)
    ICV = MD5 from ``inner`` (the state after key + keyfill), 64 bytes counted, over the message
    followed by the 16 key bytes held in ``outer``; all 16 bytes of it.

For a verifying job the expected ICV follows the message on the data stream and the result says
whether the two agree over the ICV's length; the comparison is done here, in hardware.

Figures (Amaranth simulation, ``.venv/bin/python tests/test_hdl_hash.py``): one lane runs 1400-byte
HMAC-SHA1 jobs at 0.70 bytes per cycle (24 blocks of 82 cycles each, plus ~30 cycles per pass);
a pool of 8 lanes fed with randomly interleaved words reached 4.39 bytes per cycle (4.86 with
``fifo_depth=16``) over 16 jobs. ECP5-85F out of context (``esa hdl synth --unit hmac --param
md5_carry=None``, yosys ``synth_ecp5``, nextpnr; default seed, ``--seed 1``, ``--seed 2``): an
HMACUnit with both cores is 6.0k LUT4 + 454 CCU2C + 3.2k FF, 81.1 / 79.4 / 87.1 MHz, limited by
the MD5 step (see :mod:`hdl.md5`) or by the ``key`` register's updates; the same runs gave 77.0 /
78.1 / 76.5 MHz before the MD5 core's last rearrangement. With the MD5 adders in ECP5 carry cells
(``md5_carry=ecp5``, what ``"auto"`` builds for ECP5 synthesis): 98.3 / 96.1 / 105.3 MHz, the MD5
step again the limit in two of the three; after this control was re-timed (``job.ready``,
``result.valid`` and the lane's start fields from registers), ``esa hdl synth --unit hmac
--mapper abc --seed 1``: 5.8k LUT4 + 463 CCU2C + 3.2k FF, 94.9 MHz; with the cores' chained
blocks started from registers, 5.1k LUT4 + 3.3k FF, 110.1 MHz; with the block in the lane's
LUT-RAM buffer (:mod:`hdl.block_buffer`), 4.1k LUT4 + 2.1k FF, 100.7 MHz, the longest path a
block's first word from the buffer into the core's first sum; with the first words kept in the
cores' ``head`` registers, 111.3 MHz; with the chaining values shifted in from the key bus (no
parallel load of ``state`` and ``key``), 3.9k LUT4 + 2.3k FF, 113.8 MHz (111.7 at the lane's
registered handoff; 113.95 with the feed's word chosen by registers; 104.7 / 116.5 / 112.2 with
``--seed 1 / 2 / 3`` at the code that followed), the MD5 step the limit.
Before the chained start, with ``md5_step_cycles=2``: 100.5 MHz; SHA-1 only (``--param md5=False
--mapper abc``, 4.1k LUT4 + 245 CCU2C + 2.2k FF): 103.4 MHz. The word
counters' "last word" / "no word left" tests are registers beside the counters (``msg_last``,
``msg_done``; the lane's ``from_data``, ``data_last``), off the paths into the feed FIFO and the
block buffer.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .hash_unit import STATE_BITS, HashAlgorithm, HashLane
from .layouts import ICV_BYTES, ICV_WORDS, Auth, StreamWord
from .priority import lowest_set, onehot_select

__all__ = [
    "HMACStart",
    "HMACJob",
    "HMACKeys",
    "HMACWord",
    "HMACResult",
    "HMACUnit",
    "HMACPool",
    "ID_BITS",
    "JOB_LENGTH_BITS",
    "KEY_WORDS",
    "key_words",
]

ID_BITS = 16
"""Width of the id that ties a job's data words and its result to the job."""
JOB_LENGTH_BITS = 17
"""Width of a job's message length: ``auth_len + cipher_len`` of a job fits."""
ICV_BITS = ICV_BYTES * 8

HMACStart = data.StructLayout(
    {
        "id": ID_BITS,
        "auth": Auth,
        "verify": 1,
        "length": JOB_LENGTH_BITS,
    }
)
"""What an :class:`HMACUnit` takes on its ``job`` stream: an :data:`HMACJob` without its chaining
values, which follow on the unit's ``key_word`` port."""

HMACJob = data.StructLayout(
    {
        **{name: field.shape for name, field in HMACStart},
        "inner": STATE_BITS,
        "outer": STATE_BITS,
    }
)
"""One MAC job.

``id``: the caller's name for the job, returned with its result; in an :class:`HMACPool` it also
routes the job's data words, so the ids of the jobs in a pool must differ. ``auth``: the SA's
authenticator (:class:`~hdl.layouts.Auth`; ``NONE`` completes with ``error``). ``verify``: the
message is followed by the expected ICV, and the result compares. ``length``: message bytes
(ESP: SPI, sequence number, IV and ciphertext; AH: the prepared datagram). ``inner``, ``outer``:
the SA context's fields of the same names, as :mod:`hdl.layouts` stores them.
"""

HMACKeys = data.StructLayout(
    {
        "inner": STATE_BITS,
        "zero": 32,
        "outer": STATE_BITS,
        "pad": 32,
    }
)
"""A job's chaining values as they reach an :class:`HMACUnit`: :data:`KEY_WORDS` 64-bit words, the
top of this 384-bit value first. The unit shifts them up through its ``state`` (bits 0-159, which
then holds ``inner``) into its ``key`` (bits 160-351: ``outer`` above 32 zero bits, the room its
keyed-MD5 alignment shifts into); ``pad`` falls off the top."""

KEY_WORDS = HMACKeys.size // 64
"""Cycles a job's chaining values take on ``key_word``: one per 64-bit word."""


def key_words(inner: int, outer: int) -> list[int]:
    """The ``key_word`` values of a job, in order (``inner`` and ``outer`` as in :data:`HMACJob`)."""
    image = (inner << HMACKeys["inner"].offset) | (outer << HMACKeys["outer"].offset)
    return [(image >> (64 * (KEY_WORDS - 1 - j))) & (2**64 - 1) for j in range(KEY_WORDS)]


HMACWord = data.StructLayout(
    {
        "id": ID_BITS,
        "data": 64,
        "last": 1,
    }
)
"""One data word for the job named ``id`` (see :attr:`HMACPool.data`)."""

HMACResult = data.StructLayout(
    {
        "id": ID_BITS,
        "icv": ICV_BITS,
        "match": 1,
        "error": 1,
    }
)
"""The outcome of one job.

``id``: the job's id. ``icv``: the computed ICV, network-order bytes in the top bits: 12 bytes for
HMAC-96 (the last 4 bytes zero), 16 for keyed MD5; the job stream's ICV words carry it unchanged.
``match``: a verifying job's expected ICV equals ``icv`` over the ICV's length (0 for a generating
job, or when ``error`` is set). ``error``: the job's words disagreed with its length (``last``
early or late) or ``auth`` was ``NONE``; ``icv`` is then meaningless.
"""


def needs_md5(auth):
    """Whether jobs of ``auth`` (a Value of :class:`~hdl.layouts.Auth`) run MD5."""
    return (auth == Auth.HMAC_MD5_96) | (auth == Auth.KEYED_MD5)


def _icv_mask(auth):
    """The bits of the 128-bit ICV field that an authenticator's ICV occupies."""
    hmac96 = Const(((1 << 96) - 1) << 32, ICV_BITS)
    return Mux(auth == Auth.KEYED_MD5, Const((1 << ICV_BITS) - 1, ICV_BITS), hmac96)


class HMACUnit(wiring.Component):
    """One MAC job at a time on one hash lane: HMAC-MD5-96, HMAC-SHA1-96, or RFC 1828 keyed MD5.

    Parameters
    ----------
    fifo_depth : int
        Words of buffer in front of the lane (0: none). With a buffer as deep as a packet the
        caller can hand over a whole message at one word per cycle although the lane consumes
        about 0.7 (SHA-1) or 0.9 (MD5) bytes per cycle.
    md5 : bool
        Build the MD5 core. A unit without it runs only ``HMAC_SHA1_96`` jobs; it completes
        any other job with ``error`` (after taking its words).
    md5_step_cycles : 1 or 2
        MD5 core cycles per step (see :class:`~hdl.md5.MD5Core`): 2 halves MD5's rate but lets
        the lane run at about the SHA-1 core's clock.
    md5_carry : "auto", None or "ecp5"
        The MD5 core's ``carry`` (see :class:`~hdl.md5.MD5Core`): ``"ecp5"`` builds its step
        adders from ECP5 carry cells, for synthesis only; ``"auto"`` (default) does so when
        elaborated for ECP5 (:mod:`hdl.target`).

    Ports
    -----
    job : In(stream.Signature(HMACStart))
        Accepted when the unit is idle: its previous result has been taken.
    key_word : In(64)
        The job's chaining values (:data:`HMACKeys`, top word first), one word in each of the
        :data:`KEY_WORDS` cycles after the job is taken. One bus can serve a pool of units: only
        a unit that has just taken a job reads it, and its ``state`` and ``key`` registers load
        by shifting, so no 320-bit load fans out to every unit.
    data : In(stream.Signature(StreamWord))
        The job's words: ``ceil(length / 8)`` message words (network byte order, bytes beyond
        ``length`` ignored), then for a verifying job the expected ICV as :data:`ICV_WORDS` words
        (left-aligned, bytes beyond the ICV's length ignored). ``last`` marks the job's final word.
        A job with no words (empty message, not verifying) takes none. ``last`` too early ends the
        job with ``error``; missing ``last`` makes the unit discard words until one comes, and
        report ``error``. Back-pressure: the unit takes a block's 8 words (plus 2 in its feed
        FIFO, plus ``fifo_depth``), then waits until the core takes the block.
    result : Out(stream.Signature(HMACResult))
        The job's outcome; held until taken.
    job_id : Out(ID_BITS)
        The id of the current job.
    open : Out(1)
        The unit takes more ``data`` words for job ``job_id``: from job acceptance until a word
        with ``last`` is accepted (for a job without words, only in the cycle after its
        acceptance). :class:`HMACPool` keeps its own copy of it, set only for jobs with words.
    busy : Out(1)
        The unit holds a job (from acceptance until its result is taken).
    ahead : Out(1)
        With ``fifo_depth`` of 3 or more: a register, high when the buffer held at most
        ``fifo_depth - 3`` words a cycle ago, so that ``data.ready`` is high in the next two
        cycles whatever words come in: a pool registers it near its input buffer and sends a
        lane words on that copy, a cycle old. 0 without a buffer of 3 or more.
    """

    def __init__(
        self,
        *,
        fifo_depth: int = 0,
        md5: bool = True,
        md5_step_cycles: int = 1,
        md5_carry: str | None = "auto",
    ):
        if fifo_depth < 0:
            raise ValueError(f"fifo_depth must be 0 or more, not {fifo_depth}")
        if md5_step_cycles not in (1, 2):
            raise ValueError(f"md5_step_cycles must be 1 or 2, not {md5_step_cycles}")
        self.fifo_depth = fifo_depth
        self.md5 = md5
        self.md5_step_cycles = md5_step_cycles
        self.md5_carry = md5_carry
        super().__init__(
            {
                "job": In(stream.Signature(HMACStart)),
                "key_word": In(64),
                "data": In(stream.Signature(StreamWord)),
                "result": Out(stream.Signature(HMACResult)),
                "job_id": Out(ID_BITS),
                "open": Out(1),
                "busy": Out(1),
                "ahead": Out(1, init=int(fifo_depth >= 3)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.lane = lane = HashLane(
            md5=self.md5, md5_step_cycles=self.md5_step_cycles, md5_carry=self.md5_carry
        )

        # The data words, through the optional buffer.
        if self.fifo_depth:
            # One place more than asked for: `ahead` counts the words in the buffer, and one of
            # them may be on its way from the memory into the output register, its place in the
            # memory not yet free.
            m.submodules.fifo = buf = fifo.SyncFIFOBuffered(width=StreamWord.size, depth=self.fifo_depth + 1)
            m.d.comb += [
                buf.w_data.eq(self.data.payload),
                buf.w_en.eq(self.data.valid & self.open),
                self.data.ready.eq(buf.w_rdy & self.open),
            ]
            # From the level alone (reads only free places; at most one word a cycle comes in),
            # so that it is two LUTs from the buffer's counters: a cycle old in the pool, it still
            # promises a place (the whole engine's critical path at dd02177, with the words read
            # and written counted in, ran through this unit's FSM, 4.6 ns of logic).
            m.d.sync += self.ahead.eq(buf.level <= self.fifo_depth - 3)
            din_valid, din_word = buf.r_rdy, data.View(StreamWord, buf.r_data)
            din_ready = buf.r_en
        else:
            din_valid, din_word = self.data.valid, self.data.payload
            din_ready = self.data.ready
            # Unrouted words: a unit alone takes no word it does not expect.
        din = Signal(StreamWord)
        m.d.comb += din.eq(din_word)
        take = Signal()  # a data word moves out of the buffer (or the port) this cycle
        m.d.comb += take.eq(din_valid & din_ready)

        # The job as offered, latched while idle (the one taken is the last): the offer comes
        # over a bus that a pool spreads across the device to all its lanes, so nothing is
        # computed from it on the way in; what the unit derives from it is registered in the
        # cycle after (`key_wait`), before the first key word arrives (the whole engine's
        # critical path at 23518cf: the hash adapter's job register -> the bus -> a far lane's
        # `start_length` adder, 13.1 ns of routing).
        job = Signal(HMACStart)
        auth, verify, length = job.auth, job.verify, job.length
        keyed = Signal()  # RFC 1828: append the key, no outer hash
        # the message bytes of the lane's next hash: the inner one's (keyed MD5: + key), then the
        # outer one's (a register, so the lane's start takes no choice of the FSM's state)
        start_length = Signal(JOB_LENGTH_BITS + 1)
        msg_left = Signal(JOB_LENGTH_BITS - 2)  # message words still to pass to the lane
        msg_last = Signal()  # msg_left == 1, kept beside the counter (off the feed's path)
        msg_done = Signal()  # msg_left == 0
        merge_tail = Signal()  # keyed MD5 with a partial last word: the key merges into it
        state = Signal(STATE_BITS)  # the inner chaining value, then the inner digest, then the MAC
        key = Signal(STATE_BITS + 32)  # `outer`; for keyed MD5 shifted into place after the message
        merged = Signal()  # keyed MD5: the key's first 8 bytes went out merged into the last word
        align = Signal(3)  # byte shifts still to apply to `key`
        expected = Signal(ICV_BITS)
        words = Signal(2)  # words done in the ICV, TAIL and OUTER_MESSAGE phases
        piece = Signal(2)  # in TAIL: the key piece fed now (words + merged, kept as a register)
        ended = Signal()  # the job's `last` word has been taken
        error = Signal()

        is_md5 = auth != Auth.HMAC_SHA1_96
        algorithm = Mux(is_md5, HashAlgorithm.MD5, HashAlgorithm.SHA1)
        tail_bytes = length[0:3]
        keep = Signal(64)  # the message bytes of the last message word
        with m.Switch(tail_bytes):
            for r in range(1, 8):
                with m.Case(r):
                    m.d.comb += keep.eq(((1 << (8 * r)) - 1) << (64 - 8 * r))
            with m.Default():
                m.d.comb += keep.eq(2**64 - 1)

        # Keyed MD5: the datagram ends r = length % 8 bytes into a word; the key follows at once. The
        # key register is shifted right by r bytes (one per cycle) so that its top 24 bytes read
        # r zero bytes, the key, zeros: the first 8 merge into the datagram's last word, or, when
        # r = 0, make the first appended word.
        keys_left = Signal(range(KEY_WORDS + 1))  # key words still to come
        with m.If((align != 0) & (keys_left == 0)):
            m.d.sync += [key.eq(key >> 8), align.eq(align - 1)]
        # state and key as one shift register, 64 bits a step: the key words shift in at the
        # bottom of state (and out of its top into key)
        # (the bus word is registered here first: the same bus, from the pool's key register)
        key_in = Signal(64)
        m.d.sync += key_in.eq(self.key_word)
        state_shifted = Cat(key_in, state[: STATE_BITS - 64])

        # `job.ready` and `result.valid` are registers beside the FSM (true in IDLE / RESULT), so
        # that a pool's choice of lane starts at a flip-flop, not at a decode of the state.
        idle = Signal(init=1)
        done = Signal()
        m.d.comb += [
            self.job_id.eq(job.id),
            self.result.payload.id.eq(job.id),
            self.busy.eq(~idle),
            self.job.ready.eq(idle),
            self.result.valid.eq(done),
        ]
        # The result's fields come from registers alone, not gated by the FSM's state (the whole
        # engine's critical path at 67b55d8: a lane's state -> the ICV's gating -> the pool's
        # result register across the device, 13.5 ns of routing); they are read only while
        # `result.valid` (the RESULT state), when `state` holds the MAC.
        mask = _icv_mask(auth)
        icv = state[-ICV_BITS:] & mask
        m.d.comb += [
            self.result.payload.icv.eq(icv),
            self.result.payload.match.eq(verify & ~error & ((expected & mask) == icv)),
            self.result.payload.error.eq(error),
        ]
        with m.If(self.data.valid & self.data.ready & self.data.payload.last):
            m.d.sync += self.open.eq(0)

        # Words for the lane pass a two-word FIFO: the choice of word here stays out of the lane's
        # path into its block buffer, and the lane's ready out of this unit's (and the pool's).
        m.submodules.feed = feed_fifo = fifo.SyncFIFO(width=64, depth=2)
        feed = stream.Signature(64).create(path=("feed",))
        m.d.comb += [
            feed_fifo.w_data.eq(feed.payload),
            feed_fifo.w_en.eq(feed.valid),
            feed.ready.eq(feed_fifo.w_rdy),
            lane.data.payload.eq(feed_fifo.r_data),
            lane.data.valid.eq(feed_fifo.r_rdy),
            feed_fifo.r_en.eq(lane.data.ready),
        ]

        # The feed's word is chosen by registers (the phase flags, `ended`, the counters), never
        # by a decode of the FSM's state: its select fans out to 64 multiplexers, and a decode
        # shared with the FSM's next-state logic was pulled to them across the device (the
        # reduced engine's critical path at 5d5923b, seed 1: FSM -> a gate by the feed -> FSM).
        feed_tail = Signal()  # in TAIL: keyed MD5's key words
        feed_outer = Signal()  # in OUTER_MESSAGE: the inner digest
        merge = merge_tail & msg_last  # keyed MD5: the datagram's last word takes the key's first bytes
        # the key's 64-bit pieces from the top, after the one merged (no shifting of `key` in
        # TAIL: its only writers are the job's start and the alignment)
        pieces = Array(key.word_select(2 - i, 64) for i in range(3))
        # the inner digest's words from the top of `state` (SHA-1's third word half empty),
        # chosen by the word count: `state` does not shift for them, so its enables stay off
        # the feed's `ready`
        digest_words = Array([state[96:], state[32:96], Cat(Const(0, 32), state[:32])])
        message_word = Mux(ended, 0, Mux(merge, (din.data & keep) | key[-64:], din.data))
        m.d.comb += feed.payload.eq(
            Mux(feed_tail, pieces[piece], Mux(feed_outer, digest_words[words], message_word))
        )

        def frame(final):
            """Account for a taken word, which should be the job's final one exactly if ``final``."""
            with m.If(din.last):
                m.d.sync += ended.eq(1)
            with m.If(din.last != final):
                m.d.sync += error.eq(1)

        # The lane's start fields are driven in every state from registers (the lane samples them
        # only with `start.valid`, in INNER and OUTER), so that its length arithmetic starts at
        # the `start_length` register rather than at a decode of this FSM's state.
        outer_phase = Signal()  # the next start is the outer hash's
        lp = lane.start.payload
        m.d.comb += [
            lp.algorithm.eq(algorithm),
            lp.iv.eq(Mux(outer_phase, key[32:], state)),
            lp.prefix.eq(64),
            lp.length.eq(start_length),
        ]

        # The job's fields load from every job offered while the unit is idle (the one taken is
        # the last), so the handshake enables only `idle`, `open`, `key_wait` and the
        # state: the whole engine's critical path at 2f70e49 ran from the pool's choice of lane
        # to the enables of these registers (12.2 ns of routing). The loads are under register
        # flags, not decodes of the FSM's state (at bc3338d a path ran from the state's decode
        # through such enables, 12.2 ns of routing in one lane).
        key_wait = Signal()  # the cycle after the job's acceptance: its facts are derived
        m.d.sync += key_wait.eq(0)
        # (a unit without MD5 builds no keyed-MD5 logic: the key's shifting and appending cost
        # ~340 LUT4)
        keyed_job = (auth == Auth.KEYED_MD5) if self.md5 else Const(0)
        no_words = Signal()  # the job takes no data word
        m.d.comb += no_words.eq((length == 0) & ~verify)
        with m.If(idle):
            m.d.sync += [
                job.eq(self.job.payload),
                keys_left.eq(KEY_WORDS),
                merged.eq(0),
                outer_phase.eq(0),
                feed_tail.eq(0),
                feed_outer.eq(0),
                words.eq(0),
            ]
        with m.If(key_wait):
            # (the tests of the word count read the length itself, off the adder)
            m.d.sync += [
                keyed.eq(keyed_job),
                start_length.eq(length + Mux(keyed_job, 16, 0)),
                msg_left.eq((length + 7) >> 3),
                msg_last.eq((length != 0) & (length <= 8)),
                msg_done.eq(length == 0),
                merge_tail.eq(keyed_job & (length[0:3] != 0)),
                align.eq(Mux(keyed_job, length[0:3], 0)),
                ended.eq(no_words),
                error.eq((auth == Auth.NONE) | (needs_md5(auth) & (not self.md5))),
            ]
            with m.If(no_words):
                m.d.sync += self.open.eq(0)

        # `state` and `key` are written under two register flags, not under decodes of the
        # FSM's state or a handshake: their 352 enables are then one LUT from flip-flops (the
        # whole engine's critical path at f9dbece, speed grade 8: a lane's KEYS flag and its
        # feed's level -> the enables of `state`, 9.8 ns of routing). `state` takes the lane's
        # digest in every cycle of INNER_DIGEST and OUTER_DIGEST (`digesting`: nothing reads it
        # there, and the last load is the digest's `valid` cycle, which ends the flag). The key
        # words shift in from `key_in`, a cycle behind the bus: from the second cycle of KEYS on.
        shifting = Signal()  # the chaining values shift in from key_in
        digesting = Signal()  # `state` takes the lane's digest
        with m.If(key_wait):
            m.d.sync += shifting.eq(1)
        with m.If(shifting & (keys_left == 1)):
            m.d.sync += shifting.eq(0)
        with m.If(digesting):
            m.d.sync += state.eq(lane.digest.payload)
        with m.Elif(shifting):
            m.d.sync += state.eq(state_shifted)
        with m.If(shifting):
            m.d.sync += [key.eq(Cat(state[STATE_BITS - 64 :], key[:-64])), keys_left.eq(keys_left - 1)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.job.valid):
                    # (`open` falls again in the next cycle for a job without words)
                    m.d.sync += [idle.eq(0), key_wait.eq(1), self.open.eq(1)]
                    m.next = "KEYS"
            with m.State("KEYS"):
                with m.If(keys_left == 1):
                    m.next = "INNER"
            with m.State("INNER"):
                m.d.comb += lane.start.valid.eq(1)
                with m.If(lane.start.ready):
                    m.next = "MESSAGE"
            with m.State("MESSAGE"):
                last_word = msg_last

                def count_word():
                    m.d.sync += [msg_left.eq(msg_left - 1), msg_last.eq(msg_left == 2), msg_done.eq(msg_last)]

                with m.If(msg_done):
                    m.d.sync += words.eq(0)
                    m.next = "ICV"
                with m.Elif(ended):
                    # `last` came early: finish the lane's message with zeros.
                    m.d.comb += feed.valid.eq(1)
                    with m.If(feed.ready):
                        count_word()
                with m.Elif(align == 0):
                    m.d.comb += [feed.valid.eq(din_valid), din_ready.eq(feed.ready)]
                    with m.If(take):
                        count_word()
                        frame(final=last_word & ~verify)
                        with m.If(merge):
                            m.d.sync += merged.eq(1)
            with m.State("ICV"):
                with m.If(~verify | ended | (words == ICV_WORDS)):
                    m.d.sync += words.eq(0)
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += din_ready.eq(1)
                    with m.If(take):
                        m.d.sync += [expected.eq(Cat(din.data, expected)), words.eq(words + 1)]
                        frame(final=words == ICV_WORDS - 1)
            with m.State("DRAIN"):
                # Words after the expected final one, up to `last`: discarded (the job is in error).
                with m.If(ended):
                    # (only keyed MD5 feeds in TAIL: a unit without MD5 builds no key pieces)
                    m.d.sync += [feed_tail.eq(keyed), piece.eq(merged)]
                    m.next = "TAIL"
                with m.Else():
                    m.d.comb += din_ready.eq(1)
                    with m.If(take & din.last):
                        m.d.sync += ended.eq(1)
            with m.State("TAIL"):
                # Keyed MD5: the two words that finish datagram || key.
                with m.If(~keyed | (words == 2)):
                    m.d.sync += [words.eq(0), feed_tail.eq(0), digesting.eq(1)]
                    m.next = "INNER_DIGEST"
                with m.Else():
                    m.d.comb += feed.valid.eq(1)
                    with m.If(feed.ready):
                        m.d.sync += [words.eq(words + 1), piece.eq(piece + 1)]
            with m.State("INNER_DIGEST"):
                m.d.comb += lane.digest.ready.eq(1)
                with m.If(lane.digest.valid):
                    m.d.sync += digesting.eq(0)
                    with m.If(keyed):
                        m.d.sync += done.eq(1)
                        m.next = "RESULT"
                    with m.Else():
                        m.d.sync += [start_length.eq(Mux(is_md5, 16, 20)), outer_phase.eq(1)]
                        m.next = "OUTER"
            with m.State("OUTER"):
                m.d.comb += lane.start.valid.eq(1)
                with m.If(lane.start.ready):
                    m.d.sync += feed_outer.eq(1)
                    m.next = "OUTER_MESSAGE"
            with m.State("OUTER_MESSAGE"):
                # The inner digest: 2 words (MD5) or 3 (SHA-1, the last half empty).
                with m.If(words == Mux(is_md5, 2, 3)):
                    m.d.sync += [words.eq(0), feed_outer.eq(0), digesting.eq(1)]
                    m.next = "OUTER_DIGEST"
                with m.Else():
                    m.d.comb += feed.valid.eq(1)
                    with m.If(feed.ready):
                        m.d.sync += words.eq(words + 1)
            with m.State("OUTER_DIGEST"):
                m.d.comb += lane.digest.ready.eq(1)
                with m.If(lane.digest.valid):
                    m.d.sync += [digesting.eq(0), done.eq(1)]
                    m.next = "RESULT"
            with m.State("RESULT"):
                with m.If(self.result.ready):
                    m.d.sync += [done.eq(0), idle.eq(1)]
                    m.next = "IDLE"
        return m


class HMACPool(wiring.Component):
    """Several :class:`HMACUnit` lanes behind one job, one data and one result stream.

    A job goes to an idle lane that can run it (the highest-numbered, so that SHA-1 jobs leave
    the MD5 lanes free when some lanes lack MD5); its data words find the lane by the job's id,
    so the words of different jobs may interleave freely; results leave as lanes finish (the
    lowest-numbered finished lane first), tagged with the job's id.

    Parameters
    ----------
    lanes : int
        Hash lanes, i.e. jobs in flight. One lane sustains about 0.70 bytes per cycle on
        1400-byte HMAC-SHA1 jobs and about 0.87 on HMAC-MD5 (0.45 with ``md5_step_cycles=2``).
    fifo_depth : int
        Words of buffer per lane in front of its hash (see :class:`HMACUnit`).
    md5_lanes : int or None
        How many lanes (lanes 0 .. md5_lanes - 1) have an MD5 core; the others run SHA-1 only,
        which saves nearly half a unit's logic (HMACUnit(fifo_depth=8) alone, yosys: 3,946 ->
        2,185 LUT4).
        ``None``: all. With 0, MD5 jobs are taken by any lane and complete with ``error``.
    md5_step_cycles : 1 or 2
        See :class:`HMACUnit`.
    md5_carry : "auto", None or "ecp5"
        See :class:`HMACUnit`.

    Ports
    -----
    jobs : In(stream.Signature(HMACJob))
        Accepted when a lane that can run the job has been idle for a cycle and the key bus is
        free (:data:`KEY_WORDS` cycles after the pool took a job). The ids of the jobs in the
        pool must differ.
    data : In(stream.Signature(HMACWord))
        Data words, each for the job its ``id`` names, in that job's order (see
        :attr:`HMACUnit.data`). Send a job's words only after the pool accepted the job. A word
        whose id names no job that takes words is taken and dropped (``dropped`` strobes).
        A word for a lane that is not ready stalls the stream (with ``fifo_depth`` of 3 or
        more, a lane is ready by the pool's registered copy of its ``ahead``, so it takes at
        most ``fifo_depth`` words ahead of its hash). The words pass a two-word input buffer
        (``ready`` is a register; a word reaches its lane two cycles after its transfer at the
        earliest); a word's lane is looked up when it enters the buffer's head, and a word
        that enters as its job's ``last`` word leaves names no open job.
    results : Out(stream.Signature(HMACResult))
        One result per job, from a register (two cycles after the lane has it, at the earliest).
    dropped : Out(1)
        Strobe: a data word naming no open job was dropped this cycle (at the buffer's head).
    busy : Out(lanes)
        Bit i: lane i holds a job.
    """

    def __init__(
        self,
        *,
        lanes: int = 8,
        fifo_depth: int = 0,
        md5_lanes: int | None = None,
        md5_step_cycles: int = 1,
        md5_carry: str | None = "auto",
    ):
        if lanes < 1:
            raise ValueError(f"an HMAC pool needs at least one lane, not {lanes}")
        if md5_lanes is None:
            md5_lanes = lanes
        if not 0 <= md5_lanes <= lanes:
            raise ValueError(f"md5_lanes must be 0..{lanes}, not {md5_lanes}")
        self.lanes = lanes
        self.md5_lanes = md5_lanes
        self.fifo_depth = fifo_depth
        self.md5_step_cycles = md5_step_cycles
        self.md5_carry = md5_carry
        self.units = [
            HMACUnit(
                fifo_depth=fifo_depth, md5=i < md5_lanes, md5_step_cycles=md5_step_cycles, md5_carry=md5_carry
            )
            for i in range(lanes)
        ]
        """The lanes, lane i first (for a testbench that watches them)."""
        super().__init__(
            {
                "jobs": In(stream.Signature(HMACJob)),
                "data": In(stream.Signature(HMACWord)),
                "results": Out(stream.Signature(HMACResult)),
                "dropped": Out(1),
                "busy": Out(lanes),
            }
        )

    def elaborate(self, platform):
        m = Module()
        units = self.units
        for i, unit in enumerate(units):
            m.submodules[f"lane{i}"] = unit
        m.d.comb += self.busy.eq(Cat(u.busy for u in units))

        # Jobs: to the highest-numbered idle lane that can run them. The lane is chosen a cycle
        # ahead, from the lanes' `ready` registers, into one-hot registers (any lane; an MD5
        # lane), so that a lane's `valid` leaves a register here instead of a priority chain
        # over every lane's `ready`: on the whole engine the lanes sit far apart. The choice is
        # a cycle stale only right after a job is taken, while the key bus keeps the pool from
        # taking another: the job's chaining values follow on it in the next KEY_WORDS cycles.
        n = self.lanes
        lane_bits = max(1, (n - 1).bit_length())
        md5_job = needs_md5(self.jobs.payload.auth) & (self.md5_lanes > 0)
        keys = Signal(HMACKeys)
        keys_left = Signal(range(KEY_WORDS + 1))
        free = Signal(init=1)  # the key bus is free: a register, keys_left == 0
        ready = Cat(u.job.ready for u in units)
        md5_mask = Const(sum(1 << i for i in range(self.md5_lanes)), n)
        pick_any, pick_md5 = Signal(n), Signal(n)
        m.d.sync += [pick_any.eq(_highest(ready)), pick_md5.eq(_highest(ready & md5_mask))]
        pick = Mux(md5_job, pick_md5, pick_any)
        for i, u in enumerate(units):
            m.d.comb += [u.job.payload[name].eq(self.jobs.payload[name]) for name, _ in HMACStart]
            m.d.comb += [
                u.job.valid.eq(self.jobs.valid & free & pick[i]),
                u.key_word.eq(keys.as_value()[-64:]),
            ]
        m.d.comb += self.jobs.ready.eq(free & pick.any())
        # The pool's copies of each lane's job id and `open` flag (the unit's `job_id` and
        # `open`), kept as the unit keeps its own, so that a data word's lane is found from
        # registers here and not from the lanes' across the device. (A unit opens at every job
        # and closes a job without words a cycle later; its copy here opens only for words.)
        lane_id = [Signal(ID_BITS, name=f"lane_id{i}") for i in range(n)]
        lane_open = Signal(n)
        job = self.jobs.payload
        for i in range(n):
            with m.If(free & pick[i]):
                m.d.sync += lane_id[i].eq(job.id)
                with m.If(self.jobs.valid):
                    m.d.sync += lane_open[i].eq((job.length != 0) | job.verify)
        # While the bus is free `keys` takes the offered job's values every cycle (a unit reads
        # the bus only after taking a job), so the job handshake reaches keys_left and `free`
        # only, not the 384 bits' enables (the whole engine's critical path at 79005ca: the
        # handshake -> the enables, 13.1 ns of routing).
        with m.If(free):
            m.d.sync += [
                keys.inner.eq(self.jobs.payload.inner),
                keys.zero.eq(0),
                keys.outer.eq(self.jobs.payload.outer),
                keys.pad.eq(0),
            ]
            with m.If(self.jobs.valid & self.jobs.ready):
                m.d.sync += [keys_left.eq(KEY_WORDS), free.eq(0)]
        with m.Else():
            m.d.sync += [keys.eq(keys.as_value() << 64), keys_left.eq(keys_left - 1), free.eq(keys_left == 1)]

        # Data: through a two-word input buffer whose head already knows its lane: the id is
        # compared with the lanes' job ids when the word enters the head, so the data stream's
        # `ready` is a register and the compare is off the path from the lanes' `ready`. A lane
        # closes only when it takes a word with `last`, which comes from the head: a word
        # entering the head as its lane's last word leaves does not match that lane (and is
        # dropped). So the head's lane is known from registers here, and no lane's `open`
        # makes a round trip to the pool and back to the lanes in one cycle.
        word = self.data.payload
        if self.fifo_depth >= 3:
            # the lanes' `ahead`, registered here: a lane sent a word on a copy a cycle old
            # still has a place for it (see HMACUnit.ahead), and the head's advance depends
            # on registers of the pool alone
            lane_ready = Signal(n, init=(1 << n) - 1)
            m.d.sync += lane_ready.eq(Cat(u.ahead for u in units))
        else:
            lane_ready = Cat(u.data.ready for u in units)
        head_valid = Signal()
        head = Signal(HMACWord)
        head_match = Signal(self.lanes)
        skid_valid = Signal()
        skid = Signal(HMACWord)
        m.d.comb += self.data.ready.eq(~skid_valid)
        incoming = Signal()
        m.d.comb += incoming.eq(self.data.valid & ~skid_valid)

        routed = head_match  # the head's lane (none: the word is dropped)
        head_go = Signal()
        m.d.comb += [
            head_go.eq(head_valid & ((routed & lane_ready).any() | ~routed.any())),
            self.dropped.eq(head_valid & ~routed.any()),
        ]
        for i, u in enumerate(units):
            m.d.comb += [
                u.data.payload.data.eq(head.data),
                u.data.payload.last.eq(head.last),
                u.data.valid.eq(head_valid & routed[i] & lane_ready[i]),
            ]
        src = Signal(HMACWord)
        m.d.comb += src.eq(Mux(skid_valid, skid, word))
        with m.If(~head_valid | head_go):
            m.d.sync += [
                head_valid.eq(skid_valid | incoming),
                head.eq(src),
                head_match.eq(
                    Cat(
                        lane_open[i] & (lane_id[i] == src.id) & ~(head_valid & head.last & head_match[i])
                        for i in range(n)
                    )
                ),
                skid_valid.eq(0),
            ]
        with m.Elif(incoming):
            m.d.sync += [skid_valid.eq(1), skid.eq(word)]
        for i in range(n):  # (per bit: lane i may close as another lane opens)
            with m.If(head_go & head.last & routed[i]):
                m.d.sync += lane_open[i].eq(0)

        # Results: a register, loaded from the lowest-numbered lane with one. The lane is granted
        # a cycle ahead (a one-hot register, chosen while `res` is empty and no grant is out), so
        # that its `ready` leaves a register here and no path goes from the lanes' `valid` back
        # to them in one cycle; a result every three cycles at most, for jobs of hundreds.
        res_valid = Signal()
        res = Signal(HMACResult)
        has = Cat(u.result.valid for u in units)
        found, index = lowest_set(has, lane_bits)
        grant = Signal(n)  # one-hot: the lane whose result moves into `res` in this cycle
        payloads = [u.result.payload.as_value() for u in units]
        m.d.comb += [self.results.valid.eq(res_valid), self.results.payload.eq(res)]
        m.d.comb += [u.result.ready.eq(grant[i]) for i, u in enumerate(units)]
        with m.If(found & ~res_valid & ~grant.any()):
            m.d.sync += grant.eq(Cat(index == i for i in range(n)))
        with m.Else():
            m.d.sync += grant.eq(0)
        with m.If(grant.any()):
            # (an AND-OR on the one-hot grant: a binary index's decode fanned out to all the
            # result's bits across the lanes, the whole engine's critical path at 505d16b, seed 4)
            m.d.sync += [res_valid.eq(1), res.eq(onehot_select(grant, payloads))]
        with m.Elif(self.results.ready):
            m.d.sync += res_valid.eq(0)
        return m


def _highest(bits: Value) -> Value:
    """One-hot of the highest set bit of ``bits`` (0 when none is)."""
    n = len(bits)
    return Cat(bits[i] & ~bits[i + 1 :].any() if i + 1 < n else bits[i] for i in range(n))
