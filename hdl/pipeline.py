"""Pipeline building blocks: a value delayed by a fixed number of cycles, a register copy that
synthesis keeps apart from its twins, a FIFO whose places are handed out as credits to a pipeline
that cannot stall, and a stream register slice."""

from __future__ import annotations

from amaranth.hdl import ClockSignal, Const, Elaboratable, Instance, Module, Mux, ResetSignal, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .target import family

__all__ = ["delayed", "copy_register", "CreditFIFO", "RegisterSlice"]


def delayed(m: Module, value: Value, cycles: int, name: str) -> Value:
    """``value`` through ``cycles`` registers of ``m``'s sync domain (named ``name_d1``, ...);
    ``value`` itself when ``cycles`` is 0."""
    for i in range(1, cycles + 1):
        q = Signal.like(value, name=f"{name}_d{i}")
        m.d.sync += q.eq(value)
        value = q
    return value


def copy_register(m: Module, platform: object, value: Value, name: str) -> Signal:
    """``value`` through one register of ``m``'s sync domain (reset to 0), one that synthesis
    does not merge with other registers of the same input.

    A copy of a register per destination (a bank of block RAMs each) is what spreads a fanout
    over the device; yosys's ``opt_merge`` folds registers with the same input back into one
    (the job buffers' per-bank address registers, at f29aa5b: one register drove the address
    pins of 64 block RAMs in both buffers), and a ``keep`` attribute on the signal does not stop
    it. So on ECP5 the copy is built from ``TRELLIS_FF`` cells, which ``opt_merge`` leaves alone;
    elsewhere it is a plain register."""
    q = Signal(len(value), name=name)
    if family(platform) != "ecp5":
        m.d.sync += q.eq(value)
        return q
    for i in range(len(value)):
        m.submodules[f"{name}_ff{i}"] = Instance(
            "TRELLIS_FF",
            p_GSR="DISABLED",
            p_CEMUX="1",
            p_CLKMUX="CLK",
            p_LSRMUX="LSR",
            p_REGSET="RESET",
            p_SRMODE="LSR_OVER_CE",
            i_CLK=ClockSignal(),
            i_LSR=ResetSignal(),
            i_CE=Const(1),
            i_DI=value[i],
            o_Q=q[i],
        )
    return q


class CreditFIFO(wiring.Component):
    """A FIFO (output registered) for a producer whose pipeline never stalls.

    The producer takes a credit when it starts a word (``take``) and writes the word some cycles
    later (``w_en``); the credit is a place kept free for it, so the reader's ``r_en`` ends at
    this FIFO instead of running back through the producer's stages. For full rate, ``depth``
    must cover the credit's round trip: the producer's stages, the FIFO's two, and the pop.

    Ports
    -----
    take : In(1)
        A word was started this cycle; only while ``has_credit``.
    has_credit : Out(1)
        A register: a place is free for one more word.
    w_en, w_data : In
        The word arrives (exactly once per ``take``, some cycles after it).
    r_rdy, r_en, r_data : Out / In / Out
        As :class:`amaranth.lib.fifo.SyncFIFOBuffered`'s read port.
    """

    def __init__(self, *, width: int, depth: int) -> None:
        self.width, self.depth = width, depth
        super().__init__(
            {
                "take": In(1),
                "has_credit": Out(1, init=1),
                "w_en": In(1),
                "w_data": In(width),
                "r_rdy": Out(1),
                "r_en": In(1),
                "r_data": Out(width),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=self.width, depth=self.depth)
        m.d.comb += [
            fifo.w_en.eq(self.w_en),
            fifo.w_data.eq(self.w_data),
            self.r_rdy.eq(fifo.r_rdy),
            fifo.r_en.eq(self.r_en),
            self.r_data.eq(fifo.r_data),
        ]
        credits = Signal(range(self.depth + 1), init=self.depth)
        popped = Signal()
        m.d.comb += popped.eq(fifo.r_rdy & fifo.r_en)
        with m.If(self.take & ~popped):
            m.d.sync += [credits.eq(credits - 1), self.has_credit.eq(credits > 1)]
        with m.Elif(popped & ~self.take):
            m.d.sync += [credits.eq(credits + 1), self.has_credit.eq(1)]
        return m


class RegisterSlice(wiring.Component):
    """A stream stage whose every output is a register: ``i.ready``, ``o.valid`` and ``o.payload``.

    Two places (the output register and a skid register behind it) keep it at full rate: a word
    arriving while the output is held waits in the skid, and ``i.ready`` falls only then. So a
    consumer's ``ready`` that depends on the payload or on logic far away ends here, instead of
    running back to the producer in the same cycle. One cycle of latency.

    ``skid_valid`` and ``skid`` show the skid register (a word taken and not yet on ``o``), for a
    consumer that must know everything the slice holds.
    """

    def __init__(self, shape) -> None:
        super().__init__(
            {
                "i": In(stream.Signature(shape)),
                "o": Out(stream.Signature(shape)),
                "skid_valid": Out(1),
                "skid": Out(shape),
            }
        )

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        skid_valid, skid = self.skid_valid, self.skid
        o_valid = Signal()
        o_payload = Signal(self.i.p.shape())
        m.d.comb += [self.i.ready.eq(~skid_valid), self.o.valid.eq(o_valid), self.o.payload.eq(o_payload)]
        incoming = self.i.valid & ~skid_valid
        with m.If(~o_valid | self.o.ready):
            m.d.sync += [
                o_valid.eq(skid_valid | incoming),
                o_payload.eq(Mux(skid_valid, skid, self.i.payload)),
                skid_valid.eq(0),
            ]
        with m.Elif(incoming):
            m.d.sync += [skid_valid.eq(1), skid.eq(self.i.payload)]
        return m
