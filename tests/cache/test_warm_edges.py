"""warm_cache under adversarial loaders: an exception whose __str__ raises is summarised, not
raised (both managers, wait=True and wait=False); a warm loader that warms its dependents runs
them inline instead of deadlocking the worker pool, and later warm_cache calls still work."""

from __future__ import annotations

import asyncio
import logging

import pytest

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ failed")


def loader(key: str) -> str:
    if key.endswith("1"):
        raise BadStr()
    return key


def test_sync_warm_summary_survives_a_failing_str(caplog: pytest.LogCaptureFixture) -> None:
    with SyncCacheManager(CacheConfig(disk_enabled=False)) as cache, \
            caplog.at_level(logging.WARNING, "defiperf.cache"):
        assert cache.warm_cache([f"a{i}" for i in range(4)], loader=loader) == 3
        assert cache.get_metrics()["warm_failures"] == 1
    assert any("unprintable BadStr" in r.getMessage() for r in caplog.records)


async def test_async_warm_summary_survives_a_failing_str(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: errors.append(ctx))
    async with SmartCacheManager(CacheConfig(disk_enabled=False)) as cache:
        with caplog.at_level(logging.WARNING, "defiperf.cache"):
            assert await cache.warm_cache([f"a{i}" for i in range(4)], loader=loader) == 3
            assert await cache.warm_cache([f"b{i}" for i in range(4)], loader=loader,
                                          wait=False) == 0
            for _ in range(200):  # the wait=False summary runs in a done callback
                if cache.get_metrics()["warm_failures"] == 2:
                    break
                await asyncio.sleep(0.01)
        assert cache.get_metrics()["warm_failures"] == 2
    assert errors == []  # no 'Exception in callback'
    assert any("unprintable BadStr" in r.getMessage() for r in caplog.records)


async def test_a_warm_loader_that_warms_its_dependents_does_not_deadlock() -> None:
    async with SmartCacheManager(CacheConfig(disk_enabled=False, warm_concurrency=2)) as cache:
        async def warm_loader(key: str) -> str:
            if key.startswith("parent"):
                assert await cache.warm_cache([key.replace("parent", "child")],
                                              loader=warm_loader) == 1
            return key
        parents = [f"parent{i}" for i in range(6)]  # more than warm_concurrency at once
        assert await asyncio.wait_for(cache.warm_cache(parents, loader=warm_loader), 10) == 6
        for i in range(6):
            assert await cache.get(f"child{i}") == f"child{i}"
        # the pool is intact: later calls, nested or not, still run
        assert await asyncio.wait_for(cache.warm_cache(["other", "parent9"],
                                                       loader=warm_loader), 10) == 2
        assert await cache.get("child9") == "child9"

