"""DES (FIPS 46-3) as a pipeline whose depth is a parameter.

Every block carries its own key, its direction and an opaque id down the pipeline, so blocks of
different security associations and directions follow each other with no drain. Round keys are
computed on the fly: each stage holds the key-schedule registers C and D beside the block as
they stood at the start of the block's trip round the ring, and wires its round key from them
rotated by the rounds so far (left for encryption; right, in the reverse order, for decryption,
since C16 = C0 and D16 = D0), choosing between the two directions' wirings. No subkeys are
stored, and C and D are rotated only between trips (with 16 units, never): a rotation of the
registers in every unit was a 56-bit multiplexer per round.

``stages`` round units are built (1, 2, 4, 8 or 16). A block enters, goes round the ring of units
``16 // stages`` times and leaves: the latency is always :data:`LATENCY` = 16 cycles, the
throughput ``stages / 16`` blocks per cycle. With ``stages=16`` the rounds are unrolled and one
block enters every cycle; with ``stages=1`` the core is iterative, one round per cycle.

The round function reads against the standard: the tables are the ones FIPS 46-3 prints
(:mod:`hdl.des_tables`), and the permutations and rotations are wiring, done on lists of bits in
FIPS order (bit 1 first). Each S-box is a 64-entry ROM; its four output bits are wired through P
inside the ROM's constant (the "SP-box": same 6-input function per output bit for synthesis), so
a round is one expression from register to register, which also keeps Amaranth's simulator fast.
"""

from __future__ import annotations

from collections.abc import Callable

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .des_tables import FP, IP, PC1, PC2, SHIFTS, E, P, sbox_lookup

__all__ = [
    "DESPipeline", "des_input_layout", "des_output_layout", "LATENCY", "STAGE_CHOICES",
    "DECRYPT_SHIFTS", "fips_bits", "from_fips_bits", "permute", "sp_box",
]  # fmt: skip

LATENCY = 16
"""Cycles from a block's acceptance on ``i`` to its result on ``o``, for every ``stages``."""

STAGE_CHOICES = (1, 2, 4, 8, 16)
"""The supported numbers of round units."""

DECRYPT_SHIFTS = (0,) + tuple(reversed(SHIFTS[1:]))
"""Right rotations of C and D before decryption rounds 1..16: round 1 uses K16 = PC2(C0, D0)
unrotated, then each round undoes the left rotation its encryption twin applied."""


def des_input_layout(id_width: int) -> data.StructLayout:
    """The payload of a block entering the pipeline.

    ``data``: the 64-bit block, FIPS bit 1 in bit 63. ``key``: the 64-bit key in the same order
    (the parity bits 8, 16, ..., 64 are ignored). ``decrypt``: 1 to decrypt, 0 to encrypt.
    ``id``: opaque, returned with the result.
    """
    return data.StructLayout({"data": 64, "key": 64, "decrypt": 1, "id": id_width})


def des_output_layout(id_width: int) -> data.StructLayout:
    """The payload of a finished block: ``data`` (the result) and the ``id`` it entered with."""
    return data.StructLayout({"data": 64, "id": id_width})


# ---- wiring on bits in FIPS order -----------------------------------------------------------


def fips_bits(value: Value) -> list[Value]:
    """The bits of ``value`` in FIPS order: element 0 is bit 1, the most significant bit."""
    return [value[i] for i in reversed(range(len(value)))]


def from_fips_bits(bits: list[Value]) -> Value:
    """The value whose FIPS bit *n* is ``bits[n - 1]`` (the inverse of :func:`fips_bits`)."""
    return Cat(*reversed(bits))


def permute(bits: list, table: tuple[int, ...]) -> list:
    """Output bit *n* of a FIPS permutation ``table`` is input bit ``table[n - 1]``."""
    return [bits[src - 1] for src in table]


def _permute_int(x: int, width: int, table: tuple[int, ...]) -> int:
    """:func:`permute` on a Python integer of ``width`` bits (bit 1 = most significant)."""
    bits = [(x >> (width - 1 - i)) & 1 for i in range(width)]
    out = 0
    for b in permute(bits, table):
        out = (out << 1) | b
    return out


