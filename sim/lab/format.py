"""The lab file: YAML read into a :class:`LabSpec`, every key checked, errors naming file and key.

The format is documented with a complete example in ``docs/lab-format.md``. In short::

    lab: a title                      # optional; also: description, seed, engine, duration
    routers:
      A: {config: "IOS text" | config-file: a.cfg, engine: software}
    links:
      - {between: [A Serial0, B Serial0], mtu: 1500, latency: 1ms, bandwidth: 1.544Mbit}
    hosts:
      pc: {router: A, interface: Ethernet0, address: 10.1.1.10}
    traffic:
      - {name: web, from: pc, to: srv, protocol: tcp, dport: www, count: 3, size: 200,
         interval: 100ms, at: 1s, reply: true, expect: delivered}
    exec:
      - {at: 5s, router: A, command: show crypto ipsec sa}

Nothing here touches a router: this module only reads and checks the file's shape (names that
refer to each other, ranges, durations). Router configuration text is checked when the lab is
built (:mod:`sim.lab.build`).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from host.acl import TCP_PORTS, UDP_PORTS

from .errors import LabError

__all__ = [
    "LabSpec",
    "RouterSpec",
    "LinkSpec",
    "HostSpec",
    "FlowSpec",
    "ExecSpec",
    "load_lab",
    "parse_lab",
    "parse_duration",
    "parse_bandwidth",
    "PROTOCOLS",
    "EXPECTATIONS",
]

PROTOCOLS = ("icmp", "udp", "tcp")
"""What a traffic flow can send: ICMP echo requests, UDP datagrams, TCP segments."""
EXPECTATIONS = ("delivered", "dropped")
"""What a flow may declare it expects of its packets."""
MIN_SIZE = {"icmp": 28, "udp": 28, "tcp": 40}
"""Smallest datagram of each kind (IPv4 header plus the ICMP/UDP/TCP header)."""
MAX_SIZE = 65535


@dataclass(frozen=True)
class RouterSpec:
    """A router: its IOS configuration text, where that text came from, and its engine."""

    name: str
    config: str
    source: str
    """The file (or ``lab.yaml: routers.A.config``) that config line numbers refer to."""
    engine: str | None = None
    """The crypto engine backend for this router; None: the lab's (or ``--engine``'s)."""


@dataclass(frozen=True)
class LinkSpec:
    """A point-to-point link between two router interfaces."""

    name: str
    ends: tuple[tuple[str, str], tuple[str, str]]
    """((router, interface), (router, interface))."""
    mtu: int | None = None
    """Largest IP datagram the link carries; None: the interfaces' configured MTU."""
    latency: float = 0.001
    """One-way delay in seconds."""
    bandwidth: float | None = None
    """Bits per second each way; None: infinitely fast (no transmission time, no queueing)."""


@dataclass(frozen=True)
class HostSpec:
    """An end host on a router interface: it sends flows, answers pings, echoes when asked."""

    name: str
    router: str
    interface: str
    address: str
    latency: float = 0.0001
    """One-way delay between the host and its router, in seconds."""


@dataclass(frozen=True)
class FlowSpec:
    """A traffic flow: ``count`` packets of ``size`` bytes every ``interval`` from ``at``."""

    name: str
    src: str
    """Host name, or router name (the router itself originates the packets)."""
    dst: str
    """Destination IPv4 address (a host name in the file is resolved to its address)."""
    dst_host: str | None
    """The destination host's name, when ``to`` named a host."""
    protocol: str
    sport: int = 0
    dport: int = 0
    count: int = 1
    size: int = 100
    """IP datagram size in bytes, headers included."""
    interval: float = 1.0
    at: float = 0.0
    reply: bool = False
    """ICMP: always answered (echo reply). UDP/TCP: the destination echoes each packet back
    with addresses and ports swapped (like the echo service)."""
    expect: str | None = None
    """``delivered`` or ``dropped``: what every packet of the flow should come to."""
    source: str | None = None
    """For a router ``from``: the interface whose address is the source (default: the one
    its route to ``to`` leaves by)."""


