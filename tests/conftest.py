"""Run the suite's longest tests first, so that the two pytest-xdist workers finish together.

xdist hands out the first quarter of the collected tests round-robin and the rest as workers free
up, so a test of several minutes collected late runs alone at the end while the other worker idles
(CI at c96da14: 17 min 46 s wall, 25 min 47 s CPU). Listed first, the long ones are spread over both
workers at the start and the many short tests fill in around them. The two builds of the
Verilator model (cocotb's and the co-simulation harness's) come first and one on each worker:
every later Verilator test of each kind waits on its build's lock.

Figures from ``pytest -n 2 -m "not slow" --durations=40`` (the Makefile prints the slowest).
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    # About 200 s: builds the Verilator model for cocotb.
    "tests/test_cocotb_engine.py::test_engine_bench[verilator-known_answers]",
    # About 70 s: builds the Verilator co-simulation harness the other Verilator backends reuse.
    "tests/test_cosim_runs.py::test_runs_that_end_inside_a_result_frame[3-verilator]",
    # 25-80 s each: lab runs on the simulated engines, synthesis, cocotb on Icarus.
    "tests/test_lab_engines.py::test_every_engine_gives_the_software_run",
    "tests/test_lab_amaranth.py",
    "tests/test_hdl_block_ram.py::test_ecp5_block_rams_are_wired_as_yosys_maps_them",
    "tests/test_hdl_synth.py",
    "tests/test_driver_conformance.py::test_random_jobs_interleaved",
    "tests/test_cocotb_engine.py",
    "tests/test_lab_demo.py",
    "tests/test_bench.py",
)


def _rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(LONGEST_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the known long tests to the front, in ``LONGEST_FIRST`` order; the rest keep theirs."""
    items.sort(key=_rank)
