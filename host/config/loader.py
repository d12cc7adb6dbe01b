"""Loading configuration text (a file, or lines typed in bulk) into a router's configuration.

Lines run one by one in global configuration mode, exactly as typed at the console (modes,
abbreviations, ``no`` forms, ``!`` comments, indentation ignored). A line that fails is reported
with its line number and text, changes nothing, and the lines after it still load. ``end`` returns
to global configuration mode rather than stopping (so a saved ``show running-config`` loads back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from host.cli.session import Session

__all__ = ["LineError", "load_config", "config_from_text"]


@dataclass(frozen=True)
class LineError:
    """A configuration line that was refused (or, with a ``% Warning`` feedback, one that was applied
    but whose change a listener such as the data plane failed to act on)."""

    source: str
    lineno: int
    text: str
    feedback: str
    """The IOS feedback, with the ``^`` marker aligned under ``text`` as :meth:`__str__` prints it."""

    @property
    def message(self) -> str:
        """The feedback's ``%`` lines, without the marker line."""
        return "".join(line + "\n" for line in self.feedback.splitlines() if line.startswith("%"))

    def __str__(self) -> str:
        return f"{self._prefix()}{self.text}\n{self.feedback}"

    def _prefix(self) -> str:
        return f"{self.source}:{self.lineno}: "


def load_config(router: Any, text: str, source: str = "config") -> list[LineError]:
    """Run ``text`` as configuration commands on ``router`` (an object with ``.config``).

    Returns the refused lines (empty if everything loaded)."""
    session = Session(router, mode="config")
    errors: list[LineError] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("!"):
            continue
        if line.strip().lower() == "end":
            session.mode, session.key = session.modes["config"], None
            continue
        outcome = session.run(line.expandtabs())
        warned = "% Warning: " in outcome.output
        if outcome.error is not None or outcome.help is not None or warned:
            prefix = f"{source}:{lineno}: "
            errors.append(LineError(source, lineno, line.expandtabs(), outcome.feedback(len(prefix))))
        if not session.mode.configuring:
            session.mode, session.key = session.modes["config"], None
    return errors


def config_from_text(text: str, source: str = "config") -> tuple[Any, list[LineError]]:
    """A new configuration-only router with ``text`` loaded, and the refused lines."""
    from host.cli.session import ConfigOnlyRouter

    router = ConfigOnlyRouter()
    return router, load_config(router, text, source)