@dataclass(frozen=True)
class ExecSpec:
    """Exec commands to run on a router at a given time (their output is printed), or
    configuration lines to apply then (``config``, as typed in ``configure terminal``)."""

    at: float
    router: str
    commands: tuple[str, ...] = ()
    config: str | None = None


@dataclass
class LabSpec:
    """A whole lab file, checked."""

    source: str
    """The lab file's name as errors print it."""
    base_dir: Path
    """Where relative ``config-file`` paths are looked up."""
    title: str = ""
    description: str = ""
    seed: int = 1
    engine: str = "software"
    duration: float = 0.0
    """Run at least this long (seconds of virtual time), even after the last event."""
    routers: dict[str, RouterSpec] = field(default_factory=dict)
    links: list[LinkSpec] = field(default_factory=list)
    hosts: dict[str, HostSpec] = field(default_factory=dict)
    flows: list[FlowSpec] = field(default_factory=list)
    execs: list[ExecSpec] = field(default_factory=list)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(us|ms|s|m|h)?\s*$")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from ``1.5``, ``"250ms"``, ``"2s"``, ``"10m"``, ``"1h"``, ``"100us"``.

    Raises ValueError for anything else (negative values included)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative")
        return float(value)
    m = _DURATION.match(str(value)) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"{value!r} is not a duration (examples: 2s, 250ms, 10m, 1.5)")
    return float(m.group(1)) * _UNIT[m.group(2)]


