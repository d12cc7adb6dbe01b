"""``show running-config``: the configuration as commands that rebuild it.

No sample in the spec; IOS 11.3's layout is followed: ``Building configuration...``, a blank line,
``Current configuration:``, sections separated by ``!``, sub-mode commands indented by one space,
``end`` last. Sections come in an order that loads back cleanly (transform sets before the crypto
maps that name them, dynamic maps before the crypto maps that refer to them). Defaults are not
printed (lifetimes 3600 s / 4608000 KB, tunnel mode, IV size 8, MTU 1500).
"""

from __future__ import annotations

from host.config.model import (
    DEFAULT_LIFETIME_KILOBYTES,
    DEFAULT_LIFETIME_SECONDS,
    CryptoMapEntry,
    DynamicMapEntry,
    RouterConfig,
)
from host.show.access_lists import sorted_acls

__all__ = ["show_running_config", "config_lines"]


def _policy_lines(e: CryptoMapEntry | DynamicMapEntry) -> list[str]:
    lines = [f" set peer {p}" for p in e.peers]
    if e.lifetime.seconds is not None:
        lines.append(f" set security-association lifetime seconds {e.lifetime.seconds}")
    if e.lifetime.kilobytes is not None:
        lines.append(f" set security-association lifetime kilobytes {e.lifetime.kilobytes}")
    if isinstance(e, CryptoMapEntry):
        for (direction, protocol), key in sorted(e.session_keys.items()):
            if protocol == "ah":
                lines.append(f" set session-key {direction} ah {key.spi} {key.key.hex()}")
            else:
                auth = f" authenticator {key.authenticator.hex()}" if key.authenticator else ""
                lines.append(f" set session-key {direction} esp {key.spi} cipher {key.cipher.hex()}{auth}")
    if e.transform_sets:
        lines.append(" set transform-set " + " ".join(e.transform_sets))
    if e.pfs:
        lines.append(f" set pfs {e.pfs}")
    if isinstance(e, CryptoMapEntry) and e.per_host:
        lines.append(" set security-association level per-host")
    if e.acl is not None:
        lines.append(f" match address {e.acl}")
    return lines


def config_lines(config: RouterConfig) -> list[str]:
    """The configuration as command lines (with ``!`` separators), without header or ``end``."""
    out = ["!", f"hostname {config.hostname}", "!"]
    if config.hosts:
        out += [f"ip host {name} {addr}" for name, addr in config.hosts.items()] + ["!"]
    life = config.sa_lifetime
    section = []
    if life.seconds != DEFAULT_LIFETIME_SECONDS:
        section.append(f"crypto ipsec security-association lifetime seconds {life.seconds}")
    if life.kilobytes != DEFAULT_LIFETIME_KILOBYTES:
        section.append(f"crypto ipsec security-association lifetime kilobytes {life.kilobytes}")
    for ts in config.transform_sets.values():
        section.append(f"crypto ipsec transform-set {ts.name} {' '.join(ts.transforms)}")
        if ts.mode != "tunnel":
            section.append(f" mode {ts.mode}")
        if "esp-rfc1829" in ts.transforms and ts.iv_size != 8:
            section.append(f" initialization-vector size {ts.iv_size}")
    if section:
        out += section + ["!"]
    for dmap in config.dynamic_maps.values():
        for e in dmap.ordered():
            out.append(f"crypto dynamic-map {dmap.name} {e.seq}")
            out += _policy_lines(e)
        out.append("!")
    for cmap in config.crypto_maps.values():
        if cmap.local_address:
            out.append(f"crypto map {cmap.name} local-address {cmap.local_address}")
        for e in cmap.ordered():
            if e.dynamic is not None:
                out.append(f"crypto map {cmap.name} {e.seq} ipsec-isakmp dynamic {e.dynamic}")
                continue
            out.append(f"crypto map {cmap.name} {e.seq} {e.kind.value}")
            out += _policy_lines(e)
        out.append("!")
    for intf in config.interfaces.values():
        out.append(f"interface {intf.name}")
        if intf.address is not None:
            out.append(f" ip address {intf.address} {intf.mask}")
        else:
            out.append(" no ip address")
        if intf.access_group_in:
            out.append(f" ip access-group {intf.access_group_in} in")
        if intf.access_group_out:
            out.append(f" ip access-group {intf.access_group_out} out")
        if intf.mtu != 1500:
            out.append(f" mtu {intf.mtu}")
        if intf.shutdown:
            out.append(" shutdown")
        if intf.crypto_map:
            out.append(f" crypto map {intf.crypto_map}")
        out.append("!")
    for r in config.routes:
        via = str(r.next_hop) if r.next_hop is not None else r.interface
        out.append(f"ip route {r.prefix} {r.mask} {via}" + (f" {r.distance}" if r.distance != 1 else ""))
    if config.routes:
        out.append("!")
    for acl in sorted_acls(config):
        if acl.numbered:
            out += [f"access-list {acl.name} {entry.text()}" for entry in acl.entries]
        else:
            out.append(f"ip access-list extended {acl.name}")
            out += [f" {entry.text()}" for entry in acl.entries]
        out.append("!")
    return out


def show_running_config(config: RouterConfig) -> str:
    body = "\n".join(config_lines(config))
    return f"Building configuration...\n\nCurrent configuration:\n{body}\nend\n"
