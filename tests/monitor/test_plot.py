"""plot_latency: p50 and p99 of one series share a colour (style tells them apart), and the
legend sits outside the axes so it covers no line."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def _monitor(fake_timer: FakeTimer) -> PerformanceMonitor:
    return PerformanceMonitor(MonitoringConfig(system_metrics=False), timer=fake_timer,
                              alert_handlers=[])


def test_defaults_never_raise_and_say_when_there_is_no_history(
        tmp_path: Path, fake_timer: FakeTimer) -> None:
    m = _monitor(fake_timer)
    fig = plot_latency(m, tmp_path / "empty.png")             # nothing recorded
    assert fig.axes[0].get_lines() == [] and "no latency history" in fig.axes[0].texts[0].get_text()
    m.record_request("/a", 10.0)                                # a hot path, no tick yet
    m.record_db_query("q", 50.0)
    fig = plot_latency(m, tmp_path / "untick.png")
    assert fig.axes[0].get_lines() == [] and (tmp_path / "untick.png").stat().st_size > 0
    m.tick()
    m.record_timing("late", 500.0)                              # the hottest now, no history
    fig = plot_latency(m, tmp_path / "some.png")
    assert sorted({line.get_label().split()[0] for line in fig.axes[0].get_lines()}) == [
        "db:q", "request:/a"]


def test_series_share_one_time_axis_and_single_points_show(
        tmp_path: Path, fake_timer: FakeTimer) -> None:
    m = _monitor(fake_timer)
    for step in range(4):
        m.record_request("/early", 10.0)
        if step >= 2:
            m.record_request("/late", 20.0)                     # first seen 10 s after /early
        if step == 3:
            m.record_db_query("once", 5.0)                      # one point only
        m.tick()
        fake_timer.tick(5)
    fig = plot_latency(m, tmp_path / "p.png", keys=["request:/early", "request:/late", "db:once"])
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines["request:/early p50"].get_xdata()) == [0.0, 5.0, 10.0, 15.0]
    assert list(lines["request:/late p50"].get_xdata()) == [10.0, 15.0]
    once = lines["db:once p99"]
    assert list(once.get_xdata()) == [15.0] and once.get_marker() not in (None, "", "None")
    assert once.get_markersize() > 0
    assert lines["db:once p50"].get_marker() != once.get_marker()   # told apart without lines


def test_bad_keys_and_stats_are_refused(tmp_path: Path, fake_timer: FakeTimer) -> None:
    m = _monitor(fake_timer)
    m.record_request("/a", 1.0)
    m.tick()
    with pytest.raises(ValueError, match="stats"):
        plot_latency(m, tmp_path / "x.png", stats=("p50", "p75"))
    with pytest.raises(ValueError, match="stats"):
        plot_latency(m, tmp_path / "x.png", stats=())
    with pytest.raises(TypeError, match="stats"):
        plot_latency(m, tmp_path / "x.png", stats="p99")
    with pytest.raises(TypeError, match="keys"):
        plot_latency(m, tmp_path / "x.png", keys="request:/a")
    with pytest.raises(KeyError, match="request:/b"):
        plot_latency(m, tmp_path / "x.png", keys=["request:/b"])
    assert not (tmp_path / "x.png").exists()
