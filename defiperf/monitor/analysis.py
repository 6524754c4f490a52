"""Hot paths and bottlenecks, computed from a monitor's windowed series.

Impact, used to order bottlenecks, is a number in [0, 1] estimating the share of throughput or
time at stake; each rule states its formula in ``IMPACT`` so the ranking can be read and argued.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from defiperf.monitor.config import MonitoringConfig


class MonitorView(Protocol):
    """What the analysis reads of a monitor (PerformanceMonitor satisfies it; this module does
    not import the monitor, which imports it)."""

    config: MonitoringConfig

    def series(self, kind: str | None = None) -> list[Any]: ...
    def get_series(self, key: str) -> Any: ...
    def queue_depths(self) -> dict[str, list[tuple[float, float]]]: ...
    def now(self) -> float: ...

TIMED_KINDS = ("request", "http", "db", "chain", "timer")

IMPACT = {
    "latency": "share of measured time x (1 - target / p99)",
    "time_share": "share of measured time",
    "error_rate": "error rate (the share of calls lost)",
    "cache_hit_rate": "hit-rate target - hit rate (over all tiers)",
    "cpu": "(cpu% - threshold) / (100 - threshold), at least 0.5 once over the threshold",
    "memory": "(memory% - threshold) / (100 - threshold), at least 0.5 once over the threshold",
    "rss_budget": "1 - budget / rss",
    "event_loop_lag": "1 - target / p99 lag",
    "queue_backlog": "1 - first / last depth of the window",
}


@dataclass(frozen=True)
class HotPath:
    """One operation ranked by the total time spent in it over the current window."""

    key: str
    kind: str
    name: str
    count: int
    total_ms: float
    share: float
    mean_ms: float
    p99_ms: float
    trend: float | None       # total time now / in the previous window - 1; None: no previous
    p99_trend: float | None

    def to_dict(self) -> dict[str, Any]:
        """The hot path as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Bottleneck:
    """Something that limits throughput: what, how much (impact), why, and what to do."""

    kind: str
    subject: str
    impact: float
    reason: str
    recommendation: str

    def to_dict(self) -> dict[str, Any]:
        """The bottleneck as a JSON-ready dict."""
        return asdict(self)


def _ratio(now: float, before: float) -> float | None:
    return now / before - 1.0 if before > 0 and not math.isnan(before) else None


def _ranked(monitor: MonitorView) -> list[tuple[HotPath, dict[str, Any], dict[str, Any]]]:
    """Every timed operation with calls in the current window, as a HotPath with its current
    and previous window stats, largest total time first (each window is read once)."""
    rows = []
    for s in monitor.series():
        if s.kind not in TIMED_KINDS:
            continue
        cur, prev = s.stats("current"), s.stats("previous")
        if cur["count"]:
            rows.append((s, cur, prev))
    total = sum(cur["sum"] for _, cur, _ in rows)
    ranked = [
        (HotPath(
            key=s.key, kind=s.kind, name=s.name, count=cur["count"], total_ms=cur["sum"],
            share=cur["sum"] / total if total > 0 else 0.0, mean_ms=cur["mean"], p99_ms=cur["p99"],
            trend=_ratio(cur["sum"], prev["sum"]),
            p99_trend=_ratio(cur["p99"], prev["p99"]) if prev["count"] else None,
        ), cur, prev)
        for s, cur, prev in rows
    ]
    ranked.sort(key=lambda r: (-r[0].total_ms, r[0].key))
    return ranked


