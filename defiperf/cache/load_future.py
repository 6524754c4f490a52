"""LoadFuture: the outcome of one load in flight, awaited by callers on any thread or event loop
(the async manager's coroutines and its blocking companion's threads share one table of
loads). Set once; far cheaper than concurrent.futures.Future (no Condition): a blocking waiter
makes its Event, an async waiter its asyncio future, only when there is one."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

_PENDING, _VALUE, _ERROR = 0, 1, 2


def _deliver(waiter: asyncio.Future[Any], state: int, value: Any) -> None:
    if waiter.done():
        return
    if state == _ERROR:
        waiter.set_exception(value)
    else:
        waiter.set_result(value)


class LoadFuture:
    __slots__ = ("_lock", "_state", "_value", "_event", "_waiters")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _PENDING
        self._value: Any = None
        self._event: threading.Event | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []

    def done(self) -> bool:
        return self._state != _PENDING

    def settle(self, value: Any = None, exc: BaseException | None = None) -> bool:
        """Set the outcome (the value, or exc); False when it was already set (close() failed
        the load first: its waiters were told)."""
        with self._lock:
            if self._state != _PENDING:
                return False
            if exc is not None:
                self._state, self._value = _ERROR, exc
            else:
                self._state, self._value = _VALUE, value
            event, waiters = self._event, self._waiters
        if event is not None:
            event.set()
        for loop, waiter in waiters:
            try:
                loop.call_soon_threadsafe(_deliver, waiter, self._state, self._value)
            except RuntimeError:  # that loop is closed: nobody waits there any more
                pass
        return True

    def wait(self, timeout_s: float | None) -> bool:
        """Block until set, at most timeout_s; whether it is."""
        with self._lock:
            if self._state == _PENDING and self._event is None:
                self._event = threading.Event()
            event = self._event if self._state == _PENDING else None
        return event is None or event.wait(timeout_s)

    def outcome(self) -> Any:
        """The value, or the load's exception raised (once set)."""
        if self._state == _ERROR:
            raise self._value
        return self._value

    def waiter(self) -> asyncio.Future[Any]:
        """An asyncio future of the running loop that completes with this outcome."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._state == _PENDING:
                self._waiters.append((loop, waiter))
                return waiter
        _deliver(waiter, self._state, self._value)
        return waiter
