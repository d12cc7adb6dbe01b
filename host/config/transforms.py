"""The IPsec transforms of IOS 11.3T and the spec's Table 2 rules for combining them.

Table 2 ("Allowed Transform Combinations"): a transform set picks up to one AH transform, up to one
ESP encryption transform, and up to one ESP authentication transform - the last only if an ESP
encryption transform other than ``esp-rfc1829`` was picked. The parser refuses a word that breaks
these rules at that word, as IOS's parser does ("once you specify an AH transform it will not allow
you to specify another AH transform").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Role", "Transform", "TRANSFORMS", "check_combination", "canonical_order", "KEY_BYTES"]


class Role(enum.Enum):
    """The column of Table 2 a transform belongs to."""

    AH = "AH transform"
    ESP_ENCRYPTION = "ESP encryption transform"
    ESP_AUTHENTICATION = "ESP authentication transform"


@dataclass(frozen=True)
class Transform:
    """One transform: security protocol plus algorithm.

    ``algorithm`` names what the data plane runs: ``des-cbc`` (56-bit DES-CBC), ``hmac-md5-96``,
    ``hmac-sha1-96``, ``keyed-md5`` (RFC 1828)."""

    name: str
    role: Role
    algorithm: str
    help: str

    @property
    def protocol(self) -> str:
        """``ah`` or ``esp``."""
        return "ah" if self.role is Role.AH else "esp"


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("ah-md5-hmac", Role.AH, "hmac-md5-96", "AH-HMAC-MD5 transform"),
        Transform("ah-sha-hmac", Role.AH, "hmac-sha1-96", "AH-HMAC-SHA transform"),
        Transform("ah-rfc1828", Role.AH, "keyed-md5", "AH-MD5 transform (RFC1828)"),
        Transform("esp-des", Role.ESP_ENCRYPTION, "des-cbc", "ESP transform using DES cipher (56 bits)"),
        Transform("esp-rfc1829", Role.ESP_ENCRYPTION, "des-cbc", "ESP-DES-CBC transform (RFC1829)"),
        Transform(
            "esp-md5-hmac", Role.ESP_AUTHENTICATION, "hmac-md5-96", "ESP transform using HMAC-MD5 auth"
        ),
        Transform(
            "esp-sha-hmac", Role.ESP_AUTHENTICATION, "hmac-sha1-96", "ESP transform using HMAC-SHA auth"
        ),
    )
}
"""Every transform of Table 2, by IOS name."""

KEY_BYTES = {"des-cbc": 8, "hmac-md5-96": 16, "keyed-md5": 16, "hmac-sha1-96": 20}
"""Minimum manual session-key length per algorithm (spec, ``set session-key``): DES at least 8
bytes, MD5 at least 16, SHA 20; longer keys are truncated to this length when used."""

_ORDER = {Role.AH: 0, Role.ESP_ENCRYPTION: 1, Role.ESP_AUTHENTICATION: 2}


def check_combination(names: list[str], complete: bool = True) -> tuple[int, str] | None:
    """Check a transform list against Table 2.

    Returns None if allowed, else ``(index, reason)``: the first word that breaks a rule and why.
    With ``complete`` False the list may still grow (an ESP authentication transform may wait
    for its encryption transform)."""
    seen: dict[Role, str] = {}
    for i, name in enumerate(names):
        t = TRANSFORMS[name]
        if t.role in seen:
            return i, f"a transform set takes at most one {t.role.value} ({seen[t.role]} already given)"
        if t.role is Role.ESP_AUTHENTICATION and seen.get(Role.ESP_ENCRYPTION) == "esp-rfc1829":
            return i, "esp-rfc1829 does not allow an accompanying ESP authentication transform"
        if t.role is Role.ESP_ENCRYPTION and name == "esp-rfc1829" and Role.ESP_AUTHENTICATION in seen:
            return i, "esp-rfc1829 does not allow an accompanying ESP authentication transform"
        seen[t.role] = name
    if complete and Role.ESP_AUTHENTICATION in seen and Role.ESP_ENCRYPTION not in seen:
        index = names.index(seen[Role.ESP_AUTHENTICATION])
        return (
            index,
            "an ESP authentication transform needs an ESP encryption transform (other than esp-rfc1829)",
        )
    return None


def canonical_order(names: list[str]) -> tuple[str, ...]:
    """The transforms in the order IOS shows them: AH, ESP encryption, ESP authentication."""
    return tuple(sorted(names, key=lambda n: _ORDER[TRANSFORMS[n].role]))
