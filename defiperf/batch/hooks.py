"""What the engine calls outside itself — the monitor and the user's callbacks — behind one
guard: an error there is logged (rate-limited) and never reaches a worker.

A monitor at its series cap, a buggy ``on_done`` or a dead-letter callback that raises must not
kill the worker that happened to call it (its batch's items would never resolve).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from defiperf._ratelimit import RateLimitedLog

logger = logging.getLogger("defiperf.batch")
_log = RateLimitedLog(logger, interval_s=30.0)


def call_safely(what: str, fn: Callable[..., Any], *args: Any,
                tasks: set[asyncio.Future[Any]] | None = None) -> None:
    """``fn(*args)``; an exception is logged (once per 30 s per ``what``), never raised. A
    coroutine it returns is run as a task (kept in ``tasks`` until it ends, so its owner can
    wait for it) whose error is logged the same way."""
    try:
        out = fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - a user callback must not kill a worker
        _log.error(what, "%s raised %s: %s", what, type(exc).__name__, exc)
        return
    if inspect.isawaitable(out):
        task = asyncio.ensure_future(out)
        task.add_done_callback(lambda t: _log_task_error(what, t))
        if tasks is not None:
            tasks.add(task)
            task.add_done_callback(tasks.discard)


def _log_task_error(what: str, task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        _log.error(what, "%s raised %s: %s", what, type(exc).__name__, exc)


class SafeMonitor:
    """The five monitor calls the engine makes, each guarded by ``call_safely``."""

    __slots__ = ("monitor",)

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor

    def record_metric(self, name: str, value: float, unit: str) -> None:
        call_safely("monitor.record_metric", self.monitor.record_metric, name, value, unit)

    def record_timing(self, name: str, ms: float, ok: bool) -> None:
        call_safely("monitor.record_timing", self.monitor.record_timing, name, ms, ok)

    def count(self, name: str, n: int) -> None:
        call_safely("monitor.counter", lambda: self.monitor.counter(name).inc(n))

    def watch_queue(self, name: str, depth: Callable[[], int]) -> None:
        call_safely("monitor.watch_queue", self.monitor.watch_queue, name, depth)


def warn_rate_limited(key: str, msg: str, *args: object) -> None:
    """A warning through the engine's logger, at most once per 30 s per ``key``."""
    _log.warning(key, msg, *args)
