"""OpenTelemetry bridge, read back with the SDK's InMemoryMetricReader: histograms with exact
counts, sums and bucket counts (values on a bound included) of what was recorded while bridged,
custom metrics of either sign, counters and gauges, several monitors on one MeterProvider,
close(), full pending buffers (nothing dropped; the drain thread: test_otel_drain.py),
recording from many threads while collecting (nothing lost, nothing counted twice), argument
checks, and a monitor without a bridge that appends nothing."""

from __future__ import annotations

import logging
import math
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (AggregationTemporality, HistogramDataPoint,
                                              InMemoryMetricReader)

from conftest import FakeTimer
from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor import MonitoringConfig, PerformanceMonitor
from defiperf.monitor import otel
from defiperf.monitor.otel import OTelBridge, instrument_names


def new_monitor(timer: FakeTimer, **config: Any) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False, **config), timer=timer,
                              alert_handlers=[])


def provider(reader: InMemoryMetricReader | None = None
             ) -> tuple[MeterProvider, InMemoryMetricReader]:
    reader = reader or InMemoryMetricReader()
    return MeterProvider(metric_readers=[reader]), reader


def points(reader: InMemoryMetricReader) -> dict[str, dict[tuple[tuple[str, Any], ...], Any]]:
    """metric name -> sorted attribute items -> value (a HistogramDataPoint for histograms)."""
    data = reader.get_metrics_data()
    out: dict[str, dict[tuple[tuple[str, Any], ...], Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "defiperf"
            for metric in sm.metrics:
                got = out.setdefault(metric.name, {})
                for p in metric.data.data_points:
                    key = tuple(sorted((p.attributes or {}).items()))
                    assert key not in got, f"{metric.name} {key} reported twice"
                    got[key] = p if isinstance(p, HistogramDataPoint) else getattr(p, "value")
    return out


def buckets(point: HistogramDataPoint) -> list[int]:
    """The cumulative counts at each explicit bound (Prometheus' le), then +Inf."""
    out, acc = [], 0
    for n in point.bucket_counts:
        acc += n
        out.append(acc)
    return out


def assert_exact(point: HistogramDataPoint, values_ms: list[float],
                 bounds_s: tuple[float, ...]) -> None:
    """count, sum, min, max and every bucket of ``point`` are those of ``values_ms`` recorded
    in this order (each ms value exported as ms / 1000)."""
    secs = [v / 1000.0 for v in values_ms]
    total = 0.0
    for v in secs:                               # the SDK adds in recording order: so do we
        total += v
    assert tuple(point.explicit_bounds) == bounds_s
    assert (point.count, point.sum) == (len(values_ms), total)
    assert (point.min, point.max) == (min(secs), max(secs))
    want = [sum(1 for v in secs if v <= b) for b in bounds_s]
    assert buckets(point) == [*want, len(values_ms)]


def hammer(record: Callable[[list[float]], None], per_thread: list[list[float]],
           collect: Callable[[], None]) -> None:
    """``record(values)`` on a thread per list of ``per_thread`` while another thread calls
    ``collect()`` until they are done, all with sys.setswitchinterval(1e-6)."""
    done = threading.Event()

    def collecting() -> None:
        while not done.is_set():
            collect()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        collector = threading.Thread(target=collecting)
        collector.start()
        workers = [threading.Thread(target=record, args=(v,)) for v in per_thread]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        done.set()
        collector.join(timeout=120)
    finally:
        sys.setswitchinterval(old)
    assert not collector.is_alive() and not any(w.is_alive() for w in workers)


def test_histograms_are_exact_including_values_on_a_bound(fake_timer: FakeTimer) -> None:
    m = new_monitor(fake_timer)
    mp, reader = provider()
    m.record_request("/api/portfolio", 3.0, False)              # before the bridge: not counted
    m.bridge_otel(mp)
    values_ms = [0.5, 5.0, 10.0, 10.0, 250.0, 1000.0, 7500.0, 0.1, 100.0, 0.25, 12000.0]
    for ms in values_ms:                                         # 10, 250, 100, 0.25: on bounds
        m.record_request("/api/portfolio", ms, ms < 5000)
    m.record_chain_call("ethereum", "eth_call", 120.0)
    m.record_http("GET", "/items/{id}", 503, 40.0)
    got = points(reader)
    key = (("endpoint", "/api/portfolio"),)
    point = got["defiperf.request.duration"][key]
    assert_exact(point, values_ms, m.buckets_s)
    assert m.buckets_s[9] == 0.1 and point.bucket_counts[9] == 1  # (0.05, 0.1]: the 100 ms
    assert got["defiperf.request.errors"][key] == 3             # failures since the series began
    assert_exact(got["defiperf.chain.call.duration"][
        (("chain", "ethereum"), ("rpc.method", "eth_call"))], [120.0], m.buckets_s)
    http = (("http.request.method", "GET"), ("http.response.status_code", 503),
            ("http.route", "/items/{id}"))
    assert_exact(got["defiperf.http.server.request.duration"][http], [40.0], m.buckets_s)
    assert not [name for name in got if name.endswith((".count", ".bucket"))
                and "duration" in name]                          # no duplicate counter series
    m.record_request("/api/portfolio", 2.0)                      # cumulative across collections
    point = points(reader)["defiperf.request.duration"][key]
    assert_exact(point, [*values_ms, 2.0], m.buckets_s)
    assert m.n_pending == 0


def test_bucket_counts_equal_the_stores_at_decimal_bounds(fake_timer: FakeTimer) -> None:
    """2.1 ms / 1000 rounds above 0.0021: the store counts it in le=0.0021, and so does OTel."""
    bounds = (0.0021, 0.0049, 0.1, 0.3)
    m = new_monitor(fake_timer, buckets_s=bounds)
    mp, reader = provider()
    m.bridge_otel(mp)
    values_ms = [2.1, 4.9, 0.0021 * 1000, 100.0, 300.0, 4.900000000000001, 2.0]
    assert 2.1 / 1000 > 0.0021 and 4.9 / 1000 > 0.0049           # the case this is about
    for ms in values_ms:
        m.record_timing("job", ms)
    point = points(reader)["defiperf.operation.duration"][(("operation", "job"),)]
    assert buckets(point) == [*m.get_series("timer:job").bucket_counts(), len(values_ms)]
    assert buckets(point)[:2] == [3, 4]
    assert (point.count, point.max) == (len(values_ms), 0.3)
    assert point.sum == pytest.approx(sum(values_ms) / 1000, rel=1e-12)


def test_custom_metrics_of_either_sign_counters_gauges_and_overflow(fake_timer: FakeTimer) -> None:
    m = new_monitor(fake_timer, max_series=4)
    mp, reader = provider()
    m.bridge_otel(mp)
    m.counter("orders").inc(3)
    m.gauge("queue_depth").set(12)
    m.record_metric("payload", 2.0, "KiB")
    m.record_metric("payload", 1.0, "KiB")
    m.record_metric("pnl", 5.0, "USD")
    m.record_metric("pnl", -7.5, "USD")          # negative values are fine: an up-down counter
    m.counter("one too many").inc()              # past max_series: the overflow counter
    m.gauge("one too many").set(-1)
    got = points(reader)
    assert got["defiperf.counters"] == {(("name", "orders"),): 3, (("name", "__overflow__"),): 1}
    assert got["defiperf.gauges"] == {(("name", "queue_depth"),): 12,
                                      (("name", "__overflow__"),): -1}
    payload, pnl = (("name", "payload"), ("unit", "bytes")), (("name", "pnl"), ("unit", "usd"))
    assert got["defiperf.metric.count"] == {payload: 2, pnl: 2}
    assert got["defiperf.metric.sum"] == {payload: 3072.0, pnl: -2.5}
    assert got["defiperf.metric.last"] == {payload: 1024.0, pnl: -7.5}
    assert got["defiperf.series.overflow_records"] == {(): 2}


def test_two_monitors_on_one_provider_lose_nothing(fake_timer: FakeTimer) -> None:
    a, b = new_monitor(fake_timer), new_monitor(fake_timer)
    mp, reader = provider()
    a.bridge_otel(mp, attributes={"monitor": "a"})
    with pytest.raises(ValueError, match="already"):
        a.bridge_otel(mp, attributes={"monitor": "c"})
    b_bridge = b.bridge_otel(mp, attributes={"monitor": "b"})
    for v in (1.0, 2.0, 3.0):
        a.record_request("/x", v, False)
    b.record_request("/x", 50.0, False)
    a.counter("jobs").inc(2)
    b.counter("jobs").inc(5)
    got = points(reader)
    ax, bx = (("endpoint", "/x"), ("monitor", "a")), (("endpoint", "/x"), ("monitor", "b"))
    assert got["defiperf.request.errors"] == {ax: 3, bx: 1}
    assert_exact(got["defiperf.request.duration"][ax], [1.0, 2.0, 3.0], a.buckets_s)
    assert_exact(got["defiperf.request.duration"][bx], [50.0], b.buckets_s)
    assert got["defiperf.counters"] == {(("monitor", "a"), ("name", "jobs")): 2,
                                        (("monitor", "b"), ("name", "jobs")): 5}
    b.record_request("/x", 7.0)                                 # pending when closed: delivered
    b_bridge.close()
    b_bridge.close()                                            # idempotent
    assert (b.pending_cap, b.n_pending) == (0, 0)               # b appends nothing any more
    b.record_request("/x", 9.0)
    assert b.n_pending == 0
    got = points(reader)
    assert set(got["defiperf.counters"]) == {(("monitor", "a"), ("name", "jobs"))}
    assert_exact(got["defiperf.request.duration"][bx], [50.0, 7.0], b.buckets_s)  # kept, as is
    b.bridge_otel(mp, attributes={"monitor": "b"})              # the instruments are reused
    b.record_request("/x", 4.0)
    got = points(reader)
    assert got["defiperf.counters"][(("monitor", "b"), ("name", "jobs"))] == 5
    assert_exact(got["defiperf.request.duration"][bx], [50.0, 7.0, 4.0], b.buckets_s)
    # one monitor on two providers: every duration goes to both, whichever collects first
    other_mp, other_reader = provider()
    a.bridge_otel(other_mp)
    a.record_request("/x", 8.0)
    assert_exact(points(other_reader)["defiperf.request.duration"][(("endpoint", "/x"),)],
                 [8.0], a.buckets_s)
    assert_exact(points(reader)["defiperf.request.duration"][ax], [1.0, 2.0, 3.0, 8.0],
                 a.buckets_s)


def test_monitors_without_attributes_add_up(fake_timer: FakeTimer,
                                            caplog: pytest.LogCaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otel, "_log", RateLimitedLog(otel._log.logger))  # fresh rate limits
    a, b = new_monitor(fake_timer), new_monitor(fake_timer)
    mp, reader = provider()
    a.bridge_otel(mp)
    b.bridge_otel(mp)
    a.record_request("/x", 100.0, False)
    b.record_request("/x", 2.0)
    b.record_request("/y", 3.0)
    a.counter("jobs").inc(2)
    b.counter("jobs").inc(5)
    b.counter("only b").inc(1)
    a.gauge("depth").set(4)
    b.gauge("depth").set(9)
    with caplog.at_level(logging.WARNING, logger="defiperf.monitor"):
        got = points(reader)
    x, y = (("endpoint", "/x"),), (("endpoint", "/y"),)
    assert_exact(got["defiperf.request.duration"][x], [100.0, 2.0], a.buckets_s)
    assert_exact(got["defiperf.request.duration"][y], [3.0], a.buckets_s)
    assert got["defiperf.request.errors"] == {x: 1, y: 0}
    assert got["defiperf.counters"] == {(("name", "jobs"),): 7, (("name", "only b"),): 1}
    assert got["defiperf.gauges"] == {(("name", "depth"),): 4}          # the first one's
    assert "distinct attributes" in caplog.text


def test_monitors_with_other_bounds_need_another_prefix(fake_timer: FakeTimer) -> None:
    a, b = new_monitor(fake_timer), new_monitor(fake_timer, buckets_s=(0.1, 1.0))
    mp, reader = provider()
    a.bridge_otel(mp)
    with pytest.raises(ValueError, match="another prefix"):
        b.bridge_otel(mp, attributes={"m": "b"})
    assert b.pending_cap == 0                                   # refused before anything changed
    b.bridge_otel(mp, prefix="coarse")
    b.record_db_query("q", 500.0)
    point = points(reader)["coarse.db.query.duration"][(("db.query", "q"),)]
    assert_exact(point, [500.0], (0.1, 1.0))


def test_full_buffers_lose_nothing(fake_timer: FakeTimer) -> None:
    m = new_monitor(fake_timer)
    mp, reader = provider()
    m.bridge_otel(mp, max_pending=8)
    values_ms = [float(i % 37) * 3.5 for i in range(1000)]
    seen = set()
    for i, ms in enumerate(values_ms):
        m.record_cache("l1", i % 3 != 0, ms)
        seen.add(m.n_pending)
    assert max(seen) < 8 and m.pending_dropped == 0
    point = points(reader)["defiperf.cache.lookup.duration"][(("cache.tier", "l1"),)]
    assert_exact(point, values_ms, m.buckets_s)
    assert points(reader)["defiperf.cache.misses"][(("cache.tier", "l1"),)] == 334


def test_threads_record_while_readers_collect(fake_timer: FakeTimer) -> None:
    """Four threads record while two readers collect (one cumulative, one delta): the final
    cumulative point and the sum of every delta point both hold each record exactly once."""
    m = new_monitor(fake_timer)
    delta = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    cumulative = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[cumulative, delta])
    m.bridge_otel(mp, max_pending=64)
    # multiples of 1000/1024 ms: every value in seconds is k/1024, so any order sums exactly
    per_thread = [[(t * 7 + i) % 200 * (1000 / 1024) for i in range(3000)] for t in range(4)]
    deltas: list[HistogramDataPoint] = []

    def record(values: list[float]) -> None:
        for v in values:
            m.record_request("/t", v)

    def collect() -> None:
        cumulative.get_metrics_data()
        deltas.extend(points(delta).get("defiperf.request.duration", {}).values())

    hammer(record, per_thread, collect)
    deltas.extend(points(delta).get("defiperf.request.duration", {}).values())
    everything = [v for values in per_thread for v in values]
    point = points(cumulative)["defiperf.request.duration"][(("endpoint", "/t"),)]
    want = [*m.get_series("request:/t").bucket_counts(), len(everything)]
    assert (point.count, point.sum) == (len(everything), math.fsum(everything) / 1000)
    assert buckets(point) == want
    assert sum(d.count for d in deltas) == len(everything)
    assert math.fsum(d.sum for d in deltas) == math.fsum(everything) / 1000
    assert [sum(col) for col in zip(*(d.bucket_counts for d in deltas))] == \
        list(point.bucket_counts)
    assert m.pending_dropped == 0


def test_a_monitor_without_a_bridge_appends_nothing(fake_timer: FakeTimer) -> None:
    m = new_monitor(fake_timer)
    m.record_request("/a", 1.0)
    m.record_timing("t", 2.0)
    m.record_http("GET", "/r", 200, 3.0)
    assert (m.pending_cap, m.n_pending, m.take_pending()) == (0, 0, [])
    mp, _ = provider()
    bridge = m.bridge_otel(mp, max_pending=100)
    m.record_request("/a", 1.0)
    m.record_metric("x", 5.0)                                   # not a duration: not pending
    assert (m.pending_cap, m.n_pending) == (100, 1)
    bridge.close()
    m.record_request("/a", 1.0)
    assert (m.pending_cap, m.n_pending) == (0, 0)


def test_recording_never_calls_into_the_bridge() -> None:
    """Below max_pending a record is C only: no Python function runs (the SDK is not called)."""
    m = PerformanceMonitor(MonitoringConfig(system_metrics=False), alert_handlers=[])  # C clock
    mp, reader = provider()
    m.bridge_otel(mp, max_pending=1000)
    m.record_request("/a", 1.0)                                 # the series exist
    m.record_metric("x", -1.0)
    calls: list[str] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":                                     # a Python function ran
            calls.append(frame.f_code.co_qualname)

    sys.setprofile(profile)
    try:
        for _ in range(100):
            m.record_request("/a", 1.0)
            m.record_metric("x", -1.0)
    finally:
        sys.setprofile(None)
    assert calls == []
    assert points(reader)["defiperf.request.duration"][(("endpoint", "/a"),)].count == 101


@pytest.mark.parametrize("prefix, exc", [
    ("", ValueError), ("1app", ValueError), ("my app", ValueError), ("app:x", ValueError),
    ("a" * 240, ValueError), (None, TypeError), (b"app", TypeError),
])
def test_bad_prefixes_are_refused(fake_timer: FakeTimer, prefix: Any,
                                  exc: type[Exception]) -> None:
    m = new_monitor(fake_timer)
    mp, reader = provider()
    with pytest.raises(exc, match="prefix"):
        OTelBridge(m, mp, prefix)
    assert reader.get_metrics_data() is None or not reader.get_metrics_data().resource_metrics
    longest = max(len(n) for n in instrument_names(""))
    ok = "a" * (255 - longest)
    OTelBridge(m, mp, ok)                                       # exactly 255: fine
    assert max(len(n) for n in instrument_names(ok)) == 255


def test_bad_attributes_and_providers_are_refused(fake_timer: FakeTimer) -> None:
    m = new_monitor(fake_timer)
    mp, _ = provider()
    with pytest.raises(ValueError, match="attributes: 'endpoint'"):
        m.bridge_otel(mp, attributes={"endpoint": "x"})
    with pytest.raises(TypeError, match=r"attributes\['monitor'\]"):
        m.bridge_otel(mp, attributes={"monitor": object()})
    with pytest.raises(TypeError, match="meter_provider"):
        m.bridge_otel(object())
    with pytest.raises(TypeError, match="monitor"):
        OTelBridge(object(), mp)
    with pytest.raises(TypeError, match="max_pending"):
        m.bridge_otel(mp, max_pending=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_pending"):
        m.bridge_otel(mp, max_pending=0)
    assert m.pending_cap == 0                                   # nothing was attached

    class Failing:
        def get_meter(self, *args: Any) -> Any:
            raise RuntimeError("no meter")

    with pytest.raises(RuntimeError, match="no meter"):
        m.bridge_otel(Failing())
    assert m.pending_cap == 0                                   # no tap left behind


def test_a_failing_monitor_hides_no_other(fake_timer: FakeTimer,
                                          caplog: pytest.LogCaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otel, "_log", RateLimitedLog(otel._log.logger))  # fresh rate limits
    good = new_monitor(fake_timer)
    mp, reader = provider()

    class Broken(PerformanceMonitor):
        def series(self, kind: str | None = None) -> list[Any]:
            raise RuntimeError("store gone")

    broken = Broken(MonitoringConfig(system_metrics=False), timer=fake_timer, alert_handlers=[])
    OTelBridge(broken, mp, attributes={"m": "broken"})
    good.bridge_otel(mp, attributes={"m": "good"})
    good.record_timing("job", 5.0, False)
    broken.record_timing("job", 6.0)
    with caplog.at_level(logging.WARNING, logger="defiperf.monitor"):
        got = points(reader)
        points(reader)
    assert got["defiperf.operation.errors"] == {(("m", "good"), ("operation", "job")): 1}
    durations = got["defiperf.operation.duration"]
    assert_exact(durations[(("m", "good"), ("operation", "job"))], [5.0], good.buckets_s)
    assert_exact(durations[(("m", "broken"), ("operation", "job"))], [6.0], good.buckets_s)
    assert sum("store gone" in r.getMessage() for r in caplog.records) == 1
