"""``show crypto ipsec security-association lifetime`` (spec sample:
``Security-association lifetime: 4608000 kilobytes/120 seconds``)."""

from __future__ import annotations

from host.config.model import RouterConfig
from host.show.common import lifetime_text

__all__ = ["show_sa_lifetime"]


def show_sa_lifetime(config: RouterConfig) -> str:
    g = config.sa_lifetime
    return f"Security-association lifetime: {lifetime_text(g.seconds or 0, g.kilobytes or 0)}\n"
