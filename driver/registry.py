"""Crypto engines by name, so that host and sim code pick a backend with a string.

``open_engine("software")`` gives the OpenSSL backend; the HDL backends (``amaranth``,
``verilator``, ``icarus``) register here as they are written. A backend is named by the module
and class that implement it and imported only when opened, so that choosing ``software`` never
loads a simulator.
"""

from __future__ import annotations

import importlib

from .api import CryptoEngine, EngineError

__all__ = ["BACKENDS", "known_engines", "open_engine", "UnknownEngineError"]

BACKENDS: dict[str, str] = {
    "software": "driver.software:SoftwareEngine",
}
"""Backend name -> ``"module:Class"`` of its :class:`~driver.api.CryptoEngine` subclass."""


class UnknownEngineError(EngineError, ValueError):
    """No backend of that name is registered."""


def known_engines() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(BACKENDS)


def open_engine(name: str, **opts: object) -> CryptoEngine:
    """Create the engine called ``name``, passing ``opts`` to its constructor.

    Raises :class:`UnknownEngineError` naming the known backends when ``name`` is not one.
    """
    try:
        target = BACKENDS[name]
    except KeyError:
        raise UnknownEngineError(
            f"unknown crypto engine {name!r}; known engines: {', '.join(known_engines())}"
        ) from None
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(**opts)
