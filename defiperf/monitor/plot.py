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
    """Save p50/p99 (``stats``, any of ``STATS``) of the series ``keys`` over the monitor's
    history (one point per sampler tick) to ``path`` as a PNG. By default ``keys`` are the 5
    hottest paths that have history (then any other series with history); with no history yet
    the image says so. Every series shares one time axis (seconds since the first point
    plotted). Each series has one colour; its stats differ by line style (p50 solid, p99
    dashed, ...), and every point has a marker, so a series with one point shows. The legend
    sits right of the axes, never over the data. Returns the matplotlib Figure. ``KeyError``
    for a key given that has no history."""
    stats = _check_stats(stats)
    history = monitor.history
    if keys is None:
        hot = [p.key for p in monitor.get_hot_paths(5) if history.get(p.key)]
        keys = (hot + [k for k, points in history.items() if points and k not in hot])[:5]
    else:
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise TypeError("keys must be a sequence of series keys (str), e.g. ['request:/a']")
        keys = list(keys)
        missing = [k for k in keys if not history.get(k)]
        if missing:
            raise KeyError(f"no history for {missing}; history is kept for {sorted(history)}")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plot_latency needs matplotlib: pip install 'defiperf[plot]'") from exc
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cycle = [c["color"] for c in _colour_cycle()]
    t0 = min((history[k][0]["t"] for k in keys), default=0.0)   # one axis for every series
    for i, key in enumerate(keys):
        points = list(history[key])
        colour = cycle[i % len(cycle)]
        for j, stat in enumerate(stats):
            ax.plot([p["t"] - t0 for p in points], [p[stat] for p in points],
                    color=colour, linestyle=LINESTYLES[j % len(LINESTYLES)],
                    marker=MARKERS[j % len(MARKERS)], markersize=4, label=f"{key} {stat}")
    ax.set_xlabel("seconds")
    ax.set_ylabel("ms")
    ax.set_title("latency percentiles (current window)")
    if keys:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.text(0.5, 0.5, "no latency history yet: the sampler records it each tick "
                "(monitor.start() or monitor.tick())", ha="center", va="center",
                transform=ax.transAxes)
    fig.savefig(os.fspath(path), format="png")
    return fig


#: the per-tick latency statistics the monitor keeps in its history (ms)
STATS = ("p50", "p90", "p99")


def _check_stats(stats: Sequence[str]) -> tuple[str, ...]:
    if isinstance(stats, str) or not all(isinstance(s, str) for s in stats):
        raise TypeError(f"stats must be a sequence of str from {STATS}, e.g. ('p50', 'p99')")
    bad = [s for s in stats if s not in STATS]
    if bad or not stats:
        raise ValueError(f"stats must be one or more of {STATS}, got {tuple(stats)!r}")
    return tuple(stats)


LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^")


def _colour_cycle() -> list[dict[str, str]]:
    from matplotlib import rcParams
    return list(rcParams["axes.prop_cycle"])
