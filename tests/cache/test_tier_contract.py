"""One contract for every tier (cachetools' CacheTestMixin idea): MemoryTier, DiskTier on a
real directory, RedisTier (asyncio) and SyncRedisTier on a real redis-server. Tiers are
blocking or async; ``run`` awaits whichever it gets."""

from __future__ import annotations

import inspect
import math
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from defiperf.cache import DiskTier, Entry, MemoryTier, RedisTier, Serializer, SyncRedisTier

S = Serializer()


async def run(result: Any) -> Any:
    return await result if inspect.isawaitable(result) else result


@pytest.fixture(params=["memory", "disk", "redis", "sync-redis"])
async def tier(request: pytest.FixtureRequest, tmp_path: Path, redis_server: str) -> AsyncIterator[Any]:
    kind = request.param
    ns = f"n{uuid.uuid4().hex[:6]}"
    if kind == "memory":
        t: Any = MemoryTier(1000, timer=time.time)
    elif kind == "disk":
        t = DiskTier(tmp_path / "l3", S, namespace="t", size_limit_bytes=1 << 24, clock=time.time)
    elif kind == "redis":
        t = RedisTier(redis_server, S, namespace=ns, clock=time.time)
    else:
        t = SyncRedisTier(redis_server, S, namespace=ns, clock=time.time)
    yield t
    await run(t.close())


def entry(value: Any, ttl: float | None = None, tags: tuple[str, ...] = ()) -> tuple[Entry, bytes]:
    now = time.time()
    end = math.inf if ttl is None else now + ttl
    return Entry(value, end, end, 1, tags=tags), S.dumps(value)


async def put(tier: Any, key: str, e: tuple[Entry, bytes], ttl: float | None = None) -> None:
    if isinstance(tier, MemoryTier):
        await run(tier.set(key, e[0], ttl))
    else:
        await run(tier.set(key, e[0], e[1], ttl))


async def test_set_get_delete(tier: Any) -> None:
    assert await run(tier.get("k")) is None
    await put(tier, "k", entry({"price": "3412.5"}))
    got = await run(tier.get("k"))
    assert got.value == {"price": "3412.5"} and got.expires_at == math.inf
    assert await run(tier.delete("k")) is True
    assert await run(tier.get("k")) is None and await run(tier.delete("k")) is False


async def test_many(tier: Any) -> None:
    await run(tier.set_many({f"k{i}": entry(i) for i in range(10)}, None))
    got = await run(tier.get_many([f"k{i}" for i in range(12)]))
    assert {k: e.value for k, e in got.items()} == {f"k{i}": i for i in range(10)}
    assert await run(tier.get_many([])) == {}


async def test_expired_entries_are_misses(tier: Any) -> None:
    await put(tier, "k", entry("v", ttl=0.05), 0.05)
    assert (await run(tier.get("k"))).value == "v"
    time.sleep(0.12)
    assert await run(tier.get("k")) is None


async def test_clear(tier: Any) -> None:
    await run(tier.set_many({f"k{i}": entry(i) for i in range(5)}, None))
    await run(tier.clear())
    assert await run(tier.get_many([f"k{i}" for i in range(5)])) == {}


async def test_tags_and_prefixes(tier: Any) -> None:
    await put(tier, "a", entry(1, tags=("user:1", "prices")))
    await put(tier, "b", entry(2, tags=("user:2",)))
    await put(tier, "mod.fn:1", entry(3))
    await put(tier, "mod.fn2:1", entry(4))
    got = await run(tier.get("a"))
    assert got.tags == ("user:1", "prices")
    assert await run(tier.delete_tagged(["prices"])) == 1
    assert await run(tier.get("a")) is None and (await run(tier.get("b"))).value == 2
    assert await run(tier.delete_prefix("mod.fn")) == 1
    assert await run(tier.get("mod.fn:1")) is None
    assert (await run(tier.get("mod.fn2:1"))).value == 4
