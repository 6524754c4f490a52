"""One contract for every tier (cachetools' CacheTestMixin idea): MemoryTier, DiskTier on a
real directory, RedisTier on a real redis-server."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from defiperf.cache import DiskTier, Entry, MemoryTier, RedisTier, Serializer

S = Serializer()


@pytest.fixture(params=["memory", "disk", "redis"])
async def tier(request: pytest.FixtureRequest, tmp_path: Path, redis_server: str) -> AsyncIterator[Any]:
    kind = request.param
    if kind == "memory":
        t: Any = MemoryTier(1000, timer=time.time)
    elif kind == "disk":
        t = DiskTier(tmp_path / "l3", S, namespace="t", size_limit_bytes=1 << 24, clock=time.time)
    else:
        t = RedisTier(redis_server, S, namespace=f"n{uuid.uuid4().hex[:6]}", clock=time.time)
    yield t
    await t.close()


def entry(value: Any, ttl: float | None = None) -> tuple[Entry, bytes]:
    now = time.time()
    end = math.inf if ttl is None else now + ttl
    return Entry(value, end, end, 1), S.dumps(value)


async def test_set_get_delete(tier: Any) -> None:
    e, payload = entry({"price": "3412.5"})
    assert await tier.get("k") is None
    await tier.set("k", e, payload, None)
    got = await tier.get("k")
    assert got.value == {"price": "3412.5"} and got.expires_at == math.inf
    assert await tier.delete("k") is True
    assert await tier.get("k") is None and await tier.delete("k") is False


async def test_many(tier: Any) -> None:
    await tier.set_many({f"k{i}": entry(i) for i in range(10)}, None)
    got = await tier.get_many([f"k{i}" for i in range(12)])
    assert {k: e.value for k, e in got.items()} == {f"k{i}": i for i in range(10)}
    assert await tier.get_many([]) == {}


async def test_expired_entries_are_misses(tier: Any) -> None:
    e, payload = entry("v", ttl=0.05)
    await tier.set("k", e, payload, 0.05)
    assert (await tier.get("k")).value == "v"
    time.sleep(0.12)
    assert await tier.get("k") is None


async def test_clear(tier: Any) -> None:
    await tier.set_many({f"k{i}": entry(i) for i in range(5)}, None)
    await tier.clear()
    assert await tier.get_many([f"k{i}" for i in range(5)]) == {}
