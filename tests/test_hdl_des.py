# amaranth: UnusedElaboratable=no
"""The DES pipeline (hdl.des) against NIST SP 800-17 known answers and OpenSSL.

Expected values come from OpenSSL through ``cryptography`` (``TripleDES(key * 3)`` in ECB mode is
exact single DES) and, for a few entries of each SP 800-17 table and the FIPS 81 ECB example, from
the published documents as literals. Every ``stages`` value is run, with keys and directions mixed
block by block; the bench also checks the fixed latency and the throughput of each depth.
"""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hdl_helpers import run_sim

from hdl.des import LATENCY, STAGE_CHOICES, DESPipeline

WEAK_KEY = 0x0101010101010101  # SP 800-17 uses it for the plaintext tables: E = D for this key


def openssl_des(key: int, block: int, decrypt: bool) -> int:
    """Single DES of one block by OpenSSL (EDE with three equal keys)."""
    c = Cipher(TripleDES(key.to_bytes(8, "big") * 3), modes.ECB())
    x = c.decryptor() if decrypt else c.encryptor()
    return int.from_bytes(x.update(block.to_bytes(8, "big")) + x.finalize(), "big")


# ---- NIST SP 800-17 tables (inputs), with some published answers as literals ----------------

VARIABLE_PLAINTEXT = [(WEAK_KEY, 1 << (63 - i)) for i in range(64)]
"""Table 1: key 01..01, plaintext a single 1 bit in each position."""

VARIABLE_KEY = [(WEAK_KEY | (1 << (63 - i)), 0) for i in range(64) if i % 8 != 7]
"""Table 3: plaintext 0, key 01..01 with one non-parity bit set (56 keys)."""

PERMUTATION_KEYS = """
1046913489980131 1007103489988020 10071034C8980120 1046103489988020 1086911519190101 1086911519580101
5107B01519580101 1007B01519190101 3107915498080101 3107919498080101 10079115B9080140 3107911598080140
1007D01589980101 9107911589980101 9107D01589190101 1007D01598980120 1007940498190101 0107910491190401
0107910491190101 0107940491190401 19079210981A0101 1007911998190801 10079119981A0801 1007921098190101
100791159819010B 1004801598190101 1004801598190102 1004801598190108 1002911598100104 1002911598190104
1002911598100201 1002911698100101
"""
PERMUTATION = [(int(k, 16), 0) for k in PERMUTATION_KEYS.split()]
"""Table 4 (permutation operation): 32 keys, plaintext 0."""

SUBSTITUTION_PAIRS = """
7CA110454A1A6E57 01A1D6D039776742  0131D9619DC1376E 5CD54CA83DEF57DA  07A1133E4A0B2686 0248D43806F67172
3849674C2602319E 51454B582DDF440A  04B915BA43FEB5B6 42FD443059577FA2  0113B970FD34F2CE 059B5E0851CF143A
0170F175468FB5E6 0756D8E0774761D2  43297FAD38E373FE 762514B829BF486A  07A7137045DA2A16 3BDD119049372802
04689104C2FD3B2F 26955F6835AF609A  37D06BB516CB7546 164D5E404F275232  1F08260D1AC2465E 6B056E18759F5CCA
584023641ABA6176 004BD6EF09176062  025816164629B007 480D39006EE762F2  49793EBC79B3258F 437540C8698F3CFA
4FB05E1515AB73A7 072D43A077075292  49E95D6D4CA229BF 02FE55778117F12A  018310DC409B26D6 1D9D5C5018F728C2
1C587F1C13924FEF 305532286D6F295A
"""
_sp = [int(x, 16) for x in SUBSTITUTION_PAIRS.split()]
SUBSTITUTION = list(zip(_sp[0::2], _sp[1::2], strict=True))
"""Table 5 (substitution tables): 19 (key, plaintext) pairs that exercise every S-box entry class."""

PUBLISHED = [
    # (key, plaintext, ciphertext) as printed in SP 800-17 and FIPS 81 (ECB example)
    (WEAK_KEY, 0x8000000000000000, 0x95F8A5E5DD31D900),
    (WEAK_KEY, 0x4000000000000000, 0xDD7F121CA5015619),
    (WEAK_KEY, 0x0000000000000001, 0x166B40B44ABA4BD6),
    (0x8001010101010101, 0, 0x95A8D72813DAA94D),
    (0x1046913489980131, 0, 0x88D55E54F54C97B4),
    (0x7CA110454A1A6E57, 0x01A1D6D039776742, 0x690F5B0D9A26939B),
    (0x0123456789ABCDEF, 0x4E6F772069732074, 0x3FA40E8A984D4815),  # FIPS 81, "Now is t"
]


