"""Job intake: parses job frames, looks up the SA context, validates, and stores the job in a slot.

A frame is two :data:`~hdl.layouts.JobHeader` words, the IV word (ciphering ops), the data words
and the expected ICV words (verifying ops), ``last`` on the final word (see :mod:`hdl.layouts`).
Every frame, good or bad, takes a job slot and ends in exactly one :attr:`JobIntake.commit`
pulse carrying its record (:func:`job_record_layout`); a bad frame is drained to its ``last``
word first, so a malformed job never desynchronises the stream or hangs the engine. A frame that
ends at its first header word completes with ``BAD_LENGTH``; one that ends at its second is
checked like any other (complete if its lengths call for no more words).

Checks, in order of precedence (the first that fails sets the status):

``BAD_CONN``
    The conn id is at or beyond the engine's contexts, or its context is not valid.
``BAD_OP``
    The op is not one of :class:`~hdl.layouts.Op`'s values; or its direction differs from the
    context's; or it ciphers and the context has no cipher (or the reverse); or it authenticates
    and the context has no authenticator (or the reverse).
``BAD_LENGTH``
    ``cipher_len`` is not a multiple of 8; a ciphering job's ``auth_len`` is not a multiple of 8;
    a job that does not cipher has ``cipher_len`` other than 0; the data exceed the engine's
    ``max_job_bytes``; or ``last`` comes before or after the word the lengths call for.
"""

from __future__ import annotations

from amaranth.hdl import C, Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .context_memory import READ_LATENCY as CONTEXT_READ_LATENCY
from .layouts import ICV_WORDS, Auth, Cipher, JobHeader, Op, SAContext, Status, StreamWord
from .priority import lowest_set

__all__ = ["JobIntake", "job_record_layout"]


def job_record_layout(slot_bits: int) -> data.StructLayout:
    """The record of one parsed job, as the intake hands it to the rest of the engine.

    ``slot``: where its data words sit in the input buffer. ``status``: OK or the first failed
    check. ``op``, ``tag``, ``conn_id``, ``auth_len``, ``cipher_len``: from the header.
    ``ctx``: the SA context as read when the header arrived. ``iv``: the IV word.
    ``icv``: the expected ICV (verifying jobs), left-aligned.
    """
    return data.StructLayout(
        {
            "slot": slot_bits,
            "status": Status,
            "op": 4,
            "tag": 16,
            "conn_id": 16,
            "auth_len": 16,
            "cipher_len": 16,
            "ctx": SAContext,
            "iv": 64,
            "icv": 64 * ICV_WORDS,
        }
    )


_VALID_OPS = [op.value for op in Op]