class _Reader:
    """Typed access to one mapping of the file, with the key path for error messages."""

    def __init__(self, source: str, path: str, data: Any, allowed: set[str]) -> None:
        self.source = source
        self.path = path
        if not isinstance(data, dict):
            raise self.error("", f"expected a mapping of keys, got {_kind(data)}")
        self.data = data
        unknown = sorted(str(k) for k in data if k not in allowed)
        if unknown:
            raise self.error(str(unknown[0]), f"unknown key (known here: {', '.join(sorted(allowed))})")

    def key(self, name: str) -> str:
        if not name:
            return self.path
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, message: str) -> LabError:
        return LabError(f"{self.source}: {self.key(name)}", message)

    def has(self, name: str) -> bool:
        return name in self.data

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)

    def require(self, name: str) -> Any:
        if name not in self.data or self.data[name] is None:
            raise self.error(name, "required key is missing")
        return self.data[name]

    def string(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.require(name) if required else self.data.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(name, f"expected text, got {_kind(value)}")
        return str(value)

    def integer(self, name: str, default: int | None, low: int, high: int) -> int | None:
        value = self.data.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, f"expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise self.error(name, f"{value} is out of range {low}..{high}")
        return value

    def duration(self, name: str, default: float) -> float:
        if name not in self.data:
            return default
        try:
            return parse_duration(self.data[name])
        except ValueError as exc:
            raise self.error(name, str(exc)) from None

    def boolean(self, name: str, default: bool) -> bool:
        value = self.data.get(name, default)
        if not isinstance(value, bool):
            raise self.error(name, f"expected true or false, got {value!r}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.string(name, default)
        if value is None:
            return None
        if value.lower() not in choices:
            raise self.error(name, f"{value!r} is not one of {', '.join(choices)}")
        return value.lower()


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{value!r}"


def _list(source: str, path: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LabError(f"{source}: {path}", f"expected a list, got {_kind(value)}")
    return value


def _mapping(source: str, path: str, value: Any) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LabError(f"{source}: {path}", f"expected a mapping of names, got {_kind(value)}")
    return value


def _name(source: str, path: str, value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise LabError(f"{source}: {path}", f"{value!r} is not a name")
    text = str(value)
    if any(c.isspace() for c in text):
        raise LabError(f"{source}: {path}", f"the name {text!r} contains a space")
    return text


def _address(r: _Reader, name: str, *, required: bool = True) -> str | None:
    text = r.string(name, required=required)
    if text is None:
        return None
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        raise r.error(name, f"{text!r} is not an IPv4 address") from None


def _router(source: str, base: Path, name: str, data: Any) -> RouterSpec:
    r = _Reader(source, f"routers.{name}", data, {"config", "config-file", "engine"})
    if r.has("config") == r.has("config-file"):
        raise r.error("", "give exactly one of config (IOS text) and config-file (a path)")
    if r.has("config"):
        text = r.string("config", required=True)
        where = f"{source}: {r.key('config')}"
    else:
        rel = r.string("config-file", required=True)
        path = (base / rel) if not Path(rel).is_absolute() else Path(rel)
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise r.error("config-file", f"cannot read {path}: {exc.strerror or exc}") from None
        where = str(path)
    return RouterSpec(name, text or "", where, r.string("engine"))


def _interface_ref(r: _Reader, key: str, value: Any, routers: dict[str, RouterSpec]) -> tuple[str, str]:
    if not isinstance(value, str) or len(value.split()) != 2:
        raise r.error(key, f"{value!r} is not 'ROUTER INTERFACE' (for example 'A Serial0')")
    router, intf = value.split()
    if router not in routers:
        raise r.error(key, f"no router named {router!r} (routers: {', '.join(routers) or 'none'})")
    return router, intf


def _link(source: str, index: int, data: Any, routers: dict[str, RouterSpec]) -> LinkSpec:
    r = _Reader(source, f"links[{index}]", data, {"between", "mtu", "latency", "name", "bandwidth"})
    ends = r.require("between")
    if not isinstance(ends, list) or len(ends) != 2:
        raise r.error("between", "expected a list of two 'ROUTER INTERFACE' ends")
    a = _interface_ref(r, "between[0]", ends[0], routers)
    b = _interface_ref(r, "between[1]", ends[1], routers)
    if a == b:
        raise r.error("between", "a link needs two different ends")
    name = r.string("name") or f"{a[0]}-{a[1]}--{b[0]}-{b[1]}"
    return LinkSpec(
        name=_name(source, r.key("name"), name),
        ends=(a, b),
        mtu=r.integer("mtu", None, 68, 18000),
        latency=r.duration("latency", 0.001),
        bandwidth=_bandwidth(r, "bandwidth"),
    )


_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmg]?)(?:bit/s|bps|bit)?\s*$", re.IGNORECASE)
_RATE_UNIT = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}


def parse_bandwidth(value: Any) -> float:
    """Bits per second from ``64000``, ``"64k"``, ``"1.544Mbit"``, ``"10Mbps"``, ``"1G"``.

    Raises ValueError for anything else (zero and negative values included)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a bandwidth")
    if isinstance(value, int | float):
        rate = float(value)
    else:
        m = _RATE.match(str(value)) if isinstance(value, str) else None
        if m is None:
            raise ValueError(f"{value!r} is not a bandwidth (examples: 64k, 1.544Mbit, 10Mbps)")
        rate = float(m.group(1)) * _RATE_UNIT[m.group(2).lower()]
    if rate <= 0:
        raise ValueError(f"{value!r} is not a positive bandwidth")
    return rate


def _bandwidth(r: _Reader, name: str) -> float | None:
    if not r.has(name):
        return None
    try:
        return parse_bandwidth(r.get(name))
    except ValueError as exc:
        raise r.error(name, str(exc)) from None


def _host(source: str, name: str, data: Any, routers: dict[str, RouterSpec]) -> HostSpec:
    r = _Reader(source, f"hosts.{name}", data, {"router", "interface", "address", "latency"})
    router = r.string("router", required=True)
    if router not in routers:
        raise r.error("router", f"no router named {router!r} (routers: {', '.join(routers) or 'none'})")
    intf = r.string("interface", required=True)
    return HostSpec(name, router, intf, _address(r, "address"), r.duration("latency", 0.0001))


def _port(r: _Reader, name: str, protocol: str) -> int:
    """A port given as a number or an IOS port name (``telnet``, ``www``, ``isakmp``...)."""
    value = r.get(name, 0)
    if isinstance(value, str):
        names = TCP_PORTS if protocol == "tcp" else UDP_PORTS
        if value.strip().isdigit():
            value = int(value)
        elif value.strip().lower() in names:
            return names[value.strip().lower()]
        else:
            raise r.error(name, f"{value!r} is not a port number or a known {protocol} port name")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise r.error(name, f"{value!r} is not a port number 0..65535")
    return value


_FLOW_KEYS = {
    "name",
    "from",
    "to",
    "protocol",
    "sport",
    "dport",
    "count",
    "size",
    "interval",
    "at",
    "reply",
    "expect",
    "source",
}


def _flow(
    source: str, index: int, data: Any, hosts: dict[str, HostSpec], routers: dict[str, RouterSpec]
) -> FlowSpec:
    r = _Reader(source, f"traffic[{index}]", data, _FLOW_KEYS)
    name = _name(source, r.key("name"), r.get("name", f"flow{index + 1}"))
    src = r.string("from", required=True)
    if src not in hosts and src not in routers:
        raise r.error(
            "from",
            f"no host or router named {src!r} (hosts: {', '.join(hosts) or 'none'}; "
            f"routers: {', '.join(routers)})",
        )
    src_intf = r.string("source")
    if src_intf is not None and src not in routers:
        raise r.error("source", "only a flow from a router takes a source interface")
    to = r.string("to", required=True)
    if to in hosts:
        dst, dst_host = hosts[to].address, to
    else:
        try:
            dst, dst_host = str(ipaddress.IPv4Address(to)), None
        except ValueError:
            raise r.error(
                "to",
                f"{to!r} is neither a host name nor an IPv4 address (for a router, "
                "give one of its addresses)",
            ) from None
        dst_host = next((h.name for h in hosts.values() if h.address == dst), None)
    protocol = r.choice("protocol", PROTOCOLS, "icmp")
    sport = dport = 0
    if protocol == "icmp":
        for key in ("sport", "dport"):
            if r.has(key):
                raise r.error(key, "ICMP has no ports")
    else:
        sport = _port(r, "sport", protocol) or 1024 + index
        dport = _port(r, "dport", protocol)
        if not dport:
            raise r.error("dport", f"a {protocol} flow needs a destination port")
    size = r.integer("size", 100, MIN_SIZE[protocol], MAX_SIZE)
    return FlowSpec(
        name=name,
        src=src,
        dst=dst,
        dst_host=dst_host,
        protocol=protocol,
        sport=sport,
        dport=dport,
        count=r.integer("count", 1, 1, 1_000_000),
        size=size,
        interval=r.duration("interval", 1.0),
        at=r.duration("at", 0.0),
        reply=r.boolean("reply", protocol == "icmp"),
        expect=r.choice("expect", EXPECTATIONS, None),
        source=src_intf,
    )


def _exec(source: str, index: int, data: Any, routers: dict[str, RouterSpec]) -> ExecSpec:
    r = _Reader(source, f"exec[{index}]", data, {"at", "router", "command", "commands", "config"})
    router = r.string("router", required=True)
    if router not in routers:
        raise r.error("router", f"no router named {router!r} (routers: {', '.join(routers) or 'none'})")
    if r.has("command") + r.has("commands") + r.has("config") != 1:
        raise r.error("", "give exactly one of command (one line), commands (a list) and config (lines)")
    if r.has("config"):
        return ExecSpec(r.duration("at", 0.0), router, (), r.string("config", required=True))
    if r.has("command"):
        commands = [r.string("command", required=True)]
    else:
        commands = _list(source, r.key("commands"), r.get("commands"))
        for i, c in enumerate(commands):
            if not isinstance(c, str) or not c.strip():
                raise r.error(f"commands[{i}]", f"expected a command line, got {_kind(c)}")
        if not commands:
            raise r.error("commands", "the list is empty")
    return ExecSpec(r.duration("at", 0.0), router, tuple(str(c) for c in commands))


_TOP_KEYS = {
    "lab",
    "description",
    "seed",
    "engine",
    "duration",
    "routers",
    "links",
    "hosts",
    "traffic",
    "exec",
}


def parse_lab(text: str, source: str = "lab", base_dir: Path | None = None) -> LabSpec:
    """Check lab file text and return its :class:`LabSpec`; raises :class:`LabError`."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise LabError(where, f"not valid YAML: {problem}") from None
    if data is None:
        raise LabError(source, "the lab file is empty")
    top = _Reader(source, "", data, _TOP_KEYS)
    spec = LabSpec(source=source, base_dir=base_dir or Path("."))
    spec.title = top.string("lab", "") or ""
    spec.description = top.string("description", "") or ""
    spec.seed = top.integer("seed", 1, 0, 2**63 - 1)
    spec.engine = top.string("engine", "software") or "software"
    spec.duration = top.duration("duration", 0.0)

    for name, data in _mapping(source, "routers", top.get("routers")).items():
        name = _name(source, "routers", name)
        spec.routers[name] = _router(source, spec.base_dir, name, data)
    if not spec.routers:
        raise LabError(f"{source}: routers", "a lab needs at least one router")
    for i, data in enumerate(_list(source, "links", top.get("links"))):
        spec.links.append(_link(source, i, data, spec.routers))
    for name, data in _mapping(source, "hosts", top.get("hosts")).items():
        name = _name(source, "hosts", name)
        if name in spec.routers:
            raise LabError(f"{source}: hosts.{name}", "a host cannot have a router's name")
        spec.hosts[name] = _host(source, name, data, spec.routers)
    for i, data in enumerate(_list(source, "traffic", top.get("traffic"))):
        spec.flows.append(_flow(source, i, data, spec.hosts, spec.routers))
    for i, data in enumerate(_list(source, "exec", top.get("exec"))):
        spec.execs.append(_exec(source, i, data, spec.routers))
    _check_unique(spec)
    return spec


def _check_unique(spec: LabSpec) -> None:
    used: dict[tuple[str, str], str] = {}
    for i, link in enumerate(spec.links):
        for end in link.ends:
            if end in used:
                raise LabError(
                    f"{spec.source}: links[{i}].between",
                    f"{end[0]} {end[1]} is already connected ({used[end]})",
                )
            used[end] = f"links[{i}]"
    names = [link.name for link in spec.links]
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise LabError(f"{spec.source}: links[{i}].name", f"two links are named {name!r}")
    addresses: dict[str, str] = {}
    for host in spec.hosts.values():
        if (host.router, host.interface) in used:
            raise LabError(
                f"{spec.source}: hosts.{host.name}.interface",
                f"{host.router} {host.interface} is a link end ({used[(host.router, host.interface)]})",
            )
        if host.address in addresses:
            raise LabError(
                f"{spec.source}: hosts.{host.name}.address",
                f"{host.address} is also host {addresses[host.address]}'s address",
            )
        addresses[host.address] = host.name
    flows = [f.name for f in spec.flows]
    for i, name in enumerate(flows):
        if flows.index(name) != i:
            raise LabError(f"{spec.source}: traffic[{i}].name", f"two flows are named {name!r}")


def load_lab(path: str | Path) -> LabSpec:
    """Read and check the lab file at ``path``; raises :class:`LabError`."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabError(str(p), f"cannot read the lab file: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_lab(text, source=str(p), base_dir=p.parent)
