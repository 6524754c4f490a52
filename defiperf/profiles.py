"""SuiteProfile and the three profiles: hft, analytics, memory_constrained.

A profile is a plain frozen dataclass of the three module configs plus the structures' sizes
and the memory budget: print it, copy it with ``profile.replace(...)``, or override fields
through ``create_optimal_performance_suite(profile, **overrides)``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from defiperf._validate import check_int, check_number
from defiperf.batch import BatchConfig, BreakerConfig
from defiperf.cache import CacheConfig
from defiperf.monitor import MonitoringConfig

MiB = 1 << 20


@dataclass(frozen=True)
class SuiteProfile:
    """Everything a PerformanceSuite is built from.

    ``memory_budget_bytes``: the process RSS the suite aims to stay under (None: no budget);
    above ``memory_high_water`` of it the suite shrinks L1, pauses warming, caps batch sizes and
    raises the ``memory_pressure`` alert; below ``memory_low_water`` it restores them.
    """

    name: str
    cache: CacheConfig
    batch: BatchConfig
    monitoring: MonitoringConfig
    memory_budget_bytes: int | None = None
    memory_high_water: float = 0.9
    memory_low_water: float = 0.75
    l1_shrink_fraction: float = 0.25
    batch_size_fraction: float = 0.25
    price_buffer_capacity: int = 10_000
    transaction_filter_capacity: int = 1_000_000
    transaction_filter_error_rate: float = 0.001
    lru_max_size: int = 100_000
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name, kind in (("cache", CacheConfig), ("batch", BatchConfig),
                           ("monitoring", MonitoringConfig)):
            if not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a {kind.__name__}")
        check_int("memory_budget_bytes", self.memory_budget_bytes, allow_none=True)
        if not 0 < self.memory_low_water < self.memory_high_water <= 1:
            raise ValueError("need 0 < memory_low_water < memory_high_water <= 1")
        for name in ("l1_shrink_fraction", "batch_size_fraction"):
            check_number(name, getattr(self, name), high=1.0)
        for name in ("price_buffer_capacity", "transaction_filter_capacity", "lru_max_size"):
            check_int(name, getattr(self, name))
        if not 0 < self.transaction_filter_error_rate < 1:
            raise ValueError("transaction_filter_error_rate must be in (0, 1)")

    def replace(self, **changes: Any) -> SuiteProfile:
        """A copy of this profile with ``changes`` applied (field names)."""
        return dataclasses.replace(self, **changes)


HFT = SuiteProfile(
    name="hft",
    description="smallest latencies: L1 only (L2 with redis_url), small batches, tight targets, "
                "minimal monitoring",
    cache=CacheConfig(default_ttl_s=1.0, default_stale_ttl_s=0.5, disk_enabled=False,
                      l1_max_entries=200_000, refresh_ahead_s=0.25, refresh_check_interval_s=0.1),
    batch=BatchConfig(max_queued_items=100_000, workers_per_processor=8, latency_target_s=0.005,
                      aging_interval_s=0.05, breaker=BreakerConfig(reset_timeout_s=0.5)),
    monitoring=MonitoringConfig(window_s=10.0, sample_interval_s=10.0, max_series=200,
                                history_len=60, default_latency_target_ms={
                                    "request": 5.0, "db": 2.0, "chain": 100.0, "timer": 5.0}),
    price_buffer_capacity=100_000,
)

ANALYTICS = SuiteProfile(
    name="analytics",
    description="large capacities, every tier, long retention, full monitoring",
    cache=CacheConfig(default_ttl_s=3600.0, default_stale_ttl_s=300.0, l1_max_entries=1_000_000,
                      l1_policy="tinylfu", disk_size_limit_bytes=8 << 30, refresh_ahead_s=60.0),
    batch=BatchConfig(max_queued_items=10_000_000, workers_per_processor=4, latency_target_s=1.0),
    monitoring=MonitoringConfig(window_s=300.0, window_slots=10, sample_interval_s=5.0,
                                max_series=5000, history_len=720),
    price_buffer_capacity=1_000_000,
    transaction_filter_capacity=10_000_000,
    lru_max_size=1_000_000,
)

MEMORY_CONSTRAINED = SuiteProfile(
    name="memory_constrained",
    description="strict byte budgets: L1 by bytes, compact structures, slow sampler, "
                "memory-pressure cleanup",
    cache=CacheConfig(default_ttl_s=300.0, l1_max_entries=20_000, l1_max_weight_bytes=16 * MiB,
                      disk_size_limit_bytes=256 * MiB, warm_concurrency=2, refresh_hot_keys=200),
    batch=BatchConfig(max_queued_items=100_000, workers_per_processor=2, thread_pool_size=2),
    monitoring=MonitoringConfig(window_s=60.0, window_slots=2, sample_interval_s=30.0,
                                max_series=200, history_len=30),
    memory_budget_bytes=256 * MiB,
    price_buffer_capacity=2_000,
    transaction_filter_capacity=100_000,
    transaction_filter_error_rate=0.01,
    lru_max_size=10_000,
)

PROFILES: dict[str, SuiteProfile] = {p.name: p for p in (HFT, ANALYTICS, MEMORY_CONSTRAINED)}
