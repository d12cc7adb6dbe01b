"""The router's configuration as data: what `show running-config` prints and the data plane reads.

:class:`RouterConfig` holds everything the configuration commands set: hostname, interfaces,
static routes, access lists, transform sets, the global SA lifetimes, crypto map sets and dynamic
crypto map sets. Other layers follow changes through :meth:`RouterConfig.subscribe` (a callback
per committed change set) or :attr:`RouterConfig.version` (bumped on every commit), for instance
to install manual SAs "as soon as the necessary configuration is completed" (spec) - see
:meth:`CryptoMapEntry.manual_ready`.

Every change goes through :meth:`RouterConfig.transaction`: the state is copied first and put back
if the change raises, so a refused command never leaves anything half-applied.
"""

from __future__ import annotations

import copy
import enum
import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from host.acl import AccessList
from host.config.transforms import KEY_BYTES, TRANSFORMS, Role

__all__ = [
    "RouterConfig",
    "Interface",
    "StaticRoute",
    "TransformSet",
    "Lifetime",
    "SessionKey",
    "MapKind",
    "CryptoMapEntry",
    "CryptoMapSet",
    "DynamicMapEntry",
    "DynamicMapSet",
    "Change",
    "DEFAULT_LIFETIME_SECONDS",
    "DEFAULT_LIFETIME_KILOBYTES",
    "SECONDS_RANGE",
    "KILOBYTES_RANGE",
    "SPI_RANGE",
    "MAX_TRANSFORM_SETS",
]

DEFAULT_LIFETIME_SECONDS = 3600
DEFAULT_LIFETIME_KILOBYTES = 4_608_000
SECONDS_RANGE = (120, 86400)
"""Lifetime limits in seconds (IOS's ranges; the spec gives only the defaults)."""
KILOBYTES_RANGE = (2560, 536_870_912)
"""Lifetime limits in kilobytes (IOS's ranges; the spec gives only the defaults)."""
SPI_RANGE = (256, 4_294_967_295)
"""Manual SPIs (spec, ``set session-key``)."""
MAX_TRANSFORM_SETS = {"ipsec-isakmp": 6, "dynamic": 6, "ipsec-manual": 1}
"""``set transform-set`` limits (spec): 6 for isakmp and dynamic entries, 1 for manual."""


@dataclass
class Interface:
    """An interface: its address, filters, crypto map set and MTU."""

    name: str
    address: ipaddress.IPv4Address | None = None
    mask: ipaddress.IPv4Address | None = None
    access_group_in: str | None = None
    access_group_out: str | None = None
    crypto_map: str | None = None
    mtu: int = 1500
    shutdown: bool = False

    @property
    def network(self) -> ipaddress.IPv4Network | None:
        if self.address is None or self.mask is None:
            return None
        return ipaddress.IPv4Network(f"{self.address}/{self.mask}", strict=False)


@dataclass(frozen=True)
class StaticRoute:
    """``ip route PREFIX MASK {NEXT-HOP | INTERFACE} [DISTANCE]``."""

    def __deepcopy__(self, memo: dict) -> StaticRoute:
        return self  # immutable: configuration snapshots share it

    prefix: ipaddress.IPv4Address
    mask: ipaddress.IPv4Address
    next_hop: ipaddress.IPv4Address | None = None
    interface: str | None = None
    distance: int = 1

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.prefix}/{self.mask}", strict=False)


@dataclass
class TransformSet:
    """``crypto ipsec transform-set NAME t1 [t2 [t3]]`` with its mode and RFC 1829 IV size."""

    name: str
    transforms: tuple[str, ...]
    """In IOS's order: AH, ESP encryption, ESP authentication."""
    mode: str = "tunnel"
    """``tunnel`` or ``transport``."""
    iv_size: int = 8
    """IV bytes for ``esp-rfc1829`` (4 or 8); meaningless otherwise."""

    def by_role(self, role: Role) -> str | None:
        for name in self.transforms:
            if TRANSFORMS[name].role is role:
                return name
        return None

    @property
    def ah(self) -> str | None:
        return self.by_role(Role.AH)

    @property
    def esp_encryption(self) -> str | None:
        return self.by_role(Role.ESP_ENCRYPTION)

    @property
    def esp_authentication(self) -> str | None:
        return self.by_role(Role.ESP_AUTHENTICATION)

    @property
    def esp(self) -> tuple[str, ...]:
        """The ESP transforms (encryption first)."""
        return tuple(t for t in self.transforms if TRANSFORMS[t].protocol == "esp")


@dataclass(frozen=True)
class Lifetime:
    """SA lifetime; in a crypto map entry, None means "use the global value"."""

    def __deepcopy__(self, memo: dict) -> Lifetime:
        return self  # immutable: configuration snapshots share it

    seconds: int | None = None
    kilobytes: int | None = None


