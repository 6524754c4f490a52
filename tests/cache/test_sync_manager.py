"""SyncCacheManager and blocking callers: the tier API from threads, single flight across 50
threads (with and without a real Redis), a threaded app, the loop-thread error, re-entrant
loads, CacheClosedError for waiters, and plain functions under SmartCacheManager.cached."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from defiperf.cache import (CacheClosedError, CacheConfig, LoopThreadError, ReentrantLoadError,
                            SmartCacheManager, SyncCacheManager)


from switching import fast_switching  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("fast_switching")


def config(tmp_path: Path, redis_url: str | None = None, **kw: Any) -> CacheConfig:
    kw.setdefault("namespace", "s" + uuid.uuid4().hex[:8])
    return CacheConfig(disk_dir=str(tmp_path / f"l3-{uuid.uuid4().hex[:6]}"), redis_url=redis_url,
                       **kw)


def in_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """fn(i) on n threads released together; results or exceptions, in order."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait(10)
        try:
            return fn(i)
        except Exception as exc:
            return exc
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_tier_api(tmp_path: Path) -> None:
    with SyncCacheManager(config(tmp_path)) as cache:
        cache.set("token:ETH", {"price": "3412.55"}, ttl=60)
        assert cache.get("token:ETH") == {"price": "3412.55"}
        cache.set_many({"a": 1, "b": [2]})
        assert cache.get_many(["a", "b", "c"]) == {"a": 1, "b": [2]}
        assert cache.l1 is not None
        cache.l1.clear()
        assert cache.get("a") == 1  # from disk
        assert cache.delete("a") is True and cache.get("a") is None
        assert cache.get_or_set("x", str.upper) == "X"
        assert cache.warm_cache(["w1", "w2"], 9, str.upper) == 2
        assert cache.get("w2") == "W2"
        cache.clear()
        assert cache.get_many(["b", "x", "w1"]) == {}
        assert cache.health()["status"] == "ok"


@pytest.mark.parametrize("with_redis", [False, True])
def test_fifty_threads_missing_one_key_call_the_loader_once(tmp_path: Path, redis_server: str,
                                                            with_redis: bool) -> None:
    calls = 0

    def loader(key: str) -> str:
        nonlocal calls
        calls += 1
        time.sleep(0.05)
        return key.upper()

    url = redis_server if with_redis else None
    with SyncCacheManager(config(tmp_path, url)) as cache:
        results = in_threads(50, lambda i: cache.get_or_set("eth", loader))
        assert results == ["ETH"] * 50 and calls == 1
        assert cache.counters["single_flight_joins"] + cache.counters["loads"] >= 1


@pytest.mark.parametrize("with_redis", [False, True])
def test_fifty_threads_all_get_the_loaders_error(tmp_path: Path, redis_server: str,
                                                 with_redis: bool) -> None:
    calls = 0

    def loader(key: str) -> str:
        nonlocal calls
        calls += 1
        deadline = time.monotonic() + 10  # fail once all 49 others are waiting on this load
        while cache.counters["single_flight_joins"] < 49 and time.monotonic() < deadline:
            time.sleep(0.001)
        raise ConnectionError("node down")

    with SyncCacheManager(config(tmp_path, redis_server if with_redis else None)) as cache:
        results = in_threads(50, lambda i: cache.get_or_set("eth", loader))
        assert all(isinstance(r, ConnectionError) for r in results) and calls == 1


@pytest.mark.parametrize("with_redis", [False, True])
@pytest.mark.parametrize("manager", ["sync", "smart"])
def test_threaded_app_has_no_errors(tmp_path: Path, redis_server: str, with_redis: bool,
                                    manager: str) -> None:
    """A Flask-style app: 50 worker threads serving requests through a plain @cached
    function (both managers), 300 requests over 20 portfolios."""
    url = redis_server if with_redis else None
    cfg = config(tmp_path, url)
    cache: Any = SyncCacheManager(cfg) if manager == "sync" else SmartCacheManager(cfg)
    loads: dict[str, int] = {}
    lock = threading.Lock()

    @cache.cached(ttl=60)
    def portfolio(address: str, chain: str = "eth") -> dict[str, Any]:
        with lock:
            loads[address] = loads.get(address, 0) + 1
        time.sleep(0.002)
        return {"address": address, "chain": chain, "eth": "1.5"}

    def request(i: int) -> dict[str, Any]:
        results = [portfolio(f"0x{(i * 7 + j) % 20:02x}") for j in range(6)]
        return results[0]

    results = in_threads(50, request)
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    assert all(r["eth"] == "1.5" for r in results)
    assert sum(loads.values()) == 20 and set(loads.values()) == {1}  # single flight per key
    assert portfolio.cache_info().hits + portfolio.cache_info().misses == 300
    if manager == "sync":
        cache.close()
    else:
        asyncio.run(cache.close())


