"""Prometheus export by the book: parsed back with prometheus_client's parser, linted by
promtool, exact ``le`` counts against prometheus_client's own Histogram, and several monitors
on one registry."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from conftest import FakeTimer
from defiperf.monitor import MonitoringConfig, PerformanceMonitor
from defiperf.monitor._store import DEFAULT_BUCKETS_S
from defiperf.monitor.prometheus import PrometheusCollector, unit_name


class FixedSystem:
    """A system collector with fixed readings (psutil's real ones are tested elsewhere)."""

    UNITS = {"cpu_percent_process": "%", "cpu_percent_system": "%", "rss_bytes": "bytes",
             "memory_percent_system": "%", "disk_read_bytes_per_s": "bytes/s", "open_fds": "",
             "threads": "", "event_loop_lag_ms": "ms"}
    totals = {"disk_read_bytes": 4096.0, "net_sent_bytes": 100.0}

    def sample(self, now: float) -> dict[str, float]:
        return {"cpu_percent_process": 12.0, "cpu_percent_system": 50.0, "rss_bytes": 1e8,
                "memory_percent_system": 25.0, "disk_read_bytes_per_s": 10.0, "open_fds": 9.0,
                "threads": 4.0}


def monitor(timer: FakeTimer, system: Any = False) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=system is not False), timer=timer,
                              alert_handlers=[], system_collector=system or None)


def busy_monitor(timer: FakeTimer) -> PerformanceMonitor:
    """A monitor with a series of every kind, counters, gauges and system readings."""
    m = monitor(timer, FixedSystem())
    for ms in (0.2, 3.0, 30.0, 100.0, 300.0, 3000.0):
        m.record_request("/api/portfolio", ms, ms < 1000)
    m.record_db_query("select prices", 4.0)
    m.record_cache("l1", False, 0.05)
    m.record_chain_call("ethereum", "eth_call", 120.0, False)
    m.record_timing("rebalance", 25.0)
    m.record_http("GET", "/items/{id}", 200, 12.0)
    m.record_http("GET", "/items/{id}", 503, 40.0)
    m.record_metric("price updates", 1500.0, "ops/sec")
    m.record_metric("payload", 2.0, "KiB")
    m.record_metric("fill_ratio_percent", 80.0, "%")
    m.record_system("event_loop_lag_ms", 3.0, "ms")
    m.counter("orders placed").inc(2)
    m.counter("fills_total").inc(5)
    m.gauge("queue depth").set(7)
    m.tick()
    return m


