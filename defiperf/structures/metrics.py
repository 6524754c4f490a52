"""The old home of LogHistogram (now ``defiperf.structures.histogram``); kept so imports work.

The monitor's store (MetricStore, Series, Counter, Gauge) moved to ``defiperf.monitor``; the old
names still resolve here, imported on first use (structures do not depend on the monitor).
"""

from __future__ import annotations

from defiperf.structures.histogram import QUANTILES as QUANTILES
from defiperf.structures.histogram import LogHistogram as LogHistogram

_MOVED = frozenset({"MetricStore", "Series", "Counter", "Gauge", "KINDS", "WINDOWS", "OVERFLOW"})


def __getattr__(name: str) -> object:
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module("defiperf.monitor._store"), name)
    raise AttributeError(f"module 'defiperf.structures.metrics' has no attribute {name!r}")


__all__ = ["QUANTILES", "LogHistogram"]
