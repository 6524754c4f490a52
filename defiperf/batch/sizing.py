"""Dynamic batch sizing: AIMD on the batch latency, shrunk under memory or CPU pressure."""

from __future__ import annotations

import time
from collections.abc import Callable

from defiperf._validate import check_int, check_number


class LoadProbe:
    """Is the machine under pressure? System memory % or CPU % (psutil) above a threshold.

    psutil is read at most every ``interval_s`` (a reading costs ~50 µs), so asking per batch
    is cheap. ``read`` can be injected: it returns ``(memory_percent, cpu_percent)``.
    """

    def __init__(self, memory_pct: float = 90.0, cpu_pct: float = 95.0, interval_s: float = 0.5,
                 timer: Callable[[], float] = time.monotonic,
                 read: Callable[[], tuple[float, float]] | None = None) -> None:
        self.memory_pct = memory_pct
        self.cpu_pct = cpu_pct
        self.interval_s = interval_s
        self._timer = timer
        self._read = read or self._psutil
        self._next = float("-inf")
        self._pressure = False
        self.reading: tuple[float, float] = (0.0, 0.0)

    @staticmethod
    def _psutil() -> tuple[float, float]:
        import psutil

        return psutil.virtual_memory().percent, psutil.cpu_percent(None)

    def pressure(self) -> bool:
        now = self._timer()
        if now >= self._next:
            self._next = now + self.interval_s
            self.reading = self._read()
            memory, cpu = self.reading
            self._pressure = memory >= self.memory_pct or cpu >= self.cpu_pct
        return self._pressure


class BatchSizer:
    """Additive increase, multiplicative decrease between 1 and ``max_size``.

    A batch that took at most ``latency_target_s`` grows the size by ``max(1, max_size // 10)``;
    a slow or timed-out one (``ok=False``) halves it (the engine does not count other errors:
    those are bisected by the retry logic, not load); pressure from the LoadProbe
    halves it too (and stops growth while it lasts). Starts at ``max_size``.
    """

    def __init__(self, max_size: int, latency_target_s: float, probe: LoadProbe | None = None) -> None:
        check_int("max_size", max_size)
        check_number("latency_target_s", latency_target_s)
        self.max_size = max_size
        self.latency_target_s = latency_target_s
        self.size = max_size
        self._cap = max_size
        self._step = max(1, max_size // 10)
        self._probe = probe
        self.shrinks = 0

    @property
    def cap(self) -> int:
        """The largest size allowed now: max_size, or less while ``limit(...)`` holds."""
        return self._cap

    def limit(self, cap: int | None) -> None:
        """Cap the size (memory pressure from outside, e.g. the suite's budget); None lifts it."""
        self._cap = self.max_size if cap is None else max(1, min(cap, self.max_size))
        self.size = min(self.size, self._cap)

    def observe(self, latency_s: float, ok: bool) -> None:
        if not ok or latency_s > self.latency_target_s or (self._probe and self._probe.pressure()):
            new = max(1, self.size // 2)
            self.shrinks += new < self.size
            self.size = new
        elif self.size < self._cap:
            self.size = min(self._cap, self.size + self._step)
