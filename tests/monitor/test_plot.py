"""plot_latency: p50 and p99 of one series share a colour (style tells them apart), and the
legend sits outside the axes so it covers no line."""

from __future__ import annotations

from pathlib import Path

from conftest import FakeTimer
from defiperf.monitor import MonitoringConfig, PerformanceMonitor
from defiperf.monitor.plot import plot_latency


def test_percentiles_of_a_series_are_paired_by_colour_and_the_legend_is_outside(
        tmp_path: Path, fake_timer: FakeTimer) -> None:
    m = PerformanceMonitor(MonitoringConfig(system_metrics=False), timer=fake_timer,
                           alert_handlers=[])
    keys = ["request:/a", "request:/b", "db:q"]
    for step in range(6):
        for i in range(30):
            m.record_request("/a", 10.0 + i)
            m.record_request("/b", 50.0 + step + i)
            m.record_db_query("q", 1.0 + i)
        m.tick()
        fake_timer.tick(5)
    fig = plot_latency(m, tmp_path / "p.png", keys=keys)
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == sorted(f"{k} {s}" for k in keys for s in ("p50", "p99"))
    colours = {k: {lines[f"{k} p50"].get_color(), lines[f"{k} p99"].get_color()} for k in keys}
    assert all(len(c) == 1 for c in colours.values())                 # paired in one colour
    assert len({c.pop() for c in colours.values()}) == len(keys)       # series told apart
    assert all(lines[f"{k} p50"].get_linestyle() != lines[f"{k} p99"].get_linestyle()
               for k in keys)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    legend_box = ax.get_legend().get_window_extent(renderer)
    axes_box = ax.get_window_extent(renderer)
    assert legend_box.x0 >= axes_box.x1                                # right of the data
    assert legend_box.x1 <= fig.bbox.x1 + 1                            # and inside the image
