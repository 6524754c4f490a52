"""PerformanceMonitor recording beside prometheus_client, hdrhistogram and ddsketch.

record_request (endpoint, ms, success) and record_metric (name, value) against what a user would
otherwise call per event: prometheus_client ``Histogram.labels(endpoint).observe`` and the
pre-bound ``child.observe``, HdrHistogram ``record_value`` (integer microseconds) and DDSketch
``add``. Plus the p99 error of each sketch on 100,000 lognormal latencies.
"""

from __future__ import annotations

import gc
import importlib
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from defiperf.bench._peers import available
from defiperf.bench._table import Row
from defiperf.bench._timing import best_ns_per_op
from defiperf.monitor import MonitoringConfig, PerformanceMonitor


def _ours() -> Any:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False), alert_handlers=[])


def _prometheus() -> Any:
    prom = importlib.import_module("prometheus_client")
    return prom.Histogram("request_latency_seconds", "latency", ["endpoint"],
                          registry=prom.CollectorRegistry())


def _otel_provider() -> tuple[Any, Any] | None:
    """An OpenTelemetry SDK MeterProvider and its in-memory reader (None without the SDK)."""
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    except ImportError:
        return None
    reader = InMemoryMetricReader()
    return MeterProvider(metric_readers=[reader]), reader


def _bridged(max_pending: int = 16384) -> Any:
    """An OTelBridge of a new monitor to an OpenTelemetry SDK MeterProvider (None without the
    SDK); ``.monitor`` is the monitor."""
    made = _otel_provider()
    if made is None:
        return None
    return _ours().bridge_otel(made[0], max_pending=max_pending)


def _hdr() -> Any:
    return importlib.import_module("hdrh.histogram").HdrHistogram(1, 60_000_000, 2)


def _ddsketch() -> Any:
    return importlib.import_module("ddsketch").DDSketch(relative_accuracy=0.01)


PEERS: dict[str, tuple[Callable[[], Any], str | None]] = {
    "prometheus_client": (_prometheus, "prometheus_client"),
    "hdrhistogram": (_hdr, "hdrh"),
    "ddsketch": (_ddsketch, "ddsketch"),
}


def _latencies(n: int) -> list[float]:
    values: list[float] = np.random.default_rng(42).lognormal(3.0, 1.0, n).round(3).tolist()
    return values


def _record_passes(values: list[float],
                   bridges: list[Any] | None = None) -> dict[str, Callable[[], int]]:
    """The record_request passes; the OTel bridges made are appended to ``bridges`` (for the
    caller to discard what they hold and close them)."""
    n = len(values)
    ours = _ours()
    peers = {name: make() for name, make in available(PEERS).items()}

    def ours_request() -> int:
        record = ours.record_request
        for v in values:
            record("/api/portfolio", v, True)
        return n

    passes: dict[str, Callable[[], int]] = {"defiperf": ours_request}
    # With the OTel bridge, a duration is appended to a buffer that each collection records
    # into the SDK's histogram; a full buffer is queued for the bridge's drain thread. Here:
    # what a caller pays between collections (a buffer large enough for every round: this
    # bench never collects), and the sustained overload (the default max_pending, recorded
    # without pause: the drain thread cannot keep up, so with 4 batches queued the recording
    # thread records them itself: the SDK's per-value cost, amortised). _burst_figures
    # measures full buffers the drain thread keeps up with.
    buffered = _bridged(max_pending=min(1 << 24, n * 8))
    sustained = _bridged()
    made = _otel_provider()
    if buffered is not None and sustained is not None and made is not None:
        provider = made[0]
        def bridge_pass(bridge: Any) -> Callable[[], int]:
            def run() -> int:
                record = bridge.monitor.record_request
                for v in values:
                    record("/api/portfolio", v, True)
                return n
            return run

        otel_hist = provider.get_meter("bench").create_histogram("request.duration", unit="s")

        def otel_sdk() -> int:
            record, attrs = otel_hist.record, {"endpoint": "/api/portfolio"}
            for v in values:
                record(v / 1000.0, attrs)
            return n

        passes["defiperf + OTel bridge, between collections"] = bridge_pass(buffered)
        passes["defiperf + OTel bridge, overload (backpressure: the caller records)"] = \
            bridge_pass(sustained)
        passes["OTel SDK Histogram.record"] = otel_sdk
        if bridges is not None:
            bridges += [buffered, sustained]
    if "prometheus_client" in peers:
        hist = peers["prometheus_client"]
        child = hist.labels("/api/portfolio")

        def prom_labels() -> int:
            labels = hist.labels
            for v in values:
                labels("/api/portfolio").observe(v / 1000.0)
            return n

        def prom_child() -> int:
            observe = child.observe
            for v in values:
                observe(v / 1000.0)
            return n

        passes["prometheus .labels().observe"] = prom_labels
        passes["prometheus child.observe"] = prom_child
    if "hdrhistogram" in peers:
        def hdr() -> int:
            record = peers["hdrhistogram"].record_value
            for v in values:
                record(int(v * 1000))
            return n
        passes["hdrhistogram"] = hdr
    if "ddsketch" in peers:
        def dd() -> int:
            add = peers["ddsketch"].add
            for v in values:
                add(v)
            return n
        passes["ddsketch"] = dd
    return passes


