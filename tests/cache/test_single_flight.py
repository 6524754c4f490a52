"""Single flight across the two sides of SmartCacheManager: async callers (coroutines on the
loop) and blocking callers (a plain function under ``@cached``, on threads) that miss the same
key at once share one load — whichever side starts it — with real Redis and disk tiers."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from defiperf.cache import CacheConfig, SmartCacheManager


from switching import fast_switching  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("fast_switching")


async def until(check: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("fail", [False, True], ids=["value", "error"])
@pytest.mark.parametrize("first", ["async", "blocking"])
async def test_async_and_blocking_callers_share_one_load(redis_server: str, tmp_path: Path,
                                                         first: str, fail: bool) -> None:
    cfg = CacheConfig(redis_url=redis_server, namespace="sf" + uuid.uuid4().hex[:8],
                      disk_dir=str(tmp_path / "l3"))
    calls: list[str] = []
    release = threading.Event()

    def body(side: str, pair: str) -> str:
        calls.append(side)
        assert release.wait(20)
        if fail:
            raise LookupError(f"no price for {pair}")
        return f"{pair}:{len(calls)}"

    async with SmartCacheManager(cfg) as cache:
        @cache.cached(ttl=60, key="px:{pair}")
        async def price_async(pair: str) -> str:
            return await asyncio.to_thread(body, "async", pair)

        @cache.cached(ttl=60, key="px:{pair}")
        def price_blocking(pair: str) -> str:
            return body("blocking", pair)

        def blocking() -> Any:
            try:
                return price_blocking("ETH")
            except LookupError as exc:
                return exc

        async def async_() -> Any:
            try:
                return await price_async("ETH")
            except LookupError as exc:
                return exc

        n = 6
        pool = ThreadPoolExecutor(n + 1)
        loop = asyncio.get_running_loop()
        try:
            jobs: list[Any] = []
            if first == "async":
                jobs.append(asyncio.ensure_future(async_()))
            else:
                jobs.append(loop.run_in_executor(pool, blocking))
            await until(lambda: len(calls) == 1)  # the first caller's load is running
            jobs += [loop.run_in_executor(pool, blocking) for _ in range(n)]
            jobs += [asyncio.ensure_future(async_()) for _ in range(n)]
            await until(lambda: cache.get_metrics()["single_flight_joins"] >= 2 * n)
            release.set()
            results = await asyncio.wait_for(asyncio.gather(*jobs), 30)
        finally:
            release.set()
            pool.shutdown(wait=True)
        assert calls == [first]  # one load for both sides
        if fail:
            assert all(isinstance(r, LookupError) and "ETH" in str(r) for r in results)
        else:
            assert results == ["ETH:1"] * (2 * n + 1)
            assert await price_async("ETH") == "ETH:1" and calls == [first]


async def test_close_fails_blocking_waiters_of_an_async_load(redis_server: str,
                                                             tmp_path: Path) -> None:
    """A blocking caller waiting on a load the loop owns gets CacheClosedError at close()."""
    from defiperf.cache import CacheClosedError

    cfg = CacheConfig(redis_url=redis_server, namespace="sf" + uuid.uuid4().hex[:8],
                      disk_dir=str(tmp_path / "l3"))
    started, release = asyncio.Event(), asyncio.Event()
    cache = SmartCacheManager(cfg)

    @cache.cached(ttl=60, key="slow:{x}")
    async def slow(x: int) -> int:
        started.set()
        await release.wait()
        return x

    @cache.cached(ttl=60, key="slow:{x}")
    def slow_blocking(x: int) -> int:
        raise AssertionError("the blocking side must join the async load, not load itself")

    owner = asyncio.ensure_future(slow(1))
    await started.wait()
    waiter = asyncio.ensure_future(asyncio.to_thread(slow_blocking, 1))
    await until(lambda: cache.get_metrics()["single_flight_joins"] >= 1)
    await cache.close()
    with pytest.raises(CacheClosedError):
        await asyncio.wait_for(waiter, 10)
    release.set()
    owner.cancel()
    await asyncio.gather(owner, return_exceptions=True)


async def test_a_cold_burst_looks_each_key_up_once(redis_server: str, tmp_path: Path) -> None:
    """1,000 callers missing 10 keys together: 10 Redis GETs (the joiners share the first
    caller's lookup, then its load), not 1,000."""
    import redis

    cfg = CacheConfig(redis_url=redis_server, namespace="sf" + uuid.uuid4().hex[:8],
                      disk_enabled=False, invalidation=False)
    raw = redis.Redis.from_url(redis_server)

    def gets() -> int:
        return int(raw.info("commandstats").get("cmdstat_get", {}).get("calls", 0))

    async def loader(key: str) -> str:
        await asyncio.sleep(0.01)
        return key.upper()

    try:
        async with SmartCacheManager(cfg) as cache:
            before = gets()
            results = await asyncio.gather(*(cache.get_or_set(f"k{i % 10}", loader)
                                             for i in range(1000)))
            assert results == [f"K{i % 10}" for i in range(1000)]
            assert gets() - before <= 10
            assert cache.get_metrics()["loads"] == 10
    finally:
        raw.close()
