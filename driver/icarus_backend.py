"""The ``icarus`` backend: the engine's exported Verilog running on Icarus Verilog in a
simulator process, exchanging whole job and result frames with this process over pipes
(:mod:`driver.cosim`). The build is cached while the Verilog is unchanged."""

from __future__ import annotations

from .cosim.engine import CosimEngine

__all__ = ["IcarusEngine"]


class IcarusEngine(CosimEngine):
    """The engine on Icarus Verilog (see :class:`~driver.cosim.engine.CosimEngine` for the options)."""

    simulator = "icarus"
