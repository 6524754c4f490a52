"""SystemCollector: process and host metrics from psutil (the only module that imports it)."""

from __future__ import annotations

from collections.abc import Callable

import psutil


class SystemCollector:
    """``sample(now)`` -> {name: value}: CPU % (process and system), RSS and system memory,
    disk and network I/O rates (bytes/s since the previous sample), open fds and threads.

    Rates need two samples: the first sample reports none. Counters the platform does not offer
    (disk I/O in some containers, fds on Windows) are left out rather than reported as 0.
    """

    UNITS = {
        "cpu_percent_process": "%", "cpu_percent_system": "%", "rss_bytes": "bytes",
        "memory_percent_system": "%", "disk_read_bytes_per_s": "bytes/s",
        "disk_write_bytes_per_s": "bytes/s", "net_sent_bytes_per_s": "bytes/s",
        "net_recv_bytes_per_s": "bytes/s", "open_fds": "", "threads": "",
        "event_loop_lag_ms": "ms",
    }

    def __init__(self, process: psutil.Process | None = None) -> None:
        self._process = process or psutil.Process()
        self._process.cpu_percent(None)  # starts the process CPU clock; first reading is 0
        psutil.cpu_percent(None)
        self._last: tuple[float, dict[str, float]] | None = None

    @property
    def totals(self) -> dict[str, float]:
        """The cumulative disk and network byte counters read by the last sample (for exports
        that want counters, not the client-side rates)."""
        return dict(self._last[1]) if self._last is not None else {}

    def _io_counters(self) -> dict[str, float]:
        out: dict[str, float] = {}
        disk = psutil.disk_io_counters()
        if disk is not None:
            out["disk_read_bytes"] = float(disk.read_bytes)
            out["disk_write_bytes"] = float(disk.write_bytes)
        net = psutil.net_io_counters()
        if net is not None:
            out["net_sent_bytes"] = float(net.bytes_sent)
            out["net_recv_bytes"] = float(net.bytes_recv)
        return out

    def sample(self, now: float) -> dict[str, float]:
        """One reading of everything, at monotonic time ``now`` (seconds)."""
        p = self._process
        with p.oneshot():
            out = {
                "cpu_percent_process": p.cpu_percent(None),
                "rss_bytes": float(p.memory_info().rss),
                "threads": float(p.num_threads()),
            }
            num_fds: Callable[[], int] | None = getattr(p, "num_fds", None)
            if num_fds is not None:
                out["open_fds"] = float(num_fds())
        out["cpu_percent_system"] = psutil.cpu_percent(None)
        out["memory_percent_system"] = psutil.virtual_memory().percent
        counters = self._io_counters()
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            for name, value in counters.items():
                before = self._last[1].get(name)
                if before is not None and value >= before:
                    out[f"{name}_per_s"] = (value - before) / dt
        self._last = (now, counters)
        return out
