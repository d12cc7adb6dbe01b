"""``show access-lists [NAME]``: every extended IP access list, IOS 11.3 style (no sample in the
spec): ``Extended IP access list NAME`` then each line indented by four spaces, numbered lists
first by number, then named lists by name. Port numbers print by name where IOS has one."""

from __future__ import annotations

from host.acl import AccessList
from host.config.model import RouterConfig

__all__ = ["show_access_lists", "sorted_acls"]


def sorted_acls(config: RouterConfig) -> list[AccessList]:
    """Numbered lists by number, then named lists by name."""
    return sorted(
        config.acls.values(), key=lambda a: (not a.numbered, int(a.name) if a.numbered else 0, a.name)
    )


def show_access_lists(config: RouterConfig, name: str | None = None) -> str:
    out = []
    for acl in sorted_acls(config):
        if name is not None and acl.name != name:
            continue
        out.append(f"Extended IP access list {acl.name}\n")
        out.extend(f"    {entry.text()}\n" for entry in acl.entries)
    return "".join(out)
