"""SA lifetimes on the injected clock: expiry by seconds or kilobytes, and the soft threshold.

From the spec ("How These Lifetimes Work"):

* "The security association (and corresponding keys) will expire according to whichever comes
  sooner, either after the number of seconds has passed ... or after the amount of traffic in
  kilobytes is passed." Siblings share their keys' lifetime ("these keys and their security
  associations time out together"): the whole bundle expires at once. The traffic volume is
  counted per SA (the protected bytes each SA carried); the first SA of a bundle to reach the
  kilobytes lifetime expires the bundle.
* "A new security association is negotiated *before* the lifetime threshold of the existing
  security association is reached ... either 30 seconds before the seconds lifetime expires or
  when the volume of traffic through the tunnel reaches 256 kilobytes less than the kilobytes
  lifetime (whichever comes first)": the soft threshold raises one rekey request per bundle.
* "If no traffic has passed through the tunnel during the entire life of the security
  association, a new security association is not negotiated when the lifetime expires": the time
  threshold of a bundle that carried no packet raises no rekey (the next packet needing it will
  ask for new SAs in the ordinary way once it has expired).
* "Security associations that are established manually ... have an infinite lifetime."
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from host.clock import Timer

if TYPE_CHECKING:
    from host.ipsec.sa import SecurityAssociation
    from host.ipsec.sadb import SABundle
    from host.router import Router

__all__ = ["LifetimeManager", "SOFT_SECONDS", "SOFT_KILOBYTES"]

SOFT_SECONDS = 30
SOFT_KILOBYTES = 256


class LifetimeManager:
    """Timers and volume checks for the bundles of one router."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self._timers: dict[int, list[Timer]] = {}
        self._deadline: dict[int, float] = {}

    def track(self, bundle: SABundle) -> None:
        """Start the lifetime of a freshly installed bundle (nothing for manual bundles)."""
        if bundle.manual or bundle.lifetime is None:
            return
        seconds, _ = bundle.lifetime
        clock = self.router.clock
        hard = bundle.created + seconds
        soft = max(bundle.created, hard - SOFT_SECONDS)
        self._deadline[bundle.ident] = hard
        self._timers[bundle.ident] = [
            clock.call_at(soft, lambda: self._soft_time(bundle)),
            clock.call_at(hard, lambda: self.router.expire(bundle, "seconds")),
        ]

    def forget(self, bundle: SABundle) -> None:
        """Stop the timers of a bundle that is being removed."""
        for t in self._timers.pop(bundle.ident, []):
            t.cancel()
        self._deadline.pop(bundle.ident, None)

    def remaining(self, bundle: SABundle, sa: SecurityAssociation | None = None) -> tuple[int, int] | None:
        """(kilobytes, seconds) left, as ``sa timing: remaining key lifetime (k/sec)`` prints
        them; None for manual bundles. Kilobytes left are counted down per started kilobyte that
        ``sa`` carried (default: the busiest sibling), so 10 packets of a few hundred bytes leave
        4607999 of 4608000."""
        if bundle.manual or bundle.lifetime is None:
            return None
        _, kb = bundle.lifetime
        used = math.ceil((bundle.bytes_max if sa is None else bundle.bytes_of(sa)) / 1024)
        left = self._deadline.get(bundle.ident, bundle.created + bundle.lifetime[0]) - self.router.clock.now()
        return max(kb - used, 0), max(math.ceil(left - 1e-9), 0)

    def after_traffic(self, bundle: SABundle) -> None:
        """Check the traffic-volume thresholds of a bundle that just carried packets."""
        if bundle.manual or bundle.lifetime is None or bundle.expired:
            return
        _, kb = bundle.lifetime
        used = bundle.bytes_max
        if used >= kb * 1024:
            self.router.expire(bundle, "kilobytes")
        elif used >= (kb - SOFT_KILOBYTES) * 1024:
            self._rekey(bundle)

    def _soft_time(self, bundle: SABundle) -> None:
        if bundle.expired or not bundle.carried_traffic:
            return
        self._rekey(bundle)

    def _rekey(self, bundle: SABundle) -> None:
        if bundle.rekey_requested:
            return
        bundle.rekey_requested = True
        router = self.router
        db = router.find_database(bundle)
        cmap = router.config.crypto_maps.get(bundle.map_name)
        entry = cmap.entries.get(bundle.entry[1]) if cmap else None
        if db is None or entry is None:
            return
        router.request_sas("rekey", db, entry, bundle.flow, replaces=bundle)
