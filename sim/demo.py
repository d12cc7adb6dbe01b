"""``esa demo``: the main job until the lab exists.

Loads the spec's "more elaborate" IPsec configuration (examples/configs/more-elaborate.cfg) into
an emulated router and runs a console session on it: the configuration show commands, a ``?``
help, an abbreviated command, and one change the spec refuses, as a transcript.
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


def main(args: Any) -> int:
    path = Path(args.config) if args.config else DEMO_CONFIG
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"esa demo: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    return run_demo(path, text, sys.stdout)


def register(subparsers: Any) -> None:
    """Add ``esa demo``."""
    p = subparsers.add_parser(
        "demo",
        help="the spec's elaborate IPsec configuration and its show outputs",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--config", metavar="FILE", help=f"configuration to load (default: {DEMO_CONFIG.name})")
    p.set_defaults(func=main)
