"""Recorder: the few monitor calls the cache and the batch engine make (what ``monitor=`` takes).

PerformanceMonitor satisfies it, and so does anything with these methods (a test double, an
adapter to another metrics system). Implementations must not raise for cardinality: past their
series cap they record into an overflow series instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


class CounterLike(Protocol):
    def inc(self, amount: float = 1.0) -> None: ...


@runtime_checkable
class Recorder(Protocol):
    """``record_metric``, ``record_timing``, ``record_cache``, ``counter(name).inc`` and
    ``watch_queue``: everything cache and batch call on a monitor."""

    def record_metric(self, name: str, value: float, unit: str = "") -> None:
        """Record ``value`` of the custom metric ``name`` in ``unit``."""

    def record_timing(self, name: str, duration_ms: float, success: bool = True) -> None:
        """Record one operation ``name`` that took ``duration_ms``."""

    def record_cache(self, tier: str, hit: bool, duration_ms: float = 0.0) -> None:
        """Record one lookup in cache ``tier``: a hit or a miss, and its duration."""

    def counter(self, name: str) -> CounterLike:
        """The counter ``name`` (an object with ``inc()``)."""

    def watch_queue(self, name: str, depth: Callable[[], float]) -> None:
        """Sample queue ``name``'s depth by calling ``depth`` on each tick."""
