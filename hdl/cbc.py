"""DES-CBC for many jobs at once: a chaining register per lane and a scheduler that keeps the DES
pipeline full.

CBC encryption is serial within a job (block n+1 needs ciphertext n), so one job can use only one
slot of the pipeline per trip round it. The unit interleaves jobs of different *lanes*: each cycle a
round-robin scheduler picks, among the lanes whose next block is buffered and whose chaining value is
ready, the one after the lane it picked last, as in Cisco US 7,162,034 (a queue per stream feeding a
feedback pipeline round-robin) and Sandia US 7,362,859 (an IV bank indexed by context). CBC
decryption has no such dependency: a decrypting lane issues a block every cycle its buffer holds one.

Datapath, one register stage per step::

    i ──► per-lane input buffers ──► pick ──────► fetch ─────────────► issue ──► DES pipeline ──┐
                                     round-robin  block, key, chain    xor chain  (16 cycles)    │
                                                  (or the ciphertext   (encrypt)                 │
                                                   leaving the DES) ◄────────────────────────────┤
    o ◄── output FIFO ◄── xor previous ciphertext (decrypt) ◄── chain := ciphertext (encrypt) ◄──┘

An encrypting lane is picked again the cycle before its ciphertext leaves the pipeline (a shift
register beside the pipeline tells), so its round trip is 17 cycles (pick, fetch, 16 cycles from issue to the
output, which is also the next block's fetch): 16 encrypting lanes fill 16/17 of the pipeline, 17 or
more fill it.

Back-pressure on ``o`` uses credits inside the unit: the scheduler issues a block only while the
blocks issued and not yet taken from ``o`` number fewer than ``out_depth``, the output FIFO's size.
The DES pipeline never stalls and no block is ever lost; a consumer may hold ``o.ready`` low for as
long as it likes.

Timing: each step starts from flip-flops or small RAMs. The pick's eligibility vector is a register
computed a cycle ahead (for both outcomes of the current pick, then one mux), so the pick path is
one carry chain (the round-robin search) and two LUT levels; the pick registers the chosen lane's
number, and fetch addresses distributed RAMs with it (keys, directions and IVs, the chaining
values, read pointers, and the input buffers' places, among which the read pointer picks).
ECP5-85F out of context, default parameters (``esa hdl synth --unit cbc --seed 1``, yosys
``synth_ecp5`` + nextpnr-ecp5, grade 6): 5,132 LUT4 + 2,882 FF + 181 RAM cells, 108.2 MHz, critical
path the pick into next cycle's eligibility; with the input buffer one memory addressed through
the read pointer (1eb3194), 5,145 LUT4 and 104.96 MHz, critical path the pick into ``meets_return``. Earlier:
with the chaining values in registers and the DES rotating its key registers in every round, 8.7k
LUT4 + 3.7k FF, 110.8 / 111.3 / 101.9 MHz (seeds 1-3); before the registered eligibility, 80.8 MHz.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .des import LATENCY, DESPipeline
from .pipeline import RegisterSlice
from .priority import onehot_select

__all__ = ["CBCUnit", "cbc_start_layout", "cbc_block_layout", "DEFAULT_LANES", "ROUND_TRIP", "lane_bits"]

ROUND_TRIP = LATENCY + 1
"""Cycles between two blocks of one encrypting lane: the pipeline fills with this many lanes."""

DEFAULT_LANES = max(16, LATENCY)
"""Lanes built when the ``lanes`` parameter is not given."""


def lane_bits(lanes: int) -> int:
    """Width of a lane number for ``lanes`` lanes (at least 1 bit)."""
    return max(1, (lanes - 1).bit_length())


def cbc_start_layout(lanes: int) -> data.StructLayout:
    """The payload of ``start``: begin a job on a lane.

    ``lane``: the lane (0 .. lanes-1). ``decrypt``: 1 to decrypt, 0 to encrypt. ``key``: the DES
    key, first key byte in bits 63..56, parity bits ignored. ``iv``: the initialisation vector, first
    byte in bits 63..56.
    """
    return data.StructLayout({"lane": lane_bits(lanes), "decrypt": 1, "key": 64, "iv": 64})


def cbc_block_layout(lanes: int) -> data.StructLayout:
    """The payload of ``i`` and ``o``: one 8-byte block (first byte in bits 63..56) of a lane's job."""
    return data.StructLayout({"lane": lane_bits(lanes), "data": 64})


