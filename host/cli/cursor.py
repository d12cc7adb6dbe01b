"""Reading one command line word by word, the way the IOS parser does.

A :class:`Cursor` walks the words of a line. Keywords match by unique prefix, case-insensitively
(``sh`` for ``show``, ``conf t`` for ``configure terminal``); an exact match wins over longer
keywords it is a prefix of. Arguments are typed (:class:`Arg`). Three syntax errors exist, each
with IOS's wording:

* :class:`InvalidInput` - a word fits nothing here (``% Invalid input detected at '^' marker.``);
* :class:`IncompleteCommand` - the line stops where more is required (``% Incomplete command.``);
* :class:`AmbiguousCommand` - a prefix fits several keywords (``% Ambiguous command:  "sh c"``).

A line ending in ``?`` asks for help instead: parsing proceeds up to the ``?`` and every keyword or
argument the grammar could accept there is collected; :class:`HelpRequest` carries them. Grammar
code is therefore written once, for both running and help: call the optional parts before
:meth:`Cursor.end`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Token",
    "Cursor",
    "Arg",
    "CliError",
    "InvalidInput",
    "IncompleteCommand",
    "AmbiguousCommand",
    "HelpRequest",
    "tokenize",
    "match_keyword",
    "WORD",
    "IPV4",
    "LINE",
    "number",
    "HEX",
]


@dataclass(frozen=True)
class Token:
    """One word of the line and the column (0-based) where it starts."""

    text: str
    col: int


class CliError(Exception):
    """A line the parser refused; nothing was executed."""

    def render(self, indent: int) -> str:
        """The IOS feedback; ``indent`` is the column where the typed line starts on screen."""
        raise NotImplementedError


class InvalidInput(CliError):
    """A word at column ``col`` fits nothing the grammar accepts there.

    ``reason`` (optional) is a second line that says why, for refusals the spec says the parser
    makes (for instance a second AH transform in one transform set)."""

    def __init__(self, col: int, reason: str = "") -> None:
        super().__init__(f"invalid input at column {col}" + (f": {reason}" if reason else ""))
        self.col = col
        self.reason = reason

    def render(self, indent: int) -> str:
        text = " " * (indent + self.col) + "^\n% Invalid input detected at '^' marker.\n"
        if self.reason:
            text += f"% {self.reason}\n"
        return text


class IncompleteCommand(CliError):
    """The line ended where the grammar requires more words."""

    def __init__(self) -> None:
        super().__init__("incomplete command")

    def render(self, indent: int) -> str:
        return "% Incomplete command.\n"


class AmbiguousCommand(CliError):
    """A prefix fits several keywords; ``typed`` is the line up to and including that word."""

    def __init__(self, typed: str, candidates: Iterable[str] = ()) -> None:
        super().__init__(f"ambiguous command: {typed!r}")
        self.typed = typed
        self.candidates = sorted(candidates)

    def render(self, indent: int) -> str:
        return f'% Ambiguous command:  "{self.typed}"\n'


class HelpRequest(Exception):
    """The line asked for help; ``options`` lists (word, description) that may come at the ``?``."""

    def __init__(self, options: list[tuple[str, str]], partial: str | None) -> None:
        super().__init__("help")
        self.options = options
        self.partial = partial

    def render(self) -> str:
        """IOS's help listing: keywords and arguments in two columns, ``<cr>`` last."""
        seen: dict[str, str] = {}
        for word, text in self.options:
            seen.setdefault(word, text)
        if self.partial is not None:
            words = sorted(w for w in seen if w[:1].islower()) or sorted(w for w in seen if w != "<cr>")
            return "  ".join(words) + "\n" if words else "% Unrecognized command\n"
        cr = seen.pop("<cr>", None)
        rows = sorted(seen.items(), key=lambda kv: (not kv[0][0].islower(), kv[0]))
        if cr is not None:
            rows.append(("<cr>", ""))
        if not rows:
            return "% Unrecognized command\n"
        width = max(len(w) for w, _ in rows)
        return "".join(f"  {w.ljust(width)}  {t}".rstrip() + "\n" for w, t in rows)


@dataclass(frozen=True)
class Arg:
    """A typed argument: its help name (``WORD``, ``A.B.C.D``, ``<1-99>``), what it means, a parser.

    ``parse`` turns the word into a value or raises ``ValueError`` (reported as invalid input at
    that word)."""

    name: str
    help: str
    parse: Callable[[str], Any]

    def described(self, help: str) -> Arg:
        """The same argument type with another description."""
        return Arg(self.name, help, self.parse)


def _word(text: str) -> str:
    return text


def _ipv4(text: str) -> ipaddress.IPv4Address:
    try:
        if text.count(".") != 3:
            raise ValueError
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise ValueError("") from None


def _hex(text: str) -> bytes:
    try:
        if len(text) % 2:
            raise ValueError
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError("a key is an even number of hex digits") from None


WORD = Arg("WORD", "", _word)
IPV4 = Arg("A.B.C.D", "", _ipv4)
HEX = Arg("H.H.H", "hex string", _hex)
LINE = Arg("LINE", "", _word)


def number(low: int, high: int, help: str = "") -> Arg:
    """An integer argument in ``low..high`` (decimal, as IOS takes it)."""

    def parse(text: str) -> int:
        if not text.isdigit():
            raise ValueError("")
        value = int(text)
        if not low <= value <= high:
            raise ValueError(f"the value must be in the range {low}-{high}")
        return value

    return Arg(f"<{low}-{high}>", help, parse)


