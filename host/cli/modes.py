"""The IOS command modes of the console, built once: exec modes from the exec registry,
configuration modes from the configuration command modules.

- ``user``: ``Router>``, where a session starts;
- ``enable``: ``Router#``, after ``enable``;
- ``config``: ``Router(config)#``, after ``configure terminal``;
- ``config-if``: ``Router(config-if)#``, after ``interface NAME``;
- ``config-crypto-map``: ``Router(config-crypto-map)#``, after ``crypto map NAME SEQ ...`` or
  ``crypto dynamic-map NAME SEQ``;
- ``cfg-crypto-trans``: ``Router(cfg-crypto-trans)#``, after ``crypto ipsec transform-set ...``;
- ``config-ext-nacl``: ``Router(config-ext-nacl)#``, after ``ip access-list extended NAME``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from host.cli.cursor import Cursor
from host.cli.registry import load_extensions
from host.cli.tree import Mode, Node, dispatch
from host.config import cmd_acl, cmd_cryptomap, cmd_global, cmd_interface, cmd_transform

__all__ = ["all_modes"]


def _exit(cur: Cursor, s: Any) -> None:
    cur.end()
    if s.mode.name == "config":
        s.enter("enable")
    else:
        s.enter("config")


def _end(cur: Cursor, s: Any) -> None:
    cur.end()
    s.enter("enable")


def _do(cur: Cursor, s: Any) -> None:
    dispatch(s.modes["enable"].root, cur, s, allow_no=False)


def _config_root(register: Any = None, root: Node | None = None) -> Node:
    root = Node() if root is None else root
    root.register("exit", _exit, "Exit from configure mode")
    root.register("end", _end, "Exit from configure mode")
    root.register("do", _do, "To run exec commands in config mode")
    if register is not None:
        register(root)
    return root


@cache
def all_modes() -> dict[str, Mode]:
    """Every mode by name (see the module docstring)."""
    registry = load_extensions()
    user = Mode("user", ">", registry.user)
    enable = Mode("enable", "#", registry.enable)
    config = Mode("config", "(config)#", _config_root(root=registry.config), configuring=True)
    for module in (cmd_global, cmd_acl, cmd_transform, cmd_cryptomap):
        module.register(config.root)
    modes = [
        user,
        enable,
        config,
        Mode("config-if", "(config-if)#", _config_root(cmd_interface.register), config, True),
        Mode(
            "config-crypto-map",
            "(config-crypto-map)#",
            _config_root(cmd_cryptomap.register_mode),
            config,
            True,
        ),
        Mode(
            "cfg-crypto-trans", "(cfg-crypto-trans)#", _config_root(cmd_transform.register_mode), config, True
        ),
        Mode("config-ext-nacl", "(config-ext-nacl)#", _config_root(cmd_acl.register_mode), config, True),
    ]
    return {m.name: m for m in modes}
