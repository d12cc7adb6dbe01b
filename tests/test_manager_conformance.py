"""The driver conformance suite, run on an engine manager (what the router uses).

Every test of :mod:`tests.test_driver_conformance` runs here unchanged against an
:class:`~driver.manager.EngineManager` whose accelerator is the fault-injection card of
:mod:`tests.fault_injection` (healthy here, answering a few results per poll so that jobs stay in
flight) with a software engine behind it: a manager must be indistinguishable from one engine.
"""

from __future__ import annotations

import pytest

from driver import registry
from driver.manager import EngineManager
from driver.software import SoftwareEngine
from tests.fault_injection import FaultyCard
from tests.test_driver_conformance import *  # noqa: F403 - the suite's tests, collected here


class ManagedCard(EngineManager):
    """A 64-context card answering 5 results per poll, software behind it."""

    def __init__(self) -> None:
        super().__init__(
            FaultyCard(max_conns=64, queue_depth=16, per_poll=5), SoftwareEngine(), name="managed"
        )


@pytest.fixture(params=["managed"])
def backend(request, monkeypatch) -> str:  # noqa: F811 - overrides the suite's backend list
    monkeypatch.setitem(registry.BACKENDS, "managed", f"{__name__}:ManagedCard")
    return request.param
