"""The injected clock: virtual time for the router, its SA lifetimes and the lab.

Nothing in the data plane reads the wall clock or sleeps. A router (and the lab that drives it)
holds one :class:`Clock`; ``now()`` is seconds since the clock started (the router's uptime, which
``debug crypto ipsec`` prints as ``hh:mm:ss``). The owner moves time forward with
:meth:`Clock.advance` or :meth:`Clock.advance_to`; objects that act at given times (SA lifetimes,
rekey thresholds, reassembly timers) register callbacks with :meth:`Clock.call_at`, which run in
time order, each at its due time, while the clock advances. Several routers of one lab share
one clock so that their events interleave correctly.

:class:`WallClock` (real elapsed time) exists for interactive use only; it has the same interface
and runs due callbacks whenever ``now()`` is read past their time.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Clock", "VirtualClock", "WallClock", "Timer", "uptime_text"]


@dataclass(order=True)
class Timer:
    """A callback due at ``when``; :meth:`cancel` it to stop it from running."""

    when: float
    order: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Stop the callback from running (a no-op if it already ran)."""
        self.cancelled = True


class Clock:
    """The clock interface every time-dependent part of the router uses (virtual by default)."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._timers: list[Timer] = []
        self._order = itertools.count()

    def now(self) -> float:
        """Seconds since the clock started."""
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback()`` when the clock reaches ``when`` (immediately at the next advance if
        ``when`` is already past). Callbacks due at the same time run in registration order."""
        timer = Timer(float(when), next(self._order), callback)
        heapq.heappush(self._timers, timer)
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback()`` ``delay`` seconds from now."""
        return self.call_at(self.now() + delay, callback)

    def next_due(self) -> float | None:
        """When the earliest pending callback is due, or None."""
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].when if self._timers else None

    def advance_to(self, when: float) -> None:
        """Move time forward to ``when``, running every callback due on the way at its time.
        Time never goes back: a ``when`` in the past only runs what is due now."""
        target = max(float(when), self._now)
        while True:
            due = self.next_due()
            if due is None or due > target:
                break
            timer = heapq.heappop(self._timers)
            self._now = max(self._now, timer.when)
            timer.callback()
        self._now = target

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` (>= 0)."""
        if seconds < 0:
            raise ValueError("time does not go back")
        self.advance_to(self._now + seconds)

    def run_due(self) -> None:
        """Run the callbacks due at the current time."""
        self.advance_to(self._now)


VirtualClock = Clock
"""The default clock: time moves only when its owner advances it."""


class WallClock(Clock):
    """Real elapsed time (for an interactive console); callbacks run when ``now()`` passes them."""

    def __init__(self) -> None:
        super().__init__()
        self._origin = time.monotonic()
        self._running = False

    def now(self) -> float:
        t = time.monotonic() - self._origin
        if not self._running:
            self._running = True
            try:
                Clock.advance_to(self, t)
            finally:
                self._running = False
        return max(t, self._now)

    def advance_to(self, when: float) -> None:
        raise RuntimeError("a wall clock cannot be advanced")


def uptime_text(seconds: float) -> str:
    """``hh:mm:ss`` of an uptime, as IOS timestamps debug lines (``00:24:30``); past a day
    IOS switches to ``1d02h``."""
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}:{s % 60:02d}"
