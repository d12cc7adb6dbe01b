"""Cycle measurements of the engine top (hdl.engine.Engine) in Amaranth's simulator.

Each workload installs its SAs, streams its jobs into the engine as fast as the engine takes them
(``jobs.valid`` always high) and takes results as fast as they come (``results.ready`` always
high), and counts clock cycles. Two figures per workload:

``bytes_per_cycle``
    payload bytes of all jobs / cycles from the first job word taken to the last result word
    sent (everything included: filling and draining the engine).
``steady_bytes_per_cycle``
    payload bytes of the results completed between the first and the last quarter of the jobs,
    / the cycles between those two completions: the rate with the engine full.

Payload bytes are the ciphered bytes for ciphering jobs and the authenticated bytes for
authenticate-only jobs. Results are checked for status OK (the figures of a run that failed
jobs would mean nothing); correctness against reference libraries is the tests' business.

Call :func:`measure` or :func:`run_workloads` (the HDL flow's ``esa hdl bench`` does), or run
``python -m sim.engine_measure [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import asdict, dataclass, replace

from amaranth.sim import Simulator

from hdl.engine import DEFAULTS, Engine
from hdl.layouts import (
    Auth,
    Cipher,
    ContextWrite,
    Op,
    Status,
    StreamWord,
    pack_context,
    pack_job,
    parse_result,
)

__all__ = ["Workload", "Measurement", "WORKLOADS", "measure", "run_workloads", "main"]


@dataclass(frozen=True)
class Workload:
    """A set of identical-shape jobs spread over ``sas`` SAs.

    ``op``: the job op. ``cipher_bytes`` / ``auth_bytes``: each job's ciphered and auth-only
    region. ``jobs``: how many jobs. ``sas``: distinct SAs (conn ids) the jobs go round.
    ``auth``: the SAs' authenticator. ``params``: Engine parameters over the defaults.
    """

    name: str
    op: Op
    cipher_bytes: int
    auth_bytes: int
    jobs: int
    sas: int
    auth: Auth = Auth.NONE
    params: tuple = ()


@dataclass
class Measurement:
    """The figures of one workload run (see the module docstring)."""

    workload: str
    bytes: int
    sas: int
    jobs: int
    cycles: int
    bytes_per_cycle: float
    blocks_per_cycle: float
    steady_bytes_per_cycle: float
    steady_blocks_per_cycle: float
    cipher_blocks_per_cycle: float
    params: dict


WORKLOADS = [
    Workload("cbc-encrypt-1400B-32sa", Op.ENCRYPT, 1400, 0, jobs=64, sas=32),
    Workload("cbc-decrypt-1400B-1sa", Op.DECRYPT, 1400, 0, jobs=8, sas=1),
    Workload("cbc-decrypt-1400B-1job", Op.DECRYPT, 1400, 0, jobs=1, sas=1),
    Workload(
        "esp-des-sha1-out-1400B-32sa", Op.ENCRYPT_AUTH, 1400, 16, jobs=64, sas=32, auth=Auth.HMAC_SHA1_96
    ),
    Workload(
        "esp-des-sha1-out-1400B-32sa-16hash",
        Op.ENCRYPT_AUTH,
        1400,
        16,
        jobs=96,
        sas=32,
        auth=Auth.HMAC_SHA1_96,
        params=(("hash_lanes", 16), ("slots", 48)),
    ),
]
"""The target workloads of the engine (issue: CBC decrypt >= 0.95 blocks/cycle for one SA,
CBC encrypt >= 0.9 blocks/cycle with 16+ SAs, ESP des+sha1 outbound >= 4 bytes/cycle with 16+
SAs in the default configuration, and a configuration that approaches 8 bytes/cycle)."""


def _jobs_and_contexts(w: Workload, rng: random.Random):
    inbound = bool(w.op.value & 0b100)
    contexts = []
    for conn in range(w.sas):
        inner = rng.randbytes(20) if w.auth is not Auth.NONE else b""
        outer = rng.randbytes(20) if w.auth is not Auth.NONE else b""
        contexts.append(
            (
                conn,
                pack_context(
                    inbound=inbound,
                    cipher=Cipher.DES_CBC if w.op.value & 1 else Cipher.NONE,
                    auth=w.auth,
                    des_key=rng.randbytes(8),
                    inner=inner,
                    outer=outer,
                ),
            )
        )
    jobs = []
    for tag in range(w.jobs):
        ciphers = bool(w.op.value & 1)
        icv = rng.randbytes(12) if inbound and w.op.value & 2 else None
        jobs.append(
            pack_job(
                w.op,
                tag % w.sas,
                tag,
                rng.randbytes(w.auth_bytes),
                rng.randbytes(w.cipher_bytes),
                iv=rng.randbytes(8) if ciphers else None,
                icv=icv,
            ).words
        )
    return contexts, jobs


def measure(w: Workload, seed: int = 1) -> Measurement:
    """Simulate workload ``w`` and return its figures."""
    params = {**DEFAULTS, **dict(w.params)}
    dut = Engine(**params)
    contexts, jobs = _jobs_and_contexts(w, random.Random(seed))
    payload = w.cipher_bytes if w.op.value & 1 else w.auth_bytes
    state = {"cycle": 0, "start": None, "done_at": [], "statuses": [], "des": [None, None, 0]}

    async def clock(ctx):
        des = state["des"]
        while True:
            _, _, blocks = await ctx.tick().sample(dut.perf.des_blocks)
            state["cycle"] += 1
            if blocks != des[2]:
                des[0] = state["cycle"] if des[0] is None else des[0]
                des[1], des[2] = state["cycle"], blocks

    async def driver(ctx):
        cs = dut.contexts
        for conn, bits in contexts:
            ctx.set(cs.payload, ContextWrite.from_bits(conn | (bits << 16)))
            ctx.set(cs.valid, 1)
            await ctx.tick()
        ctx.set(cs.valid, 0)
        js = dut.jobs
        ctx.set(js.valid, 1)
        for words in jobs:
            for i, word in enumerate(words):
                ctx.set(js.payload, StreamWord.const({"data": word, "last": int(i == len(words) - 1)}))
                while True:
                    _, _, ready = await ctx.tick().sample(js.ready)
                    if ready:
                        break
                if state["start"] is None:
                    state["start"] = state["cycle"]
        ctx.set(js.valid, 0)

    async def collector(ctx):
        rs = dut.results
        ctx.set(rs.ready, 1)
        frame = []
        while len(state["done_at"]) < len(jobs):
            _, _, valid, data, last = await ctx.tick().sample(rs.valid, rs.payload.data, rs.payload.last)
            if valid:
                frame.append(data)
                if last:
                    state["statuses"].append(parse_result(frame).status)
                    state["done_at"].append(state["cycle"])
                    frame = []

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(clock, background=True)
    sim.add_testbench(driver)
    sim.add_testbench(collector)
    sim.run()
    bad = [s for s in state["statuses"] if s is not Status.OK]
    if bad:
        raise RuntimeError(f"{w.name}: {len(bad)} jobs failed ({bad[0].name}); figures withheld")
    total = payload * len(jobs)
    cycles = state["done_at"][-1] - state["start"] + 1
    q1, q3 = len(jobs) // 4, len(jobs) - 1 - len(jobs) // 4
    if q3 > q1:
        steady = payload * (q3 - q1) / max(1, state["done_at"][q3] - state["done_at"][q1])
    else:  # too few jobs for a steady state: the whole run
        steady = total / cycles
    first, last, blocks = state["des"]
    cipher_rate = round(blocks / (last - first + 1), 3) if blocks else 0.0
    return Measurement(
        workload=w.name,
        bytes=total,
        sas=w.sas,
        jobs=len(jobs),
        cycles=cycles,
        bytes_per_cycle=round(total / cycles, 3),
        blocks_per_cycle=round(total / cycles / 8, 3),
        steady_bytes_per_cycle=round(steady, 3),
        steady_blocks_per_cycle=round(steady / 8, 3),
        cipher_blocks_per_cycle=cipher_rate,
        params=params,
    )


def run_workloads(names: list[str] | None = None, quick: bool = False) -> list[Measurement]:
    """Measure the named workloads (default: all); ``quick`` runs a quarter of the jobs."""
    out = []
    for w in WORKLOADS:
        if names and w.name not in names:
            continue
        if quick:
            w = replace(w, jobs=min(w.jobs, max(w.sas, w.jobs // 4, 4)))
        out.append(measure(w))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.engine_measure", description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="one JSON object per line")
    ap.add_argument("--quick", action="store_true", help="fewer jobs per workload")
    ap.add_argument("workloads", nargs="*", help=f"any of: {', '.join(w.name for w in WORKLOADS)}")
    args = ap.parse_args(argv)
    for m in run_workloads(args.workloads or None, args.quick):
        if args.json:
            print(json.dumps(asdict(m)), flush=True)
        else:
            print(
                f"{m.workload:40s} {m.bytes:8d} B {m.cycles:7d} cycles {m.bytes_per_cycle:6.3f} B/cycle "
                f"({m.blocks_per_cycle:.3f} blocks/cycle); steady {m.steady_bytes_per_cycle:.3f} B/cycle; "
                f"cipher {m.cipher_blocks_per_cycle:.3f} blocks/cycle",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
