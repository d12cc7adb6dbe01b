"""The anti-replay window of an inbound SA (RFC 2401 appendix C, RFC 2402 3.4.3, RFC 2406 3.4.3).

The receiver keeps the highest sequence number it has accepted and a bitmap of the
``size`` numbers at and below it. A packet is first *checked* (before its ICV is verified, to
drop replays cheaply) and the window is *updated* only after its ICV verified, so that a forged
packet never moves the window. IOS uses a 64-packet window.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["ReplayWindow", "ReplayVerdict"]


class ReplayVerdict(Enum):
    """The outcome of checking a sequence number against the window."""

    NEW = "new"
    """Not seen and inside (or ahead of) the window: acceptable."""
    DUPLICATE = "duplicate"
    """Inside the window and already received: a replay."""
    TOO_OLD = "too old"
    """Left of the window (or zero, which is never sent): cannot be told from a replay."""


class ReplayWindow:
    """A sliding window of ``size`` sequence numbers (``size`` >= 32 per RFC 2402)."""

    __slots__ = ("size", "top", "_bits")

    def __init__(self, size: int = 64) -> None:
        if size < 32:
            raise ValueError("the anti-replay window is at least 32 packets (RFC 2402)")
        self.size = size
        self.top = 0
        """The highest sequence number accepted so far (0: none yet)."""
        self._bits = 0
        """Bit i set: sequence number ``top - i`` was accepted."""

    def check(self, seq: int) -> ReplayVerdict:
        """Classify ``seq`` without changing the window."""
        if seq == 0:
            return ReplayVerdict.TOO_OLD
        if seq > self.top:
            return ReplayVerdict.NEW
        diff = self.top - seq
        if diff >= self.size:
            return ReplayVerdict.TOO_OLD
        return ReplayVerdict.DUPLICATE if (self._bits >> diff) & 1 else ReplayVerdict.NEW

    def update(self, seq: int) -> ReplayVerdict:
        """Record ``seq`` as accepted (call after its ICV verified).

        Checks again first and records nothing unless the verdict is ``NEW``: two copies of one
        packet in the same burst both pass the early check, only the first may be accepted.
        """
        verdict = self.check(seq)
        if verdict is not ReplayVerdict.NEW:
            return verdict
        if seq > self.top:
            shift = seq - self.top
            self._bits = ((self._bits << shift) | 1) & ((1 << self.size) - 1) if shift < self.size else 1
            self.top = seq
        else:
            self._bits |= 1 << (self.top - seq)
        return verdict

    def __repr__(self) -> str:
        return f"ReplayWindow(size={self.size}, top={self.top}, bits={self._bits:#x})"
