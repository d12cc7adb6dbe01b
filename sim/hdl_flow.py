"""`esa hdl export|synth|bench`: the engine's Verilog, its ECP5 synthesis figures, its cycle figures.

``--param name=value`` (repeatable) passes constructor parameters to :class:`hdl.engine.Engine`
(for example ``--param conns=64 --param cbc_lanes=4``); without it the default engine is used.
``esa hdl synth --unit cbc|des|hmac|md5|sha1`` synthesises one unit alone instead (``--param``
then passes that unit's keywords), for its own fmax and critical path in minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from driver.cosim.build import SIMULATORS, CosimBuildError, simulator_available
from driver.cosim.transport import CosimError
from driver.cosim.verilog import parse_params

from .hdl_synth import SPEED_GRADES

UNIT_NAMES = ("cbc", "des", "hmac", "md5", "sha1")
"""``esa hdl synth --unit`` choices (the keys of :data:`sim.hdl_units.UNITS`, listed here so that
the parser does not import Amaranth)."""


def _progress(quiet: bool):
    def emit(line: str) -> None:
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return emit


def _params(args: argparse.Namespace) -> dict[str, object]:
    return parse_params(args.param)


def cmd_export(args: argparse.Namespace) -> int:
    from .hdl_export import export

    try:
        v, j = export(Path(args.out), _params(args), args.target)
    except ValueError as e:
        print(f"esa hdl export: {e}", file=sys.stderr)
        return 2
    print(f"wrote {v}")
    print(f"wrote {j}")
    return 0


DEFAULT_ENGINE_FLOW = {"mapper": "abc", "placer": "static", "router": "router2"}
"""`esa hdl synth`'s defaults for the engine (not for ``--unit``): the whole default engine at
2f70e49 routes with them (router2 converged in 45 iterations; 72.94 MHz at ``--seed 1``)."""


def resolve_flow(args: argparse.Namespace) -> None:
    """Fill in the mapper, placer and router the user left out: for the engine the flow that
    places and routes it (yosys 0.70's abc9 dies on it; after nextpnr's HeAP placer router2 does
    not converge), HeAP when ``--density`` (its setting) is given; for a unit the tools' own."""
    engine = DEFAULT_ENGINE_FLOW if not args.unit else {}
    args.mapper = args.mapper or engine.get("mapper", "abc9")
    args.placer = args.placer or (None if args.density is not None else engine.get("placer"))
    args.router = args.router or engine.get("router")


