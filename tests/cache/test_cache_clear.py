"""``cache_clear()`` of a decorated function removes every entry it made — also those keyed by
a ``key=`` template or callable (which do not start with the function's name) — from L1, Redis,
disk and other processes' L1, and nothing else."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager

KEYS: list[Any] = ["px:{pair}", lambda pair: f"px:{pair}", None]


def config(url: str, tmp_path: Path, ns: str, name: str) -> CacheConfig:
    return CacheConfig(redis_url=url, namespace=ns, disk_dir=str(tmp_path / name))


@pytest.mark.parametrize("key", KEYS, ids=["template", "callable", "canonical"])
def test_blocking_cache_clear(redis_server: str, tmp_path: Path, key: Any) -> None:
    ns = "cc" + uuid.uuid4().hex[:8]
    calls: list[str] = []
    with SyncCacheManager(config(redis_server, tmp_path, ns, "a")) as a, \
            SyncCacheManager(config(redis_server, tmp_path, ns, "b")) as b:
        @a.cached(ttl=60, key=key)
        def price(pair: str) -> str:
            calls.append(pair)
            return f"{pair}:{len(calls)}"

        assert price("ETH") == "ETH:1" and price("BTC") == "BTC:2"
        made = [price.key("ETH"), price.key("BTC")]
        a.set("px:SOL", "not the function's")  # same shape, set by hand: not cleared
        assert [b.get(k) for k in made] == ["ETH:1", "BTC:2"]  # b's L1 holds them now
        price.cache_clear()
        raw = redis.Redis.from_url(redis_server)
        try:
            assert [raw.exists(f"{ns}:cache:{k}") for k in made] == [0, 0]
        finally:
            raw.close()
        assert a.l3 is not None and all(a.l3.get(k) is None for k in made)
        assert a.get("px:SOL") == "not the function's"
        assert price("ETH") == "ETH:3"  # loaded again
        wait_until(lambda: b.get(made[1]) is None)  # other process's L1 dropped it too


def wait_until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    import threading
    import time

    deadline = time.monotonic() + seconds
    pause = threading.Event()
    while not check():
        assert time.monotonic() < deadline, "condition never became true"
        pause.wait(0.02)


@pytest.mark.parametrize("key", KEYS, ids=["template", "callable", "canonical"])
async def test_async_cache_clear(redis_server: str, tmp_path: Path, key: Any) -> None:
    ns = "cc" + uuid.uuid4().hex[:8]
    calls: list[str] = []
    async with SmartCacheManager(config(redis_server, tmp_path, ns, "a")) as cache:
        @cache.cached(ttl=60, key=key)
        async def price(pair: str) -> str:
            calls.append(pair)
            return f"{pair}:{len(calls)}"

        assert await price("ETH") == "ETH:1" and await price("ETH") == "ETH:1"
        await price.cache_clear()
        assert await cache.get(price.key("ETH")) is None
        assert await price("ETH") == "ETH:2"


def test_a_key_function_with_64_tags_is_refused_at_decoration(tmp_path: Path) -> None:
    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as cache:
        with pytest.raises(ValueError, match="tags"):
            @cache.cached(ttl=60, key="k:{x}", tags=[f"t{i}" for i in range(64)])
            def fn(x: int) -> int:
                return x
