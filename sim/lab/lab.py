"""A lab run: routers, links, hosts and traffic from a :class:`~sim.lab.format.LabSpec`, on one
virtual clock, with captures and the report.

    spec = load_lab("examples/labs/simple.yaml")
    result = Lab(spec, engine="software", capture="out/", seed=1, sinks=[print]).run()
    result.flows["telnet"].delivered

Every router shares the lab's clock (:mod:`host.clock`), so their SA lifetimes and the lab's
traffic interleave in time order. All randomness (IVs, SPIs) comes from ``seed``: the same lab
and seed give the same packets and byte-identical pcaps.
"""

from __future__ import annotations

import ipaddress
import re
import time as wallclock
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host.clock import Clock
from host.router import Event, describe_sa

from .errors import LabError
from .esp_sa import EspSaLine, line_from_event, write_esp_sa
from .events import ROUTER_EVENTS
from .format import FlowSpec, LabSpec
from .ledger import FlowTally, Ledger
from .network import Host, Link, Network, RouterOutput, Tags
from .pcap import PcapWriter
from .routers import LabRouter, build_router, interface_of
from .scheduler import Scheduler
from .traffic import RouterOrigin, Traffic

__all__ = ["Lab", "LabResult"]

Sink = Callable[[dict[str, Any]], None]


@dataclass
class LabResult:
    """What a run produced: every event, per-flow tallies (requests and replies apart), the
    ESP SAs created (as Wireshark lines) and the capture files written."""

    events: list[dict[str, Any]]
    flows: dict[str, FlowTally]
    replies: dict[str, FlowTally]
    specs: dict[str, FlowSpec]
    end_time: float
    esp_sas: list[EspSaLine] = field(default_factory=list)
    captures: list[Path] = field(default_factory=list)

    def expectation_failures(self) -> list[str]:
        """Flows whose ``expect`` did not come true, as sentences."""
        out = []
        for name, spec in self.specs.items():
            tally = self.flows[name]
            if spec.expect == "delivered" and tally.delivered != tally.sent:
                out.append(
                    f"flow {name}: expected every packet delivered, {tally.delivered} of {tally.sent} were"
                )
            if spec.expect == "dropped" and tally.dropped != tally.sent:
                out.append(
                    f"flow {name}: expected every packet dropped, {tally.dropped} of {tally.sent} were"
                )
            if spec.expect == "delivered" and spec.reply:
                r = self.replies[name]
                if r.delivered != tally.sent:
                    out.append(
                        f"flow {name}: expected every reply delivered, {r.delivered} of {tally.sent} were"
                    )
        return out


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


