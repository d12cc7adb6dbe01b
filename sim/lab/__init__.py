"""The lab: emulated routers, links, hosts and traffic on a virtual clock (``esa lab run``).

    from sim.lab import Lab, load_lab
    result = Lab(load_lab("examples/labs/simple.yaml"), capture="out/").run()

Modules, one job each: :mod:`.format` (the lab file), :mod:`.routers` (routers from IOS text),
:mod:`.network` (links, LANs, hosts), :mod:`.traffic` (flows and answers), :mod:`.packets` (ICMP,
UDP, TCP datagrams), :mod:`.scheduler` (the virtual clock's lab actions), :mod:`.ledger` (what
became of each packet), :mod:`.pcap` and :mod:`.esp_sa` (captures for Wireshark),
:mod:`.events` and :mod:`.report` (output), :mod:`.lab` (a run), :mod:`.cli` (``esa lab``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Lab", "LabResult", "LabError", "load_lab", "parse_lab"]

_WHERE = {
    "Lab": ".lab",
    "LabResult": ".lab",
    "LabError": ".errors",
    "load_lab": ".format",
    "parse_lab": ".format",
}


def __getattr__(name: str) -> Any:
    """Import on first use, so that ``esa`` starts without loading the router."""
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name], __name__), name)
    raise AttributeError(name)
