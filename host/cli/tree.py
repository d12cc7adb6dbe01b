"""The command tree: keyword nodes, each optionally ending in a handler that parses the rest.

A :class:`Node` has keyword children (matched by unique prefix) and may have a handler. Walking a
line, :func:`dispatch` descends through keywords while the next word selects a child; at a node
with a handler it calls ``handler(cursor, session)``, which parses the remaining words with the
:class:`~host.cli.cursor.Cursor` and then acts. Handlers must parse the whole line (ending with
``cursor.end()``) before changing anything, so that a refused line changes nothing and ``?`` help
runs the same grammar without side effects.

The ``no`` form: every tree may have ``no`` as a first word. It walks the same tree restricted to
the nodes registered with ``negatable=True`` (and their ancestors) and sets ``cursor.negated``.

A :class:`Mode` is one IOS command mode: its tree, its prompt suffix and the mode whose commands
are also accepted from it (IOS runs a global command typed in a sub-mode and leaves the sub-mode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from host.cli.cursor import AmbiguousCommand, Cursor, HelpRequest

__all__ = ["Node", "Mode", "Handler", "dispatch"]

Handler = Callable[[Cursor, Any], None]
"""``handler(cursor, session)``: parse the remaining words, then act on ``session``."""


@dataclass
class Node:
    """One keyword position of the command tree."""

    help: str = ""
    handler: Handler | None = None
    children: dict[str, Node] = field(default_factory=dict)
    negatable: bool = False
    """The handler also implements the ``no`` form."""
    hidden: bool = False
    """Accepted when typed in full or by prefix, but not offered in ``?`` help."""

    def node(self, path: str, help: str = "") -> Node:
        """The node at ``path`` (words separated by spaces) below this one, created if missing."""
        node = self
        words = path.split()
        for i, word in enumerate(words):
            child = node.children.get(word)
            if child is None:
                child = node.children[word] = Node(help=word)
            if help and i == len(words) - 1:
                child.help = help
            node = child
        return node

    def register(
        self,
        path: str,
        handler: Handler,
        help: str = "",
        *,
        negatable: bool = False,
        hidden: bool = False,
    ) -> Node:
        """Install ``handler`` at ``path``; an existing handler there is replaced."""
        node = self.node(path, help)
        node.handler = handler
        node.negatable = negatable
        node.hidden = hidden
        return node

    def describe(self, path: str, help: str) -> Node:
        """Set the help text of the keyword at ``path`` (creating the path if needed)."""
        return self.node(path, help)

    def has_negatable(self) -> bool:
        """True if this node or a descendant takes the ``no`` form."""
        return self.negatable or any(c.has_negatable() for c in self.children.values())


def _choices(node: Node, negated: bool) -> tuple[dict[str, str], list[str]]:
    shown: dict[str, str] = {}
    hidden: list[str] = []
    for word, child in node.children.items():
        if negated and not child.has_negatable():
            continue
        if child.hidden:
            hidden.append(word)
        else:
            shown[word] = child.help
    return shown, hidden


def dispatch(root: Node, cur: Cursor, session: Any, *, allow_no: bool = True) -> None:
    """Run one line against the tree at ``root``; raises the cursor's syntax errors or help."""
    node = root
    if allow_no and root.has_negatable():
        shown, hidden = _choices(root, False)
        try:
            first = cur.maybe_keyword({**shown, "no": "Negate a command or set its defaults"}, hidden)
        except AmbiguousCommand:
            raise
        if first == "no":
            cur.negated = True
        elif first is not None:
            node = root.children[first]
    while True:
        if cur.negated and node is not root and not node.has_negatable():
            raise cur.invalid(at=cur.pos - 1)
        shown, hidden = _choices(node, cur.negated)
        if shown or hidden:
            word = cur.maybe_keyword(shown, hidden)
            if word is not None:
                node = node.children[word]
                continue
        if node.handler is not None and node is not root:
            if cur.negated and not node.negatable:
                raise cur.stuck()
            node.handler(cur, session)
            return
        raise cur.stuck()


def collect_help(root: Node, cur: Cursor, session: Any) -> HelpRequest:
    """The help a ``?`` line asks for (the same walk as :func:`dispatch`)."""
    try:
        dispatch(root, cur, session)
    except HelpRequest as req:
        return req
    return HelpRequest(list(cur.options), cur.partial)


@dataclass
class Mode:
    """An IOS command mode."""

    name: str
    """Short name used in code: ``user``, ``enable``, ``config``, ``config-if``, ..."""
    prompt: str
    """Suffix after the hostname: ``>``, ``#``, ``(config)#``, ``(config-if)#``, ..."""
    root: Node
    parent: Mode | None = None
    """Mode whose commands are accepted here too (a sub-mode's global configuration mode)."""
    configuring: bool = False
    """Commands change the configuration (run inside a configuration transaction)."""
