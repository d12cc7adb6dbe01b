"""Manual session keys: ``set session-key {inbound|outbound} {ah|esp} SPI ...`` and their rules.

From the spec (``set session-key``): only for ``ipsec-manual`` entries; the SPI is 256 to
4294967295; a DES key is at least 8 bytes, an MD5 key at least 16, an SHA key 20 (at least);
longer keys are truncated (when used; the entry keeps and shows what was typed); the
``authenticator`` key is required when the transform set has an ESP authentication transform.
The key lengths are checked against the entry's transform set when the entry has one, and again
when a transform set is given to an entry that already has keys, so a manual entry never holds
keys that do not fit its transform set.
"""

from __future__ import annotations

from typing import Any

from host.cli.cursor import HEX, Arg, Cursor
from host.config.errors import ConfigError
from host.config.model import SPI_RANGE, SessionKey, TransformSet
from host.config.transforms import KEY_BYTES, TRANSFORMS

__all__ = ["keys_problem", "set_session_key", "SPI", "spi_clash"]


def _spi(text: str) -> int:
    if not text.isdigit():
        raise ValueError("")
    value = int(text)
    if not SPI_RANGE[0] <= value <= SPI_RANGE[1]:
        raise ValueError(f"the SPI must be in the range {SPI_RANGE[0]}-{SPI_RANGE[1]}")
    return value


SPI = Arg(f"<{SPI_RANGE[0]}-{SPI_RANGE[1]}>", "Security Parameter Index", _spi)


def _short(data: bytes, transform: str, what: str) -> str | None:
    need = KEY_BYTES[TRANSFORMS[transform].algorithm]
    if data and len(data) < need:
        exact = "" if transform.endswith("sha-hmac") else "at least "
        return f"the {what} key for {transform} must be {exact}{need} bytes, got {len(data)}"
    return None


def keys_problem(ts: TransformSet, keys: dict[tuple[str, str], SessionKey]) -> str | None:
    """Why ``keys`` do not fit transform set ``ts`` (None if they do)."""
    for (direction, protocol), key in sorted(keys.items()):
        if protocol == "ah" and ts.ah:
            why = _short(key.key, ts.ah, f"{direction} ah")
            if why:
                return why
        if protocol == "esp" and ts.esp_encryption:
            why = _short(key.cipher, ts.esp_encryption, f"{direction} esp cipher")
            if why:
                return why
        if protocol == "esp" and ts.esp_authentication:
            if not key.authenticator:
                return (
                    f"{ts.name} includes {ts.esp_authentication}: "
                    f"the {direction} esp key needs an authenticator"
                )
            why = _short(key.authenticator, ts.esp_authentication, f"{direction} esp authenticator")
            if why:
                return why
    return None


def _local_addresses(config: Any, map_name: str) -> set:
    cmap = config.crypto_maps.get(map_name)
    if cmap is not None and cmap.local_address:
        intf = config.interfaces.get(cmap.local_address)
        return {intf.address} if intf is not None and intf.address is not None else set()
    return {
        i.address for i in config.interfaces.values() if i.crypto_map == map_name and i.address is not None
    }


def spi_clash(config: Any, entry: Any, keys: dict | None = None, peers: list | None = None) -> str | None:
    """Why ``entry`` (with ``keys``/``peers`` instead of its own, if given) would reuse an SPI.

    The spec's rule: "for a given destination address/protocol combination, unique SPI values must
    be used. The destination address is that of the router if inbound, the peer if outbound."
    Inbound SPIs clash between manual entries of one crypto map set, or of sets whose local
    addresses are known to overlap; outbound SPIs clash between entries with the same first peer.
    (Clashes that only appear when interfaces change are left to the SA database.)"""
    keys = entry.session_keys if keys is None else keys
    peers = entry.peers if peers is None else peers
    mine = _local_addresses(config, entry.map_name)
    for cmap in config.crypto_maps.values():
        for other in cmap.ordered():
            if other is entry or not other.manual:
                continue
            for (direction, protocol), key in keys.items():
                theirs = other.session_keys.get((direction, protocol))
                if theirs is None or theirs.spi != key.spi:
                    continue
                where = f"crypto map {other.map_name} {other.seq}"
                if direction == "inbound" and (
                    other.map_name == entry.map_name or mine & _local_addresses(config, other.map_name)
                ):
                    return f"inbound {protocol} SPI {key.spi} is already used by {where} (same local address)"
                if direction == "outbound" and peers and other.peers and peers[0] == other.peers[0]:
                    return f"outbound {protocol} SPI {key.spi} to {peers[0]} is already used by {where}"
    return None


def set_session_key(cur: Cursor, s: Any, entry: Any) -> None:
    """Parse and apply ``set session-key ...`` for the crypto map entry ``entry``."""
    direction = cur.keyword({"inbound": "Inbound session key", "outbound": "Outbound session key"})
    protocol = cur.keyword({"ah": "Specify an AH session key", "esp": "Specify an ESP session key"})
    if cur.negated:
        cur.end()
        key = None
    elif protocol == "ah":
        spi = cur.arg(SPI)
        data = cur.arg(HEX.described("The session key (hex)"))
        cur.end()
        key = SessionKey(spi, key=data)
    else:
        spi = cur.arg(SPI)
        cur.keyword({"cipher": "Specify the ESP cipher key"})
        cipher = cur.arg(HEX.described("The cipher key (hex)"))
        auth = b""
        if cur.maybe_keyword({"authenticator": "Specify the ESP authenticator key"}):
            auth = cur.arg(HEX.described("The authenticator key (hex)"))
        cur.end()
        key = SessionKey(spi, cipher=cipher, authenticator=auth)
    if getattr(entry, "kind", None) is None or not entry.manual:
        raise ConfigError("set session-key is only available for ipsec-manual crypto map entries")
    if key is None:
        entry.session_keys.pop((direction, protocol), None)
        return
    keys = {**entry.session_keys, (direction, protocol): key}
    ts = s.config.transform_sets.get(entry.transform_sets[0]) if entry.transform_sets else None
    if ts is not None:
        why = keys_problem(ts, {(direction, protocol): key})
        if why:
            raise ConfigError(why)
    why = spi_clash(s.config, entry, keys={(direction, protocol): key})
    if why:
        raise ConfigError(why)
    entry.session_keys = keys
