"""The exec command registry: where any module adds commands to the ``Router>``/``Router#`` modes.

This is the extension point for the layers above the configuration (the IPsec data plane, IKE,
the engine)::

    from host.cli.registry import EXEC

    def show_sa(cur, session):
        map_name = None
        if cur.maybe_keyword({"map": "Crypto map set"}):
            map_name = cur.arg(WORD.described("Crypto map tag"))
        cur.end()                       # parse everything first; '?' help stops here
        session.write(format_sa(session.router, map_name))

    EXEC.register("show crypto ipsec sa", show_sa, "IPSEC SA table", user=True)
    EXEC.describe("clear crypto", "Clear crypto state")
    EXEC.register("clear crypto sa", clear_sa, "Clear IPSEC security associations")
    EXEC.register("debug crypto ipsec", debug_ipsec, "IPSEC processing", negatable=True)

A handler is ``handler(cursor, session)``: it reads the rest of the line with the
:class:`~host.cli.cursor.Cursor` (``keyword``, ``maybe_keyword``, ``arg``, ``maybe_arg``,
``end``), calls ``cursor.end()`` before doing anything, then acts on ``session.router`` (the
router object the console was started with; ``session.router.config`` is the
:class:`~host.config.model.RouterConfig`) and prints with ``session.write(text)``. With
``negatable=True`` the same handler also runs for ``no ...`` (``cursor.negated`` is then True),
which is how ``no debug crypto ipsec`` works. Abbreviations, ``?`` help and the ``% Invalid
input`` / ``% Incomplete command`` / ``% Ambiguous command`` feedback come for free.

Commands are registered in privileged exec mode (``Router#``); ``user=True`` adds them to user
exec mode (``Router>``) too, and ``config=True`` to global configuration mode (``Router(config)#``;
the spec lists ``clear crypto sa`` there). In configuration mode the handler runs inside a
configuration transaction, and any exec command is also reachable as ``do <command>``.

A module whose commands must be present in every console session adds its name to
:data:`EXTENSION_MODULES`; each listed module has ``register(registry)``, called once when the
first session starts (registering directly on :data:`EXEC` at import time works as well).
"""

from __future__ import annotations

import importlib

from host.cli.tree import Handler, Node

__all__ = ["ExecRegistry", "EXEC", "EXTENSION_MODULES", "load_extensions"]


class ExecRegistry:
    """The command trees of user exec (``user``) and privileged exec (``enable``) mode."""

    def __init__(self) -> None:
        self.user = Node()
        self.enable = Node()
        self.config = Node()
        """The global configuration mode's tree (the configuration commands live here too)."""

    def register(
        self,
        path: str,
        handler: Handler,
        help: str = "",
        *,
        user: bool = False,
        config: bool = False,
        negatable: bool = False,
    ) -> None:
        """Add ``handler`` at the keyword path ``path`` (e.g. ``"show crypto ipsec sa"``)."""
        self.enable.register(path, handler, help, negatable=negatable)
        if user:
            self.user.register(path, handler, help, negatable=negatable)
        if config:
            self.config.register(path, handler, help, negatable=negatable)

    def describe(self, path: str, help: str) -> None:
        """Set the ``?`` help text of an intermediate keyword (e.g. ``"show crypto"``)."""
        self.enable.describe(path, help)
        for root in (self.user, self.config):
            if self._exists(root, path):
                root.describe(path, help)

    @staticmethod
    def _exists(root: Node, path: str) -> bool:
        node = root
        for word in path.split():
            if word not in node.children:
                return False
            node = node.children[word]
        return True


EXEC = ExecRegistry()
"""The registry every console session uses."""

EXTENSION_MODULES: list[str] = [
    "host.cli.exec_commands",
    "host.exec_ipsec",
    "host.show.crypto_engine",
]
"""Modules providing ``register(registry)``, loaded once by :func:`load_extensions`."""

_loaded: set[str] = set()


def load_extensions() -> ExecRegistry:
    """Import each module of :data:`EXTENSION_MODULES` not yet loaded and call its ``register``."""
    for name in EXTENSION_MODULES:
        if name not in _loaded:
            _loaded.add(name)
            importlib.import_module(name).register(EXEC)
    return EXEC
