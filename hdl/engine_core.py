"""The engine without its crypto units: contexts, job slots, buffers, scheduling, result framing.

:class:`EngineCore` owns the SA context memory, the job intake, the input buffer (one region of
``slot_words`` words per job slot), the output buffer (cipher output, same addressing), the slot
scheduler, the result emitter and the performance counters. It drives the crypto units through
its :class:`~hdl.crypto_ports.CipherPort` and :class:`~hdl.crypto_ports.HashPort`;
:class:`hdl.engine.Engine` connects those to the CBC unit and the hash lanes.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .context_memory import ContextMemory
from .crypto_ports import READ_LATENCY, CipherPort, HashPort
from .job_buffer import JobBuffer
from .job_intake import JobIntake
from .layouts import ContextWrite, PerfCounters, StreamWord
from .pipeline import delayed
from .result_buffer import ResultEmitter
from .scheduler import SlotScheduler

__all__ = ["EngineCore"]


class EngineCore(wiring.Component):
    """Everything of the engine but the cipher and hash units.

    Parameters
    ----------
    conns : SA context slots (conn ids 0..conns-1).
    slots : jobs held at once (parsed, in work, or being sent).
    max_job_bytes : the most data (``auth_len + cipher_len``) one job may carry; a power of two
        multiple of 8. Longer jobs complete with ``BAD_LENGTH``.

    Ports
    -----
    jobs, results, contexts, perf : as :class:`hdl.engine.Engine`.
    cipher : Out(CipherPort) / hash : Out(HashPort)
        Towards the crypto units.
    """

    def __init__(self, *, conns: int = 1024, slots: int = 32, max_job_bytes: int = 2048) -> None:
        slot_words = max_job_bytes // 8
        if max_job_bytes % 8 or slot_words < 2 or slot_words & (slot_words - 1):
            raise ValueError(f"max_job_bytes must be 8 times a power of two >= 2, not {max_job_bytes}")
        if not 1 <= slots <= 256:
            raise ValueError(f"slots must be 1..256, not {slots}")
        self.conns, self.slots, self.max_job_bytes = conns, slots, max_job_bytes
        self.slot_words = slot_words
        self.slot_bits = max(1, (slots - 1).bit_length())
        self.idx_bits = (slot_words - 1).bit_length()
        super().__init__(
            {
                "jobs": In(stream.Signature(StreamWord)),
                "results": Out(stream.Signature(StreamWord)),
                "contexts": In(stream.Signature(ContextWrite)),
                "perf": Out(PerfCounters),
                "cipher": Out(CipherPort(self.slot_bits, self.idx_bits)),
                "hash": Out(HashPort(self.slot_bits, self.idx_bits)),
            }
        )
        self.context_memory = ContextMemory(conns)
        self.intake = JobIntake(slots, slot_words)
        self.scheduler = SlotScheduler(slots, slot_words)
        self.emitter = ResultEmitter(slots, slot_words)

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        m.submodules.ctx = ctx = self.context_memory
        m.submodules.intake = intake = self.intake
        m.submodules.sched = sched = self.scheduler
        m.submodules.emit = emit = self.emitter
        # The job buffers. No word is read in the cycle it is written (JobBuffer's contract): a
        # unit reads a word only cycles after the intake or the cipher wrote it (the cipher's
        # cut-through check counts words already written), and a slot is rewritten only after
        # its reads are done.
        depth = self.slots * self.slot_words
        m.submodules.in_buf = in_buf = JobBuffer(depth=depth, readers=2)  # cipher, hash
        m.submodules.out_buf = out_buf = JobBuffer(depth=depth, readers=2)  # emitter, hash

        wiring.connect(m, wiring.flipped(self.contexts), ctx.contexts)
        wiring.connect(m, wiring.flipped(self.jobs), intake.jobs)
        wiring.connect(m, emit.results, wiring.flipped(self.results))

        m.d.comb += [
            ctx.rd_addr.eq(intake.ctx_addr),
            ctx.rd_en.eq(intake.ctx_en),
            intake.ctx.eq(ctx.rd_data),
            intake.ctx_in_range.eq(ctx.rd_in_range),
            intake.free.eq(sched.free),
            sched.alloc.eq(intake.alloc),
            sched.alloc_slot.eq(intake.alloc_slot),
            sched.commit.eq(intake.commit),
            sched.record.eq(intake.record),
            sched.early.eq(intake.early),
            sched.early_iv.eq(intake.early_iv),
            emit.commit.eq(intake.commit),
            emit.record.eq(intake.record),
            emit.finished.eq(sched.finished),
            emit.icv_bad.eq(sched.icv_bad),
            sched.take.eq(emit.take),
            sched.take_slot.eq(emit.take_slot),
            sched.release.eq(emit.release),
            sched.release_slot.eq(emit.release_slot),
            sched.icv_rd_en.eq(emit.icv_rd_en),
            sched.icv_rd_slot.eq(emit.icv_rd_slot),
            emit.icv_rd_data.eq(sched.icv_rd_data),
        ]

        # Input buffer: written by the intake, read by the cipher and the hash. Output buffer:
        # written by the cipher, read by the emitter and the hash.
        cp, hp = self.cipher, self.hash
        m.d.comb += [
            in_buf.wr_en.eq(intake.wr_en),
            in_buf.wr_addr.eq(intake.wr_addr),
            in_buf.wr_data.eq(intake.wr_data),
            out_buf.wr_en.eq(cp.wr_en),
            out_buf.wr_addr.eq(cp.wr_addr),
            out_buf.wr_data.eq(cp.wr_data),
            cp.fill_active.eq(intake.fill_active),
            cp.fill_slot.eq(intake.fill_slot),
            cp.fill_words.eq(intake.fill_words),
            in_buf.rd_addr[0].eq(cp.rd_addr),
            in_buf.rd_addr[1].eq(hp.rd_addr),
            out_buf.rd_addr[0].eq(emit.out_rd_addr),
            out_buf.rd_addr[1].eq(hp.rd_addr),
        ]
        # A buffer's word is registered once more at its reader (READ_LATENCY in all); the hash's
        # choice of buffer follows its address to the multiplexer in front of that register.
        stages = READ_LATENCY - JobBuffer.LATENCY
        assert stages >= 1
        m.d.comb += [
            cp.rd_data.eq(delayed(m, in_buf.rd_data[0], stages, "cipher_rd")),
            emit.out_rd_data.eq(delayed(m, out_buf.rd_data[0], stages, "emit_rd")),
        ]
        h_from_out = delayed(m, hp.rd_out, JobBuffer.LATENCY, "hash_from_out")
        h_word = Signal(64)
        m.d.comb += h_word.eq(Mux(h_from_out, out_buf.rd_data[1], in_buf.rd_data[1]))
        m.d.comb += hp.rd_data.eq(delayed(m, h_word, stages, "hash_rd"))

        # Work to and from the units.
        wiring.connect(m, sched.cipher_start, wiring.flipped(cp.start))
        wiring.connect(m, sched.hash_start, wiring.flipped(hp.start))
        m.d.comb += [
            sched.cipher_done.eq(cp.done),
            sched.cipher_done_slot.eq(cp.done_slot),
            sched.hash_done.eq(hp.done),
            sched.hash_done_slot.eq(hp.done_slot),
            sched.hash_done_icv.eq(hp.done_icv),
        ]

        # Performance counters.
        p = self.perf
        # Busy, stall and hash-block events are registered first (they count a cycle late): each
        # is the end of a slot-wide OR, a handshake or a hash lane's state, too long a path in
        # front of a wide adder.
        busy, stall, hash_block = Signal(), Signal(), Signal()
        m.d.sync += [
            busy.eq(sched.busy),
            stall.eq((self.jobs.valid & ~self.jobs.ready) | (self.results.valid & ~self.results.ready)),
            hash_block.eq(hp.block),
        ]
        m.d.sync += [
            p.cycles.eq(p.cycles + 1),
            p.busy_cycles.eq(p.busy_cycles + busy),
            p.stall_cycles.eq(p.stall_cycles + stall),
            p.jobs_done.eq(
                p.jobs_done + (self.results.valid & self.results.ready & self.results.payload.last)
            ),
            p.des_blocks.eq(p.des_blocks + cp.wr_en),
            p.hash_blocks.eq(p.hash_blocks + hash_block),
        ]
        return m
