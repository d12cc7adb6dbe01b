"""The IPsec data plane's exec commands, registered in the exec command registry.

* ``show crypto ipsec sa [map NAME | address | identity] [detail]`` (:mod:`host.show.ipsec_sa`)
* ``clear crypto sa [peer {ADDRESS | NAME} | map NAME | entry DESTINATION {ah | esp} SPI | counters]``:
  delete SAs with their siblings; manual SAs are installed again from the current configuration;
  ``counters`` zeroes the traffic counters only (spec, ``clear crypto sa``). The spec lists the
  command under global configuration mode; IOS also takes it in privileged exec mode: both work.
* ``[no] debug crypto ipsec``: the IPsec debug messages (:mod:`host.show.ipsec_debug`), stamped
  with the router's clock, go to the router's log (and its ``log`` events).

The commands act on ``session.router`` when it is a :class:`host.router.Router`; on a router that
has only a configuration they answer ``% IPsec is not running on this router``.
"""

from __future__ import annotations

from typing import Any

from host.cli.cursor import IPV4, WORD, Arg, Cursor
from host.cli.registry import ExecRegistry
from host.ipsec.sa import Protocol
from host.show.ipsec_sa import show_ipsec_sa

__all__ = ["register"]

NOT_RUNNING = "% IPsec is not running on this router\n"


def _spi(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 1 << 32:
        raise ValueError("")
    return int(text)


SPI = Arg("<256-4294967295>", "Security Parameter Index", _spi)


def _router(s: Any) -> Any | None:
    router = s.router
    return router if hasattr(router, "databases") else None


def _show_sa(cur: Cursor, s: Any) -> None:
    map_name = None
    which = cur.maybe_keyword(
        {
            "map": "Crypto maps with a given tag",
            "address": "IPSEC SA table sorted by destination address",
            "identity": "IPSEC flow information only",
        }
    )
    if which == "map":
        map_name = cur.arg(WORD.described("Crypto map tag"))
    detail = cur.maybe_keyword({"detail": "detailed error counters"}) is not None
    cur.end()
    router = _router(s)
    if router is None:
        s.write(NOT_RUNNING)
        return
    s.write(
        show_ipsec_sa(
            router, map_name=map_name, address=which == "address", identity=which == "identity", detail=detail
        )
    )


def _clear_sa(cur: Cursor, s: Any) -> None:
    which = cur.maybe_keyword(
        {
            "peer": "Clear all SAs for a given crypto peer",
            "map": "Clear all SAs for a given crypto map",
            "entry": "Clear the SA with the given address/protocol/spi",
            "counters": "Reset the SA counters",
        }
    )
    kwargs: dict[str, Any] = {}
    if which == "peer":
        peer = cur.arg(WORD.described("IP address or peer name"))
        kwargs["peer"] = peer
    elif which == "map":
        kwargs["map_name"] = cur.arg(WORD.described("Crypto map tag"))
    elif which == "entry":
        dst = cur.arg(IPV4.described("Destination address"))
        proto = cur.keyword({"ah": "Authentication Header", "esp": "Encapsulating Security Payload"})
        spi = cur.arg(SPI)
        kwargs["entry"] = (str(dst), Protocol(proto), spi)
    cur.end()
    router = _router(s)
    if router is None:
        s.write(NOT_RUNNING)
        return
    if which == "counters":
        router.clear_counters()
        return
    if "peer" in kwargs:
        addr = router.config.resolve_peer(kwargs["peer"])
        if addr is None:
            s.write(f"% Unable to resolve peer name {kwargs['peer']}\n")
            return
        kwargs["peer"] = str(addr)
    router.clear_sas(**kwargs)


def _debug_ipsec(cur: Cursor, s: Any) -> None:
    cur.end()
    router = _router(s)
    if router is None:
        s.write(NOT_RUNNING)
        return
    router.debug_ipsec = not cur.negated
    s.write(f"Crypto IPSEC debugging is {'off' if cur.negated else 'on'}\n")


def register(reg: ExecRegistry) -> None:
    """Install the commands (called once by :func:`host.cli.registry.load_extensions`)."""
    reg.register("show crypto ipsec sa", _show_sa, "IPSEC SA table", user=True)
    reg.describe("clear", "Reset functions")
    reg.describe("clear crypto", "Clear crypto state")
    reg.register("clear crypto sa", _clear_sa, "Clear IPSEC security associations", config=True)
    reg.describe("debug", "Debugging functions (see also 'undebug')")
    reg.describe("debug crypto", "Cryptographic subsystem")
    reg.register("debug crypto ipsec", _debug_ipsec, "IPSEC processing", negatable=True)
