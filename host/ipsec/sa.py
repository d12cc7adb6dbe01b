"""The security association: one unidirectional SA of one protocol (ESP or AH).

As in Scapy's ``SecurityAssociation``, the SA owns its algorithms, keys and counters, and the
codecs (:mod:`host.ipsec.esp`, :mod:`host.ipsec.ah`) are functions of (SA, packet). The SA also
knows the crypto engine it is installed on and its conn id there: every cipher and MAC operation
of a codec is a job on that engine.

Transforms are named as IOS prints them (``esp-des``, ``esp-md5-hmac``, ``esp-sha-hmac``,
``esp-rfc1829``, ``ah-md5-hmac``, ``ah-sha-hmac``, ``ah-rfc1828``); an SA carries the transforms
of its own protocol only, as ``show crypto ipsec sa`` lists them per SA.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum

from driver.api import AUTH_KEY_BYTES, Auth, Cipher, CryptoEngine, SAParams

from . import ipv4
from .replay import ReplayWindow

__all__ = [
    "Protocol",
    "Mode",
    "DropReason",
    "Drop",
    "SACounters",
    "SecurityAssociation",
    "SAError",
    "ESP_CIPHERS",
    "ESP_AUTHS",
    "AH_TRANSFORMS",
    "REPLAY_WINDOW",
]

REPLAY_WINDOW = 64
"""IOS's anti-replay window, in packets."""


class SAError(ValueError):
    """An SA that cannot exist: bad transforms, keys, SPI or addresses."""


class Protocol(Enum):
    ESP = "esp"
    AH = "ah"

    @property
    def number(self) -> int:
        """The IP protocol number."""
        return ipv4.PROTO_ESP if self is Protocol.ESP else ipv4.PROTO_AH


class Mode(Enum):
    TUNNEL = "Tunnel"
    """A new outer header from local to peer; the whole original datagram is protected."""
    TRANSPORT = "Transport"
    """The original header stays; only its payload is protected (traffic between the peers)."""


ESP_CIPHERS = {"esp-des": Cipher.DES_CBC, "esp-rfc1829": Cipher.DES_CBC}
ESP_AUTHS = {"esp-md5-hmac": Auth.HMAC_MD5_96, "esp-sha-hmac": Auth.HMAC_SHA1_96}
AH_TRANSFORMS = {
    "ah-md5-hmac": Auth.HMAC_MD5_96,
    "ah-sha-hmac": Auth.HMAC_SHA1_96,
    "ah-rfc1828": Auth.KEYED_MD5,
}


class DropReason(Enum):
    """Why a packet was dropped; ``counter`` names the IOS detail error counter it counts in
    (``show crypto ipsec sa detail``), ``send`` whether it is a send or a receive error."""

    # receive side
    TRUNCATED = ("truncated", "invalid len", False)
    BAD_LENGTH = ("bad length", "invalid len", False)
    FRAGMENT = ("fragment", "invalid len", False)
    WRONG_SA = ("wrong sa", "invalid sa", False)
    UNKNOWN_SPI = ("unknown spi", "invalid sa", False)
    REPLAY = ("replay", "replay failed", False)
    REPLAY_TOO_OLD = ("replay too old", "replay failed", False)
    BAD_ICV = ("bad icv", "verify failed", False)
    BAD_PADDING = ("bad padding", "decap failed", False)
    BAD_NEXT_HEADER = ("bad next header", "invalid prot", False)
    BAD_INNER = ("bad inner packet", "decap failed", False)
    FLOW_MISMATCH = ("flow not permitted", "invalid identity", False)
    RECV_ENGINE_ERROR = ("engine error", "internal err", False)
    # send side
    SEQ_OVERFLOW = ("sequence number overflow", "replay rollover", True)
    NOT_INSTALLED = ("sa not installed", "encaps failed", True)
    TOO_BIG = ("too big", "encaps failed", True)
    BAD_PACKET = ("bad packet", "encaps failed", True)
    SEND_ENGINE_ERROR = ("engine error", "internal err", True)

    def __init__(self, text: str, counter: str, send: bool) -> None:
        self.text = text
        self.counter = counter
        self.send = send

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class Drop:
    """A packet that was dropped, why, and by which SA (``None`` before an SA was found)."""

    reason: DropReason
    sa: SecurityAssociation | None = None
    detail: str = ""

    def __bool__(self) -> bool:  # a Drop is never a packet
        return False


