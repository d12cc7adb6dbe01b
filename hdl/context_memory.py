"""The SA context memory: one :data:`~hdl.layouts.SAContext` per conn id, in block RAM.

The host writes contexts through the ``contexts`` stream (one conn id per beat; a context whose
``valid`` bit is clear invalidates the conn id). The job intake reads the context of a job's
conn id: the address is registered, then read from the RAM through two registers after it (the
first the block RAM's own output register, :class:`~hdl.block_ram.BlockRAM`), so the data appear
four cycles after the address (:data:`READ_LATENCY`) and the block RAMs' spread across the chip
never shares a cycle with the intake's or the host's logic.

A read and a write of the same conn id at one clock edge read the new context. The block RAM does
not define that case; the new context comes from a register beside it instead (a ``transparent``
:class:`~hdl.block_ram.BlockRAM`): had yosys emulated it, its multiplexer would sit right after
the RAM.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .block_ram import BlockRAM
from .layouts import ContextWrite, SAContext

__all__ = ["READ_LATENCY", "ContextMemory"]

READ_LATENCY = 4
"""Cycles from a context read (``rd_en`` at a clock edge) to its data on ``rd_data``."""


class ContextMemory(wiring.Component):
    """``conns`` SA contexts in one block RAM.

    Ports
    -----
    contexts : In(stream of ContextWrite)
        Host writes; always ready. A write to a conn id at or beyond ``conns`` is ignored (a job
        naming such a conn id completes with ``BAD_CONN`` anyway).
    rd_addr : In(16)
        The conn id to look up; sampled at the clock edge when ``rd_en`` is high.
    rd_en : In(1)
        This cycle's conn id is a read to keep: ``rd_data`` takes its context and holds it
        until the next such read's data (reads may come in consecutive cycles; each one's data
        arrives in turn).
    rd_data : Out(SAContext)
        The context of the last sampled conn id, :data:`READ_LATENCY` cycles after the read (and
        held until the next read's data); ``valid`` reads 0 for a conn id at or beyond ``conns``.
    rd_in_range : Out(1)
        The last sampled conn id was below ``conns``.
    """

    def __init__(self, conns: int = 1024) -> None:
        if not 1 <= conns <= 1 << 16:
            raise ValueError(f"conns must be 1..65536, not {conns}")
        self.conns = conns
        super().__init__(
            {
                "contexts": In(stream.Signature(ContextWrite)),
                "rd_addr": In(16),
                "rd_en": In(1),
                "rd_data": Out(SAContext),
                "rd_in_range": Out(1),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        # A write and a read of one conn id at one edge read the new context (`transparent`: the
        # write is kept in a register beside the RAM for it, see BlockRAM).
        m.submodules.ram = ram = BlockRAM(
            width=SAContext.size, depth=max(2, self.conns), readers=1, transparent=True
        )
        abits = ram.abits
        w = self.contexts.payload
        m.d.comb += self.contexts.ready.eq(1)
        # The host's write and the intake's read are both registered before the RAM, so they
        # meet it a cycle later in the same order (a read still sees the context as of its own
        # clock edge) and the RAM's ports are driven from registers: the read address's route
        # from the intake's state to all 22 RAMs was the reduced engine's critical path at
        # 5d5923b (seed 2). The RAM reads every cycle; rd_en's read is kept as it comes out (a
        # RAM read enable would cost a hold multiplexer after the RAM in synthesis).
        rd_addr, rd_en = Signal(16), Signal()
        m.d.sync += [
            ram.w_en.eq(self.contexts.valid & (w.conn_id < self.conns)),
            ram.w_addr.eq(w.conn_id[:abits]),
            ram.w_data.eq(w.context),
            rd_addr.eq(self.rd_addr),
            rd_en.eq(self.rd_en),
        ]
        m.d.comb += ram.r_addr[0].eq(rd_addr[:abits])
        asked, in_range = Signal(), Signal()
        m.d.sync += [asked.eq(rd_en), in_range.eq(rd_addr < self.conns)]
        asked_q, in_range_q = Signal(), Signal()
        m.d.sync += [asked_q.eq(asked), in_range_q.eq(in_range)]
        with m.If(asked_q):
            m.d.sync += [self.rd_data.eq(ram.r_data[0]), self.rd_in_range.eq(in_range_q)]
            with m.If(~in_range_q):
                m.d.sync += self.rd_data.valid.eq(0)
        return m
