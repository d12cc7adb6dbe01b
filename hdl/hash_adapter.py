"""Connects the engine core's hash port to the HMAC lane pool (:class:`hdl.hmac.HMACPool`).

Each authenticating job becomes one pool job named by its slot. The adapter reads the message
words from the core's buffers (the auth-only prefix and, for inbound jobs, the received
ciphertext from the input buffer; an outbound ESP job's ciphertext from the output buffer) and
sends them to the pool a 64-byte block at a time, going round the open jobs, so that every lane
has its next block while it compresses the current one. The pool's computed ICV goes back to the
core, which compares it with a verifying job's expected ICV.
"""

from __future__ import annotations

from amaranth.hdl import Array, Elaboratable, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .crypto_ports import HashPort
from .hmac import HMACJob, HMACResult, HMACWord
from .priority import RoundRobin, lowest_set

__all__ = ["HashAdapter"]


class HashAdapter(wiring.Component):
    """Runs the core's authenticating jobs on an HMAC pool of ``lanes`` lanes.

    Ports
    -----
    core : In(HashPort)
        The engine core's hash port.
    pool_jobs, pool_data : Out(stream)
        To the pool's ``jobs`` and ``data``.
    pool_results : In(stream)
        From the pool's ``results`` (always taken).
    """

    def __init__(self, *, slot_bits: int, idx_bits: int, lanes: int) -> None:
        self.slot_bits, self.idx_bits, self.lanes = slot_bits, idx_bits, lanes
        super().__init__(
            {
                "core": In(HashPort(slot_bits, idx_bits)),
                "pool_jobs": Out(stream.Signature(HMACJob)),
                "pool_data": Out(stream.Signature(HMACWord)),
                "pool_results": In(stream.Signature(HMACResult)),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        n, ib = self.lanes, self.idx_bits
        ebits = max(1, (n - 1).bit_length())
        c = self.core

        # Open jobs: those with message words still to send (at most one per pool lane).
        open_ = Signal(n)
        slot = Array(Signal(self.slot_bits, name=f"slot{k}") for k in range(n))
        total = Array(Signal(ib + 1, name=f"total{k}") for k in range(n))
        sent = Array(Signal(ib + 1, name=f"sent{k}") for k in range(n))
        split = Array(Signal(ib + 1, name=f"split{k}") for k in range(n))

        # ---- start: the pool takes the job; the adapter opens an entry for its words
        free_e = Signal(ebits)
        any_free = Signal()
        found, index = lowest_set(~open_, ebits)
        m.d.comb += [free_e.eq(index), any_free.eq(found)]
        st = c.start.payload
        words = Signal(ib + 2)
        m.d.comb += words.eq((st.msg_bytes + 7) >> 3)
        pj = self.pool_jobs.payload
        m.d.comb += [
            self.pool_jobs.valid.eq(c.start.valid & any_free),
            pj.id.eq(st.slot),
            pj.auth.eq(st.auth),
            pj.verify.eq(0),  # the core compares the ICV itself
            pj.length.eq(st.msg_bytes),
            pj.inner.eq(st.inner),
            pj.outer.eq(st.outer),
            c.start.ready.eq(any_free & self.pool_jobs.ready),
        ]
        started = Signal()
        m.d.comb += started.eq(c.start.valid & c.start.ready)

        # ---- feed: pick an open job, read its next word (stage A), offer it to the pool (stage B)
        m.submodules.rr = rr = RoundRobin(n)
        m.d.comb += rr.requests.eq(open_)
        b_valid = Signal()
        b_slot = Signal(self.slot_bits)
        b_last = Signal()
        pd = self.pool_data.payload
        m.d.comb += [
            self.pool_data.valid.eq(b_valid),
            pd.id.eq(b_slot),
            pd.data.eq(c.rd_data),
            pd.last.eq(b_last),
        ]
        b_free = ~b_valid | self.pool_data.ready
        issue = Signal()
        m.d.comb += issue.eq(b_free & rr.valid)
        g = rr.grant
        last = Signal()
        block_end = Signal()
        m.d.comb += [
            last.eq(sent[g] + 1 == total[g]),
            block_end.eq(last | (sent[g][:3] == 7)),
            c.rd_en.eq(issue),
            c.rd_addr.eq((slot[g] << ib) | sent[g][:ib]),
            c.rd_out.eq(sent[g] >= split[g]),
            # stay on one job for a whole block: the round robin moves on at block ends
            rr.advance.eq(issue & block_end),
        ]
        b_block_end = Signal()
        with m.If(issue):
            m.d.sync += [
                sent[g].eq(sent[g] + 1),
                b_valid.eq(1),
                b_slot.eq(slot[g]),
                b_last.eq(last),
                b_block_end.eq(block_end),
            ]
        with m.Elif(self.pool_data.ready):
            m.d.sync += b_valid.eq(0)
        m.d.comb += c.block.eq(self.pool_data.valid & self.pool_data.ready & b_block_end)

        with m.If(started):
            m.d.sync += [
                slot[free_e].eq(st.slot),
                total[free_e].eq(words),
                sent[free_e].eq(0),
                split[free_e].eq(st.split),
            ]
        for k in range(n):
            with m.If(started & (free_e == k)):
                m.d.sync += open_[k].eq(words != 0)
            with m.Elif(issue & (g == k) & last):
                m.d.sync += open_[k].eq(0)

        # ---- results back to the core
        r = self.pool_results.payload
        m.d.comb += [
            self.pool_results.ready.eq(1),
            c.done.eq(self.pool_results.valid),
            c.done_slot.eq(r.id),
            c.done_icv.eq(r.icv),
        ]
        return m
