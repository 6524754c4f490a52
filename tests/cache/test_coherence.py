"""Coherence between processes over a real Redis (two managers stand for two processes, each
with its own L1): clear() reaches the other and only its own namespace (glob characters
escaped), tags across tiers and processes, a killed pub/sub connection and FLUSHDB drop L1,
and close() stays bounded when Redis stops answering."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aioredis

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager
from redis_process import RedisProcess


def manager(url: str, namespace: str | None = None, **kw: Any) -> SmartCacheManager:
    kw.setdefault("disk_enabled", False)
    return SmartCacheManager(CacheConfig(redis_url=url, namespace=namespace or
                                         "c" + uuid.uuid4().hex[:8], **kw))


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> float:
    """Seconds until check() held (fails after ``seconds``)."""
    start = time.monotonic()
    while not await check():
        assert time.monotonic() - start < seconds, "condition never became true"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


async def test_clear_reaches_other_processes(redis_server: str) -> None:
    a = manager(redis_server)
    b = manager(redis_server, a.config.namespace)
    async with a, b:
        await a.set_many({f"k{i}": i for i in range(5)})
        assert await b.get_many([f"k{i}" for i in range(5)]) == {f"k{i}": i for i in range(5)}
        await a.clear()

        async def b_sees_nothing() -> bool:
            return await b.get_many([f"k{i}" for i in range(5)]) == {}
        await eventually(b_sees_nothing, 3.0)


async def test_clear_touches_only_its_own_namespace_even_with_glob_characters(redis_server: str) -> None:
    star = manager(redis_server, "prod*", l1_enabled=False)
    other = manager(redis_server, "prodx", l1_enabled=False)
    bracket = manager(redis_server, "p[r]od", l1_enabled=False)
    async with star, other, bracket:
        for m in (star, other, bracket):
            await m.set("k", m.config.namespace, tags=["t"])
        await star.clear()
        await bracket.clear()
        assert await star.get("k") is None and await bracket.get("k") is None
        assert await other.get("k") == "prodx"
    raw = redis.Redis.from_url(redis_server)
    assert raw.exists("prodx:cache:k", "prodx:tag:t") == 2
    raw.close()


async def test_tags_invalidate_every_tier_and_process(redis_server: str, tmp_path: Path) -> None:
    ns = "t" + uuid.uuid4().hex[:6]
    a = manager(redis_server, ns, disk_enabled=True, disk_dir=str(tmp_path / "a"))
    b = manager(redis_server, ns, disk_enabled=True, disk_dir=str(tmp_path / "b"))
    async with a, b:
        await a.set("pos:1", 1, tags=["user:alice"])
        await a.set("pos:2", 2, tags=["user:alice", "eth"])
        await a.set("pos:3", 3, tags=["user:bob"])
        assert await b.get_many(["pos:1", "pos:2", "pos:3"]) == {"pos:1": 1, "pos:2": 2, "pos:3": 3}
        assert await a.invalidate_tags(["user:alice"]) >= 2
        assert await a.get("pos:1") is None and await a.get("pos:2") is None

        async def b_dropped() -> bool:
            return await b.get_many(["pos:1", "pos:2", "pos:3"]) == {"pos:3": 3}
        await eventually(b_dropped, 3.0)


async def test_a_killed_pubsub_connection_leaves_nothing_stale(redis_server: str) -> None:
    a = manager(redis_server)
    b = manager(redis_server, a.config.namespace)
    async with a, b:
        keys = [f"k{i}" for i in range(50)]
        await a.set_many(dict.fromkeys(keys, "old"), ttl=600)
        assert await b.get_many(keys) == dict.fromkeys(keys, "old")  # all in b's L1
        raw = aioredis.from_url(redis_server)
        await raw.client_kill_filter(_type="pubsub")
        await a.set_many(dict.fromkeys(keys, "new"), ttl=600)  # written in the gap
        await raw.aclose()

        async def b_sees_new() -> bool:
            return await b.get_many(keys) == dict.fromkeys(keys, "new")
        assert await eventually(b_sees_new, 5.0) < 3.0
        assert b.counters["l1_resets"] >= 1


async def test_flushdb_drops_every_processes_l1(redis_server: str) -> None:
    a = manager(redis_server, coherence_check_s=0.2)
    b = manager(redis_server, a.config.namespace, coherence_check_s=0.2)
    async with a, b:
        await a.set("k", "v", ttl=600)
        assert await b.get("k") == "v"
        raw = aioredis.from_url(redis_server)
        await raw.flushdb()
        await raw.aclose()

        async def gone() -> bool:
            return await a.get("k") is None and await b.get("k") is None
        assert await eventually(gone, 5.0) < 2.0


def test_sync_manager_follows_invalidations_too(redis_server: str) -> None:
    ns = "s" + uuid.uuid4().hex[:6]
    cfg = CacheConfig(redis_url=redis_server, namespace=ns, disk_enabled=False,
                      coherence_check_s=0.2)
    with SyncCacheManager(cfg) as a, SyncCacheManager(cfg) as b:
        a.set("k", 1)
        assert b.get("k") == 1
        a.set("k", 2)
        deadline = time.monotonic() + 5
        while b.get("k") != 2:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        raw = redis.Redis.from_url(redis_server)
        raw.flushdb()
        raw.close()
        while b.get("k") is not None:
            assert time.monotonic() < deadline + 5
            time.sleep(0.02)


async def test_close_is_bounded_when_redis_stops_answering(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "r").start()
    assert server.proc is not None
    try:
        for _ in range(3):
            cache = manager(server.url, close_timeout_s=1.0)
            await cache.start()
            await cache.set("k", "v")
            os.kill(server.proc.pid, signal.SIGSTOP)
            try:
                start = time.monotonic()
                await cache.close()
                assert time.monotonic() - start < 2.0
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
        sync = SyncCacheManager(CacheConfig(redis_url=server.url, disk_enabled=False))
        await asyncio.to_thread(sync.set, "k", "v")
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            await asyncio.to_thread(sync.close)
            assert time.monotonic() - start < 2.0
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
    finally:
        server.kill()


async def test_open_set_close_cycles_never_hang(redis_server: str) -> None:
    ns = "y" + uuid.uuid4().hex[:6]
    start = time.monotonic()
    for i in range(40):
        cache = manager(redis_server, ns)
        await cache.set(f"k{i}", i)
        await asyncio.wait_for(cache.close(), 3.0)
    assert time.monotonic() - start < 60


def test_sync_manager_on_a_redis_cluster(tmp_path: Path) -> None:
    from redis_process import start_cluster

    nodes = start_cluster(tmp_path)
    try:
        url = nodes[0].url.rsplit("/", 1)[0]
        cfg = CacheConfig(redis_url=url, redis_cluster=True, disk_enabled=False,
                          namespace="k" + uuid.uuid4().hex[:6])
        with SyncCacheManager(cfg) as a, SyncCacheManager(cfg) as b:
            a.set_many({f"k{i}": i for i in range(30)})  # keys on every node
            deadline = time.monotonic() + 10  # a new cluster on a busy host may time out once
            while b.get_many([f"k{i}" for i in range(30)]) != {f"k{i}": i for i in range(30)}:
                assert time.monotonic() < deadline
                a.set_many({f"k{i}": i for i in range(30)})
                time.sleep(0.05)
            a.set("k3", "new")
            while b.get("k3") != "new":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            a.clear()
            assert b.l1 is not None
            b.l1.clear()
            assert b.get_many([f"k{i}" for i in range(30)]) == {}
    finally:
        for node in nodes:
            node.kill()


def test_a_manager_left_open_does_not_hang_asyncio_run(redis_server: str, tmp_path: Path) -> None:
    """asyncio.run cancels what is left: the listener must end (it once swallowed the
    cancellation through asyncio.wait_for and kept the program from exiting)."""
    cache = manager(redis_server, disk_enabled=True, disk_dir=str(tmp_path / "l3"))

    async def use(value: int) -> Any:
        await cache.set("k", value)
        return await cache.get("k")

    start = time.monotonic()
    assert asyncio.run(use(1)) == 1  # not closed: asyncio.run cancels its tasks
    assert asyncio.run(use(2)) == 2  # the manager moves to the new loop
    asyncio.run(cache.close())
    assert time.monotonic() - start < 10