class CBCUnit(wiring.Component):
    """DES-CBC encryption and decryption of up to ``lanes`` jobs in flight, one DES pipeline.

    Parameters
    ----------
    stages : int
        Round units of the DES pipeline (16, 8, 4, 2, 1); see :class:`hdl.des.DESPipeline`.
    lanes : int
        Jobs in flight, each with its own key, direction and chaining register. Default
        :data:`DEFAULT_LANES`.
    depth : int
        Blocks each lane's input buffer holds (a power of two, at least 2). Default 4.
    out_depth : int
        Blocks the output FIFO holds, which is also the credit limit: issued blocks not yet taken
        from ``o``. Keep it above ``ROUND_TRIP + 2`` for full rate. Default 32.

    Ports
    -----
    start : stream, in
        Begin a job on a lane (:func:`cbc_start_layout`): load its key, direction and IV. Accepted
        only once the lane's previous job has issued all its blocks to the DES pipeline (its buffer
        is empty and, for encryption, its last block has come back); its remaining results still come
        out on ``o`` in order, before the new job's. ``ready`` depends on the named lane's own
        blocks only: it is 1 for a lane from the cycle after its last result left on ``o`` until
        its next start. A start for a lane number >= ``lanes`` is accepted and ignored.
    i : stream, in
        The blocks of each lane's current job, in order (:func:`cbc_block_layout`). Send a job's
        blocks only after its ``start`` was accepted. ``ready`` is a register (a register slice
        takes the blocks first); a block waits there while its lane's buffer is full, holding up
        the blocks behind it. A block for a lane number >= ``lanes`` is accepted and dropped.
    o : stream, out
        Result blocks (:func:`cbc_block_layout`), tagged with their lane: ciphertext for an
        encrypting job, plaintext for a decrypting one. Blocks of one lane come out in order; blocks
        of different lanes interleave. Full ready/valid back-pressure; see the module docstring.

    A lane's job has no end marker: its results are complete when as many blocks came out on ``o``
    as went in on ``i``. The next ``start`` on the lane may follow at once.
    """

    def __init__(self, *, stages: int = 16, lanes: int | None = None, depth: int = 4, out_depth: int = 32):
        lanes = DEFAULT_LANES if lanes is None else lanes
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes!r}")
        if depth < 2 or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two >= 2, not {depth!r}")
        if out_depth < 2:
            raise ValueError(f"out_depth must be at least 2, not {out_depth!r}")
        self.stages = stages
        self.lanes = lanes
        self.depth = depth
        self.out_depth = out_depth
        self._des = DESPipeline(stages=stages, id_width=lane_bits(lanes) + 1)
        super().__init__(
            {
                "start": In(stream.Signature(cbc_start_layout(lanes))),
                "i": In(stream.Signature(cbc_block_layout(lanes))),
                "o": Out(stream.Signature(cbc_block_layout(lanes))),
            }
        )

    def elaborate(self, platform) -> Module:
        m = Module()
        n, depth = self.lanes, self.depth
        lbits = lane_bits(n)
        m.submodules.des = des = self._des

        # Per-lane state: direction, input-buffer pointers, "block in flight", "the next block is
        # the job's first" (it chains from the IV).
        decrypt = Signal(n)
        from_iv = Signal(n)
        count = Array(Signal(range(depth + 1), name=f"count{k}") for k in range(n))
        wptr = Array(Signal(range(depth), name=f"wptr{k}") for k in range(n))
        waiting = Signal(n)  # encrypting lane whose last block is not about to come back yet

        # Each lane's key, direction and IV, as fetch reads them: a small distributed RAM addressed
        # by the picked lane's number (compact, so the key reaches the DES's first round quickly).
        m.submodules.keys = keys = Memory(shape=129, depth=n, init=[], attrs={"ram_style": "distributed"})
        keys_w = keys.write_port()
        keys_r = keys.read_port(domain="comb")
        # Each lane's chaining value after its first block, in two distributed RAMs read by fetch:
        # one written as an encrypting lane's ciphertext leaves the DES, one as a decrypting lane's
        # ciphertext is issued (both may happen in one cycle). As 16 registers of 64 bits, each
        # loaded from three sources, they were ~2,000 LUT4 and a 16-way select.
        m.submodules.enc_chain = enc_chain = Memory(
            shape=64, depth=n, init=[], attrs={"ram_style": "distributed"}
        )
        m.submodules.dec_chain = dec_chain = Memory(
            shape=64, depth=n, init=[], attrs={"ram_style": "distributed"}
        )
        enc_chain_w, dec_chain_w = enc_chain.write_port(), dec_chain.write_port()
        enc_chain_r, dec_chain_r = enc_chain.read_port(domain="comb"), dec_chain.read_port(domain="comb")

        # ---- input buffers: a ring of `depth` blocks per lane, each place of the ring a memory of
        # its own addressed by lane. Distributed RAM: its asynchronous read feeds the fetch
        # register, not the DES round logic. Fetch reads the place at every ring position of its
        # lane (a register) beside the lane's read pointer, which then picks among the words: as
        # one memory addressed by the pointer, read from a memory itself, the two reads in a row
        # were the whole engine's critical path at 1eb3194 (grade 8, seed 1: 1.24 + 8.82 ns).
        places = [
            Memory(shape=64, depth=n, init=[], attrs={"ram_style": "distributed"}) for _ in range(depth)
        ]
        for b, place in enumerate(places):
            m.submodules[f"buf{b}"] = place
        place_w = [place.write_port() for place in places]
        place_r = [place.read_port(domain="comb") for place in places]
        # Each lane's read pointer, in a distributed RAM too, addressed by the lane fetch reads
        # (no select among 16 pointers on the way to the places' select). A RAM is not reset:
        # a job's start sets the lane's write pointer to its read pointer instead (the buffer is
        # empty then), read on a second port.
        m.submodules.rptrs = rptrs = Memory(
            shape=range(depth), depth=n, init=[], attrs={"ram_style": "distributed"}
        )
        rptr_w = rptrs.write_port()
        rptr_r = rptrs.read_port(domain="comb")
        rptr_start = rptrs.read_port(domain="comb")
        # Blocks enter through a register slice, so that `i.ready` is a register: whether a block
        # goes in depends on its lane's count, and that select ran back through the feeding FIFO
        # across the device (the reduced engine's critical path at 66f6698, seed 2).
        # The slice also carries the lane one-hot (decoded on the way in; none set for a lane
        # number >= n), and each lane's "buffer has room" is a register beside its count of held
        # blocks, so a block's acceptance is an AND-OR of registers, not a 16-way select.
        in_layout = data.StructLayout({"block": cbc_block_layout(n), "onehot": n})
        m.submodules.in_slice = in_slice = RegisterSlice(in_layout)
        m.d.comb += [
            in_slice.i.valid.eq(self.i.valid),
            in_slice.i.payload.block.eq(self.i.payload),
            in_slice.i.payload.onehot.eq(Cat(self.i.payload.lane == k for k in range(n))),
            self.i.ready.eq(in_slice.i.ready),
        ]
        blk = in_slice.o
        in_lane, in_onehot = blk.payload.block.lane, blk.payload.onehot
        # Blocks in a lane's ring: `count` (not yet picked) plus the one fetch is reading, which
        # keeps its place until fetch moves on (with fewer than 16 DES stages fetch waits for the
        # pipeline, and a place freed at the pick let the next block overwrite the one being read).
        held = Array(Signal(range(depth + 1), name=f"held{k}") for k in range(n))
        room = Signal(n, init=(1 << n) - 1)  # held[k] != depth
        push = Signal()
        push_oh = Signal(n)  # push, per lane
        m.d.comb += [
            push_oh.eq(Mux(blk.valid, room & in_onehot, 0)),
            push.eq(push_oh.any()),
            blk.ready.eq(~in_onehot.any() | (room & in_onehot).any()),
        ]
        in_place = Signal.like(wptr[0])
        m.d.comb += in_place.eq(wptr[in_lane])
        for b, w in enumerate(place_w):
            m.d.comb += [
                w.addr.eq(in_lane),
                w.data.eq(blk.payload.block.data),
                w.en.eq(push & (in_place == b)),
            ]
        with m.If(push):
            m.d.sync += wptr[in_lane].eq(wptr[in_lane] + 1)

        # ---- what comes out of the DES pipeline this cycle, and what comes out next cycle
        out_lane = des.o.payload.id[:lbits]
        out_decrypt = des.o.payload.id[lbits]
        # The pipeline's latency is fixed, so a shift register of one-hot lane vectors, fed at
        # issue, says (from flip-flops, no decoding) which encrypting lane's ciphertext is on the
        # DES output now (`returning`) and which one's will be there next cycle (`soon`).
        in_flight = [Signal(n, name=f"in_flight{j}") for j in range(LATENCY)]
        for j in range(1, LATENCY):
            m.d.sync += in_flight[j].eq(in_flight[j - 1])
        returning = in_flight[LATENCY - 1]
        soon = in_flight[LATENCY - 2]

        # ---- credits for the output FIFO
        reserved = Signal(range(self.out_depth + 1))
        has_credit = Signal()
        m.d.comb += has_credit.eq(reserved != self.out_depth)

        # Three steps, each a register stage, move in lockstep (``advance``):
        #   pick  (cycle T-1): round-robin choice of a lane whose next block can go;
        #   fetch (cycle T):   read the block, the key and the chaining value of the picked lane;
        #   issue (cycle T+1): xor the chaining value in (encryption) and enter the DES pipeline.
        # An encrypting lane may be picked the cycle before its previous ciphertext leaves the
        # pipeline (`soon`): fetch then takes that ciphertext straight from the DES output.
        advance = Signal()
        fetch_valid, fetch_lane, fetch_onehot, fetch_from_iv = Signal(), Signal(lbits), Signal(n), Signal()
        iss_valid, iss_lane, iss_data, iss_onehot = Signal(), Signal(lbits), Signal(64), Signal(n)
        iss_key, iss_chain, iss_decrypt = Signal(64), Signal(64), Signal()
        m.d.comb += advance.eq(~iss_valid | des.i.ready)

        # ---- pick: round-robin over eligible lanes, from the one after the last picked.
        # `eligible` is a register, exact for this cycle: it was computed last cycle, for both
        # outcomes of last cycle's pick (see below), so the pick starts from flip-flops.
        eligible = Signal(n)
        first = Signal(n, init=(1 << n) - 1)  # lanes after the one picked last
        both = Signal(2 * n)
        m.d.comb += both.eq(Cat(eligible & first, eligible))
        # one carry chain finds the lowest set bit of `both`: `upto` has ones at and below it
        upto = Signal(2 * n)
        m.d.comb += upto.eq(both ^ (both - 1))
        onehot = Signal(n)
        m.d.comb += onehot.eq((both & upto)[:n] | (both & upto)[n:])
        pick = Signal()
        m.d.comb += pick.eq((eligible != 0) & has_credit & advance)

        # the picked lane's number, encoded here so that fetch addresses its memories from a register
        with m.If(advance):
            m.d.sync += [
                fetch_valid.eq(pick),
                fetch_onehot.eq(onehot),
                fetch_lane.eq(onehot_select(onehot, list(range(n)))),
                fetch_from_iv.eq((from_iv & onehot).any()),
            ]
        with m.If(pick):
            # next time, lanes after this one come first (upto's upper half is in use when the
            # pick wrapped round, i.e. when its bit n is set)
            m.d.sync += first.eq(~Mux(upto[n], upto[n:], upto[:n]))

        # count: +1 on push, -1 on pick (possibly the same lane in one cycle), held: -1 when fetch
        # moves on with the lane's block; and next cycle's
        # eligibility, a block buffered and (encryption) the chaining value ready or about to be:
        # prepared from registers for "lane k picked now" and "not picked", then one mux.
        soon_next = in_flight[LATENCY - 3]
        for k in range(n):
            inc = push_oh[k]
            dec = pick & onehot[k]
            read = fetch_valid & advance & fetch_onehot[k]  # its block leaves the ring
            with m.If(inc & ~dec):
                m.d.sync += count[k].eq(count[k] + 1)
            with m.Elif(dec & ~inc):
                m.d.sync += count[k].eq(count[k] - 1)
            with m.If(inc & ~read):
                m.d.sync += [held[k].eq(held[k] + 1), room[k].eq(held[k] != depth - 1)]
            with m.Elif(read & ~inc):
                m.d.sync += [held[k].eq(held[k] - 1), room[k].eq(1)]
            kept = ((count[k] != 0) | inc) & (~waiting[k] | soon[k] | soon_next[k])
            taken = ((count[k] > 1) | ((count[k] == 1) & inc)) & (decrypt[k] | soon_next[k])
            m.d.sync += eligible[k].eq(Mux(dec, taken, kept))

        # ---- fetch: block, key, direction and chaining value of the picked lane
        fetch_key, fetch_decrypt, fetch_iv = keys_r.data[:64], keys_r.data[64], keys_r.data[65:]
        m.d.comb += [
            keys_r.addr.eq(fetch_lane),
            enc_chain_r.addr.eq(fetch_lane),
            dec_chain_r.addr.eq(fetch_lane),
        ]
        # Where fetch's chaining value comes from, decided a cycle ahead into registers (as
        # AND-ORs over 16 lanes they sat before the 64 multiplexers: the whole engine's critical
        # path at 3f35d61, speed grades 6 and 8). `follows_issue`: the lane in fetch is the
        # decrypting lane issuing now, i.e. the pick chose fetch's lane again, which round robin
        # does only when no other lane is eligible (an equality of registers, not a function of the
        # pick's one-hot: from that to this flag was the engine's critical path at eb22a4b, grade
        # 8, seed 2); `meets_return`: its ciphertext leaves the DES now (the pipeline shifts every
        # cycle, so that is `soon` of the cycle before, fetch moving or not).
        follows_issue, meets_return = Signal(), Signal()
        with m.If(advance):
            m.d.sync += follows_issue.eq(fetch_valid & fetch_decrypt & (eligible == fetch_onehot))
        m.d.sync += meets_return.eq((soon & Mux(advance, onehot, fetch_onehot)).any())
        chain_now = Signal(64)
        with m.If(fetch_from_iv):
            m.d.comb += chain_now.eq(fetch_iv)
        with m.Elif(follows_issue):
            m.d.comb += chain_now.eq(iss_data)  # decryption: the previous ciphertext, issuing now
        with m.Elif(meets_return):
            m.d.comb += chain_now.eq(des.o.payload.data)  # encryption: the ciphertext leaving now
        with m.Elif(fetch_decrypt):
            m.d.comb += chain_now.eq(dec_chain_r.data)
        with m.Else():
            m.d.comb += chain_now.eq(enc_chain_r.data)
        # the lane's read pointer, read and moved on by fetch
        m.d.comb += [
            rptr_r.addr.eq(fetch_lane),
            rptr_w.addr.eq(fetch_lane),
            rptr_w.data.eq(rptr_r.data + 1),
            rptr_w.en.eq(fetch_valid & advance),
        ]
        m.d.comb += [r.addr.eq(fetch_lane) for r in place_r]
        fetch_block = Array(r.data for r in place_r)[rptr_r.data]
        with m.If(advance):
            m.d.sync += [
                iss_valid.eq(fetch_valid),
                iss_lane.eq(fetch_lane),
                iss_onehot.eq(fetch_onehot),
                iss_data.eq(fetch_block),
                iss_key.eq(fetch_key),
                iss_decrypt.eq(fetch_decrypt),
                iss_chain.eq(chain_now),
            ]

        # ---- issue: into the DES pipeline, xor-ing the chaining value in for encryption
        m.submodules.mask = mask = Memory(shape=64, depth=LATENCY, init=[])
        mask_w = mask.write_port()
        mask_r = mask.read_port(domain="comb")
        slot = Signal(range(LATENCY))  # the pipeline's latency is fixed: a ring of masks
        m.d.sync += slot.eq(slot + 1)
        issue = Signal()
        m.d.comb += [
            des.i.valid.eq(iss_valid),
            des.i.payload.data.eq(iss_data ^ Mux(iss_decrypt, 0, iss_chain)),
            des.i.payload.key.eq(iss_key),
            des.i.payload.decrypt.eq(iss_decrypt),
            des.i.payload.id.eq(Cat(iss_lane, iss_decrypt)),
            issue.eq(des.i.valid & des.i.ready),
            # decryption: P_n = D(C_n) xor C_{n-1}; keep C_{n-1} for when D(C_n) comes out
            mask_w.addr.eq(slot),
            mask_w.data.eq(iss_chain),
            mask_w.en.eq(issue),
            mask_r.addr.eq(slot),
        ]

        m.d.sync += in_flight[0].eq(Mux(issue & ~iss_decrypt, iss_onehot, 0))

        # ---- output FIFO, fed by the pipeline, space reserved by credits
        m.submodules.ofifo = ofifo = SyncFIFO(width=lbits + 64, depth=self.out_depth)
        result = Mux(out_decrypt, des.o.payload.data ^ mask_r.data, des.o.payload.data)
        m.d.comb += [
            ofifo.w_en.eq(des.o.valid),
            ofifo.w_data.eq(Cat(result, out_lane)),
            self.o.valid.eq(ofifo.r_rdy),
            self.o.payload.data.eq(ofifo.r_data[:64]),
            self.o.payload.lane.eq(ofifo.r_data[64:]),
            ofifo.r_en.eq(self.o.ready),
        ]
        pop = self.o.valid & self.o.ready
        with m.If(pick & ~pop):
            m.d.sync += reserved.eq(reserved + 1)
        with m.Elif(pop & ~pick):
            m.d.sync += reserved.eq(reserved - 1)

        # ---- start: load a lane's key, direction and IV once it has nothing left to issue.
        # `busy` is registered (a cycle ahead, conservatively) so that `ready` and the chaining
        # registers' enables do not hang off the scheduler's and the pipeline's logic. It is exact
        # per lane (a lane's own blocks and nothing else keep it busy), so a lane whose every
        # result has come out on `o` is never refused: the cipher adapter relies on that.
        busy = Signal(n)
        skid_onehot = in_slice.skid.onehot
        for k in range(n):
            m.d.sync += busy[k].eq(
                (count[k] != 0)
                | (blk.valid & in_onehot[k])
                | (in_slice.skid_valid & skid_onehot[k])
                | waiting[k]
                | soon[k]  # (an encrypting lane's last ciphertext still writes its chaining
                | returning[k]  # register on its way out)
                | (fetch_valid & fetch_onehot[k])
                | (iss_valid & iss_onehot[k])
            )
        st = self.start.payload
        st_lane_ok = Signal()
        m.d.comb += st_lane_ok.eq(st.lane < n)
        m.d.comb += self.start.ready.eq(~st_lane_ok | ~busy.bit_select(st.lane, 1))
        load = self.start.valid & self.start.ready & st_lane_ok
        m.d.comb += [
            keys_w.addr.eq(st.lane),
            keys_w.data.eq(Cat(st.key, st.decrypt, st.iv)),
            keys_w.en.eq(load),
        ]
        m.d.comb += rptr_start.addr.eq(st.lane)

        # ---- chaining values: encryption's C_n chains into block n + 1; decryption's C_n is
        # block n + 1's mask
        m.d.comb += [
            enc_chain_w.addr.eq(out_lane),
            enc_chain_w.data.eq(des.o.payload.data),
            enc_chain_w.en.eq(des.o.valid & ~out_decrypt),
            dec_chain_w.addr.eq(iss_lane),
            dec_chain_w.data.eq(iss_data),
            dec_chain_w.en.eq(issue & iss_decrypt),
        ]

        # ---- per-lane flags
        for k in range(n):
            # (lane k's own busy flag: no select by the start's lane on the way to the enables)
            with m.If(self.start.valid & (st.lane == k) & ~busy[k]):
                m.d.sync += [decrypt[k].eq(st.decrypt), from_iv[k].eq(1), wptr[k].eq(rptr_start.data)]
            with m.Elif(pick & onehot[k]):
                m.d.sync += from_iv[k].eq(0)
            with m.If(pick & onehot[k] & ~decrypt[k]):
                m.d.sync += waiting[k].eq(1)
            with m.Elif(soon[k]):
                m.d.sync += waiting[k].eq(0)  # may be picked now: fetch finds the ciphertext
        return m
