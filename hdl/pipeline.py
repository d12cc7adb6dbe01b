"""Pipeline registers: a value delayed by a fixed number of cycles."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value

__all__ = ["delayed"]


def delayed(m: Module, value: Value, cycles: int, name: str) -> Value:
    """``value`` through ``cycles`` registers of ``m``'s sync domain (named ``name_d1``, ...);
    ``value`` itself when ``cycles`` is 0."""
    for i in range(1, cycles + 1):
        q = Signal.like(value, name=f"{name}_d{i}")
        m.d.sync += q.eq(value)
        value = q
    return value