class Lab:
    """One run of ``spec`` (see the module docstring). ``engine`` is the crypto engine of every
    router that does not name its own (default: the lab file's ``engine``); ``capture`` a
    directory for the pcaps and the ``esp_sa`` file; ``seed`` overrides the file's; ``sinks``
    receive each event as it happens; ``progress`` gets a status line now and then."""

    def __init__(
        self,
        spec: LabSpec,
        *,
        engine: str | None = None,
        capture: str | Path | None = None,
        seed: int | None = None,
        sinks: list[Sink] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.engine = engine or spec.engine
        self.capture = Path(capture) if capture is not None else None
        self.seed = spec.seed if seed is None else seed
        self.sinks = list(sinks or [])
        self.progress = progress
        self.events: list[dict[str, Any]] = []
        self.clock = Clock()
        self.scheduler = Scheduler(self.clock)
        self.ledger = Ledger(lambda kind, p, **fields: self.traffic.settled(kind, p, **fields))
        self.routers: dict[str, LabRouter] = {}
        self._esp_sas: list[EspSaLine | str] = []
        self._writers: list[PcapWriter] = []
        self._running = False
        self.network = Network(self.scheduler, self.ledger, {}, self._host_got, self._router_got)
        self.traffic = Traffic(spec.flows, self.scheduler, self.network, self._emit)

    # -- events ----------------------------------------------------------------------------------
    def _emit(self, kind: str, **fields: Any) -> None:
        event = {"event": kind, "time": round(self.clock.now(), 9), **fields}
        self.events.append(event)
        for sink in self.sinks:
            sink(event)

    def _router_event(self, name: str, ev: Event) -> None:
        if ev.kind not in ROUTER_EVENTS or not self._running:
            return  # SAs that come and go while configs load are reported once, at the start
        data = dict(ev.data)
        if ev.kind == "sa_created":
            self._note_sa(data)
        self._emit(ev.kind, router=name, **data)

    def _note_sa(self, d: dict[str, Any]) -> None:
        entry = line_from_event(d)
        if isinstance(entry, EspSaLine) or d.get("protocol") == "esp":
            self._esp_sas.append(entry)

    # -- building --------------------------------------------------------------------------------
    def build(self) -> None:
        """Create routers, links and hosts (raises :class:`LabError` on anything inconsistent)."""
        spec = self.spec
        if self.capture is not None:
            try:
                self.capture.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise LabError(
                    str(self.capture), f"cannot create the capture directory: {exc.strerror}"
                ) from None
        try:
            for name, rspec in spec.routers.items():
                self.routers[name] = build_router(
                    rspec,
                    engine=rspec.engine or self.engine,
                    clock=self.clock,
                    seed=self.seed,
                    lab_source=spec.source,
                    on_event=self._router_event,
                )
            self.network.routers = dict(self.routers)
            for i, lspec in enumerate(spec.links):
                self.network.add_link(self._link(i, lspec))
            for hspec in spec.hosts.values():
                self._check_host(hspec)
                host = Host(
                    hspec.name, hspec.address, hspec.router, hspec.interface, hspec.latency, self.clock.now
                )
                seg = self.network.add_host(host)
                if self.capture is not None and seg.capture is None:
                    seg.capture = self._writer(f"lan-{seg.name}")
            if self.capture is not None:
                for link in self.network.links:
                    link.capture = self._writer(link.name)
            for i, flow in enumerate(spec.flows):
                self.traffic.origins[flow.name] = self._origin(i, flow)
        except BaseException:
            self.close()
            raise

    def _writer(self, name: str) -> PcapWriter:
        assert self.capture is not None
        w = PcapWriter(self.capture / f"{_file_name(name)}.pcap")
        self._writers.append(w)
        return w

    def _interface(self, where: str, router: str, name: str) -> Any:
        intf = interface_of(self.routers[router], name)
        if intf is None:
            known = ", ".join(sorted(self.routers[router].router.config.interfaces)) or "none"
            raise LabError(
                f"{self.spec.source}: {where}",
                f"router {router} has no interface {name} in its configuration (it has: {known})",
            )
        return intf

    def _link(self, i: int, lspec: Any) -> Link:
        where = f"links[{i}]"
        intfs = [self._interface(f"{where}.between[{k}]", r, n) for k, (r, n) in enumerate(lspec.ends)]
        mtu = lspec.mtu
        if mtu is None:
            mtu = min(intf.mtu for intf in intfs)
        else:
            for (router, name), intf in zip(lspec.ends, intfs, strict=True):
                if intf.mtu == mtu:
                    continue
                if intf.mtu != 1500:
                    raise LabError(
                        f"{self.spec.source}: {where}.mtu",
                        f"the link's MTU {mtu} differs from {router} {name}'s configured mtu {intf.mtu}",
                    )
                errors = self.routers[router].router.configure(
                    f"interface {name}\n mtu {mtu}\n", source=f"{self.spec.source}: {where}.mtu"
                )
                if errors:
                    raise LabError(f"{self.spec.source}: {where}.mtu", str(errors[0]).strip())
        return Link(lspec.name, lspec.ends, mtu, lspec.latency, lspec.bandwidth)

    def _check_host(self, hspec: Any) -> None:
        where = f"hosts.{hspec.name}"
        intf = self._interface(f"{where}.interface", hspec.router, hspec.interface)
        net = intf.network
        if net is None:
            raise LabError(
                f"{self.spec.source}: {where}.interface",
                f"{hspec.router} {hspec.interface} has no IP address to be the host's gateway",
            )
        if ipaddress.IPv4Address(hspec.address) not in net:
            raise LabError(
                f"{self.spec.source}: {where}.address",
                f"{hspec.address} is not in {hspec.router} {hspec.interface}'s network {net}",
            )
        if ipaddress.IPv4Address(hspec.address) == intf.address:
            raise LabError(
                f"{self.spec.source}: {where}.address",
                f"{hspec.address} is {hspec.router} {hspec.interface}'s own address",
            )

    def _host_got(self, host: Host, datagram: bytes, tags: Tags) -> None:
        self.traffic.host_got(host, datagram, tags)

    def _router_got(self, router: str, tags: Tags, out: RouterOutput) -> Tags:
        return self.traffic.router_got(router, tags, out)

    def _origin(self, i: int, flow: FlowSpec) -> Host | RouterOrigin:
        if flow.src in self.network.hosts:
            return self.network.hosts[flow.src]
        where = f"{self.spec.source}: traffic[{i}]"
        router = self.routers[flow.src].router
        if flow.source is not None:
            intf = self._interface(f"traffic[{i}].source", flow.src, flow.source)
        else:
            route = router.routes.lookup(flow.dst)
            if route is None:
                raise LabError(f"{where}.to", f"router {flow.src} has no route to {flow.dst}")
            intf = router.config.interfaces[route.interface]
        if intf.address is None:
            raise LabError(f"{where}.source", f"{flow.src} {intf.name} has no address to send from")
        return RouterOrigin(flow.src, str(intf.address), router.ident)

    def _schedule_execs(self) -> None:
        for ex in self.spec.execs:
            if ex.config is not None:
                self.scheduler.at(ex.at, lambda r=ex.router, c=ex.config: self._configure(r, c))
            for command in ex.commands:
                self.scheduler.at(ex.at, lambda r=ex.router, c=command: self._exec(r, c))

    def _exec(self, router: str, command: str) -> None:
        self._emit("exec", router=router, command=command, output=self.routers[router].exec(command))

    def _announce_sas(self) -> None:
        """Report the SAs the routers have once configured (manual SAs), as ``sa_created``."""
        for name, r in self.routers.items():
            for bundle in r.router.bundles():
                for sa in bundle.sas:
                    data = describe_sa(bundle, sa)
                    self._note_sa(data)
                    self._emit("sa_created", router=name, **data)

    def _configure(self, router: str, text: str) -> None:
        errors = self.routers[router].router.configure(text, source=f"{self.spec.source}: exec config")
        self._emit("config", router=router, lines=text, errors=[str(e) for e in errors])

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> LabResult:
        """Build (unless built), run to the end, write the captures; returns the result."""
        if not self.routers:
            self.build()
        started = wallclock.monotonic()
        last = [started]

        def progress(now: float) -> None:
            wall = wallclock.monotonic()
            if self.progress is not None and wall - last[0] >= 1.0:
                last[0] = wall
                self.progress(
                    f"lab: t={now:.3f}s, {len(self.ledger.packets)} packets sent, "
                    f"{self.ledger.outstanding()} in flight"
                )

        try:
            self._running = True
            self._announce_sas()
            self.traffic.schedule()
            self._schedule_execs()
            end = self.scheduler.run(self.spec.duration, progress)
            self.ledger.settle_rest(end)
            esp_sas = self._write_esp_sa()
            result = LabResult(
                self.events,
                self.traffic.tallies,
                self.traffic.reply_tallies,
                self.traffic.flows,
                end,
                esp_sas,
                [Path(w.path) for w in self._writers],
            )
        finally:
            self.close()
        if self.capture is not None:
            result.captures.append(self.capture / "esp_sa")
        return result

    def _write_esp_sa(self) -> list[EspSaLine]:
        if self.capture is None:
            return list(dict.fromkeys(e for e in self._esp_sas if isinstance(e, EspSaLine)))
        header = (
            f"Wireshark ESP SAs (esp_sa UAT) of the lab {self.spec.title or self.spec.source}\n"
            "one SA per line: protocol, source, destination, SPI, encryption, key, authentication, key"
        )
        return write_esp_sa(self.capture / "esp_sa", self._esp_sas, header)

    def close(self) -> None:
        """Close the capture files and release the routers' engines."""
        for w in self._writers:
            w.close()
        for r in self.routers.values():
            r.close()
