"""A load whose owner ends without an outcome — cancelled, KeyboardInterrupt/SystemExit on a
worker thread, asyncio.run ending, its event loop stopped and closed — never hands that
BaseException (or a hang) to the other callers waiting on the same key, on other tasks, threads
or loops: they load the key themselves. The table of loads stays one for both sides of a cache
across close() and restart. Every wait is bounded: a regression fails, it does not hang."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
from typing import Any

import pytest

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager

from switching import fast_switching  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("fast_switching")


def config(**kw: Any) -> CacheConfig:
    return CacheConfig(disk_enabled=False, **kw)


def outcome(fn: Any, *args: Any) -> tuple[str, Any]:
    try:
        return "value", fn(*args)
    except BaseException as exc:  # noqa: BLE001 - the test reports what escaped
        return "raised", type(exc).__name__


def both_sides(cache: SmartCacheManager, calls: list[str], value: int,
               sync_pause_s: float) -> tuple[Any, Any]:
    """An async and a plain function cached under one key= (one key, two sides)."""
    @cache.cached(ttl=60, key="k:{x}")
    async def async_side(x: Any) -> int:
        calls.append("async")
        await asyncio.sleep(0.5)
        return value

    @cache.cached(ttl=60, key="k:{x}")
    def sync_side(x: Any) -> int:
        calls.append("sync")
        time.sleep(sync_pause_s)
        return value
    return async_side, sync_side


async def test_cancelled_async_owner_sends_its_waiters_to_load() -> None:
    cache = SmartCacheManager(config())
    calls: list[str] = []
    price_async, price_sync = both_sides(cache, calls, value=42, sync_pause_s=0.0)

    threads: list[tuple[str, Any]] = []
    owner = asyncio.create_task(price_async("ETH"))
    await asyncio.sleep(0.1)  # the owner is inside its loader
    waiter = asyncio.create_task(price_async("ETH"))
    t = threading.Thread(target=lambda: threads.append(outcome(price_sync, "ETH")))
    t.start()
    await asyncio.sleep(0.1)  # both joined the flight
    owner.cancel()
    got = await asyncio.wait_for(waiter, 10)
    await asyncio.to_thread(t.join, 10)
    assert owner.cancelled()  # the owner keeps its own cancellation
    assert got == 42 and not waiter.cancelled()
    assert threads == [("value", 42)]
    assert calls[0] == "async" and len(calls) >= 2  # someone loaded it again
    await cache.close()


def test_asyncio_run_ending_mid_load_does_not_raise_in_blocking_waiters() -> None:
    cache = SmartCacheManager(config())

    @cache.cached(ttl=60, key="k:{x}")
    async def slow(x: int) -> int:
        await asyncio.sleep(3600)
        return 1

    @cache.cached(ttl=60, key="k:{x}")
    def fast(x: int) -> int:
        return 2

    threads: list[tuple[str, Any]] = []
    t = threading.Thread(target=lambda: threads.append(outcome(fast, 1)))

    async def main() -> None:
        asyncio.get_running_loop().create_task(slow(1))
        await asyncio.sleep(0.2)  # that task owns the load
        t.start()
        await asyncio.sleep(0.2)  # the thread joined it; asyncio.run now cancels the owner
    asyncio.run(main())
    t.join(10)
    assert threads == [("value", 2)]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_base_exception_of_a_blocking_loader_stays_on_its_thread(interrupt: type) -> None:
    cache = SmartCacheManager(config())
    go = threading.Event()

    @cache.cached(ttl=60, key="k:{x}")
    def load_sync(x: int) -> int:
        go.wait(10)
        raise interrupt

    @cache.cached(ttl=60, key="k:{x}")
    async def load_async(x: int) -> int:
        return 2

    owner: list[tuple[str, Any]] = []
    t = threading.Thread(target=lambda: owner.append(outcome(load_sync, 1)))

    async def main() -> tuple[str, Any]:
        t.start()
        await asyncio.sleep(0.2)  # the thread owns the load
        waiter = asyncio.create_task(load_async(1))
        await asyncio.sleep(0.1)
        go.set()
        got = await asyncio.wait_for(waiter, 10)
        await asyncio.to_thread(t.join, 10)
        await cache.close()
        return "value", got
    assert asyncio.run(main()) == ("value", 2)  # the loop was not killed
    assert owner == [("raised", interrupt.__name__)]


def test_sync_manager_threads_never_get_the_owners_keyboard_interrupt() -> None:
    cache = SyncCacheManager(config())
    started, go = threading.Event(), threading.Event()
    calls = []

    def loader(key: str) -> int:
        calls.append(threading.get_ident())
        if len(calls) == 1:
            started.set()
            go.wait(10)
            raise KeyboardInterrupt
        return 7

    results: list[tuple[str, Any]] = []
    lock = threading.Lock()

    def call() -> None:
        got = outcome(cache.get_or_set, "k", loader)
        with lock:
            results.append(got)
    owner = threading.Thread(target=call)
    owner.start()
    assert started.wait(10)
    waiters = [threading.Thread(target=call) for _ in range(20)]
    for w in waiters:
        w.start()
    time.sleep(0.2)
    go.set()
    for th in [owner, *waiters]:
        th.join(10)
    assert sorted(results).count(("raised", "KeyboardInterrupt")) == 1
    assert results.count(("value", 7)) == 20
    cache.close()


def test_an_ordinary_loader_error_still_reaches_every_waiting_thread() -> None:
    cache = SyncCacheManager(config())
    gate = threading.Barrier(50, timeout=10)
    calls = []

    def loader(key: str) -> int:
        calls.append(1)
        # Fail once the 49 others wait on this load: a fixed 0.3 s let a thread that a busy
        # host kept off the CPU arrive after the flight had landed, and load again.
        deadline = time.monotonic() + 10
        while cache.counters["single_flight_joins"] < 49 and time.monotonic() < deadline:
            time.sleep(0.001)
        raise LookupError("rate service down")

    results: list[tuple[str, Any]] = []

    def call() -> None:
        gate.wait()
        results.append(outcome(cache.get_or_set, "k", loader))
    threads = [threading.Thread(target=call) for _ in range(50)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(15)
    assert results == [("raised", "LookupError")] * 50
    assert len(calls) == 1
    cache.close()


async def test_both_sides_share_one_flight_table_after_close_and_restart() -> None:
    cache = SmartCacheManager(config())
    calls: list[str] = []
    quote_async, quote_sync = both_sides(cache, calls, value=1, sync_pause_s=0.5)

    async def burst(x: int) -> list[str]:
        calls.clear()
        task = asyncio.create_task(quote_async(x))
        await asyncio.sleep(0.1)  # the async caller owns the load
        assert await asyncio.wait_for(asyncio.to_thread(quote_sync, x), 10) == 1
        await asyncio.wait_for(task, 10)
        return list(calls)
    assert await burst(1) == ["async"]
    for round_ in range(2, 4):
        await cache.close()  # close, then use again
        assert await burst(round_) == ["async"]
    await cache.close()


# a loop closed or stopped with pending tasks: asyncio reports them when they are collected
dead_loop = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


@dead_loop
@pytest.mark.parametrize("closed", [True, False], ids=["closed", "stopped"])
def test_an_owner_loop_that_went_away_does_not_poison_the_key(closed: bool) -> None:
    cache = SmartCacheManager(config(load_wait_timeout_s=30))

    @cache.cached(ttl=60, key="k:{x}")
    async def fetch_async(x: int) -> int:
        await asyncio.sleep(3600)
        return 1

    @cache.cached(ttl=60, key="k:{x}")
    def fetch_sync(x: int) -> int:
        return 2

    loop = asyncio.new_event_loop()
    runner = threading.Thread(target=loop.run_forever)
    runner.start()
    asyncio.run_coroutine_threadsafe(fetch_async(1), loop)
    time.sleep(0.3)  # the async caller owns the load
    waiting: list[tuple[str, Any]] = []
    early = threading.Thread(target=lambda: waiting.append(outcome(fetch_sync, 1)))
    early.start()  # joins the flight before the loop goes away
    time.sleep(0.2)
    loop.call_soon_threadsafe(loop.stop)
    runner.join(10)
    if closed:
        loop.close()  # else stopped, not running again: taken over after about 1 s
    t0 = time.monotonic()
    early.join(10)
    del early
    assert waiting == [("value", 2)]
    assert time.monotonic() - t0 < 5  # not after load_wait_timeout_s
    t0 = time.monotonic()
    assert fetch_sync(1) == 2  # a later caller: the flight is gone
    assert time.monotonic() - t0 < 5
    loop.close()
    asyncio.run(cache.close())  # on a new loop: the manager abandons the dead loop's tasks
    del cache, fetch_async, fetch_sync, loop, runner
    seen: list[type] = []
    hook, sys.unraisablehook = sys.unraisablehook, lambda u: seen.append(u.exc_type)
    try:
        gc.collect()  # the dead loop's coroutines are closed here, in this context
    finally:
        sys.unraisablehook = hook
    assert ValueError not in seen  # a load closed by the GC still leaves its flight cleanly
