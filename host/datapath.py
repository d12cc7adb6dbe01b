"""The router's packet path: receive, filter, decapsulate, route, protect, fragment, send.

A burst of datagrams is processed in rounds. Each round first makes every decision that needs no
crypto (parse, interface ACLs, routing, crypto map evaluation, SA look-up), then runs all the
crypto the round needs as one engine burst per protocol layer (:func:`host.ipsec.burst.run_burst`:
one :meth:`~driver.api.CryptoEngine.run` per engine), then feeds the results back: a decrypted
datagram is received again (it may be protected once more, the spec's Figure 1 nesting), a
protected one is routed again (it may match an outer peer's crypto map entry and be protected
again). Nothing raises on a bad packet: every drop has a reason, a counter and an event.

Order of the checks (spec, "match address", "Ensure Access Lists Are Compatible with IPSec"):

Receiving on an interface:
  1. header sanity (version, length, checksum);
  2. ``ip access-group ... in`` on the datagram as received (ESP, AH and UDP 500 must be
     permitted there, or IPsec traffic is dropped). Decrypted inner datagrams are not filtered
     again (choice: IOS 11.3 checks the interface ACL once, on the received packet);
  3. addressed to the router: fragments are reassembled (on the clock), ESP and AH go to the
     inbound SA found by (destination, protocol, SPI) in the receiving interface's SA database
     (unless a crypto map entry claims the ESP/AH datagram itself and it did not arrive under
     that entry's SAs: nested traffic that skipped its outer peer);
  4. otherwise, unprotected traffic that a ``permit`` of an IPsec crypto map entry claims (ACL
     evaluated mirrored) is dropped: "it was not sent as an IPSec-protected packet";
  5. after decryption the inner datagram must belong to its SA's flow ("the data flow identity
     ... must be permitted"), else it is dropped (``invalid identity``);
  6. the router answers ICMP echo addressed to it; other datagrams for it are delivered (an
     event); transit datagrams lose one TTL (dropped at 0) and are routed.

Sending on an interface:
  1. the interface's crypto map set, entries in sequence order; a ``permit`` selects an entry
     (SAs that came through a dynamic map act as a temporary entry at their parent entry's
     place, matching their negotiated flow, as the spec describes):
     with an SA bundle for the packet's flow the packet is protected; without, an
     ``ipsec-manual`` or dynamic entry drops it, an ``ipsec-isakmp`` entry asks key management
     and drops it (the spec: packets are discarded while no SA exists);
  2. a protected datagram is routed again (toward its peer); an entry is not applied twice to
     the same datagram, so traffic between the peers themselves is protected once;
  3. ``ip access-group ... out`` on the datagram as sent (after protection);
  4. fragmentation to the interface MTU (a datagram with DF that does not fit is dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from host.acl import Packet
from host.forwarding import acl_view, decrement_ttl, echo_reply
from host.ipsec import ah, esp, ipv4
from host.ipsec.burst import Step, run_burst
from host.ipsec.ipv4 import PacketError, Reassembler
from host.ipsec.sa import Drop, DropReason, Protocol, SecurityAssociation
from host.ipsec.sadb import SABundle, SADatabase
from host.policy import PolicyMatch, classify_inbound, classify_outbound

if TYPE_CHECKING:
    from host.router import Router

__all__ = ["DataPath", "Reason"]

_IPSEC = (ipv4.PROTO_ESP, ipv4.PROTO_AH)


class Reason:
    """The drop reasons of the packet path (SA-level drops use :class:`DropReason` texts)."""

    BAD_HEADER = "bad ip header"
    NO_INTERFACE = "no such interface"
    INTERFACE_DOWN = "interface down"
    ACL_IN = "denied by inbound access list"
    ACL_OUT = "denied by outbound access list"
    NO_ROUTE = "no route"
    TTL = "ttl exceeded"
    UNPROTECTED = "unprotected packet matches crypto access list"
    CRYPTO_ACL_EMPTY = "crypto access list missing or empty"
    NO_SA_MANUAL = "no sa (ipsec-manual)"
    NO_SA_DYNAMIC = "no sa (dynamic crypto map)"
    NO_SA_REQUESTED = "no sa (requested from key management)"
    NO_CRYPTO_MAP = "ipsec packet on interface without crypto map"
    UNKNOWN_SPI = "unknown spi"
    NOT_SIBLINGS = "sas of the packet are not siblings"
    MISSING_LAYER = "packet lacks a protocol its sa bundle requires"
    NESTING = "nesting too deep"
    DF = "needs fragmentation and DF set"
    FRAGMENT = "bad fragment"
    INTERNAL = "internal error"


@dataclass
class _Pkt:
    """A datagram on its way through the router."""

    data: bytes
    iface: str | None
    """Receiving interface (None: originated by the router)."""
    origin: str = "rx"
    """``rx`` (as received), ``decap`` (inner datagram of an SA), ``local`` (our own)."""
    protected_by: list[SABundle] = field(default_factory=list)
    applied: frozenset = frozenset()
    """Crypto map entries already applied to this datagram on the way out."""
    depth: int = 0
    view: Packet | None = None
    """What ACLs see of it, when already known."""


@dataclass
class _Protect:
    pkt: _Pkt
    bundle: SABundle
    iface: str
    entry: tuple[str, int]


@dataclass
class _Unprotect:
    pkt: _Pkt
    db: SADatabase
    sas: list[SecurityAssociation] = field(default_factory=list)


class DataPath:
    """The packet path of one router (see the module docstring)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.reassembler = Reassembler(router.clock.now)
        self._cache: dict[tuple, PolicyMatch | None] = {}
        self._cache_of: tuple = ()

    def _classify(self, inbound: bool, map_name: str, view: Packet) -> PolicyMatch | None:
        """:func:`host.policy.classify_outbound` / ``classify_inbound``, remembered per packet
        view until the configuration changes (flows repeat: most packets ask the same)."""
        cfg = self.router.config
        stamp = (cfg.version, id(cfg.acls), id(cfg.crypto_maps), id(cfg.dynamic_maps))
        if stamp != self._cache_of or len(self._cache) > 8192:
            self._cache.clear()
            self._cache_of = stamp
        key = (inbound, map_name, view)
        try:
            return self._cache[key]
        except KeyError:
            pass
        m = classify_inbound(cfg, map_name, view) if inbound else classify_outbound(cfg, map_name, view)
        self._cache[key] = m
        return m

    # -- the driver loop -------------------------------------------------------------------------

    def run(self, received: Sequence[tuple[str, bytes]], local: Sequence[bytes]) -> list[tuple[str, bytes]]:
        """Process arrivals and locally originated datagrams; return what is sent."""
        out: list[tuple[str, bytes]] = []
        rx = [_Pkt(bytes(d), iface) for iface, d in received]
        tx = [_Pkt(bytes(d), None, "local") for d in local]
        self.router.counters["received"] += len(rx)
        while rx or tx:
            protect: list[_Protect] = []
            unprotect: list[_Unprotect] = []
            for p in rx:
                self._guarded(self._receive, p, tx, unprotect)
            rx = []
            for p in tx:
                self._guarded(self._send, p, protect, out)
            tx = []
            if protect:
                tx.extend(self._protect(protect))
            if unprotect:
                rx.extend(self._unprotect(unprotect))
        return out

    def _guarded(self, stage, p: _Pkt, *queues) -> None:
        """Run one packet through a stage; a failure of ours drops the packet (counted as
        ``internal error`` with the exception in the detail) instead of stopping the router."""
        try:
            stage(p, *queues)
        except Exception as e:  # noqa: BLE001 - the last line of defence, reported as a drop
            direction = "in" if stage == self._receive else "out"
            self._drop(Reason.INTERNAL, p, direction, f"{type(e).__name__}: {e}")

    # -- receiving -------------------------------------------------------------------------------

    def _drop(self, reason: str, p: _Pkt, direction: str, detail: str = "", iface: str | None = None) -> None:
        self.router.drop(reason, iface if iface is not None else p.iface, direction, detail)

    def _receive(self, p: _Pkt, tx: list[_Pkt], unprotect: list[_Unprotect]) -> None:
        r = self.router
        cfg = r.config
        try:
            hdr, payload = ipv4.parse(p.data)
        except PacketError as e:
            self._drop(Reason.BAD_HEADER, p, "in", str(e))
            return
        intf = cfg.interfaces.get(p.iface) if p.iface is not None else None
        if p.origin == "rx":
            if intf is None:
                self._drop(Reason.NO_INTERFACE, p, "in")
                return
            if intf.shutdown:
                self._drop(Reason.INTERFACE_DOWN, p, "in")
                return
            if intf.access_group_in is not None:
                acl = cfg.acls.get(intf.access_group_in)
                # IOS: an access group naming a list that does not exist filters nothing.
                if acl is not None and not acl.permits(acl_view(hdr, payload)):
                    self._drop(Reason.ACL_IN, p, "in", intf.access_group_in)
                    return
        ours = hdr.dst in r.addresses()
        if ours and ipv4.is_fragment(hdr):
            try:
                whole = self.reassembler.add(p.data)
            except PacketError as e:
                self._drop(Reason.FRAGMENT, p, "in", str(e))
                return
            if whole is None:
                return
            p.data = whole
            hdr, payload = ipv4.parse(whole)
        if ours and hdr.proto in _IPSEC:
            if p.depth >= r.MAX_NESTING:
                self._drop(Reason.NESTING, p, "in")
                return
            db = r.database_for(p.iface) if p.iface is not None else None
            if db is None:
                self._drop(Reason.NO_CRYPTO_MAP, p, "in")
                return
            refused = self._ipsec_unprotected(p, hdr, payload, db, intf.crypto_map)
            if refused is not None:
                self._drop(refused[0], p, "in", f"crypto map {refused[1]}")
                return
            unprotect.append(_Unprotect(p, db))
            return
        view = acl_view(hdr, payload)
        if not p.protected_by and p.origin == "rx" and intf is not None and intf.crypto_map:
            m = self._classify(True, intf.crypto_map, view)
            if m is not None:
                reason = Reason.UNPROTECTED if m.action == "protect" else Reason.CRYPTO_ACL_EMPTY
                self._drop(reason, p, "in", f"crypto map {m.entry.map_name} {m.entry.seq}")
                return
            db = r.database_for(p.iface)
            temp = db.find_temporary(view, inbound=True) if db is not None else None
            if temp is not None:
                where = f"crypto map {temp.entry[0]} {temp.entry[1]} (dynamic {temp.dynamic[0]})"
                self._drop(Reason.UNPROTECTED, p, "in", where)
                return
        if ours:
            self._deliver(p, hdr, payload, tx)
            return
        data = decrement_ttl(p.data)
        if data is None:
            self._drop(Reason.TTL, p, "in")
            return
        r.counters["forwarded"] += 1
        tx.append(_Pkt(data, p.iface, "fwd", p.protected_by, frozenset(), p.depth, view))

    def _ipsec_unprotected(
        self, p: _Pkt, hdr: ipv4.IPv4Header, payload: bytes, db: SADatabase, map_name: str
    ) -> tuple[str, str] | None:
        """An ESP/AH datagram addressed to the router is itself traffic that a crypto map entry
        may claim (nesting: ESP from the inner peer must arrive under the outer peer's SAs).
        It passes when no entry claims it, when it arrived inside an SA of the claiming entry,
        or when its own SPI belongs to that entry (IPsec between the peers themselves, as in
        transport mode). Returns (drop reason, "map seq") when it is refused, else None."""
        m = self._classify(True, map_name, acl_view(hdr, payload))
        if m is None:
            return None
        key = (m.entry.map_name, m.entry.seq)
        where = f"{key[0]} {key[1]}"
        if m.action != "protect":
            return Reason.CRYPTO_ACL_EMPTY, where
        if any(b.entry == key for b in p.protected_by):
            return None
        off = 0 if hdr.proto == ipv4.PROTO_ESP else 4
        if len(payload) >= off + 4:
            sa = db.lookup_inbound(hdr.dst, hdr.proto, int.from_bytes(payload[off : off + 4], "big"))
            bundle = db.bundle_of(sa) if sa is not None else None
            if bundle is None or bundle.entry == key:
                return None  # an unknown SPI is dropped (and counted) as such later
        return Reason.UNPROTECTED, where

    def _deliver(self, p: _Pkt, hdr: ipv4.IPv4Header, payload: bytes, tx: list[_Pkt]) -> None:
        r = self.router
        r.counters["delivered"] += 1
        r.delivered.append(p.data)
        r.emit(
            "delivered",
            interface=p.iface,
            src=ipv4.addr_str(hdr.src),
            dst=ipv4.addr_str(hdr.dst),
            proto=hdr.proto,
            length=len(p.data),
            protected=bool(p.protected_by),
        )
        reply = echo_reply(hdr, payload, next(r.ident))
        if reply is not None:
            r.counters["echo_replies"] += 1
            tx.append(_Pkt(reply, None, "local"))
            return
        if hdr.proto == ipv4.PROTO_UDP and len(payload) >= 8 and hdr.frag_offset == 0:
            handler = r.udp_handlers.get(int.from_bytes(payload[2:4], "big"))
            if handler is not None:
                for answer in handler(p.data, p.iface) or ():
                    tx.append(_Pkt(bytes(answer), None, "local"))

    # -- sending ---------------------------------------------------------------------------------

    def _send(self, p: _Pkt, protect: list[_Protect], out: list[tuple[str, bytes]]) -> None:
        r = self.router
        cfg = r.config
        try:
            hdr, payload = ipv4.parse(p.data, verify_checksum=False)
        except PacketError as e:
            self._drop(Reason.BAD_HEADER, p, "out", str(e))
            return
        route = r.routes.lookup(hdr.dst)
        if route is None:
            self._drop(Reason.NO_ROUTE, p, "out", ipv4.addr_str(hdr.dst))
            return
        name = route.interface
        intf = cfg.interfaces[name]
        if intf.crypto_map:
            view = p.view if p.view is not None else acl_view(hdr, payload)
            m = self._classify(False, intf.crypto_map, view)
            key = (m.entry.map_name, m.entry.seq) if m is not None else None
            db = r.database_for(name)
            temp = db.find_temporary(view, inbound=False) if db is not None else None
            if (
                temp is not None
                and temp.entry not in p.applied
                and (m is None or m.entry.seq >= temp.entry[1])
            ):
                # the temporary entry of a dynamic map's SAs, in its parent entry's place
                if p.depth >= r.MAX_NESTING:
                    self._drop(Reason.NESTING, p, "out", "", name)
                    return
                protect.append(_Protect(p, temp, name, temp.entry))
                return
            if m is not None and key not in p.applied:
                if m.action != "protect":
                    self._drop(Reason.CRYPTO_ACL_EMPTY, p, "out", f"crypto map {key[0]} {key[1]}", name)
                    return
                bundle = db.find_outbound(key, view, m.identity) if db is not None else None
                if bundle is None:
                    self._no_sa(p, m, db, name)
                    return
                if p.depth >= r.MAX_NESTING:
                    self._drop(Reason.NESTING, p, "out", "", name)
                    return
                protect.append(_Protect(p, bundle, name, key))
                return
        self._emit(p.data, hdr, payload, name, out, p)

    def _no_sa(self, p: _Pkt, m, db: SADatabase | None, iface: str) -> None:
        r = self.router
        where = f"crypto map {m.entry.map_name} {m.entry.seq}"
        if db is not None:
            db.no_sa[m.identity] += 1
        if m.entry.manual:
            self._drop(Reason.NO_SA_MANUAL, p, "out", where, iface)
        elif m.dynamic is not None:
            self._drop(Reason.NO_SA_DYNAMIC, p, "out", where, iface)
        else:
            if db is not None and db.local is not None:
                r.request_sas("traffic", db, m.entry, m.identity)
            self._drop(Reason.NO_SA_REQUESTED, p, "out", where, iface)

    def _emit(
        self, data: bytes, hdr, payload: bytes, name: str, out: list[tuple[str, bytes]], p: _Pkt
    ) -> None:
        r = self.router
        intf = r.config.interfaces[name]
        if intf.shutdown:
            self._drop(Reason.INTERFACE_DOWN, p, "out", "", name)
            return
        if intf.access_group_out is not None:
            acl = r.config.acls.get(intf.access_group_out)
            if acl is not None and not acl.permits(acl_view(hdr, payload)):
                self._drop(Reason.ACL_OUT, p, "out", intf.access_group_out, name)
                return
        try:
            frags = ipv4.fragment(data, intf.mtu)
        except PacketError as e:
            self._drop(Reason.DF, p, "out", str(e), name)
            return
        r.counters["sent"] += len(frags)
        if len(frags) > 1:
            r.counters["fragmented"] += 1
        out.extend((name, f) for f in frags)

    # -- crypto ----------------------------------------------------------------------------------

    def _protect(self, items: list[_Protect]) -> list[_Pkt]:
        """Protect a burst: the first SA of every bundle as one engine burst, then the AH of
        bundles with ESP and AH as a second one."""
        data: list[bytes | Drop] = []
        for it in items:
            sa = it.bundle.outbound[0]
            if sa.protocol is Protocol.ESP:
                data.append(esp.prepare_outbound(sa, it.pkt.data))
            else:
                data.append(ah.prepare_outbound(sa, it.pkt.data))
        results = run_burst(data)
        second = [
            i
            for i, it in enumerate(items)
            if len(it.bundle.outbound) > 1 and not isinstance(results[i], Drop)
        ]
        if second:
            steps: list[Step | Drop] = [
                ah.prepare_outbound(items[i].bundle.outbound[1], results[i], False) for i in second
            ]
            for i, res in zip(second, run_burst(steps), strict=True):
                results[i] = res
        out: list[_Pkt] = []
        done: dict[int, list] = {}  # bundle ident -> [bundle, packets protected]
        for it, res in zip(items, results, strict=True):
            b = it.bundle
            tally = done.get(b.ident)
            if tally is None:
                tally = done[b.ident] = [b, 0]
            if isinstance(res, Drop):
                b.counters.send_errors += 1
                self._drop(res.reason.text, it.pkt, "out", res.detail, it.iface)
                continue
            tally[1] += 1
            out.append(_Pkt(res, None, "protected", [], it.pkt.applied | {it.entry}, it.pkt.depth + 1))
        for b, n in done.values():
            c = b.counters
            c.encaps += n
            if any(sa.protocol is Protocol.ESP for sa in b.outbound):
                c.encrypt += n
            if any(sa.icv_len for sa in b.outbound):
                c.digest += n
            self.router.counters["protected"] += n
            self.router.lifetimes.after_traffic(b)
        return out

    def _unprotect(self, items: list[_Unprotect]) -> list[_Pkt]:
        """Verify and decrypt a burst: the outer protocol of every packet as one engine burst,
        then the ESP behind AH as a second one; then the sibling and flow checks."""
        steps = [self._inbound_step(it) for it in items]
        results = run_burst(steps)
        again = [i for i, it in enumerate(items) if self._esp_behind_ah(it, results[i])]
        if again:
            steps2 = []
            for i in again:
                items[i].pkt.data = results[i]
                steps2.append(self._inbound_step(items[i]))
            for i, res in zip(again, run_burst(steps2), strict=True):
                results[i] = res
        out: list[_Pkt] = []
        touched: dict[int, SABundle] = {}
        for it, res in zip(items, results, strict=True):
            bundle = it.db.bundle_of(it.sas[0]) if it.sas else None
            if bundle is not None:
                touched[bundle.ident] = bundle
            if isinstance(res, Drop):
                if res.reason is DropReason.UNKNOWN_SPI:
                    it.db.unknown_spi += 1
                    self._drop(Reason.UNKNOWN_SPI, it.pkt, "in", res.detail)
                else:
                    if bundle is not None:
                        bundle.counters.recv_errors += 1
                    self._drop(res.reason.text, it.pkt, "in", res.detail)
                continue
            problem = self._check_inner(it, bundle, res)
            if problem is not None:
                continue
            c = bundle.counters
            c.decaps += 1
            if any(sa.protocol is Protocol.ESP for sa in it.sas):
                c.decrypt += 1
            if any(sa.icv_len for sa in it.sas):
                c.verify += 1
            self.router.counters["unprotected"] += 1
            it.db.heard(bundle)
            p = it.pkt
            out.append(_Pkt(res, p.iface, "decap", [*p.protected_by, bundle], frozenset(), p.depth + 1))
        for b in touched.values():
            self.router.lifetimes.after_traffic(b)
        return out

    @staticmethod
    def _esp_behind_ah(it: _Unprotect, result: bytes | Drop) -> bool:
        """Whether an AH layer just verified left the ESP of the same bundle behind it (AH
        over ESP, one header); an AH-only bundle's tunnel leaves an inner datagram instead,
        which is received again like any other."""
        if isinstance(result, Drop) or len(it.sas) != 1 or it.sas[0].protocol is not Protocol.AH:
            return False
        bundle = it.db.bundle_of(it.sas[0])
        has_esp = bundle is not None and any(sa.protocol is Protocol.ESP for sa in bundle.inbound)
        return has_esp and result[9] == ipv4.PROTO_ESP

    def _inbound_step(self, it: _Unprotect) -> Step | Drop:
        data = it.pkt.data
        try:
            hdr, payload = ipv4.parse(data)
        except PacketError as e:
            reason = DropReason.TRUNCATED if e.reason == "truncated" else DropReason.BAD_LENGTH
            return Drop(reason, None, str(e))
        off = 0 if hdr.proto == ipv4.PROTO_ESP else 4
        if len(payload) < off + 4:
            return Drop(DropReason.TRUNCATED, None, "no room for an SPI")
        spi = int.from_bytes(payload[off : off + 4], "big")
        sa = it.db.lookup_inbound(hdr.dst, hdr.proto, spi)
        if sa is None:
            return Drop(
                DropReason.UNKNOWN_SPI, None, f"{ipv4.addr_str(hdr.dst)} proto {hdr.proto} spi {spi:#x}"
            )
        if it.sas and it.db.bundle_of(sa) is not it.db.bundle_of(it.sas[0]):
            return sa.drop(DropReason.WRONG_SA, "ESP behind AH of another SA bundle")
        it.sas.append(sa)
        if sa.protocol is Protocol.ESP:
            return esp.prepare_inbound(sa, data)
        return ah.prepare_inbound(sa, data)

    def _check_inner(self, it: _Unprotect, bundle: SABundle | None, inner: bytes) -> str | None:
        """The sibling and flow checks on a decapsulated datagram; returns a reason if dropped."""
        last = it.sas[-1]
        if bundle is None:
            self._drop(Reason.UNKNOWN_SPI, it.pkt, "in", "SA vanished")
            return Reason.UNKNOWN_SPI
        if {id(s) for s in it.sas} != {id(s) for s in bundle.inbound}:
            bundle.counters.recv_errors += 1
            d = last.drop(DropReason.WRONG_SA, "protocols differ from the SA bundle's")
            self._drop(Reason.MISSING_LAYER, it.pkt, "in", d.detail)
            return Reason.MISSING_LAYER
        try:
            hdr, payload = ipv4.parse(inner)
        except PacketError as e:
            bundle.counters.recv_errors += 1
            d = last.drop(DropReason.BAD_INNER, str(e))
            self._drop(d.reason.text, it.pkt, "in", d.detail)
            return d.reason.text
        view: Packet = acl_view(hdr, payload)
        if not bundle.covers_inbound(view):
            bundle.counters.recv_errors += 1
            d = last.drop(
                DropReason.FLOW_MISMATCH,
                f"{ipv4.addr_str(hdr.src)} -> {ipv4.addr_str(hdr.dst)} proto {hdr.proto}",
            )
            self._drop(d.reason.text, it.pkt, "in", d.detail)
            return d.reason.text
        return None
