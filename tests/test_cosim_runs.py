"""The co-simulated backends (Verilator, Icarus) when a run's cycle budget ends mid-stream.

A poll clocks the simulated engine for at most ``cycles_per_poll`` cycles. With a budget far
shorter than one result frame takes to stream out, nearly every run ends while a frame is half
taken; the results must still come out whole and right (checked against OpenSSL). Before the
testbench ended runs only on frame boundaries, its end-of-run line landed inside the frame's
line and the host waited for an answer that never came.
"""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher as OsslCipher
from cryptography.hazmat.primitives.ciphers import modes

from driver.api import Cipher, Job, Op, SAParams, Status
from driver.cosim.build import simulator_available
from driver.registry import open_backend
from tests.test_driver_conformance import BACKEND_OPTIONS


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
@pytest.mark.parametrize("budget", [3, 37])
def test_runs_that_end_inside_a_result_frame(sim: str, budget: int) -> None:
    if not simulator_available(sim):
        pytest.skip(f"{sim} is not installed (CI installs it; see .ci/run)")
    rng = random.Random(budget)
    engine = open_backend(
        sim, cycles_per_poll=budget, stall_polls=100_000, timeout=30.0, **BACKEND_OPTIONS[sim]
    )
    try:
        key = rng.randbytes(8)
        conn = engine.install(SAParams(inbound=False, cipher=Cipher.DES_CBC, des_key=key))
        jobs = [
            Job(Op.ENCRYPT, conn, tag, cipher_data=rng.randbytes(8 * rng.randint(20, 60)), iv=bytes(8))
            for tag in range(6)
        ]
        results = engine.run(jobs)
    finally:
        engine.close()
    for job, result in zip(jobs, results, strict=True):
        enc = OsslCipher(TripleDES(key * 3), modes.CBC(job.iv)).encryptor()
        assert result.status is Status.OK
        assert result.data == enc.update(job.cipher_data) + enc.finalize()


def test_engine_design_is_cached_per_parameters_and_sources(tmp_path, monkeypatch) -> None:
    """The second open of the same engine builds and converts nothing; other parameters do."""
    from driver.cosim import verilog

    small = {"conns": 16, "cbc_lanes": 1, "hash_lanes": 1, "slots": 4, "des_stages": 1}
    first = verilog.engine_design(small, tmp_path)
    assert "module engine(" in first.verilog
    assert first.parameters["conns"] == 16 and first.ports.job_width == 65

    def no_build(params):
        raise AssertionError("built again although the design was cached")

    monkeypatch.setattr(verilog, "build_engine", no_build)
    again = verilog.engine_design(dict(reversed(list(small.items()))), tmp_path)
    assert again == first
    with pytest.raises(AssertionError, match="built again"):
        verilog.engine_design({**small, "conns": 32}, tmp_path)
    monkeypatch.undo()
    with pytest.raises(ValueError):
        verilog.engine_design({"no_such_parameter": 1}, tmp_path)
