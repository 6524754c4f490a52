"""plot_latency: latency percentiles over time as a PNG (needs the ``plot`` extra: matplotlib)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from defiperf.monitor.monitor import PerformanceMonitor


def plot_latency(monitor: PerformanceMonitor, path: str | os.PathLike[str],
                 keys: Sequence[str] | None = None,
                 stats: Sequence[str] = ("p50", "p99")) -> Figure:
    """Save p50/p99 (``stats``) of the series ``keys`` (default: the 5 hottest paths) over the
    monitor's history (one point per sampler tick) to ``path`` as a PNG. Each series has one
    colour; its stats differ by line style (p50 solid, p99 dashed, ...). The legend sits right
    of the axes, never over the data. Returns the matplotlib Figure."""
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
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cycle = [c["color"] for c in _colour_cycle()]
    for i, key in enumerate(keys):
        points = history[key]
        t0 = points[0]["t"] if points else 0.0
        colour = cycle[i % len(cycle)]
        for j, stat in enumerate(stats):
            ax.plot([p["t"] - t0 for p in points], [p[stat] for p in points],
                    color=colour, linestyle=LINESTYLES[j % len(LINESTYLES)], label=f"{key} {stat}")
    ax.set_xlabel("seconds")
    ax.set_ylabel("ms")
    ax.set_title("latency percentiles (current window)")
    if keys:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.savefig(os.fspath(path), format="png")
    return fig


LINESTYLES = ("-", "--", ":", "-.")


def _colour_cycle() -> list[dict[str, str]]:
    from matplotlib import rcParams
    return list(rcParams["axes.prop_cycle"])
