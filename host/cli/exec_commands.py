"""The built-in exec commands: mode changes and the configuration ``show`` commands.

``enable``, ``disable``, ``configure terminal``, ``exit``/``logout``/``quit``, and
``show crypto ipsec transform-set [tag NAME]``, ``show crypto map [interface IF | tag NAME]``,
``show crypto dynamic-map [tag NAME]``, ``show crypto ipsec security-association lifetime``,
``show access-lists [NAME]`` (user and privileged exec), ``show running-config`` (privileged).
"""

from __future__ import annotations

from typing import Any

from host.cli.cursor import WORD, Cursor
from host.cli.registry import ExecRegistry
from host.config.cmd_global import take_interface
from host.show.access_lists import show_access_lists
from host.show.crypto_map import show_crypto_map
from host.show.dynamic_map import show_dynamic_map
from host.show.running_config import show_running_config
from host.show.sa_lifetime import show_sa_lifetime
from host.show.transform_set import show_transform_sets

__all__ = ["register"]


def _enable(cur: Cursor, s: Any) -> None:
    cur.end()
    s.enter("enable")


def _disable(cur: Cursor, s: Any) -> None:
    cur.end()
    s.enter("user")


def _configure(cur: Cursor, s: Any) -> None:
    cur.maybe_keyword({"terminal": "Configure from the terminal"})
    cur.end()
    s.write("Enter configuration commands, one per line.  End with CNTL/Z.\n")
    s.enter("config")


def _exit(cur: Cursor, s: Any) -> None:
    cur.end()
    s.end_session()


def _tag(cur: Cursor, help: str) -> str | None:
    if cur.maybe_keyword({"tag": help}):
        return cur.arg(WORD.described(help))
    return None


def _show_transform_set(cur: Cursor, s: Any) -> None:
    tag = _tag(cur, "Show info for given transform set")
    cur.end()
    s.write(show_transform_sets(s.config, tag))


def _show_crypto_map(cur: Cursor, s: Any) -> None:
    interface = tag = None
    word = cur.maybe_keyword(
        {"interface": "Crypto maps for an interface", "tag": "Crypto maps with a given tag"}
    )
    if word == "interface":
        interface = take_interface(cur, "Interface")
    elif word == "tag":
        tag = cur.arg(WORD.described("Crypto map tag"))
    cur.end()
    s.write(show_crypto_map(s.config, interface=interface, tag=tag))


def _show_dynamic_map(cur: Cursor, s: Any) -> None:
    tag = _tag(cur, "Show info for given dynamic map")
    cur.end()
    s.write(show_dynamic_map(s.config, tag))


def _show_lifetime(cur: Cursor, s: Any) -> None:
    cur.end()
    s.write(show_sa_lifetime(s.config))


def _show_running(cur: Cursor, s: Any) -> None:
    cur.end()
    s.write(show_running_config(s.config))


def _show_acls(cur: Cursor, s: Any) -> None:
    name = cur.maybe_arg(WORD.described("ACL number or name"))
    cur.end()
    s.write(show_access_lists(s.config, name))


def register(reg: ExecRegistry) -> None:
    """Install the built-in exec commands."""
    reg.user.register("enable", _enable, "Turn on privileged commands")
    reg.enable.register("enable", _enable, "Turn on privileged commands")
    reg.enable.register("disable", _disable, "Turn off privileged commands")
    reg.enable.register("configure", _configure, "Enter configuration mode")
    for word, help in (
        ("exit", "Exit from the EXEC"),
        ("logout", "Exit from the EXEC"),
        ("quit", "Exit from the EXEC"),
    ):
        reg.register(word, _exit, help, user=True)
    reg.describe("show", "Show running system information")
    reg.register("show crypto ipsec transform-set", _show_transform_set, "Crypto transform sets", user=True)
    reg.register("show crypto map", _show_crypto_map, "Crypto maps", user=True)
    reg.register("show crypto dynamic-map", _show_dynamic_map, "Crypto map templates", user=True)
    reg.register(
        "show crypto ipsec security-association lifetime",
        _show_lifetime,
        "show global security association lifetime",
        user=True,
    )
    reg.register("show access-lists", _show_acls, "List access lists", user=True)
    reg.register("show ip access-lists", _show_acls, "List IP access lists", user=True)
    reg.register("show running-config", _show_running, "Current operating configuration")
    for path, help in (
        ("show", "Show running system information"),
        ("show crypto", "Encryption module"),
        ("show crypto ipsec", "Show IPSEC info"),
        ("show crypto ipsec security-association", "Show parameters for IPSec security associations"),
        ("show ip", "IP information"),
    ):
        reg.describe(path, help)
