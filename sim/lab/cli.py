"""``esa lab run LAB [--engine NAME] [--capture DIR] [--seed N] [--json] [--quiet]`` and
``esa lab check LAB...``.

Runs a lab file (docs/lab-format.md): routers from IOS configurations, links, hosts and traffic
on a virtual clock. Prints a log (each packet sent, delivered or dropped with the reason and
where, SA events, exec commands with their output) and a per-flow summary; ``--json`` prints one
JSON object per event instead, ending with a ``summary`` object. ``--capture DIR`` writes one
pcap per link and per host LAN, and an ``esp_sa`` file for Wireshark/tshark. Exit status: 0 when
the run completed and every flow's ``expect`` came true, 1 when an expectation failed, 2 for a
bad lab file (the message names the file and the key).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["register", "main", "check"]

CHECK_HELP = """Checks lab files without running them: the YAML, every key, the routers' configurations
(each refused line is shown), the interfaces the links and hosts name, the hosts' addresses.
Prints one line per file; exit status 0 when all are good, 2 otherwise."""


def check(args: argparse.Namespace) -> int:
    from .errors import LabError
    from .format import load_lab
    from .lab import Lab

    status = 0
    for path in args.labs:
        try:
            spec = load_lab(path)
            lab = Lab(spec, engine=args.engine)
            try:
                lab.build()
            finally:
                lab.close()
        except LabError as exc:
            print(f"esa lab check: {exc}", file=sys.stderr)
            status = 2
            continue
        packets = sum(f.count for f in spec.flows)
        print(
            f"{path}: ok ({len(spec.routers)} routers, {len(spec.links)} links, {len(spec.hosts)} hosts, "
            f"{len(spec.flows)} flows of {packets} packets, {len(spec.execs)} exec events)"
        )
    return status


def main(args: argparse.Namespace) -> int:
    from .errors import LabError
    from .events import HumanLog, JsonLines
    from .format import load_lab
    from .lab import Lab
    from .report import summary_event, summary_text
    from .scheduler import RunawayError

    out = sys.stdout
    try:
        spec = load_lab(args.lab)
        sink = JsonLines(out) if args.json else HumanLog(out, verbose=not args.quiet)
        if not args.json:
            title = spec.title or args.lab
            out.write(f"lab: {title}\n")
        lab = Lab(
            spec,
            engine=args.engine,
            capture=args.capture,
            seed=args.seed,
            sinks=[sink],
            progress=lambda text: print(text, file=sys.stderr, flush=True),
        )
        result = lab.run()
    except LabError as exc:
        print(f"esa lab run: {exc}", file=sys.stderr)
        return 2
    except RunawayError as exc:
        print(f"esa lab run: {exc}", file=sys.stderr)
        return 1
    if args.json:
        out.write(json.dumps(summary_event(result)) + "\n")
    else:
        out.write(summary_text(result))
    return 1 if result.expectation_failures() else 0


def register(subparsers: Any) -> None:
    """Add ``esa lab`` with its ``run`` command."""
    lab = subparsers.add_parser(
        "lab",
        help="run a lab of emulated routers, links, hosts and traffic",
        description="Labs of emulated IOS routers on a virtual clock.",
    )
    sub = lab.add_subparsers(dest="lab_command", metavar="COMMAND", required=True)
    p = sub.add_parser(
        "run",
        help="run a lab file",
        description=__doc__.split("\n\n")[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("lab", metavar="LAB", help="the lab file (YAML, see docs/lab-format.md)")
    p.add_argument(
        "--engine",
        metavar="NAME",
        default=None,
        help="crypto engine of routers that do not name one (default: the lab's, else software)",
    )
    p.add_argument(
        "--capture",
        metavar="DIR",
        default=None,
        help="write one pcap per link and LAN and the Wireshark esp_sa file into DIR",
    )
    p.add_argument(
        "--seed",
        metavar="N",
        type=int,
        default=None,
        help="seed of all randomness (IVs, SPIs); default: the lab's seed, else 1",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per event, then a summary object")
    p.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="human log: leave out per-packet lines (drops, SA events and exec output stay)",
    )
    p.set_defaults(func=main)
    c = sub.add_parser("check", help="check lab files without running them", description=CHECK_HELP)
    c.add_argument("labs", metavar="LAB", nargs="+", help="lab files (YAML)")
    c.add_argument("--engine", metavar="NAME", default=None, help="crypto engine to build the routers on")
    c.set_defaults(func=check)
