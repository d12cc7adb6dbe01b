"""Job-slot scheduling: which slots are free, in work, or finished, and starting their work.

Every job the intake commits sits in a slot until its result has been sent. A slot whose job is
OK needs the cipher (ciphering ops with data), the hash (authenticating ops), or both; an
outbound ESP job starts its hash only when its ciphertext is complete (encrypt-then-MAC), an
inbound one runs both at once (MAC-and-decrypt). A slot is *finished* when it needs nothing
more; the result emitter then sends it and frees it.

Timing: the state is one bit per slot and flag, and every event (alloc, commit, early start,
take, release, cipher done, hash done) reaches a slot's bits through a decoder of a registered
slot number (or a one-hot register), so each flag's next value is a few LUTs of that slot's own
bits; nothing selects one slot's bit out of 32 on the way to the next state. ``finished`` is a
register (computed from the next state). The intake's ``early`` pulse is registered here first
(it comes from the intake's input handshake). A unit's start is four register stages: a round
robin over the registered pending vector loads a one-hot grant; the grant's slot number
addresses the work descriptions in block RAM (and clears the pending bit); the RAM's word is
registered, then loaded into the offer. The next grant waits beside the offer, so an offer can
follow every third cycle. A hash result is compared over four stages before the slot's hash is
marked done:
the expected ICV is read, registered, each 32-bit word's difference is registered, the words
that count are combined.
"""

from __future__ import annotations

from amaranth.hdl import C, Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .block_ram import BlockRAM
from .crypto_ports import cipher_start_layout, hash_start_layout
from .job_intake import job_record_layout
from .layouts import ICV_WORDS, Auth, Status
from .priority import RoundRobin

__all__ = ["SlotScheduler"]


