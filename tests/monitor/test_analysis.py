"""Bottleneck ranking and hot paths on constructed scenarios (fake clock, fake system stats)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import FakeTimer
from defiperf.monitor import MonitoringConfig, PerformanceMonitor


class FakeSystem:
    """Stands in for SystemCollector: returns whatever the test sets."""

    UNITS: dict[str, str] = {}

    def __init__(self, **values: float) -> None:
        self.values = values

    def sample(self, now: float) -> dict[str, float]:
        return dict(self.values)


def monitor(timer: FakeTimer, system: Any = False, **cfg: Any) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False, **cfg), timer=timer,
                              alert_handlers=[], system_collector=system)


def kinds(m: PerformanceMonitor) -> list[tuple[str, str]]:
    return [(b.kind, b.subject) for b in m.get_bottlenecks()]


def test_hot_paths_rank_by_total_time_with_share_and_trend(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    for _ in range(100):
        m.record_request("/quote", 2.0)         # 200 ms in total
        m.record_db_query("positions", 10.0)    # 1000 ms
    m.record_chain_call("eth", "eth_call", 300.0)  # 300 ms
    fake_timer.tick(60)                         # a window later: /quote doubles
    for _ in range(200):
        m.record_request("/quote", 2.0)
    paths = m.get_hot_paths()
    assert [p.key for p in paths] == ["request:/quote"]
    assert paths[0].trend == pytest.approx(1.0) and paths[0].share == 1.0
    fake_timer.tick(1)
    for _ in range(50):
        m.record_db_query("positions", 10.0)
    paths = m.get_hot_paths()
    assert [p.key for p in paths] == ["db:positions", "request:/quote"]
    assert paths[0].share == pytest.approx(500 / 900) and paths[0].trend == pytest.approx(-0.5)
    assert m.get_hot_paths(1) == paths[:1]
    with pytest.raises(ValueError):
        m.get_hot_paths(-1)


def test_a_quiet_system_has_no_bottlenecks(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer, FakeSystem(cpu_percent_system=20, memory_percent_system=40))
    for i in range(100):
        m.record_request(f"/e{i % 4}", 5.0)
        m.record_cache("l1", True)
    m.tick()
    assert m.get_bottlenecks() == []


def test_ranking_of_a_constructed_incident(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer, FakeSystem(cpu_percent_system=97, memory_percent_system=50,
                                       event_loop_lag_ms=10.0),
                latency_targets_ms={"/api/portfolio": 100.0})
    for i in range(100):
        m.record_request("/api/portfolio", 400.0 if i % 10 == 0 else 50.0)  # p99 400 > 100
        m.record_request("/health", 1.0, success=i % 5 != 0)               # 20% errors
        m.record_cache("l2", i % 2 == 0)                                     # 50% hits
    m.tick()
    found = m.get_bottlenecks()
    assert [b.impact for b in found] == sorted((b.impact for b in found), reverse=True)
    assert set(kinds(m)) == {
        ("cpu", "system:cpu_percent_system"), ("time_share", "request:/api/portfolio"),
        ("latency", "request:/api/portfolio"), ("cache_hit_rate", "cache:l2"),
        ("error_rate", "request:/health")}
    assert kinds(m)[0] == ("time_share", "request:/api/portfolio")
    for b in found:
        assert b.reason and b.recommendation and 0 < b.impact <= 1


def test_too_few_samples_are_not_judged(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    for _ in range(5):
        m.record_request("/slow", 10_000.0, success=False)
    assert m.get_bottlenecks() == []


def test_error_spike_against_the_previous_window(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer, error_rate_threshold=0.1)
    for i in range(100):
        m.record_request("/a", 1.0, success=i % 100 != 0)   # 1%
    fake_timer.tick(60)
    for i in range(100):
        m.record_request("/a", 1.0, success=i % 100 >= 6)   # 6%: under 10%, but 6x before
    assert ("error_rate", "request:/a") in kinds(m)


def test_memory_rss_and_loop_lag(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer, FakeSystem(memory_percent_system=95, rss_bytes=3e9,
                                       event_loop_lag_ms=200.0), rss_budget_bytes=2**30)
    m.tick()
    assert set(kinds(m)) == {("memory", "system:memory_percent_system"),
                             ("rss_budget", "system:rss_bytes"),
                             ("event_loop_lag", "system:event_loop_lag_ms")}


def test_queue_backlog_growth(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer)
    depth = {"v": 10.0}
    m.watch_queue("validations", lambda: depth["v"])
    m.watch_queue("steady", lambda: 5.0)
    for _ in range(6):
        m.tick()
        fake_timer.tick(5)
        depth["v"] *= 1.5
    assert kinds(m) == [("queue_backlog", "queue:validations")]
    assert m.get_bottlenecks()[0].impact == pytest.approx(1 - 10 / (10 * 1.5**5))