def tokenize(line: str) -> tuple[list[Token], bool, str | None]:
    """Split a line into tokens; also say whether it asks for help and with which partial word."""
    stripped = line.rstrip()
    help_wanted = stripped.endswith("?")
    body = stripped[:-1] if help_wanted else stripped
    tokens: list[Token] = []
    i = 0
    while i < len(body):
        if body[i].isspace():
            i += 1
            continue
        j = i
        while j < len(body) and not body[j].isspace():
            j += 1
        tokens.append(Token(body[i:j], i))
        i = j
    partial = None
    if help_wanted and body and not body[-1].isspace() and tokens:
        partial = tokens.pop().text
    return tokens, help_wanted, partial


def match_keyword(text: str, choices: Iterable[str]) -> list[str]:
    """The keywords that ``text`` selects: an exact match alone, else every one it prefixes."""
    low = text.lower()
    names = list(choices)
    for name in names:
        if name.lower() == low:
            return [name]
    return [name for name in names if name.lower().startswith(low)]


@dataclass
class Cursor:
    """The position in a line being parsed, with help collection (see the module docstring)."""

    line: str
    tokens: list[Token] = field(init=False)
    help_wanted: bool = field(init=False)
    partial: str | None = field(init=False)
    pos: int = 0
    negated: bool = False
    """Set when the line began with ``no``; handlers read it to apply the ``no`` form."""
    options: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokens, self.help_wanted, self.partial = tokenize(self.line)

    # -- position --------------------------------------------------------------------------
    @property
    def at_help(self) -> bool:
        """True when the parser stands where the user typed ``?``."""
        return self.help_wanted and self.pos == len(self.tokens)

    @property
    def empty(self) -> bool:
        """True for a blank line (no words, no help)."""
        return not self.tokens and not self.help_wanted

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def typed_through(self, index: int) -> str:
        """The line as typed up to the end of token ``index`` (for the ambiguous message)."""
        tok = self.tokens[index]
        return self.line[: tok.col + len(tok.text)]

    def invalid(self, reason: str = "", at: int | None = None) -> InvalidInput:
        """An :class:`InvalidInput` at token ``at`` (default: the current one, else the line end)."""
        index = self.pos if at is None else at
        if index < len(self.tokens):
            return InvalidInput(self.tokens[index].col, reason)
        return InvalidInput(len(self.line.rstrip()), reason)

    def _help(self) -> HelpRequest:
        return HelpRequest(list(self.options), self.partial)

    def _offer(self, options: Iterable[tuple[str, str]], args: bool = False) -> None:
        for word, text in options:
            if args or self.partial is None or word.lower().startswith(self.partial.lower()):
                self.options.append((word, text))

    # -- keywords --------------------------------------------------------------------------
    def maybe_keyword(self, choices: Mapping[str, str], hidden: Iterable[str] = ()) -> str | None:
        """Take the next word if it selects one of ``choices`` (word -> help); else leave it.

        ``hidden`` words are accepted but never offered in help. Raises
        :class:`AmbiguousCommand` when the word prefixes several keywords."""
        hidden = list(hidden)
        if self.at_help:
            self._offer(choices.items())
            return None
        tok = self.peek()
        if tok is None:
            return None
        found = match_keyword(tok.text, [*choices, *hidden])
        if len(found) > 1:
            raise AmbiguousCommand(self.typed_through(self.pos), found)
        if not found:
            return None
        self.pos += 1
        return found[0]

    def keyword(self, choices: Mapping[str, str], hidden: Iterable[str] = ()) -> str:
        """Take one of ``choices``; anything else is a syntax error (or help at the ``?``)."""
        found = self.maybe_keyword(choices, hidden)
        if found is not None:
            return found
        if self.at_help:
            raise self._help()
        if self.peek() is None:
            raise IncompleteCommand()
        raise self.invalid()

    # -- arguments -------------------------------------------------------------------------
    def maybe_arg(self, arg: Arg) -> Any | None:
        """Take the next word as ``arg`` if it parses; else leave it and return None."""
        if self.at_help:
            self._offer([(arg.name, arg.help)], args=True)
            return None
        tok = self.peek()
        if tok is None:
            return None
        try:
            value = arg.parse(tok.text)
        except (ValueError, TypeError):
            return None
        self.pos += 1
        return value

    def arg(self, arg: Arg) -> Any:
        """Take the next word as ``arg``; a word that does not parse is invalid input."""
        if self.at_help:
            self._offer([(arg.name, arg.help)], args=True)
            raise self._help()
        tok = self.peek()
        if tok is None:
            raise IncompleteCommand()
        try:
            value = arg.parse(tok.text)
        except (ValueError, TypeError) as exc:
            raise self.invalid(str(exc)) from None
        self.pos += 1
        return value

    def rest(self) -> str:
        """Everything from the current word to the end of the line, as typed (for text arguments)."""
        if self.at_help:
            self._offer([("LINE", "text")], args=True)
            raise self._help()
        tok = self.peek()
        if tok is None:
            raise IncompleteCommand()
        self.pos = len(self.tokens)
        return self.line[tok.col :].rstrip().rstrip("?").rstrip()

    def end(self) -> None:
        """The command is complete here: more words are invalid input; ``?`` lists ``<cr>``."""
        if self.at_help:
            self._offer([("<cr>", "")])
            raise self._help()
        if self.peek() is not None:
            raise self.invalid()

    def stuck(self) -> CliError | HelpRequest:
        """The error for a grammar point where nothing offered matched."""
        if self.at_help:
            return self._help()
        if self.peek() is None:
            return IncompleteCommand()
        return self.invalid()
