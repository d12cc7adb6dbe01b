"""`esa hdl bench`: cycle figures of the engine on the workloads of the engine issue.

Each workload installs its SAs, queues all its jobs in the co-simulation testbench
(:mod:`driver.cosim`), and lets the engine run them back to back at full rate (no back-pressure);
every result is checked against the reference model (OpenSSL, hashlib/hmac). ``cycles`` counts
from the cycle the engine took the first job word to the cycle it handed out the last result
word, so pipeline fill and drain are included; ``steady_bytes_per_cycle`` is the rate with the
engine full (see :func:`steady_rate`). Bytes are the jobs' data bytes (auth-only plus ciphered).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from driver.api import Auth, Cipher, Job, Op, SAParams
from driver.cosim.build import Progress, build
from driver.cosim.transport import CosimProcess
from driver.cosim.verilog import build_engine, engine_parameters, engine_verilog, port_info
from driver.engine_frames import context_bits, context_write
from hdl.layouts import pack_job, parse_result

from .cocotb_benches.model import des_cbc, expect

ESP_PACKET = 1400
"""Bytes of an outbound ESP packet's authenticated region (SPI, seq, IV, ciphertext)."""


@dataclass(frozen=True)
class Workload:
    """A named set of SAs and jobs."""

    name: str
    description: str
    sas: list[SAParams]
    jobs: list[Job]
    """Conn ids in the jobs are indices into ``sas`` plus one."""


def _esp_job(rng: random.Random, conn: int, tag: int, op: Op, sa: SAParams, size: int) -> Job:
    iv = rng.randbytes(8)
    header = rng.randbytes(8) + iv  # SPI, sequence number, then the IV: authenticated only
    body = rng.randbytes(size - len(header))
    if op is Op.VERIFY_DECRYPT:
        ct = des_cbc(sa.des_key, iv, body, decrypt=False)
        icv = expect(
            SAParams(inbound=False, cipher=sa.cipher, auth=sa.auth, des_key=sa.des_key, auth_key=sa.auth_key),
            Job(Op.ENCRYPT_AUTH, conn, tag, header, body, iv),
        ).icv
        return Job(op, conn, tag, auth_data=header, cipher_data=ct, iv=iv, icv=icv)
    return Job(op, conn, tag, auth_data=header, cipher_data=body, iv=iv)


def _sa(rng: random.Random, inbound: bool, cipher: Cipher, auth: Auth) -> SAParams:
    key_len = {Auth.NONE: 0, Auth.HMAC_MD5_96: 16, Auth.HMAC_SHA1_96: 20, Auth.KEYED_MD5: 16}[auth]
    return SAParams(
        inbound=inbound,
        cipher=cipher,
        auth=auth,
        des_key=rng.randbytes(8) if cipher is Cipher.DES_CBC else b"",
        auth_key=rng.randbytes(key_len),
    )


def _make(
    name: str,
    description: str,
    n_sas: int,
    jobs_per_sa: int,
    op: Op,
    cipher: Cipher,
    auth: Auth,
    size: int,
    seed: int,
) -> Workload:
    rng = random.Random(seed)
    inbound = bool(op.value & 0b100)
    sas = [_sa(rng, inbound, cipher, auth) for _ in range(n_sas)]
    jobs = []
    for k in range(jobs_per_sa):
        for i, sa in enumerate(sas):
            conn, tag = i + 1, k * n_sas + i
            if op in (Op.ENCRYPT, Op.DECRYPT):
                jobs.append(Job(op, conn, tag, cipher_data=rng.randbytes(size), iv=rng.randbytes(8)))
            elif op is Op.AUTH:
                jobs.append(Job(op, conn, tag, auth_data=rng.randbytes(size)))
            else:
                jobs.append(_esp_job(rng, conn, tag, op, sa, size))
    return Workload(name, description, sas, jobs)


