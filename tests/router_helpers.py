"""A tiny network for router tests: routers joined by point-to-point links, LANs with capture.

``Net.link(a, "Serial0", b, "Serial0")`` joins two router interfaces; ``Net.lan(a, "Ethernet0")``
makes an interface a LAN whose hosts just collect what the router sends them. ``Net.inject``
hands a datagram to a router as if received on an interface and runs the network until it is
quiet; every datagram that crossed a link is kept in ``Net.wire`` for inspection.
"""

from __future__ import annotations

import random
from collections import defaultdict

from host.clock import Clock
from host.router import Router

__all__ = ["Net", "two_routers", "manual_pair_config"]


class Net:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.routers: dict[str, Router] = {}
        self.links: dict[tuple[str, str], tuple[str, str]] = {}
        self.lans: dict[tuple[str, str], list[bytes]] = {}
        self.wire: dict[tuple[str, str], list[bytes]] = defaultdict(list)
        """Datagrams sent on each (router, interface) of a link."""

    def add(self, name: str, config: str, seed: int = 1, **kw) -> Router:
        r = Router.from_config(config, clock=self.clock, rng=random.Random(seed), **kw)
        self.routers[name] = r
        return r

    def link(self, a: str, ia: str, b: str, ib: str) -> None:
        self.links[(a, ia)] = (b, ib)
        self.links[(b, ib)] = (a, ia)

    def lan(self, r: str, iface: str) -> list[bytes]:
        self.lans[(r, iface)] = []
        return self.lans[(r, iface)]

    def run(self, pending: list[tuple[str, str, bytes]], limit: int = 10000) -> None:
        steps = 0
        while pending:
            steps += 1
            assert steps < limit, "network does not settle"
            name, iface, data = pending.pop(0)
            for out_iface, out in self.routers[name].receive(iface, data):
                self.deliver(name, out_iface, out, pending)

    def deliver(self, name: str, out_iface: str, out: bytes, pending: list) -> None:
        key = (name, out_iface)
        if key in self.links:
            self.wire[key].append(out)
            peer, peer_iface = self.links[key]
            pending.append((peer, peer_iface, out))
        elif key in self.lans:
            self.lans[key].append(out)

    def inject(self, name: str, iface: str, data: bytes) -> None:
        self.run([(name, iface, data)])

    def originate(self, name: str, data: bytes) -> None:
        pending: list = []
        for out_iface, out in self.routers[name].send_local(data):
            self.deliver(name, out_iface, out, pending)
        self.run(pending)


def manual_pair_config(
    name: str,
    me: str,
    peer: str,
    lan: str,
    remote_lan: str,
    transforms: str,
    keys: dict[str, str],
    *,
    mode: str | None = None,
    acl: str | None = None,
    extra: str = "",
    swap: bool = False,
) -> str:
    """IOS text of one side of a manual-keyed pair: LAN on Ethernet0 (.1 of a /24), the link on
    Serial0 (/30 style /24), a static route to the remote LAN, crypto map ``vpn 10``.
    ``keys``: ``ah``/``esp_cipher``/``esp_auth`` hex per direction name ``in``/``out`` of side A;
    ``swap`` gives side B (inbound and outbound exchanged)."""
    d_in, d_out = ("outbound", "inbound") if swap else ("inbound", "outbound")
    lines = [f"hostname {name}", f"crypto ipsec transform-set ts {transforms}"]
    if mode:
        lines.append(f" mode {mode}")
    lines.append(acl or f"access-list 101 permit ip {lan} 0.0.0.255 {remote_lan} 0.0.0.255")
    lines += [
        "crypto map vpn 10 ipsec-manual",
        " match address 101",
        " set transform-set ts",
        f" set peer {peer}",
    ]
    for direction, tag in ((d_in, "in"), (d_out, "out")):
        if "ah" in keys:
            lines.append(f" set session-key {direction} ah {keys['spi_ah_' + tag]} {keys['ah_' + tag]}")
        if "esp_cipher_in" in keys:
            auth = f" authenticator {keys['esp_auth_' + tag]}" if keys.get("esp_auth_" + tag) else ""
            spi, cipher = keys["spi_esp_" + tag], keys["esp_cipher_" + tag]
            lines.append(f" set session-key {direction} esp {spi} cipher {cipher}{auth}")
    first = lan.rsplit(".", 1)[0]
    lines += [
        "interface Ethernet0",
        f" ip address {first}.1 255.255.255.0",
        "interface Serial0",
        f" ip address {me} 255.255.255.0",
        " crypto map vpn",
        f"ip route {remote_lan} 255.255.255.0 {peer}",
        extra,
    ]
    return "\n".join(lines) + "\n"


KEYS = {
    "ah": "yes",
    "spi_ah_in": "1001",
    "spi_ah_out": "1002",
    "ah_in": "00112233445566778899aabbccddeeff00112233",
    "ah_out": "ffeeddccbbaa99887766554433221100ffeeddcc",
    "spi_esp_in": "2001",
    "spi_esp_out": "2002",
    "esp_cipher_in": "0123456789abcdef",
    "esp_cipher_out": "fedcba9876543210",
    "esp_auth_in": "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3",
    "esp_auth_out": "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3",
}


def keys_for(transforms: str) -> dict[str, str]:
    """The KEYS a transform set needs (no AH keys without AH, no ESP authenticator without one)."""
    k = dict(KEYS)
    if "ah-" not in transforms:
        del k["ah"]
    if "esp-" not in transforms:
        for n in ("esp_cipher_in", "esp_cipher_out"):
            del k[n]
    if "esp-md5-hmac" not in transforms and "esp-sha-hmac" not in transforms:
        k["esp_auth_in"] = k["esp_auth_out"] = ""
    return k