class SlotScheduler(wiring.Component):
    """Tracks the state of every slot and starts cipher and hash work.

    Ports
    -----
    alloc, alloc_slot : In
        The intake took a free slot (its ``free`` bit falls at the next clock edge).
    commit, record : In
        The intake finished parsing the job in ``record.slot``.
    early, early_iv : In
        The intake lets the job in ``record.slot`` start its cipher now, with this IV (see
        :class:`~hdl.job_intake.JobIntake`). Registered here: the job's description is written a
        cycle later from ``record``, which must still hold that job's header and context then (the
        intake changes them only while it waits for a frame's first word, after the commit).
    free : Out(slots)
        Free slots.
    finished : Out(slots)
        Slots whose job is complete and not yet taken by the emitter (a register).
    icv_bad : Out(slots)
        Slots whose verifying job computed an ICV different from the expected one.
    take, take_slot : In
        The emitter took a finished slot; ``release, release_slot``: it sent the last word.
    cipher_start / hash_start : Out(stream)
        Work for the cipher and hash units (a slot's work is offered from the fifth cycle after
        it became pending; every third cycle while slots are pending).
    cipher_done, cipher_done_slot : In
        The cipher finished the job in a slot.
    hash_done, hash_done_slot, hash_done_icv : In
        The hash finished the job in a slot with this ICV.
    icv_rd_slot : In / icv_rd_data : Out
        Read of a slot's generated ICV, valid the cycle after ``icv_rd_en``; a slot's ICV is
        stored before the slot is finished.
    busy : Out(1)
        Some slot holds a job.
    """

    def __init__(self, slots: int, slot_words: int) -> None:
        self.slots = slots
        self.slot_words = slot_words
        self.slot_bits = max(1, (slots - 1).bit_length())
        self.idx_bits = (slot_words - 1).bit_length()
        sb, ib = self.slot_bits, self.idx_bits
        super().__init__(
            {
                "alloc": In(1),
                "alloc_slot": In(sb),
                "commit": In(1),
                "record": In(job_record_layout(sb)),
                "early": In(1),
                "early_iv": In(64),
                "free": Out(slots, init=(1 << slots) - 1),
                "finished": Out(slots),
                "icv_bad": Out(slots),
                "take": In(1),
                "take_slot": In(sb),
                "release": In(1),
                "release_slot": In(sb),
                "cipher_start": Out(stream.Signature(cipher_start_layout(sb, ib))),
                "hash_start": Out(stream.Signature(hash_start_layout(sb, ib))),
                "cipher_done": In(1),
                "cipher_done_slot": In(sb),
                "hash_done": In(1),
                "hash_done_slot": In(sb),
                "hash_done_icv": In(64 * ICV_WORDS),
                "icv_rd_en": In(1),
                "icv_rd_slot": In(sb),
                "icv_rd_data": Out(64 * ICV_WORDS),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        n, sb, ib = self.slots, self.slot_bits, self.idx_bits
        r = self.record
        cs_layout = cipher_start_layout(sb, ib)
        hs_layout = hash_start_layout(sb, ib)

        committed = Signal(n)
        need_cipher = Signal(n)
        need_hash = Signal(n)
        cipher_pending = Signal(n)
        hash_pending = Signal(n)
        hash_after = Signal(n)  # (outbound ESP) the hash waits for the cipher's end
        early_started = Signal(n)
        verify = Signal(n)
        icv_full = Signal(n)

        m.d.comb += self.busy.eq(~self.free.all())

        # The intake's early start, registered (with its slot and IV).
        early = Signal()
        early_slot = Signal(sb)
        early_iv = Signal(64)
        m.d.sync += [early.eq(self.early), early_slot.eq(r.slot), early_iv.eq(self.early_iv)]

        # Per-slot work descriptions, written at the (registered) early start and at commit. They
        # and the expected ICVs are in block RAM (as distributed RAM they took 314 RAM cells, some
        # 2,000 of the logic sites an ECP5-85F has). The generated ICVs stay in distributed RAM:
        # the emitter reads them with one cycle of latency.
        # All three are BlockRAMs (:mod:`hdl.block_ram`): on ECP5 the first register after each
        # is the RAM's own output register, and none has yosys's read-during-write multiplexer
        # after its slow output (the reduced engine's critical path at 78e4121, and at cb15b2a
        # for the cipher's). A slot's hash description and expected ICV are written at its
        # commit and read only after it (the hash is pending from the commit on), so no read
        # meets a write to its address. A cipher description can be read at the edge of the
        # commit's write after an early start's: its RAM is `transparent` (the commit's word is
        # then read; it is the early start's word again, from the same record). Its write is
        # registered before the RAM (the reduced engine's critical path at 601a235, seed 1: the
        # early start's register -> the write address's choice -> the RAM, 9.5 ns of routing).
        m.submodules.cipher_mem = cipher_mem = BlockRAM(
            width=cs_layout.size, depth=max(2, n), readers=1, transparent=True, registered_write=True
        )
        m.submodules.hash_mem = hash_mem = BlockRAM(width=hs_layout.size, depth=max(2, n), readers=1)
        m.submodules.icv_exp_mem = icv_exp_mem = BlockRAM(width=64 * ICV_WORDS, depth=max(2, n), readers=1)
        m.submodules.icv_gen_mem = icv_gen_mem = Memory(shape=64 * ICV_WORDS, depth=n, init=[])

        op_cipher, op_auth, op_in = r.op[0], r.op[1], r.op[2]
        ok = r.status == Status.OK
        ciph = Signal()
        auth = Signal()
        esp_out = Signal()
        m.d.comb += [
            ciph.eq(ok & op_cipher & (r.cipher_len != 0)),
            auth.eq(ok & op_auth),
            esp_out.eq(op_cipher & op_auth & ~op_in),
        ]
        c_data = Signal(cs_layout)  # the cipher description written at early start or commit
        h_data = Signal(hs_layout)  # the hash description written at commit
        m.d.comb += [
            cipher_mem.w_en.eq(self.commit | early),
            cipher_mem.w_addr.eq(Mux(early, early_slot, r.slot)),
            cipher_mem.w_data.eq(c_data),
            hash_mem.w_en.eq(self.commit),
            hash_mem.w_addr.eq(r.slot),
            hash_mem.w_data.eq(h_data),
            icv_exp_mem.w_en.eq(self.commit),
            icv_exp_mem.w_addr.eq(r.slot),
            icv_exp_mem.w_data.eq(r.icv),
            c_data.slot.eq(Mux(early, early_slot, r.slot)),
            c_data.key.eq(r.ctx.des_key),
            c_data.iv.eq(Mux(early, early_iv, r.iv)),
            c_data.decrypt.eq(op_in),
            c_data.first.eq(r.auth_len[3:]),
            c_data.blocks.eq(r.cipher_len[3:]),
            h_data.slot.eq(r.slot),
            h_data.auth.eq(r.ctx.auth),
            h_data.inner.eq(r.ctx.inner),
            h_data.outer.eq(r.ctx.outer),
            h_data.msg_bytes.eq(r.auth_len + r.cipher_len),
            h_data.split.eq(Mux(esp_out, r.auth_len[3:], 1 << ib)),
        ]

        # Events as one-hot slot masks, each decoded from a registered slot number (several
        # events may hit different slots in one cycle; the events of one slot never conflict).
        def onehot(en, idx, name):
            sig = Signal(n, name=name)
            m.d.comb += sig.eq(Mux(en, C(1, n) << idx, 0))
            return sig

        def rep(bit):
            return Mux(bit, C((1 << n) - 1, n), C(0, n))

        alloc_oh = onehot(self.alloc, self.alloc_slot, "alloc_oh")
        cm = onehot(self.commit, r.slot, "commit_oh")
        early_oh = onehot(early, early_slot, "early_oh")
        take_oh = onehot(self.take, self.take_slot, "take_oh")
        release_oh = onehot(self.release, self.release_slot, "release_oh")
        cdone_oh = onehot(self.cipher_done, self.cipher_done_slot, "cdone_oh")
        cpick_oh = Signal(n)
        hpick_oh = Signal(n)
        hdone_oh = Signal(n)  # registered: the hash's result was compared
        hdone_bad = Signal()

        # Cut-through: a ciphering job may start its cipher at its IV word (``early``), before
        # its commit; its commit then leaves the cipher bits alone. An outbound ESP job's hash
        # starts once both its commit and its cipher's end have happened, whichever is later.
        # Per slot: started early (before or in this cycle), cipher still running after this cycle.
        e_s = Signal(n)
        nc_now = Signal(n)
        m.d.comb += [
            e_s.eq(early_started | early_oh),
            nc_now.eq((need_cipher & ~cdone_oh) | early_oh),
        ]
        cm_plain = Signal(n)
        hash_wait = Signal(n)
        m.d.comb += [
            cm_plain.eq(cm & ~e_s),
            hash_wait.eq(rep(esp_out & ciph) & (~e_s | nc_now)),
        ]
        committed_next = Signal(n)
        need_cipher_next = Signal(n)
        need_hash_next = Signal(n)
        m.d.comb += [
            committed_next.eq((committed | cm) & ~take_oh),
            need_cipher_next.eq((need_cipher & ~cm_plain & ~cdone_oh) | (cm_plain & rep(ciph)) | early_oh),
            need_hash_next.eq((need_hash & ~cm & ~hdone_oh) | (cm & rep(auth))),
        ]
        m.d.sync += [
            self.free.eq((self.free & ~alloc_oh) | release_oh),
            committed.eq(committed_next),
            need_cipher.eq(need_cipher_next),
            need_hash.eq(need_hash_next),
            # a register equal to committed & ~need_cipher & ~need_hash at all times
            self.finished.eq(committed_next & ~need_cipher_next & ~need_hash_next),
            early_started.eq((early_started & ~release_oh) | early_oh),
            cipher_pending.eq((cipher_pending & ~cm_plain & ~cpick_oh) | (cm_plain & rep(ciph)) | early_oh),
            hash_pending.eq(
                (hash_pending & ~cm & ~hpick_oh)
                | (cm & rep(auth) & ~hash_wait)
                | (cdone_oh & hash_after & committed)
            ),
            hash_after.eq((hash_after & ~cm & ~early_oh) | (cm & rep(auth & esp_out & ciph))),
            verify.eq((verify & ~cm) | (cm & rep(op_auth & op_in))),
            icv_full.eq((icv_full & ~cm) | (cm & rep(r.ctx.auth == Auth.KEYED_MD5))),
            self.icv_bad.eq((self.icv_bad & ~cm) | (hdone_oh & rep(hdone_bad))),
        ]

        # Starting work: pick a pending slot into a one-hot register; read its description (and
        # clear its pending bit) when nothing is offered or the offer is being taken; the word
        # comes out of the RAM's output register a cycle later (the RAM reads every cycle: the
        # block RAM's 5.8 ns output and a route across the device to the offer's multiplexer
        # were the reduced engine's critical path at f9a638a), is loaded into the offer a cycle
        # after that and offered until taken. The next pick is made while the description
        # before it is offered.
        for name, pending, pick_oh, ram, port in (
            ("cipher", cipher_pending, cpick_oh, cipher_mem, self.cipher_start),
            ("hash", hash_pending, hpick_oh, hash_mem, self.hash_start),
        ):
            rr = RoundRobin(n)
            m.submodules[f"{name}_rr"] = rr
            grant = Signal(n, name=f"{name}_grant")
            grant_index = Signal(sb, name=f"{name}_grant_index")  # the same, as a number
            granted = Signal(name=f"{name}_granted")
            offering = Signal(name=f"{name}_offering")
            read = Signal(name=f"{name}_read")
            reading = Signal(name=f"{name}_reading")  # the RAM is reading the description
            landed = Signal(name=f"{name}_landed")  # ... and now it is in `word`
            word = Signal(port.payload.shape(), name=f"{name}_word")
            m.d.comb += [ram.r_addr[0].eq(grant_index), word.eq(ram.r_data[0])]
            offer = Signal.like(port.payload, name=f"{name}_offer")
            m.d.comb += [
                rr.requests.eq(pending),
                # (a read while the offer is taken: offering falls before the word lands)
                read.eq(granted & ~reading & ~landed & (~offering | port.ready)),
                pick_oh.eq(Mux(read, grant, 0)),
                port.payload.eq(offer),
                port.valid.eq(offering),
            ]
            m.d.sync += [reading.eq(read), landed.eq(reading)]
            with m.If(read):
                m.d.sync += granted.eq(0)
            with m.If(landed):
                m.d.sync += [offer.eq(word), offering.eq(1)]
            with m.Elif(port.ready):
                m.d.sync += offering.eq(0)
            with m.If(~granted & rr.valid):
                m.d.comb += rr.advance.eq(1)
                m.d.sync += [grant.eq(rr.grant_onehot), grant_index.eq(rr.grant), granted.eq(1)]

        # Hash done: register it and read the expected ICV (stage c); register the RAM's word
        # (stage d); compare each 32-bit word (stage e); combine the words that count and mark the
        # slot's hash done with the outcome. The generated ICV is stored at stage d.
        c_valid = Signal()
        c_slot = Signal.like(self.hash_done_slot)
        c_icv = Signal.like(self.hash_done_icv)
        c_verify, c_full = Signal(), Signal()
        m.d.comb += icv_exp_mem.r_addr[0].eq(self.hash_done_slot)
        m.d.sync += [
            c_valid.eq(self.hash_done),
            c_slot.eq(self.hash_done_slot),
            c_icv.eq(self.hash_done_icv),
            c_verify.eq(verify.bit_select(self.hash_done_slot, 1)),
            c_full.eq(icv_full.bit_select(self.hash_done_slot, 1)),
        ]
        d_valid, d_slot, d_icv, d_verify, d_full = (
            Signal.like(v) for v in (c_valid, c_slot, c_icv, c_verify, c_full)
        )
        d_expected = Signal(64 * ICV_WORDS)  # the RAM's output register
        m.d.comb += d_expected.eq(icv_exp_mem.r_data[0])
        m.d.sync += [
            d_valid.eq(c_valid),
            d_slot.eq(c_slot),
            d_icv.eq(c_icv),
            d_verify.eq(c_verify),
            d_full.eq(c_full),
        ]
        gw = icv_gen_mem.write_port()
        m.d.comb += [gw.en.eq(d_valid), gw.addr.eq(d_slot), gw.data.eq(d_icv)]
        e_valid, e_slot, e_verify, e_full = Signal(), Signal.like(d_slot), Signal(), Signal()
        e_differs = Signal(2 * ICV_WORDS)  # per 32-bit word, word 0 the rightmost
        m.d.sync += [
            e_valid.eq(d_valid),
            e_slot.eq(d_slot),
            e_verify.eq(d_verify),
            e_full.eq(d_full),
            e_differs.eq(
                Cat((d_icv.word_select(i, 32) != d_expected.word_select(i, 32)) for i in range(2 * ICV_WORDS))
            ),
        ]
        # HMAC-96 compares the first 96 bits (left-aligned), keyed MD5 all 128
        mismatch = e_differs[1:].any() | (e_full & e_differs[0])
        m.d.sync += [
            hdone_oh.eq(Mux(e_valid, C(1, n) << e_slot, 0)),
            hdone_bad.eq(e_verify & mismatch),
        ]
        grp = icv_gen_mem.read_port()
        m.d.comb += [grp.addr.eq(self.icv_rd_slot), grp.en.eq(self.icv_rd_en), self.icv_rd_data.eq(grp.data)]
        return m
