"""Wireshark's ``esp_sa`` UAT file: the ESP keys that let Wireshark and tshark decrypt a capture.

One SA per line, eight quoted, comma-separated fields (Wireshark's ESP preferences,
"ESP SAs"): protocol (``IPv4``), source address, destination address, SPI (``0x`` and 8 hex
digits), encryption algorithm, encryption key (``0x`` hex), authentication algorithm,
authentication key. Lines starting with ``#`` are comments. Put the file in a Wireshark profile
directory, or give each line to tshark as ``-o uat:esp_sa:LINE`` with
``-o esp.enable_encryption_decode:TRUE -o esp.enable_authentication_check:TRUE``.

Only ESP SAs in the RFC 2406 format are listed: Wireshark reads no RFC 1829 ESP (4-byte IV, no
sequence number), and AH needs no keys to dissect (tshark does not check AH ICVs). Such SAs are
written as comments saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EspSaLine", "line_for", "line_from_event", "write_esp_sa", "ENCRYPTION", "AUTHENTICATION"]

ENCRYPTION = {"esp-des": "DES-CBC [RFC2405]"}
"""IOS ESP encryption transform -> Wireshark's name for the algorithm."""
AUTHENTICATION = {
    None: "NULL",
    "esp-md5-hmac": "HMAC-MD5-96 [RFC2403]",
    "esp-sha-hmac": "HMAC-SHA-1-96 [RFC2404]",
}
"""IOS ESP authentication transform (None: none) -> Wireshark's name for the algorithm."""


@dataclass(frozen=True)
class EspSaLine:
    """One SA as Wireshark wants it: traffic from ``src`` to ``dst`` with ``spi``."""

    src: str
    dst: str
    spi: int
    encryption: str
    encryption_key: bytes
    authentication: str | None
    authentication_key: bytes

    def text(self) -> str:
        """The UAT line (no newline)."""
        auth_key = "0x" + self.authentication_key.hex() if self.authentication_key else ""
        fields = (
            "IPv4",
            self.src,
            self.dst,
            f"0x{self.spi:08x}",
            ENCRYPTION[self.encryption],
            "0x" + self.encryption_key.hex(),
            AUTHENTICATION[self.authentication],
            auth_key,
        )
        return ",".join(f'"{f}"' for f in fields)


def line_for(sa: object) -> EspSaLine | str:
    """The :class:`EspSaLine` of an ESP SA (a :class:`host.ipsec.sa.SecurityAssociation`), or
    a comment (``str``) saying why Wireshark cannot use it. Inbound SAs carry traffic from their
    peer to their local address, outbound ones the other way."""
    transforms = tuple(getattr(sa, "transforms", ()))
    spi = getattr(sa, "spi", 0)
    inbound = getattr(sa, "inbound", False)
    src, dst = (sa.peer, sa.local) if inbound else (sa.local, sa.peer)  # type: ignore[attr-defined]
    cipher = next((t for t in transforms if t in ENCRYPTION or t == "esp-rfc1829"), None)
    if cipher is None:
        return f"# spi 0x{spi:08x} {src} -> {dst}: not an ESP SA ({' '.join(transforms)})"
    if cipher == "esp-rfc1829":
        return (
            f"# spi 0x{spi:08x} {src} -> {dst}: esp-rfc1829 (RFC 1829 format, no sequence "
            "number) is not readable by Wireshark"
        )
    auth = next((t for t in transforms if t in AUTHENTICATION), None)
    return EspSaLine(
        src,
        dst,
        spi,
        cipher,
        bytes(sa.cipher_key),
        auth,  # type: ignore[attr-defined]
        bytes(sa.auth_key) if auth else b"",
    )  # type: ignore[attr-defined]


def line_from_event(data: dict) -> EspSaLine | str:
    """The :class:`EspSaLine` of a router's ``sa_created`` event data (``protocol``, ``spi``,
    ``src``, ``dst``, ``transforms``, ``cipher_key``/``auth_key`` in hex), or a comment."""
    transforms = str(data.get("transforms", "")).split()
    spi, src, dst = int(data.get("spi", 0)), str(data.get("src")), str(data.get("dst"))
    if data.get("protocol") != "esp":
        return f"# spi 0x{spi:08x} {src} -> {dst}: not an ESP SA ({' '.join(transforms)})"
    cipher = next((t for t in transforms if t in ENCRYPTION), None)
    if cipher is None:
        return (
            f"# spi 0x{spi:08x} {src} -> {dst}: esp-rfc1829 (RFC 1829 format, no sequence "
            "number) is not readable by Wireshark"
        )
    auth = next((t for t in transforms if t in AUTHENTICATION), None)
    return EspSaLine(
        src,
        dst,
        spi,
        cipher,
        bytes.fromhex(str(data.get("cipher_key", ""))),
        auth,
        bytes.fromhex(str(data.get("auth_key", ""))) if auth else b"",
    )


def write_esp_sa(path: str | Path, entries: Iterable[object], header: str = "") -> list[EspSaLine]:
    """Write the ``esp_sa`` file: ``entries`` are :class:`EspSaLine`, comment strings, or SA
    objects (see :func:`line_for`); each line once, in the order given. ``header`` becomes
    comment lines at the top. Returns the SA lines written."""
    lines: list[str] = [f"# {h}" for h in header.splitlines()]
    written: list[EspSaLine] = []
    seen: set[str] = set()
    for item in entries:
        entry = item if isinstance(item, EspSaLine | str) else line_for(item)
        text = entry if isinstance(entry, str) else entry.text()
        if text in seen:
            continue
        seen.add(text)
        lines.append(text)
        if not isinstance(entry, str):
            written.append(entry)
    Path(path).write_text("\n".join(lines) + "\n")
    return written
