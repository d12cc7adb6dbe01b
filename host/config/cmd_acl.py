"""Access-list commands: numbered ``access-list 100-199 ...``, named ``ip access-list extended
NAME`` with its mode (``Router(config-ext-nacl)#``), and their ``no`` forms.

Only extended IP access lists exist here (numbers 100-199 or names): they are what crypto maps and
``ip access-group`` use in this router. ``no access-list N`` deletes the whole list, as in IOS;
in a named list, ``no permit ...``/``no deny ...`` deletes that one line.
"""

from __future__ import annotations

from typing import Any

from host.acl import AccessList
from host.cli.cursor import Arg, Cursor
from host.cli.tree import Node
from host.config.acl_syntax import parse_acl_entry
from host.config.errors import ConfigError

__all__ = ["register", "register_mode"]


def _number(text: str) -> str:
    if not text.isdigit():
        raise ValueError("")
    if not 100 <= int(text) <= 199:
        raise ValueError("only extended IP access lists (100-199) are supported")
    return str(int(text))


ACL_NUMBER = Arg("<100-199>", "IP extended access list", _number)


def _name(text: str) -> str:
    if text.isdigit():
        return _number(text)
    if not text[0].isalpha():
        raise ValueError("an access list name starts with a letter")
    return text


ACL_NAME = Arg("WORD", "Access-list name", _name)
_ACTIONS = {
    "permit": "Specify packets to forward",
    "deny": "Specify packets to reject",
    "remark": "Access list entry comment",
}


def _add_or_remove(cur: Cursor, s: Any, name: str, action: str) -> None:
    if action == "remark":
        cur.rest()
        return
    entry = parse_acl_entry(cur, action)
    acls = s.config.acls
    if cur.negated:
        acl = acls.get(name)
        if acl is None or entry not in acl.entries:
            raise ConfigError(f"access list {name} has no line '{entry.text()}'")
        acl.entries.remove(entry)
    else:
        acl = acls.setdefault(name, AccessList(name))
        if entry not in acl.entries:
            acl.entries.append(entry)
    s.config.changed("acl", name)


def _access_list(cur: Cursor, s: Any) -> None:
    name = cur.arg(ACL_NUMBER)
    if cur.negated:
        cur.end()
        if name not in s.config.acls:
            raise ConfigError(f"access list {name} does not exist")
        del s.config.acls[name]
        s.config.changed("acl", name)
        return
    action = cur.keyword(_ACTIONS)
    _add_or_remove(cur, s, name, action)


def _named(cur: Cursor, s: Any) -> None:
    cur.keyword({"extended": "Extended Access List"})
    name = cur.arg(ACL_NAME)
    cur.end()
    if cur.negated:
        if name not in s.config.acls:
            raise ConfigError(f"access list {name} does not exist")
        del s.config.acls[name]
        s.config.changed("acl", name)
        return
    if name not in s.config.acls:
        s.config.acls[name] = AccessList(name)
        s.config.changed("acl", name)
    s.enter("config-ext-nacl", name)


def _line(action: str):
    def handler(cur: Cursor, s: Any) -> None:
        _add_or_remove(cur, s, s.key, action)

    return handler


def register(root: Node) -> None:
    """Add ``access-list`` and ``ip access-list extended`` to the global configuration tree."""
    root.register("access-list", _access_list, "Add an access list entry", negatable=True)
    root.register("ip access-list", _named, "Named access-list", negatable=True)


def register_mode(root: Node) -> None:
    """Add the named extended ACL mode's commands to ``root``."""
    for action, help in _ACTIONS.items():
        root.register(action, _line(action), help, negatable=True)
