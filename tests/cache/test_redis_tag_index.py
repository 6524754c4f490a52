"""The Redis tag index stays bounded by the live entries: each tagged write prunes the members
whose entries expired (a sorted set scored by expiry on Redis's clock) and the index expires
with its last member. Tag invalidation still reaches every live entry, a no-expiry member
keeps its index, and an index of the former kind (a plain SET) keeps working."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager


def config(url: str, **kw: object) -> CacheConfig:
    return CacheConfig(redis_url=url, namespace="ti" + uuid.uuid4().hex[:8], disk_enabled=False,
                       invalidation=False, **kw)  # type: ignore[arg-type]


@pytest.fixture
def raw(redis_server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server)
    yield client
    client.close()


def index_sizes(raw: redis.Redis, ns: str) -> tuple[int, int]:
    """(tag index keys, their members in all)."""
    names = list(raw.scan_iter(match=ns + ":tag:*"))
    return len(names), sum(raw.zcard(n) for n in names)


def test_twenty_thousand_short_lived_key_fn_writes_leave_a_bounded_index(
        redis_server: str, raw: redis.Redis) -> None:
    cfg = config(redis_server, l1_enabled=False)
    with SyncCacheManager(cfg) as cache:
        @cache.cached(ttl=0.2, key="quote:{pair}")
        def quote(pair: str) -> int:
            return 1
        with ThreadPoolExecutor(8) as pool:  # round trips overlap: a few seconds
            assert sum(pool.map(quote, (f"P{i}" for i in range(20_000)))) == 20_000
        _, during = index_sizes(raw, cfg.namespace)
        assert during < 20_000  # pruned while writing, not only afterwards
        time.sleep(1.5)  # every entry expired, and the 1 s slack too
        assert index_sizes(raw, cfg.namespace) == (0, 0)  # the index expired with them
        quote("live")  # a new write after expiry: one live member
        assert index_sizes(raw, cfg.namespace) == (1, 1)
        (name,) = raw.scan_iter(match=cfg.namespace + ":tag:*")
        assert raw.pttl(name) > 0  # it expires with its member


def test_invalidation_reaches_live_entries_and_no_expiry_members_persist(
        redis_server: str, raw: redis.Redis) -> None:
    cfg = config(redis_server, l1_enabled=False)
    tag_key = cfg.namespace + ":tag:feed"
    with SyncCacheManager(cfg) as cache:
        cache.set("short", 1, ttl=0.05, tags=["feed"])
        cache.set("forever", 2, ttl=None, tags=["feed"])
        cache.set("long", 3, ttl=60, tags=["feed"])
        assert raw.pttl(tag_key) == -1  # a member without expiry: the index persists
        time.sleep(1.2)
        cache.set("other", 4, ttl=60, tags=["feed"])  # prunes "short"
        assert sorted(raw.zrange(tag_key, 0, -1)) == [b"forever", b"long", b"other"]
        assert cache.invalidate_tags(["feed"]) == 3
        assert cache.get("forever") is None and cache.get("long") is None
        assert not raw.exists(tag_key)


def test_an_index_of_the_former_kind_is_converted_and_still_invalidates(
        redis_server: str, raw: redis.Redis) -> None:
    cfg = config(redis_server, l1_enabled=False)
    tag_key = cfg.namespace + ":tag:old"
    with SyncCacheManager(cfg) as cache:
        cache.set("a", 1, ttl=60)
        raw.sadd(tag_key, "a")  # written by an older version: a plain SET
        assert cache.invalidate_tags(["old"]) == 1 and cache.get("a") is None
        cache.set("b", 2, ttl=60)
        raw.sadd(tag_key, "b")
        cache.set("c", 3, ttl=60, tags=["old"])  # converts the set, keeps "b"
        assert raw.type(tag_key) == b"zset"
        assert cache.invalidate_tags(["old"]) == 2
        assert cache.get_metrics()["tiers"]["l2"]["errors"] == 0


async def test_async_tier_prunes_the_index_too(redis_server: str, raw: redis.Redis) -> None:
    import asyncio
    cfg = config(redis_server, l1_enabled=False)
    async with SmartCacheManager(cfg) as cache:
        for i in range(500):
            await cache.set(f"k{i}", i, ttl=0.05, tags=["t"])
        await asyncio.sleep(1.2)
        await cache.set_many({"x": 1, "y": 2}, ttl=60)
        await cache.set("z", 3, ttl=60, tags=["t"])
        assert index_sizes(raw, cfg.namespace) == (1, 1)
        assert await cache.invalidate_tags(["t"]) == 1