def run_des(stages: int, items: list[tuple[int, int, bool]], *, idle: float = 0.0, seed: int = 0):
    """Feed ``(key, block, decrypt)`` items, id = index; return [(id, data)] and per-item latencies.

    One testbench drives ``i`` and watches ``o`` every cycle, so cycle counts are exact; it also
    checks that ``next_valid`` / ``next_id`` announce every output one cycle ahead.
    """
    dut = DESPipeline(stages=stages, id_width=12)
    rng = random.Random(seed)
    results: list[tuple[int, int]] = []
    accepted: dict[int, int] = {}
    latency: dict[int, int] = {}
    cycles = [0]
    lookahead = [(False, None)]

    async def bench(ctx):
        nxt, cycle = 0, 0
        while len(results) < len(items):
            offer = nxt < len(items) and rng.random() >= idle
            if offer:
                key, block, decrypt = items[nxt]
                ctx.set(dut.i.payload, {"data": block, "key": key, "decrypt": decrypt, "id": nxt})
            ctx.set(dut.i.valid, offer)
            _, _, ready, o_valid, o_payload, n_valid, n_id = await ctx.tick().sample(
                dut.i.ready, dut.o.valid, dut.o.payload, dut.next_valid, dut.next_id
            )
            # the look-ahead port announced this cycle's output one cycle ago
            assert (o_valid, o_payload.id if o_valid else None) == lookahead[-1], f"cycle {cycle}"
            lookahead.append((bool(n_valid), n_id if n_valid else None))
            if offer and ready:
                accepted[nxt] = cycle
                nxt += 1
            if o_valid:
                results.append((o_payload.id, o_payload.data))
                latency[o_payload.id] = cycle - accepted[o_payload.id]
            cycle += 1
        cycles[0] = cycle

    run_sim(dut, bench)
    return results, latency, cycles[0]


def check(stages: int, items: list[tuple[int, int, bool]], **kwargs) -> int:
    results, latency, cycles = run_des(stages, items, **kwargs)
    assert [i for i, _ in results] == list(range(len(items))), "blocks must come out in order"
    for (i, got), (key, block, decrypt) in zip(results, items, strict=True):
        want = openssl_des(key, block, decrypt)
        assert got == want, f"item {i}: key {key:016x} {'D' if decrypt else 'E'}({block:016x})"
    assert set(latency.values()) == {LATENCY}
    return cycles


def kat_items() -> list[tuple[int, int, bool]]:
    tables = VARIABLE_PLAINTEXT + VARIABLE_KEY + PERMUTATION + SUBSTITUTION
    enc = [(key, pt, False) for key, pt in tables]
    dec = [(key, openssl_des(key, pt, False), True) for key, pt in tables]
    # interleave so that the direction and key change on every block
    return [x for pair in zip(enc, dec, strict=True) for x in pair]


def test_published_answers_match_openssl_reference():
    # The reference itself against the documents, so that a library regression cannot hide.
    for key, pt, ct in PUBLISHED:
        assert openssl_des(key, pt, False) == ct
        assert openssl_des(key, ct, True) == pt


@pytest.mark.parametrize("stages", [16, 1])
def test_sp800_17_tables_back_to_back(stages):
    items = kat_items()
    cycles = check(stages, items)
    if stages == 16:  # one block per cycle, then the pipeline drains
        assert cycles == len(items) + LATENCY


@pytest.mark.parametrize("stages", STAGE_CHOICES)
def test_published_answers(stages):
    items = [(k, pt, False) for k, pt, _ in PUBLISHED] + [(k, ct, True) for k, _, ct in PUBLISHED]
    results, _, _ = run_des(stages, items)
    want = [ct for _, _, ct in PUBLISHED] + [pt for _, pt, _ in PUBLISHED]
    assert [d for _, d in results] == want


def test_inverse_permutation_table_returns_unit_vectors():
    # SP 800-17 table 2: encrypting table 1's ciphertexts under the weak key gives back the basis
    # vectors (the weak key makes encryption its own inverse); the expected values need no library.
    first, _, _ = run_des(16, [(key, pt, False) for key, pt in VARIABLE_PLAINTEXT])
    second, _, _ = run_des(16, [(WEAK_KEY, ct, False) for _, ct in first])
    assert [d for _, d in second] == [1 << (63 - i) for i in range(64)]


@pytest.mark.parametrize("stages", STAGE_CHOICES)
def test_mixed_keys_and_directions_every_depth(stages):
    rng = random.Random(stages)
    items = [(rng.getrandbits(64), rng.getrandbits(64), rng.random() < 0.5) for _ in range(48)]
    cycles = check(stages, items, idle=0.2, seed=stages)
    # throughput bound: a block per 16/stages cycles at best
    assert cycles >= len(items) * (LATENCY // stages)


@pytest.mark.parametrize("stages", STAGE_CHOICES)
def test_full_rate_when_fed_every_cycle(stages):
    rng = random.Random(100 + stages)
    items = [(rng.getrandbits(64), rng.getrandbits(64), rng.random() < 0.5) for _ in range(32)]
    cycles = check(stages, items)
    per_block = LATENCY // stages
    # stages/16 blocks per cycle: the last block enters after (n-1)*per_block cycles at the latest
    assert cycles <= (len(items) - 1) * per_block + LATENCY + 1


def test_bad_stage_count_is_refused():
    with pytest.raises(ValueError, match="stages must be one of"):
        DESPipeline(stages=3)
