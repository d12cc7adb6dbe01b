"""Job-slot scheduling: which slots are free, in work, or finished, and starting their work.

Every job the intake commits sits in a slot until its result has been sent. A slot whose job is
OK needs the cipher (ciphering ops with data), the hash (authenticating ops), or both; an
outbound ESP job starts its hash only when its ciphertext is complete (encrypt-then-MAC), an
inbound one runs both at once (MAC-and-decrypt). A slot is *finished* when it needs nothing
more; the result emitter then sends it and frees it.
"""

from __future__ import annotations

from amaranth.hdl import C, Elaboratable, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

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
        The intake took a free slot.
    commit, record : In
        The intake finished parsing the job in ``record.slot``.
    early, early_iv : In
        The intake lets the job in ``record.slot`` start its cipher now, with this IV (see
        :class:`~hdl.job_intake.JobIntake`).
    free : Out(slots)
        Free slots.
    finished : Out(slots)
        Slots whose job is complete and not yet taken by the emitter.
    icv_bad : Out(slots)
        Slots whose verifying job computed an ICV different from the expected one.
    take, take_slot : In
        The emitter took a finished slot; ``release, release_slot``: it sent the last word.
    cipher_start / hash_start : Out(stream)
        Work for the cipher and hash units.
    cipher_done, cipher_done_slot : In
        The cipher finished the job in a slot.
    hash_done, hash_done_slot, hash_done_icv : In
        The hash finished the job in a slot with this ICV.
    icv_rd_slot : In / icv_rd_data : Out
        Read of a slot's generated ICV, valid the cycle after ``icv_rd_en``.
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
        n, ib = self.slots, self.idx_bits
        r = self.record
        cs_layout = cipher_start_layout(self.slot_bits, ib)
        hs_layout = hash_start_layout(self.slot_bits, ib)

        committed = Signal(n)
        need_cipher = Signal(n)
        need_hash = Signal(n)
        cipher_pending = Signal(n)
        hash_pending = Signal(n)
        hash_after = Signal(n)
        verify = Signal(n)
        icv_full = Signal(n)

        m.d.comb += [
            self.finished.eq(committed & ~need_cipher & ~need_hash),
            self.busy.eq(~self.free.all()),
        ]

        # Per-slot work descriptions, written at commit.
        m.submodules.cipher_mem = cipher_mem = Memory(shape=cs_layout, depth=n, init=[])
        m.submodules.hash_mem = hash_mem = Memory(shape=hs_layout, depth=n, init=[])
        m.submodules.icv_exp_mem = icv_exp_mem = Memory(shape=64 * ICV_WORDS, depth=n, init=[])
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
        cw = cipher_mem.write_port()
        hw = hash_mem.write_port()
        ew = icv_exp_mem.write_port()
        m.d.comb += [
            cw.en.eq(self.commit | self.early),
            cw.addr.eq(r.slot),
            cw.data.slot.eq(r.slot),
            cw.data.key.eq(r.ctx.des_key),
            cw.data.iv.eq(Mux(self.early, self.early_iv, r.iv)),
            cw.data.decrypt.eq(op_in),
            cw.data.first.eq(r.auth_len[3:]),
            cw.data.blocks.eq(r.cipher_len[3:]),
            hw.en.eq(self.commit),
            hw.addr.eq(r.slot),
            hw.data.slot.eq(r.slot),
            hw.data.auth.eq(r.ctx.auth),
            hw.data.inner.eq(r.ctx.inner),
            hw.data.outer.eq(r.ctx.outer),
            hw.data.msg_bytes.eq(r.auth_len + r.cipher_len),
            hw.data.split.eq(1 << ib),
            ew.en.eq(self.commit),
            ew.addr.eq(r.slot),
            ew.data.eq(r.icv),
        ]
        with m.If(esp_out):
            m.d.comb += hw.data.split.eq(r.auth_len[3:])

        # Slot bitmaps, updated from one-hot event masks (several events may hit different slots
        # in one cycle; the events of one slot never conflict).
        def onehot(en, idx, name):
            sig = Signal(n, name=name)
            m.d.comb += sig.eq(Mux(en, C(1, n) << idx, 0))
            return sig

        def rep(bit):
            return Mux(bit, C((1 << n) - 1, n), C(0, n))

        alloc_oh = onehot(self.alloc, self.alloc_slot, "alloc_oh")
        commit_oh = onehot(self.commit, r.slot, "commit_oh")
        take_oh = onehot(self.take, self.take_slot, "take_oh")
        release_oh = onehot(self.release, self.release_slot, "release_oh")
        cdone_oh = onehot(self.cipher_done, self.cipher_done_slot, "cdone_oh")
        cpick_oh = Signal(n)
        hpick_oh = Signal(n)
        hdone_oh = Signal(n)
        hdone_bad = Signal()
        cm = commit_oh
        # Cut-through: a ciphering job may start its cipher at its IV word (``early``), before
        # its commit; its commit then leaves the cipher bits alone. An outbound ESP job's hash
        # starts once both its commit and its cipher's end have happened, whichever is later.
        early_oh = onehot(self.early, r.slot, "early_oh")
        early_started = Signal(n)
        e_s = Signal()
        nc_now = Signal()
        m.d.comb += [
            e_s.eq(early_started.bit_select(r.slot, 1)),
            nc_now.eq((need_cipher & ~cdone_oh).bit_select(r.slot, 1)),
        ]
        cm_plain = cm & rep(~e_s)
        hash_wait = esp_out & ciph & Mux(e_s, nc_now, 1)
        m.d.sync += [
            self.free.eq((self.free & ~alloc_oh) | release_oh),
            committed.eq((committed | cm) & ~take_oh),
            early_started.eq((early_started & ~alloc_oh) | early_oh),
            need_cipher.eq((need_cipher & ~cm_plain & ~cdone_oh) | (cm_plain & rep(ciph)) | early_oh),
            cipher_pending.eq((cipher_pending & ~cm_plain & ~cpick_oh) | (cm_plain & rep(ciph)) | early_oh),
            need_hash.eq((need_hash & ~cm & ~hdone_oh) | (cm & rep(auth))),
            hash_pending.eq(
                (hash_pending & ~cm & ~hpick_oh)
                | (cm & rep(auth & ~hash_wait))
                | (cdone_oh & hash_after & committed)
            ),
            hash_after.eq((hash_after & ~cm & ~early_oh) | (cm & rep(auth & esp_out & ciph))),
            verify.eq((verify & ~cm) | (cm & rep(op_auth & op_in))),
            icv_full.eq((icv_full & ~cm) | (cm & rep(r.ctx.auth == Auth.KEYED_MD5))),
            self.icv_bad.eq((self.icv_bad & ~cm) | (hdone_oh & rep(hdone_bad))),
        ]

        # Starting work: pick a pending slot, read its description, offer it until taken.
        for name, pending, pick_oh, mem, port in (
            ("cipher", cipher_pending, cpick_oh, cipher_mem, self.cipher_start),
            ("hash", hash_pending, hpick_oh, hash_mem, self.hash_start),
        ):
            rr = RoundRobin(n)
            m.submodules[f"{name}_rr"] = rr
            rp = mem.read_port()
            offering = Signal(name=f"{name}_offering")
            m.d.comb += [
                rp.en.eq(0),  # a read port's enable is 1 unless driven: hold the data while offering
                rr.requests.eq(pending),
                port.payload.eq(rp.data),
                port.valid.eq(offering),
            ]
            with m.If(offering):
                with m.If(port.ready):
                    m.d.sync += offering.eq(0)
            with m.Else():
                with m.If(rr.valid):
                    m.d.comb += [rp.addr.eq(rr.grant), rp.en.eq(1), rr.advance.eq(1)]
                    m.d.comb += pick_oh.eq(C(1, n) << rr.grant)
                    m.d.sync += offering.eq(1)

        # Hash done: read the expected ICV, compare a cycle later, store the generated ICV.
        d_valid = Signal()
        d_slot = Signal.like(self.hash_done_slot)
        d_icv = Signal.like(self.hash_done_icv)
        erp = icv_exp_mem.read_port()
        m.d.comb += [erp.addr.eq(self.hash_done_slot), erp.en.eq(self.hash_done)]
        m.d.sync += [d_valid.eq(self.hash_done), d_slot.eq(self.hash_done_slot), d_icv.eq(self.hash_done_icv)]
        gw = icv_gen_mem.write_port()
        m.d.comb += [gw.en.eq(d_valid), gw.addr.eq(d_slot), gw.data.eq(d_icv)]
        mask96 = ((1 << 96) - 1) << 32
        diff = Signal(64 * ICV_WORDS)
        m.d.comb += diff.eq(d_icv ^ erp.data)
        mismatch = Signal()
        with m.If(icv_full.bit_select(d_slot, 1)):
            m.d.comb += mismatch.eq(diff.any())
        with m.Else():
            m.d.comb += mismatch.eq((diff & mask96).any())
        m.d.comb += [
            hdone_oh.eq(Mux(d_valid, C(1, n) << d_slot, 0)),
            hdone_bad.eq(verify.bit_select(d_slot, 1) & mismatch),
        ]
        grp = icv_gen_mem.read_port(transparent_for=(gw,))
        m.d.comb += [grp.addr.eq(self.icv_rd_slot), grp.en.eq(self.icv_rd_en), self.icv_rd_data.eq(grp.data)]
        return m
