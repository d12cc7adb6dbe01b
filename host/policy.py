"""Crypto policy: which crypto map entry a packet falls under, the data flow it defines, and whether
a peer's proposed flow is acceptable. What the IPsec data plane and IKE call.

From the spec ("Crypto Access List Tips", ``crypto map``, ``match address``, dynamic maps):

* A crypto map set is evaluated entry by entry, lowest sequence number first. In each entry the
  packet is checked against the entry's ACL; the first ACL line that matches decides: ``permit``
  selects this entry, ``deny`` (or no match) moves on to the next entry. Traffic that no entry
  permits is not protected.
* Outbound traffic is checked forward (source = our side); inbound traffic against the same ACLs
  mirrored (its destination is our side). Inbound traffic that an IPsec entry permits but that
  arrived unprotected must be dropped (the data plane's job; :func:`classify_inbound` says which
  entry claims it).
* An ``ipsec-manual`` entry uses only its ACL's first ``permit`` line; later lines are ignored.
* An entry referring to a dynamic map set is replaced, in place, by that set's entries in order.
  A dynamic entry without ``match address`` is ignored for traffic, and accepts any proposed flow;
  one whose ACL is missing or empty drops all traffic ("the router will drop all packets") and
  accepts nothing. Choice: a static entry whose ACL is missing or empty is treated the same way
  (the spec calls the two cases "similar").
* The flow a ``permit`` line defines is its (addr/mask/prot/port) pair, source side local
  (:class:`FlowIdentity`); with ``set security-association level per-host`` the addresses narrow
  to the packet's two hosts, protocol and ports staying those of the line.
* A peer-initiated proposal is accepted by a static ``ipsec-isakmp`` entry that names the peer and
  whose ACL permits every packet of the proposed flow (it must be a subset), else by a dynamic
  entry (any peer unless it names peers). This is what makes the spec's Figure 3 come out as
  DESIGN.md describes it: mirror-image ACLs work whichever side starts (cases 1 and 2); with host
  ACLs at A and subnet ACLs at B, A's host request is a subset of B's ACL and succeeds (case 3),
  B's subnet request is a superset of A's ACL and is refused (case 4).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from host.acl import AccessList, AclEntry, AddressMatch, Packet, PortMatch
from host.config.model import CryptoMapEntry, DynamicMapEntry, RouterConfig

__all__ = [
    "FlowIdentity",
    "PolicyMatch",
    "identity_of",
    "per_host_identity",
    "classify_outbound",
    "classify_inbound",
    "accept_proposal",
    "entry_acl",
    "manual_entries",
]

MASK32 = 0xFFFFFFFF


def _dotted(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


@dataclass(frozen=True)
class FlowIdentity:
    """A data flow as IPsec negotiates it: addr/mask/prot/port for the local and remote side.

    Protocol 0 and port 0 mean any (as in the spec's ``(172.21.114.123/255.255.255.255/0/0)``).
    The local side is this router's side: the source of outbound traffic."""

    local_addr: int
    local_mask: int
    remote_addr: int
    remote_mask: int
    protocol: int = 0
    local_port: int = 0
    remote_port: int = 0

    @classmethod
    def of(
        cls,
        local: str,
        local_mask: str,
        remote: str,
        remote_mask: str,
        protocol: int = 0,
        local_port: int = 0,
        remote_port: int = 0,
    ) -> FlowIdentity:
        """Build from dotted quads."""
        ip = lambda t: int(ipaddress.IPv4Address(t))  # noqa: E731
        return cls(
            ip(local) & ip(local_mask),
            ip(local_mask),
            ip(remote) & ip(remote_mask),
            ip(remote_mask),
            protocol,
            local_port,
            remote_port,
        )

    def local_text(self) -> str:
        """``addr/mask/prot/port`` of the local side, as ``show crypto ipsec sa`` prints it."""
        return f"{_dotted(self.local_addr)}/{_dotted(self.local_mask)}/{self.protocol}/{self.local_port}"

    def remote_text(self) -> str:
        return f"{_dotted(self.remote_addr)}/{_dotted(self.remote_mask)}/{self.protocol}/{self.remote_port}"

    def mirrored(self) -> FlowIdentity:
        """The same flow as the peer sees it (local and remote swapped)."""
        return FlowIdentity(
            self.remote_addr,
            self.remote_mask,
            self.local_addr,
            self.local_mask,
            self.protocol,
            self.remote_port,
            self.local_port,
        )

    def as_acl_entry(self) -> AclEntry:
        """The flow as an ACL line (source = local side), for subset checks."""
        return AclEntry(
            "permit",
            self.protocol or None,
            AddressMatch(self.local_addr, ~self.local_mask & MASK32),
            AddressMatch(self.remote_addr, ~self.remote_mask & MASK32),
            PortMatch("eq", self.local_port) if self.local_port else None,
            PortMatch("eq", self.remote_port) if self.remote_port else None,
        )

    def covers_outbound(self, pkt: Packet) -> bool:
        """Whether an outbound packet belongs to this flow."""
        return self.as_acl_entry().matches(pkt)


def identity_of(line: AclEntry) -> FlowIdentity:
    """The flow a ``permit`` line defines (source side local). A port operator other than ``eq``
    cannot be expressed in an identity and becomes 0 (any); a non-contiguous wildcard becomes
    the mask with the wildcard's bits cleared."""

    def port(p: PortMatch | None) -> int:
        return p.low if p is not None and p.op == "eq" else 0

    return FlowIdentity(
        line.src.addr,
        line.src.mask,
        line.dst.addr,
        line.dst.mask,
        line.protocol or 0,
        port(line.src_port),
        port(line.dst_port),
    )


def per_host_identity(line: AclEntry, pkt: Packet) -> FlowIdentity:
    """The per-host flow for outbound ``pkt`` under ``line``: the two hosts, with the line's
    protocol and ports (spec, ``set security-association level per-host``)."""
    base = identity_of(line)
    return FlowIdentity(pkt.src, MASK32, pkt.dst, MASK32, base.protocol, base.local_port, base.remote_port)


@dataclass(frozen=True)
class PolicyMatch:
    """The crypto map entry that claims a packet or a proposal.

    ``action`` is ``protect`` (apply or require IPsec per ``entry``) or ``drop`` (an entry whose
    ACL is missing or empty). ``dynamic`` is the dynamic map entry when ``entry`` refers to a
    dynamic map set. ``line`` is the ACL ``permit`` line matched and ``identity`` the flow to
    protect (per-host narrowed where the entry says so), both None for ``drop``."""

    entry: CryptoMapEntry
    action: str
    dynamic: DynamicMapEntry | None = None
    line: AclEntry | None = None
    identity: FlowIdentity | None = None


_MISSING = AccessList("<missing>")


def entry_acl(config: RouterConfig, entry: CryptoMapEntry | DynamicMapEntry) -> AccessList | None:
    """The ACL that applies to ``entry``: None when no ``match address`` is set; an empty list
    when it names a list that does not exist; cut after the first permit for manual entries."""
    if entry.acl is None:
        return None
    acl = config.acls.get(entry.acl, _MISSING)
    if isinstance(entry, CryptoMapEntry) and entry.manual:
        return acl.through_first_permit()
    return acl


def _candidates(config: RouterConfig, map_name: str):
    cmap = config.crypto_maps.get(map_name)
    for entry in cmap.ordered() if cmap else []:
        if entry.dynamic is None:
            yield entry, None
            continue
        dmap = config.dynamic_maps.get(entry.dynamic)
        for dyn in dmap.ordered() if dmap else []:
            yield entry, dyn


def _classify(config: RouterConfig, map_name: str, pkt: Packet) -> PolicyMatch | None:
    for entry, dyn in _candidates(config, map_name):
        acl = entry_acl(config, dyn if dyn is not None else entry)
        if acl is None:
            continue
        if not acl.entries:
            return PolicyMatch(entry, "drop", dyn)
        line = acl.lookup(pkt)
        if line is None or not line.permit:
            continue
        if entry.per_host and dyn is None:
            identity = per_host_identity(line, pkt)
        else:
            identity = identity_of(line)
        return PolicyMatch(entry, "protect", dyn, line, identity)
    return None


def classify_outbound(config: RouterConfig, map_name: str, pkt: Packet) -> PolicyMatch | None:
    """The entry of crypto map set ``map_name`` that claims outbound ``pkt``, or None (send it
    in the clear)."""
    return _classify(config, map_name, pkt)


def classify_inbound(config: RouterConfig, map_name: str, pkt: Packet) -> PolicyMatch | None:
    """The entry that claims inbound ``pkt`` (ACLs evaluated mirrored). The identity returned is
    in local orientation (local = this router's side = the packet's destination)."""
    return _classify(config, map_name, pkt.mirrored())


def _permits(acl: AccessList | None, flow: FlowIdentity) -> bool:
    if acl is None:
        return True
    return acl.permits_all_of(flow.as_acl_entry())


def accept_proposal(config: RouterConfig, map_name: str, peer: str, flow: FlowIdentity) -> PolicyMatch | None:
    """The entry that accepts peer ``peer``'s proposal to protect ``flow`` (given in local
    orientation: ``flow.local`` is this router's side), or None to refuse it."""
    for entry, dyn in _candidates(config, map_name):
        if dyn is None:
            if entry.manual or peer not in entry.peers:
                continue
            acl = entry_acl(config, entry)
            if acl is None or not acl.entries or not _permits(acl, flow):
                continue
            return PolicyMatch(entry, "protect", None, None, flow)
        if dyn.peers and peer not in dyn.peers:
            continue
        acl = entry_acl(config, dyn)
        if acl is not None and (not acl.entries or not _permits(acl, flow)):
            continue
        return PolicyMatch(entry, "protect", dyn, None, flow)
    return None


def manual_entries(config: RouterConfig) -> list[CryptoMapEntry]:
    """Every complete ``ipsec-manual`` entry (its SAs should be installed), map by map."""
    return [
        e
        for cmap in config.crypto_maps.values()
        for e in cmap.ordered()
        if e.manual and e.manual_ready(config)
    ]
