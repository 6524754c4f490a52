"""Warmer: the async manager's priority queue of loads (warm_cache), run by
``warm_concurrency`` worker tasks; ``pause()``/``resume()`` hold queued loads (memory pressure)
in order. Each load's Future says how it went — True (fresh), False (not run: closed) or the
exception — for the caller's one summary (CacheCore._warm_outcome).

A warm loader may warm other keys itself (``await cache.warm_cache(dependents)``): queued
behind busy workers that all wait for it, that would deadlock once ``warm_concurrency``
loaders did so, so a warm_cache called from a worker runs its loads inline (``in_worker()``)."""

from __future__ import annotations

import asyncio
import contextvars
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

Outcome = bool | Exception
Job = tuple[int, int, str, Any, asyncio.Future[Outcome]]
_IN_WORKER: contextvars.ContextVar[bool] = contextvars.ContextVar("defiperf_warm_worker",
                                                                  default=False)


def in_worker() -> bool:
    """True inside a warm load (a worker's task, or a thread its blocking loader runs on)."""
    return _IN_WORKER.get()


async def warm_inline(warm_one: Callable[[str, Any], Awaitable[None]], keys: list[str],
                      spec: Any, concurrency: int) -> list[Outcome]:
    """keys' loads run by the caller's task (at most ``concurrency`` at once): a nested warm."""
    gate = asyncio.Semaphore(concurrency)

    async def one(key: str) -> Outcome:
        async with gate:
            try:
                await warm_one(key, spec)
            except Exception as exc:  # the caller's summary reports it
                return exc
            return True
    return list(await asyncio.gather(*(one(k) for k in keys)))


class Warmer:
    def __init__(self, warm_one: Callable[[str, Any], Awaitable[None]], concurrency: int,
                 paused: bool = False) -> None:
        self._warm_one = warm_one
        self._concurrency = concurrency
        self._queue: asyncio.PriorityQueue[Job] = asyncio.PriorityQueue()
        self._seq = itertools.count()
        self._running = asyncio.Event()
        if not paused:
            self._running.set()

    def start(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[None]]:
        return [loop.create_task(self._worker(), name=f"defiperf-warm-{i}")
                for i in range(self._concurrency)]

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def submit(self, key: str, spec: Any, priority: int) -> asyncio.Future[Outcome]:
        fut: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((-priority, next(self._seq), key, spec, fut))
        return fut

    def cancel_queued(self) -> None:
        while not self._queue.empty():
            *_, fut = self._queue.get_nowait()
            if not fut.done():
                fut.set_result(False)

    async def _worker(self) -> None:
        _IN_WORKER.set(True)  # this task's own context: its loads' nested warms run inline
        while True:
            await self._running.wait()  # paused: queued loads stay queued, in order
            _, _, key, spec, fut = await self._queue.get()
            outcome: Outcome = True
            try:
                await self._warm_one(key, spec)
            except asyncio.CancelledError:
                if not fut.done():
                    fut.set_result(False)
                raise
            except Exception as exc:  # the caller's summary reports it; never kills a worker
                outcome = exc
            if not fut.done():
                fut.set_result(outcome)
