"""``show crypto map [interface IF | tag NAME]``.

Two layouts, each exactly as the spec's two sample displays have them:

* ``ipsec-isakmp`` entries: fields indented by two spaces, the ACL's ``access-list`` line by four
  and its ``source``/``dest`` lines by six, then ``Current peer``, ``Security-association
  lifetime``, ``PFS (Y/N)`` and ``Transform sets``;
* ``ipsec-manual`` entries: fields flush left, the ACL lines at four and eight, no lifetime or PFS,
  then the four session-key blocks with the sample's punctuation (``Inbound esp spi: 0,`` but
  ``Outbound esp spi: 0``; ``auth_key`` inbound, ``auth key`` outbound). An unset key shows SPI 0
  and empty keys; keys show as typed.

A crypto map set with a ``local-address`` starts with ``Crypto Map: "NAME" idb: IF local address:
A`` and a blank line (as in the sample, whose configuration has that command). Choices where the
spec has no sample: one ``Peer = A`` line per peer; ``Current peer`` is the first peer (0.0.0.0
without one); ``DH group: groupN`` follows ``PFS (Y/N): Y``; an entry that refers to a dynamic map
shows ``Dynamic map template tag: NAME``; entries are separated by a blank line.
"""

from __future__ import annotations

from host.config.model import CryptoMapEntry, CryptoMapSet, RouterConfig
from host.show.common import acl_block, lifetime_text

__all__ = ["show_crypto_map", "format_isakmp_entry", "format_manual_entry"]


def format_isakmp_entry(config: RouterConfig, e: CryptoMapEntry) -> list[str]:
    lines = [f'Crypto Map "{e.map_name}" {e.seq} ipsec-isakmp']
    if e.dynamic is not None:
        return lines + [f"  Dynamic map template tag: {e.dynamic}"]
    lines += [f"  Peer = {p}" for p in e.peers]
    lines += acl_block(config, e.acl, (2, 4, 6))
    lines.append(f"  Current peer: {e.peers[0] if e.peers else '0.0.0.0'}")
    seconds, kilobytes = e.effective_lifetime(config)
    lines.append(f"  Security-association lifetime: {lifetime_text(seconds, kilobytes)}")
    lines.append(f"  PFS (Y/N): {'Y' if e.pfs else 'N'}")
    if e.pfs:
        lines.append(f"  DH group:  {e.pfs}")
    lines.append("  Transform sets={ " + "".join(f"{t}, " for t in e.transform_sets) + "}")
    return lines


def format_manual_entry(config: RouterConfig, e: CryptoMapEntry) -> list[str]:
    lines = [f'Crypto Map "{e.map_name}" {e.seq} ipsec-manual']
    lines += [f"Peer = {p}" for p in e.peers]
    lines += acl_block(config, e.acl, (0, 4, 8))
    lines.append(f"Current peer: {e.peers[0] if e.peers else '0.0.0.0'}")
    lines.append("Transform sets={ " + "".join(f"{t}, " for t in e.transform_sets) + "}")
    for direction, comma, auth in (("inbound", ",", "auth_key"), ("outbound", "", "auth key")):
        esp = e.session_keys.get((direction, "esp"))
        ah = e.session_keys.get((direction, "ah"))
        title = direction.capitalize()
        lines.append(f"{title} esp spi: {esp.spi if esp else 0}{comma}")
        lines.append(f"    cipher key: {esp.cipher.hex() if esp else ''},")
        lines.append(f"    {auth}: {esp.authenticator.hex() if esp else ''},")
        lines.append(f"{title} ah spi: {ah.spi if ah else 0},")
        lines.append(f"    key: {ah.key.hex() if ah else ''},")
    return lines


def _format_set(config: RouterConfig, cmap: CryptoMapSet) -> str:
    blocks: list[str] = []
    if cmap.local_address:
        intf = config.interfaces.get(cmap.local_address)
        addr = intf.address if intf and intf.address else "0.0.0.0"
        blocks.append(f'Crypto Map: "{cmap.name}" idb: {cmap.local_address} local address: {addr}\n')
    for e in cmap.ordered():
        lines = format_manual_entry(config, e) if e.manual else format_isakmp_entry(config, e)
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def show_crypto_map(config: RouterConfig, *, interface: str | None = None, tag: str | None = None) -> str:
    """All crypto map sets, or the one applied to ``interface``, or the one named ``tag``."""
    if interface is not None:
        intf = config.interfaces.get(interface)
        names = [intf.crypto_map] if intf and intf.crypto_map else []
    elif tag is not None:
        names = [tag]
    else:
        names = list(config.crypto_maps)
    sets = [config.crypto_maps[n] for n in names if n in config.crypto_maps]
    return "\n".join(_format_set(config, cmap) for cmap in sets if cmap.entries or cmap.local_address)
