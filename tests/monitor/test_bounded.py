"""Bounded everywhere: every record_* and counter/gauge honours max_series with an overflow
series, never raises for it, keeps memory flat for 10^6 new names, and says so in one
rate-limited log line; the library's loggers have a NullHandler."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from conftest import FakeTimer
from defiperf._ratelimit import RateLimitedLog
from defiperf.monitor import KINDS, MetricStore, MonitoringConfig, PerformanceMonitor
from defiperf.monitor import _store

# each: (what it makes, how to record the i-th new name)
RECORDS: dict[str, Callable[[MetricStore, str], Any]] = {
    "metric": lambda m, n: m.record_metric(n, 1.0, "ops/sec"),
    "request": lambda m, n: m.record_request(n, 1.0),
    "db": lambda m, n: m.record_db_query(n, 1.0),
    "cache": lambda m, n: m.record_cache(n, True, 1.0),
    "chain": lambda m, n: m.record_chain_call(n, "eth_call", 1.0),
    "chain_method": lambda m, n: m.record_chain_call("ethereum", n, 1.0),
    "timer": lambda m, n: m.record_timing(n, 1.0),
    "system": lambda m, n: m.record_system(n, 1.0),
    "http": lambda m, n: m.record_http("GET", n, 200, 1.0),
    "counter": lambda m, n: m.counter(n).inc(),
    "gauge": lambda m, n: m.gauge(n).set(1.0),
}


def test_every_kind_has_a_record_case() -> None:
    assert set(KINDS) <= {name.split("_")[0] for name in RECORDS}


@pytest.mark.parametrize("what", sorted(RECORDS))
def test_past_the_cap_new_names_go_to_overflow_without_error(what: str,
                                                             fake_timer: FakeTimer) -> None:
    m = MetricStore(max_series=5, timer=fake_timer)
    for i in range(50):
        RECORDS[what](m, f"name-{i}")
    assert m.n_series == 5
    assert m.overflow_records == 45
    if what in ("counter", "gauge"):
        made = m.counters() if what == "counter" else m.gauges()
        assert [c.name for c in made][-1] == "__overflow__" and len(made) == 6
        overflow = made[-1]
        assert overflow.value == (45.0 if what == "counter" else 1.0)
    else:
        kind = what.split("_")[0]
        series = m.series(kind)
        assert len(series) == 6 and series[-1].name == "__overflow__"
        assert series[-1].count == 45
        assert sum(s.count for s in series) == 50


def test_known_names_keep_recording_after_the_cap(fake_timer: FakeTimer) -> None:
    m = MetricStore(max_series=2, timer=fake_timer)
    m.record_chain_call("ethereum", "eth_call", 5.0)
    m.counter("orders").inc()
    m.record_chain_call("solana", "getSlot", 5.0)   # overflow
    m.counter("other").inc(3)                       # overflow
    m.record_chain_call("ethereum", "eth_call", 7.0)
    m.counter("orders").inc()
    assert m.get_series("chain:ethereum.eth_call").count == 2
    assert [(c.name, c.value) for c in m.counters()] == [("orders", 2.0), ("__overflow__", 3.0)]
    assert [(chain, method) for chain, method, _ in m.chain_series()] == [("ethereum", "eth_call")]


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


@pytest.mark.parametrize("what", ["chain", "chain_method", "http", "counter"])
def test_a_million_new_names_keep_memory_flat(what: str) -> None:
    m = MetricStore(max_series=100)
    record = RECORDS[what]
    for i in range(1000):                      # fill the cap and make the overflow slot
        record(m, f"warm-{i}")
    before = _rss()
    for i in range(1_000_000):
        record(m, f"new-name-{i}")
    grown = _rss() - before
    assert m.overflow_records == 1_000_000 + 900
    assert grown <= 20 * 2**20, f"{what}: +{grown / 2**20:.1f} MiB for 10^6 new names"


def test_monitor_bounds_watched_queues(caplog: pytest.LogCaptureFixture,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from defiperf.monitor import monitor as monitor_module

    monkeypatch.setattr(monitor_module, "_log", RateLimitedLog(monitor_module.logger))
    m = PerformanceMonitor(MonitoringConfig(system_metrics=False, max_series=3),
                           alert_handlers=[])
    with caplog.at_level(logging.WARNING, logger="defiperf.monitor"):
        for i in range(10):
            m.watch_queue(f"q{i}", lambda: 1.0)
    assert sorted(m.queue_depths()) == ["q0", "q1", "q2"]
    assert sum("queues watched already" in r.getMessage() for r in caplog.records) == 1


def test_overflow_is_logged_once_per_interval_with_a_suppressed_count(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeTimer(0.0)
    monkeypatch.setattr(_store, "_log", RateLimitedLog(logging.getLogger("defiperf.monitor"),
                                                       interval_s=60.0, timer=clock))
    m = MetricStore(max_series=1)
    with caplog.at_level(logging.WARNING, logger="defiperf.monitor"):
        for i in range(100):
            m.record_request(f"/u/{i}", 1.0)
        clock.tick(61.0)
        m.record_request("/u/late", 1.0)
    lines = [r.getMessage() for r in caplog.records if "max_series" in r.getMessage()]
    assert len(lines) == 2
    assert "max_series=1" in lines[0] and "'__overflow__'" in lines[0]
    assert "(98 similar messages suppressed)" in lines[1]


def test_library_loggers_have_a_null_handler() -> None:
    import defiperf

    root = logging.getLogger("defiperf")
    assert any(isinstance(h, logging.NullHandler) for h in root.handlers)
    assert defiperf.__version__


def test_bad_input_still_raises_before_anything_changes(fake_timer: FakeTimer) -> None:
    m = MetricStore(max_series=1, timer=fake_timer)
    with pytest.raises(ValueError, match="duration_ms"):
        m.record_http("GET", "/a", 200, -1.0)
    with pytest.raises(TypeError, match="status"):
        m.record_http("GET", "/a", "200", 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="chain labels"):
        m.record_chain_call("eth", 1, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind"):
        m.record("nope", "x", 1.0)
    assert m.n_series == 0 and m.overflow_records == 0


def test_a_monitor_is_a_recorder_and_the_engine_calls_survive_the_cap() -> None:
    from defiperf.batch.hooks import SafeMonitor
    from defiperf.monitor import Recorder

    m = PerformanceMonitor(MonitoringConfig(system_metrics=False, max_series=2),
                           alert_handlers=[])
    assert isinstance(m, Recorder)
    safe = SafeMonitor(m)
    for i in range(5):   # the engine's five calls, each with a new name past the cap
        safe.record_metric(f"batch_size_{i}", 10.0, "items")
        safe.record_timing(f"batch_{i}", 3.0, True)
        safe.count(f"items_{i}", 2)
        safe.watch_queue(f"lane_{i}", lambda: 1.0)
        m.record_cache(f"tier_{i}", True, 0.1)
    assert m.n_series == 2 and m.overflow_records == 5 * 4 - 2
    assert [c.name for c in m.counters()] == ["__overflow__"]
    assert m.counters()[0].value == 10.0


def test_threads_racing_on_new_names_lose_nothing_and_respect_the_cap() -> None:
    import sys
    import threading

    m = MetricStore(max_series=50)
    n_threads, per_thread = 8, 400
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        def work(t: int) -> None:
            for i in range(per_thread):
                name = f"n{i % 120}"             # every thread races on the same new names
                m.record_chain_call("eth", name, 1.0)
                m.record_request(name, 1.0)
                m.counter(name).inc()

        threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
    finally:
        sys.setswitchinterval(old)
    total = n_threads * per_thread
    named = [s for s in m.series() if s.name != "__overflow__"] + \
        [c for c in m.counters() if c.name != "__overflow__"]
    assert m.n_series == len(named) == 50
    for kind in ("chain", "request"):
        assert sum(s.count for s in m.series(kind)) == total
        assert len({s.name for s in m.series(kind)}) == len(m.series(kind))
    assert sum(c.value for c in m.counters()) == total


class HostileStr(str):
    """A str subclass whose hash and equality misbehave after it was first used."""

    calls = 0

    def __hash__(self) -> int:
        HostileStr.calls += 1
        return str.__hash__(self) if HostileStr.calls < 3 else HostileStr.calls

    def __eq__(self, other: object) -> bool:
        return False


def test_str_subclass_names_are_stored_as_plain_str(fake_timer: FakeTimer) -> None:
    m = MetricStore(max_series=10, timer=fake_timer)
    for _ in range(5):
        m.record_request(HostileStr("/a"), 1.0)
        m.counter(HostileStr("c")).inc()
    (series,) = m.series("request")
    assert type(series.name) is str and series.count == 5 and m.n_series == 2
    assert [type(c.name) for c in m.counters()] == [str] and m.counters()[0].value == 5


def test_reinit_is_refused_before_anything_changes(fake_timer: FakeTimer) -> None:
    m = MetricStore(window_s=60.0, timer=fake_timer)
    m.record_request("/a", 1.0)
    with pytest.raises(RuntimeError, match="initialised"):
        m.__init__(window_s=1.0)  # type: ignore[misc]
    assert m.window_s == 60.0 and m.get_series("/a").count == 1


def test_a_name_that_cannot_be_exported_is_refused_and_scrapes_keep_working() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from defiperf.monitor import MonitoringConfig, PerformanceMonitor

    monitor = PerformanceMonitor(MonitoringConfig(system_metrics=False), alert_handlers=[])
    registry = CollectorRegistry()
    monitor.register_prometheus(registry=registry)
    bad = b"/files/\xff".decode("utf-8", "surrogateescape")
    for record in (lambda: monitor.record_request(bad, 1.0), lambda: monitor.record_metric(bad, 1.0),
                   lambda: monitor.counter(bad), lambda: monitor.gauge(bad)):
        with pytest.raises(ValueError, match="UTF-8"):
            record()
    monitor.record_request("/ok", 1.0)
    assert b"/ok" in generate_latest(registry)


def test_a_flood_of_distinct_keys_is_bounded_per_interval(fake_timer: FakeTimer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    log = RateLimitedLog(logging.getLogger("defiperf.test.flood"), interval_s=60.0,
                         timer=fake_timer, max_keys=16, max_lines=10)
    with caplog.at_level(logging.WARNING, logger="defiperf.test.flood"):
        for i in range(2400):
            log.warning(f"dup:{i}", "collision %d", i)
        assert len(caplog.records) == 10
        fake_timer.tick(61.0)
        log.warning("next", "after the interval")
    assert "2390 messages of other kinds were suppressed" in caplog.records[-2].getMessage()
    assert caplog.records[-1].getMessage() == "after the interval"
