"""The engine core's job buffers: one word store per buffer, banked and registered for the clock.

The input buffer (job data as it arrives) and the output buffer (cipher output) each hold
``slots * slot_words`` 64-bit words: 64 KiB by default, 32 block RAMs per read port on ECP5, which
nextpnr spreads over the whole device. A net that reaches all of them (a write address, a read
address) or leaves one of them unregistered is a route across the chip in the same cycle as logic.
So :class:`JobBuffer` splits the word into ``banks`` memories of ``64 / banks`` bits, registers
every port's address, data and enable per bank (each copy fans out to one bank's RAMs only), and
registers each bank's read data twice after the RAM: first in the block RAM's own output
register (:class:`~hdl.block_ram.BlockRAM`; a DP16KD's clock-to-out is 5.8 ns without it), then
in a fabric register that carries the word across the device.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Elaboratable, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .block_ram import BlockRAM
from .pipeline import copy_register

__all__ = ["JobBuffer"]


class JobBuffer(wiring.Component):
    """``depth`` words of 64 bits with one write port and ``readers`` read ports.

    Ports
    -----
    wr_en, wr_addr, wr_data : In
        A word to write (registered first): an address presented :attr:`WRITE_LATENCY` or more
        cycles after the write reads the new word.
    rd_addr : In(ArrayLayout(abits, readers))
        Each reader's address, sampled at every clock edge (the buffer reads every cycle: a read
        enable would cost a hold multiplexer after each block RAM).
    rd_data : Out(ArrayLayout(64, readers))
        Each reader's word at the address sampled :attr:`LATENCY` cycles earlier.

    ``banks``: memories of ``64 / banks`` bits side by side, each with its own registered
    ports. Eight banks of 8 bits put four DP16KDs (2048 x 9) under each address copy of a 64 KiB
    buffer; with four banks of 16 bits (eight RAMs each) the whole engine's critical path at
    e0b711d was a bank's write address register -> one of its RAMs, 12.0 ns of routing.

    A word must not be read by an address presented in the cycle it is written: the block RAM
    sees both at one clock edge, and the memories carry yosys's ``no_rw_check`` (the result is
    undefined, and synthesis adds no read-during-write bypass after the RAMs).
    """

    LATENCY = 2 + BlockRAM.LATENCY
    """Address register, block RAM and its output register, the register after it."""
    WRITE_LATENCY = 1
    """Cycles from a write to the first read address that sees it (the write register and the
    read's address register keep the two one edge apart)."""

    def __init__(self, *, depth: int, readers: int, banks: int = 8) -> None:
        if 64 % banks:
            raise ValueError(f"banks must divide 64, not {banks}")
        self.depth, self.readers, self.banks = depth, readers, banks
        self.abits = max(1, (depth - 1).bit_length())
        super().__init__(
            {
                "wr_en": In(1),
                "wr_addr": In(self.abits),
                "wr_data": In(64),
                "rd_addr": In(data.ArrayLayout(self.abits, readers)),
                "rd_data": Out(data.ArrayLayout(64, readers)),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        width = 64 // self.banks
        outputs: list[list[Signal]] = [[] for _ in range(self.readers)]
        for b in range(self.banks):
            m.submodules[f"bank{b}"] = ram = BlockRAM(width=width, depth=self.depth, readers=self.readers)
            # each bank's own copy of the write enable and of every address (copy_register:
            # yosys would otherwise merge the banks' copies into one register for all RAMs)
            m.d.comb += [
                ram.w_en.eq(copy_register(m, platform, self.wr_en, f"w_en{b}")),
                ram.w_addr.eq(copy_register(m, platform, self.wr_addr, f"w_addr{b}")),
            ]
            m.d.sync += ram.w_data.eq(self.wr_data.word_select(b, width))
            for r in range(self.readers):
                r_data = Signal(width, name=f"r{r}_data{b}")
                m.d.comb += ram.r_addr[r].eq(copy_register(m, platform, self.rd_addr[r], f"r{r}_addr{b}"))
                m.d.sync += r_data.eq(ram.r_data[r])
                outputs[r].append(r_data)
        for r in range(self.readers):
            m.d.comb += self.rd_data[r].eq(Cat(*outputs[r]))
        return m
