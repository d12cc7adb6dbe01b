"""hdl.block_ram.BlockRAM: its words in Amaranth's simulator against a Python list, and its ECP5
block RAMs against the ones yosys's own RAM mapping builds for the same memory.

yosys's ECP5 cell library has no behavioural DP16KD, so the ECP5 elaboration cannot be simulated;
instead yosys (``synth_ecp5`` up to its LUT mapping) maps the generic elaboration, a Memory and a
register, and the test wants the same RAMs wired the same way: each DP16KD pin fed by the same
port bit or constant, each data output reaching the same port bit (through yosys's register in
the generic case, directly in the ECP5 one), in the same width mode; only the output register
moved into the RAM (``REGMODE_B``, and ``REGMODE_A`` for the 36-bit mode's other half). The
differences in constants that cannot change what is written (unused bytes' enables, unused data
inputs) are listed where they are skipped.
"""

from __future__ import annotations

import gc
import random
import warnings
from pathlib import Path

import pytest
from amaranth.back import verilog
from hdl_helpers import ecp5_mapped, run_sim

from hdl.block_ram import BlockRAM, dp16kd_mode
from hdl.target import ECP5


@pytest.mark.parametrize("registered_write", [False, True], ids=["write", "registered-write"])
@pytest.mark.parametrize("transparent", [False, True], ids=["normal", "transparent"])
def test_block_ram_reads_what_was_written(transparent: bool, registered_write: bool) -> None:
    depth, readers = 32, 2
    dut = BlockRAM(
        width=24, depth=depth, readers=readers, transparent=transparent, registered_write=registered_write
    )
    rng = random.Random(7)
    model = [0] * depth
    asked: list[list[int | None]] = [[] for _ in range(readers)]
    got: list[list[int]] = [[] for _ in range(readers)]
    cycles = 400
    collisions = 0
    just_written = 0  # reads of the word written at the edge before (a registered write's RAM
    # writes it at the read's edge)
    previous = -1

    async def bench(ctx) -> None:
        nonlocal collisions, just_written, previous
        for _ in range(cycles):
            write = rng.random() < 0.5
            w_addr, w_word = rng.randrange(depth), rng.getrandbits(24)
            ctx.set(dut.w_en, write)
            ctx.set(dut.w_addr, w_addr)
            ctx.set(dut.w_data, w_word)
            for r in range(readers):
                pick = rng.random()
                a = rng.randrange(depth)
                if pick < 0.2:
                    a = w_addr
                elif pick < 0.4 and previous >= 0:
                    a = previous
                ctx.set(dut.r_addr[r], a)
                if write and a == w_addr:  # sampled at the edge that writes it: the new word, if
                    # transparent, else undefined
                    asked[r].append(w_word if transparent else None)
                    collisions += 1
                else:
                    asked[r].append(model[a])
                    just_written += a == previous
                got[r].append(ctx.get(dut.r_data[r]))
            if write:
                model[w_addr] = w_word
            previous = w_addr if write else -1
            await ctx.tick()

    run_sim(dut, bench)
    lat = BlockRAM.LATENCY
    assert collisions > 20 and just_written > 20
    for r in range(readers):
        pairs = list(zip(asked[r][: cycles - lat], got[r][lat:], strict=True))
        assert sum(want is not None for want, _ in pairs) > cycles // 2
        assert all(want is None or want == word for want, word in pairs), f"reader {r}"


