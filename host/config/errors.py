"""The error a configuration command raises when the spec's rules refuse it."""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(Exception):
    """A configuration change refused; the configuration is left exactly as it was.

    ``str(error)`` is the message the console prints after ``% ``."""

    def render(self) -> str:
        """The console feedback: ``% <message>``."""
        return f"% {self}\n"
