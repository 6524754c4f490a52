"""PerformanceSuite: cache, batch engine and monitor built from one profile, reporting into one
monitor, with health per component and memory management against a budget.

>>> import asyncio
>>> async def main():
...     async with create_optimal_performance_suite("hft") as suite:
...         await suite.cache.set("token:ETH", {"price": "3412.55"})
...         return await suite.cache.get("token:ETH"), suite.get_health_status()["status"]
>>> asyncio.run(main())
({'price': '3412.55'}, 'ok')
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from defiperf.batch import BatchProcessingEngine
from defiperf.cache import SmartCacheManager
from defiperf.monitor import AlertRule, PerformanceMonitor
from defiperf.profiles import PROFILES, SuiteProfile
from defiperf.structures import BloomFilter, OptimizedLRU, RingBuffer, create_price_buffer
from defiperf.structures import create_transaction_filter

logger = logging.getLogger("defiperf.suite")

STATUS_ORDER = {"ok": 0, "degraded": 1, "failing": 2}


class Structures:
    """Factories for the hot structures, sized by the profile."""

    def __init__(self, profile: SuiteProfile) -> None:
        self._profile = profile

    def price_buffer(self, capacity: int | None = None) -> RingBuffer:
        """A price ``RingBuffer`` of ``capacity`` rows (default: the profile's)."""
        return create_price_buffer(capacity or self._profile.price_buffer_capacity)

    def transaction_filter(self, capacity: int | None = None,
                           error_rate: float | None = None) -> BloomFilter:
        """A transaction ``BloomFilter`` (capacity and error rate default to the profile's)."""
        return create_transaction_filter(capacity or self._profile.transaction_filter_capacity,
                                         error_rate or self._profile.transaction_filter_error_rate)

    def lru(self, max_size: int | None = None, **kwargs: Any) -> OptimizedLRU[Any, Any]:
        """An ``OptimizedLRU`` of ``max_size`` entries (default: the profile's); ``kwargs`` go to
        OptimizedLRU."""
        return OptimizedLRU(max_size or self._profile.lru_max_size, **kwargs)


def _rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


class MemoryGuard:
    """On each monitor tick: RSS above high water x budget -> shrink L1, pause warming, cap
    batch sizes, gauge ``memory_pressure`` = 1 (an alert rule fires on it); below low water ->
    restore all of it. The last RSS read is ``last_rss_bytes`` (and in the suite's
    ``get_performance_metrics()["memory"]``); it is not a monitor gauge, because Prometheus'
    standard ``process_resident_memory_bytes`` reports it already."""

    def __init__(self, suite: PerformanceSuite, read_rss: Callable[[], int]) -> None:
        self.suite = suite
        self.read_rss = read_rss
        self.under_pressure = False
        self.last_rss_bytes: int | None = None
        self.events: list[tuple[str, int]] = []

    def check(self) -> None:
        """Called by the monitor's sampler thread: hop onto the suite's event loop (the cache's
        and the engine's state belong to it)."""
        loop, thread = self.suite._loop, self.suite._loop_thread
        if loop is not None and threading.get_ident() != thread and not loop.is_closed():
            loop.call_soon_threadsafe(self.check_now)
        else:
            self.check_now()

    def check_now(self) -> None:
        """Compare RSS with the profile's budget now and apply or lift the pressure measures."""
        profile = self.suite.profile
        budget = profile.memory_budget_bytes
        if budget is None:
            return
        rss = self.read_rss()
        self.last_rss_bytes = rss
        if not self.under_pressure and rss > profile.memory_high_water * budget:
            self._enter(rss)
        elif self.under_pressure and rss < profile.memory_low_water * budget:
            self._leave(rss)

    def _enter(self, rss: int) -> None:
        profile, cache = self.suite.profile, self.suite.cache
        self.under_pressure = True
        cache.limit_l1(profile.l1_shrink_fraction)
        cache.pause_warming()
        self.suite.batch.limit_batch_sizes(profile.batch_size_fraction)
        self.suite.monitor.gauge("memory_pressure").set(1)
        self.events.append(("pressure", rss))
        logger.warning("memory pressure: RSS %d MiB over %.0f%% of the %d MiB budget: "
                       "L1 shrunk, warming paused, batches capped", rss >> 20,
                       100 * profile.memory_high_water, (profile.memory_budget_bytes or 0) >> 20)

    def _leave(self, rss: int) -> None:
        cache = self.suite.cache
        self.under_pressure = False
        cache.limit_l1(None)
        cache.resume_warming()
        self.suite.batch.limit_batch_sizes(None)
        self.suite.monitor.gauge("memory_pressure").set(0)
        self.events.append(("restored", rss))
        logger.info("memory pressure over: RSS %d MiB; L1, warming and batches restored", rss >> 20)


class PerformanceSuite:
    """The cache (``.cache``), batch engine (``.batch``), monitor (``.monitor``) and structure
    factories (``.structures``) of one profile. ``async with suite:`` starts and stops them.
    The cache and the engine report into the monitor, so its bottlenecks see the whole system.
    """

    def __init__(self, profile: SuiteProfile, *, read_rss: Callable[[], int] | None = None,
                 alert_handlers: list[Any] | None = None) -> None:
        if not isinstance(profile, SuiteProfile):
            raise TypeError(f"profile must be a SuiteProfile, not {type(profile).__name__}")
        self.profile = profile
        self.monitor = PerformanceMonitor(profile.monitoring, alert_handlers=alert_handlers)
        self.cache = SmartCacheManager(profile.cache, monitor=self.monitor)
        self.batch = BatchProcessingEngine(profile.batch, monitor=self.monitor)
        self.structures = Structures(profile)
        self.memory = MemoryGuard(self, read_rss or _rss_bytes)
        self.monitor.tick_hooks.append(self.memory.check)
        self.monitor.add_alert_rule(AlertRule("memory_pressure", stat="value", op=">=",
                                              threshold=1, severity="critical",
                                              name="memory pressure"))
        self._started = False
        self._stopped = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    async def start(self) -> None:
        """Start the cache, the batch engine and the monitor's sampler on the running loop
        (idempotent; a stopped suite cannot be started again)."""
        if self._stopped:
            raise RuntimeError("the suite was stopped; make a new one")
        if self._started:
            return
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        await self.cache.start()
        await self.batch.start()
        await self.monitor.__aenter__()

    async def stop(self) -> None:
        """Finish queued batches, stop the sampler, close the cache (idempotent)."""
        if self._stopped or not self._started:
            self._stopped = True
            return
        self._stopped = True
        await self.batch.stop(graceful=True)
        await self.monitor.__aexit__(None, None, None)
        await self.cache.close()

    async def __aenter__(self) -> PerformanceSuite:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def get_performance_metrics(self) -> dict[str, Any]:
        """Cache, batch and monitor figures in one dict (plus memory and the profile name)."""
        report = self.monitor.generate_report()
        return {
            "profile": self.profile.name,
            "cache": self.cache.get_metrics(),
            "batch": self.batch.get_metrics(),
            "monitor": {"summary": report.summary,
                        "hot_paths": [p.to_dict() for p in report.hot_paths],
                        "bottlenecks": [b.to_dict() for b in report.bottlenecks]},
            "memory": {"budget_bytes": self.profile.memory_budget_bytes,
                       "rss_bytes": self.memory.last_rss_bytes,
                       "under_pressure": self.memory.under_pressure,
                       "events": list(self.memory.events)},
        }

    def get_health_status(self) -> dict[str, Any]:
        """``status`` (the worst component) and ok / degraded / failing per component, with
        reasons."""
        components: dict[str, dict[str, Any]] = {}
        cache = self.cache.health()
        components["cache"] = {"status": cache["status"], "reasons": [
            f"{name}: {t['reason']}" for name, t in cache["tiers"].items() if t.get("reason")]}
        components["batch"] = self.batch.health()
        alerts = self.monitor.get_active_alerts()
        monitor_reasons = [f"alert: {a.rule.name}" for a in alerts if a.rule.severity == "critical"]
        if self._started and not self._stopped and not self.monitor.running:
            monitor_reasons.append("the sampler is not running")
        components["monitor"] = {"status": "degraded" if monitor_reasons else "ok",
                                 "reasons": monitor_reasons}
        components["memory"] = {
            "status": "degraded" if self.memory.under_pressure else "ok",
            "reasons": ["RSS over the high-water mark of the budget"] if self.memory.under_pressure else []}
        worst = max((c["status"] for c in components.values()), key=STATUS_ORDER.__getitem__)
        return {"status": worst, "components": components}


def create_optimal_performance_suite(profile: str | SuiteProfile = "analytics",
                                     **overrides: Any) -> PerformanceSuite:
    """A PerformanceSuite of a named profile ("hft", "analytics", "memory_constrained") or a
    SuiteProfile. ``overrides`` replace profile fields (``memory_budget_bytes=...``,
    ``cache=CacheConfig(...)``); ``redis_url=...`` is a shortcut for the cache's Redis URL and
    ``disk_dir=...`` for its L3 directory."""
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
        chosen = PROFILES[profile]
    elif isinstance(profile, SuiteProfile):
        chosen = profile
    else:
        raise TypeError("profile must be a profile name or a SuiteProfile")
    cache_changes = {k: overrides.pop(k) for k in ("redis_url", "disk_dir") if k in overrides}
    if cache_changes:
        chosen = chosen.replace(cache=chosen.cache.replace(**cache_changes))
    suite_kwargs = {k: overrides.pop(k) for k in ("read_rss", "alert_handlers") if k in overrides}
    fields = {f.name for f in dataclasses.fields(SuiteProfile)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(f"unknown override(s) {unknown}; valid: "
                        f"{sorted(fields | {'redis_url', 'disk_dir', 'read_rss', 'alert_handlers'})}")
    if overrides:
        chosen = chosen.replace(**overrides)
    return PerformanceSuite(chosen, **suite_kwargs)
