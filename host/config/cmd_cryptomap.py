"""Crypto maps: the global ``crypto map`` / ``crypto dynamic-map`` commands and the crypto map
configuration mode (``Router(config-crypto-map)#``), shared by static and dynamic entries.

The spec's rules enforced here:

* ``crypto map NAME SEQ cisco`` (and a new entry without a type, whose default is ``cisco``) is
  refused: this router runs IPsec only, Cisco Encryption Technology is not supported;
* an entry's type (``ipsec-manual``, ``ipsec-isakmp``, ``ipsec-isakmp dynamic DYN``) cannot change
  once created; the entry is kept as it was;
* an entry that refers to a dynamic map set has no sub-mode (no crypto map commands apply);
* ``set peer``: one peer for ``ipsec-manual`` (delete it before giving another), several otherwise;
* ``set transform-set``: existing sets only; at most 1 for manual, 6 for isakmp and dynamic;
* ``set session-key``: manual only, SPI range, key lengths, unique SPIs per destination and
  protocol (:mod:`host.config.session_keys`);
* ``set pfs [group1|group2]``: isakmp and dynamic only, ``group1`` when no group is given;
* ``set security-association level per-host``: isakmp only (not dynamic, not manual);
* ``set security-association lifetime``: isakmp and dynamic only;
* ``match address``: an extended ACL (100-199 or a name); different entries of one crypto map set
  must use different access lists.

Choice where the spec is silent: ``crypto map NAME SEQ ipsec-isakmp dynamic DYN`` may name a
dynamic map set not yet defined (the spec's own examples define it afterwards).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from host.cli.cursor import WORD, Arg, Cursor, number
from host.cli.tree import Node
from host.config.acl_syntax import acl_name_arg
from host.config.cmd_global import take_interface
from host.config.errors import ConfigError
from host.config.model import (
    KILOBYTES_RANGE,
    MAX_TRANSFORM_SETS,
    SECONDS_RANGE,
    CryptoMapEntry,
    CryptoMapSet,
    DynamicMapEntry,
    DynamicMapSet,
    Lifetime,
    MapKind,
)
from host.config.session_keys import keys_problem, set_session_key, spi_clash

__all__ = ["register", "register_mode"]

SEQ = number(1, 65535, "Sequence to insert into crypto map entry")
ACL_REF = Arg("WORD", "IP access-list number (100-199) or name", acl_name_arg)
CET_REFUSAL = (
    "CET (Cisco Encryption Technology, crypto map type 'cisco') is not supported by this router; "
    "create the entry as ipsec-isakmp or ipsec-manual"
)


def _peer(text: str) -> str:
    if text.replace(".", "").isdigit():
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise ValueError("not an IP address") from None
    if not text[0].isalpha():
        raise ValueError("")
    return text.lower()


PEER = Arg("WORD", "IP address or peer host name", _peer)


# -- global commands ------------------------------------------------------------------------
def _crypto_map(cur: Cursor, s: Any) -> None:
    name = cur.arg(WORD.described("Crypto map tag"))
    cfg = s.config
    if cur.maybe_keyword({"local-address": "Interface to use for local address for this crypto map"}):
        intf = None if cur.negated else take_interface(cur, "Interface")
        cur.end()
        cmap = cfg.crypto_maps.get(name)
        if cur.negated:
            if cmap is not None:
                cmap.local_address = None
        else:
            if cmap is None:
                cmap = cfg.crypto_maps[name] = CryptoMapSet(name)
            cmap.local_address = intf
        cfg.changed("crypto-map", (name, None))
        return
    if cur.negated:
        seq = cur.maybe_arg(SEQ)
        cur.end()
        cmap = cfg.crypto_maps.get(name)
        if cmap is None or (seq is not None and seq not in cmap.entries):
            raise ConfigError(f"crypto map {name}{'' if seq is None else f' {seq}'} does not exist")
        if seq is None:
            del cfg.crypto_maps[name]
        else:
            del cmap.entries[seq]
        cfg.changed("crypto-map", (name, seq))
        return
    seq = cur.arg(SEQ)
    kind_word = cur.maybe_keyword(
        {
            "ipsec-isakmp": "IPSEC w/ISAKMP",
            "ipsec-manual": "IPSEC w/manual keying",
            "cisco": "Cisco Encryption Technology (not supported)",
        }
    )
    dynamic = None
    if kind_word == "ipsec-isakmp" and cur.maybe_keyword({"dynamic": "Enable dynamic crypto maps"}):
        dynamic = cur.arg(WORD.described("Name of dynamic crypto map template"))
    cur.end()
    if kind_word == "cisco":
        raise ConfigError(CET_REFUSAL)
    cmap = cfg.crypto_maps.get(name)
    entry = cmap.entries.get(seq) if cmap else None
    if entry is None:
        if kind_word is None:
            raise ConfigError(
                f"crypto map {name} {seq} does not exist, and without a type it would be "
                f"a 'cisco' entry: {CET_REFUSAL}"
            )
        if cmap is None:
            cmap = cfg.crypto_maps[name] = CryptoMapSet(name)
        entry = CryptoMapEntry(map_name=name, seq=seq, kind=MapKind(kind_word), dynamic=dynamic)
        cmap.entries[seq] = entry
        cfg.changed("crypto-map", (name, seq))
    elif kind_word is not None and (entry.kind.value, entry.dynamic) != (kind_word, dynamic):
        have = entry.kind.value + (f" dynamic {entry.dynamic}" if entry.dynamic else "")
        raise ConfigError(
            f"crypto map {name} {seq} is {have}; the type of an existing crypto map entry cannot be "
            f"changed (delete it with 'no crypto map {name} {seq}' and enter it again)"
        )
    if entry.dynamic is None:
        s.enter("config-crypto-map", ("static", name, seq))


def _dynamic_map(cur: Cursor, s: Any) -> None:
    name = cur.arg(WORD.described("Dynamic crypto map template tag"))
    cfg = s.config
    if cur.negated:
        seq = cur.maybe_arg(SEQ)
        cur.end()
        dmap = cfg.dynamic_maps.get(name)
        if dmap is None or (seq is not None and seq not in dmap.entries):
            raise ConfigError(f"crypto dynamic-map {name}{'' if seq is None else f' {seq}'} does not exist")
        if seq is None:
            del cfg.dynamic_maps[name]
        else:
            del dmap.entries[seq]
        cfg.changed("dynamic-map", (name, seq))
        return
    seq = cur.arg(SEQ)
    cur.end()
    dmap = cfg.dynamic_maps.setdefault(name, DynamicMapSet(name))
    if seq not in dmap.entries:
        dmap.entries[seq] = DynamicMapEntry(map_name=name, seq=seq)
        cfg.changed("dynamic-map", (name, seq))
    s.enter("config-crypto-map", ("dynamic", name, seq))


# -- crypto map configuration mode ----------------------------------------------------------
def _entry(s: Any) -> CryptoMapEntry | DynamicMapEntry:
    kind, name, seq = s.key
    sets = s.config.crypto_maps if kind == "static" else s.config.dynamic_maps
    entry = sets[name].entries.get(seq) if name in sets else None
    if entry is None:
        raise ConfigError(f"crypto map {name} {seq} no longer exists")
    return entry


def _kind(entry: CryptoMapEntry | DynamicMapEntry) -> str:
    if isinstance(entry, DynamicMapEntry):
        return "dynamic"
    return entry.kind.value


def _only(entry: CryptoMapEntry | DynamicMapEntry, command: str, allowed: tuple[str, ...]) -> None:
    if _kind(entry) not in allowed:
        words = {"ipsec-isakmp": "ipsec-isakmp", "dynamic": "dynamic", "ipsec-manual": "ipsec-manual"}
        listed = " and ".join(words[a] for a in allowed)
        raise ConfigError(f"{command} is only available for {listed} crypto map entries")


def _match_address(cur: Cursor, s: Any) -> None:
    acl = cur.maybe_arg(ACL_REF) if cur.negated else cur.arg(ACL_REF)
    cur.end()
    entry = _entry(s)
    if cur.negated:
        entry.acl = None
    else:
        kind, name, seq = s.key
        sets = s.config.crypto_maps if kind == "static" else s.config.dynamic_maps
        for other in sets[name].ordered():
            if other.seq != seq and other.acl == acl:
                raise ConfigError(
                    f"access list {acl} is already used by entry {other.seq} of crypto map {name}; "
                    f"different entries of one crypto map set must use different access lists"
                )
        entry.acl = acl
    _changed(s)


def _set_peer(cur: Cursor, s: Any) -> None:
    peer = cur.arg(PEER)
    cur.end()
    entry = _entry(s)
    if cur.negated:
        if peer in entry.peers:
            entry.peers.remove(peer)
    elif peer not in entry.peers:
        if _kind(entry) == "ipsec-manual" and entry.peers:
            raise ConfigError(
                f"an ipsec-manual crypto map entry takes only one peer; remove {entry.peers[0]} "
                f"with 'no set peer {entry.peers[0]}' first"
            )
        if _kind(entry) == "ipsec-manual":
            why = spi_clash(s.config, entry, peers=[peer])
            if why:
                raise ConfigError(why)
        entry.peers.append(peer)
    _changed(s)


def _set_transform_set(cur: Cursor, s: Any) -> None:
    entry = _entry(s)
    if cur.negated:
        cur.end()
        entry.transform_sets = []
        _changed(s)
        return
    kind = _kind(entry)
    limit = MAX_TRANSFORM_SETS[kind]
    names = [cur.arg(WORD.described("Proposal tag"))]
    while len(names) < limit:
        more = cur.maybe_arg(WORD.described("Proposal tag"))
        if more is None:
            break
        names.append(more)
    if cur.peek() is not None and not cur.at_help:
        raise cur.invalid(
            f"an {kind} crypto map entry takes at most {limit} transform set{'s' if limit > 1 else ''}"
        )
    cur.end()
    for n in names:
        if n not in s.config.transform_sets:
            raise ConfigError(
                f"transform set {n} does not exist; define it with 'crypto ipsec transform-set'"
            )
    if len(set(names)) != len(names):
        raise ConfigError("a transform set is listed twice")
    if kind == "ipsec-manual":
        why = keys_problem(s.config.transform_sets[names[0]], entry.session_keys)
        if why:
            raise ConfigError(f"the session keys of this entry do not fit transform set {names[0]}: {why}")
    entry.transform_sets = names
    _changed(s)


def _set_session_key(cur: Cursor, s: Any) -> None:
    set_session_key(cur, s, _entry(s))
    _changed(s)


def _set_pfs(cur: Cursor, s: Any) -> None:
    group = None
    if not cur.negated:
        group = cur.maybe_keyword({"group1": "D-H Group1", "group2": "D-H Group2"}) or "group1"
    cur.end()
    entry = _entry(s)
    _only(entry, "set pfs", ("ipsec-isakmp", "dynamic"))
    entry.pfs = group
    _changed(s)


def _per_host(cur: Cursor, s: Any) -> None:
    cur.end()
    entry = _entry(s)
    _only(entry, "set security-association level per-host", ("ipsec-isakmp",))
    entry.per_host = not cur.negated
    _changed(s)


def _lifetime(cur: Cursor, s: Any) -> None:
    which = cur.keyword(
        {
            "seconds": "Time-based key duration in seconds",
            "kilobytes": "Volume-based key duration",
        }
    )
    value = None
    if not cur.negated:
        low, high = SECONDS_RANGE if which == "seconds" else KILOBYTES_RANGE
        value = cur.arg(number(low, high, "Security association duration"))
    cur.end()
    entry = _entry(s)
    _only(entry, "set security-association lifetime", ("ipsec-isakmp", "dynamic"))
    old = entry.lifetime
    entry.lifetime = Lifetime(value, old.kilobytes) if which == "seconds" else Lifetime(old.seconds, value)
    _changed(s)


def _changed(s: Any) -> None:
    kind, name, seq = s.key
    s.config.changed("crypto-map" if kind == "static" else "dynamic-map", (name, seq))


def register(root: Node) -> None:
    """Add ``crypto map`` and ``crypto dynamic-map`` to the global configuration tree."""
    root.register("crypto map", _crypto_map, "Enter a crypto map", negatable=True)
    root.register("crypto dynamic-map", _dynamic_map, "Enter a dynamic crypto map template", negatable=True)


def register_mode(root: Node) -> None:
    """Add the crypto map configuration mode's commands to ``root``."""
    root.describe("match", "Match values.")
    root.register("match address", _match_address, "Match address of packets to encrypt.", negatable=True)
    root.describe("set", "Set values for encryption/decryption")
    root.register("set peer", _set_peer, "Allowed Encryption/Decryption peer.", negatable=True)
    root.register(
        "set transform-set",
        _set_transform_set,
        "Specify list of transform sets in priority order",
        negatable=True,
    )
    root.register("set session-key", _set_session_key, "Specify a session key", negatable=True)
    root.register("set pfs", _set_pfs, "Specify pfs settings", negatable=True)
    root.describe("set security-association", "Security association parameters")
    root.describe("set security-association level", "Specify a security association granularity level")
    root.register("set security-association level per-host", _per_host, "Host granularity", negatable=True)
    root.register(
        "set security-association lifetime", _lifetime, "security association lifetime", negatable=True
    )
