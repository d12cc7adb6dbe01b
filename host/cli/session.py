"""One IOS terminal session: the current mode, running a line, help, and the IOS feedback.

:meth:`Session.run` takes one typed line and returns a :class:`Outcome` (the command's output and
the error, if any). It never raises for bad input: syntax errors come back as IOS feedback, a
refused configuration change as its ``%`` message, and an unexpected failure inside a command as
``% Internal error`` - in every case with the configuration unchanged (each configuration line
runs inside :meth:`~host.config.model.RouterConfig.transaction`).

A line that does not parse in a configuration sub-mode is tried in the enclosing global
configuration mode, and if it runs there the session leaves the sub-mode, as IOS does (this is
how ``interface Serial0`` followed by ``access-list ...`` works in a configuration file).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from typing import Any

from host.cli.cursor import CliError, Cursor, HelpRequest, IncompleteCommand, InvalidInput
from host.cli.tree import Mode, collect_help, dispatch
from host.config.errors import ConfigError
from host.config.model import RouterConfig

__all__ = ["Session", "Outcome", "ConfigOnlyRouter", "run_exec"]


@dataclass
class ConfigOnlyRouter:
    """A router that so far has only its configuration (what the console runs until the data
    plane provides a fuller router object; any object with a ``config`` attribute will do)."""

    config: RouterConfig = field(default_factory=RouterConfig)
    engine: str = "software"
    """The crypto engine backend name asked for with ``--engine`` (used by the data plane)."""


@dataclass
class Outcome:
    """What one line produced."""

    output: str = ""
    error: CliError | ConfigError | None = None
    help: HelpRequest | None = None

    def feedback(self, indent: int) -> str:
        """Output followed by the error or help text; ``indent`` = where the line started."""
        text = self.output
        if self.help is not None:
            text += self.help.render()
        if self.error is not None:
            text += self.error.render(indent) if isinstance(self.error, CliError) else self.error.render()
        return text


class _InternalError(ConfigError):
    pass


def _internal(exc: Exception) -> ConfigError:
    detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return _InternalError(f"Internal error: {detail}")


def _depth(error: CliError) -> int:
    if isinstance(error, InvalidInput):
        return error.col
    if isinstance(error, IncompleteCommand):
        return 1 << 30
    return 1 << 29


class Session:
    """A terminal session on ``router`` (any object with a ``config`` :class:`RouterConfig`)."""

    def __init__(self, router: Any, *, mode: str = "user") -> None:
        from host.cli.modes import all_modes

        self.router = router
        self.modes = all_modes()
        self.mode: Mode = self.modes[mode]
        self.key: Any = None
        """What the current sub-mode edits (interface name, crypto map entry key, ...)."""
        self.ended = False
        """Set by ``exit`` from an exec mode: the session is over."""
        self._out: list[str] = []
        self._next: tuple[str, Any] | None = None

    # -- what commands use -----------------------------------------------------------------
    @property
    def config(self) -> RouterConfig:
        return self.router.config

    @property
    def prompt(self) -> str:
        """``Router#``, ``Router(config-if)#`` ... from the hostname and the mode."""
        return f"{self.config.hostname}{self.mode.prompt}"

    def write(self, text: str) -> None:
        """Add command output (shown after the command completes)."""
        self._out.append(text)

    def enter(self, mode: str, key: Any = None) -> None:
        """Switch to ``mode`` (editing ``key``) once the current command has succeeded."""
        self._next = (mode, key)

    def end_session(self) -> None:
        self.ended = True

    # -- running lines ---------------------------------------------------------------------
    def run(self, line: str) -> Outcome:
        """Run one typed line (see the module docstring)."""
        cur = Cursor(line)
        if cur.empty or line.lstrip().startswith("!"):
            return Outcome()
        if cur.help_wanted:
            try:
                return Outcome(help=collect_help(self.mode.root, cur, self))
            except (CliError, ConfigError) as exc:
                return Outcome(error=exc)
            except Exception as exc:  # a bug must not kill the session
                return Outcome(error=_internal(exc))
        errors: list[CliError] = []
        mode: Mode | None = self.mode
        while mode is not None:
            self._out, self._next = [], None
            try:
                self._run_in(mode, Cursor(line))
            except CliError as exc:
                errors.append(exc)
                mode = mode.parent
                continue
            except ConfigError as exc:
                return Outcome(error=exc)
            except HelpRequest as exc:  # a handler asked for help on a line without '?'
                return Outcome(help=exc)
            except Exception as exc:  # a bug must not kill the session
                return Outcome(error=_internal(exc))
            if self._next is not None:
                self.mode, self.key = self.modes[self._next[0]], self._next[1]
            elif mode is not self.mode:
                self.mode, self.key = mode, None
            warnings = "".join(f"% Warning: {e}\n" for e in self.config.take_notify_errors())
            return Outcome(output="".join(self._out) + warnings)
        return Outcome(error=max(errors, key=_depth))

    def _run_in(self, mode: Mode, cur: Cursor) -> None:
        if mode.configuring:
            with self.config.transaction():
                dispatch(mode.root, cur, self)
        else:
            dispatch(mode.root, cur, self)

    def transcript(self, line: str) -> str:
        """The screen text of typing ``line`` at the prompt: prompt, line, then the feedback."""
        prompt = self.prompt
        return f"{prompt}{line}\n" + self.run(line).feedback(len(prompt))


def run_exec(router: Any, command: str) -> str:
    """The screen output of one privileged exec command on ``router`` (errors as IOS feedback);
    what the lab uses to run ``show`` commands at chosen times."""
    session = Session(router, mode="enable")
    return session.run(command).feedback(len(session.prompt))
