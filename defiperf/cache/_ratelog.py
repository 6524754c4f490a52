"""The cache's logging: the ``defiperf.cache`` logger (with a NullHandler: silent unless the
application configures logging) and rate limiting — one line per ``interval_s`` per message
key, with the count of the lines held back, so a flood of bad entries or a dead store cannot
flood the log."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

logging.getLogger("defiperf.cache").addHandler(logging.NullHandler())


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def log(self, level: int, what: str, msg: str, *args: Any) -> None:
        """Log ``msg % args`` unless ``what`` was logged less than ``interval_s`` ago."""
        now = time.monotonic()
        with self._lock:
            last, held = self._last.get(what, (-1e18, 0))
            if now - last < self.interval_s:
                self._last[what] = (last, held + 1)
                return
            if len(self._last) > 1000:
                self._last.clear()
            self._last[what] = (now, 0)
        if held:
            msg += " (%d similar messages held back)"
            args = (*args, held)
        self.logger.log(level, msg, *args)
