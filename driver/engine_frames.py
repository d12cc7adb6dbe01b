"""What a host driver writes into the HDL engine and reads back out, in API terms.

The HDL backends (the Amaranth simulation in process, the co-simulated Verilog) all talk to the
same engine ports; this module turns API values into the words of those ports and back:

- :func:`context_bits` / :func:`context_write`: an :class:`~driver.api.SAParams` as the
  :data:`~hdl.layouts.SAContext` the engine keeps (DES key, HMAC chaining values precomputed by
  :mod:`driver.hash_state`; the engine never sees an authentication key), and one beat of the
  ``contexts`` stream that writes it. :data:`INVALID_CONTEXT` invalidates a conn id.
- :func:`job_words`: a :class:`~driver.api.Job` as ``jobs`` stream words under a hardware tag,
  with malformed jobs refused as :class:`~driver.api.EngineError` (the software engine's rules).
- :func:`frame_result`: a parsed result frame as the :class:`~driver.api.Result` the API returns
  (the ICV truncated to the SA's length).
- :func:`simulation_counters`: the engine's ``perf`` vector and a simulator's speed as the
  ``stats.extra`` counters every HDL backend reports.

Bit positions stay in :mod:`hdl.layouts`; nothing here knows one.
"""

from __future__ import annotations

from hdl.layouts import (
    Auth,
    Cipher,
    ContextWrite,
    PerfCounters,
    ResultFrame,
    SAContext,
    pack_context,
    pack_job,
)

from .api import EngineError, Job, Result, SAParams, truncate_icv
from .hash_state import hmac_states, keyed_md5_state

__all__ = ["context_bits", "context_write", "INVALID_CONTEXT", "job_words", "frame_result", "TAG_SPACE"]

TAG_SPACE = 1 << 16
"""Distinct hardware tags (the job header's 16-bit field)."""


def context_bits(sa: SAParams) -> int:
    """The :data:`~hdl.layouts.SAContext` bits of ``sa``: the DES key and the HMAC inner/outer
    chaining values (for RFC 1828 keyed MD5: the chaining value after key+keyfill, and the key)."""
    inner = outer = b""
    if sa.auth is Auth.KEYED_MD5:
        inner, outer = keyed_md5_state(sa.auth_key)
    elif sa.auth is not Auth.NONE:
        inner, outer = hmac_states(sa.auth, sa.auth_key)
    return pack_context(
        inbound=sa.inbound,
        cipher=sa.cipher,
        auth=sa.auth,
        des_key=sa.des_key or bytes(8),
        inner=inner,
        outer=outer,
    )


INVALID_CONTEXT = pack_context(inbound=False, cipher=Cipher.NONE, auth=Auth.NONE, valid=False)
"""A context with ``valid`` clear: writing it empties a conn id (its jobs complete BAD_CONN)."""


def context_write(conn_id: int, context: int) -> int:
    """The ``contexts`` stream payload (:data:`~hdl.layouts.ContextWrite`) that writes
    ``context`` into conn id ``conn_id``."""
    beat = ContextWrite.const({"conn_id": conn_id, "context": SAContext.from_bits(context)})
    return beat.as_value().value


def job_words(job: Job, hw_tag: int) -> tuple[int, ...]:
    """The ``jobs`` stream words of ``job``, carrying ``hw_tag`` instead of the job's own tag.

    Raises :class:`EngineError` for a job the API refuses: an API tag or conn id beyond 16 bits,
    a missing or misplaced IV or expected ICV, regions of 64 KiB or more.
    """
    if not 0 <= job.tag < TAG_SPACE:
        raise EngineError("conn_id and tag must fit in 16 bits")
    try:
        return pack_job(job.op, job.conn_id, hw_tag, job.auth_data, job.cipher_data, job.iv, job.icv).words
    except ValueError as e:
        raise EngineError(str(e)) from None


def frame_result(frame: ResultFrame, job: Job, auth: Auth) -> Result:
    """The API result of ``job`` from its result ``frame``; ``auth``: the authenticator of the
    job's SA when it was submitted (the ICV is truncated to its length)."""
    return Result(job.tag, frame.conn_id, frame.status, frame.data, truncate_icv(auth, frame.icv))


PERF_FIELDS = tuple((name, field.offset, (1 << field.width) - 1) for name, field in PerfCounters)
"""(name, bit offset, mask) of each performance counter in the ``perf`` vector."""


def simulation_counters(perf: int, cycles: int, seconds: float) -> dict[str, int]:
    """``stats.extra`` of an HDL backend: each :data:`~hdl.layouts.PerfCounters` field of the
    engine's ``perf`` vector, the wall time spent simulating (``sim_ms``) and the simulated
    cycles per second of it (``cycles_per_s``) for ``cycles`` clocked in ``seconds``."""
    extra = {name: (perf >> offset) & mask for name, offset, mask in PERF_FIELDS}
    extra["sim_ms"] = int(seconds * 1000)
    extra["cycles_per_s"] = int(cycles / seconds) if seconds else 0
    return extra
