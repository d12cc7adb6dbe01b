"""The emulated IOS router: configuration, forwarding, the IPsec data plane, exec commands.

A :class:`Router` is built from IOS configuration text and a crypto engine (a
:class:`driver.api.CryptoEngine`; the ``software`` one unless told otherwise) and runs on an
injected clock (:mod:`host.clock`). What the lab and tests use::

    r = Router.from_config(text, engine="software", clock=clock, rng=random.Random(1))
    out = r.receive("Ethernet0", packet_bytes)      # -> [(out_interface, bytes), ...]
    out = r.receive_burst([("Ethernet0", p1), ("Serial0", p2)])
    out = r.send_local(packet_bytes)                # a datagram the router itself originates
    print(r.exec("show crypto ipsec sa"))
    r.subscribe(lambda ev: print(ev.kind, ev.data)) # sa_created, sa_expired, sa_deleted,
                                                    # dropped, rekey, sa_request, delivered, log
    r.esp_sa_lines()                                # Wireshark esp_sa UAT lines of the ESP SAs

The packet path is :mod:`host.datapath`; SA lifetimes :mod:`host.lifetimes`; the SA database
:mod:`host.ipsec.sadb`; ``show``/``clear``/``debug crypto ipsec`` :mod:`host.exec_ipsec`.

Manual SAs (``ipsec-manual`` entries with ``set session-key``) are installed "as soon as the
necessary configuration is completed" (spec): after every configuration change, each complete
manual entry applied to an interface gets its SAs in that interface's database if it has none.
Changing an entry that already has SAs does not touch them: "if you make changes that affect
security associations you must use the clear crypto sa command before the changes take effect"
(the clear deletes them and installs them again from the current configuration). An entry that is
deleted, or no longer applied to an interface, loses its SAs at once.
"""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from driver.api import CryptoEngine, EngineError
from driver.registry import open_engine
from host.clock import Clock, uptime_text
from host.config.loader import LineError, load_config
from host.config.model import CryptoMapEntry, DynamicMapEntry, RouterConfig, TransformSet
from host.forwarding import RoutingTable
from host.ipsec.sa import Mode, Protocol, SAError, SecurityAssociation
from host.ipsec.sadb import EntryKey, SABundle, SADatabase, SADBError
from host.keymgmt import KeyManager, NoKeyManager, SARequest
from host.lifetimes import LifetimeManager
from host.policy import FlowIdentity, entry_acl, identity_of

__all__ = ["Router", "Event", "RouterConfigError", "SAKeys", "describe_sa"]


def describe_sa(bundle: SABundle, sa: SecurityAssociation) -> dict:
    """One SA as events and Wireshark key files describe it: addresses in packet direction,
    SPI, protocol, transforms, mode, conn id and keys (hex)."""
    src, dst = (sa.peer, sa.local) if sa.inbound else (sa.local, sa.peer)
    return dict(
        spi=sa.spi,
        protocol=sa.protocol.value,
        direction="inbound" if sa.inbound else "outbound",
        src=src,
        dst=dst,
        conn_id=sa.conn_id,
        transforms=sa.transform_text,
        mode=sa.mode.value,
        cipher_key=sa.cipher_key.hex(),
        auth_key=sa.auth_key.hex(),
        crypto_map=bundle.map_name,
        manual=bundle.manual,
    )


class RouterConfigError(ValueError):
    """Configuration text with refused lines (``errors`` lists them)."""

    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        super().__init__("".join(str(e) for e in errors))


@dataclass(frozen=True)
class Event:
    """Something the router reports: ``kind`` at clock ``time`` with its ``data``.

    Kinds: ``sa_created`` / ``sa_expired`` / ``sa_deleted`` (one per SA: spi, protocol,
    direction, src, dst, conn_id, keys), ``rekey`` and ``sa_request`` (a request to key
    management), ``dropped`` (reason, interface, direction, detail), ``delivered`` (a datagram
    addressed to the router itself), ``log`` (a ``debug crypto ipsec`` line)."""

    kind: str
    time: float
    router: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SAKeys:
    """One direction and protocol of a bundle: SPI and keys (what ``set session-key`` or IKE
    gives). ``cipher`` is the DES key of ESP, ``auth`` the HMAC/keyed-MD5 key (AH or ESP)."""

    spi: int
    cipher: bytes = b""
    auth: bytes = b""


