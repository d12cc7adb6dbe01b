"""``show crypto ipsec transform-set [tag NAME]``.

Layout from the spec's sample: per set, ``Transform set NAME: { AH transforms }`` then
``    will negotiate = { Tunnel, },``; a set with both AH and ESP prints the ESP group on its own
line (``    { esp-des }``) followed by its own ``will negotiate`` line; a blank line between sets.
Sets are listed in the order they were defined (the sample is not alphabetical). The RFC 1829 IV
size is not shown (no sample shows it; ``show running-config`` does).
"""

from __future__ import annotations

from host.config.model import RouterConfig, TransformSet

__all__ = ["show_transform_sets", "format_transform_set"]


def format_transform_set(ts: TransformSet) -> str:
    mode = "Transport" if ts.mode == "transport" else "Tunnel"
    groups = [g for g in ((ts.ah,) if ts.ah else (), ts.esp) if g]
    lines = []
    for i, group in enumerate(groups):
        body = "{ " + " ".join(group) + " }"
        lines.append(f"Transform set {ts.name}: {body}" if i == 0 else f"    {body}")
        lines.append(f"    will negotiate = {{ {mode}, }},")
    return "\n".join(lines) + "\n"


def show_transform_sets(config: RouterConfig, tag: str | None = None) -> str:
    sets = [ts for ts in config.transform_sets.values() if tag is None or ts.name == tag]
    return "\n".join(format_transform_set(ts) for ts in sets)