def _burst_figures(values: list[float], rounds: int) -> dict[str, float]:
    """record_request with the OTel bridge when each burst fills the buffer 4 times (the default
    max_pending, or a quarter of ``values``) and the drain thread keeps up between bursts (a
    collection, untimed, empties its queue first): the recording thread's best ns per record
    over the rounds (the buffer takes and the drain thread's share of the GIL included), and
    the worst single record in ns, from bursts timed call by call, beside the same worst
    without a bridge. Empty without the OpenTelemetry SDK."""
    made = _otel_provider()
    if made is None:
        return {}
    provider, reader = made
    cap = max(1, min(16384, len(values) // 4))
    burst = values[:4 * cap]
    plain = _ours().record_request
    bridge = _ours().bridge_otel(provider, max_pending=cap)
    record = bridge.monitor.record_request
    clock = time.perf_counter_ns
    best, worst, worst_plain = math.inf, 0, 0
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            reader.get_metrics_data()
            start = clock()
            for v in burst:
                record("/api/portfolio", v, True)
            best = min(best, (clock() - start) / len(burst))
        for _ in range(max(1, rounds // 2)):
            reader.get_metrics_data()
            for v in burst:
                start = clock()
                record("/api/portfolio", v, True)
                worst = max(worst, clock() - start)
            reader.get_metrics_data()            # the drain thread idle again
            for v in burst:
                start = clock()
                plain("/api/portfolio", v, True)
                worst_plain = max(worst_plain, clock() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
        bridge.monitor.take_pending()            # dropped rather than exported
        bridge.close()
    return {"amortised": best, "worst": float(worst), "worst without bridge": float(worst_plain),
            "burst": float(len(burst))}


def _p99_errors(values: list[float]) -> tuple[float, dict[str, float]]:
    want = float(np.percentile(values, 99, method="inverted_cdf"))
    ours = _ours()
    for v in values:
        ours.record_metric("latency", v)
    got = {"defiperf": ours.get_series("latency").histogram().quantile(0.99)}
    peers = {name: make() for name, make in available(PEERS).items() if name != "prometheus_client"}
    if "hdrhistogram" in peers:
        for v in values:
            peers["hdrhistogram"].record_value(int(v * 1000))
        got["hdrhistogram"] = peers["hdrhistogram"].get_value_at_percentile(99.0) / 1000.0
    if "ddsketch" in peers:
        for v in values:
            peers["ddsketch"].add(v)
        got["ddsketch"] = peers["ddsketch"].get_quantile_value(0.99)
    errors = {name: abs(v - want) / want for name, v in got.items()}
    return errors.pop("defiperf"), errors


def run(quick: bool = False, n_ops: int = 200_000) -> list[Row]:
    rounds = 3 if quick else 7
    values = _latencies(n_ops // 10 if quick else n_ops)
    bridges: list[Any] = []
    best = best_ns_per_op(_record_passes(values, bridges), rounds)
    for bridge in bridges:          # drop what the bench recorded rather than export it
        bridge.monitor.take_pending()
        bridge.close()
    burst = _burst_figures(values, rounds)
    if burst:
        best["defiperf + OTel bridge, buffer full 4x a burst (drain thread keeps up)"] = \
            burst["amortised"]
    rows = [Row("monitor", "record_request", "ns/op", best.pop("defiperf"), best,
                note="peers: one labelled histogram observe / record per request; the OTel "
                     "bridge defers the SDK's per-value cost to collection or its drain "
                     "thread, unless the SDK cannot keep up (overload)")]
    if burst:
        rows.append(Row("monitor", "record_request worst call, OTel bridge", "us",
                        burst["worst"] / 1000,
                        {"defiperf without bridge": burst["worst without bridge"] / 1000},
                        note=f"bursts of {burst['burst']:,.0f} records filling the buffer 4 "
                             f"times, each call timed; noisy: GIL switches and the host"))
    ours = _ours()

    def ours_metric() -> int:
        record = ours.record_metric
        for v in values:
            record("price_updates_per_second", v)
        return len(values)

    passes: dict[str, Callable[[], int]] = {"defiperf": ours_metric}
    if "prometheus_client" in available(PEERS):
        child = _prometheus().labels("x")

        def prom_child() -> int:
            observe = child.observe
            for v in values:
                observe(v)
            return len(values)

        passes["prometheus child.observe"] = prom_child
    best = best_ns_per_op(passes, rounds)
    rows.append(Row("monitor", "record_metric", "ns/op", best.pop("defiperf"), best))
    ours_err, peer_err = _p99_errors(_latencies(100_000))
    rows.append(Row("monitor", "p99 relative error", "ratio", ours_err, peer_err,
                    note="lognormal latencies, 1e5 values; numpy inverted_cdf as truth"))
    return rows
