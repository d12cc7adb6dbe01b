"""The interface between the IPsec data plane and key management (IKE, in a later issue).

The data plane asks for SAs in two situations (spec, "Overview of How IPSec Works" and "How These
Lifetimes Work"):

* an outbound packet is claimed by an ``ipsec-isakmp`` crypto map entry and no SA exists for its
  flow: "IPSec uses IKE to negotiate with the remote peer to set up the necessary IPSec security
  associations on behalf of the data flow" (the packet itself is dropped: "the router will discard
  packets if no connection or security association exists");
* an SA that carried traffic reaches its soft lifetime (30 seconds or 256 kilobytes before the
  hard one): "a new security association is negotiated before the lifetime threshold of the
  existing security association is reached".

Both are an :class:`SARequest` handed to the router's :class:`KeyManager`. A key manager answers
by installing the negotiated SAs through :meth:`host.router.Router.install_sas` (as IKE will);
until an IKE exists, :class:`NoKeyManager` only counts the requests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from host.policy import FlowIdentity

if TYPE_CHECKING:
    from host.config.model import CryptoMapEntry, DynamicMapEntry
    from host.ipsec.sadb import SABundle, SADatabase

__all__ = ["SARequest", "KeyManager", "NoKeyManager"]


@dataclass
class SARequest:
    """One request for new SAs.

    ``reason``: ``traffic`` (a packet found no SA) or ``rekey`` (soft lifetime of ``replaces``).
    ``database``: the SA database the SAs go into; ``local``: the local crypto endpoint.
    ``entry``: the crypto map entry whose policy applies (``dynamic`` the dynamic map entry that
    made a temporary entry, for rekeys of such SAs). ``flow``: the data flow, local orientation.
    ``peers``: the entry's peers in the order to try (for a rekey, the current peer first).
    ``transform_sets``: names, highest priority first. ``lifetime``: (seconds, kilobytes) to
    propose. ``pfs``: ``group1``/``group2`` or None.
    """

    reason: str
    database: SADatabase
    local: str
    entry: CryptoMapEntry
    flow: FlowIdentity
    peers: list[str]
    transform_sets: list[str]
    lifetime: tuple[int, int]
    pfs: str | None = None
    dynamic: DynamicMapEntry | None = None
    replaces: SABundle | None = None
    time: float = 0.0


class KeyManager(Protocol):
    """What the data plane calls; IKE implements it."""

    def request_sa(self, request: SARequest) -> None:
        """Start negotiating SAs for ``request`` (non-blocking; answer later, or never)."""

    # Optional: ``sas_deleted(bundle, why)`` is called, when a key manager defines it, after a
    # bundle left the database (``why``: ``seconds``, ``kilobytes``, ``cleared``, ...), so that
    # IKE can tell the peer and drop temporary crypto map entries of dynamic maps.


@dataclass
class NoKeyManager:
    """The key manager of a router without IKE: requests are counted and go nowhere."""

    requests: list[SARequest] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    keep: int = 100
    """How many recent requests to keep in :attr:`requests`."""

    def request_sa(self, request: SARequest) -> None:
        self.counts[request.reason] += 1
        self.requests.append(request)
        del self.requests[: -self.keep]
