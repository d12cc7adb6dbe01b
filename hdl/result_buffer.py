"""Result framing: sends each finished job as one result frame and frees its slot.

A frame is a :data:`~hdl.layouts.ResultHeader` word, the job's output words (the ciphered
region, read from the output buffer; only for ciphering jobs whose status is OK) and the two
ICV words (outbound authenticating jobs whose status is OK). Failed jobs, including verifies
whose ICV did not match, send the header alone: unauthenticated plaintext never leaves.
Finished slots are sent in round-robin order, so results may leave out of job order.

Timing: a frame starts in four register stages: a round robin over the finished slots loads a
one-hot grant; the grant's slot number addresses the slot's record, first-word index and ICV
(and ``take`` goes out); the frame's header and counters are loaded; then one word per cycle is
issued while the output FIFO has room (a data word reaches the FIFO
:data:`~hdl.crypto_ports.READ_LATENCY` cycles after its output-buffer read, the others with it).
The room is a registered count of the words in flight and in the FIFO, the data words are
counted down with their last-word flag kept in a register, and ``release`` is registered (the
slot is freed the cycle after its last word was issued; the RAM reads of its words, a cycle or
two behind, finish long before a new job's output can reach the slot).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .crypto_ports import READ_LATENCY
from .job_intake import job_record_layout
from .layouts import ICV_WORDS, ResultHeader, Status, StreamWord
from .pipeline import delayed
from .priority import RoundRobin

__all__ = ["ResultEmitter"]

_KIND_HDR, _KIND_DATA, _KIND_ICV0, _KIND_ICV1 = range(4)


class ResultEmitter(wiring.Component):
    """Builds result frames from finished slots.

    Ports
    -----
    commit, record : In
        The intake's record of each job (kept per slot for the result header).
    finished, icv_bad : In(slots)
        Slots ready to send; slots whose ICV check failed.
    take, take_slot : Out
        Pulses when the emitter starts a slot's frame (the cycle after it chose the slot).
    release, release_slot : Out
        Pulses the cycle after the slot's last word was issued: the slot may be reused.
    icv_rd_en, icv_rd_slot : Out / icv_rd_data : In
        Read of the slot's generated ICV.
    out_rd_addr : Out / out_rd_data : In
        Reads of the output buffer (every cycle); the word is on ``out_rd_data``
        :data:`~hdl.crypto_ports.READ_LATENCY` cycles after its address.
    results : Out(stream of StreamWord)
        Result frames to the host; any back-pressure is honoured word by word.
    """

    FIFO_DEPTH = READ_LATENCY + 3
    """Words issued and not yet sent: the read's stages, the FIFO's, and one of slack, so that
    an unstalled frame leaves at one word per cycle."""

    def __init__(self, slots: int, slot_words: int) -> None:
        self.slots = slots
        self.slot_bits = max(1, (slots - 1).bit_length())
        self.idx_bits = (slot_words - 1).bit_length()
        sb, ib = self.slot_bits, self.idx_bits
        super().__init__(
            {
                "commit": In(1),
                "record": In(job_record_layout(sb)),
                "finished": In(slots),
                "icv_bad": In(slots),
                "take": Out(1),
                "take_slot": Out(sb),
                "release": Out(1),
                "release_slot": Out(sb),
                "icv_rd_en": Out(1),
                "icv_rd_slot": Out(sb),
                "icv_rd_data": In(64 * ICV_WORDS),
                "out_rd_addr": Out(sb + ib),
                "out_rd_data": In(64),
                "results": Out(stream.Signature(StreamWord)),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        ib = self.idx_bits
        r = self.record
        info_layout = data.StructLayout(
            {
                "tag": 16,
                "conn_id": 16,
                "status": Status,
                "op": 4,
                "cipher_len": 16,
            }
        )
        m.submodules.info_mem = info_mem = Memory(shape=info_layout, depth=self.slots, init=[])
        iw = info_mem.write_port()
        m.d.comb += [
            iw.en.eq(self.commit),
            iw.addr.eq(r.slot),
            iw.data.tag.eq(r.tag),
            iw.data.conn_id.eq(r.conn_id),
            iw.data.status.eq(r.status),
            iw.data.op.eq(r.op),
            iw.data.cipher_len.eq(r.cipher_len),
        ]
        first_mem = Memory(shape=ib, depth=self.slots, init=[])
        m.submodules.first_mem = first_mem
        fw = first_mem.write_port()
        m.d.comb += [fw.en.eq(self.commit), fw.addr.eq(r.slot), fw.data.eq(r.auth_len[3:])]
        ir = info_mem.read_port()
        fr = first_mem.read_port()

        m.submodules.fifo = fifo = SyncFIFO(width=StreamWord.size, depth=self.FIFO_DEPTH)
        m.d.comb += [
            self.results.valid.eq(fifo.r_rdy),
            self.results.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.results.ready),
        ]

        m.submodules.rr = rr = RoundRobin(self.slots)
        m.d.comb += rr.requests.eq(self.finished)

        grant = Signal(self.slots)  # one-hot: the slot chosen
        grant_slot = Signal(self.slot_bits)  # the same, as a number (a register: it addresses RAMs)
        slot = Signal(self.slot_bits)
        bad = Signal()
        header = Signal(ResultHeader)
        icv = Signal(64 * ICV_WORDS)
        has_data = Signal()
        has_icv = Signal()
        left = Signal(ib + 1)  # data words still to issue
        data_last = Signal()  # left == 1
        idx = Signal(ib)  # index of the next data word in the slot
        phase = Signal(range(4))

        # Issue stage -> (READ_LATENCY cycles, output-buffer read) -> FIFO write. A header or
        # ICV word is chosen at the issue and travels beside the read. ``queued`` counts the
        # words issued and not yet read out of the FIFO (in flight plus in the FIFO).
        queued = Signal(range(self.FIFO_DEPTH + 1))
        issue = Signal()
        i_kind = Signal(range(4))
        i_last = Signal()
        i_word = Signal(64)
        popped = Signal()
        m.d.comb += popped.eq(fifo.r_en & fifo.r_rdy)
        m.d.sync += queued.eq(queued + issue - popped)
        with m.Switch(i_kind):
            with m.Case(_KIND_HDR):
                m.d.comb += i_word.eq(header.as_value())
            with m.Case(_KIND_ICV0):
                m.d.comb += i_word.eq(icv[64:])
            with m.Case(_KIND_ICV1):
                m.d.comb += i_word.eq(icv[:64])
        w_valid = delayed(m, issue, READ_LATENCY, "w_valid")
        w_from_buf = delayed(m, i_kind == _KIND_DATA, READ_LATENCY, "w_from_buf")  # a data word
        w_last = delayed(m, i_last, READ_LATENCY, "w_last")
        w_word = delayed(m, i_word, READ_LATENCY, "w_word")
        wpay = Signal(StreamWord)
        m.d.comb += [
            wpay.data.eq(Mux(w_from_buf, self.out_rd_data, w_word)),
            wpay.last.eq(w_last),
            fifo.w_data.eq(wpay),
            fifo.w_en.eq(w_valid),
        ]

        release = Signal()
        m.d.sync += release.eq(0)
        m.d.comb += [
            self.release.eq(release),
            self.release_slot.eq(slot),
            # enables are 1 unless driven: set in TAKE only, so the data hold until LOAD
            ir.en.eq(0),
            fr.en.eq(0),
            ir.addr.eq(grant_slot),
            fr.addr.eq(grant_slot),
            self.icv_rd_slot.eq(grant_slot),
            self.take_slot.eq(grant_slot),
            self.out_rd_addr.eq(Cat(idx, slot)),
        ]

        with m.FSM(name="emit"):
            with m.State("IDLE"):
                with m.If(rr.valid):
                    m.d.comb += rr.advance.eq(1)
                    m.d.sync += [grant.eq(rr.grant_onehot), grant_slot.eq(rr.grant)]
                    m.next = "TAKE"
            with m.State("TAKE"):
                m.d.comb += [ir.en.eq(1), fr.en.eq(1), self.icv_rd_en.eq(1), self.take.eq(1)]
                # a finished slot's ICV check is already decided
                m.d.sync += [slot.eq(grant_slot), bad.eq((self.icv_bad & grant).any())]
                m.next = "LOAD"
            with m.State("LOAD"):
                info = ir.data
                status = Signal(Status)
                m.d.comb += status.eq(info.status)
                with m.If(bad):
                    m.d.comb += status.eq(Status.ICV_MISMATCH)
                ok = status == Status.OK
                op_cipher, op_auth, op_in = info.op[0], info.op[1], info.op[2]
                gen_icv = ok & op_auth & ~op_in
                with_data = ok & op_cipher
                words = info.cipher_len[3:]
                m.d.sync += [
                    header.tag.eq(info.tag),
                    header.status.eq(status),
                    header.has_icv.eq(gen_icv),
                    header.conn_id.eq(info.conn_id),
                    header.data_len.eq(0),
                    has_icv.eq(gen_icv),
                    has_data.eq(0),
                    left.eq(0),
                    data_last.eq(0),
                    icv.eq(self.icv_rd_data),
                    idx.eq(fr.data),
                    phase.eq(_KIND_HDR),
                ]
                with m.If(with_data):
                    m.d.sync += [
                        header.data_len.eq(info.cipher_len),
                        has_data.eq(words != 0),
                        left.eq(words),
                        data_last.eq(words == 1),
                    ]
                m.next = "SEND"
            with m.State("SEND"):
                with m.If(queued < self.FIFO_DEPTH):
                    m.d.comb += [issue.eq(1), i_kind.eq(phase)]
                    with m.Switch(phase):
                        with m.Case(_KIND_HDR):
                            m.d.comb += i_last.eq(~has_data & ~has_icv)
                            with m.If(has_data):
                                m.d.sync += phase.eq(_KIND_DATA)
                            with m.Else():
                                m.d.sync += phase.eq(_KIND_ICV0)
                        with m.Case(_KIND_DATA):
                            m.d.comb += i_last.eq(data_last & ~has_icv)
                            m.d.sync += [idx.eq(idx + 1), left.eq(left - 1), data_last.eq(left == 2)]
                            with m.If(data_last):
                                m.d.sync += phase.eq(_KIND_ICV0)
                        with m.Case(_KIND_ICV0):
                            m.d.sync += phase.eq(_KIND_ICV1)
                        with m.Case(_KIND_ICV1):
                            m.d.comb += i_last.eq(1)
                    with m.If(i_last):
                        m.d.sync += release.eq(1)
                        m.next = "IDLE"
        return m