WORKLOADS: dict[str, Callable[[int], Workload]] = {
    "cbc-decrypt": lambda per_sa: _make(
        "cbc-decrypt",
        "DES-CBC decrypt of one 1400-byte job",
        1,
        1,
        Op.DECRYPT,
        Cipher.DES_CBC,
        Auth.NONE,
        1400,
        1,
    ),
    "cbc-decrypt-stream": lambda per_sa: _make(
        "cbc-decrypt-stream",
        "DES-CBC decrypt, 1400-byte jobs of one SA back to back",
        1,
        4 * per_sa,
        Op.DECRYPT,
        Cipher.DES_CBC,
        Auth.NONE,
        1400,
        7,
    ),
    "cbc-encrypt-16sa": lambda per_sa: _make(
        "cbc-encrypt-16sa",
        "DES-CBC encrypt, 1400-byte jobs of 16 SAs in flight",
        16,
        per_sa,
        Op.ENCRYPT,
        Cipher.DES_CBC,
        Auth.NONE,
        1400,
        2,
    ),
    "esp-des-sha-out": lambda per_sa: _make(
        "esp-des-sha-out",
        "ESP esp-des + esp-sha-hmac outbound, 1400-byte packets, 16 SAs",
        16,
        per_sa,
        Op.ENCRYPT_AUTH,
        Cipher.DES_CBC,
        Auth.HMAC_SHA1_96,
        ESP_PACKET,
        3,
    ),
    "esp-des-md5-out": lambda per_sa: _make(
        "esp-des-md5-out",
        "ESP esp-des + esp-md5-hmac outbound, 1400-byte packets, 16 SAs",
        16,
        per_sa,
        Op.ENCRYPT_AUTH,
        Cipher.DES_CBC,
        Auth.HMAC_MD5_96,
        ESP_PACKET,
        4,
    ),
    "ah-sha": lambda per_sa: _make(
        "ah-sha",
        "AH ah-sha-hmac, 1400-byte datagrams, 16 SAs",
        16,
        per_sa,
        Op.AUTH,
        Cipher.NONE,
        Auth.HMAC_SHA1_96,
        ESP_PACKET,
        5,
    ),
    "esp-des-sha-in": lambda per_sa: _make(
        "esp-des-sha-in",
        "ESP inbound verify + decrypt, esp-des + esp-sha-hmac, 1400 B, 16 SAs",
        16,
        per_sa,
        Op.VERIFY_DECRYPT,
        Cipher.DES_CBC,
        Auth.HMAC_SHA1_96,
        ESP_PACKET,
        6,
    ),
}
"""The workloads by name; the argument is jobs per SA (the single-job workload ignores it)."""


def run_workload(proc: CosimProcess, w: Workload, conn_base: int, max_cycles: int) -> dict[str, object]:
    """Install ``w``'s SAs at conn ids ``conn_base + i``, run its jobs, check every result."""
    sas = {conn_base + i: sa for i, sa in enumerate(w.sas)}
    for conn, sa in sas.items():
        proc.write_context(context_write(conn, context_bits(sa)))
    jobs = [
        Job(j.op, j.conn_id - 1 + conn_base, j.tag, j.auth_data, j.cipher_data, j.iv, j.icv) for j in w.jobs
    ]
    for j in jobs:
        proc.queue_job(pack_job(j.op, j.conn_id, j.tag, j.auth_data, j.cipher_data, j.iv, j.icv).words)
    wall = time.monotonic()
    report = proc.run(max_cycles)
    wall = time.monotonic() - wall
    by_tag = {j.tag: j for j in jobs}
    errors = 0
    completions: list[tuple[int, int]] = []
    for cycle, words in report.results:
        frame = parse_result(words)
        job = by_tag.pop(frame.tag, None)
        if job is None:
            errors += 1
            continue
        completions.append((cycle, job.length))
        want = expect(sas.get(job.conn_id), job)
        got_icv = None if frame.icv is None or want.icv is None else frame.icv[: len(want.icv)]
        if (frame.status, frame.data, got_icv) != (want.status, want.data, want.icv) or (
            frame.icv is None
        ) != (want.icv is None):
            errors += 1
    errors += len(by_tag)  # jobs without a result
    n_bytes = sum(j.length for j in jobs)
    cycles = report.last_out - report.first_in + 1 if report.results else 0
    first_result = min((c for c, _ in report.results), default=0)
    return {
        "workload": w.name,
        "description": w.description,
        "jobs": len(jobs),
        "sas": len(w.sas),
        "bytes": n_bytes,
        "cycles": cycles,
        "bytes_per_cycle": round(n_bytes / cycles, 3) if cycles else 0.0,
        "blocks_per_cycle": round(n_bytes / 8 / cycles, 3) if cycles else 0.0,
        "output_cycles": report.last_out - first_result + 1 if report.results else 0,
        "steady_bytes_per_cycle": steady_rate(completions),
        "errors": errors,
        "sim_seconds": round(wall, 3),
        "sim_cycles_per_second": round(report.cycles / wall) if wall > 0 else 0,
    }


def steady_rate(completions: list[tuple[int, int]]) -> float:
    """Bytes per cycle with the engine full: the bytes of the jobs that completed after the first
    quarter and up to the third quarter of completions, over the cycles between those two
    (the definition of :mod:`sim.engine_measure`); 0.0 with fewer than 4 jobs."""
    done = sorted(completions)
    if len(done) < 4:
        return 0.0
    i1, i3 = len(done) // 4, (3 * len(done)) // 4
    span = done[i3][0] - done[i1][0]
    return round(sum(b for _, b in done[i1 + 1 : i3 + 1]) / span, 3) if span > 0 else 0.0


@dataclass
class BenchSetup:
    """A built engine and its simulator, ready for workloads."""

    simulator: str
    parameters: Mapping[str, object]
    proc: CosimProcess


def open_bench(simulator: str, params: Mapping[str, object] | None, progress: Progress) -> BenchSetup:
    """Build (or reuse) the engine's co-simulation and start it."""
    engine = build_engine(params)
    program = build(simulator, engine_verilog(engine), port_info(engine), progress)
    return BenchSetup(simulator, engine_parameters(engine), CosimProcess(simulator, program, timeout=600))
