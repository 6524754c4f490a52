"""Rate-limited logging: one record per key per interval, with a count of what was suppressed.

A fault that repeats (an unreachable server, a failing callback) would otherwise write a line
per occurrence; this writes the first, then at most one per ``interval_s`` saying how many
identical records were left out since the previous one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable


class RateLimitedLog:
    """``log.warning(key, msg, *args)``: logs through ``logger`` at most once per ``interval_s``
    for each ``key``; the next record after a quiet spell says how many were suppressed."""

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0,
                 timer: Callable[[], float] = time.monotonic, max_keys: int = 1024,
                 max_lines: int = 100) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._timer = timer
        self._max_keys = max_keys
        self._max_lines = max_lines  # lines of all keys together per interval
        self._state: dict[str, list[float]] = {}   # key -> [next allowed time, suppressed]
        self._window_end = float("-inf")
        self._window_lines = 0
        self._window_dropped = 0
        self._lock = threading.Lock()

    def log(self, level: int, key: str, msg: str, *args: object, exc_info: object = None) -> bool:
        """Log (and return True) unless ``key`` logged within the interval, or ``max_lines``
        lines of any keys already went out in this interval (then count it)."""
        now = self._timer()
        dropped_before = 0
        with self._lock:
            state = self._state.get(key)
            if state is not None and now < state[0]:
                state[1] += 1
                return False
            if now >= self._window_end:  # a new interval for the budget of all keys
                dropped_before, self._window_dropped = self._window_dropped, 0
                self._window_end, self._window_lines = now + self.interval_s, 0
            if self._window_lines >= self._max_lines:  # a flood of distinct keys
                self._window_dropped += 1
                return False
            self._window_lines += 1
            suppressed = int(state[1]) if state is not None else 0
            if state is not None:
                del self._state[key]         # re-inserted last: least recently logged first
            elif len(self._state) >= self._max_keys:
                del self._state[next(iter(self._state))]  # bounded: forget the oldest key
            self._state[key] = [now + self.interval_s, 0]
        if dropped_before:
            self.logger.log(level, "%d messages of other kinds were suppressed in the last %g s",
                            dropped_before, self.interval_s)
        if suppressed:
            msg = f"{msg} ({suppressed} similar messages suppressed)"
        self.logger.log(level, msg, *args, exc_info=exc_info)  # type: ignore[arg-type]
        return True

    def warning(self, key: str, msg: str, *args: object, exc_info: object = None) -> bool:
        return self.log(logging.WARNING, key, msg, *args, exc_info=exc_info)

    def error(self, key: str, msg: str, *args: object, exc_info: object = None) -> bool:
        return self.log(logging.ERROR, key, msg, *args, exc_info=exc_info)
