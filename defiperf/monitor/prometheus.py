"""A prometheus_client collector that exposes a monitor's series in the text exposition format.

Durations become histograms in seconds (cumulative ``_bucket`` counts read from the log-linear
histogram, exact up to one bucket's width: 1.6%), failures and cache misses counters, custom
metrics summaries (``_count``/``_sum``) plus a ``_last`` gauge, system metrics gauges.
Everything is since start, as Prometheus expects of counters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from defiperf.monitor.monitor import PerformanceMonitor
    from defiperf.structures.metrics import Series

DEFAULT_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)

# kind -> (metric stem, what it measures, label names)
_TIMED = {
    "request": ("request_duration_seconds", "Request latency", ("endpoint",)),
    "db": ("db_query_duration_seconds", "Database query latency", ("query",)),
    "cache": ("cache_lookup_duration_seconds", "Cache lookup latency", ("tier",)),
    "chain": ("chain_call_duration_seconds", "Blockchain RPC call latency", ("chain", "method")),
    "timer": ("operation_duration_seconds", "Timed operation latency", ("operation",)),
}
_BAD = {"request": "request_errors", "db": "db_query_errors", "cache": "cache_misses",
        "chain": "chain_call_errors", "timer": "operation_errors"}


def metric_name(text: str) -> str:
    """``text`` made a valid Prometheus metric name (invalid characters become ``_``)."""
    name = re.sub(r"[^a-zA-Z0-9_:]", "_", text)
    return name if name and not name[0].isdigit() else f"_{name}"


class PrometheusCollector(Collector):
    """``REGISTRY.register(PrometheusCollector(monitor))`` (or ``monitor.register_prometheus()``)
    makes ``prometheus_client.start_http_server`` serve the monitor's series."""

    def __init__(self, monitor: PerformanceMonitor, namespace: str = "defiperf",
                 buckets_s: Sequence[float] = DEFAULT_BUCKETS_S) -> None:
        bounds = [float(b) for b in buckets_s]
        if not bounds or bounds != sorted(set(bounds)) or bounds[0] <= 0:
            raise ValueError("buckets_s must be increasing, distinct and > 0")
        self._monitor = monitor
        self._ns = metric_name(namespace)
        self._bounds = bounds

    def describe(self) -> list[Metric]:
        return []  # the series are dynamic: no up-front description

    def _labels(self, kind: str) -> dict[Series, list[str]]:
        m = self._monitor
        if kind == "chain":
            return {s: [chain, method] for chain, method, s in m.chain_series()}
        return {s: [s.name] for s in m.series(kind)}

    def collect(self) -> Iterator[Metric]:
        m, ns = self._monitor, self._ns
        for kind, (stem, doc, label_names) in _TIMED.items():
            hist = HistogramMetricFamily(f"{ns}_{stem}", doc, labels=label_names)
            bad = CounterMetricFamily(f"{ns}_{_BAD[kind]}", f"{doc}: failures", labels=label_names)
            for s, labels in self._labels(kind).items():
                h = s.histogram("total")
                buckets = [(repr(b), h.count_le(b * 1000.0)) for b in self._bounds]
                buckets.append(("+Inf", h.count))
                hist.add_metric(labels, buckets, h.sum / 1000.0)
                bad.add_metric(labels, s.stats("total")["bad"])
            yield hist
            yield bad
        summary = SummaryMetricFamily(f"{ns}_metric", "Custom metrics", labels=("name", "unit"))
        last = GaugeMetricFamily(f"{ns}_metric_last", "Custom metrics: last value",
                                 labels=("name", "unit"))
        for s in m.series("metric"):
            h = s.histogram("total")
            summary.add_metric([s.name, s.unit], h.count, h.sum)
            last.add_metric([s.name, s.unit], s.last)
        yield summary
        yield last
        system = GaugeMetricFamily(f"{ns}_system", "Process and host metrics", labels=("name",))
        for s in m.series("system"):
            system.add_metric([s.name], s.last)
        yield system
        for c in m.counters():
            yield CounterMetricFamily(f"{ns}_{metric_name(c.name)}", f"counter {c.name}", c.value)
        for g in m.gauges():
            yield GaugeMetricFamily(f"{ns}_{metric_name(g.name)}", f"gauge {g.name}", g.value)
        yield CounterMetricFamily(f"{ns}_series_overflow", "Records of names past max_series",
                                  m.overflow_records)
