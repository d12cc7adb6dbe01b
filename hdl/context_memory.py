"""The SA context memory: one :data:`~hdl.layouts.SAContext` per conn id, in block RAM.

The host writes contexts through the ``contexts`` stream (one conn id per beat; a context whose
``valid`` bit is clear invalidates the conn id). The job intake reads the context of a job's
conn id through a synchronous read port with a registered output: the data appear two cycles
after the address (:data:`READ_LATENCY`), so the block RAMs' clock-to-output time and their
spread across the chip never share a cycle with the intake's checks.
"""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .layouts import ContextWrite, SAContext

__all__ = ["READ_LATENCY", "ContextMemory"]

READ_LATENCY = 2
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
        until the next such read's data.
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
        m.submodules.mem = mem = Memory(shape=SAContext, depth=self.conns, init=[])
        abits = max(1, (self.conns - 1).bit_length())

        wp = mem.write_port()
        w = self.contexts.payload
        m.d.comb += [
            self.contexts.ready.eq(1),
            wp.addr.eq(w.conn_id[:abits]),
            wp.data.eq(w.context),
            wp.en.eq(self.contexts.valid & (w.conn_id < self.conns)),
        ]

        # The RAM reads every cycle and the output register keeps the read that ``rd_en`` asked
        # for (a RAM read enable would cost a hold multiplexer after the RAM in synthesis).
        rp = mem.read_port(transparent_for=(wp,))
        asked, in_range = Signal(), Signal()
        m.d.comb += rp.addr.eq(self.rd_addr[:abits])
        m.d.sync += [asked.eq(self.rd_en), in_range.eq(self.rd_addr < self.conns)]
        with m.If(asked):
            m.d.sync += [self.rd_data.eq(rp.data), self.rd_in_range.eq(in_range)]
            with m.If(~in_range):
                m.d.sync += self.rd_data.valid.eq(0)
        return m
