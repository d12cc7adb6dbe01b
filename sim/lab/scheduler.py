"""The lab's event scheduler on the shared virtual clock (:class:`host.clock.Clock`).

Lab actions (a host sending a packet, a packet reaching the end of a link, an exec command) are
callbacks due at virtual times; the routers' own timers (SA lifetimes, rekey thresholds) live on
the same clock, so everything interleaves in time order, and actions due at the same time run in
the order they were scheduled. :meth:`Scheduler.run` advances the clock from event to event until
no lab action is pending and the lab's duration has passed. It never sleeps.
"""

from __future__ import annotations

from collections.abc import Callable

from host.clock import Clock

__all__ = ["Scheduler", "RunawayError"]

MAX_ACTIONS = 5_000_000
"""A run that performs more lab actions than this is stopped (a forwarding loop, most likely)."""


class RunawayError(RuntimeError):
    """The run exceeded :data:`MAX_ACTIONS` lab actions."""


class Scheduler:
    """Lab actions at virtual times on ``clock``."""

    def __init__(self, clock: Clock, max_actions: int = MAX_ACTIONS) -> None:
        self.clock = clock
        self.pending = 0
        """Lab actions scheduled and not yet run."""
        self.done = 0
        """Lab actions run so far."""
        self.max_actions = max_actions

    @property
    def now(self) -> float:
        return self.clock.now()

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run ``action()`` at virtual time ``when`` (now, if ``when`` is past)."""
        self.pending += 1

        def run() -> None:
            self.pending -= 1
            self.done += 1
            if self.done > self.max_actions:
                raise RunawayError(f"more than {self.max_actions} lab actions: stopped (a forwarding loop?)")
            action()

        self.clock.call_at(max(when, self.clock.now()), run)

    def after(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action()`` ``delay`` seconds from now."""
        self.at(self.clock.now() + delay, action)

    def run(self, until: float = 0.0, progress: Callable[[float], None] | None = None) -> float:
        """Advance the clock through every pending lab action, and at least to ``until``.

        Router timers due on the way run at their times; timers due after the last lab action
        and after ``until`` are left pending. ``progress(now)`` is called now and then (for a
        progress line). Returns the time the run stopped at."""
        steps = 0
        while True:
            due = self.clock.next_due()
            if due is None or (self.pending == 0 and due > until):
                break
            self.clock.advance_to(due)
            steps += 1
            if progress is not None and steps % 2000 == 0:
                progress(self.clock.now())
        if self.clock.now() < until:
            self.clock.advance_to(until)
        return self.clock.now()
