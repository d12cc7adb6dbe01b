"""Spread the suite's longest tests over the pytest-xdist workers, so that they finish together.

``make test`` runs xdist's ``worksteal`` scheduler: worker i starts with the i-th contiguous share
of the collected tests, and a worker whose queue runs dry takes half of the longest queue left.
The long tests are therefore dealt round-robin, longest first, to the fronts of the shares, and
the short ones fill each share in collection order behind them (so a module's fixtures stay on
one worker). The two builds of the Verilator model (cocotb's and the co-simulation harness's)
come first, one per worker: every later Verilator test of each kind waits on its build's lock.
Without this, with the plain ``load`` scheduler, one worker ran alone for minutes at the end (CI
at c96da14: 17 min 46 s wall for 25 min 47 s of CPU). Outside xdist the long tests run first.

The figures are from ``--durations`` (``make test`` prints the 15 slowest).
"""

from __future__ import annotations

import os

import pytest

LONGEST_FIRST = (
    # 110-200 s in the runs measured: builds the Verilator model for cocotb.
    "tests/test_cocotb_engine.py::test_engine_bench[verilator-known_answers]",
    # 55-100 s: builds the Verilator co-simulation harness the other Verilator backends reuse.
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


def _shares(total: int, workers: int) -> list[int]:
    """The sizes of the workers' first shares, as xdist's worksteal scheduler cuts them."""
    sizes = []
    for i in range(workers):
        size = total // (workers - i)
        sizes.append(size)
        total -= size
    return sizes


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Deal the known long tests to the fronts of the workers' first shares (see the module)."""
    ranked = sorted(items, key=_rank)
    long_tests = [item for item in ranked if _rank(item) < len(LONGEST_FIRST)]
    short_tests = ranked[len(long_tests) :]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    order: list[pytest.Item] = []
    for i, size in enumerate(_shares(len(items), workers)):
        dealt = long_tests[i::workers]
        fill = max(0, size - len(dealt))
        order += dealt + short_tests[:fill]
        short_tests = short_tests[fill:]
    items[:] = order + short_tests
