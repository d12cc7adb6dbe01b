"""The injected clock: callbacks at their times, in order, never early; no going back."""

from __future__ import annotations

import pytest

from host.clock import Clock, WallClock, uptime_text


def test_callbacks_run_in_time_order_at_their_time():
    clock = Clock()
    seen = []
    clock.call_at(5, lambda: seen.append(("b", clock.now())))
    clock.call_at(2, lambda: seen.append(("a", clock.now())))
    clock.call_later(5, lambda: seen.append(("c", clock.now())))
    clock.advance(1)
    assert seen == []
    clock.advance(10)
    assert seen == [("a", 2.0), ("b", 5.0), ("c", 5.0)]
    assert clock.now() == 11.0


def test_cancelled_timer_does_not_run_and_callbacks_may_schedule_more():
    clock = Clock()
    seen = []
    t = clock.call_at(1, lambda: seen.append("x"))
    t.cancel()
    clock.call_at(2, lambda: clock.call_later(1, lambda: seen.append(clock.now())))
    clock.advance_to(10)
    assert seen == [3.0]
    assert clock.next_due() is None


def test_time_does_not_go_back():
    clock = Clock(start=5)
    with pytest.raises(ValueError):
        clock.advance(-1)
    clock.advance_to(1)
    assert clock.now() == 5


def test_wall_clock_cannot_be_advanced():
    with pytest.raises(RuntimeError):
        WallClock().advance(1)


def test_uptime_text_matches_ios_debug_stamps():
    assert uptime_text(24 * 60 + 30) == "00:24:30"
    assert uptime_text(26 * 60 + 15) == "00:26:15"
    assert uptime_text(86400 + 2 * 3600) == "1d02h"
