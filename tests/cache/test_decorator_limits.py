"""Limits a decorated function's caller meets must say what they are: with key= the hidden
per-function tag takes one of an entry's 64 tags (the error says so, at decoration time), and
a waiter's timeout names the re-entry through a worker thread that causes it."""

from __future__ import annotations

import asyncio

import pytest

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager


def test_key_fn_tag_budget_is_63_and_the_error_says_why() -> None:
    with SyncCacheManager(CacheConfig(disk_enabled=False)) as cache:
        tags = [f"t{i}" for i in range(64)]
        cache.set("x", 1, tags=[f"s{i}" for i in range(64)])  # 64 on an entry of its own
        cache.cached(ttl=60, tags=tags)(lambda a: a)  # and without key=
        with pytest.raises(ValueError, match=r"at most 63 tags.*cache_clear"):
            cache.cached(ttl=60, key="q:{a}", tags=tags)(lambda a: a)

        calls = []

        @cache.cached(ttl=60, key="q:{a}", tags=tags[:63])
        def q(a: int) -> int:
            calls.append(a)
            return a
        assert q(1) == 1 and q(1) == 1 and calls == [1]
        assert cache.invalidate_tags(["t62"]) == 1  # the user's last tag is on the entry
        assert q(1) == 1 and calls == [1, 1]
        q.cache_clear()  # and so is the function's own
        assert q(1) == 1 and calls == [1, 1, 1]


async def test_reentry_through_run_in_executor_times_out_with_a_hint() -> None:
    cache = SmartCacheManager(CacheConfig(disk_enabled=False, load_wait_timeout_s=0.5))

    @cache.cached(ttl=60, key="m:{x}")
    async def quote_async(x: int) -> int:
        return await asyncio.get_running_loop().run_in_executor(None, quote_sync, x)

    @cache.cached(ttl=60, key="m:{x}")
    def quote_sync(x: int) -> int:
        return 3

    with pytest.raises(TimeoutError, match="run_in_executor.*asyncio.to_thread"):
        await asyncio.wait_for(quote_async(1), 10)
    await cache.close()
