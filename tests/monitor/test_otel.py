"""OpenTelemetry bridge, read back with the SDK's InMemoryMetricReader: exact counts, sums and
cumulative buckets observed from the store (also of what was recorded before bridging), custom
metrics of either sign, counters and gauges, several monitors on one MeterProvider, argument
checks, and a record path the bridge does not touch."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from conftest import FakeTimer
from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor import MonitoringConfig, PerformanceMonitor
from defiperf.monitor import otel
from defiperf.monitor.otel import OTelBridge, instrument_names


def new_monitor(timer: FakeTimer, **config: Any) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False, **config), timer=timer,
                              alert_handlers=[])


def provider() -> tuple[MeterProvider, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    return MeterProvider(metric_readers=[reader]), reader


def points(reader: InMemoryMetricReader) -> dict[str, dict[tuple[tuple[str, Any], ...], Any]]:
    """metric name -> sorted attribute items -> value."""
    data = reader.get_metrics_data()
    out: dict[str, dict[tuple[tuple[str, Any], ...], Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "defiperf"
            for metric in sm.metrics:
                got = out.setdefault(metric.name, {})
                for p in metric.data.data_points:
                    key = tuple(sorted(p.attributes.items()))
                    assert key not in got, f"{metric.name} {key} reported twice"
                    got[key] = p.value
    return out


def test_duration_counts_sums_and_buckets_are_exact(fake_timer: FakeTimer) -> None:
    m = new_monitor(fake_timer)
    mp, reader = provider()
    values_ms = [0.5, 5.0, 10.0, 10.0, 250.0, 1000.0, 7500.0, 0.1]
    m.record_request("/api/portfolio", values_ms[0])            # before the bridge: counted
    m.bridge_otel(mp)
    for ms in values_ms[1:]:
        m.record_request("/api/portfolio", ms, ms < 5000)
    m.record_chain_call("ethereum", "eth_call", 120.0)
    m.record_http("GET", "/items/{id}", 503, 40.0)
    got = points(reader)
    key = (("endpoint", "/api/portfolio"),)
    assert got["defiperf.request.duration.count"][key] == len(values_ms)
    assert got["defiperf.request.duration.sum"][key] == m.get_series("request:/api/portfolio").sum / 1000
    assert got["defiperf.request.duration.sum"][key] == pytest.approx(sum(values_ms) / 1000,
                                                                     rel=1e-12)
    buckets = {dict(k)["le"]: v for k, v in got["defiperf.request.duration.bucket"].items()}
    want = {repr(b): sum(ms / 1000 <= b for ms in values_ms) for b in m.buckets_s}
    assert buckets == {**want, "+Inf": len(values_ms)}
    assert got["defiperf.request.errors"][key] == 1
    assert got["defiperf.chain.call.duration.count"][
        (("chain", "ethereum"), ("rpc.method", "eth_call"))] == 1
    http = (("http.request.method", "GET"), ("http.response.status_code", 503),
            ("http.route", "/items/{id}"))
    assert got["defiperf.http.server.request.duration.count"][http] == 1
    assert got["defiperf.http.server.request.duration.sum"][http] == 0.04
    m.record_request("/api/portfolio", 2.0)                      # cumulative across collections
    assert points(reader)["defiperf.request.duration.count"][key] == len(values_ms) + 1


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
    for _ in range(3):
        a.record_request("/x", 1.0, False)
    b.record_request("/x", 1.0, False)
    a.counter("jobs").inc(2)
    b.counter("jobs").inc(5)
    got = points(reader)
    assert got["defiperf.request.errors"] == {(("endpoint", "/x"), ("monitor", "a")): 3,
                                              (("endpoint", "/x"), ("monitor", "b")): 1}
    assert got["defiperf.counters"] == {(("monitor", "a"), ("name", "jobs")): 2,
                                        (("monitor", "b"), ("name", "jobs")): 5}
    b_bridge.close()
    b_bridge.close()                                            # idempotent
    assert set(points(reader)["defiperf.counters"]) == {(("monitor", "a"), ("name", "jobs"))}
    b.bridge_otel(mp, attributes={"monitor": "b"})              # the instruments are reused
    assert points(reader)["defiperf.counters"][(("monitor", "b"), ("name", "jobs"))] == 5
    # one monitor on two providers is fine too
    other_mp, other_reader = provider()
    a.bridge_otel(other_mp)
    assert points(other_reader)["defiperf.request.errors"] == {(("endpoint", "/x"),): 3}


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
    assert got["defiperf.request.duration.count"] == {x: 2, y: 1}
    assert got["defiperf.request.duration.sum"] == {x: 100.0 / 1000 + 2.0 / 1000, y: 0.003}
    assert got["defiperf.request.errors"] == {x: 1, y: 0}
    le = {dict(k)["le"]: v for k, v in got["defiperf.request.duration.bucket"].items()
          if dict(k)["endpoint"] == "/x"}
    assert le["0.0025"] == 1 and le["0.1"] == 2 and le["+Inf"] == 2
    assert got["defiperf.counters"] == {(("name", "jobs"),): 7, (("name", "only b"),): 1}
    assert got["defiperf.gauges"] == {(("name", "depth"),): 4}          # the first one's
    assert "distinct attributes" in caplog.text


def test_recording_never_calls_into_the_bridge() -> None:
    m = PerformanceMonitor(MonitoringConfig(system_metrics=False), alert_handlers=[])  # C clock
    mp, _ = provider()
    m.bridge_otel(mp)
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


def test_a_failing_monitor_hides_no_other(fake_timer: FakeTimer,
                                          caplog: pytest.LogCaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otel, "_log", RateLimitedLog(otel._log.logger))  # fresh rate limits
    good = new_monitor(fake_timer)
    mp, reader = provider()

    class Broken:
        buckets_s = (0.1,)
        overflow_records = 0

        def series(self, kind: str | None = None) -> list[Any]:
            raise RuntimeError("store gone")

        def counters(self) -> list[Any]:
            return []

        def gauges(self) -> list[Any]:
            return []

    OTelBridge(Broken(), mp, attributes={"m": "broken"})
    good.bridge_otel(mp, attributes={"m": "good"})
    good.record_timing("job", 5.0)
    with caplog.at_level(logging.WARNING, logger="defiperf.monitor"):
        got = points(reader)
        points(reader)
    assert got["defiperf.operation.duration.count"] == {(("m", "good"), ("operation", "job")): 1}
    assert sum("store gone" in r.getMessage() for r in caplog.records) == 1
