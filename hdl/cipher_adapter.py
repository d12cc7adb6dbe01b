"""Connects the engine core's cipher port to the CBC unit (:class:`hdl.cbc.CBCUnit`).

Each ciphering job gets a CBC lane for its lifetime, from the moment its IV arrives (its blocks
are fed as they arrive: cut-through). The adapter reads the job's blocks from the
core's input buffer and feeds them to the lanes round-robin (an encrypting lane is offered a
block only while it has fewer than ``depth`` blocks outstanding, so that a full lane buffer never
blocks the others), writes each output block into the core's output buffer at its place, and
reports the job done when its last block has come back.
"""

from __future__ import annotations

from amaranth.hdl import Array, Elaboratable, Module, Signal
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
        n, ib = self.lanes, self.idx_bits
        c = self.core

        busy = Signal(n)
        slot = Array(Signal(self.slot_bits, name=f"slot{k}") for k in range(n))
        first = Array(Signal(ib, name=f"first{k}") for k in range(n))
        blocks = Array(Signal(ib + 1, name=f"blocks{k}") for k in range(n))
        sent = Array(Signal(ib + 1, name=f"sent{k}") for k in range(n))
        recv = Array(Signal(ib + 1, name=f"recv{k}") for k in range(n))
        decrypt = Signal(n)

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

        # ---- output: write each block at its place; the job is done with its last block
        o = self.cbc_o.payload
        finishing = Signal()
        m.d.comb += [
            self.cbc_o.ready.eq(1),
            c.wr_en.eq(self.cbc_o.valid),
            c.wr_addr.eq((slot[o.lane] << ib) | (first[o.lane] + recv[o.lane])[:ib]),
            c.wr_data.eq(o.data),
            finishing.eq(self.cbc_o.valid & (recv[o.lane] + 1 == blocks[o.lane])),
            c.done.eq(finishing),
            c.done_slot.eq(slot[o.lane]),
        ]
        with m.If(self.cbc_o.valid):
            m.d.sync += recv[o.lane].eq(recv[o.lane] + 1)

        # ---- feed: pick a lane, read its next block (stage A), offer it to the CBC unit (stage B)
        eligible = Signal(n)
        for k in range(n):
            outstanding = sent[k] - recv[k]
            # cut-through: a job still arriving may read only the words already in
            arrived = ~c.fill_active | (c.fill_slot != slot[k]) | ((first[k] + sent[k]) < c.fill_words)
            m.d.comb += eligible[k].eq(
                arrived
                & busy[k]
                & (sent[k] != blocks[k])
                & (decrypt[k] | (outstanding[: ib + 1] < self.depth))
            )
        m.submodules.rr = rr = RoundRobin(n)
        m.d.comb += rr.requests.eq(eligible)
        b_valid = Signal()
        b_lane = Signal(lane_bits(n))
        m.d.comb += [
            self.cbc_i.valid.eq(b_valid),
            self.cbc_i.payload.lane.eq(b_lane),
            self.cbc_i.payload.data.eq(c.rd_data),
        ]
        b_free = ~b_valid | self.cbc_i.ready
        issue = Signal()
        m.d.comb += issue.eq(b_free & rr.valid)
        g = rr.grant
        m.d.comb += [
            c.rd_en.eq(issue),
            c.rd_addr.eq((slot[g] << ib) | (first[g] + sent[g])[:ib]),
            rr.advance.eq(issue),
        ]
        with m.If(issue):
            m.d.sync += [sent[g].eq(sent[g] + 1), b_valid.eq(1), b_lane.eq(g)]
        with m.Elif(self.cbc_i.ready):
            m.d.sync += b_valid.eq(0)

        # ---- lane table (a lane starts only while free and finishes only while busy)
        with m.If(started):
            m.d.sync += [
                slot[free_lane].eq(st.slot),
                first[free_lane].eq(st.first),
                blocks[free_lane].eq(st.blocks),
                sent[free_lane].eq(0),
                recv[free_lane].eq(0),
            ]
        for k in range(n):
            with m.If(started & (free_lane == k)):
                m.d.sync += [busy[k].eq(1), decrypt[k].eq(st.decrypt)]
            with m.Elif(finishing & (o.lane == k)):
                m.d.sync += busy[k].eq(0)
        return m