@dataclass
class SACounters:
    """The per-SA counters of ``show crypto ipsec sa``.

    Outbound SAs count encaps/encrypt/digest and send errors; inbound ones decaps/decrypt/verify
    and receive errors. ``drops`` holds the count per :class:`DropReason`; ``bytes`` the bytes
    of protected datagrams that passed (the lifetime's kilobytes are counted from it; replayed
    or forged packets never count).
    """

    encaps: int = 0
    encrypt: int = 0
    digest: int = 0
    decaps: int = 0
    decrypt: int = 0
    verify: int = 0
    send_errors: int = 0
    recv_errors: int = 0
    bytes: int = 0
    packets: int = 0
    drops: Counter = field(default_factory=Counter)

    def detail(self) -> Counter:
        """Drops summed per IOS detail counter name."""
        out: Counter = Counter()
        for reason, n in self.drops.items():
            out[reason.counter] += n
        return out

    def clear(self) -> None:
        """Zero every counter (``clear crypto sa counters``)."""
        for name in (
            "encaps",
            "encrypt",
            "digest",
            "decaps",
            "decrypt",
            "verify",
            "send_errors",
            "recv_errors",
            "bytes",
            "packets",
        ):
            setattr(self, name, 0)
        self.drops.clear()


def _default_ident() -> Iterator[int]:
    return (i & 0xFFFF for i in itertools.count(1))