class JobIntake(wiring.Component):
    """Parses the ``jobs`` stream into job slots.

    Ports
    -----
    jobs : In(stream of StreamWord)
        Job frames from the host. Not ready while no slot is free at a frame's first word, and for
        five cycles per frame (three waiting for the context, the check and the commit).
    ctx_addr, ctx_en : Out
        Read requests to the context memory: the conn id of every word offered while the
        intake waits for a frame's first word (a register), so the last is the frame's.
    ctx, ctx_in_range : In
        The context read back four cycles later (:data:`hdl.context_memory.READ_LATENCY`), and
        whether the conn id was within range; both hold until the next read's data.
    free : In(slots)
        Bitmap of free job slots; the intake takes the lowest one that was free in the previous
        cycle (a register: a slot freed in one cycle can be taken from the next one on). A taken
        slot must leave the bitmap the cycle after ``alloc``.
    alloc : Out(1)
        A register: pulses the cycle after the intake took slot ``alloc_slot`` (with a frame's
        first word).
    alloc_slot : Out(slot_bits)
    wr_en, wr_addr, wr_data : Out
        Writes of data words into the input buffer: ``wr_addr`` is ``slot * slot_words + index``.
    commit : Out(1)
        Pulses once per frame, after its ``last`` word, with ``record`` valid.
    record : Out(job_record_layout(slot_bits))
        The frame being parsed; valid at ``commit`` and ``early``, and held until the second edge
        after ``commit`` (then the intake, waiting for a first word, takes whatever is offered).
    early : Out(1)
        Pulses when a ciphering job that passed its header checks delivers its IV: its cipher may
        start before the frame is complete (cut-through). ``record`` holds the header and context
        (its ``iv`` not yet: ``early_iv`` has it). The job may still end with ``BAD_LENGTH``.
    early_iv : Out(64)
    fill_active, fill_slot, fill_words : Out
        While ``fill_active``, the job in ``fill_slot`` is arriving and only its first
        ``fill_words`` data words are in the input buffer.

    Timing: every decision is taken from registers. The first header word's cycle registers
    ``ceil(auth_len / 8)``; the second's registers the length facts; the context checks are
    registered every cycle from the context memory's output (it holds the context read at the
    first word; LOOKUP cycles after the second word give the read time to arrive); the CHECK
    cycle only ranks these facts. In the body, the phase (IV, data, ICV), the data words left
    and whether the next word is the final one are registers.
    """

    def __init__(self, slots: int, slot_words: int) -> None:
        self.slots = slots
        self.slot_words = slot_words
        self.slot_bits = max(1, (slots - 1).bit_length())
        self.idx_bits = max(1, (slot_words - 1).bit_length())
        if slot_words != 1 << self.idx_bits:
            raise ValueError("slot_words must be a power of two")
        super().__init__(
            {
                "jobs": In(stream.Signature(StreamWord)),
                "ctx_addr": Out(16),
                "ctx_en": Out(1),
                "ctx": In(SAContext),
                "ctx_in_range": In(1),
                "free": In(slots),
                "alloc": Out(1),
                "alloc_slot": Out(self.slot_bits),
                "wr_en": Out(1),
                "wr_addr": Out(self.slot_bits + self.idx_bits),
                "wr_data": Out(64),
                "commit": Out(1),
                "record": Out(job_record_layout(self.slot_bits)),
                "early": Out(1),
                "early_iv": Out(64),
                "fill_active": Out(1),
                "fill_slot": Out(self.slot_bits),
                "fill_words": Out(self.idx_bits + 1),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        rec = self.record
        ib = self.idx_bits
        m.d.comb += self.fill_slot.eq(rec.slot)
        # The write's address and data are driven in every state (`wr_en` says when they
        # count): as values of the DATA state only, yosys built them as registers cleared by a
        # decode of this FSM's state, whose clear reached all 64 of the input buffer's data
        # registers by their RAMs (the whole engine's critical path at 9a38c88: 13.4 ns of
        # routing).
        m.d.comb += [
            self.wr_addr.eq(Cat(self.fill_words[: self.idx_bits], rec.slot)),
            self.wr_data.eq(self.jobs.payload.data),
        ]
        word = self.jobs.payload
        hdr0 = JobHeader(Cat(word.data, C(0, 64)))  # word 0 carries bits 63..0 of the header
        hdr1_cipher_len = word.data[:16]

        # The lowest free slot, registered. `alloc` is a register too (the reduced engine's
        # critical path at 56f0f73, seed 1: a frame's acceptance -> the scheduler's `free`, 8.8 ns
        # of routing), so `free` loses a taken slot two edges after the frame's first word;
        # `taken` covers the slot in between. The next frame's first word comes two cycles later
        # at the earliest, when `lowest` has seen both (a freed slot shows a cycle late).
        any_free = Signal(init=1)  # (the scheduler's `free` starts all ones)
        lowest = Signal(self.slot_bits)
        lowest_oh = Signal(self.slots)  # `lowest` a cycle ago, one-hot: the slot taken if `alloc`
        taken = Signal(self.slots)
        m.d.comb += taken.eq(Mux(self.alloc, lowest_oh, 0))
        found, index = lowest_set(self.free & ~taken, self.slot_bits)
        m.d.sync += [lowest.eq(index), any_free.eq(found)]

        accept = Signal()
        m.d.comb += accept.eq(self.jobs.valid & self.jobs.ready)
        m.d.sync += self.alloc.eq(0)
        # In HDR0 every offered word's conn id is read (the last read, the accepted word's, is
        # the one that stays on `ctx`), and the read's enable is a register, high exactly in
        # HDR0: the context memory lies in the RAM rows, and its enable was the reduced
        # engine's critical path at 510e159 (seed 1: the state's decode, then 8.8 ns of routing).
        waiting = Signal(init=1)
        with m.If(accept & waiting):
            m.d.sync += waiting.eq(0)
        m.d.comb += self.ctx_en.eq(waiting)

        op = rec.op
        op_cipher, op_auth, op_in = op[0], op[1], op[2]
        verifies = op_auth & op_in
        ctx = self.ctx
        # The record's context is the context memory's output register itself, which holds the
        # frame's context from the CHECK cycle until READ_LATENCY cycles after the next frame's
        # reads begin (a copy here cost 390 flip-flops whose enable, a decode of this FSM's
        # state, was the whole engine's critical path at 9c37977: 12.2 ns of routing).
        m.d.comb += rec.ctx.eq(ctx)

        # Facts about the frame, each a register, so that the CHECK cycle only ranks them.
        ended = Signal()  # `last` already seen on a header word
        auth_words = Signal(14)  # ceil(auth_len / 8), from the first header word
        auth_ragged = Signal()  # auth_len is not a multiple of 8
        data_words = Signal(ib + 1)  # ceil(auth_len / 8) + cipher_len / 8 (when the lengths pass)
        no_data = Signal()  # data_words == 0
        one_data = Signal()  # data_words == 1
        len_bad = Signal()  # a length check failed
        cipher_some = Signal()  # cipher_len != 0
        # The context read issued with the first header word is on `ctx` READ_LATENCY cycles
        # later and stays there; these follow it every cycle and are valid from the CHECK cycle
        # on (the first word, the second, the LOOKUP cycles, then CHECK).
        bad_conn = Signal()
        bad_op = Signal()
        op_known = Signal()
        m.d.comb += op_known.eq(0)
        for v in _VALID_OPS:
            with m.If(op == v):
                m.d.comb += op_known.eq(1)
        has_cipher = ctx.cipher != Cipher.NONE
        has_auth = ctx.auth != Auth.NONE
        m.d.sync += [
            bad_conn.eq(~self.ctx_in_range | ~ctx.valid),
            bad_op.eq(~op_known | (op_in != ctx.inbound) | (op_cipher != has_cipher) | (op_auth != has_auth)),
        ]

        # Body sequencing: which word comes next and whether it is the final one the lengths call for.
        data_left = Signal(ib + 1)  # data words still to come
        data_one = Signal()  # data_left == 1
        final = Signal()  # the next body word is the frame's final word

        # `commit` is a register, high in the COMMIT cycle: it is set with every transition there,
        # so the scheduler and the emitter see a flip-flop, not a decode of this FSM's state (the
        # reduced engine's critical path at 66f6698, seed 1: the decode -> the scheduler's
        # request bits, 9.6 ns of routing).
        m.d.sync += self.commit.eq(0)

        def to_commit():
            m.d.sync += [self.commit.eq(1), icv_sel.eq(0)]
            m.next = "COMMIT"

        def body_word():
            """The end of the frame: ``last`` on a word other than the final one, or a final
            word without ``last``, is ``BAD_LENGTH`` (the rest is drained)."""
            with m.If(word.last):
                with m.If(~final):
                    m.d.sync += rec.status.eq(Status.BAD_LENGTH)
                to_commit()
            with m.Elif(final):
                m.d.sync += [rec.status.eq(Status.BAD_LENGTH), icv_sel.eq(0)]
                m.next = "DRAIN"

        def to_icv():
            m.d.sync += [icv_sel.eq(1), final.eq(ICV_WORDS == 1)]
            m.next = "ICV"

        # The header's fields are taken from every word offered in HDR0 (while `waiting`), so
        # that the acceptance (the job stream's handshake) enables few registers: a word not
        # accepted is overwritten by the next, and the first word accepted stays, as the state
        # moves on (the reduced engine's path at c55d707, seed 1: the handshake's fanout, 8.7 ns
        # of routing). The IV and the ICV words load likewise under register flags (`in_iv`,
        # `icv_sel`), from every word offered in their phase, not on the handshake nor a decode
        # of the state.
        in_iv = Signal()  # in IV
        icv_sel = Signal(ICV_WORDS)  # in ICV: one-hot, the ICV word that comes next
        with m.If(waiting):
            m.d.sync += [
                self.alloc_slot.eq(lowest),
                lowest_oh.eq(C(1, self.slots) << lowest),
                rec.slot.eq(lowest),
                rec.op.eq(hdr0.op),
                rec.conn_id.eq(hdr0.conn_id),
                rec.tag.eq(hdr0.tag),
                rec.auth_len.eq(hdr0.auth_len),
                rec.cipher_len.eq(0),
                rec.iv.eq(0),
                rec.icv.eq(0),
                auth_words.eq((hdr0.auth_len + 7) >> 3),
                auth_ragged.eq(hdr0.auth_len[:3] != 0),
                self.fill_words.eq(0),
            ]
        with m.If(in_iv):
            m.d.sync += rec.iv.eq(word.data)
        for i in range(ICV_WORDS):
            with m.If(icv_sel[i]):
                m.d.sync += rec.icv.word_select(ICV_WORDS - 1 - i, 64).eq(word.data)

        with m.FSM(name="intake"):
            with m.State("HDR0"):
                m.d.comb += [
                    self.jobs.ready.eq(any_free),
                    self.ctx_addr.eq(hdr0.conn_id),
                ]
                with m.If(accept):
                    m.d.sync += self.alloc.eq(1)
                    with m.If(word.last):
                        m.d.sync += rec.status.eq(Status.BAD_LENGTH)
                        to_commit()
                    with m.Else():
                        m.next = "HDR1"
            with m.State("HDR1"):
                m.d.comb += self.jobs.ready.eq(1)
                # exact whenever cipher_len is a multiple of 8, as it must be to pass
                words = Signal(15)
                m.d.comb += words.eq(auth_words + hdr1_cipher_len[3:])
                with m.If(accept):
                    m.d.sync += [
                        rec.cipher_len.eq(hdr1_cipher_len),
                        ended.eq(word.last),
                        data_words.eq(words),
                        no_data.eq(words == 0),
                        one_data.eq(words == 1),
                        cipher_some.eq(hdr1_cipher_len != 0),
                        len_bad.eq(
                            (hdr1_cipher_len[:3] != 0)
                            | (op_cipher & auth_ragged)
                            | (~op_cipher & (hdr1_cipher_len != 0))
                            | (words > self.slot_words)
                        ),
                    ]
                    m.next = "LOOKUP0"
            # the context read at the first word arrives READ_LATENCY cycles later: wait for it
            lookups = [f"LOOKUP{i}" for i in range(CONTEXT_READ_LATENCY - 1)] + ["CHECK"]
            for state, after in zip(lookups, lookups[1:], strict=False):
                with m.State(state):
                    m.next = after
            with m.State("CHECK"):
                # Status precedence over registered facts; the context as read at the first word.
                nothing = ~op_cipher & no_data & ~verifies  # the lengths call for no body word
                m.d.sync += [data_left.eq(data_words), data_one.eq(one_data)]
                hdr_bad = Signal()
                m.d.comb += hdr_bad.eq(bad_conn | bad_op | len_bad)
                with m.If(bad_conn):
                    m.d.sync += rec.status.eq(Status.BAD_CONN)
                with m.Elif(bad_op):
                    m.d.sync += rec.status.eq(Status.BAD_OP)
                with m.Elif(hdr_bad | (ended & ~nothing) | (~ended & nothing)):
                    m.d.sync += rec.status.eq(Status.BAD_LENGTH)
                with m.Else():
                    m.d.sync += rec.status.eq(Status.OK)
                with m.If(ended):
                    to_commit()
                with m.Elif(hdr_bad | nothing):
                    m.next = "DRAIN"
                with m.Elif(op_cipher):
                    m.d.sync += [final.eq(no_data & ~verifies), in_iv.eq(1)]
                    m.next = "IV"
                with m.Elif(~no_data):
                    m.d.sync += final.eq(one_data & ~verifies)
                    m.next = "DATA"
                with m.Else():
                    to_icv()
            with m.State("IV"):
                m.d.comb += [
                    self.jobs.ready.eq(1),
                    self.fill_active.eq(1),
                    self.early.eq(accept & cipher_some),
                    self.early_iv.eq(word.data),
                ]
                with m.If(accept):
                    m.d.sync += in_iv.eq(0)
                    with m.If(data_left != 0):
                        m.d.sync += final.eq(data_one & ~verifies)
                        m.next = "DATA"
                    with m.Else():
                        to_icv()
                    body_word()
            with m.State("DATA"):
                m.d.comb += [
                    self.jobs.ready.eq(1),
                    self.fill_active.eq(1),
                    self.wr_en.eq(accept),
                ]
                with m.If(accept):
                    m.d.sync += [
                        self.fill_words.eq(self.fill_words + 1),
                        data_left.eq(data_left - 1),
                        data_one.eq(data_left == 2),
                        final.eq((data_left == 2) & ~verifies),
                    ]
                    with m.If(data_one):
                        to_icv()
                    body_word()
            with m.State("ICV"):
                m.d.comb += [self.jobs.ready.eq(1), self.fill_active.eq(1)]
                with m.If(accept):
                    m.d.sync += [
                        icv_sel.eq(icv_sel << 1),
                        # the word after this one is the last ICV word
                        final.eq(icv_sel[ICV_WORDS - 2] if ICV_WORDS > 1 else 0),
                    ]
                    body_word()
            with m.State("DRAIN"):
                m.d.comb += self.jobs.ready.eq(1)
                with m.If(accept & word.last):
                    to_commit()
            with m.State("COMMIT"):
                m.d.sync += waiting.eq(1)
                m.next = "HDR0"
        return m
