"""The lab's routers: :class:`host.router.Router` built from a :class:`~sim.lab.format.RouterSpec`,
behind the small interface the network uses (:class:`sim.lab.network.RouterNode`).

The router reports drops as ``dropped`` events while it handles a datagram; the adapter gathers
them per :meth:`LabRouter.receive` call, so the network knows what became of what it handed
over. A failure inside the router is caught and reported as a drop ("router error"), so a bug
there cannot stop a run.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable
from typing import Any

from driver.api import EngineError
from driver.registry import UnknownEngineError
from host.clock import Clock
from host.router import Event, Router

from .errors import LabError
from .format import RouterSpec
from .network import RouterOutput

__all__ = ["LabRouter", "build_router"]


class LabRouter:
    """One router of a lab (``name`` is the lab's name for it; ``router`` the emulated router)."""

    def __init__(self, name: str, router: Router, on_event: Callable[[str, Event], None]) -> None:
        self.name = name
        self.router = router
        self._drops: list[tuple[str, str]] | None = None
        self._delivered: list[dict] = []
        self._closed = False
        self._on_event = on_event
        router.subscribe(self._event)

    def _event(self, ev: Event) -> None:
        if ev.kind == "dropped" and self._drops is not None:
            d = ev.data
            reason = str(d.get("reason", "dropped"))
            if d.get("detail"):
                reason += f" ({d['detail']})"
            where = f"router {self.name}"
            if d.get("interface"):
                where += f" {d['interface']}"
            if d.get("direction"):
                where += f" {d['direction']}"
            self._drops.append((reason, where))
        elif ev.kind == "delivered" and self._drops is not None:
            self._delivered.append(dict(ev.data))
        self._on_event(self.name, ev)

    def receive(self, interface: str, datagram: bytes) -> RouterOutput:
        """Hand ``datagram`` to the router on ``interface``."""
        return self._call(
            lambda: self.router.receive(interface, datagram), f"router {self.name} {interface} in"
        )

    def originate(self, datagram: bytes) -> RouterOutput:
        """Have the router send ``datagram`` as its own (``send_local``)."""
        return self._call(lambda: self.router.send_local(datagram), f"router {self.name}")

    def _call(self, action: Callable[[], list[tuple[str, bytes]]], where: str) -> RouterOutput:
        self._drops, self._delivered = [], []
        try:
            sent = action()
        except Exception as exc:  # a router bug must not end the run
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self._drops.append((f"router error: {detail}", where))
            sent = []
        out = RouterOutput(list(sent), self._drops, self._delivered)
        self._drops, self._delivered = None, []
        return out

    def exec(self, command: str) -> str:
        """Run an exec command; its output (IOS feedback for a bad command)."""
        try:
            return self.router.exec(command)
        except Exception as exc:  # pragma: no cover - the session catches command failures
            return f"% Internal error: {exc}\n"

    def close(self) -> None:
        """Release the router's engine (once; later calls do nothing)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.router.close()
        except EngineError:
            pass


def build_router(
    spec: RouterSpec,
    *,
    engine: str,
    clock: Clock,
    seed: int,
    lab_source: str,
    on_event: Callable[[str, Event], None],
) -> LabRouter:
    """The router of ``spec`` on ``engine`` and ``clock``, its randomness (IVs, SPIs) seeded from
    ``seed`` and its name. Raises :class:`LabError` for an unknown engine or refused config lines."""
    try:
        router = Router(engine=engine, clock=clock, rng=random.Random(f"{seed}:{spec.name}"))
    except UnknownEngineError as exc:
        raise LabError(f"{lab_source}: routers.{spec.name}.engine", str(exc)) from None
    except EngineError as exc:
        raise LabError(
            f"{lab_source}: routers.{spec.name}", f"cannot open engine {engine!r}: {exc}"
        ) from None
    lab_router = LabRouter(spec.name, router, on_event)
    errors = router.configure(spec.config, source=spec.source)
    if errors:
        lab_router.close()
        text = "".join(str(e) for e in errors)
        raise LabError(
            f"{lab_source}: routers.{spec.name}",
            f"{len(errors)} configuration line(s) refused:\n{text}".rstrip(),
        )
    return lab_router


def interface_of(router: LabRouter, name: str) -> Any:
    """The configured interface ``name`` of ``router``, or None."""
    return router.router.config.interfaces.get(name)
