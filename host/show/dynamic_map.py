"""``show crypto dynamic-map [tag NAME]``.

Layout from the spec's sample: ``Crypto Map Template"NAME" SEQ`` (no space before the quote, as
printed there), fields indented by two, the ACL as in ``show crypto map``, ``Current peer``
(0.0.0.0 when none is set), ``Security association lifetime`` (no hyphen, as printed there),
``PFS (Y/N)`` and ``Transform sets``. Choices without a sample: ``Peer = A`` lines as in ``show
crypto map``; ``DH group`` after ``PFS (Y/N): Y``; a blank line between entries.
"""

from __future__ import annotations

from host.config.model import DynamicMapEntry, RouterConfig
from host.show.common import acl_block, lifetime_text

__all__ = ["show_dynamic_map", "format_dynamic_entry"]


def format_dynamic_entry(config: RouterConfig, e: DynamicMapEntry) -> str:
    lines = [f'Crypto Map Template"{e.map_name}" {e.seq}']
    lines += [f"  Peer = {p}" for p in e.peers]
    lines += acl_block(config, e.acl, (2, 4, 6))
    lines.append(f"  Current peer: {e.peers[0] if e.peers else '0.0.0.0'}")
    seconds, kilobytes = e.effective_lifetime(config)
    lines.append(f"  Security association lifetime: {lifetime_text(seconds, kilobytes)}")
    lines.append(f"  PFS (Y/N): {'Y' if e.pfs else 'N'}")
    if e.pfs:
        lines.append(f"  DH group:  {e.pfs}")
    lines.append("  Transform sets={ " + "".join(f"{t}, " for t in e.transform_sets) + "}")
    return "\n".join(lines) + "\n"


def show_dynamic_map(config: RouterConfig, tag: str | None = None) -> str:
    entries = [
        e for name, dmap in config.dynamic_maps.items() if tag is None or name == tag for e in dmap.ordered()
    ]
    return "\n".join(format_dynamic_entry(config, e) for e in entries)
