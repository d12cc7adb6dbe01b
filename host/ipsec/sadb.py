"""The security association database: SAs grouped as established together, found by SPI or flow.

From the spec:

* SAs are unidirectional and per protocol; "when security associations are established for IPSec,
  the security associations (for each protocol) for both directions are established at the same
  time". Such a group is an :class:`SABundle`: the inbound and outbound SAs of one transform set
  for one data flow with one peer, the "sibling" SAs that ``clear crypto sa`` deletes together.
* An SA is named by (destination address, protocol, SPI): "for a given destination
  address/protocol combination, unique SPI values must be used. The destination address is that of
  the router if inbound, the peer if outbound." :meth:`SADatabase.add` refuses a bundle that breaks
  this, so that an inbound lookup by (dst, protocol, SPI) finds at most one SA.
* "Each interface will have its own piece of the security association database", unless the crypto
  map set names a ``local-address`` interface: then "only one IPSec security association database
  will be established and shared for traffic through both interfaces". The router makes one
  :class:`SADatabase` per interface, or one per crypto map set with a local address.
* Outbound, a packet that a crypto map entry claims is protected by a bundle of that entry whose
  flow covers the packet. The flow is the ACL ``permit`` line's identity (or its per-host
  narrowing, :mod:`host.policy`); a peer may have established a finer flow, so any bundle of the
  entry whose flow covers the packet serves, the most recently established first (after a rekey
  the new SAs carry the traffic while the old ones live on until they expire).

Lifetimes live on the bundle (the keys of siblings "time out together"); the router's lifetime
manager (:mod:`host.lifetimes`) drives them from the clock and the SAs' byte counters.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from host.acl import Packet
from host.policy import FlowIdentity

from .ipv4 import addr_bytes
from .sa import Protocol, SecurityAssociation

__all__ = ["SADatabase", "SABundle", "FlowCounters", "SADBError", "EntryKey"]

EntryKey = tuple[str, int]
"""A crypto map entry: (map name, sequence number)."""

_bundle_ids = itertools.count(1)


class SADBError(ValueError):
    """A bundle that cannot go into the database (duplicate SPI, mixed peers, ...)."""


@dataclass
class FlowCounters:
    """Per-packet counters of one bundle, as ``show crypto ipsec sa`` prints them per flow.

    A packet protected by ESP and AH counts once here (and once on each SA). ``no_sa`` counts
    outbound packets dropped for want of an SA, kept on the database per flow elsewhere."""

    encaps: int = 0
    encrypt: int = 0
    digest: int = 0
    decaps: int = 0
    decrypt: int = 0
    verify: int = 0
    send_errors: int = 0
    recv_errors: int = 0

    def clear(self) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, 0)


@dataclass(eq=False)
class SABundle:
    """Sibling SAs: both directions of one transform set for one flow and peer.

    ``inbound`` / ``outbound``: the SAs in processing order of their direction's *outbound*
    application, ESP first then AH (what :func:`host.ipsec.bundle.protect` takes). ``flow``: the
    data flow in local orientation (local = this router's side). ``entry``: the crypto map entry
    (map, seq) that owns it; ``dynamic`` names the dynamic map entry when it came through one.
    ``manual``: keyed by ``set session-key`` (never expires). ``lifetime``: (seconds, kilobytes)
    or None for manual bundles. ``created``: clock time of installation.
    """

    entry: EntryKey
    peer: str
    local: str
    flow: FlowIdentity
    transform_set: str
    inbound: list[SecurityAssociation]
    outbound: list[SecurityAssociation]
    manual: bool = False
    lifetime: tuple[int, int] | None = None
    created: float = 0.0
    dynamic: tuple[str, int] | None = None
    ident: int = field(default_factory=lambda: next(_bundle_ids))
    counters: FlowCounters = field(default_factory=FlowCounters)
    rekey_requested: bool = False
    """Set once the soft threshold raised a rekey (it is raised at most once per bundle)."""
    expired: bool = False
    cleared_bytes: dict[int, int] = field(default_factory=dict)
    """Bytes each SA (by id) had carried when its counters were last cleared."""
    cleared_traffic: bool = False

    @property
    def map_name(self) -> str:
        return self.entry[0]

    @property
    def sas(self) -> list[SecurityAssociation]:
        """Every SA of the bundle, inbound first."""
        return [*self.inbound, *self.outbound]

    @property
    def carried_traffic(self) -> bool:
        """Whether any packet passed through any of the siblings (``clear crypto sa counters``
        does not make an SA idle again)."""
        return self.cleared_traffic or any(sa.counters.packets for sa in self.sas)

    def bytes_of(self, sa: SecurityAssociation) -> int:
        """Protected bytes ``sa`` carried in its life (counters cleared or not)."""
        return sa.counters.bytes + self.cleared_bytes.get(id(sa), 0)

    @property
    def bytes_max(self) -> int:
        """The largest byte count of any sibling (the traffic-volume lifetime is per SA)."""
        return max((self.bytes_of(sa) for sa in self.sas), default=0)

    def clear_counters(self) -> None:
        """``clear crypto sa counters``: zero the shown counters; the lifetime keeps counting."""
        for sa in self.sas:
            self.cleared_traffic = self.cleared_traffic or sa.counters.packets > 0
            self.cleared_bytes[id(sa)] = self.bytes_of(sa)
            sa.counters.clear()
        self.counters.clear()

    def covers_outbound(self, pkt: Packet) -> bool:
        """Whether outbound ``pkt`` belongs to this bundle's flow."""
        return self.flow.covers_outbound(pkt)

    def covers_inbound(self, pkt: Packet) -> bool:
        """Whether an inbound (decrypted) ``pkt`` belongs to this bundle's flow."""
        return self.flow.covers_outbound(pkt.mirrored())

    def __repr__(self) -> str:
        return (
            f"<SABundle #{self.ident} {self.entry[0]} {self.entry[1]} peer {self.peer} "
            f"{self.flow.local_text()} <-> {self.flow.remote_text()} {len(self.sas)} SAs>"
        )


class SADatabase:
    """One piece of the SA database: an interface's, or a crypto map set's with a local address.

    ``name``: what it belongs to (``Serial0`` or ``map toSomewhere``). ``local``: the local
    address of its IPsec traffic. ``interfaces``: the interfaces that use it.
    """

    def __init__(self, name: str, local: str | None, interfaces: Iterable[str] = ()) -> None:
        self.name = name
        self.local = local
        self.interfaces: list[str] = list(interfaces)
        self.bundles: list[SABundle] = []
        self._by_spi: dict[tuple[bytes, int, int], SecurityAssociation] = {}
        self._bundle_of: dict[int, SABundle] = {}
        self.unknown_spi = 0
        """Inbound IPsec packets whose (dst, protocol, SPI) named no SA here."""
        self.heard_from: dict[tuple[EntryKey, FlowIdentity], str] = {}
        """(entry, flow) -> the peer last heard from (see :meth:`find_outbound`)."""
        self.dynamic_bundles = 0
        """How many bundles came through a dynamic crypto map (temporary entries)."""
        self.no_sa: Counter = Counter()
        """Outbound packets dropped for want of an SA, per flow (``#pkts no sa (send)``)."""

    # -- contents --------------------------------------------------------------------------------

    def add(self, bundle: SABundle) -> None:
        """Add a bundle; raises :class:`SADBError` when an SPI is already in use for its
        (destination, protocol), or the bundle's SAs disagree with it on the endpoints."""
        keys = []
        for sa in bundle.sas:
            dst = sa.local_bytes if sa.inbound else sa.peer_bytes
            if sa.peer != bundle.peer or sa.local != bundle.local:
                raise SADBError(f"{sa!r} does not run between {bundle.local} and {bundle.peer}")
            key = (dst, sa.protocol.number, sa.spi)
            if key in self._by_spi or key in keys:
                raise SADBError(
                    f"SPI {sa.spi} ({sa.spi:#x}) is already used for {sa.protocol.value} to "
                    f"{sa.local if sa.inbound else sa.peer}"
                )
            keys.append(key)
        for key, sa in zip(keys, bundle.sas, strict=True):
            self._by_spi[key] = sa
            self._bundle_of[id(sa)] = bundle
        self.bundles.append(bundle)
        self.dynamic_bundles += bundle.dynamic is not None

    def remove(self, bundle: SABundle) -> None:
        """Take a bundle out (its SAs' engine contexts are the caller's to remove)."""
        if bundle not in self.bundles:
            return
        self.bundles.remove(bundle)
        self.dynamic_bundles -= bundle.dynamic is not None
        for sa in bundle.sas:
            dst = sa.local_bytes if sa.inbound else sa.peer_bytes
            self._by_spi.pop((dst, sa.protocol.number, sa.spi), None)
            self._bundle_of.pop(id(sa), None)

    def spi_in_use(self, dst: str | bytes, protocol: Protocol, spi: int) -> bool:
        """Whether (dst, protocol, spi) names an SA here."""
        return (addr_bytes(dst), protocol.number, spi) in self._by_spi

    def allocate_spi(self, dst: str | bytes, protocol: Protocol, rand32: Callable[[], int]) -> int:
        """A fresh SPI for an SA to ``dst`` (IKE asks IPsec for its inbound SPIs: "IPsec
        controls its own SPI space"). SPIs 0-255 are reserved."""
        for _ in range(1000):
            spi = rand32() & 0xFFFFFFFF
            if spi >= 256 and not self.spi_in_use(dst, protocol, spi):
                return spi
        raise SADBError("no free SPI found")

    # -- look-ups --------------------------------------------------------------------------------

    def lookup_inbound(self, dst: bytes, proto: int, spi: int) -> SecurityAssociation | None:
        """The inbound SA for a received packet's (destination, protocol, SPI)."""
        sa = self._by_spi.get((dst, proto, spi))
        return sa if sa is not None and sa.inbound else None

    def find_sa(self, dst: str | bytes, protocol: Protocol, spi: int) -> SecurityAssociation | None:
        """Any SA (either direction) by (destination, protocol, SPI), for ``clear crypto sa entry``."""
        return self._by_spi.get((addr_bytes(dst), protocol.number, spi))

    def bundle_of(self, sa: SecurityAssociation) -> SABundle | None:
        return self._bundle_of.get(id(sa))

    def find_outbound(
        self, entry: EntryKey, pkt: Packet, flow: FlowIdentity | None = None
    ) -> SABundle | None:
        """The bundle that protects outbound ``pkt`` for crypto map entry ``entry``: among the
        live bundles of the entry whose flow is exactly ``flow`` (else, whose flow covers the
        packet), one with the peer last heard from for that flow, else the newest. Spec (``set
        peer``): "The peer that packets are actually sent to is determined by the last peer
        that the router heard from (received either traffic or a negotiation request from) for
        a given data flow"."""
        exact: list[SABundle] = []
        covering: list[SABundle] = []
        for b in reversed(self.bundles):
            if b.entry != entry or b.expired or not b.outbound:
                continue
            if flow is not None and b.flow == flow:
                exact.append(b)
            elif b.covers_outbound(pkt):
                covering.append(b)
        found = exact or covering
        if not found:
            return None
        if len(found) > 1:
            heard = self.heard_from.get((entry, found[0].flow))
            for b in found:
                if b.peer == heard:
                    return b
        return found[0]

    def heard(self, bundle: SABundle) -> None:
        """Note that traffic (or a negotiation) came from ``bundle``'s peer for its flow."""
        self.heard_from[(bundle.entry, bundle.flow)] = bundle.peer

    def find_temporary(self, pkt: Packet, *, inbound: bool) -> SABundle | None:
        """The newest live bundle established through a dynamic crypto map whose flow covers
        ``pkt`` (outbound, or inbound mirrored): the spec's "temporary crypto map entry"."""
        if not self.dynamic_bundles:
            return None
        for b in reversed(self.bundles):
            if b.dynamic is None or b.expired or not b.outbound:
                continue
            if b.covers_inbound(pkt) if inbound else b.covers_outbound(pkt):
                return b
        return None

    def bundles_of_entry(self, entry: EntryKey) -> list[SABundle]:
        return [b for b in self.bundles if b.entry == entry]

    def flows(self) -> dict[tuple[FlowIdentity, str], list[SABundle]]:
        """Bundles grouped by (flow, peer), in order of installation (for the show command)."""
        out: dict[tuple[FlowIdentity, str], list[SABundle]] = {}
        for b in self.bundles:
            out.setdefault((b.flow, b.peer), []).append(b)
        return out

    def __iter__(self) -> Iterator[SABundle]:
        return iter(list(self.bundles))

    def __len__(self) -> int:
        return len(self.bundles)

    def __repr__(self) -> str:
        return f"<SADatabase {self.name} local {self.local} {len(self.bundles)} bundles>"
