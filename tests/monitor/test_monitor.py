"""PerformanceMonitor end to end: sampler thread, timers, event-loop lag, reports, Prometheus
text parsed back, the PNG plot, config validation."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conftest import FakeTimer
from defiperf.monitor import DEFAULT_MONITORING_CONFIG, MonitoringConfig, PerformanceMonitor
from defiperf.monitor.plot import plot_latency


def quiet(timer: FakeTimer | None = None, **cfg: Any) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False, **cfg), timer=timer,
                              alert_handlers=[])


def test_sampler_thread_records_system_metrics_and_stops_cleanly() -> None:
    m = PerformanceMonitor(MonitoringConfig(sample_interval_s=0.01), alert_handlers=[])
    before = threading.active_count()
    with m:
        assert m.running
        deadline = time.monotonic() + 10
        while m.get_series("system:rss_bytes").count < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert not m.running and threading.active_count() == before
    names = {s.name for s in m.series("system")}
    assert {"cpu_percent_process", "cpu_percent_system", "rss_bytes", "memory_percent_system",
            "threads"} <= names
    assert {"net_sent_bytes_per_s", "net_recv_bytes_per_s"} <= names  # rates after 2 samples
    assert m.get_series("system:rss_bytes").last > 1e6
    m.stop()  # idempotent


def test_timer_context_manager_and_decorators(fake_timer: FakeTimer) -> None:
    m = quiet(fake_timer)
    with m.timer("block"):
        fake_timer.tick(0.25)

    @m.timer("sync")
    def work(x: int) -> int:
        fake_timer.tick(0.001)
        return x * 2

    @m.timer("async")
    async def awork() -> str:
        fake_timer.tick(0.002)
        return "ok"

    @m.timer("fails")
    def boom() -> None:
        raise KeyError("x")

    assert work(21) == 42 and work.__name__ == "work"
    assert asyncio.run(awork()) == "ok"
    with pytest.raises(KeyError):
        boom()
    with pytest.raises(ZeroDivisionError), m.timer("block"):
        1 / 0
    assert m.get_series("timer:block").stats()["max"] == pytest.approx(250.0, rel=0.01)
    assert m.get_series("timer:block").stats()["bad"] == 1
    assert m.get_series("timer:sync").stats()["sum"] == pytest.approx(1.0, rel=0.01)
    assert m.get_series("timer:async").stats()["sum"] == pytest.approx(2.0, rel=0.01)
    assert m.get_series("timer:fails").stats()["bad"] == 1


async def test_async_with_measures_event_loop_lag() -> None:
    m = PerformanceMonitor(MonitoringConfig(sample_interval_s=0.05, loop_lag_target_ms=20),
                           alert_handlers=[])
    async with m:
        m.watch_event_loop(0.01)  # already watching: the same task
        await asyncio.sleep(0.05)
        time.sleep(0.1)  # block the loop on purpose
        await asyncio.sleep(0.05)
    lag = m.get_series("system:event_loop_lag_ms").stats()
    assert lag["max"] >= 50 and not m.running
    assert ("event_loop_lag", "system:event_loop_lag_ms") in [
        (b.kind, b.subject) for b in m.get_bottlenecks()]
    assert all(t.get_name() != "defiperf-loop-lag" for t in asyncio.all_tasks())


def test_report_json_markdown_and_snapshot(fake_timer: FakeTimer) -> None:
    m = quiet(fake_timer)
    for i in range(50):
        m.record_request("/api/portfolio", 45.0 + i, i % 10 != 0)
        m.record_cache("l1", i % 4 != 0, 0.002)
    m.record_metric("price_updates_per_second", 1500, "ops/sec")
    m.counter("orders").inc(3)
    fake_timer.tick(60)
    m.record_request("/api/portfolio", 100.0)
    report = m.generate_report()
    data = json.loads(report.to_json())
    assert data["summary"]["requests"] == 1 and data["summary"]["errors"] == 0
    assert data["hot_paths"][0]["key"] == "request:/api/portfolio"
    keys = {s["key"] for s in data["series"]}
    assert {"request:/api/portfolio", "cache:l1", "metric:price_updates_per_second"} <= keys
    total = next(s for s in data["series"] if s["key"] == "request:/api/portfolio")["total"]
    assert total["count"] == 51 and total["bad"] == 5
    assert data["trends"][0]["key"] == "request:/api/portfolio"
    md = report.to_markdown()
    assert "## Hot paths" in md and "| request:/api/portfolio |" in md
    snap = m.snapshot()
    json.dumps(snap, allow_nan=False)
    assert snap["summary"]["counters"] == {"orders": 3.0}
    cache = next(s for s in snap["series"] if s["key"] == "cache:l1")
    assert cache["current"]["count"] == 0 and cache["current"]["p99"] is None  # NaN -> null


def test_prometheus_exposition_parses_back(fake_timer: FakeTimer) -> None:
    m = quiet(fake_timer)
    for ms in (0.2, 3.0, 30.0, 300.0, 3000.0):
        m.record_request("/api/portfolio", ms, ms < 1000)
    m.record_chain_call("ethereum", "eth_call", 120.0)
    m.record_cache("l1", False, 0.05)
    m.record_metric("price updates/s", 1500.0, "ops/sec")
    m.counter("orders placed").inc(2)
    m.gauge("queue depth").set(7)
    registry = CollectorRegistry()
    m.register_prometheus(registry)
    text = generate_latest(registry).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    req = fams["defiperf_request_duration_seconds"]
    samples = {(s.name, s.labels.get("le")): s.value for s in req.samples
               if s.labels.get("endpoint") == "/api/portfolio"}
    assert samples[("defiperf_request_duration_seconds_count", None)] == 5
    assert samples[("defiperf_request_duration_seconds_sum", None)] == pytest.approx(3.3332, rel=0.01)
    assert samples[("defiperf_request_duration_seconds_bucket", "0.001")] == 1
    assert samples[("defiperf_request_duration_seconds_bucket", "0.005")] == 2
    assert samples[("defiperf_request_duration_seconds_bucket", "1.0")] == 4
    assert samples[("defiperf_request_duration_seconds_bucket", "+Inf")] == 5
    buckets = [v for (n, le), v in samples.items() if n.endswith("_bucket")]
    assert buckets == sorted(buckets)
    errors = fams["defiperf_request_errors"].samples[0]
    assert errors.name == "defiperf_request_errors_total"
    assert errors.value == 1 and errors.labels == {"endpoint": "/api/portfolio"}
    chain = [s for s in fams["defiperf_chain_call_duration_seconds"].samples
             if s.name.endswith("_count")]
    assert chain[0].labels == {"chain": "ethereum", "method": "eth_call"} and chain[0].value == 1
    assert fams["defiperf_cache_misses"].samples[0].value == 1
    assert fams["defiperf_orders_placed"].samples[0].value == 2
    assert fams["defiperf_queue_depth"].samples[0].value == 7
    custom = {s.name: s.value for s in fams["defiperf_price_updates_per_second"].samples}
    assert custom["defiperf_price_updates_per_second_count"] == 1
    assert custom["defiperf_price_updates_per_second_sum"] == 1500


def test_plot_writes_a_png(tmp_path: Path, fake_timer: FakeTimer) -> None:
    m = quiet(fake_timer)
    for step in range(5):
        for i in range(20):
            m.record_request("/api", 10.0 + step + i)
        m.tick()
        fake_timer.tick(5)
    out = tmp_path / "latency.png"
    plot_latency(m, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(m.history["request:/api"]) == 5
    with pytest.raises(KeyError, match="no history"):
        plot_latency(m, out, keys=["request:/nope"])


@pytest.mark.parametrize(
    ("kw", "error"),
    [({"window_s": 0}, ValueError), ({"cache_hit_rate_target": 1.5}, ValueError),
     ({"max_series": "many"}, TypeError), ({"latency_targets_ms": {"/a": -1}}, ValueError),
     ({"sample_interval_s": math.nan}, ValueError), ({"latency_targets_ms": [1]}, TypeError)],
)
def test_config_validation(kw: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        MonitoringConfig(**kw)


def test_config_is_a_plain_copyable_object() -> None:
    hft = DEFAULT_MONITORING_CONFIG.replace(sample_interval_s=30.0, latency_targets_ms={"/q": 1})
    assert hft.sample_interval_s == 30.0 and DEFAULT_MONITORING_CONFIG.sample_interval_s == 5.0
    assert hft.latency_target_ms("request", "request:/q", "/q") == 1
    assert hft.latency_target_ms("request", "request:/x", "/x") == 200.0
    assert "sample_interval_s=30.0" in repr(hft)
    with pytest.raises(TypeError, match="MonitoringConfig"):
        PerformanceMonitor({"window_s": 1})  # type: ignore[arg-type]


def test_prometheus_http_server_serves_our_series(fake_timer: FakeTimer) -> None:
    import socket
    import urllib.request

    from prometheus_client import start_http_server

    m = quiet(fake_timer)
    m.record_request("/api", 12.0)
    registry = CollectorRegistry()
    m.register_prometheus(registry, namespace="svc")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            body = resp.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert 'svc_request_duration_seconds_count{endpoint="/api"} 1.0' in body


def test_docstring_examples() -> None:
    import doctest

    import defiperf.monitor._store
    import defiperf.monitor.alerts
    import defiperf.monitor.monitor

    for module in (defiperf.monitor.alerts, defiperf.monitor.monitor, defiperf.monitor._store):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0
