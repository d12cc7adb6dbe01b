"""Transform sets: ``crypto ipsec transform-set`` and the crypto transform configuration mode.

Rules (spec, ``crypto ipsec transform-set``, ``mode``, ``initialization-vector size``):

* one to three transforms, combined as Table 2 allows (:mod:`host.config.transforms`);
* giving transforms for an existing set replaces its transforms (its mode is kept);
* giving the name alone re-enters an existing set (to change its mode or IV size);
* ``mode tunnel|transport`` (default tunnel); ``initialization-vector size 4|8`` (default 8) only
  when the set includes ``esp-rfc1829``;
* a set used by an ``ipsec-manual`` entry cannot change into one its session keys do not fit.
"""

from __future__ import annotations

from typing import Any

from host.cli.cursor import WORD, Cursor
from host.cli.tree import Node
from host.config.errors import ConfigError
from host.config.model import TransformSet
from host.config.session_keys import keys_problem
from host.config.transforms import TRANSFORMS, canonical_order, check_combination

__all__ = ["register", "register_mode"]


def _transform_set(cur: Cursor, s: Any) -> None:
    name = cur.arg(WORD.described("Transform set tag"))
    cfg = s.config
    if cur.negated:
        cur.end()
        if name not in cfg.transform_sets:
            raise ConfigError(f"transform set {name} does not exist")
        users = [
            f"crypto map {e.map_name} {e.seq}"
            for m in cfg.crypto_maps.values()
            for e in m.ordered()
            if name in e.transform_sets
        ]
        users += [
            f"crypto dynamic-map {e.map_name} {e.seq}"
            for m in cfg.dynamic_maps.values()
            for e in m.ordered()
            if name in e.transform_sets
        ]
        if users:
            raise ConfigError(f"transform set {name} is in use by {', '.join(users)}; remove it there first")
        del cfg.transform_sets[name]
        cfg.changed("transform-set", name)
        return
    names: list[str] = []
    while len(names) < 3:
        at = cur.pos
        word = cur.maybe_keyword({n: t.help for n, t in TRANSFORMS.items()})
        if word is None:
            break
        names.append(word)
        problem = check_combination(names, complete=False)
        if problem is not None and problem[0] == len(names) - 1:
            raise cur.invalid(problem[1], at=at)
    if not names and cur.peek() is not None:
        raise cur.invalid()
    cur.end()
    problem = check_combination(names)
    if problem is not None:
        raise cur.invalid(problem[1], at=cur.pos - len(names) + problem[0])
    existing = cfg.transform_sets.get(name)
    if not names:
        if existing is None:
            raise ConfigError(f"transform set {name} does not exist: give its transforms")
        s.enter("cfg-crypto-trans", name)
        return
    transforms = canonical_order(names)
    new = TransformSet(name, transforms)
    if existing is not None:
        new.mode = existing.mode
        if "esp-rfc1829" in transforms:
            new.iv_size = existing.iv_size
        for cmap in cfg.crypto_maps.values():
            for entry in cmap.ordered():
                if entry.manual and entry.transform_sets == [name]:
                    why = keys_problem(new, entry.session_keys)
                    if why:
                        raise ConfigError(
                            f"transform set {name} is used by ipsec-manual crypto map {entry.map_name} "
                            f"{entry.seq}, whose session keys do not fit it: {why}"
                        )
    cfg.transform_sets[name] = new
    cfg.changed("transform-set", name)
    s.enter("cfg-crypto-trans", name)


def _current(s: Any) -> TransformSet:
    ts = s.config.transform_sets.get(s.key)
    if ts is None:
        raise ConfigError(f"transform set {s.key} no longer exists")
    return ts


def _mode(cur: Cursor, s: Any) -> None:
    value = "tunnel"
    if not cur.negated:
        value = (
            cur.maybe_keyword(
                {
                    "tunnel": "tunnel (datagram encapsulation) mode",
                    "transport": "transport (payload encapsulation) mode",
                }
            )
            or "tunnel"
        )
    cur.end()
    _current(s).mode = value
    s.config.changed("transform-set", s.key)


def _iv_size(cur: Cursor, s: Any) -> None:
    size = 8
    if not cur.negated:
        word = cur.maybe_keyword({"4": "4 byte IV", "8": "8 byte IV (default)"})
        size = int(word) if word else 8
    cur.end()
    ts = _current(s)
    if "esp-rfc1829" not in ts.transforms:
        raise ConfigError(
            f"initialization-vector size applies only to transform sets with esp-rfc1829; "
            f"{ts.name} has {' '.join(ts.transforms)}"
        )
    ts.iv_size = size
    s.config.changed("transform-set", s.key)


def register(root: Node) -> None:
    """Add ``crypto ipsec transform-set`` to the global configuration tree."""
    root.register(
        "crypto ipsec transform-set", _transform_set, "Define transform and settings", negatable=True
    )


def register_mode(root: Node) -> None:
    """Add the crypto transform configuration mode's commands to ``root``."""
    root.register("mode", _mode, "encapsulation mode (transport/tunnel)", negatable=True)
    root.describe("initialization-vector", "Initialization vector settings (esp-rfc1829 only)")
    root.register("initialization-vector size", _iv_size, "IV length", negatable=True)
