"""Report: what generate_report() returns, with to_dict(), to_json() and to_markdown()."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from defiperf.monitor.alerts import Alert
from defiperf.monitor.analysis import Bottleneck, HotPath


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and inf become None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


@dataclass
class Report:
    """A snapshot of the monitor: summary, per-series stats (current window and since start),
    active alerts, bottlenecks (largest impact first), hot paths and trends."""

    generated_at: str
    monotonic_s: float
    window_s: float
    summary: dict[str, Any]
    series: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    bottlenecks: list[Bottleneck] = field(default_factory=list)
    hot_paths: list[HotPath] = field(default_factory=list)
    trends: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (``to_json`` writes it)."""
        out: dict[str, Any] = _clean({
            "generated_at": self.generated_at, "monotonic_s": self.monotonic_s,
            "window_s": self.window_s, "summary": self.summary, "series": self.series,
            "alerts": [a.to_dict() for a in self.alerts],
            "bottlenecks": [b.to_dict() for b in self.bottlenecks],
            "hot_paths": [p.to_dict() for p in self.hot_paths], "trends": self.trends,
        })
        return out

    def to_json(self, **kwargs: Any) -> str:
        """The report as JSON (NaN written as null); kwargs go to json.dumps."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def to_markdown(self) -> str:
        """The report as Markdown tables, for a terminal, a ticket or a PR comment."""
        s = self.summary
        out = [f"# Performance report ({self.generated_at}, window {self.window_s:g} s)", ""]
        out += _table(["measure", "value"], [[k, v] for k, v in s.items()])
        out += ["", "## Hot paths", ""]
        out += _table(
            ["operation", "calls", "total ms", "share", "mean ms", "p99 ms", "trend"],
            [[p.key, p.count, p.total_ms, f"{p.share:.1%}", p.mean_ms, p.p99_ms,
              "-" if p.trend is None else f"{p.trend:+.0%}"] for p in self.hot_paths],
        )
        out += ["", "## Bottlenecks", ""]
        out += _table(
            ["impact", "kind", "subject", "reason", "recommendation"],
            [[f"{b.impact:.2f}", b.kind, b.subject, b.reason, b.recommendation]
             for b in self.bottlenecks],
        ) if self.bottlenecks else ["none found"]
        out += ["", "## Active alerts", ""]
        out += _table(
            ["severity", "rule", "value", "since"],
            [[a.rule.severity, a.rule.name, a.value, a.started_at] for a in self.alerts],
        ) if self.alerts else ["none"]
        out += ["", "## Series (current window)", ""]
        out += _table(
            ["series", "unit", "count", "rate/s", "mean", "p50", "p99", "max", "bad %"],
            [[r["key"], r["unit"], r["current"]["count"], r["current"]["rate"],
              r["current"]["mean"], r["current"]["p50"], r["current"]["p99"], r["current"]["max"],
              None if math.isnan(r["current"]["bad_rate"]) else 100 * r["current"]["bad_rate"]]
             for r in self.series],
        )
        return "\n".join(out) + "\n"
