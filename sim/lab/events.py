"""What a lab run reports, as events, and the two ways of printing them.

Every event is a flat JSON-able dict with ``event`` (its kind) and ``time`` (virtual seconds):

- ``sent``: a host (or router) sent a packet (``flow``, ``n``, ``reply``, ``id``, ``host``,
  ``packet`` (one line of text), ``size``, ``src``, ``dst``, ``protocol``, ``sport``, ``dport``);
- ``delivered``: it reached its destination host (``id``, ``flow``, ``n``, ``host``, ``latency``);
- ``dropped``: it was dropped (``id``, ``flow``, ``n``, ``reason``, ``where``);
- ``exec``: an exec command ran on a router (``router``, ``command``, ``output``);
- ``config``: configuration lines were applied to a router (``router``, ``lines``, ``errors``);
- ``sa_created`` / ``sa_expired`` / ``sa_deleted``: a router's SA came or went (``router``,
  ``spi``, ``protocol``, ``direction``, ``src``, ``dst``, ...; keys only in ``sa_created``);
- ``rekey`` / ``sa_request``: a router asked key management for SAs (``router``, ...);
- ``log``: a router's console message, such as ``debug crypto ipsec`` output (``router``, ``text``);
- ``summary``: the last event, per-flow counts (see :mod:`sim.lab.report`).

:class:`JsonLines` prints one JSON object per line; :class:`HumanLog` a readable log with exec
outputs in full.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

__all__ = ["JsonLines", "HumanLog", "ROUTER_EVENTS"]

ROUTER_EVENTS = ("sa_created", "sa_expired", "sa_deleted", "rekey", "sa_request", "log")
"""Router events a run passes on (their data as the router gives it, plus ``router``)."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class JsonLines:
    """Prints each event as one line of JSON."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, event: dict[str, Any]) -> None:
        self.out.write(json.dumps(_jsonable(event), sort_keys=False) + "\n")


def _stamp(t: float) -> str:
    return f"[{t:11.6f}]"


class HumanLog:
    """Prints a readable log: one line per packet event (``verbose``) or only drops, exec
    commands with their output, and SA events."""

    def __init__(self, out: TextIO, verbose: bool = True) -> None:
        self.out = out
        self.verbose = verbose

    def __call__(self, e: dict[str, Any]) -> None:
        kind, t = e["event"], e.get("time", 0.0)
        w = self.out.write
        label = f"{e.get('flow', '')}#{e.get('n', '')}{' reply' if e.get('reply') else ''}"
        if kind == "sent" and self.verbose:
            w(f"{_stamp(t)} sent       {label:<18} {e['host']}: {e['packet']}\n")
        elif kind == "delivered" and self.verbose:
            w(f"{_stamp(t)} delivered  {label:<18} to {e['host']} after {e['latency'] * 1000:.3f} ms\n")
        elif kind == "dropped":
            w(f"{_stamp(t)} DROPPED    {label:<18} at {e['where']}: {e['reason']}\n")
        elif kind == "exec":
            w(f"{_stamp(t)} exec       {e['router']}# {e['command']}\n")
            w(e["output"] if e["output"].endswith("\n") or not e["output"] else e["output"] + "\n")
        elif kind == "config":
            w(
                f"{_stamp(t)} config     {e['router']}(config)# "
                + "; ".join(x.strip() for x in e["lines"].splitlines() if x.strip())
                + "\n"
            )
            for err in e["errors"]:
                w(err if err.endswith("\n") else err + "\n")
        elif kind in ("sa_created", "sa_expired", "sa_deleted"):
            what = kind.replace("_", " ")
            extra = f" ({e['why']})" if e.get("why") else ""
            w(
                f"{_stamp(t)} {what:<10} {e.get('router', '')}: {e.get('protocol', '')} "
                f"spi 0x{e.get('spi', 0):x} {e.get('direction', '')} "
                f"{e.get('src', '')} -> {e.get('dst', '')}{extra}\n"
            )
        elif kind == "log":
            w(f"{_stamp(t)} {e.get('router', '')}: {e.get('text', '')}\n")
        elif kind in ("rekey", "sa_request"):
            w(
                f"{_stamp(t)} {kind:<10} {e.get('router', '')}: map {e.get('crypto_map', '')} "
                f"{e.get('seq', '')} peer {e.get('peer', '')}\n"
            )