def _mapped_rams(ram: BlockRAM, target: object, workdir: Path) -> tuple[list[dict], list[dict]]:
    """The DP16KDs yosys leaves for ``ram`` elaborated for ``target``: each one's parameters and
    its pins' drivers (a top port bit such as ``w_addr[3]``, or a constant) and, for its data
    outputs, the port bit they reach (through one flip-flop, if there is one)."""
    top = ecp5_mapped(ram, workdir, target)
    port_bit = {b: f"{name}[{i}]" for name, p in top["ports"].items() for i, b in enumerate(p["bits"])}
    ff_q = {
        c["connections"]["DI"][0]: c["connections"]["Q"][0]
        for c in top["cells"].values()
        if c["type"] == "TRELLIS_FF"
    }
    params, pins = [], []
    for cell in top["cells"].values():
        assert cell["type"] in ("DP16KD", "TRELLIS_FF"), cell["type"]
        if cell["type"] != "DP16KD":
            continue
        params.append(
            {k: v for k, v in cell["parameters"].items() if k.startswith(("DATA_WIDTH", "REGMODE"))}
        )
        wide = int(cell["parameters"]["DATA_WIDTH_B"], 2) == 36  # DIB and DOA carry data too
        wiring = {}
        for pin, (bit,) in cell["connections"].items():
            if pin.startswith(("DIB", "DOA")) and not wide:
                continue  # port B only reads, port A only writes
            if pin.startswith(("DOA", "DOB")):
                if ff_q.get(bit, bit) in port_bit:  # (the outputs the width mode leaves unused dangle)
                    wiring[pin] = port_bit[ff_q.get(bit, bit)]
            else:
                wiring[pin] = bit if isinstance(bit, str) else port_bit[bit]
        pins.append(wiring)
    return params, pins


@pytest.mark.parametrize(
    "width, depth, readers",
    [(16, 8192, 2), (12, 2048, 1), (40, 1000, 1), (150, 32, 1)],
    ids=["job-buffer-bank-8Kx2", "2Kx9", "1Kx18", "512x36"],
)
def test_ecp5_block_rams_are_wired_as_yosys_maps_them(
    tmp_path: Path, width: int, depth: int, readers: int
) -> None:
    ram = BlockRAM(width=width, depth=depth, readers=readers)
    ours_params, ours = _mapped_rams(ram, ECP5, tmp_path / "ecp5")
    yosys_params, theirs = _mapped_rams(ram, None, tmp_path / "generic")
    mode_width, _ = dp16kd_mode(depth)
    assert len(ours) == readers * -(-width // mode_width) == len(theirs)
    assert all(p["REGMODE_B"] == "OUTREG" and int(p["DATA_WIDTH_B"], 2) == mode_width for p in ours_params)
    assert all(p["REGMODE_B"] == "NOREG" and int(p["DATA_WIDTH_B"], 2) == mode_width for p in yosys_params)

    def comparable(pins: dict) -> tuple:
        # yosys leaves unused data inputs undefined where we tie them low; in the 18-bit mode it
        # drives the two byte enables (ADA0/ADA1) from the write enable where we hold them high:
        # the same writes either way, since WEA carries the write enable too. In the 36-bit mode
        # the four byte enables carry the write enable (checked below), and yosys holds those of
        # a last RAM's unused bytes low where we write zeros into them; port A's output register
        # is ours alone (it holds half the read word), and so is its enable OCEA.
        skip = {18: ("ADA0", "ADA1"), 36: ("ADA1", "ADA2", "ADA3", "OCEA")}.get(mode_width, ())
        kept = {k: v for k, v in pins.items() if v != "x" and k not in skip}
        return tuple(sorted((k, v) for k, v in kept.items() if not (k.startswith("DI") and v == "0")))

    assert sorted(map(comparable, ours)) == sorted(map(comparable, theirs))
    if mode_width == 18:
        assert all(p["ADA0"] == "1" for p in ours)
    if mode_width == 36:
        assert all(p["REGMODE_A"] == "OUTREG" for p in ours_params)
        assert all(p["OCEA"] == "1" and p["WEA"] == "1" for p in ours)
        assert all(p[f"ADA{i}"] == "w_en[0]" for p in ours for i in range(4))
    every_bit = {f"r_data[{i}]" for i in range(width * readers)} | {f"w_data[{i}]" for i in range(width)}
    assert every_bit <= {v for p in ours for v in p.values()}


def test_ecp5_deeper_than_one_block_ram_is_left_to_yosys() -> None:
    assert dp16kd_mode(16384) == (1, 16384) and dp16kd_mode(16385) is None
    text = verilog.convert(
        BlockRAM(width=4, depth=32768, readers=1), name="top", emit_src=False, platform=ECP5
    )
    assert "DP16KD" not in text and "reg [3:0] mem" in text


def test_block_ram_refuses_an_empty_shape() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the refused object is never elaborated, by design
        with pytest.raises(ValueError, match="readers >= 1"):
            BlockRAM(width=8, depth=16, readers=0)
        gc.collect()
