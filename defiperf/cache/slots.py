"""TierSlot: one tier with its own circuit breaker, metrics and health, so the managers loop
over tiers instead of handling each by hand; and the two drivers that run a plan (a generator
of tier calls, see plans.py) blocking or on an event loop.

A plan yields ``(slot, method, args)`` and receives ``(ok, result, ms)``; a failing tier is
counted, fed to its breaker (only for transient errors) and logged at most once per 10 s, and
the plan sees ``ok=False`` — a tier failure is never the caller's exception.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from defiperf.batch.breaker import BreakerState, CircuitBreaker
from defiperf._ratelimit import RateLimitedLog
from defiperf.cache.errors import TierError
from defiperf.structures.metrics import LogHistogram

if TYPE_CHECKING:  # typing only: the monitor package is not imported at run time
    from defiperf.monitor.recorder import Recorder

logger = logging.getLogger("defiperf.cache")

Op = tuple["TierSlot", str, tuple[Any, ...]]
Plan = Generator[Op, tuple[bool, Any, float], Any]


class TierMetrics:
    """Counters and a latency histogram (ms) of one tier."""

    def __init__(self) -> None:
        self.hits = self.misses = self.errors = self.skipped = 0
        self.latency_ms = LogHistogram()

    def snapshot(self) -> dict[str, Any]:
        lookups = self.hits + self.misses
        h = self.latency_ms
        return {
            "hits": self.hits, "misses": self.misses, "errors": self.errors,
            "skipped": self.skipped, "hit_rate": self.hits / lookups if lookups else None,
            "latency_ms": {"p50": h.quantile(0.5), "p99": h.quantile(0.99), "max": h.max}
            if h.count else {"p50": None, "p99": None, "max": None},
        }


class TierHealth:
    """What one tier's breaker and last failure say, shared by every slot of that tier."""

    def __init__(self, name: str, breaker: CircuitBreaker) -> None:
        self.name = name
        self.breaker = breaker
        self.metrics = TierMetrics()
        self.reason = ""  # the last failure, until a call succeeds
        self.lock = threading.Lock()
        self._log = RateLimitedLog(logger, interval_s=10.0)

    def allow(self) -> bool:
        with self.lock:
            if self.breaker.allow():
                return True
        self.metrics.skipped += 1
        return False

    def succeeded(self) -> None:
        with self.lock:
            self.breaker.record(True)
        self.reason = ""

    def failed(self, exc: TierError) -> None:
        self.metrics.errors += 1
        if exc.transient:
            with self.lock:
                self.breaker.record(False)
        self.reason = str(exc)
        self._log.log(logging.WARNING, "failure", "%s unavailable: %s", self.name, exc)

    def snapshot(self, permanent: str = "") -> dict[str, Any]:
        state = self.breaker.state
        reason = permanent or self.reason
        if not reason and state is not BreakerState.CLOSED:
            reason = "unreachable or slow: skipped, probing again"
        if "full" in reason.lower():
            reason = f"disk full: {reason}"
        return {"status": "degraded" if reason else "ok", "breaker": state.value,
                "errors": self.metrics.errors, "reason": reason}


class TierSlot:
    """A tier object (blocking or async methods) behind its TierHealth."""

    def __init__(self, tier: Any, health: TierHealth) -> None:
        self.tier = tier
        self.name = health.name
        self.health = health

    def allowed(self) -> bool:
        return self.health.allow()

    def record(self, hit: bool, ms: float, monitor: Recorder | None) -> None:
        m = self.health.metrics
        if hit:
            m.hits += 1
        else:
            m.misses += 1
        m.latency_ms.record(ms)
        if monitor is not None:
            monitor.record_cache(self.name, hit, ms)

    def _done(self, start: float, exc: BaseException | None, value: Any) -> tuple[bool, Any, float]:
        ms = (time.perf_counter() - start) * 1000.0
        if exc is None:
            self.health.succeeded()
            return True, value, ms
        err = exc if isinstance(exc, TierError) else TierError(
            f"{self.name}: {type(exc).__name__}: {exc}")
        self.health.failed(err)
        return False, None, ms

    def call(self, method: str, args: tuple[Any, ...]) -> tuple[bool, Any, float]:
        start = time.perf_counter()
        try:
            value = getattr(self.tier, method)(*args)
        except Exception as exc:
            return self._done(start, exc, None)
        return self._done(start, None, value)

    async def acall(self, method: str, args: tuple[Any, ...]) -> tuple[bool, Any, float]:
        start = time.perf_counter()
        try:
            value = await getattr(self.tier, method)(*args)
        except Exception as exc:
            return self._done(start, exc, None)
        return self._done(start, None, value)


def run_blocking(plan: Plan) -> Any:
    """Drive a plan with blocking tier calls."""
    reply: Any = None
    while True:
        try:
            slot, method, args = plan.send(reply)
        except StopIteration as stop:
            return stop.value
        reply = slot.call(method, args)


async def run_async(plan: Plan) -> Any:
    """Drive a plan with awaited tier calls."""
    reply: Any = None
    while True:
        try:
            slot, method, args = plan.send(reply)
        except StopIteration as stop:
            return stop.value
        reply = await slot.acall(method, args)