def exposition(*monitors: tuple[PerformanceMonitor, dict[str, str]]) -> str:
    registry = CollectorRegistry()
    for m, labels in monitors:
        m.register_prometheus(registry, const_labels=labels)
    return generate_latest(registry).decode()


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def promtool(text: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        pytest.skip("promtool not found: apt-get install prometheus (Debian) provides it")
    return subprocess.run([exe, "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)


def test_promtool_finds_nothing_to_lint(fake_timer: FakeTimer) -> None:
    text = exposition((busy_monitor(fake_timer), {}))
    out = promtool(text)
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), \
        out.stdout + out.stderr


def test_every_family_has_help_and_type_and_base_units(fake_timer: FakeTimer) -> None:
    text = exposition((busy_monitor(fake_timer), {}))
    helps = re.findall(r"^# HELP (\S+) ", text, re.M)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert helps and sorted(helps) == sorted(types) and len(set(helps)) == len(helps)
    for name, kind in types.items():
        assert name.startswith("defiperf_")
        assert not re.search(r"_(ms|milliseconds|percent|pct|kib|kb)(_|$)", name), name
        if kind == "counter":
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), name
    fams = families(text)
    durations = [n for n, f in fams.items() if f.type == "histogram"]
    assert sorted(durations) == sorted(
        f"defiperf_{stem}" for stem in ("request_duration_seconds", "db_query_duration_seconds",
                                        "cache_lookup_duration_seconds", "chain_call_duration_seconds",
                                        "operation_duration_seconds",
                                        "http_server_request_duration_seconds"))
    for f in fams.values():  # units live in names, never in labels
        assert all("unit" not in s.labels for s in f.samples)


def test_custom_and_system_metrics_in_base_units(fake_timer: FakeTimer) -> None:
    fams = families(exposition((busy_monitor(fake_timer), {})))
    value = {s.name: s.value for f in fams.values() for s in f.samples if not s.labels}
    assert value["defiperf_price_updates_per_second_sum"] == 1500.0
    assert value["defiperf_payload_bytes_sum"] == 2048.0
    assert value["defiperf_fill_ratio_sum"] == pytest.approx(0.8)
    assert value["defiperf_event_loop_lag_seconds_sum"] == pytest.approx(0.003)
    assert value["defiperf_host_cpu_usage_ratio"] == 0.5
    assert value["defiperf_host_memory_usage_ratio"] == 0.25
    assert value["defiperf_threads"] == 4.0
    assert value["defiperf_host_disk_read_bytes_total"] == 4096.0
    assert value["defiperf_orders_placed_total"] == 2.0
    assert value["defiperf_fills_total"] == 5.0
    assert value["defiperf_queue_depth"] == 7.0
    assert value["defiperf_series_overflow_records_total"] == 0.0
    quantiles = {s.labels["quantile"]: s.value for s in
                 fams["defiperf_event_loop_lag_seconds"].samples if "quantile" in s.labels}
    assert set(quantiles) == {"0.5", "0.9", "0.99"}
    assert quantiles["0.5"] == pytest.approx(0.003, rel=0.01)


def test_no_duplicates_of_the_standard_process_metrics(fake_timer: FakeTimer) -> None:
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    busy_monitor(fake_timer).register_prometheus(registry)
    text = generate_latest(registry).decode()
    names = set(families(text))
    ours = {n for n in names if n.startswith("defiperf_")}
    assert "process_resident_memory_bytes" in names or "process_cpu_seconds" in names
    assert not any(re.search(r"rss|resident|open_fds|cpu_percent_process|process_cpu", n)
                   for n in ours)
    assert promtool(text).returncode == 0


def test_le_counts_match_prometheus_client_exactly(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    registry = CollectorRegistry()
    theirs = Histogram("theirs_seconds", "reference", buckets=DEFAULT_BUCKETS_S, registry=registry)
    rng = random.Random(15)
    values_s = [b for b in DEFAULT_BUCKETS_S for _ in range(3)]            # on every bound
    values_s += [rng.uniform(0, 12) * 10 ** rng.randint(-4, 0) for _ in range(2000)]
    values_s += [0.0, 0.1, 0.1, 100.0]
    for v in values_s:
        m.record_request("/x", v * 1000.0)
        theirs.observe(v)
    m.register_prometheus(registry)
    fams = families(generate_latest(registry).decode())

    def buckets(name: str) -> dict[str, float]:
        return {s.labels["le"]: s.value for s in fams[name].samples if s.name.endswith("_bucket")}

    ours = buckets("defiperf_request_duration_seconds")
    assert ours == buckets("theirs_seconds")
    assert ours["0.1"] >= 4  # the 100 ms requests are <= 0.1 s


def test_sum_is_exact_in_seconds(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    for ms in (1.5, 2.25, 1000.0):
        m.record_db_query("q", ms)
    fams = families(exposition((m, {})))
    total = {s.name: s.value for s in fams["defiperf_db_query_duration_seconds"].samples}
    assert total["defiperf_db_query_duration_seconds_sum"] == pytest.approx(1.00375)
    assert total["defiperf_db_query_duration_seconds_count"] == 3


def test_two_monitors_on_one_registry_need_distinct_const_labels(fake_timer: FakeTimer) -> None:
    a, b = busy_monitor(fake_timer), busy_monitor(fake_timer)
    registry = CollectorRegistry()
    a.register_prometheus(registry)
    with pytest.raises(ValueError, match="const_labels"):
        b.register_prometheus(registry)
    with pytest.raises(ValueError, match="already"):
        a.register_prometheus(registry)
    a.unregister_prometheus(registry)
    assert generate_latest(registry).decode() == ""
    a.register_prometheus(registry, const_labels={"monitor": "a"})
    with pytest.raises(ValueError, match="const_labels"):
        b.register_prometheus(registry, const_labels={"monitor": "a"})
    with pytest.raises(ValueError, match="const_labels"):
        b.register_prometheus(registry, const_labels={"service": "b"})
    b.register_prometheus(registry, const_labels={"monitor": "b"})
    text = generate_latest(registry).decode()
    assert promtool(text).returncode == 0
    assert len(re.findall(r"^# HELP defiperf_request_duration_seconds ", text, re.M)) == 1
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == len(set(lines))
    series = [(s.name, tuple(sorted(s.labels.items())))
              for f in text_string_to_metric_families(text) for s in f.samples]
    assert len(series) == len(set(series))
    count = {s.labels["monitor"]: s.value for s in
             families(text)["defiperf_request_duration_seconds"].samples
             if s.name.endswith("_count")}
    assert count == {"a": 6, "b": 6}


def test_bad_const_labels_are_refused(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    registry = CollectorRegistry()
    for labels, error in (({"endpoint": "x"}, ValueError), ({"le": "x"}, ValueError),
                          ({"1bad": "x"}, ValueError), ({"ok": 1}, TypeError)):
        with pytest.raises(error):
            m.register_prometheus(registry, const_labels=labels)  # type: ignore[arg-type]


def test_names_that_collide_are_exported_once(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    m.counter("jobs").inc()
    m.gauge("jobs").set(3)            # same family name, another type: dropped (logged)
    m.gauge("x.y").set(1)
    m.gauge("x y").set(2)             # both sanitise to x_y: the second series is dropped
    text = exposition((m, {}))
    fams = families(text)
    assert fams["defiperf_jobs"].type == "counter"
    assert [s.value for s in fams["defiperf_x_y"].samples] == [1.0]
    assert promtool(text).returncode == 0


def test_collector_for_own_registration(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    m.record_request("/a", 5.0)
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(m, namespace="svc", const_labels={"pod": "p1"}))
    fams = families(generate_latest(registry).decode())
    count = [s for s in fams["svc_request_duration_seconds"].samples if s.name.endswith("_count")]
    assert count[0].labels == {"pod": "p1", "endpoint": "/a"} and count[0].value == 1


@pytest.mark.parametrize(("name", "unit", "want"), [
    ("latency", "ms", ("latency_seconds", 1e-3)),
    ("latency_ms", "ms", ("latency_seconds", 1e-3)),
    ("cpu_percent", "%", ("cpu_ratio", 0.01)),
    ("price updates/s", "ops/sec", ("price_updates_per_second", 1.0)),
    ("heap", "MiB", ("heap_bytes", 2.0**20)),
    ("jobs_total", "", ("jobs", 1.0)),
    ("Queue Depth", "items", ("queue_depth_items", 1.0)),
])
def test_unit_names(name: str, unit: str, want: tuple[str, float]) -> None:
    assert unit_name(name, unit) == want


def test_bounds_come_from_the_config_and_stay_exact(fake_timer: FakeTimer) -> None:
    m = PerformanceMonitor(MonitoringConfig(system_metrics=False, buckets_s=(0.005, 0.05, 0.5)),
                           timer=fake_timer, alert_handlers=[])
    for ms in (5.0, 5.0, 50.0, 499.0, 500.0, 501.0):
        m.record_request("/a", ms)
    registry = CollectorRegistry()
    with pytest.raises(ValueError, match="buckets_s"):
        m.register_prometheus(registry, buckets_s=(0.1, 1.0))
    m.register_prometheus(registry, buckets_s=[0.005, 0.05, 0.5])   # the same bounds: fine
    fams = families(generate_latest(registry).decode())
    buckets = {s.labels["le"]: s.value for s in fams["defiperf_request_duration_seconds"].samples
               if s.name.endswith("_bucket")}
    assert buckets == {"0.005": 2, "0.05": 3, "0.5": 5, "+Inf": 6}
    with pytest.raises(ValueError, match="buckets_s"):
        MonitoringConfig(buckets_s=(1.0, 0.5))
    with pytest.raises(TypeError, match="buckets_s"):
        MonitoringConfig(buckets_s="0.1")  # type: ignore[arg-type]


def test_a_second_collector_of_one_namespace_is_refused_by_the_registry(
        fake_timer: FakeTimer) -> None:
    a, b = monitor(fake_timer), monitor(fake_timer)
    registry = CollectorRegistry()
    registry.register(a.prometheus_collector())
    with pytest.raises(ValueError, match="Duplicated"):
        registry.register(b.prometheus_collector())
    registry.register(b.prometheus_collector(namespace="other"))   # another namespace is fine
    assert promtool(generate_latest(registry).decode()).returncode == 0


def test_real_system_collector_exports_cleanly() -> None:
    m = PerformanceMonitor(MonitoringConfig(), alert_handlers=[])   # psutil readings
    m.tick()
    m.tick()
    m.record_system("event_loop_lag_ms", 2.0, "ms")
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    m.register_prometheus(registry)
    text = generate_latest(registry).decode()
    out = promtool(text)
    assert out.returncode == 0, out.stdout + out.stderr
    names = set(families(text))
    assert "defiperf_host_cpu_usage_ratio" in names and "defiperf_threads" in names
    assert not any("per_s" in n or "percent" in n or "rss" in n for n in names)
    if m.system_totals():
        assert any(n.startswith("defiperf_host_") and n.endswith("_bytes") and
                   families(text)[n].type == "counter" for n in names)


def test_openmetrics_exposition_parses_back(fake_timer: FakeTimer) -> None:
    from prometheus_client.openmetrics import exposition as om_exposition
    from prometheus_client.openmetrics import parser as om_parser

    registry = CollectorRegistry()
    busy_monitor(fake_timer).register_prometheus(registry)
    text = om_exposition.generate_latest(registry).decode()
    fams = {f.name: f for f in om_parser.text_string_to_metric_families(text)}
    assert fams["defiperf_request_errors"].type == "counter"
    assert fams["defiperf_request_duration_seconds"].type == "histogram"
    assert fams["defiperf_price_updates_per_second"].type == "summary"


def test_a_bare_metric_store_exports_too(fake_timer: FakeTimer) -> None:
    from defiperf.monitor import MetricStore

    store = MetricStore(timer=fake_timer)
    store.record_request("/a", 100.0)
    store.counter("jobs").inc()
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(store))
    text = generate_latest(registry).decode()
    assert 'defiperf_request_duration_seconds_bucket{endpoint="/a",le="0.1"} 1.0' in text
    assert "defiperf_jobs_total 1.0" in text and promtool(text).returncode == 0


def test_a_family_whose_samples_clash_with_anothers_is_not_exported() -> None:
    import shutil
    import subprocess

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from defiperf.monitor import MonitoringConfig, PerformanceMonitor

    m = PerformanceMonitor(MonitoringConfig(system_metrics=False), alert_handlers=[])
    registry = CollectorRegistry()
    m.register_prometheus(registry=registry)
    m.record_request("/x", 1.0)
    m.record_metric("lat", 1.0, "seconds")
    m.gauge("lat_seconds_count").set(3)            # would write lat_seconds' _count sample
    m.counter("request_duration_seconds_count").inc()
    text = generate_latest(registry).decode()
    samples = [(s.name, tuple(sorted(s.labels.items())))
               for f in text_string_to_metric_families(text) for s in f.samples]
    assert len(samples) == len(set(samples))       # no sample written twice
    assert [f for f in text.splitlines() if f.startswith("# TYPE defiperf_lat_seconds_count")] == []
    if shutil.which("promtool"):
        out = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                             capture_output=True)
        assert "second HELP" not in out.stdout + out.stderr


def openmetrics(registry: CollectorRegistry) -> dict[str, Any]:
    """The OpenMetrics exposition parsed back (the parser refuses negative quantiles and
    counter-like samples), after promtool found nothing to lint in the text format."""
    from prometheus_client.openmetrics import exposition as om_exposition
    from prometheus_client.openmetrics import parser as om_parser

    check = promtool(generate_latest(registry).decode())
    assert check.returncode == 0, check.stdout + check.stderr
    text = om_exposition.generate_latest(registry).decode()
    return {f.name: f for f in om_parser.text_string_to_metric_families(text)}


def test_a_custom_metric_that_went_negative_is_a_gauge_of_its_last_value(
        fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    m.record_metric("pnl", 12.5, "USD")
    m.record_metric("payload", 2.0, "KiB")
    m.record_system("clock_skew_ms", 3.0, "ms")
    registry = CollectorRegistry()
    m.register_prometheus(registry)
    fams = openmetrics(registry)
    assert fams["defiperf_pnl_usd"].type == "summary"       # all values >= 0 so far
    m.record_metric("pnl", -40.0, "USD")
    m.record_metric("pnl", -7.5, "USD")
    m.record_system("clock_skew_ms", -2.0, "ms")
    fams = openmetrics(registry)
    pnl = fams["defiperf_pnl_usd"]
    assert pnl.type == "gauge" and [s.value for s in pnl.samples] == [-7.5]
    skew = fams["defiperf_clock_skew_seconds"]
    assert skew.type == "gauge" and [s.value for s in skew.samples] == [-0.002]
    payload = {s.name: s.value for s in fams["defiperf_payload_bytes"].samples}
    assert fams["defiperf_payload_bytes"].type == "summary"
    assert payload["defiperf_payload_bytes_sum"] == 2048.0
    assert payload["defiperf_payload_bytes_count"] == 1
    assert m.get_series("metric:pnl").stats("total")["sum"] == -35.0   # recorded as given


def test_the_overflow_of_each_kind_has_its_own_family(fake_timer: FakeTimer) -> None:
    small = PerformanceMonitor(MonitoringConfig(system_metrics=False, max_series=4),
                               timer=fake_timer, alert_handlers=[])
    for name in ("overflow", "series_overflow"):            # user names near the reserved ones
        small.counter(name).inc(1)
        small.gauge(name + "_g").set(1)
    small.counter("c2").inc(3)                               # past max_series: to __overflow__
    small.gauge("g2").set(-4)
    small.record_metric("m2", 5.0, "ms")
    small.record_system("s2", 6.0)
    small.record_request("/r2", 7.0)
    registry = CollectorRegistry()
    small.register_prometheus(registry)
    fams = openmetrics(registry)

    def values(name: str) -> dict[str, float]:
        return {s.name: s.value for s in fams[name].samples}

    assert fams["defiperf_series_overflow_increments"].type == "counter"
    assert values("defiperf_series_overflow_increments") == {
        "defiperf_series_overflow_increments_total": 3.0}
    assert values("defiperf_series_overflow_value") == {"defiperf_series_overflow_value": -4.0}
    assert values("defiperf_series_overflow_metric")["defiperf_series_overflow_metric_sum"] == 5.0
    assert values("defiperf_series_overflow_system")["defiperf_series_overflow_system_sum"] == 6.0
    assert values("defiperf_overflow") == {"defiperf_overflow_total": 1.0}
    assert values("defiperf_series_overflow") == {"defiperf_series_overflow_total": 1.0}
    hist = fams["defiperf_request_duration_seconds"]
    assert {s.labels["endpoint"] for s in hist.samples} == {"__overflow__"}
    assert values("defiperf_series_overflow_records")[
        "defiperf_series_overflow_records_total"] == 5.0
