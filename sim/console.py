"""``esa console [--config FILE] [--engine NAME]``: an IOS-like shell on one emulated router.

With stdin a terminal it is interactive (prompt_toolkit): ``?`` shows help at once, Tab completes
a unique keyword, Ctrl-Z leaves configuration mode, Ctrl-D or ``exit`` ends the session. With stdin
not a terminal (a pipe or a file) it runs the lines as a session script, printing each prompt and
line followed by its output, and exits 0 at the end of input or at ``exit``; it exits non-zero
only if it could not start (an unreadable ``--config`` file, an unknown engine).

``--engine NAME`` picks the router's crypto engine: ``software`` (the default), or an accelerator
backend (``amaranth``, ``verilator``, ``icarus``, as registered in :mod:`driver.registry`), which
runs with the software engine behind it for fallback; ``show crypto engine configuration`` shows
both. The router is the real one (:class:`host.router.Router`): manual SAs are installed as soon
as their crypto map entry is complete, and ``show crypto ipsec sa`` shows them.

``--config FILE`` loads a configuration first, as if typed in global configuration mode; refused
lines are printed with their line number and IOS feedback, and the rest loads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from host.cli.session import Session
from host.config.loader import load_config

__all__ = ["register", "build_router", "run_script", "interactive", "main"]


def build_router(engine: str) -> Any:
    """The router the console works on: a :class:`host.router.Router` (configuration, SA
    databases, the IPsec data plane) on the crypto engine ``engine``, opened through
    :func:`driver.registry.open_engine` (an accelerator name gives the accelerator with the
    software engine behind it). Raises :class:`driver.api.EngineError` if the engine cannot be
    opened."""
    from host.router import Router

    return Router(engine=engine)


def load_file(router: Any, path: Path, out: TextIO) -> None:
    """Load ``path`` into ``router``, printing each refused line."""
    for error in load_config(router, path.read_text(), source=str(path)):
        out.write(str(error))


def run_script(session: Session, lines: TextIO, out: TextIO) -> None:
    """Run piped lines as a session: prompt and line echoed, then the feedback."""
    for raw in lines:
        line = raw.rstrip("\r\n")
        out.write(session.transcript(line))
        if session.ended:
            return
    out.write(session.prompt + "\n")


def interactive(session: Session, input: Any = None, output: Any = None) -> None:
    """Run ``session`` under prompt_toolkit (``input``/``output`` default to the terminal)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.application import run_in_terminal
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.key_binding import KeyBindings

    class IosCompleter(Completer):
        def get_completions(self, document, complete_event):  # noqa: ANN001, ANN201
            text = document.text_before_cursor
            outcome = session.run(text + "?")
            if outcome.help is None or outcome.help.partial is None:
                return
            partial = outcome.help.partial
            for word, _ in outcome.help.options:
                if word[:1].islower() and word.startswith(partial.lower()):
                    yield Completion(word + " ", start_position=-len(partial))

    keys = KeyBindings()

    @keys.add("?")
    def _(event) -> None:  # noqa: ANN001
        buffer = event.app.current_buffer
        text = buffer.text
        outcome = session.run(text + "?")
        run_in_terminal(
            lambda: print(f"{session.prompt}{text}?\n" + outcome.feedback(len(session.prompt)), end="")
        )

    @keys.add("c-z")
    def _(event) -> None:  # noqa: ANN001
        event.app.current_buffer.text = "end"
        event.app.current_buffer.validate_and_handle()

    prompt = PromptSession(
        completer=IosCompleter(), key_bindings=keys, complete_while_typing=False, input=input, output=output
    )
    while not session.ended:
        try:
            line = prompt.prompt(session.prompt)
        except EOFError:
            return
        except KeyboardInterrupt:
            continue
        feedback = session.run(line).feedback(len(session.prompt))
        if output is None:
            sys.stdout.write(feedback)
        else:
            output.write_raw(feedback.replace("\n", "\r\n"))
            output.flush()


def main(args: argparse.Namespace) -> int:
    from driver.registry import known_engines

    if args.engine not in known_engines():
        print(
            f"esa console: unknown engine {args.engine!r} (known: {', '.join(known_engines())})",
            file=sys.stderr,
        )
        return 2
    from driver.api import EngineError

    try:
        router = build_router(args.engine)
    except EngineError as exc:
        print(f"esa console: cannot open engine {args.engine!r}: {exc}", file=sys.stderr)
        return 2
    try:
        return _run(router, args)
    finally:
        close = getattr(router, "close", None)
        if close is not None:
            close()


def _run(router: Any, args: argparse.Namespace) -> int:
    if args.config is not None:
        try:
            load_file(router, Path(args.config), sys.stdout)
        except (OSError, UnicodeDecodeError) as exc:
            print(f"esa console: cannot read {args.config}: {exc}", file=sys.stderr)
            return 2
    session = Session(router)
    if sys.stdin.isatty():
        interactive(session)
    else:
        run_script(session, sys.stdin, sys.stdout)
    return 0


def register(subparsers: Any) -> None:
    """Add ``esa console``."""
    p = subparsers.add_parser(
        "console", help="an IOS-like shell on one emulated router", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--config", metavar="FILE", help="load this IOS configuration first")
    p.add_argument(
        "--engine",
        metavar="NAME",
        default="software",
        help="crypto engine of the router: software (default) or an accelerator backend, "
        "which runs with the software engine behind it for fallback",
    )
    p.set_defaults(func=main)
