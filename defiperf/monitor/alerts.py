"""Alert rules: a condition on one statistic of one series, held for a while, fires once.

``AlertEngine.evaluate(lookup, now)`` is pure bookkeeping (no threads, no I/O of its own): the
monitor calls it on every sampler tick and hands each fired or resolved Alert to the handlers.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from defiperf._ratelimit import RateLimitedLog
from defiperf._validate import check_number

logger = logging.getLogger("defiperf.monitor")
_log = RateLimitedLog(logger, interval_s=60.0)

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
STATS = frozenset({
    "count", "sum", "mean", "min", "max", "last", "p50", "p90", "p95", "p99", "p999", "rate",
    "bad", "bad_rate", "error_rate", "hit_rate", "value",
})
SEVERITIES = ("info", "warning", "critical")
WINDOWS = ("current", "previous", "total")

#: lookup(metric, stat, window) -> the value, or None when there is no data.
Lookup = Callable[[str, str, str], "float | None"]
AlertHandler = Callable[["Alert"], object]


@dataclass(frozen=True)
class AlertRule:
    """Fire when ``stat`` of series ``metric`` (over ``window``) ``op`` ``threshold`` has held for
    ``for_seconds``; resolve when it stops holding. ``metric`` is a series key ("request:/api")
    or a bare name; ``stat`` is one of STATS ("value" for counters and gauges); no data never fires.

    >>> AlertRule("request:/api/portfolio", stat="p99", op=">", threshold=50).name
    'request:/api/portfolio p99 > 50'
    """

    metric: str
    stat: str = "p99"
    op: str = ">"
    threshold: float = 0.0
    for_seconds: float = 0.0
    severity: Literal["info", "warning", "critical"] = "warning"
    window: str = "current"
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric:
            raise TypeError("metric must be a non-empty str")
        if self.stat not in STATS:
            raise ValueError(f"stat must be one of {sorted(STATS)}, got {self.stat!r}")
        if self.op not in OPS:
            raise ValueError(f"op must be one of {list(OPS)}, got {self.op!r}")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)):
            raise TypeError(f"threshold must be a number, not {type(self.threshold).__name__}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"threshold must be finite, got {self.threshold!r}")
        check_number("for_seconds", self.for_seconds, inclusive=True)
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if self.window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {self.window!r}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.metric} {self.stat} {self.op} {self.threshold:g}")

    def holds(self, value: float | None) -> bool:
        """Whether the condition holds for ``value`` (None or NaN: no data, never holds)."""
        return value is not None and not math.isnan(value) and OPS[self.op](value, self.threshold)


@dataclass
class Alert:
    """One firing of a rule: ``state`` is "firing" until the condition clears, then "resolved"."""

    rule: AlertRule
    value: float
    started_at: float
    fired_at: float
    state: Literal["firing", "resolved"] = "firing"
    resolved_at: float | None = None

    def to_dict(self) -> dict[str, object]:
        """The alert as a JSON-ready dict."""
        return {
            "name": self.rule.name, "metric": self.rule.metric, "stat": self.rule.stat,
            "op": self.rule.op, "threshold": self.rule.threshold, "severity": self.rule.severity,
            "value": self.value, "state": self.state, "started_at": self.started_at,
            "fired_at": self.fired_at, "resolved_at": self.resolved_at,
        }


def log_alert(alert: Alert) -> None:
    """The default handler: one log line per firing and resolution on ``defiperf.monitor``."""
    level = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}
    if alert.state == "firing":
        logger.log(level[alert.rule.severity], "alert firing: %s (value %g)", alert.rule.name,
                   alert.value)
    else:
        logger.info("alert resolved: %s", alert.rule.name)


@dataclass
class _RuleState:
    pending_since: float | None = None
    active: Alert | None = None


@dataclass
class AlertEngine:
    """The rules, their pending/firing state, and the handlers; safe to call from two threads."""

    handlers: list[AlertHandler] = field(default_factory=lambda: [log_alert])
    _rules: dict[str, tuple[AlertRule, _RuleState]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rule: AlertRule) -> None:
        if not isinstance(rule, AlertRule):
            raise TypeError(f"rule must be an AlertRule, not {type(rule).__name__}")
        with self._lock:
            if rule.name in self._rules:
                raise ValueError(f"an alert rule named {rule.name!r} exists already")
            self._rules[rule.name] = (rule, _RuleState())

    def remove(self, name: str) -> None:
        with self._lock:
            if self._rules.pop(name, None) is None:
                raise KeyError(name)

    @property
    def rules(self) -> list[AlertRule]:
        with self._lock:
            return [rule for rule, _ in self._rules.values()]

    def active(self) -> list[Alert]:
        with self._lock:
            return [st.active for _, st in self._rules.values() if st.active is not None]

    def evaluate(self, lookup: Lookup, now: float) -> list[Alert]:
        """Check every rule at time ``now``; returns the alerts that fired or resolved, after
        handing each to every handler (a failing handler is logged, never raised)."""
        events: list[Alert] = []
        with self._lock:
            for rule, st in self._rules.values():
                try:
                    value = lookup(rule.metric, rule.stat, rule.window)
                except KeyError:
                    value = None
                if rule.holds(value):
                    assert value is not None
                    if st.pending_since is None:
                        st.pending_since = now
                    if st.active is None and now - st.pending_since >= rule.for_seconds:
                        st.active = Alert(rule, value, st.pending_since, now)
                        events.append(st.active)
                    elif st.active is not None:
                        st.active.value = value
                else:
                    st.pending_since = None
                    if st.active is not None:
                        st.active.state = "resolved"
                        st.active.resolved_at = now
                        events.append(st.active)
                        st.active = None
        self._dispatch(events)
        return events

    def _dispatch(self, events: Iterable[Alert]) -> None:
        for alert in events:
            for handler in list(self.handlers):
                try:
                    handler(alert)
                except Exception as exc:  # a broken handler must not stop monitoring
                    _log.error(f"handler:{handler!r}", "alert handler %r failed on %s: %s: %s",
                               handler, alert.rule.name, type(exc).__name__, exc)
