"""The `esa` command: one subcommand per module, each registering its own parser.

A module listed in :data:`SUBCOMMANDS` provides ``register(subparsers)``, which adds its parser
and sets ``func`` (called with the parsed arguments, returning the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS: list[str] = ["sim.console", "sim.demo", "sim.lab.cli", "sim.bench", "sim.hdl_flow"]
"""Modules that provide a subcommand, in the order `esa --help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="esa",
        description="An emulated IOS 11.3T IPsec router with an Amaranth crypto accelerator.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
