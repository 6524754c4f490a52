"""LoadFuture: the outcome of one load in flight, awaited by callers on any thread or event loop
(the async manager's coroutines and its blocking companion's threads share one table of
loads). Set once; far cheaper than concurrent.futures.Future (no Condition): a blocking waiter
makes its Event, an async waiter its asyncio future, only when there is one.

A load whose owner ends without an outcome of its own — cancelled, KeyboardInterrupt,
SystemExit, its event loop closed — is *abandoned*: its waiters get ``RETRY`` (not the owner's
BaseException, which belongs to the owner's task or thread alone) and load the key themselves."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

_PENDING, _VALUE, _ERROR, _RETRY_STATE = 0, 1, 2, 3


class _Retry:
    __slots__ = ()

    def __repr__(self) -> str:
        return "RETRY"


RETRY: Any = _Retry()  # a waiter's outcome when the owner abandoned the load: load it yourself


def _deliver(waiter: asyncio.Future[Any], state: int, value: Any) -> None:
    if waiter.done():
        return
    if state == _ERROR:
        waiter.set_exception(value)
    else:
        waiter.set_result(value)


class LoadFuture:
    __slots__ = ("_lock", "_state", "_value", "_event", "_waiters", "loop", "key_hash")

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._lock = threading.Lock()
        self._state = _PENDING
        self._value: Any = None
        self._event: threading.Event | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = []
        self.loop = loop  # the owner's event loop (None: a blocking owner on a thread)
        self.key_hash = 0  # the flight table's bucket (see flights.py)

    def done(self) -> bool:
        return self._state != _PENDING

    def settle(self, value: Any = None, exc: BaseException | None = None) -> bool:
        """Set the outcome (the value, or exc); False when it was already set (close() failed
        the load first: its waiters were told). An exc that is not an Exception (the owner was
        cancelled or interrupted) abandons the load: waiters get RETRY."""
        with self._lock:
            if self._state != _PENDING:
                return False
            if exc is None:
                self._state, self._value = _VALUE, value
            elif isinstance(exc, Exception):
                self._state, self._value = _ERROR, exc
            else:
                self._state, self._value = _RETRY_STATE, RETRY
            event, waiters = self._event, self._waiters
        if event is not None:
            event.set()
        for loop, waiter in waiters:
            try:
                loop.call_soon_threadsafe(_deliver, waiter, self._state, self._value)
            except RuntimeError:  # that loop is closed: nobody waits there any more
                pass
        return True

    def abandon(self) -> bool:
        """End the load for its waiters with RETRY (its owner is gone)."""
        return self.settle(exc=asyncio.CancelledError())

    def owner_gone(self) -> bool:
        """True when the owner's event loop is closed: the load can never finish."""
        loop = self.loop
        return loop is not None and loop.is_closed()

    def owner_stalled(self) -> bool:
        """True when the owner's event loop is not running (stopped, perhaps for good)."""
        loop = self.loop
        return loop is not None and not loop.is_running()

    def wait(self, timeout_s: float | None) -> bool:
        """Block until set, at most timeout_s; whether it is."""
        with self._lock:
            if self._state == _PENDING and self._event is None:
                self._event = threading.Event()
            event = self._event if self._state == _PENDING else None
        return event is None or event.wait(timeout_s)

    def outcome(self) -> Any:
        """The value, RETRY, or the load's exception raised (once set)."""
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
