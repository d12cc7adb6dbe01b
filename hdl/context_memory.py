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

from amaranth.hdl import Cat, Elaboratable, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .block_ram import BlockRAM, dp16kd_mode
from .layouts import ContextWrite, SAContext
from .pipeline import copy_register

__all__ = ["READ_LATENCY", "ContextMemory"]

READ_LATENCY = 4
"""Cycles from a context read (``rd_en`` at a clock edge) to its data on ``rd_data``."""


def _bank_slices(width: int, depth: int, banks: int) -> list[tuple[int, int]]:
    """``width`` bits split into up to ``banks`` slices ``(lo, hi)``, each a whole number of the
    DP16KD data width that ``depth`` words take (so no RAM is split between two banks)."""
    mode = dp16kd_mode(depth)
    tile = mode[0] if mode else 1
    tiles = -(-width // tile)
    per = -(-tiles // banks) * tile
    return [(lo, min(lo + per, width)) for lo in range(0, width, per)]


class ContextMemory(wiring.Component):
    """``conns`` SA contexts in block RAM (:attr:`BANKS` BlockRAMs side by side, each holding a
    slice of every context).

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

    BANKS = 4
    """RAMs side by side that the context word is split over, each with its own address
    registers."""

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
        depth = max(2, self.conns)
        abits = (depth - 1).bit_length()
        w = self.contexts.payload
        m.d.comb += self.contexts.ready.eq(1)
        # The host's write and the intake's read are both registered before the RAM, so they
        # meet it a cycle later in the same order (a read still sees the context as of its own
        # clock edge) and the RAM's ports are driven from registers: the read address's route
        # from the intake's state to all 22 RAMs was the reduced engine's critical path at
        # 5d5923b (seed 2). The RAM reads every cycle; rd_en's read is kept as it comes out (a
        # RAM read enable would cost a hold multiplexer after the RAM in synthesis).
        # The word is split over BANKS BlockRAMs side by side, each with its own copy of the
        # registered addresses and write enable (hdl.pipeline.copy_register) and its own
        # same-edge bypass, so that no register fans out to all 22 block RAMs of the default
        # 1024 contexts (in HeAP's placement of c55d707 the read address's 23 sinks spanned
        # 153 tiles, and the bypass's select, 390 multiplexers, 165).
        rd_addr, rd_en = Signal(16), Signal()
        m.d.sync += [rd_addr.eq(self.rd_addr), rd_en.eq(self.rd_en)]
        w_en = self.contexts.valid & (w.conn_id < self.conns)
        parts = []
        for b, (lo, hi) in enumerate(_bank_slices(SAContext.size, depth, self.BANKS)):
            m.submodules[f"ram{b}"] = ram = BlockRAM(width=hi - lo, depth=depth, readers=1, transparent=True)
            m.d.comb += [
                ram.w_en.eq(copy_register(m, platform, w_en, f"w_en{b}")),
                ram.w_addr.eq(copy_register(m, platform, w.conn_id[:abits], f"w_addr{b}")),
                ram.r_addr[0].eq(copy_register(m, platform, self.rd_addr[:abits], f"r_addr{b}")),
            ]
            m.d.sync += ram.w_data.eq(w.context.as_value()[lo:hi])
            parts.append(ram.r_data[0])
        asked, in_range = Signal(), Signal()
        m.d.sync += [asked.eq(rd_en), in_range.eq(rd_addr < self.conns)]
        asked_q, in_range_q = Signal(), Signal()
        m.d.sync += [asked_q.eq(asked), in_range_q.eq(in_range)]
        with m.If(asked_q):
            m.d.sync += [self.rd_data.eq(Cat(*parts)), self.rd_in_range.eq(in_range_q)]
            with m.If(~in_range_q):
                m.d.sync += self.rd_data.valid.eq(0)
        return m