def sp_box(box: int, six: Value) -> Value:
    """S-box ``box`` (0 = S1) on the 6-bit ``six``, its output already wired through P.

    The result is the 32-bit P(0...0 S(six) 0...0): S-box *n* fills bits 4n-3..4n of P's input.
    OR-ing the eight SP-box outputs gives f's P(S1..S8). The ROM constant is built here from
    :data:`hdl.des_tables.SBOXES` and :data:`hdl.des_tables.P`.
    """
    rom = 0
    for v in range(64):
        s_out = sbox_lookup(box, v) << (28 - 4 * box)
        rom |= _permute_int(s_out, 32, P) << (32 * v)
    return Const(rom, 32 * 64).bit_select(six * 32, 32)


def round_function(r_bits: list, k_six: list[Value]) -> Value:
    """f(R, K) = P(S1..S8(E(R) xor K)).

    ``r_bits``: R's 32 bits in FIPS order. ``k_six``: the round key as eight 6-bit values, the
    part of K that meets S-box 1, 2, ..., 8.
    """
    e = permute(r_bits, E)
    f = 0
    for n in range(8):
        f = f | sp_box(n, from_fips_bits(e[6 * n : 6 * n + 6]) ^ k_six[n])
    return f


# ---- the pipeline --------------------------------------------------------------------------


def _slot_layout(id_width: int, pass_bits: int) -> data.StructLayout:
    return data.StructLayout(
        {
            "valid": 1,
            "lr": 64,  # L in bits 63..32, R in bits 31..0 (after IP)
            "cd": 56,  # C in bits 55..28, D in bits 27..0: the key schedule at this pass's start
            "decrypt": 1,
            "pass_": pass_bits,  # trips round the ring so far
            "id": id_width,
        }
    )