@dataclass(frozen=True)
class SessionKey:
    """One ``set session-key {inbound|outbound} {ah|esp} SPI ...`` of a manual entry.

    Keys are kept as typed (``show crypto map`` prints them so); :meth:`CryptoMapEntry.manual_keys`
    gives them truncated to the algorithm's length."""

    def __deepcopy__(self, memo: dict) -> SessionKey:
        return self  # immutable: configuration snapshots share it

    spi: int
    key: bytes = b""
    """The AH key (``ah``)."""
    cipher: bytes = b""
    """The ESP cipher key (``esp ... cipher``)."""
    authenticator: bytes = b""
    """The ESP authenticator key (``esp ... authenticator``), empty if not given."""


class MapKind(enum.Enum):
    IPSEC_MANUAL = "ipsec-manual"
    IPSEC_ISAKMP = "ipsec-isakmp"


@dataclass
class _PolicyEntry:
    """What static and dynamic crypto map entries share."""

    acl: str | None = None
    peers: list[str] = field(default_factory=list)
    """IP addresses (dotted) or host names, in the order given."""
    transform_sets: list[str] = field(default_factory=list)
    pfs: str | None = None
    """``group1``/``group2`` when PFS is required, else None."""
    lifetime: Lifetime = field(default_factory=Lifetime)

    def effective_lifetime(self, config: RouterConfig) -> tuple[int, int]:
        """(seconds, kilobytes): this entry's values where set, else the global ones."""
        g = config.sa_lifetime
        return (
            self.lifetime.seconds if self.lifetime.seconds is not None else g.seconds or 0,
            self.lifetime.kilobytes if self.lifetime.kilobytes is not None else g.kilobytes or 0,
        )


@dataclass
class CryptoMapEntry(_PolicyEntry):
    """``crypto map NAME SEQ {ipsec-manual | ipsec-isakmp [dynamic DYN]}`` and its settings."""

    map_name: str = ""
    seq: int = 0
    kind: MapKind = MapKind.IPSEC_ISAKMP
    dynamic: str | None = None
    """Name of the dynamic crypto map set this entry refers to (isakmp only)."""
    per_host: bool = False
    session_keys: dict[tuple[str, str], SessionKey] = field(default_factory=dict)
    """``(direction, protocol)`` -> key, direction ``inbound``/``outbound``, protocol ``ah``/``esp``."""

    @property
    def manual(self) -> bool:
        return self.kind is MapKind.IPSEC_MANUAL

    def manual_problems(self, config: RouterConfig) -> list[str]:
        """What a manual entry still lacks before its SAs can be installed (empty when ready)."""
        if not self.manual:
            return ["not an ipsec-manual entry"]
        problems = []
        if self.acl is None:
            problems.append("no match address")
        elif config.acls.get(self.acl) is None or not any(config.acls[self.acl].permit_entries()):
            problems.append(f"access list {self.acl} has no permit entry")
        if not self.peers:
            problems.append("no peer")
        ts = config.transform_sets.get(self.transform_sets[0]) if self.transform_sets else None
        if ts is None:
            problems.append("no transform set")
            return problems
        for direction in ("inbound", "outbound"):
            if ts.ah and (direction, "ah") not in self.session_keys:
                problems.append(f"no {direction} ah session key")
            if ts.esp and (direction, "esp") not in self.session_keys:
                problems.append(f"no {direction} esp session key")
            key = self.session_keys.get((direction, "esp"))
            if ts.esp_authentication and key is not None and not key.authenticator:
                problems.append(f"no {direction} esp authenticator key")
        return problems

    def manual_ready(self, config: RouterConfig) -> bool:
        """True when a manual entry is complete: its SAs should be installed now."""
        return not self.manual_problems(config)

    def manual_keys(self, config: RouterConfig, direction: str, protocol: str) -> SessionKey | None:
        """The session key for ``direction``/``protocol`` truncated to the algorithm's key length."""
        key = self.session_keys.get((direction, protocol))
        ts = config.transform_sets.get(self.transform_sets[0]) if self.transform_sets else None
        if key is None or ts is None:
            return key

        def cut(data: bytes, transform: str | None) -> bytes:
            return data[: KEY_BYTES[TRANSFORMS[transform].algorithm]] if transform and data else data

        return SessionKey(
            key.spi,
            cut(key.key, ts.ah),
            cut(key.cipher, ts.esp_encryption),
            cut(key.authenticator, ts.esp_authentication),
        )


@dataclass
class CryptoMapSet:
    """All entries sharing one crypto map name, with the set's ``local-address`` interface."""

    name: str
    entries: dict[int, CryptoMapEntry] = field(default_factory=dict)
    local_address: str | None = None

    def ordered(self) -> list[CryptoMapEntry]:
        """Entries by sequence number: the lowest number is evaluated first (highest priority)."""
        return [self.entries[s] for s in sorted(self.entries)]


@dataclass
class DynamicMapEntry(_PolicyEntry):
    """``crypto dynamic-map NAME SEQ``: a policy template for peer-initiated negotiations."""

    map_name: str = ""
    seq: int = 0


@dataclass
class DynamicMapSet:
    name: str
    entries: dict[int, DynamicMapEntry] = field(default_factory=dict)

    def ordered(self) -> list[DynamicMapEntry]:
        return [self.entries[s] for s in sorted(self.entries)]


