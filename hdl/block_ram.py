"""A block RAM whose reads leave through a register at the RAM: on ECP5, the RAM's own.

An ECP5 DP16KD read without its output register has a clock-to-out of 5.83 ns (nextpnr's
timing model), more than half of a 100 MHz cycle before the word has left the RAM; with the
register (``REGMODE="OUTREG"``) it is 0.96 ns. yosys's RAM mapping does not build that register,
and a fabric register after the RAM is wherever the placer puts it: in the engine it was a
4.4 ns route away (the reduced engine's critical path at f54bf9d). So :class:`BlockRAM`, elaborated
for ECP5 (:mod:`hdl.target`), instantiates the DP16KDs itself, one read copy per reader, with the
output register on; anywhere else (simulation, the generic export) it is an Amaranth
:class:`~amaranth.lib.memory.Memory` followed by a register, the same behaviour cycle for cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockSignal, Const, Elaboratable, Instance, Module, Mux, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .target import family

__all__ = ["BlockRAM", "dp16kd_mode"]

DP16KD_MODES = ((36, 512), (18, 1024), (9, 2048), (4, 4096), (2, 8192), (1, 16384))
"""A DP16KD's (data width, words) configurations, widest first. The 36-bit one is the RAM's
pseudo-dual-port mode (Lattice's PDPW16KD): port A writes 36 bits (DIA and DIB, its four byte
enables on ADA0-3 carrying the write enable), port B reads them (DOA and DOB); both halves'
output registers are on (REGMODE_A and REGMODE_B), as Lattice's own tools set them for it."""
DP16KD_ADDRESS_PINS = 14


def dp16kd_mode(depth: int) -> tuple[int, int] | None:
    """The widest DP16KD configuration ``(width, words)`` that holds ``depth`` words in one RAM
    (so a word is spread over RAMs side by side and needs no multiplexer after them), or None if
    ``depth`` is more than one DP16KD's 16384 words."""
    for width, words in DP16KD_MODES:
        if depth <= words:
            return width, words
    return None


