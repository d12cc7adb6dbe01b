"""``show crypto engine connections active`` and ``show crypto engine configuration``.

Neither command is in the 11.3T spec; both follow later IOS (RESEARCH.md) with these choices:

``connections active`` (the 12.x layout)::

      ID Interface     IP-Address      State  Algorithm             Encrypt  Decrypt
    2000 Ethernet0/0   13.1.1.3        set    HMAC_SHA+DES_56_CB          0      114

* One row per installed SA (each direction and protocol is one conn id), sorted by conn id; the
  ID is the conn id the driver gave (the one ``show crypto ipsec sa`` prints). There is no IKE
  SA row: IKE does not exist yet.
* Interface: the interface whose SA database holds the SA; for a crypto map set with a
  ``local-address`` (one database shared by several interfaces) the local-address interface.
  IP-Address: the SA's local crypto endpoint (that interface's address). State: ``set``.
* Algorithm: IOS's names: ``DES_56_CB`` for DES-CBC (``esp-des`` and ``esp-rfc1829``),
  ``HMAC_SHA`` / ``HMAC_MD5`` for the HMAC-96 authenticators of ESP or AH, joined with ``+``
  (``HMAC_SHA+DES_56_CB``); ``KEYED_MD5`` (our name) for ``ah-rfc1828``.
* Encrypt / Decrypt: the crypto engine's per-conn-id counters (jobs that completed OK), so an
  outbound SA counts only Encrypt and an inbound one only Decrypt.

``configuration``: one block per crypto engine, the accelerator first and then the software
engine of slot 0 that backs it (a router on the software engine alone shows that one), labels
right-aligned on the colon as IOS prints ``crypto engine name:`` and the like:
name, type (``hardware``/``software``), state (``installed``, or ``failed`` with the reason on
the next line), slot, platform, contexts in use of the maximum, queue depth and jobs in flight,
jobs completed, ``ppq full`` (submits the engine's full queue cut short, the VAM counter's name)
and the jobs dropped for it, SAs sent to software for lack of a context (``fallbacks``) and
failures that moved all SAs to software (``failovers``), then the backend's own figures
(simulated ``cycles`` and the like).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from driver.api import Auth, Cipher, EngineError
from driver.manager import engine_slots
from host.ipsec.sa import SecurityAssociation

if TYPE_CHECKING:
    from host.router import Router

__all__ = ["connections_active", "engine_configuration", "connection_row", "algorithm_name", "HEADER"]

HEADER = "  ID Interface     IP-Address      State  Algorithm             Encrypt  Decrypt"
"""The column header of ``show crypto engine connections active`` (IOS 12.x)."""

_AUTH = {Auth.HMAC_SHA1_96: "HMAC_SHA", Auth.HMAC_MD5_96: "HMAC_MD5", Auth.KEYED_MD5: "KEYED_MD5"}


def algorithm_name(sa: SecurityAssociation) -> str:
    """IOS's name of an SA's algorithms (``HMAC_SHA+DES_56_CB``, ``HMAC_MD5``, ``DES_56_CB``)."""
    parts = []
    if sa.auth in _AUTH:
        parts.append(_AUTH[sa.auth])
    if sa.cipher is Cipher.DES_CBC:
        parts.append("DES_56_CB")
    return "+".join(parts)


def connection_row(
    conn_id: int, interface: str, address: str, state: str, algorithm: str, encrypt: int, decrypt: int
) -> str:
    """One row, in the columns of :data:`HEADER` (a long field pushes the rest right by the
    overflow, keeping one space)."""
    return f"{conn_id:>4} {interface:<13} {address:<15} {state:<6} {algorithm:<21} {encrypt:>7}  {decrypt:>7}"


def _interface_of(router: Router, db: Any) -> str:
    if db.name.startswith("map "):
        cmap = router.config.crypto_maps.get(db.name[4:])
        if cmap is not None and cmap.local_address:
            return cmap.local_address
    return db.interfaces[0] if db.interfaces else db.name


def connections_active(router: Router) -> str:
    """The text of ``show crypto engine connections active``."""
    rows = []
    for db in router.databases.values():
        iface = _interface_of(router, db)
        for bundle in db:
            for sa in bundle.sas:
                if sa.engine is None or sa.conn_id is None:
                    continue
                try:
                    c = sa.engine.counters(sa.conn_id)
                    enc, dec = (0, c.decrypted) if sa.inbound else (c.encrypted, 0)
                except EngineError:
                    enc = dec = 0
                rows.append(
                    (
                        sa.conn_id,
                        connection_row(sa.conn_id, iface, sa.local, "set", algorithm_name(sa), enc, dec),
                    )
                )
    rows.sort()
    return "\n" + HEADER + "\n" + "".join(row + "\n" for _, row in rows)


def _line(label: str, value: object) -> str:
    return f"{label:>30}:  {value}\n"


def engine_configuration(router: Router) -> str:
    """The text of ``show crypto engine configuration``."""
    out = []
    for info in engine_slots(router.engine):
        out.append("\n")
        software = info.slot == 0
        out.append(_line("crypto engine name", info.name))
        out.append(_line("crypto engine type", "software" if software else "hardware"))
        out.append(_line("crypto engine state", "installed" if info.state == "up" else "failed"))
        if info.fault:
            out.append(_line("failure reason", info.fault))
        out.append(_line("crypto engine in slot", info.slot))
        platform = (
            "Cisco Software Crypto Engine"
            if software
            else f"ESA-class IPsec accelerator ({info.name} backend)"
        )
        out.append(_line("platform", platform))
        out.append(_line("connections in use", f"{info.conns} of {info.max_conns}"))
        out.append(_line("queue depth", info.queue_depth))
        out.append(_line("jobs in flight", info.pending))
        out.append(_line("jobs completed", info.jobs))
        out.append(_line("ppq full errors", info.ppq_full))
        out.append(_line("ppq full drops", info.dropped))
        if not software:
            out.append(_line("fallbacks to software", info.fallbacks))
            out.append(_line("failovers to software", info.failovers))
        for name, value in sorted(info.counters.items()):
            out.append(_line(name.replace("_", " "), value))
    return "".join(out)


NOT_RUNNING = "% Crypto engine is not running on this router\n"


def _router(session: Any) -> Any | None:
    router = session.router
    return router if hasattr(router, "databases") and hasattr(router, "engine") else None


def _show_connections(cur: Any, session: Any) -> None:
    cur.keyword({"active": "Show only active connections"})
    cur.end()
    router = _router(session)
    session.write(NOT_RUNNING if router is None else connections_active(router))


def _show_configuration(cur: Any, session: Any) -> None:
    cur.end()
    router = _router(session)
    session.write(NOT_RUNNING if router is None else engine_configuration(router))


def register(reg: Any) -> None:
    """Install the commands (called once by :func:`host.cli.registry.load_extensions`)."""
    reg.register(
        "show crypto engine connections", _show_connections, "Show connection information", user=True
    )
    reg.register(
        "show crypto engine configuration", _show_configuration, "Show crypto engine configuration", user=True
    )
    reg.describe("show crypto engine", "Show crypto engine info")