class SecurityAssociation:
    """One unidirectional IPsec SA.

    ``protocol``: ESP or AH. ``spi``: 32-bit SPI (IOS: 256 and up; 1-255 are reserved).
    ``inbound``: direction. ``local`` / ``peer``: the crypto endpoints (tunnel source and
    destination outbound; the outer destination and source inbound). ``transforms``: the IOS
    transform names of this protocol. ``mode``: tunnel or transport. ``cipher_key`` /
    ``auth_key``: key bytes per transform (DES 8, MD5 16, SHA 20). ``iv_size``: 8, or 4 for
    ``esp-rfc1829`` with ``initialization-vector size 4``. ``manual``: keyed by
    ``set session-key`` (no anti-replay). ``rng``: where IVs come from (``n -> n bytes``);
    inject a seeded one for reproducible runs. ``ttl``: TTL of the outer headers it builds.
    ``ident``: the outer headers' IP identification numbers (share one among SAs of a router).
    """

    def __init__(
        self,
        *,
        protocol: Protocol | str,
        spi: int,
        inbound: bool,
        local: str,
        peer: str,
        transforms: Sequence[str],
        mode: Mode | str = Mode.TUNNEL,
        cipher_key: bytes = b"",
        auth_key: bytes = b"",
        iv_size: int = 8,
        manual: bool = False,
        rng: Callable[[int], bytes] | None = None,
        ttl: int = 255,
        ident: Iterator[int] | None = None,
        replay_window: int = REPLAY_WINDOW,
    ) -> None:
        self.protocol = Protocol(protocol) if isinstance(protocol, str) else protocol
        if isinstance(mode, str):
            mode = (
                Mode.TRANSPORT
                if mode.lower() == "transport"
                else (Mode.TUNNEL if mode.lower() == "tunnel" else None)
            )
            if mode is None:
                raise SAError("mode is tunnel or transport")
        self.mode: Mode = mode
        if not 0 < spi < 1 << 32:
            raise SAError(f"SPI {spi} out of range 1..{(1 << 32) - 1}")
        self.spi = spi
        self.spi_bytes = spi.to_bytes(4, "big")
        self.inbound = inbound
        try:
            self.local_bytes = ipv4.addr_bytes(local)
            self.peer_bytes = ipv4.addr_bytes(peer)
        except ValueError as e:
            raise SAError(str(e)) from None
        self.local = ipv4.addr_str(self.local_bytes)
        self.peer = ipv4.addr_str(self.peer_bytes)
        self.transforms = tuple(transforms)
        self.cipher, self.auth, self.legacy = self._parse_transforms()
        self.cipher_key = bytes(cipher_key)
        self.auth_key = bytes(auth_key)
        want = 8 if self.cipher is Cipher.DES_CBC else 0
        if len(self.cipher_key) != want:
            raise SAError(
                f"{' '.join(self.transforms)}: cipher key is {want} bytes, got {len(self.cipher_key)}"
            )
        want = AUTH_KEY_BYTES[self.auth]
        if len(self.auth_key) != want:
            raise SAError(
                f"{' '.join(self.transforms)}: authenticator key is {want} bytes, got {len(self.auth_key)}"
            )
        if self.protocol is Protocol.ESP:
            allowed = (4, 8) if "esp-rfc1829" in self.transforms else (8,)
            if iv_size not in allowed:
                raise SAError(f"IV size {iv_size} not allowed for {' '.join(self.transforms)}")
        self.iv_size = iv_size if self.protocol is Protocol.ESP else 0
        self.icv_len = {Auth.NONE: 0, Auth.HMAC_MD5_96: 12, Auth.HMAC_SHA1_96: 12, Auth.KEYED_MD5: 16}[
            self.auth
        ]
        self.manual = manual
        # IOS gives anti-replay with data authentication, except for RFC 1828 AH and for
        # manually keyed SAs (the spec's list of terms); ESP without an authenticator has none.
        self.anti_replay = self.auth is not Auth.NONE and not self.legacy and not manual
        self.replay: ReplayWindow | None = (
            ReplayWindow(replay_window) if inbound and self.anti_replay else None
        )
        self.rng: Callable[[int], bytes] = rng or os.urandom
        self.ttl = ttl
        self.ident: Iterator[int] = ident if ident is not None else _default_ident()
        self.seq = 0
        """Outbound: the last sequence number sent. Inbound: unused (see :attr:`replay`)."""
        self.counters = SACounters()
        self.engine: CryptoEngine | None = None
        self.conn_id: int | None = None

    def _parse_transforms(self) -> tuple[Cipher, Auth, bool]:
        ts = self.transforms
        if len(set(ts)) != len(ts):
            raise SAError(f"repeated transform in {' '.join(ts)}")
        if self.protocol is Protocol.AH:
            if len(ts) != 1 or ts[0] not in AH_TRANSFORMS:
                raise SAError(f"an AH SA takes one of {', '.join(AH_TRANSFORMS)}, got {ts}")
            return Cipher.NONE, AH_TRANSFORMS[ts[0]], ts[0] == "ah-rfc1828"
        ciphers = [t for t in ts if t in ESP_CIPHERS]
        auths = [t for t in ts if t in ESP_AUTHS]
        other = [t for t in ts if t not in ESP_CIPHERS and t not in ESP_AUTHS]
        if other:
            raise SAError(f"not an ESP transform: {', '.join(other)}")
        # Table 2 of the spec: one encryption transform; an ESP authenticator only with an
        # encryption transform other than esp-rfc1829 (IOS 11.3T has no esp-null).
        if len(ciphers) != 1:
            raise SAError("an ESP SA needs exactly one of esp-des, esp-rfc1829")
        if len(auths) > 1:
            raise SAError("an ESP SA takes at most one of esp-md5-hmac, esp-sha-hmac")
        if auths and ciphers[0] == "esp-rfc1829":
            raise SAError("esp-rfc1829 does not allow an ESP authentication transform")
        auth = ESP_AUTHS[auths[0]] if auths else Auth.NONE
        return Cipher.DES_CBC, auth, ciphers[0] == "esp-rfc1829"

    # -- the engine ---------------------------------------------------------------------------

    def engine_params(self) -> SAParams:
        """The context the engine keeps for this SA."""
        return SAParams(
            inbound=self.inbound,
            cipher=self.cipher,
            auth=self.auth,
            des_key=self.cipher_key,
            auth_key=self.auth_key,
        )

    def install(self, engine: CryptoEngine) -> int:
        """Install the SA's context on ``engine``; returns (and keeps) the conn id.
        Errors of the engine (:class:`driver.api.CapacityError`, ...) propagate unchanged."""
        if self.engine is not None:
            raise SAError(f"SA spi {self.spi:#x} is already installed as conn id {self.conn_id}")
        self.conn_id = engine.install(self.engine_params())
        self.engine = engine
        return self.conn_id

    def uninstall(self) -> None:
        """Remove the SA's context from its engine (no-op when not installed)."""
        if self.engine is not None and self.conn_id is not None:
            self.engine.remove(self.conn_id)
        self.engine = None
        self.conn_id = None

    @property
    def slot(self) -> int | None:
        """The IOS engine slot the SA runs on (0: software), for ``show crypto ipsec sa``."""
        if self.engine is None or self.conn_id is None:
            return None
        return self.engine.slot_of(self.conn_id)

    # -- per-packet state -----------------------------------------------------------------------

    @property
    def has_seq(self) -> bool:
        """Whether the wire format carries a sequence number (not RFC 1828/1829)."""
        return not self.legacy

    def next_seq(self) -> int | None:
        """Allocate the next outbound sequence number; ``None`` when it would cycle on an SA
        with anti-replay (RFC 2402 3.3.2: the SA must then be replaced, not wrap)."""
        if self.seq >= 0xFFFFFFFF:
            if self.anti_replay:
                return None
            self.seq = 0
        self.seq += 1
        return self.seq

    def drop(self, reason: DropReason, detail: str = "") -> Drop:
        """Count a dropped packet on this SA and return the :class:`Drop`."""
        c = self.counters
        if reason.send:
            c.send_errors += 1
        else:
            c.recv_errors += 1
        c.drops[reason] += 1
        return Drop(reason, self, detail)

    @property
    def transform_text(self) -> str:
        """The transforms as ``show crypto ipsec sa`` prints them."""
        return " ".join(self.transforms)

    def __repr__(self) -> str:
        d = "in" if self.inbound else "out"
        return (
            f"<SA {self.protocol.value} {d} spi={self.spi:#x} {self.local}->{self.peer} "
            f"{self.transform_text} {self.mode.value} conn={self.conn_id}>"
        )
