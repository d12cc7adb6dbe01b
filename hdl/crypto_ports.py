"""The engine core's ports towards its crypto units: the cipher port and the hash port.

The core (:class:`hdl.engine_core.EngineCore`) keeps every job in a slot of its input buffer and
starts work on the units through these ports; a unit reads its input words from the core's
buffers, writes cipher output back into the output buffer, and reports when a job is done.
Addresses are ``slot * slot_words + index`` (word index within the job's data).

Buffer reads are pipelined and happen every cycle: ``rd_data`` is the word at ``rd_addr`` as it
was :data:`READ_LATENCY` cycles earlier (a unit keeps its own tag of what it read, stage by
stage). The address is registered at each bank of block RAMs, the RAMs' output is registered,
and the word once more at the reader (:class:`hdl.job_buffer.JobBuffer`), so neither a RAM's
clock-to-output time nor a wire across the chip shares a cycle with logic.
"""

from __future__ import annotations

from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import HASH_STATE_BYTES, ICV_WORDS, Auth

__all__ = ["READ_LATENCY", "cipher_start_layout", "hash_start_layout", "CipherPort", "HashPort"]

READ_LATENCY = 5
"""Cycles from an address on ``rd_addr`` (sampled at a clock edge) to its word on ``rd_data``: the
address register at the RAMs, the block RAM, two output registers, a register at the reader."""


def cipher_start_layout(slot_bits: int, idx_bits: int) -> data.StructLayout:
    """One ciphering job handed to the cipher unit.

    ``slot``: the job's slot. ``key``: DES key. ``iv``: the CBC IV. ``decrypt``: direction.
    ``first``: index of the first ciphered word in the slot (the auth-only prefix precedes it).
    ``blocks``: number of 8-byte blocks to cipher (at least 1). Output block *i* goes to index
    ``first + i`` of the output buffer.
    """
    return data.StructLayout(
        {
            "slot": slot_bits,
            "key": 64,
            "iv": 64,
            "decrypt": 1,
            "first": idx_bits,
            "blocks": idx_bits + 1,
        }
    )


def hash_start_layout(slot_bits: int, idx_bits: int) -> data.StructLayout:
    """One authenticating job handed to the hash unit.

    ``auth``: the :class:`~hdl.layouts.Auth` algorithm. ``inner`` / ``outer``: the SA context's
    chaining values (see :data:`~hdl.layouts.SAContext`). ``msg_bytes``: message length in bytes
    (the job's ``auth_len + cipher_len``). ``split``: word index from which the message is read
    from the output buffer (the ciphertext of an outbound ESP job) instead of the input buffer;
    ``1 << idx_bits`` when the whole message comes from the input buffer.
    """
    return data.StructLayout(
        {
            "slot": slot_bits,
            "auth": Auth,
            "inner": HASH_STATE_BYTES * 8,
            "outer": HASH_STATE_BYTES * 8,
            "msg_bytes": idx_bits + 4,
            "split": idx_bits + 1,
        }
    )


class CipherPort(wiring.Signature):
    """The core's side of the cipher port (flip it for the unit's side).

    Members (direction as seen from the core)
    -----------------------------------------
    start : Out(stream of cipher_start_layout)
        Jobs to cipher.
    rd_addr : In
        The input word to read; ``rd_data`` has it :data:`READ_LATENCY` cycles later.
    rd_data : Out(64)
    wr_en, wr_addr, wr_data : In
        Write of one output block into the output buffer (always accepted; the word is in
        the buffer two cycles after the edge that samples it).
    done, done_slot : In
        Pulse when the job in ``done_slot`` has written its last block.
    fill_active, fill_slot, fill_words : Out
        A job may start before all its words are in (cut-through): while ``fill_active``, only
        the first ``fill_words`` words of slot ``fill_slot`` may be read.
    """

    def __init__(self, slot_bits: int, idx_bits: int) -> None:
        self.slot_bits, self.idx_bits = slot_bits, idx_bits
        abits = slot_bits + idx_bits
        super().__init__(
            {
                "start": Out(stream.Signature(cipher_start_layout(slot_bits, idx_bits))),
                "rd_addr": In(abits),
                "rd_data": Out(64),
                "wr_en": In(1),
                "wr_addr": In(abits),
                "wr_data": In(64),
                "done": In(1),
                "done_slot": In(slot_bits),
                "fill_active": Out(1),
                "fill_slot": Out(slot_bits),
                "fill_words": Out(idx_bits + 1),
            }
        )


class HashPort(wiring.Signature):
    """The core's side of the hash port (flip it for the unit's side).

    Members (direction as seen from the core)
    -----------------------------------------
    start : Out(stream of hash_start_layout)
        Jobs to authenticate.
    rd_addr, rd_out : In
        The message word to read, from the output buffer when ``rd_out`` else from the input
        buffer; ``rd_data`` has it :data:`READ_LATENCY` cycles later.
    rd_data : Out(64)
    done, done_slot, done_icv : In
        Pulse when the job in ``done_slot`` has its ICV (128 bits, left-aligned; HMAC-96 uses
        the first 96). The core compares it with a verifying job's expected ICV.
    block : In(1)
        Pulses once per 64-byte block compressed (performance counter).
    """

    def __init__(self, slot_bits: int, idx_bits: int) -> None:
        self.slot_bits, self.idx_bits = slot_bits, idx_bits
        abits = slot_bits + idx_bits
        super().__init__(
            {
                "start": Out(stream.Signature(hash_start_layout(slot_bits, idx_bits))),
                "rd_addr": In(abits),
                "rd_out": In(1),
                "rd_data": Out(64),
                "done": In(1),
                "done_slot": In(slot_bits),
                "done_icv": In(64 * ICV_WORDS),
                "block": In(1),
            }
        )