def cmd_synth(args: argparse.Namespace) -> int:
    from .hdl_depth import deepest_paths
    from .hdl_export import export
    from .hdl_synth import SynthError, check_placement, place_and_route, summary, synthesize

    resolve_flow(args)
    try:
        check_placement(args.placer, args.density)  # before any tool runs
    except SynthError as e:
        print(f"esa hdl synth: {e}", file=sys.stderr)
        return 2
    progress = _progress(args.json and args.quiet)
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="esa-synth-"))
    what = f"unit {args.unit}" if args.unit else "the engine"
    progress(f"exporting the Verilog of {what} into {work} ...")
    try:
        if args.unit:
            from .hdl_units import export_unit

            v = export_unit(args.unit, work, _params(args), "ecp5")
        else:
            v, _ = export(work, _params(args), "ecp5")
    except ValueError as e:
        print(f"esa hdl synth: {e}", file=sys.stderr)
        return 2
    try:
        synth = synthesize(v, work, progress, args.mapper)
        pnr = (
            None
            if args.no_pnr
            else place_and_route(
                work,
                args.device,
                args.freq,
                progress,
                args.seed,
                args.router,
                args.density,
                args.placer,
                args.speed,
            )
        )
    except SynthError as e:
        print(f"esa hdl synth: {e}", file=sys.stderr)
        return 1
    out = summary(synth, pnr, args.device)
    paths = deepest_paths(work / "synth.json", args.paths) if (work / "synth.json").exists() else []
    out["deepest_paths"] = [
        {"levels": p.levels, "luts": p.luts, "from": p.start, "to": p.end, "pin": p.end_pin} for p in paths
    ]
    out["unit"] = args.unit or "engine"
    out["mapper"] = args.mapper
    if pnr is not None:
        out["seed"] = args.seed
        out["speed"] = args.speed
        out["router"] = args.router or "router1"
        out["density"] = args.density
        out["placer"] = args.placer or "heap"
    if args.json:
        print(json.dumps(out))
    else:
        print(f"design           {out['unit']}")
        print(f"device           {args.device}" + (f", speed grade {args.speed}" if pnr is not None else ""))
        print(f"LUT4             {out['luts']}")
        print(f"flip-flops       {out['flip_flops']}")
        print(f"block RAMs       {out['block_rams']} DP16KD")
        print(f"latches / loops  {out['latches']} / {out['loops']}")
        print(f"check problems   {out['check_problems']} (yosys check on the flattened RTL: rtl_check.txt)")
        if paths:
            print("deepest paths    (levels: LUT4 + routing, about 1.1 ns each; see sim/hdl_depth.py)")
            for p in paths:
                print(f"  {p.levels:5.2f}  {p.start}  ->  {p.end}  ({p.end_pin}, {p.luts} LUTs)")
        if pnr is not None:
            print(f"placed LUTs/FFs  {out['placed_luts']} / {out['placed_flip_flops']}")
            print(f"fmax             {out['fmax_mhz']} MHz (target {args.freq} MHz)")
            for line in pnr.critical_path:
                print(f"critical path    {line}")
        print(f"reports in       {work}")
    return 0 if not (synth.latches or synth.loops) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from .hdl_bench import WORKLOADS, open_bench, run_workload

    names = args.workloads or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        print(
            f"esa hdl bench: unknown workload {', '.join(unknown)}; known: {', '.join(WORKLOADS)}",
            file=sys.stderr,
        )
        return 2
    if not simulator_available(args.simulator):
        print(f"esa hdl bench: {args.simulator} is not installed", file=sys.stderr)
        return 1
    progress = _progress(args.json and args.quiet)
    try:
        setup = open_bench(args.simulator, _params(args), progress)
    except (CosimBuildError, CosimError, ValueError) as e:
        print(f"esa hdl bench: {e}", file=sys.stderr)
        return 1
    status = 0
    try:
        if not args.json:
            print(f"engine parameters: {json.dumps(setup.parameters, default=str)}  ({args.simulator})")
            print(
                f"{'workload':<18} {'jobs':>5} {'sas':>4} {'bytes':>8} {'cycles':>8} {'B/cycle':>8} "
                f"{'blk/cycle':>9} {'steady B/c':>10} {'errors':>6}"
            )
        for name in names:
            progress(f"running {name} ...")
            row = run_workload(setup.proc, WORKLOADS[name](args.jobs_per_sa), 1, args.max_cycles)
            row["simulator"] = args.simulator
            status |= int(row["errors"] != 0)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{name:<18} {row['jobs']:>5} {row['sas']:>4} {row['bytes']:>8} {row['cycles']:>8} "
                    f"{row['bytes_per_cycle']:>8.3f} {row['blocks_per_cycle']:>9.3f} "
                    f"{row['steady_bytes_per_cycle']:>10.3f} {row['errors']:>6}",
                    flush=True,
                )
    except CosimError as e:
        print(f"esa hdl bench: {e}", file=sys.stderr)
        status = 1
    finally:
        setup.proc.close()
    return status


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `esa hdl` and its subcommands."""
    p = subparsers.add_parser(
        "hdl",
        help="the engine's Verilog, synthesis and cycle benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="hdl_command", metavar="STEP", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument(
            "--param",
            action="append",
            metavar="NAME=VALUE",
            help="an engine constructor parameter (repeatable)",
        )

    q = sub.add_parser("export", help="write the engine's Verilog and a JSON of its parameters and layouts")
    q.add_argument("--out", default="build/hdl", help="output folder (default: build/hdl)")
    q.add_argument(
        "--target",
        choices=("generic", "ecp5"),
        default="generic",
        help="generic: plain Verilog for any simulator (default); ecp5: with the ECP5 carry cells "
        "the MD5 step uses, for ECP5 synthesis",
    )
    common(q)
    q.set_defaults(func=cmd_export)

    q = sub.add_parser("synth", help="ECP5 synthesis and out-of-context place and route")
    q.add_argument("--device", default="ecp5-85k", help="ecp5-85k (default), ecp5-45k, ecp5-25k, ecp5-12k")
    q.add_argument("--freq", type=float, default=100.0, help="target clock in MHz (default 100)")
    q.add_argument(
        "--speed",
        type=int,
        choices=SPEED_GRADES,
        default=6,
        help="the part's speed grade: 6 (default, the slowest and nextpnr's own), 7 or 8 (the fastest)",
    )
    q.add_argument("--json", action="store_true", help="print one JSON object")
    q.add_argument("--quiet", action="store_true", help="with --json: no progress on stderr")
    q.add_argument("--no-pnr", action="store_true", help="stop after yosys")
    q.add_argument("--seed", type=int, help="nextpnr placer seed (default: nextpnr's own)")
    q.add_argument(
        "--router",
        choices=("router1", "router2"),
        help="nextpnr router (default: router2 for the engine, router1 for a unit; router2 "
        "negotiates congestion in iterations)",
    )
    q.add_argument(
        "--placer",
        choices=("heap", "static"),
        help="nextpnr placer (default: static for the engine, which keeps its hash lanes "
        "together, unless --density is given; heap, nextpnr's own, for a unit)",
    )
    q.add_argument(
        "--density",
        type=float,
        help="the placer's maximum placement density (nextpnr --placer-heap-beta, 0..1; default "
        "nextpnr's own): lower spreads the logic out for the router",
    )
    q.add_argument(
        "--mapper",
        choices=("abc9", "abc"),
        help="LUT mapping: synth_ecp5's abc9 (the default for a unit) or abc -lut 4:7 (the "
        "default for the engine, where abc9 fails)",
    )
    q.add_argument("--workdir", help="keep the reports here (default: a temporary folder)")
    q.add_argument(
        "--paths",
        type=int,
        default=8,
        help="deepest register-to-register path groups to list from the netlist (default 8)",
    )
    q.add_argument(
        "--unit",
        choices=UNIT_NAMES,
        help="one unit alone instead of the engine (--param then sets the unit's keywords)",
    )
    common(q)
    q.set_defaults(func=cmd_synth)

    q = sub.add_parser("bench", help="cycles, bytes per cycle per workload (simulated)")
    q.add_argument("--json", action="store_true", help="one JSON object per workload")
    q.add_argument("--quiet", action="store_true", help="with --json: no progress on stderr")
    q.add_argument("--workloads", nargs="+", metavar="NAME", help="workloads to run (default: all)")
    q.add_argument("--simulator", choices=SIMULATORS, default="verilator", help="default: verilator")
    q.add_argument("--jobs-per-sa", type=int, default=4, help="jobs per SA in multi-SA workloads")
    q.add_argument("--max-cycles", type=int, default=2_000_000, help="give up on a workload after this")
    common(q)
    q.set_defaults(func=cmd_bench)
