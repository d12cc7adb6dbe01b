"""Connects the engine core's cipher port to the CBC unit (:class:`hdl.cbc.CBCUnit`).

Each ciphering job gets a CBC lane for its lifetime, from the moment its IV arrives (its blocks
are fed as they arrive: cut-through). The adapter reads the job's blocks from the
core's input buffer and feeds them to the lanes round-robin (an encrypting lane is offered a
block only while it has fewer than ``depth`` blocks outstanding, so that a full lane buffer never
blocks the others), writes each output block into the core's output buffer at its place, and
reports the job done when its last block has come back.

Timing: every step starts from registers. Each lane keeps its next read and write addresses and
flags for "blocks left to send", "last block to receive", "room for another block" and "its next
word has arrived", all computed a cycle ahead from the next state (the arrival flag from the
fill state a cycle old, which only errs towards waiting: a slot's fill count never falls while
a lane works on it). Feeding is three register stages: pick a lane (round robin over the
registered eligibility) and register its read address; read the input buffer; offer the block.
Output blocks are written one cycle after they leave the CBC unit, and ``done`` is registered
with the last write.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Elaboratable, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .cbc import cbc_block_layout, cbc_start_layout, lane_bits
from .crypto_ports import CipherPort
from .priority import RoundRobin, lowest_set

__all__ = ["CipherAdapter"]


class CipherAdapter(wiring.Component):
    """Runs the core's ciphering jobs on the lanes of a CBC unit.

    Ports
    -----
    core : In(CipherPort)
        The engine core's cipher port.
    cbc_start, cbc_i : Out(stream)
        To the CBC unit's ``start`` and ``i``.
    cbc_o : In(stream)
        From the CBC unit's ``o`` (always taken).
    """

    def __init__(self, *, slot_bits: int, idx_bits: int, lanes: int, depth: int = 4) -> None:
        self.slot_bits, self.idx_bits, self.lanes, self.depth = slot_bits, idx_bits, lanes, depth
        super().__init__(
            {
                "core": In(CipherPort(slot_bits, idx_bits)),
                "cbc_start": Out(stream.Signature(cbc_start_layout(lanes))),
                "cbc_i": Out(stream.Signature(cbc_block_layout(lanes))),
                "cbc_o": In(stream.Signature(cbc_block_layout(lanes))),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        n, ib, depth = self.lanes, self.idx_bits, self.depth
        c = self.core
        abits = self.slot_bits + ib

        busy = Signal(n)
        decrypt = Signal(n)
        slot = Array(Signal(self.slot_bits, name=f"slot{k}") for k in range(n))
        raddr = Array(Signal(abits, name=f"raddr{k}") for k in range(n))  # next block to read
        ridx1 = Array(Signal(ib + 1, name=f"ridx1_{k}") for k in range(n))  # its index + 1
        waddr = Array(Signal(abits, name=f"waddr{k}") for k in range(n))  # next block to write
        left = Array(Signal(ib + 1, name=f"left{k}") for k in range(n))  # blocks still to send
        rleft = Array(Signal(ib + 1, name=f"rleft{k}") for k in range(n))  # ... still to receive
        outst = Array(Signal(range(depth + 2), name=f"outst{k}") for k in range(n))  # sent - received
        # (bounded by the room check for encrypting lanes; decrypting lanes never look at it)
        sendable = Signal(n)  # left != 0
        left_gt1 = Signal(n)  # left > 1
        rlast = Signal(n)  # rleft == 1
        eligible = Signal(n)

        # ---- start: a free lane takes the job
        free_lane = Signal(lane_bits(n))
        any_free = Signal()
        found, index = lowest_set(~busy, len(free_lane))
        m.d.comb += [free_lane.eq(index), any_free.eq(found)]
        st = c.start.payload
        m.d.comb += [
            self.cbc_start.valid.eq(c.start.valid & any_free),
            self.cbc_start.payload.lane.eq(free_lane),
            self.cbc_start.payload.decrypt.eq(st.decrypt),
            self.cbc_start.payload.key.eq(st.key),
            self.cbc_start.payload.iv.eq(st.iv),
            c.start.ready.eq(any_free & self.cbc_start.ready),
        ]
        started = Signal()
        m.d.comb += started.eq(c.start.valid & c.start.ready)

        # ---- output: write each block at its place (a cycle later); done with the last one
        o = self.cbc_o.payload
        recv = Signal(n)
        finishing = Signal()
        m.d.comb += [
            self.cbc_o.ready.eq(1),
            finishing.eq(self.cbc_o.valid & rlast.bit_select(o.lane, 1)),
        ]
        for k in range(n):
            m.d.comb += recv[k].eq(self.cbc_o.valid & (o.lane == k))
        w_en = Signal()
        w_addr = Signal(abits)
        w_data = Signal(64)
        done = Signal()
        done_slot = Signal(self.slot_bits)
        m.d.sync += [
            w_en.eq(self.cbc_o.valid),
            w_addr.eq(waddr[o.lane]),
            w_data.eq(o.data),
            done.eq(finishing),
            done_slot.eq(slot[o.lane]),
        ]
        m.d.comb += [
            c.wr_en.eq(w_en),
            c.wr_addr.eq(w_addr),
            c.wr_data.eq(w_data),
            c.done.eq(done),
            c.done_slot.eq(done_slot),
        ]

        # ---- feed, stage 1: pick an eligible lane, register its read address
        m.submodules.rr = rr = RoundRobin(n)
        m.d.comb += rr.requests.eq(eligible)
        r_valid, r_lane, r_addr = Signal(), Signal(lane_bits(n)), Signal(abits)
        d_valid, d_lane = Signal(), Signal(lane_bits(n))
        d_free = Signal()
        read = Signal()
        issue = Signal()
        m.d.comb += [
            d_free.eq(~d_valid | self.cbc_i.ready),
            read.eq(r_valid & d_free),
            issue.eq(rr.valid & (~r_valid | read)),
            rr.advance.eq(issue),
        ]
        g = rr.grant
        with m.If(issue):
            m.d.sync += [r_valid.eq(1), r_lane.eq(g), r_addr.eq(raddr[g])]
        with m.Elif(read):
            m.d.sync += r_valid.eq(0)
        # ---- stage 2: read the input buffer; stage 3: offer the block to the CBC unit
        m.d.comb += [c.rd_en.eq(read), c.rd_addr.eq(r_addr)]
        with m.If(read):
            m.d.sync += [d_valid.eq(1), d_lane.eq(r_lane)]
        with m.Elif(self.cbc_i.ready):
            m.d.sync += d_valid.eq(0)
        m.d.comb += [
            self.cbc_i.valid.eq(d_valid),
            self.cbc_i.payload.lane.eq(d_lane),
            self.cbc_i.payload.data.eq(c.rd_data),
        ]

        # ---- per-lane state, and its flags for the next cycle
        for k in range(n):
            took = Signal(name=f"took{k}")  # lane k issues a block this cycle
            m.d.comb += took.eq(issue & (g == k))
            start_k = started & (free_lane == k)
            # flags of the next state, each a choice among values of this cycle's registers
            send_next = Mux(took, left_gt1[k], sendable[k])
            room_next = Mux(
                took & ~recv[k],
                outst[k] < depth - 1,
                Mux(recv[k] & ~took, outst[k] <= depth, outst[k] < depth),
            )
            idx = raddr[k][:ib]
            fill_here = c.fill_active & (c.fill_slot == slot[k])
            arrived_next = ~fill_here | Mux(took, ridx1[k] < c.fill_words, idx < c.fill_words)
            m.d.sync += [
                eligible[k].eq(busy[k] & ~start_k & send_next & arrived_next & (decrypt[k] | room_next)),
            ]
            with m.If(took):
                m.d.sync += [
                    raddr[k].eq(raddr[k] + 1),
                    ridx1[k].eq(ridx1[k] + 1),
                    left[k].eq(left[k] - 1),
                    sendable[k].eq(left_gt1[k]),
                    left_gt1[k].eq(left[k] > 2),
                ]
            with m.If(took & ~recv[k]):
                m.d.sync += outst[k].eq(outst[k] + 1)
            with m.Elif(recv[k] & ~took):
                m.d.sync += outst[k].eq(outst[k] - 1)
            with m.If(recv[k]):
                m.d.sync += [
                    waddr[k].eq(waddr[k] + 1),
                    rleft[k].eq(rleft[k] - 1),
                    rlast[k].eq(rleft[k] == 2),
                ]
            # (a lane starts only while free and finishes only while busy)
            with m.If(start_k):
                base = Cat(st.first, st.slot)
                m.d.sync += [
                    busy[k].eq(1),
                    decrypt[k].eq(st.decrypt),
                    slot[k].eq(st.slot),
                    raddr[k].eq(base),
                    ridx1[k].eq(st.first + 1),
                    waddr[k].eq(base),
                    left[k].eq(st.blocks),
                    rleft[k].eq(st.blocks),
                    sendable[k].eq(st.blocks != 0),
                    left_gt1[k].eq(st.blocks > 1),
                    rlast[k].eq(st.blocks == 1),
                    outst[k].eq(0),
                ]
            with m.Elif(finishing & (o.lane == k)):
                m.d.sync += busy[k].eq(0)
        return m
