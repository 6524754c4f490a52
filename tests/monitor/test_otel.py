"""OpenTelemetry bridge, read back with the SDK's InMemoryMetricReader: histograms with exact
counts, sums and bucket counts, counters and gauges, and detaching."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from conftest import FakeTimer
from defiperf.monitor import MonitoringConfig, PerformanceMonitor
from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor import otel
from defiperf.monitor.otel import OTelBridge


def setup(timer: FakeTimer) -> tuple[PerformanceMonitor, InMemoryMetricReader, OTelBridge]:
    m = PerformanceMonitor(MonitoringConfig(system_metrics=False), timer=timer,
                           alert_handlers=[])
    reader = InMemoryMetricReader()
    bridge = m.bridge_otel(MeterProvider(metric_readers=[reader]))
    return m, reader, bridge


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    out: dict[str, list[Any]] = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            assert sm.scope.name == "defiperf"
            for metric in sm.metrics:
                out[metric.name] = list(metric.data.data_points)
    return out


def test_duration_histograms_have_exact_counts_and_sums(fake_timer: FakeTimer) -> None:
    m, reader, _ = setup(fake_timer)
    values_ms = [0.5, 5.0, 10.0, 10.0, 250.0, 1000.0, 7500.0]
    for ms in values_ms:
        m.record_request("/api/portfolio", ms, ms < 5000)
    m.record_chain_call("ethereum", "eth_call", 120.0)
    m.record_http("GET", "/items/{id}", 503, 40.0)
    got = points(reader)
    (req,) = got["defiperf.request.duration"]
    assert req.attributes == {"endpoint": "/api/portfolio"}
    assert req.count == len(values_ms)
    assert req.sum == pytest.approx(sum(values_ms) / 1000.0, rel=1e-12)
    assert req.min == 0.0005 and req.max == 7.5
    # the SDK's default boundaries: each value lands in its bucket exactly (values in seconds)
    bounds = list(req.explicit_bounds)
    expected = [0] * (len(bounds) + 1)
    for ms in values_ms:
        expected[next((i for i, b in enumerate(bounds) if ms / 1000.0 <= b), len(bounds))] += 1
    assert list(req.bucket_counts) == expected
    (chain,) = got["defiperf.chain.call.duration"]
    assert chain.attributes == {"chain": "ethereum", "rpc.method": "eth_call"} and chain.count == 1
    (http,) = got["http.server.request.duration"]
    assert http.attributes == {"http.request.method": "GET", "http.route": "/items/{id}",
                               "http.response.status_code": 503}
    (errors,) = got["defiperf.request.errors"]
    assert errors.value == 1 and errors.attributes == {"endpoint": "/api/portfolio"}


def test_counters_gauges_custom_metrics_and_overflow(fake_timer: FakeTimer) -> None:
    m, reader, _ = setup(fake_timer)
    m.counter("orders").inc(3)
    m.gauge("queue_depth").set(12)
    m.record_metric("payload", 2.0, "KiB")
    m.record_metric("payload", 1.0, "KiB")
    m.record_cache("l1", False, 0.1)
    got = points(reader)
    assert [(p.attributes, p.value) for p in got["defiperf.counters"]] == [({"name": "orders"}, 3)]
    assert [(p.attributes, p.value) for p in got["defiperf.gauges"]] == [
        ({"name": "queue_depth"}, 12)]
    (payload,) = got["defiperf.payload_bytes"]
    assert payload.count == 2 and payload.sum == 3072.0
    assert got["defiperf.cache.misses"][0].value == 1
    assert got["defiperf.series.overflow_records"][0].value == 0


def test_close_detaches_and_a_second_bridge_is_refused(fake_timer: FakeTimer) -> None:
    m, reader, bridge = setup(fake_timer)
    m.record_timing("job", 5.0)
    with pytest.raises(ValueError, match="sink"):
        OTelBridge(m, MeterProvider(metric_readers=[InMemoryMetricReader()]))
    bridge.close()
    m.record_timing("job", 5.0)
    (job,) = points(reader)["defiperf.operation.duration"]
    assert job.count == 1          # only what was recorded while attached
    assert m.get_series("timer:job").count == 2


def test_a_broken_meter_never_fails_a_record(fake_timer: FakeTimer,
                                              caplog: pytest.LogCaptureFixture,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(otel, "_log", RateLimitedLog(otel._log.logger))  # fresh rate limits
    m, _, bridge = setup(fake_timer)

    class Broken:
        def record(self, *args: Any) -> None:
            raise RuntimeError("exporter down")

    bridge._histograms["request"] = Broken()
    with caplog.at_level(logging.WARNING, logger="defiperf.monitor"):
        for _ in range(10):
            m.record_request("/a", 1.0)
    assert m.get_series("request:/a").count == 10
    assert sum("exporter down" in r.getMessage() for r in caplog.records) == 1