def two_routers(
    transforms: str = "esp-des esp-sha-hmac",
    *,
    mode: str | None = None,
    extra_a: str = "",
    extra_b: str = "",
    **kw,
) -> tuple[Net, Router, Router, list[bytes], list[bytes]]:
    """Routers A (LAN 10.1.1.0/24, link 192.168.0.1) and B (LAN 10.2.2.0/24, link 192.168.0.2)
    with mirror-image manual crypto maps; returns (net, A, B, A's LAN capture, B's LAN capture)."""
    keys = keys_for(transforms)
    net = Net()
    a = net.add(
        "A",
        manual_pair_config(
            "A",
            "192.168.0.1",
            "192.168.0.2",
            "10.1.1.0",
            "10.2.2.0",
            transforms,
            keys,
            mode=mode,
            extra=extra_a,
        ),
        seed=1,
        **kw,
    )
    b = net.add(
        "B",
        manual_pair_config(
            "B",
            "192.168.0.2",
            "192.168.0.1",
            "10.2.2.0",
            "10.1.1.0",
            transforms,
            keys,
            mode=mode,
            extra=extra_b,
            swap=True,
        ),
        seed=2,
        **kw,
    )
    net.link("A", "Serial0", "B", "Serial0")
    return net, a, b, net.lan("A", "Ethernet0"), net.lan("B", "Ethernet0")


def rng_bytes(seed: int, n: int) -> bytes:
    return random.Random(seed).randbytes(n)


def isakmp_pair_config(
    name: str, me: str, peer: str, lan: str, remote_lan: str, transforms: str, extra: str = ""
) -> str:
    """One side of a pair whose crypto map entry is ``ipsec-isakmp`` (SAs come from key
    management; tests install them through :meth:`Router.install_sas`, as IKE will)."""
    first = lan.rsplit(".", 1)[0]
    return (
        "\n".join(
            [
                f"hostname {name}",
                f"crypto ipsec transform-set ts {transforms}",
                f"access-list 101 permit ip {lan} 0.0.0.255 {remote_lan} 0.0.0.255",
                "crypto map vpn 10 ipsec-isakmp",
                " match address 101",
                " set transform-set ts",
                f" set peer {peer}",
                "interface Ethernet0",
                f" ip address {first}.1 255.255.255.0",
                "interface Serial0",
                f" ip address {me} 255.255.255.0",
                " crypto map vpn",
                f"ip route {remote_lan} 255.255.255.0 {peer}",
                extra,
            ]
        )
        + "\n"
    )


def negotiate(
    a: Router,
    b: Router,
    *,
    a_iface: str = "Serial0",
    b_iface: str = "Serial0",
    entry: tuple[str, int] = ("vpn", 10),
    ts: str = "ts",
    lifetime=None,
    spi_base: int = 0x1000,
    seed: int = 7,
):
    """Install matching SA bundles on ``a`` and ``b`` for the entries' flows, as IKE would after
    a successful negotiation (keys from a seeded generator). Returns (bundle of a, bundle of b)."""
    from host.policy import entry_acl, identity_of
    from host.router import SAKeys

    rnd = random.Random(seed)
    ts_a = a.config.transform_sets[ts]

    def auth_len(name: str | None) -> int:
        return 0 if name is None else 20 if "sha" in name else 16

    keys_ab = {}
    for n, proto in enumerate(("esp", "ah")):
        alen = auth_len(ts_a.ah if proto == "ah" else ts_a.esp_authentication)
        for direction in ("ab", "ba"):
            spi = spi_base + 2 * n + (direction == "ba")
            cipher = rnd.randbytes(8) if proto == "esp" else b""
            keys_ab[(direction, proto)] = SAKeys(spi, cipher, rnd.randbytes(alen))

    def keys(me_to_peer: str, peer_to_me: str):
        out = {}
        for proto in ("esp", "ah"):
            if (proto == "esp" and ts_a.esp) or (proto == "ah" and ts_a.ah):
                out[("outbound", proto)] = keys_ab[(me_to_peer, proto)]
                out[("inbound", proto)] = keys_ab[(peer_to_me, proto)]
        return out

    def flow(r: Router):
        e = r.config.crypto_maps[entry[0]].entries[entry[1]]
        return identity_of(next(iter(entry_acl(r.config, e).permit_entries())))

    db_a, db_b = a.database_for(a_iface), b.database_for(b_iface)
    ba = a.install_sas(
        database=db_a,
        entry=entry,
        peer=db_b.local,
        flow=flow(a),
        transform_set=ts,
        keys=keys("ab", "ba"),
        lifetime=lifetime,
    )
    bb = b.install_sas(
        database=db_b,
        entry=entry,
        peer=db_a.local,
        flow=flow(b),
        transform_set=ts,
        keys=keys("ba", "ab"),
        lifetime=lifetime,
    )
    return ba, bb


def isakmp_routers(transforms: str = "esp-des esp-sha-hmac", **kw):
    """A and B as in :func:`two_routers` but with ``ipsec-isakmp`` entries and negotiated SAs."""
    net = Net()
    a = net.add(
        "A",
        isakmp_pair_config(
            "A", "192.168.0.1", "192.168.0.2", "10.1.1.0", "10.2.2.0", transforms, kw.pop("extra_a", "")
        ),
        seed=1,
    )
    b = net.add(
        "B",
        isakmp_pair_config(
            "B", "192.168.0.2", "192.168.0.1", "10.2.2.0", "10.1.1.0", transforms, kw.pop("extra_b", "")
        ),
        seed=2,
    )
    net.link("A", "Serial0", "B", "Serial0")
    bundles = negotiate(a, b, **kw)
    return net, a, b, net.lan("A", "Ethernet0"), net.lan("B", "Ethernet0"), bundles
