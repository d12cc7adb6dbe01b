"""The crypto engine top: SA contexts, job and result streams, the CBC unit and the HMAC lanes.

:class:`Engine` is :class:`~hdl.engine_core.EngineCore` (contexts, intake, slots, scheduling,
result framing, counters) with its cipher port on a :class:`~hdl.cbc.CBCUnit` and its hash port on
an :class:`~hdl.hmac.HMACPool`, through :mod:`hdl.cipher_adapter` and :mod:`hdl.hash_adapter`.

ESP in one pass: an outbound job (``ENCRYPT_AUTH``) encrypts into the output buffer and then
MACs the auth-only prefix and the ciphertext (encrypt-then-MAC); an inbound job
(``VERIFY_DECRYPT``) MACs the prefix and the received ciphertext while it decrypts, and its
plaintext leaves only if the ICV matched. ``AUTH`` / ``VERIFY`` jobs only MAC; ``ENCRYPT`` /
``DECRYPT`` jobs only cipher. Up to ``slots`` jobs are inside at once, ``cbc_lanes`` of them in
the cipher and ``hash_lanes`` in the MAC; results leave as jobs finish, possibly out of order.

A job uses its SA context as it was when the job's first word arrived: rewriting or invalidating
a context affects the jobs that arrive afterwards, not those already inside.
"""

from __future__ import annotations

from collections.abc import Mapping

from amaranth.hdl import Elaboratable, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .cbc import CBCUnit
from .cipher_adapter import CipherAdapter
from .engine_core import EngineCore
from .hash_adapter import HashAdapter
from .hmac import HMACPool
from .layouts import ContextWrite, PerfCounters, StreamWord

__all__ = ["Engine", "DEFAULTS", "check_parameters"]

DEFAULTS = {
    "conns": 1024,
    "des_stages": 16,
    "cbc_lanes": 16,
    "hash_lanes": 8,
    "md5_lanes": None,
    "slots": 32,
    "max_job_bytes": 2048,
    "hash_fifo_depth": 8,
}
"""The default configuration (the one the ECP5-85F figures are for)."""


def check_parameters(params: Mapping[str, object]) -> None:
    """Raise ``TypeError`` for a name that is not an :class:`Engine` parameter, ``ValueError`` for
    an ``md5_lanes`` that is not None or at least 1 (a lane without MD5 would complete an MD5 job
    with an error the engine has no status for). Callers that take parameters from users call it
    before constructing (an Amaranth elaboratable that is built and never elaborated warns when it
    is collected, even if its constructor raised); the units check their own values."""
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown Engine parameter(s): {', '.join(sorted(unknown))}")
    md5_lanes = params.get("md5_lanes")
    if md5_lanes is not None and (not isinstance(md5_lanes, int) or md5_lanes < 1):
        raise ValueError(f"md5_lanes must be None or at least 1, not {md5_lanes!r}")


class Engine(wiring.Component):
    """The IPsec crypto engine.

    Parameters
    ----------
    conns : SA context slots in block RAM, addressed by conn id (0 .. conns-1).
    des_stages : DES round units in the pipeline (16: one block per cycle; see hdl.des).
    cbc_lanes : CBC jobs in flight, each with its own chaining register.
    hash_lanes : HMAC lanes (MD5/SHA-1 cores), i.e. MACs computed at once.
    md5_lanes : how many of the HMAC lanes also have an MD5 core (None, or more than
        ``hash_lanes``: all); at least 1. The others run only HMAC-SHA1-96: MD5 jobs wait for an
        MD5 lane, SHA-1 jobs take the SHA-1-only lanes first.
    slots : jobs held inside the engine at once (parsed, in work, or being sent).
    max_job_bytes : the largest ``auth_len + cipher_len`` accepted (a power of two times 8);
        a longer job completes with ``BAD_LENGTH``.
    hash_fifo_depth : words of buffer in front of each hash lane.

    Ports
    -----
    jobs : In(stream of StreamWord)
        Job frames (:mod:`hdl.layouts`). Back-pressure while all slots are taken.
    results : Out(stream of StreamWord)
        Result frames, each as soon as its job finished; any back-pressure is honoured.
    contexts : In(stream of ContextWrite)
        SA context writes (always ready). ``valid`` = 0 invalidates the conn id.
    perf : Out(PerfCounters)
        Free-running performance counters.
    """

    def __init__(self, **params) -> None:
        check_parameters(params)
        self.params = {**DEFAULTS, **params}
        p = self.params
        self.core = EngineCore(conns=p["conns"], slots=p["slots"], max_job_bytes=p["max_job_bytes"])
        self.cbc = CBCUnit(stages=p["des_stages"], lanes=p["cbc_lanes"])
        self.pool = HMACPool(
            lanes=p["hash_lanes"],
            md5_lanes=None if p["md5_lanes"] is None else min(p["md5_lanes"], p["hash_lanes"]),
            fifo_depth=p["hash_fifo_depth"],
        )
        super().__init__(
            {
                "jobs": In(stream.Signature(StreamWord)),
                "results": Out(stream.Signature(StreamWord)),
                "contexts": In(stream.Signature(ContextWrite)),
                "perf": Out(PerfCounters),
            }
        )

    def parameters(self) -> dict:
        """The engine's parameters, for the export JSON."""
        return dict(self.params)

    def elaborate(self, platform) -> Elaboratable:
        m = Module()
        core, p = self.core, self.params
        m.submodules.core = core
        m.submodules.cbc = self.cbc
        m.submodules.pool = self.pool
        m.submodules.cipher = cipher = CipherAdapter(
            slot_bits=core.slot_bits, idx_bits=core.idx_bits, lanes=p["cbc_lanes"]
        )
        m.submodules.hash = hash_ = HashAdapter(
            slot_bits=core.slot_bits, idx_bits=core.idx_bits, lanes=p["hash_lanes"]
        )
        wiring.connect(m, wiring.flipped(self.jobs), core.jobs)
        wiring.connect(m, core.results, wiring.flipped(self.results))
        wiring.connect(m, wiring.flipped(self.contexts), core.contexts)
        m.d.comb += self.perf.eq(core.perf)
        wiring.connect(m, core.cipher, cipher.core)
        wiring.connect(m, cipher.cbc_start, self.cbc.start)
        wiring.connect(m, cipher.cbc_i, self.cbc.i)
        wiring.connect(m, self.cbc.o, cipher.cbc_o)
        wiring.connect(m, core.hash, hash_.core)
        wiring.connect(m, hash_.pool_jobs, self.pool.jobs)
        wiring.connect(m, hash_.pool_data, self.pool.data)
        wiring.connect(m, self.pool.results, hash_.pool_results)
        return m