def hot_paths(monitor: MonitorView, n: int = 10) -> list[HotPath]:
    """The ``n`` operations with the most total time in the current window, largest first."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an int >= 0, got {n!r}")
    return [path for path, _, _ in _ranked(monitor)[:n]]


def _timed(monitor: MonitorView, found: list[Bottleneck]) -> None:
    cfg = monitor.config
    ranked = _ranked(monitor)
    for p, cur, prev in ranked:
        if cur["count"] < cfg.min_samples:
            continue
        target = cfg.latency_target_ms(p.kind, p.key, p.name)
        if target is not None and p.p99_ms > target:
            found.append(Bottleneck(
                "latency", p.key, p.share * (1 - target / p.p99_ms),
                f"p99 {p.p99_ms:.3g} ms breaches its {target:g} ms target "
                f"({p.share:.0%} of measured time)",
                "profile this path (see hot paths), cache or batch its slow dependency, or raise "
                "its target if it is known to be slow",
            ))
        if len(ranked) > 1 and p.share >= cfg.time_share_threshold:
            found.append(Bottleneck(
                "time_share", p.key, p.share,
                f"takes {p.share:.0%} of all measured time ({p.count} calls, mean {p.mean_ms:.3g} ms)",
                "optimise or cache this operation first: it dominates total time",
            ))
        rate = cur["bad_rate"]
        spike = prev["count"] >= cfg.min_samples and rate >= 3 * prev["bad_rate"] and rate > 0
        if rate >= cfg.error_rate_threshold or (spike and rate >= cfg.error_rate_threshold / 2):
            before = f" (previous window {prev['bad_rate']:.1%})" if prev["count"] else ""
            found.append(Bottleneck(
                "error_rate", p.key, rate,
                f"error rate {rate:.1%}{before} over {cur['count']} calls",
                "check the failing dependency; retry with backoff or open a circuit breaker",
            ))


def _cache(monitor: MonitorView, found: list[Bottleneck]) -> None:
    """Tiers are looked up in order and a miss in one goes on to the next, so the cache's hit
    rate is 1 - (misses of the last tier asked) / (lookups of the first): the front tier has
    the most lookups, the last the fewest."""
    cfg = monitor.config
    tiers = [(s.key, s.stats("current")) for s in monitor.series("cache")]
    tiers = [(key, st) for key, st in tiers if st["count"]]
    if not tiers:
        return
    front = max(tiers, key=lambda t: t[1]["count"])
    last = min(tiers, key=lambda t: t[1]["count"])
    lookups = front[1]["count"]
    if lookups < cfg.min_samples:
        return
    hit_rate = 1.0 - last[1]["bad"] / lookups
    if hit_rate < cfg.cache_hit_rate_target:
        found.append(Bottleneck(
            "cache_hit_rate", front[0] if len(tiers) == 1 else "cache", cfg.cache_hit_rate_target - hit_rate,
            f"hit rate {hit_rate:.1%} (all tiers) below the {cfg.cache_hit_rate_target:.0%} "
            f"target over {lookups} lookups",
            "warm the hot keys or raise the capacity or TTL (an L1 set to lru: try tinylfu, "
            "the default)",
        ))


def _system_value(monitor: MonitorView, name: str, stat: str = "mean") -> float | None:
    try:
        s = monitor.get_series(f"system:{name}")
    except KeyError:
        return None
    cur = s.stats("current")
    return cur[stat] if cur["count"] else None


def _saturation(value: float, threshold: float) -> float:
    return max(0.5, min(1.0, (value - threshold) / (100.0 - threshold)))


def _system(monitor: MonitorView, found: list[Bottleneck]) -> None:
    cfg = monitor.config
    saturation = (
        ("cpu", "cpu_percent_system", cfg.cpu_saturation_pct, "CPU {v:.0f}% (mean over the window)",
         "shed or batch work, move CPU-bound work off the event loop, or add cores"),
        ("memory", "memory_percent_system", cfg.memory_saturation_pct, "system memory {v:.0f}% used",
         "shrink caches (max_weight), lower batch sizes, or add memory"),
    )
    for kind, name, threshold, what, advice in saturation:
        v = _system_value(monitor, name)
        if v is not None and v >= threshold:
            found.append(Bottleneck(kind, f"system:{name}", _saturation(v, threshold),
                                    f"{what.format(v=v)} >= {threshold:g}%", advice))
    rss = _system_value(monitor, "rss_bytes", "last")
    if cfg.rss_budget_bytes is not None and rss is not None and rss > cfg.rss_budget_bytes:
        found.append(Bottleneck(
            "rss_budget", "system:rss_bytes", 1 - cfg.rss_budget_bytes / rss,
            f"RSS {rss / 2**20:.0f} MiB over the {cfg.rss_budget_bytes / 2**20:.0f} MiB budget",
            "shrink L1 caches and buffers or raise the budget",
        ))
    lag = _system_value(monitor, "event_loop_lag_ms", "p99")
    if lag is not None and lag > cfg.loop_lag_target_ms:
        found.append(Bottleneck(
            "event_loop_lag", "system:event_loop_lag_ms", 1 - cfg.loop_lag_target_ms / lag,
            f"event-loop lag p99 {lag:.3g} ms > {cfg.loop_lag_target_ms:g} ms: something blocks the loop",
            "move blocking or CPU-heavy calls to a thread pool (asyncio.to_thread)",
        ))


def _queues(monitor: MonitorView, found: list[Bottleneck]) -> None:
    cfg = monitor.config
    for name, samples in monitor.queue_depths().items():
        depths = _window_depths(samples, monitor.now() - cfg.window_s)
        if len(depths) < 3:
            continue
        first, last = depths[0], depths[-1]
        rising = sum(b > a for a, b in zip(depths, depths[1:])) >= (len(depths) - 1) / 2
        if last > 0 and rising and last >= cfg.queue_growth_ratio * max(first, 1.0):
            found.append(Bottleneck(
                "queue_backlog", f"queue:{name}", 1 - first / last,
                f"queue {name!r} grew from {first:g} to {last:g} over the window",
                "consumers cannot keep up: add workers, raise batch sizes, or apply backpressure",
            ))


def _window_depths(samples: Sequence[tuple[float, float]], since: float) -> list[float]:
    return [depth for t, depth in samples if t >= since]


def bottlenecks(monitor: MonitorView) -> list[Bottleneck]:
    """Every rule's findings over the current window, the largest impact first."""
    found: list[Bottleneck] = []
    _timed(monitor, found)
    _cache(monitor, found)
    _system(monitor, found)
    _queues(monitor, found)
    found.sort(key=lambda b: (-b.impact, b.kind, b.subject))
    return found
