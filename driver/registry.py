"""Crypto engines by name, so that host and sim code pick a backend with a string.

``open_engine("software")`` gives the OpenSSL backend. The accelerator backends (``amaranth``,
``verilator``, ``icarus``) are registered when their module exists, and ``open_engine`` gives
each one inside an :class:`~driver.manager.EngineManager` with the software engine behind it
(slot 0), as IOS runs a crypto card: SAs go to the card, and to software when the card is full or
fails. :func:`open_backend` gives the bare backend (the conformance suite tests backends that
way). A backend is named by the module and class that implement it and imported only when
opened, so that choosing ``software`` never loads a simulator.
"""

from __future__ import annotations

import importlib
import importlib.util

from .api import CryptoEngine, EngineError

__all__ = [
    "BACKENDS",
    "ACCELERATORS",
    "MANAGER_OPTIONS",
    "known_engines",
    "open_engine",
    "simulated_engine",
    "open_backend",
    "UnknownEngineError",
]

BACKENDS: dict[str, str] = {
    "software": "driver.software:SoftwareEngine",
}
"""Backend name -> ``"module:Class"`` of its :class:`~driver.api.CryptoEngine` subclass."""

_ACCELERATOR_TARGETS = {
    "amaranth": "driver.amaranth_backend:AmaranthEngine",
    "verilator": "driver.verilator_backend:VerilatorEngine",
    "icarus": "driver.icarus_backend:IcarusEngine",
}

ACCELERATORS: set[str] = set()
"""Names that :func:`open_engine` wraps in an engine manager with software fallback."""

MANAGER_OPTIONS = ("on_queue_full", "timeout_polls")
"""Options of :func:`open_engine` that go to the engine manager, not to the backend."""


def _module_exists(target: str) -> bool:
    try:
        return importlib.util.find_spec(target.partition(":")[0]) is not None
    except (ImportError, ValueError):
        return False


for _name, _target in _ACCELERATOR_TARGETS.items():
    if _module_exists(_target):  # a backend not written yet is simply not offered
        BACKENDS[_name] = _target
        ACCELERATORS.add(_name)


class UnknownEngineError(EngineError, ValueError):
    """No backend of that name is registered."""


def known_engines() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(BACKENDS)


def open_backend(name: str, **opts: object) -> CryptoEngine:
    """The bare backend called ``name`` (no software fallback), ``opts`` passed to its
    constructor. Raises :class:`UnknownEngineError` naming the known backends."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise UnknownEngineError(
            f"unknown crypto engine {name!r}; known engines: {', '.join(known_engines())}"
        ) from None
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise EngineError(f"crypto engine {name!r} cannot be loaded: {e}") from None
    return cls(**opts)


def open_engine(name: str, **opts: object) -> CryptoEngine:
    """Create the engine called ``name``.

    ``software`` is the software engine itself. An accelerator name gives an
    :class:`~driver.manager.EngineManager` over that backend with a software engine behind it;
    :data:`MANAGER_OPTIONS` among ``opts`` configure the manager, the rest go to the backend's
    constructor. Raises :class:`UnknownEngineError` naming the known backends when ``name`` is
    not one.
    """
    if name not in ACCELERATORS:
        return open_backend(name, **opts)
    from .manager import EngineManager
    from .software import SoftwareEngine

    manager_opts = {k: opts.pop(k) for k in MANAGER_OPTIONS if k in opts}
    backend = open_backend(name, **opts)
    return EngineManager(backend, SoftwareEngine(), name=name, **manager_opts)  # type: ignore[arg-type]


def simulated_engine(engine: CryptoEngine) -> CryptoEngine | None:
    """The HDL simulation behind ``engine``: itself, or the accelerator under an
    :class:`~driver.manager.EngineManager`, when it has a ``cycles`` count (the clock cycles it
    has simulated, as the ``amaranth``, ``verilator`` and ``icarus`` backends do); else None."""
    from .manager import EngineManager

    if isinstance(engine, EngineManager):
        if engine.accel is None:
            return None
        engine = engine.accel.engine
    return engine if isinstance(getattr(engine, "cycles", None), int) else None