_RFC_ENC = {"esp-des": "DES-CBC [RFC2405]"}
_RFC_AUTH = {
    "esp-md5-hmac": "HMAC-MD5-96 [RFC2403]",
    "esp-sha-hmac": "HMAC-SHA-1-96 [RFC2404]",
}


def _rng_functions(rng: Any) -> tuple[Callable[[int], bytes], Callable[[], int]]:
    """(n -> n random bytes, -> random 32-bit int) from a seed, a ``random.Random`` or a
    bytes function."""
    if rng is None:
        rng = random.Random()
    if isinstance(rng, int):
        rng = random.Random(rng)
    if isinstance(rng, random.Random):
        return rng.randbytes, lambda: rng.getrandbits(32)
    if callable(rng):
        return rng, lambda: int.from_bytes(rng(4), "big")
    raise TypeError("rng is a seed, a random.Random or a function n -> n bytes")


class Router:
    """One emulated router (see the module docstring)."""

    MAX_NESTING = 4
    """Encapsulations (and decapsulations) one datagram may go through in this router."""
    REQUEST_HOLDDOWN = 60.0
    """Seconds before an unanswered request for the same SAs is sent to key management again."""

    def __init__(
        self,
        config: RouterConfig | None = None,
        *,
        engine: CryptoEngine | str | None = None,
        clock: Clock | None = None,
        rng: Any = None,
        key_manager: KeyManager | None = None,
    ) -> None:
        self.config = config if config is not None else RouterConfig()
        self.config_errors: list[LineError] = []
        """Configuration lines refused by :meth:`from_config` (when not ``strict``)."""
        if engine is None or isinstance(engine, str):
            engine = open_engine(engine or "software")
        self.engine: CryptoEngine = engine
        self.clock = clock if clock is not None else Clock()
        self.randbytes, self.rand32 = _rng_functions(rng)
        self.key_manager: KeyManager = key_manager if key_manager is not None else NoKeyManager()
        self.ident = (i & 0xFFFF for i in itertools.count(1))
        """IP identification numbers of the datagrams this router builds."""
        self.databases: dict[tuple[str, str], SADatabase] = {}
        self.routes = RoutingTable(self.config)
        self._addresses: frozenset[bytes] = frozenset()
        self.drops: Counter = Counter()
        """Dropped packets per reason text."""
        self.counters: Counter = Counter()
        """Router-wide packet counters (received, forwarded, delivered, sa_requests, ...)."""
        self.log: deque[str] = deque(maxlen=10000)
        """``debug crypto ipsec`` lines (and other console messages), newest last."""
        self.debug_ipsec = False
        self.recent_events: deque[Event] = deque(maxlen=1000)
        self.delivered: deque[bytes] = deque(maxlen=1000)
        """Datagrams addressed to the router itself that it accepted (newest last)."""
        self._listeners: list[Callable[[Event], None]] = []
        self.udp_handlers: dict[int, Callable[[bytes, str | None], Iterable[bytes] | None]] = {}
        """UDP port -> ``handler(datagram, interface)`` for datagrams addressed to the router
        (IKE listens on 500); what it returns is sent as originated by the router."""
        self._pending_requests: dict[tuple, float] = {}
        self.lifetimes = LifetimeManager(self)
        from host.datapath import DataPath

        self.datapath = DataPath(self)
        if hasattr(engine, "subscribe_log"):  # an engine manager's fallback/failover messages
            engine.subscribe_log(self._engine_message)
        self.config.subscribe(self._on_config)
        self._sync()

    # -- construction ----------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        text: str,
        *,
        engine: CryptoEngine | str | None = None,
        clock: Clock | None = None,
        rng: Any = None,
        key_manager: KeyManager | None = None,
        strict: bool = True,
        source: str = "config",
    ) -> Router:
        """A router configured with ``text`` (IOS configuration lines). With ``strict`` a refused
        line raises :class:`RouterConfigError` (listing every refused line); otherwise the refused
        lines are in :attr:`config_errors`."""
        router = cls(engine=engine, clock=clock, rng=rng, key_manager=key_manager)
        router.config_errors = router.configure(text, source=source)
        if strict and router.config_errors:
            router.close()
            raise RouterConfigError(router.config_errors)
        return router

    def configure(self, text: str, source: str = "config") -> list[LineError]:
        """Run configuration lines (as ``configure terminal`` would); returns the refused ones."""
        return load_config(self, text, source=source)

    @property
    def hostname(self) -> str:
        return self.config.hostname

    def close(self) -> None:
        """Remove every SA from the engine and release the engine."""
        for db in list(self.databases.values()):
            for b in db:
                self._remove_bundle(db, b, "close", notify=False)
        self.config.unsubscribe(self._on_config)
        self.engine.close()

    # -- events ----------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` for every :class:`Event`."""
        self._listeners.append(callback)

    def unsubscribe(self, callback: Callable[[Event], None]) -> None:
        self._listeners.remove(callback)

    def emit(self, kind: str, **data: Any) -> None:
        ev = Event(kind, self.clock.now(), self.hostname, data)
        self.recent_events.append(ev)
        for cb in list(self._listeners):
            cb(ev)

    def debug(self, text: str) -> None:
        """A ``debug crypto ipsec`` message: logged (timestamped) when debugging is on."""
        if not self.debug_ipsec:
            return
        stamped = f"{uptime_text(self.clock.now())}: {text}"
        self.log.append(stamped)
        self.emit("log", text=stamped)

    def _engine_message(self, text: str) -> None:
        """A console message of the crypto engine (``%ISA-6-INFO: ...``): logged, stamped."""
        stamped = f"{uptime_text(self.clock.now())}: {text}"
        self.log.append(stamped)
        self.emit("log", text=stamped)

    def drop(
        self, reason: str, interface: str | None, direction: str, detail: str = "", **extra: Any
    ) -> None:
        """Count a dropped packet and report it."""
        self.drops[reason] += 1
        self.emit("dropped", reason=reason, interface=interface, direction=direction, detail=detail, **extra)

    # -- the packet path -------------------------------------------------------------------------

    def receive(self, interface: str, datagram: bytes) -> list[tuple[str, bytes]]:
        """A datagram arrives on ``interface``; returns what the router sends, as
        (interface, datagram) pairs (fragments separately)."""
        return self.datapath.run([(interface, datagram)], [])

    def receive_burst(self, packets: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        """Several arrivals processed together (their crypto runs as one engine burst)."""
        return self.datapath.run(list(packets), [])

    def send_local(self, datagram: bytes) -> list[tuple[str, bytes]]:
        """A datagram the router originates (its TTL is not decremented)."""
        return self.datapath.run([], [datagram])

    def exec(self, command: str) -> str:
        """Run one privileged exec command and return its output (IOS feedback on errors)."""
        from host.cli.registry import load_extensions
        from host.cli.session import Session

        load_extensions()
        session = Session(self, mode="enable")
        return session.run(command).feedback(len(session.prompt))

    # -- addresses and databases -----------------------------------------------------------------

    def addresses(self) -> frozenset[bytes]:
        """The router's own addresses (every interface's, up or not), as 4-byte values."""
        return self._addresses

    def database_for(self, interface: str) -> SADatabase | None:
        """The SA database of ``interface`` (None when it has no crypto map)."""
        key = self._db_key(interface)
        return None if key is None else self.databases.get(key)

    def _db_key(self, interface: str) -> tuple[str, str] | None:
        intf = self.config.interfaces.get(interface)
        if intf is None or intf.crypto_map is None:
            return None
        cmap = self.config.crypto_maps.get(intf.crypto_map)
        if cmap is not None and cmap.local_address:
            return ("map", intf.crypto_map)
        return ("interface", interface)

    def _local_for(self, key: tuple[str, str]) -> str | None:
        if key[0] == "map":
            addr = self.config.local_address(key[1])
        else:
            intf = self.config.interfaces.get(key[1])
            addr = intf.address if intf else None
        return str(addr) if addr is not None else None

    def map_of_database(self, db: SADatabase) -> str | None:
        """The crypto map set applied where ``db`` is used."""
        for name in db.interfaces:
            intf = self.config.interfaces.get(name)
            if intf is not None and intf.crypto_map:
                return intf.crypto_map
        return None

    # -- configuration changes -------------------------------------------------------------------

    def _on_config(self, config: RouterConfig, changes: list) -> None:
        self._sync()

    def _sync(self) -> None:
        """Bring routes, databases and manual SAs in line with the configuration."""
        self.routes = RoutingTable(self.config)
        self._addresses = frozenset(
            i.address.packed for i in self.config.interfaces.values() if i.address is not None
        )
        wanted: dict[tuple[str, str], list[str]] = {}
        for name in sorted(self.config.interfaces):
            key = self._db_key(name)
            if key is not None:
                wanted.setdefault(key, []).append(name)
        for key in list(self.databases):
            db = self.databases[key]
            if key not in wanted or db.local != self._local_for(key):
                for b in db:
                    self._remove_bundle(db, b, "interface or crypto map changed")
                del self.databases[key]
        for key, names in wanted.items():
            db = self.databases.get(key)
            if db is None:
                label = f"map {key[1]}" if key[0] == "map" else key[1]
                db = self.databases[key] = SADatabase(label, self._local_for(key), names)
            db.interfaces = names
            map_name = self.map_of_database(db)
            for b in db:
                if not self._entry_alive(b, map_name):
                    self._remove_bundle(db, b, "crypto map entry removed")
            for entry in self.config.crypto_map_entries(map_name) if map_name else []:
                if entry.manual and not db.bundles_of_entry((entry.map_name, entry.seq)):
                    self._install_manual(db, entry)

    def _entry_alive(self, bundle: SABundle, map_name: str | None) -> bool:
        if bundle.map_name != map_name:
            return False
        cmap = self.config.crypto_maps.get(bundle.map_name)
        entry = cmap.entries.get(bundle.entry[1]) if cmap else None
        if entry is None:
            return False
        return entry.manual == bundle.manual

    def _install_manual(self, db: SADatabase, entry: CryptoMapEntry) -> SABundle | None:
        """Install the SAs of a complete manual entry into ``db`` (None if it is not complete or
        its SAs cannot be installed; the reason is logged)."""
        if not entry.manual_ready(self.config) or db.local is None:
            return None
        addr = self.config.resolve_peer(entry.peers[0])
        if addr is None:
            self.log.append(f"% {entry.map_name} {entry.seq}: peer {entry.peers[0]} has no address (ip host)")
            return None
        peer = str(addr)
        acl = entry_acl(self.config, entry)
        line = next(iter(acl.permit_entries())) if acl is not None else None
        if line is None:
            return None
        ts = self.config.transform_sets[entry.transform_sets[0]]
        keys = {}
        for direction in ("inbound", "outbound"):
            for proto in ("esp", "ah"):
                k = entry.manual_keys(self.config, direction, proto)
                if k is None:
                    continue
                if proto == "ah":
                    keys[(direction, proto)] = SAKeys(k.spi, b"", k.key)
                else:
                    keys[(direction, proto)] = SAKeys(k.spi, k.cipher, k.authenticator)
        try:
            return self.install_sas(
                database=db,
                entry=(entry.map_name, entry.seq),
                peer=peer,
                flow=identity_of(line),
                transform_set=ts,
                keys=keys,
                manual=True,
            )
        except (SADBError, SAError, EngineError) as e:
            self.log.append(f"% {entry.map_name} {entry.seq}: manual SAs not installed: {e}")
            self.emit("log", text=f"manual SAs of {entry.map_name} {entry.seq} not installed: {e}")
            return None

    # -- installing and removing SAs -------------------------------------------------------------

    def install_sas(
        self,
        *,
        database: SADatabase | str,
        entry: EntryKey,
        peer: str,
        flow: FlowIdentity,
        transform_set: TransformSet | str,
        keys: dict[tuple[str, str], SAKeys],
        lifetime: tuple[int, int] | None = None,
        manual: bool = False,
        mode: Mode | str | None = None,
        dynamic: tuple[str, int] | None = None,
    ) -> SABundle:
        """Install sibling SAs (what IKE calls once a negotiation completes, and what manual
        entries use). ``database``: an :class:`SADatabase` or an interface name. ``keys``:
        ``(direction, protocol) -> SAKeys`` for ``inbound``/``outbound`` and ``esp``/``ah`` as
        the transform set needs. ``lifetime``: (seconds, kilobytes); default the entry's
        effective lifetime (ignored for manual SAs, which never expire). ``mode``: default the
        transform set's mode where it applies (traffic between the peers themselves), else
        tunnel. Raises :class:`SADBError`, :class:`SAError` or an engine error, with nothing
        installed."""
        db = database if isinstance(database, SADatabase) else self.database_for(database)
        if db is None:
            raise SADBError(f"no SA database for {database!r} (no crypto map applied)")
        if db.local is None:
            raise SADBError(f"{db.name} has no local address")
        ts = (
            transform_set
            if isinstance(transform_set, TransformSet)
            else self.config.transform_sets[transform_set]
        )
        if mode is None:
            mode = self._mode_for(ts, flow, db.local, peer)
        protos = []
        if ts.esp:
            protos.append(("esp", Protocol.ESP, ts.esp))
        if ts.ah:
            protos.append(("ah", Protocol.AH, (ts.ah,)))
        if not protos:
            raise SAError(f"transform set {ts.name} has no transforms")
        inbound: list[SecurityAssociation] = []
        outbound: list[SecurityAssociation] = []
        for direction, into in (("inbound", inbound), ("outbound", outbound)):
            for name, proto, transforms in protos:
                k = keys.get((direction, name))
                if k is None:
                    raise SAError(f"no {direction} {name} keys")
                into.append(
                    SecurityAssociation(
                        protocol=proto,
                        spi=k.spi,
                        inbound=direction == "inbound",
                        local=db.local,
                        peer=peer,
                        transforms=transforms,
                        mode=mode,
                        cipher_key=k.cipher if name == "esp" else b"",
                        auth_key=k.auth,
                        iv_size=ts.iv_size if "esp-rfc1829" in transforms else 8,
                        manual=manual,
                        rng=self.randbytes,
                        ident=self.ident,
                    )
                )
        if lifetime is None and not manual:
            cmap = self.config.crypto_maps.get(entry[0])
            e = cmap.entries.get(entry[1]) if cmap else None
            if dynamic is not None:
                dmap = self.config.dynamic_maps.get(dynamic[0])
                e = dmap.entries.get(dynamic[1]) if dmap else e
            if e is not None:
                lifetime = e.effective_lifetime(self.config)
            else:
                lifetime = (
                    self.config.sa_lifetime.seconds or 3600,
                    self.config.sa_lifetime.kilobytes or 4608000,
                )
        bundle = SABundle(
            entry=entry,
            peer=str(ipaddress.IPv4Address(peer)),
            local=db.local,
            flow=flow,
            transform_set=ts.name,
            inbound=inbound,
            outbound=outbound,
            manual=manual,
            lifetime=None if manual else lifetime,
            created=self.clock.now(),
            dynamic=dynamic,
        )
        installed: list[SecurityAssociation] = []
        try:
            db.add(bundle)
            for sa in bundle.sas:
                sa.install(self.engine)
                installed.append(sa)
        except Exception:
            for sa in installed:
                sa.uninstall()
            db.remove(bundle)
            raise
        for key in [k for k in self._pending_requests if k[0] == id(db) and k[1] == entry]:
            del self._pending_requests[key]
        self.counters["sas_created"] += len(bundle.sas)
        db.heard(bundle)  # a negotiation just completed with this peer
        if bundle.lifetime is not None:
            from host.show.ipsec_debug import initialize_sas_lines

            for sa in bundle.sas:
                for line in initialize_sas_lines(sa, bundle.flow, bundle.lifetime):
                    self.debug(line)
        for sa in bundle.sas:
            self._announce(bundle, sa, "sa_created")
        self.lifetimes.track(bundle)
        return bundle

    def allocate_spi(self, database: SADatabase | str, protocol: Protocol) -> int:
        """A fresh inbound SPI of ``protocol`` in ``database`` (an interface name works too),
        for key management: "for inbound security associations, IPsec controls its own SPI
        space" (spec, ``debug crypto ipsec``)."""
        db = database if isinstance(database, SADatabase) else self.database_for(database)
        if db is None or db.local is None:
            raise SADBError(f"no SA database with a local address for {database!r}")
        return db.allocate_spi(db.local, protocol, self.rand32)

    @staticmethod
    def _mode_for(ts: TransformSet, flow: FlowIdentity, local: str, peer: str) -> Mode:
        """Spec (``mode``): the transform set's mode is used only for traffic whose endpoints are
        the peers themselves; all other traffic is tunnelled."""
        if ts.mode != "transport":
            return Mode.TUNNEL
        hosts = flow.local_mask == 0xFFFFFFFF and flow.remote_mask == 0xFFFFFFFF
        ends = (flow.local_addr, flow.remote_addr) == (
            int(ipaddress.IPv4Address(local)),
            int(ipaddress.IPv4Address(peer)),
        )
        return Mode.TRANSPORT if hosts and ends else Mode.TUNNEL

    def _announce(self, bundle: SABundle, sa: SecurityAssociation, kind: str) -> None:
        self.emit(kind, **describe_sa(bundle, sa))
        if kind == "sa_created":
            from host.show.ipsec_debug import create_sa_lines

            for line in create_sa_lines(sa):
                self.debug(line)

    def _remove_bundle(self, db: SADatabase, bundle: SABundle, why: str, *, notify: bool = True) -> None:
        if bundle.expired and bundle not in db.bundles:
            return
        bundle.expired = True
        self.lifetimes.forget(bundle)
        db.remove(bundle)
        for sa in bundle.sas:
            conn_id = sa.conn_id
            try:
                sa.uninstall()
            except EngineError:
                pass
            if notify:
                self.emit(
                    "sa_expired" if why in ("seconds", "kilobytes") else "sa_deleted",
                    spi=sa.spi,
                    protocol=sa.protocol.value,
                    direction="inbound" if sa.inbound else "outbound",
                    src=sa.peer if sa.inbound else sa.local,
                    dst=sa.local if sa.inbound else sa.peer,
                    conn_id=conn_id,
                    why=why,
                    crypto_map=bundle.map_name,
                )
                from host.show.ipsec_debug import delete_sa_lines

                for line in delete_sa_lines(sa, conn_id):
                    self.debug(line)
        tell = getattr(self.key_manager, "sas_deleted", None)
        if notify and tell is not None and not bundle.manual:
            tell(bundle, why)

    def expire(self, bundle: SABundle, why: str) -> None:
        """A bundle's lifetime ran out (``seconds`` or ``kilobytes``): its SAs are deleted."""
        for db in self.databases.values():
            if bundle in db.bundles:
                self.counters["sas_expired"] += len(bundle.sas)
                self._remove_bundle(db, bundle, why)

    def find_database(self, bundle: SABundle) -> SADatabase | None:
        for db in self.databases.values():
            if bundle in db.bundles:
                return db
        return None

    def bundles(self) -> list[SABundle]:
        """Every live bundle of every database."""
        return [b for db in self.databases.values() for b in db]

    def security_associations(self) -> list[SecurityAssociation]:
        return [sa for b in self.bundles() for sa in b.sas]

    # -- key management --------------------------------------------------------------------------

    def request_sas(
        self,
        reason: str,
        db: SADatabase,
        entry: CryptoMapEntry,
        flow: FlowIdentity,
        *,
        replaces: SABundle | None = None,
    ) -> None:
        """Ask key management for SAs (a packet without SA, or a rekey). A request that is
        still outstanding (same database, entry, flow and reason) is not repeated for
        :attr:`REQUEST_HOLDDOWN` seconds; the packets meanwhile are dropped all the same.

        A rekey of SAs that came through a dynamic crypto map uses the dynamic entry's policy
        and the peer of the SAs it replaces (the spec's "temporary crypto map entry": "even
        requesting new security associations if the current ones are expiring")."""
        key = (id(db), (entry.map_name, entry.seq), flow, reason, replaces.ident if replaces else 0)
        last = self._pending_requests.get(key)
        now = self.clock.now()
        if last is not None and now - last < self.REQUEST_HOLDDOWN:
            self.counters["sa_requests_pending"] += 1
            return
        self._pending_requests[key] = now
        policy: CryptoMapEntry | DynamicMapEntry = entry
        dynamic = None
        if replaces is not None and replaces.dynamic is not None:
            dmap = self.config.dynamic_maps.get(replaces.dynamic[0])
            dynamic = dmap.entries.get(replaces.dynamic[1]) if dmap else None
            policy = dynamic if dynamic is not None else entry
        peers = [str(a) if (a := self.config.resolve_peer(p)) is not None else p for p in policy.peers]
        if replaces is not None:
            if replaces.peer in peers:
                peers.remove(replaces.peer)
            peers.insert(0, replaces.peer)
        req = SARequest(
            reason=reason,
            database=db,
            local=db.local or "0.0.0.0",
            entry=entry,
            flow=flow,
            peers=peers,
            transform_sets=list(policy.transform_sets),
            lifetime=policy.effective_lifetime(self.config),
            pfs=policy.pfs,
            dynamic=dynamic,
            replaces=replaces,
            time=now,
        )
        self.counters["sa_requests"] += 1
        self.emit(
            "rekey" if reason == "rekey" else "sa_request",
            crypto_map=entry.map_name,
            seq=entry.seq,
            peer=peers[0] if peers else None,
            local=flow.local_text(),
            remote=flow.remote_text(),
        )
        from host.show.ipsec_debug import sa_request_lines

        for line in sa_request_lines(self.config, req):
            self.debug(line)
        self.key_manager.request_sa(req)

    # -- clear crypto sa -------------------------------------------------------------------------

    def clear_sas(
        self,
        *,
        peer: str | None = None,
        map_name: str | None = None,
        entry: tuple[str, Protocol, int] | None = None,
    ) -> int:
        """``clear crypto sa [peer P | map M | entry DST PROTO SPI]``: delete the matching SAs
        and their siblings; manual ones are installed again from the current configuration.
        Returns how many bundles were deleted."""
        victims: list[tuple[SADatabase, SABundle]] = []
        for db in self.databases.values():
            for b in db:
                if peer is not None and b.peer != peer:
                    continue
                if map_name is not None and b.map_name != map_name:
                    continue
                if entry is not None:
                    dst, proto, spi = entry
                    sa = db.find_sa(dst, proto, spi)
                    if sa is None or db.bundle_of(sa) is not b:
                        continue
                victims.append((db, b))
        for db, b in victims:
            self._remove_bundle(db, b, "cleared")
        self.counters["sas_cleared"] += sum(len(b.sas) for _, b in victims)
        self._sync()
        return len(victims)

    def clear_counters(self) -> None:
        """``clear crypto sa counters``: zero the traffic counters, keep the SAs."""
        for b in self.bundles():
            b.clear_counters()

    # -- Wireshark ------------------------------------------------------------------------------

    def esp_sa_lines(self) -> list[str]:
        """One Wireshark ``esp_sa`` UAT line per live ESP SA of the updated (RFC 2406) format:
        protocol, source, destination, SPI, encryption, key, authentication, key."""
        out = []
        for sa in self.security_associations():
            if sa.protocol is not Protocol.ESP or sa.legacy:
                continue
            out.append(esp_sa_line(sa))
        return out


def esp_sa_line(sa: SecurityAssociation) -> str:
    """The Wireshark ``esp_sa`` UAT line of one ESP SA (see :meth:`Router.esp_sa_lines`)."""
    src, dst = (sa.peer, sa.local) if sa.inbound else (sa.local, sa.peer)
    auth = next((t for t in sa.transforms if t in _RFC_AUTH), None)
    fields = [
        "IPv4",
        src,
        dst,
        f"0x{sa.spi:08x}",
        _RFC_ENC["esp-des"],
        "0x" + sa.cipher_key.hex(),
        _RFC_AUTH[auth] if auth else "NULL",
        "0x" + sa.auth_key.hex() if auth else "",
    ]
    return ",".join(f'"{f}"' for f in fields)