async def test_a_blocking_call_on_a_loop_thread_is_a_clear_error(tmp_path: Path) -> None:
    sync = SyncCacheManager(config(tmp_path))
    smart = SmartCacheManager(config(tmp_path))

    @smart.cached(ttl=60)
    def square(x: int) -> int:
        return x * x

    with pytest.raises(LoopThreadError, match="await"):
        sync.get("k")
    with pytest.raises(LoopThreadError, match="async"):
        square(3)
    assert await asyncio.to_thread(square, 3) == 9  # from a worker thread it works
    assert await asyncio.to_thread(sync.get_or_set, "k", str.upper) == "K"
    await asyncio.to_thread(sync.close)
    await smart.close()


def test_plain_function_under_smart_manager_runs_no_event_loop_per_call(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cache = SmartCacheManager(config(tmp_path))
    calls = 0

    @cache.cached(ttl=60)
    def square(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * x

    def no_asyncio_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("asyncio.run called per call")
    assert square(4) == 16
    monkeypatch.setattr(asyncio, "run", no_asyncio_run)
    assert square(4) == square(x=4) == 16 and calls == 1
    monkeypatch.undo()
    asyncio.run(cache.close())


def test_a_reentrant_load_raises_instead_of_deadlocking(tmp_path: Path) -> None:
    with SyncCacheManager(config(tmp_path)) as cache:
        def loader(key: str) -> str:
            return str(cache.get_or_set(key, loader))
        with pytest.raises(ReentrantLoadError, match="itself"):
            cache.get_or_set("k", loader)

        @cache.cached(ttl=60)
        def fib(n: int) -> int:  # recursion on other keys is fine
            return n if n < 2 else fib(n - 1) + fib(n - 2)
        assert fib(30) == 832040


async def test_async_reentrant_load_raises(tmp_path: Path) -> None:
    async with SmartCacheManager(config(tmp_path)) as cache:
        async def loader(key: str) -> str:
            return str(await cache.get_or_set(key, loader))
        with pytest.raises(ReentrantLoadError):
            await asyncio.wait_for(cache.get_or_set("k", loader), 5)


def test_close_tells_waiting_threads(tmp_path: Path) -> None:
    cache = SyncCacheManager(config(tmp_path))
    started, release = threading.Event(), threading.Event()

    def slow(key: str) -> str:
        started.set()
        release.wait(10)
        return "v"

    with ThreadPoolExecutor(4) as pool:
        owner = pool.submit(cache.get_or_set, "k", slow)
        assert started.wait(10)
        waiters = [pool.submit(cache.get_or_set, "k", slow) for _ in range(3)]
        while cache.counters["single_flight_joins"] < 3:
            time.sleep(0.001)
        t0 = time.monotonic()
        cache.close()
        assert time.monotonic() - t0 < 2.0
        for w in waiters:
            with pytest.raises(CacheClosedError):
                w.result(10)
        release.set()
        assert owner.result(10) == "v"  # the loader's own caller still gets its value
    assert cache.get_or_set("k", lambda k: "again") == "again"  # restarted
    cache.close()


async def test_close_tells_waiting_tasks(tmp_path: Path) -> None:
    cache = SmartCacheManager(config(tmp_path))
    gate = asyncio.Event()

    async def slow(key: str) -> str:
        await gate.wait()
        return "v"

    owner = asyncio.create_task(cache.get_or_set("k", slow))
    await asyncio.sleep(0.05)
    waiters = [asyncio.create_task(cache.get_or_set("k", slow)) for _ in range(3)]
    await asyncio.sleep(0.05)
    await cache.close()
    for w in waiters:
        with pytest.raises(CacheClosedError):
            await w
    gate.set()
    assert await owner == "v"  # the loader's own caller still gets its value
    assert await cache.get_or_set("k", lambda k: "again") == "again"
    await cache.close()


def test_one_manager_across_event_loops(tmp_path: Path) -> None:
    """As a second FastAPI TestClient does: the first loop ended (with or without close())."""
    cache = SmartCacheManager(config(tmp_path))

    async def use(value: int, close: bool) -> Any:
        await cache.set("k", value)
        got = await cache.get("k")
        if close:
            await cache.close()
        return got

    assert asyncio.run(use(1, close=True)) == 1
    assert asyncio.run(use(2, close=False)) == 2
    assert asyncio.run(use(3, close=True)) == 3  # moved to this loop


def test_calls_from_another_running_loop_are_carried_over(tmp_path: Path) -> None:
    cache = SmartCacheManager(config(tmp_path))
    ready, done = threading.Event(), threading.Event()
    home: dict[str, Any] = {}

    def owner() -> None:
        async def main() -> None:
            await cache.set("k", "home")
            home["loop"] = asyncio.get_running_loop()
            ready.set()
            while not done.is_set():
                await asyncio.sleep(0.01)
            await cache.close()
        asyncio.run(main())

    thread = threading.Thread(target=owner)
    thread.start()
    assert ready.wait(10)

    async def visitor() -> Any:
        await cache.set("k2", "visitor")
        return await cache.get("k"), await cache.get("k2")
    try:
        assert asyncio.run(visitor()) == ("home", "visitor")
    finally:
        done.set()
        thread.join(10)


def test_failed_refreshes_back_off(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    cfg = config(tmp_path, refresh_check_interval_s=60.0, disk_enabled=False)
    fail = False
    loads = 0

    def loader(key: str) -> str:
        nonlocal loads
        loads += 1
        if fail:
            raise ConnectionError("api down")
        return "v"

    with SyncCacheManager(cfg, clock=lambda: now[0]) as cache:
        assert cache.get_or_set("k", loader, ttl=10, stale_ttl=100) == "v"
        fail = True
        now[0] += 15  # stale
        for _ in range(50):
            assert cache.get_or_set("k", loader, ttl=10, stale_ttl=100) == "v"
            time.sleep(0.002)
        deadline = time.monotonic() + 5
        while cache.counters["refresh_failures"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert loads == 2 and cache.counters["refresh_failures"] == 1  # backing off
        assert caplog.text.count("refresh of 'k' failed") <= 1


def test_a_loader_that_closes_the_manager(tmp_path: Path) -> None:
    cache = SyncCacheManager(config(tmp_path))

    def loader(key: str) -> str:
        cache.close()
        return "v"

    assert cache.get_or_set("k", loader) == "v"
    assert cache.closed
    assert cache.get("k") is None  # nothing stored after close; the call restarted it
    assert cache.get_or_set("k", str.upper) == "K"
    cache.close()


async def test_an_async_loader_that_closes_the_manager(tmp_path: Path) -> None:
    cache = SmartCacheManager(config(tmp_path))

    async def loader(key: str) -> str:
        await cache.close()
        return "v"

    assert await asyncio.wait_for(cache.get_or_set("k", loader), 10) == "v"
    assert await cache.get_or_set("k", str.upper) == "K"
    await cache.close()


async def test_sync_manager_decorates_async_functions(tmp_path: Path) -> None:
    cache = SyncCacheManager(config(tmp_path))
    calls = 0
    loop = asyncio.get_running_loop()

    @cache.cached(ttl=60)
    async def price(pair: str) -> float:
        nonlocal calls
        assert asyncio.get_running_loop() is loop  # runs on the caller's loop
        calls += 1
        await asyncio.sleep(0.01)
        return 3412.5

    results = await asyncio.gather(*(price("ETH") for _ in range(20)))
    assert results == [3412.5] * 20 and calls == 1
    assert await price.invalidate("ETH") is True
    assert await price("ETH") == 3412.5 and calls == 2
    await asyncio.to_thread(cache.close)
