"""Connects the engine core's hash port to the HMAC lane pool (:class:`hdl.hmac.HMACPool`).

Each authenticating job becomes one pool job named by its slot. The adapter reads the message
words from the core's buffers (the auth-only prefix and, for inbound jobs, the received
ciphertext from the input buffer; an outbound ESP job's ciphertext from the output buffer) and
sends them to the pool a 64-byte block at a time, going round the open jobs, so that every lane
has its next block while it compresses the current one. The pool's computed ICV goes back to the
core, which compares it with a verifying job's expected ICV.

Timing: the core's job is registered before it is offered to the pool, and the free entry is a
register. The word issued each cycle comes from the *current* entry (a register), with the
entry's next-word facts (last word, block end, which buffer) kept as registers beside its
counters; the round robin only chooses the entry that follows at a block's end. Feeding is a
pipeline that never stalls: a word is picked (its buffer address a register), read from the
core's buffer (:data:`~hdl.crypto_ports.READ_LATENCY` cycles) and written with its tags into a
small FIFO towards the pool. A pick needs a credit (a FIFO place kept for it), so the pool's
``ready`` ends at the FIFO.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Elaboratable, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .crypto_ports import READ_LATENCY, HashPort
from .hmac import HMACJob, HMACResult, HMACWord
from .pipeline import CreditFIFO, delayed
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

    FEED_DEPTH = READ_LATENCY + 5
    """Words between a pick and the pool: enough for the round trip of a credit (pick, buffer
    read, the FIFO's two registers, the pop) at one word per cycle."""

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

        # Open jobs: those with message words still to send (at most one per pool lane). Beside
        # each entry's word counter, registered facts about its next word, so that the word
        # issued from the current entry needs no arithmetic.
        open_ = Signal(n)
        slot = Array(Signal(self.slot_bits, name=f"slot{k}") for k in range(n))
        sent = Array(Signal(ib + 2, name=f"sent{k}") for k in range(n))  # words sent
        left = Array(Signal(ib + 2, name=f"left{k}") for k in range(n))  # words still to send
        split_m1 = Array(Signal(ib + 1, name=f"split_m1_{k}") for k in range(n))  # split - 1
        nxt_last = Array(Signal(name=f"nxt_last{k}") for k in range(n))  # the next word is the job's last
        nxt_end = Array(Signal(name=f"nxt_end{k}") for k in range(n))  # ... or ends a 64-byte block
        nxt_out = Array(Signal(name=f"nxt_out{k}") for k in range(n))  # ... comes from the output buffer

        # ---- start: the core's job is registered first, then offered to the pool
        j_valid = Signal()
        j = Signal.like(c.start.payload)
        j_words = Signal(ib + 2)
        j_one = Signal()  # j_words == 1
        j_split_m1 = Signal(ib + 1)
        st = c.start.payload
        words = Signal(ib + 2)
        m.d.comb += [words.eq((st.msg_bytes + 7) >> 3), c.start.ready.eq(~j_valid)]
        with m.If(c.start.valid & ~j_valid):
            m.d.sync += [
                j_valid.eq(1),
                j.eq(st),
                j_words.eq(words),
                j_one.eq(words == 1),
                j_split_m1.eq(st.split - 1),
            ]
        # a free entry, registered (an entry opened at a start shows as taken a cycle later, and
        # the next start is two cycles away at least)
        free_e = Signal(ebits)
        any_free = Signal()
        found, index = lowest_set(~open_, ebits)
        m.d.sync += [free_e.eq(index), any_free.eq(found)]
        pj = self.pool_jobs.payload
        m.d.comb += [
            self.pool_jobs.valid.eq(j_valid & any_free),
            pj.id.eq(j.slot),
            pj.auth.eq(j.auth),
            pj.verify.eq(0),  # the core compares the ICV itself
            pj.length.eq(j.msg_bytes),
            pj.inner.eq(j.inner),
            pj.outer.eq(j.outer),
        ]
        started = Signal()
        m.d.comb += started.eq(self.pool_jobs.valid & self.pool_jobs.ready)
        with m.If(started):
            m.d.sync += j_valid.eq(0)

        # ---- feed: the current entry's next word is picked into stage A (its buffer address a
        # register), read from the core's buffer, and written with its tags into the FIFO
        # towards the pool. The current entry stays for a whole block; at its end the round
        # robin names the next one among the other open entries (the current one continues if
        # there is none).
        cur_valid = Signal()
        cur = Signal(ebits)
        cur_oh = Signal(n)  # one-hot of `cur` while `cur_valid`, else 0
        m.submodules.rr = rr = RoundRobin(n)
        m.d.comb += rr.requests.eq(open_ & ~cur_oh)
        tag = data.StructLayout({"slot": self.slot_bits, "last": 1, "block_end": 1})
        m.submodules.feed = feed = CreditFIFO(width=64 + tag.size, depth=self.FEED_DEPTH)
        issue = Signal()  # the current entry's next word goes into stage A
        m.d.comb += feed.take.eq(issue)

        a_valid = Signal()
        a_addr = Signal.like(c.rd_addr)
        a_out = Signal()
        a_tag = Signal(tag)
        m.d.comb += [c.rd_addr.eq(a_addr), c.rd_out.eq(a_out)]
        rd_valid = delayed(m, a_valid, READ_LATENCY, "rd_valid")  # the read's word is on rd_data
        rd_tag = delayed(m, a_tag.as_value(), READ_LATENCY, "rd_tag")
        f_tag = data.View(tag, feed.r_data[64:])
        pd = self.pool_data.payload
        m.d.comb += [
            feed.w_en.eq(rd_valid),
            feed.w_data.eq(Cat(c.rd_data, rd_tag)),
            self.pool_data.valid.eq(feed.r_rdy),
            pd.id.eq(f_tag.slot),
            pd.data.eq(feed.r_data[:64]),
            pd.last.eq(f_tag.last),
            feed.r_en.eq(self.pool_data.ready),
            c.block.eq(feed.r_rdy & feed.r_en & f_tag.block_end),
        ]

        last = Signal()
        block_end = Signal()
        m.d.comb += [
            issue.eq(cur_valid & feed.has_credit),
            last.eq(nxt_last[cur]),
            block_end.eq(nxt_end[cur]),
        ]
        m.d.sync += [
            a_valid.eq(issue),
            a_addr.eq(Cat(sent[cur][:ib], slot[cur])),
            a_out.eq(nxt_out[cur]),
            a_tag.slot.eq(slot[cur]),
            a_tag.last.eq(last),
            a_tag.block_end.eq(block_end),
        ]

        # A job that has had no word yet goes first (its lane idles until its first block is in);
        # the others take turns.
        fresh = Signal(n)  # open entries that have had no word yet
        any_fresh, first_fresh = lowest_set(fresh & ~cur_oh, ebits)
        move = Signal()
        m.d.comb += [move.eq(~cur_valid | (issue & block_end)), rr.advance.eq(move & ~any_fresh)]
        with m.If(move):
            with m.If(any_fresh):
                m.d.sync += [cur_valid.eq(1), cur.eq(first_fresh), cur_oh.eq(1 << first_fresh)]
            with m.Elif(rr.valid):
                m.d.sync += [cur_valid.eq(1), cur.eq(rr.grant), cur_oh.eq(1 << rr.grant)]
            with m.Elif(~cur_valid | last):
                m.d.sync += [cur_valid.eq(0), cur_oh.eq(0)]

        # The free entry takes the waiting job's fields in every cycle there is one (the entry is
        # closed, so no word is issued from it), and the pool's acceptance opens it: the pool's
        # `ready` enables two flags, not every field of the entry.
        for k in range(n):
            with m.If(j_valid & any_free & (free_e == k)):
                m.d.sync += [
                    slot[k].eq(j.slot),
                    left[k].eq(j_words),
                    sent[k].eq(0),
                    split_m1[k].eq(j_split_m1),
                    nxt_last[k].eq(j_one),
                    nxt_end[k].eq(j_one),
                    nxt_out[k].eq(j.split == 0),
                ]
                with m.If(started):
                    m.d.sync += [open_[k].eq(j_words != 0), fresh[k].eq(j_words != 0)]
            with m.Elif(issue & cur_oh[k]):
                s_k, l_k = sent[k], left[k]
                m.d.sync += [
                    s_k.eq(s_k + 1),
                    l_k.eq(l_k - 1),
                    nxt_last[k].eq(l_k == 2),
                    nxt_end[k].eq((l_k == 2) | (s_k[:3] == 6)),
                    nxt_out[k].eq(nxt_out[k] | (s_k == split_m1[k])),
                    fresh[k].eq(0),
                ]
                with m.If(nxt_last[k]):
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
