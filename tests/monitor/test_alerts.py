"""Alert rules on a fake clock: pending, fire once, resolve; handlers; bad rules."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from conftest import FakeTimer
from defiperf.monitor import Alert, AlertRule, MonitoringConfig, PerformanceMonitor


def monitor(timer: FakeTimer, handlers: list[Any]) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False), timer=timer,
                              alert_handlers=handlers)


def test_fires_once_after_for_seconds_and_resolves(fake_timer: FakeTimer) -> None:
    seen: list[tuple[str, str, float]] = []
    m = monitor(fake_timer, [lambda a: seen.append((a.rule.name, a.state, a.value))])
    m.add_alert_rule(AlertRule("request:/api", stat="last", op=">", threshold=50,
                               for_seconds=30, name="slow api"))
    m.record_request("/api", 80.0)
    assert m.tick() == [] and m.get_active_alerts() == []     # t=0: pending
    fake_timer.tick(20)
    assert m.tick() == []                                       # t=20: still pending
    fake_timer.tick(10)
    fired = m.tick()                                            # t=30: held 30 s
    assert [a.state for a in fired] == ["firing"] and fired[0].started_at == 1000.0
    assert fired[0].fired_at == 1030.0
    fake_timer.tick(5)
    m.record_request("/api", 90.0)
    assert m.tick() == []                                       # fires once, value follows
    assert m.get_active_alerts()[0].value == 90.0
    m.record_request("/api", 10.0)
    resolved = m.tick()
    assert [a.state for a in resolved] == ["resolved"] and resolved[0].resolved_at == 1035.0
    assert m.get_active_alerts() == []
    assert [(name, value) for name, _, value in seen] == [("slow api", 80.0), ("slow api", 90.0)]


def test_a_blip_shorter_than_for_seconds_never_fires(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer, [])
    m.add_alert_rule(AlertRule("db:q", stat="last", op=">=", threshold=100, for_seconds=10))
    m.record_db_query("q", 150.0)
    m.tick()
    fake_timer.tick(5)
    m.record_db_query("q", 1.0)
    m.tick()
    fake_timer.tick(6)
    m.record_db_query("q", 150.0)
    assert m.tick() == []          # the pending clock restarted
    fake_timer.tick(10)
    assert [a.state for a in m.tick()] == ["firing"]


def test_no_data_never_fires(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer, [])
    m.add_alert_rule(AlertRule("request:/never", op="<", threshold=1))
    m.add_alert_rule(AlertRule("cache:l1", stat="hit_rate", op="<", threshold=0.9))
    assert m.tick() == []


def test_hit_rate_error_rate_and_counter_rules(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer, [])
    m.add_alert_rule(AlertRule("cache:l1", stat="hit_rate", op="<", threshold=0.9,
                               severity="critical"))
    m.add_alert_rule(AlertRule("request:/a", stat="error_rate", op=">", threshold=0.2))
    m.add_alert_rule(AlertRule("reorgs", stat="value", op=">=", threshold=1))
    for i in range(10):
        m.record_cache("l1", i < 5)
        m.record_request("/a", 1.0, i < 7)
    m.counter("reorgs").inc()
    fired = sorted(a.rule.metric for a in m.tick())
    assert fired == ["cache:l1", "reorgs", "request:/a"]


def test_a_failing_handler_is_logged_and_others_still_run(fake_timer: FakeTimer,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    got: list[Alert] = []

    def broken(alert: Alert) -> None:
        raise RuntimeError("pager down")

    m = monitor(fake_timer, [broken, got.append])
    m.add_alert_rule(AlertRule("metric:x", stat="last", threshold=0))
    m.record_metric("x", 1.0)
    with caplog.at_level(logging.ERROR, logger="defiperf.monitor"):
        m.tick()
    assert len(got) == 1 and "pager down" in caplog.text


def test_default_handler_logs(fake_timer: FakeTimer, caplog: pytest.LogCaptureFixture) -> None:
    m = PerformanceMonitor(MonitoringConfig(system_metrics=False), timer=fake_timer)
    m.add_alert_rule(AlertRule("x", stat="last", threshold=0, severity="critical"))
    m.record_metric("x", 5.0)
    with caplog.at_level(logging.INFO, logger="defiperf.monitor"):
        m.tick()
        m.record_metric("x", -5.0)
        m.tick()
    assert "alert firing: x last > 0 (value 5)" in caplog.text
    assert "alert resolved" in caplog.text
    assert caplog.records[0].levelno == logging.CRITICAL


@pytest.mark.parametrize(
    ("kw", "error"),
    [({"stat": "p98"}, ValueError), ({"op": "=>"}, ValueError), ({"threshold": "5"}, TypeError),
     ({"for_seconds": -1}, ValueError), ({"severity": "page"}, ValueError),
     ({"window": "week"}, ValueError), ({"threshold": float("nan")}, ValueError)],
)
def test_bad_rules(kw: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        AlertRule("m", **kw)


def test_duplicate_and_unknown_rule_names(fake_timer: FakeTimer) -> None:
    m = monitor(fake_timer, [])
    m.add_alert_rule(AlertRule("m", name="r"))
    with pytest.raises(ValueError, match="exists"):
        m.add_alert_rule(AlertRule("other", name="r"))
    m.remove_alert_rule("r")
    with pytest.raises(KeyError):
        m.remove_alert_rule("r")
    assert m.alert_rules == []