class BlockRAM(wiring.Component):
    """``depth`` words of ``width`` bits: one write port, ``readers`` read ports.

    Ports
    -----
    w_en, w_addr, w_data : In
        The word written at the clock edge where ``w_en`` is high.
    r_addr : In(ArrayLayout(abits, readers))
        Each reader's address, sampled at every clock edge.
    r_data : Out(ArrayLayout(width, readers))
        The word at the address sampled :attr:`LATENCY` edges earlier (the RAM's read at the
        first edge, its output register at the second). Not reset: a word is what was written.

    An address sampled at the edge that writes its word reads an undefined value (the memory
    carries yosys's ``no_rw_check``, and a DP16KD's ``NORMAL`` write mode does not forward
    between its ports), unless ``transparent``: then it reads the new word, which a register
    beside the RAM keeps for the case (the write's address, registered, is compared with the
    read's a cycle later, so ``r_data`` is a multiplexer after two registers, not after the
    RAM). From the next edge on every address reads the new word.

    ``registered_write``: the write port goes through a register before the RAM, for write
    signals that come from far away (the RAM sits in the device's RAM rows, wherever its reads
    are needed; the reduced engine's critical path at 601a235 was a write address, 9.5 ns of
    routing). The RAM then writes a word an edge late; a read sampled at that edge takes the
    word from the same bypass, so the ports behave as described above either way.
    """

    LATENCY = 2
    """Clock edges from a read address to its word on ``r_data``."""

    def __init__(
        self,
        *,
        width: int,
        depth: int,
        readers: int,
        transparent: bool = False,
        registered_write: bool = False,
    ) -> None:
        if width < 1 or depth < 2 or readers < 1:
            raise ValueError(
                f"BlockRAM needs width >= 1, depth >= 2, readers >= 1; got {width}, {depth}, {readers}"
            )
        self.width, self.depth, self.readers = width, depth, readers
        self.transparent = transparent
        self.registered_write = registered_write
        self.abits = (depth - 1).bit_length()
        super().__init__(
            {
                "w_en": In(1),
                "w_addr": In(self.abits),
                "w_data": In(width),
                "r_addr": In(data.ArrayLayout(self.abits, readers)),
                "r_data": Out(data.ArrayLayout(width, readers)),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        outs = [Signal(self.width, name=f"ram{r}", reset_less=True) for r in range(self.readers)]
        request = _Write(self.w_en, self.w_addr, self.w_data)
        # the write requested at each edge, registered; with `registered_write` the RAM's write,
        # and that one registered again (the RAM's write a cycle ago)
        later = _Write.register(m, request, "w1") if self.transparent or self.registered_write else None
        earlier = _Write.register(m, later, "w2") if self.registered_write else None
        write = later if self.registered_write else request
        if family(platform) == "ecp5" and dp16kd_mode(self.depth) is not None:
            self._ecp5(m, outs, write)
        else:
            self._generic(m, outs, write)
        # The writes a read sampled at an edge can miss in the RAM, as they stand a cycle after
        # that edge (next to the read's registered address), the newest first: the write
        # requested at the read's own edge, and the one the RAM did at it.
        missed = [w for w, on in ((later, self.transparent), (earlier, self.registered_write)) if on]
        if not missed:
            m.d.comb += [self.r_data[r].eq(outs[r]) for r in range(self.readers)]
            return m
        for r in range(self.readers):
            read_addr, collided = Signal(self.abits, name=f"read_addr{r}"), Signal(name=f"collided{r}")
            bypass = Signal(self.width, name=f"bypass{r}")  # beside the RAM's output when it comes
            hits = [w.en & (w.addr == read_addr) for w in missed]
            chosen = missed[-1].data
            for hit, w in reversed(list(zip(hits[:-1], missed[:-1], strict=True))):
                chosen = Mux(hit, w.data, chosen)
            m.d.sync += [read_addr.eq(self.r_addr[r]), collided.eq(_any(hits)), bypass.eq(chosen)]
            m.d.comb += self.r_data[r].eq(Mux(collided, bypass, outs[r]))
        return m

    def _generic(self, m: Module, outs: list[Signal], write: _Write) -> None:
        attrs = {"ram_style": "block", "no_rw_check": 1}
        m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=[], attrs=attrs)
        wp = mem.write_port()
        m.d.comb += [wp.en.eq(write.en), wp.addr.eq(write.addr), wp.data.eq(write.data)]
        for r in range(self.readers):
            rp = mem.read_port()
            m.d.comb += rp.addr.eq(self.r_addr[r])
            m.d.sync += outs[r].eq(rp.data)

    def _ecp5(self, m: Module, outs: list[Signal], write: _Write) -> None:
        mode = dp16kd_mode(self.depth)
        assert mode is not None
        width, words = mode
        low = DP16KD_ADDRESS_PINS - (words - 1).bit_length()  # address pins below the word address
        tiles = -(-self.width // width)
        w_data = Signal(tiles * width)
        m.d.comb += w_data.eq(write.data)
        wide = width == 36
        for r in range(self.readers):
            r_data = Signal(tiles * width, name=f"r{r}_data")
            m.d.comb += outs[r].eq(r_data)
            for t in range(tiles):
                word_in = [w_data[t * width + i] if i < width else Const(0) for i in range(36)]
                word_out = [r_data[t * width + i] for i in range(width)]
                if wide:
                    ada = [write.en] * 4 + _address(write.addr, low, False)[4:]
                    data_pins = {
                        **_pins("i_DIA", word_in[:18]),
                        **_pins("i_DIB", word_in[18:]),
                        **{f"o_DOA{i}": v for i, v in enumerate(word_out[:18])},
                        **{f"o_DOB{i}": v for i, v in enumerate(word_out[18:])},
                    }
                else:
                    ada = _address(write.addr, low, width == 18)
                    data_pins = {
                        **_pins("i_DIA", word_in[:18]),
                        **_pins("i_DIB", [Const(0)] * 18),
                        **{f"o_DOB{i}": v for i, v in enumerate(word_out)},
                    }
                ports = {
                    "i_CLKA": ClockSignal(),
                    "i_CLKB": ClockSignal(),
                    **_pins("i_ADA", ada),
                    **_pins("i_ADB", _address(self.r_addr[r], low, False)),
                    **data_pins,
                    "i_WEA": Const(1) if wide else write.en,
                    "i_WEB": Const(0),
                }
                for port in "AB":
                    ports |= {f"i_CE{port}": Const(1), f"i_OCE{port}": Const(1), f"i_RST{port}": Const(0)}
                    ports |= {f"i_CS{port}{i}": Const(0) for i in range(3)}
                m.submodules[f"r{r}_ram{t}"] = Instance(
                    "DP16KD",
                    p_DATA_WIDTH_A=width,
                    p_DATA_WIDTH_B=width,
                    p_REGMODE_A="OUTREG" if wide else "NOREG",
                    p_REGMODE_B="OUTREG",
                    p_WRITEMODE_A="NORMAL",
                    p_WRITEMODE_B="NORMAL",
                    p_CSDECODE_A="0b000",
                    p_CSDECODE_B="0b000",
                    p_RESETMODE="SYNC",
                    p_GSR="AUTO",
                    **ports,
                )


@dataclass(frozen=True)
class _Write:
    """A write port's signals: enable, address, data."""

    en: Value
    addr: Value
    data: Value

    @staticmethod
    def register(m: Module, w: _Write, name: str) -> _Write:
        """``w`` a clock edge later (the data not reset: only a set ``en`` makes it count)."""
        en = Signal(name=f"{name}_en")
        addr = Signal(len(w.addr), name=f"{name}_addr")
        data = Signal(len(w.data), name=f"{name}_data", reset_less=True)
        m.d.sync += [en.eq(w.en), addr.eq(w.addr), data.eq(w.data)]
        return _Write(en, addr, data)


def _any(bits: list[Value]) -> Value:
    out = bits[0]
    for b in bits[1:]:
        out = out | b
    return out


def _address(addr, low: int, byte_enables: bool) -> list:
    """A port's 14 address pins, least significant first: ``low`` pins below the word address (in
    the 18-bit mode the two lowest are a write port's byte enables, both on), then ``addr``, then
    zeros up to the RAM's top pin."""
    below = [Const(1 if byte_enables and i < 2 else 0) for i in range(low)]
    above = [Const(0)] * (DP16KD_ADDRESS_PINS - low - len(addr))
    return [*below, *(addr[i] for i in range(len(addr))), *above]


def _pins(prefix: str, values: list) -> dict:
    return {f"{prefix}{i}": v for i, v in enumerate(values)}