class DESPipeline(wiring.Component):
    """DES encryption and decryption, ``stages`` round units, a key and direction per block.

    Parameters
    ----------
    stages : int
        Round units built: 16 (unrolled, one block per cycle), 8, 4, 2 or 1 (iterative). A block
        goes round the ring of units ``16 // stages`` times.
    id_width : int
        Width of the opaque ``id`` carried with each block.

    Ports
    -----
    i : stream, in
        Blocks to cipher (:func:`des_input_layout`). ``ready`` is low only when ``stages < 16``
        and a block going round the ring again takes the entry slot this cycle; it does not
        depend on ``i.valid`` or ``i.payload``. With ``stages=16`` it is always high.
    o : stream, out, always ready
        Finished blocks (:func:`des_output_layout`), exactly :data:`LATENCY` cycles after they
        were accepted, in acceptance order. The pipeline never stalls: the consumer must take
        every block the cycle it is valid (reserve room before feeding ``i``, as ``hdl.cbc`` does).
    next_valid, next_id : out
        A look-ahead of ``o``: ``next_valid`` is high when a block will be valid on ``o`` in the
        next cycle, and ``next_id`` is its id (a feedback scheduler, such as CBC encryption's, can
        then plan that block's successor a cycle early).
    """

    def __init__(self, *, stages: int = 16, id_width: int = 8):
        if stages not in STAGE_CHOICES:
            raise ValueError(f"stages must be one of {STAGE_CHOICES}, not {stages!r}")
        if id_width < 0:
            raise ValueError(f"id_width must be non-negative, not {id_width!r}")
        self.stages = stages
        self.passes = LATENCY // stages
        self.id_width = id_width
        self.latency = LATENCY
        super().__init__(
            {
                "i": In(stream.Signature(des_input_layout(id_width))),
                "o": Out(stream.Signature(des_output_layout(id_width), always_ready=True)),
                "next_valid": Out(1),
                "next_id": Out(id_width),
            }
        )

    def _rotation(self, p: int, decrypt: int, s: int) -> int:
        """How far (FIPS left, mod 28) C and D stand rotated for round unit ``s`` in pass ``p``,
        from where they stood at the pass's start."""
        rounds = range(p * self.stages, p * self.stages + s + 1)
        return sum(-DECRYPT_SHIFTS[r] if decrypt else SHIFTS[r] for r in rounds) % 28

    def _rotated(self, slot: data.View, amount) -> Callable:
        """``pick -> Value``: ``pick`` applied to C||D (FIPS bits) rotated by ``amount(p,
        decrypt)`` for the slot's pass and direction, as a tree of 2:1 multiplexers over the few
        distinct amounts (none when there is one)."""
        cd = fips_bits(slot.cd)
        c, d = cd[:28], cd[28:]
        amounts = [amount(p, decrypt) for decrypt in (0, 1) for p in range(self.passes)]
        distinct = sorted(set(amounts))
        options = [c[n:] + c[:n] + d[n:] + d[:n] for n in distinct]
        code_bits = (len(distinct) - 1).bit_length()
        code_rom = sum(distinct.index(n) << (code_bits * i) for i, n in enumerate(amounts))
        code = Const(code_rom, max(1, code_bits * len(amounts))).bit_select(
            Cat(slot.pass_, slot.decrypt) * code_bits, code_bits
        )

        def select(pick) -> Value:
            values = [from_fips_bits(pick(bits)) for bits in options]
            values += values[-1:] * ((1 << code_bits) - len(values))
            for level in range(code_bits):  # a balanced tree of 2:1 muxes on the code bits
                values = [Mux(code[level], hi, lo) for lo, hi in zip(values[0::2], values[1::2], strict=True)]
            return values[0]

        return select

    def _round_key(self, s: int, slot: data.View) -> list[Value]:
        """For round unit ``s``: the round key's 6-bit parts, PC2 of C||D rotated for its round
        (unit ``s`` runs round ``pass * stages + s``, 0-based, in a block's ``pass``-th trip)."""
        select = self._rotated(slot, lambda p, decrypt: self._rotation(p, decrypt, s))
        return [select(lambda bits, n=n: permute(bits, PC2)[6 * n : 6 * n + 6]) for n in range(8)]

    def _round(self, s: int, slot: data.View) -> Value:
        """Round unit ``s``: one DES round on ``slot``, as the bits of the next slot."""
        k_six = self._round_key(s, slot)
        left, right = slot.lr[32:64], slot.lr[0:32]
        # L' = R, R' = L xor f(R, K); the key schedule, direction, pass and id ride along.
        return Cat(
            slot.valid,
            Cat(left ^ round_function(fips_bits(right), k_six), right),
            slot.cd,
            slot.decrypt,
            slot.pass_,
            slot.id,
        )

    def elaborate(self, platform) -> Module:
        m = Module()
        pass_bits = (self.passes - 1).bit_length()
        layout = _slot_layout(self.id_width, pass_bits)
        regs = [Signal(layout, name=f"stage{s}") for s in range(self.stages)]
        last = regs[-1]
        done = Signal()  # the last unit holds a block that has run all 16 rounds
        m.d.comb += done.eq(last.valid & (last.pass_ == self.passes - 1))

        # Entry: a block on its way round again has the slot; else a new block may enter.
        entry = Signal(layout)
        recirculate = Signal()
        m.d.comb += recirculate.eq(last.valid & ~done)
        with m.If(recirculate):
            # C and D move on by the whole pass's rotation
            to_next_pass = self._rotated(last, lambda p, decrypt: self._rotation(p, decrypt, self.stages - 1))
            m.d.comb += [
                entry.eq(last),
                entry.pass_.eq(last.pass_ + 1),
                entry.cd.eq(to_next_pass(lambda bits: bits)),
            ]
        with m.Else():
            m.d.comb += [
                entry.valid.eq(self.i.valid),
                entry.lr.eq(from_fips_bits(permute(fips_bits(self.i.payload.data), IP))),
                entry.cd.eq(from_fips_bits(permute(fips_bits(self.i.payload.key), PC1))),
                entry.decrypt.eq(self.i.payload.decrypt),
                entry.pass_.eq(0),
                entry.id.eq(self.i.payload.id),
            ]
        m.d.comb += self.i.ready.eq(~recirculate)

        slot = entry
        for s in range(self.stages):
            # Data registers load only under a valid block (a clock enable; bubbles cost no toggles).
            m.d.sync += regs[s].valid.eq(slot.valid)
            with m.If(slot.valid):
                m.d.sync += regs[s].as_value().eq(self._round(s, slot))
            slot = regs[s]

        # Look-ahead: the ring always advances, so what the last unit holds next cycle is what the
        # unit before it (the entry, for a single unit) holds now.
        before_last = entry if self.stages == 1 else regs[-2]
        m.d.comb += [
            self.next_valid.eq(before_last.valid & (before_last.pass_ == self.passes - 1)),
            self.next_id.eq(before_last.id),
        ]

        # Output: FP(R16 || L16).
        m.d.comb += [
            self.o.valid.eq(done),
            self.o.payload.data.eq(
                from_fips_bits(permute(fips_bits(Cat(last.lr[32:64], last.lr[0:32])), FP))
            ),
            self.o.payload.id.eq(last.id),
        ]
        return m