@dataclass(frozen=True)
class Change:
    """One thing a committed command changed: ``kind`` and the key of what changed.

    Kinds: ``hostname``, ``host`` (name), ``interface`` (name), ``route``, ``acl`` (name), ``transform-set``
    (name), ``lifetime``, ``crypto-map`` ((map, seq) or (map, None) for the whole set or its
    local-address), ``dynamic-map`` ((map, seq) or (map, None))."""

    def __deepcopy__(self, memo: dict) -> Change:
        return self  # immutable: configuration snapshots share it

    kind: str
    key: object = None


_STATE = (
    "hostname",
    "interfaces",
    "routes",
    "acls",
    "transform_sets",
    "sa_lifetime",
    "crypto_maps",
    "dynamic_maps",
    "hosts",
)


class RouterConfig:
    """The whole configuration of one router (see the module docstring)."""

    def __init__(self) -> None:
        self.hostname = "Router"
        self.interfaces: dict[str, Interface] = {}
        self.routes: list[StaticRoute] = []
        self.acls: dict[str, AccessList] = {}
        self.transform_sets: dict[str, TransformSet] = {}
        self.sa_lifetime = Lifetime(DEFAULT_LIFETIME_SECONDS, DEFAULT_LIFETIME_KILOBYTES)
        self.crypto_maps: dict[str, CryptoMapSet] = {}
        self.dynamic_maps: dict[str, DynamicMapSet] = {}
        self.hosts: dict[str, ipaddress.IPv4Address] = {}
        """``ip host NAME ADDRESS``: static host names (what ``set peer NAME`` resolves through)."""
        self.version = 0
        """Bumped once per committed transaction that changed something."""
        self._listeners: list[Callable[[RouterConfig, list[Change]], None]] = []
        self._pending: list[Change] | None = None
        self.notify_errors: list[str] = []
        """Exceptions raised by listeners: a listener's failure never undoes a committed change."""

    # -- change tracking -------------------------------------------------------------------
    def subscribe(self, callback: Callable[[RouterConfig, list[Change]], None]) -> None:
        """Call ``callback(config, changes)`` after every committed change set.

        The change is already in place when the callback runs; an exception it raises is kept in
        :attr:`notify_errors` (and shown by the console) rather than undoing the change."""
        self._listeners.append(callback)

    def unsubscribe(self, callback: Callable[[RouterConfig, list[Change]], None]) -> None:
        self._listeners.remove(callback)

    def changed(self, kind: str, key: object = None) -> None:
        """Record a change (called by the configuration commands inside a transaction)."""
        if self._pending is None:
            raise RuntimeError("configuration changed outside a transaction")
        self._pending.append(Change(kind, key))

    @contextmanager
    def transaction(self) -> Iterator[RouterConfig]:
        """Apply changes all-or-nothing; on an exception the previous state is restored.

        Nested transactions join the outer one; listeners hear once, at the outermost commit."""
        if self._pending is not None:
            yield self
            return
        snapshot = {name: copy.deepcopy(getattr(self, name)) for name in _STATE}
        self._pending = []
        try:
            yield self
        except BaseException:
            for name, value in snapshot.items():
                setattr(self, name, value)
            self._pending = None
            raise
        changes, self._pending = self._pending, None
        if changes:
            self.version += 1
            for listener in list(self._listeners):
                try:
                    listener(self, changes)
                except Exception as exc:  # the change stands; the listener's failure is reported
                    self.notify_errors.append(f"{type(exc).__name__}: {exc}")

    def take_notify_errors(self) -> list[str]:
        """The failures of listeners since the last call (the console prints them as warnings)."""
        errors, self.notify_errors = self.notify_errors, []
        return errors

    # -- look-ups --------------------------------------------------------------------------
    def interface(self, name: str) -> Interface:
        """The interface called ``name``, created if new (as ``interface NAME`` does)."""
        if name not in self.interfaces:
            self.interfaces[name] = Interface(name)
        return self.interfaces[name]

    def resolve_peer(self, peer: str) -> ipaddress.IPv4Address | None:
        """A ``set peer`` value as an address: dotted quads as they are, host names through
        ``ip host``; None for a name with no mapping."""
        try:
            return ipaddress.IPv4Address(peer)
        except ValueError:
            return self.hosts.get(peer.lower())

    def crypto_map_entries(self, name: str) -> list[CryptoMapEntry]:
        cmap = self.crypto_maps.get(name)
        return cmap.ordered() if cmap else []

    def local_address(self, map_name: str, interface: str | None = None) -> ipaddress.IPv4Address | None:
        """The local IPsec address for a crypto map set: its ``local-address`` interface's
        address, else the address of ``interface`` (the one the traffic uses)."""
        cmap = self.crypto_maps.get(map_name)
        name = cmap.local_address if cmap and cmap.local_address else interface
        intf = self.interfaces.get(name) if name else None
        return intf.address if intf else None
