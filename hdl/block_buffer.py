"""Two 64-byte message blocks in distributed RAM, between a hash lane and its compression cores.

A lane writes the next block, eight 64-bit words, into one bank while a core compresses the
block in the other; when the core accepts the new block the banks swap. The cores read the words
where they lie, a row (two 32-bit words) at a time, in the order their schedule wants them: MD5
one word per step in its message order, SHA-1 the first sixteen words once, into its message
schedule. No core keeps a copy of the block, and nothing moves 512 bits at once: a block costs 16
LUT-RAM cells (ECP5 ``TRELLIS_DPR16X4``, 16 x 4 bits each) instead of a 512-bit register in the
lane and another in each core, with its 512 load multiplexers and their select's fanout.
"""

from amaranth import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["BlockRow", "BlockRead", "BlockBuffer"]

BlockRow = data.ArrayLayout(32, 2)
"""Row ``r`` of a block: its words ``2r`` (element 0) and ``2r + 1``, as the core reading them
numbers and orders them (the lane byte-swaps for MD5's little-endian words)."""

BlockRead = wiring.Signature(
    {
        "row": Out(3),
        "next": Out(1),
        "data": In(BlockRow),
    }
)
"""A core's read port into its block buffer, from the core's side. ``row``: which row. ``next``:
1 reads the bank the lane fills, whose block is offered on the core's ``blocks`` stream once it
is whole (the cores read a block's first rows from there ahead of time), 0 the block the core
accepted last. ``data``: that row, in the same cycle (the RAM's read is asynchronous); so that
the read is not a path of its own, a core drives ``row`` and ``next`` from registers."""


class BlockBuffer(wiring.Component):
    """Two blocks, one filled by the lane and one read by a core, in a 16 x 64-bit LUT RAM.

    Parameters
    ----------
    readers : int
        Read ports, one per core: each is a copy of the RAM (16 more LUT-RAM cells), so that a
        core's address registers drive its RAM directly, with no choice of core before the read
        and each read word going to one core.

    Ports
    -----
    write_row : In(3)
        Row of the filled block that ``write_data`` goes to (bytes ``8r .. 8r + 7`` of the block).
    write_data : In(64)
        The row's eight bytes, network order (byte ``8r`` in bits 63..56).
    write_en : In(1)
        Write ``write_data`` this cycle.
    swap : In(1)
        The filled block goes to the core this cycle (its ``blocks`` transfer): from the next
        cycle ``read.next = 0`` reads it and the writes fill the other bank.
    read : In(BlockRead).array(readers)
        The cores' read ports, rows as big-endian 32-bit words (element 0 the row's top half).
    """

    def __init__(self, readers: int = 1):
        if readers < 1:
            raise ValueError(f"readers must be 1 or more, not {readers}")
        super().__init__(
            {
                "write_row": In(3),
                "write_data": In(64),
                "write_en": In(1),
                "swap": In(1),
                "read": In(BlockRead).array(readers),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=64, depth=16, init=[], attrs={"ram_style": "distributed"})
        write = mem.write_port()
        fill = Signal()  # the bank the lane fills: the offered block's; the core's is the other
        with m.If(self.swap):
            m.d.sync += fill.eq(~fill)
        m.d.comb += [
            write.addr.eq(self.write_row | (fill << 3)),
            write.data.eq(self.write_data),
            write.en.eq(self.write_en),
        ]
        for port in self.read:
            read = mem.read_port(domain="comb")
            m.d.comb += [
                read.addr.eq(port.row | ((fill ^ ~port.next) << 3)),
                port.data[0].eq(read.data[32:64]),
                port.data[1].eq(read.data[0:32]),
            ]
        return m
