"""plot_latency: latency percentiles over time as a PNG (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from defiperf.monitor.monitor import PerformanceMonitor


def plot_latency(monitor: PerformanceMonitor, path: str | os.PathLike[str],
                 keys: Sequence[str] | None = None, stats: Sequence[str] = ("p50", "p99")) -> None:
    """Save p50/p99 (``stats``) of the series ``keys`` (default: the 5 hottest paths) over the
    monitor's history (one point per sampler tick) to ``path`` as a PNG."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot_latency needs matplotlib: pip install 'defiperf[plot]'") from exc
    history = monitor.history
    if keys is None:
        keys = [p.key for p in monitor.get_hot_paths(5)] or list(history)[:5]
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"no history for {missing}; history is kept for {sorted(history)}")
    fig = Figure(figsize=(9, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for key in keys:
        points = history[key]
        t0 = points[0]["t"] if points else 0.0
        for stat in stats:
            ax.plot([p["t"] - t0 for p in points], [p[stat] for p in points], label=f"{key} {stat}")
    ax.set_xlabel("seconds")
    ax.set_ylabel("ms")
    ax.set_title("latency percentiles (current window)")
    if keys:
        ax.legend(fontsize="small")
    fig.savefig(os.fspath(path), format="png")
