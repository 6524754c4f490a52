"""MonitoringConfig: every knob of PerformanceMonitor in one plain, copyable object."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from defiperf._validate import check_bool, check_int, check_number
from defiperf.monitor._store import DEFAULT_BUCKETS_S


@dataclass(frozen=True)
class MonitoringConfig:
    """What PerformanceMonitor records, how often it samples, and what it calls a bottleneck.

    Copy with ``dataclasses.replace(config, field=value)`` or ``config.replace(field=value)``.
    Latency targets are p99 targets in milliseconds: ``latency_targets_ms`` maps a series key
    (``"request:/api/portfolio"``) or bare name to its target; others get
    ``default_latency_target_ms[kind]``.
    """

    window_s: float = 60.0
    #: histogram bounds (seconds) at which duration series keep exact counts for exports
    buckets_s: tuple[float, ...] = DEFAULT_BUCKETS_S
    window_slots: int = 4
    max_series: int = 1000
    sample_interval_s: float = 5.0
    system_metrics: bool = True
    history_len: int = 120
    min_samples: int = 20
    latency_targets_ms: Mapping[str, float] = field(default_factory=dict)
    default_latency_target_ms: Mapping[str, float] = field(
        default_factory=lambda: {"request": 200.0, "http": 200.0, "db": 50.0, "chain": 1000.0,
                                 "timer": 200.0}
    )
    cache_hit_rate_target: float = 0.95
    error_rate_threshold: float = 0.05
    time_share_threshold: float = 0.5
    cpu_saturation_pct: float = 85.0
    memory_saturation_pct: float = 90.0
    rss_budget_bytes: int | None = None
    loop_lag_target_ms: float = 50.0
    queue_growth_ratio: float = 1.5

    def __post_init__(self) -> None:
        if isinstance(self.buckets_s, (str, bytes)) or not isinstance(self.buckets_s, Iterable):
            raise TypeError(f"buckets_s must be a sequence of seconds, not "
                            f"{type(self.buckets_s).__name__}")
        bounds = tuple(self.buckets_s)
        for b in bounds:
            check_number("buckets_s", b)
        if not bounds or list(bounds) != sorted(set(bounds)) or len(bounds) > 64:
            raise ValueError("buckets_s must be 1..64 increasing, distinct bounds > 0 (seconds)")
        object.__setattr__(self, "buckets_s", tuple(float(b) for b in bounds))
        for name in ("window_s", "sample_interval_s", "loop_lag_target_ms", "cpu_saturation_pct",
                     "memory_saturation_pct", "queue_growth_ratio"):
            check_number(name, getattr(self, name))
        for name in ("cache_hit_rate_target", "error_rate_threshold", "time_share_threshold"):
            check_number(name, getattr(self, name), high=1.0)
        for name in ("window_slots", "max_series", "history_len", "min_samples"):
            check_int(name, getattr(self, name))
        check_int("rss_budget_bytes", self.rss_budget_bytes, allow_none=True)
        check_bool("system_metrics", self.system_metrics)
        for name in ("latency_targets_ms", "default_latency_target_ms"):
            targets = getattr(self, name)
            if not isinstance(targets, Mapping):
                raise TypeError(f"{name} must be a mapping, not {type(targets).__name__}")
            for key, value in targets.items():
                check_number(f"{name}[{key!r}]", value)
            object.__setattr__(self, name, MappingProxyType(dict(targets)))

    def replace(self, **changes: Any) -> MonitoringConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        return dataclasses.replace(self, **changes)

    def latency_target_ms(self, kind: str, key: str, name: str) -> float | None:
        """The p99 target of a series, or None when its kind has none."""
        target = self.latency_targets_ms.get(key, self.latency_targets_ms.get(name))
        return target if target is not None else self.default_latency_target_ms.get(kind)


DEFAULT_MONITORING_CONFIG = MonitoringConfig()
