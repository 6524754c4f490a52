"""Faults of the stores: a damaged, misplaced or read-only disk tier, a file size limit (the
disk tier cannot write), a Redis restart with dead pooled connections, and a burst of cold
callers on a healthy Redis. None of them may raise into the app."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager
from redis_process import RedisProcess


def damage_random(d: Path) -> None:
    (d / "cache.db").write_bytes(os.urandom(8192))


def damage_zero_header(d: Path) -> None:
    data = bytearray((d / "cache.db").read_bytes())
    data[:100] = bytes(100)
    (d / "cache.db").write_bytes(bytes(data))


def damage_directory(d: Path) -> None:
    (d / "cache.db").unlink()
    (d / "cache.db").mkdir()
    (d / "cache.db" / "x").write_text("x")


@pytest.mark.parametrize("damage", [damage_random, damage_zero_header, damage_directory])
def test_a_damaged_disk_tier_is_quarantined_and_recreated(tmp_path: Path, damage: Any) -> None:
    d = tmp_path / "l3"
    with SyncCacheManager(CacheConfig(disk_dir=str(d))) as cache:
        cache.set("k", "v")
    damage(d)
    with SyncCacheManager(CacheConfig(disk_dir=str(d))) as cache:  # never raises
        health = cache.health()
        assert health["status"] == "degraded" and "quarantined" in health["tiers"]["l3"]["reason"]
        cache.set("k2", "v2")
        assert cache.l1 is not None
        cache.l1.clear()
        assert cache.get("k2") == "v2"  # the recreated disk tier works
    assert any(p.name.startswith("cache.db.corrupt-") for p in d.iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_directory_runs_without_l3(tmp_path: Path) -> None:
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with SyncCacheManager(CacheConfig(disk_dir=str(d / "l3"))) as cache:
            cache.set("k", "v")
            assert cache.get("k") == "v"
            assert cache.health()["tiers"]["l3"]["status"] == "degraded"
    finally:
        d.chmod(0o700)


def test_a_read_only_filesystem_runs_without_l3() -> None:
    path = Path("/proc") / f"defiperf-{uuid.uuid4().hex}"  # even root cannot create it
    with SyncCacheManager(CacheConfig(disk_dir=str(path))) as cache:
        cache.set("k", "v")
        assert cache.get("k") == "v"
        l3 = cache.health()["tiers"]["l3"]
        assert l3["status"] == "degraded" and "disabled" in l3["reason"]


def test_a_disk_path_that_is_a_file_runs_without_l3(tmp_path: Path) -> None:
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    with SyncCacheManager(CacheConfig(disk_dir=str(f))) as cache:
        cache.set("k", "v")
        assert cache.get("k") == "v"
        l3 = cache.health()["tiers"]["l3"]
        assert l3["status"] == "degraded" and "disabled" in l3["reason"]


FULL_DISK = """
import json, resource, signal, sys
from defiperf.cache import CacheConfig, SyncCacheManager
cache = SyncCacheManager(CacheConfig(disk_dir=sys.argv[1], compress_threshold_bytes=None)).start()
cache.set("warm", "x")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
for i in range(300):
    cache.set(f"k{i}", "v" * 4000)
ok = all(cache.get(f"k{i}") == "v" * 4000 for i in range(300))
print(json.dumps({"ok": ok, "health": cache.health(), "errors": cache.counters["l3_write_errors"]}))
"""


def test_an_unwritable_disk_degrades_health_instead_of_failing_writes(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", FULL_DISK, str(tmp_path / "l3")],
                         capture_output=True, text=True, timeout=120, check=True,
                         cwd=tmp_path)  # not the source tree: it would shadow the install
    report = json.loads(out.stdout)
    assert report["ok"] and report["errors"] >= 1
    l3 = report["health"]["tiers"]["l3"]
    assert report["health"]["status"] == "degraded" and l3["status"] == "degraded" and l3["reason"]


async def test_a_redis_restart_does_not_open_the_breaker(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "r").start()
    try:
        cfg = CacheConfig(redis_url=server.url, namespace="r" + uuid.uuid4().hex[:6],
                          disk_enabled=False, l1_enabled=False, redis_breaker_reset_s=1.0)
        async with SmartCacheManager(cfg) as cache:
            await asyncio.gather(*(cache.set(f"k{i}", i) for i in range(20)))  # a full pool
            server.kill()
            server.start()  # same port, empty
            raw = redis.Redis.from_url(server.url)
            await asyncio.to_thread(raw.set, "probe", "1")
            raw.close()
            start = time.monotonic()
            await cache.set("after", "v")
            while await cache.get("after") != "v":
                assert time.monotonic() - start < 1.5, "first L2 hit later than reset + 0.5 s"
                await asyncio.sleep(0.02)
            for i in range(20):
                await cache.set(f"k{i}", i)
            assert cache.breaker.state.value == "closed"
            assert cache.health()["status"] == "ok"
    finally:
        server.kill()


def test_a_redis_restart_does_not_open_the_sync_breaker(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "r").start()
    try:
        cfg = CacheConfig(redis_url=server.url, namespace="r" + uuid.uuid4().hex[:6],
                          disk_enabled=False, l1_enabled=False, redis_breaker_reset_s=1.0)
        with SyncCacheManager(cfg) as cache:
            cache.set("k", 1)
            server.kill()
            server.start()
            for i in range(10):
                cache.set(f"k{i}", i)
                assert cache.get(f"k{i}") == i
            assert cache.breaker.state.value == "closed"
    finally:
        server.kill()


async def test_a_burst_of_cold_callers_on_a_healthy_redis(redis_server: str) -> None:
    for _ in range(3):
        cfg = CacheConfig(redis_url=redis_server, namespace="b" + uuid.uuid4().hex[:6],
                          disk_enabled=False)
        async with SmartCacheManager(cfg) as cache:
            results = await asyncio.gather(*(cache.get_or_set(f"k{i}", str.upper)
                                             for i in range(50)))
            assert results == [f"K{i}" for i in range(50)]
            assert cache.get_metrics()["tiers"]["l2"]["errors"] == 0, cache.health()
            assert cache.breaker.state.value == "closed"


async def test_thousands_of_tasks_share_a_bounded_set_of_connections(redis_server: str,
                                                                      tmp_path: Path) -> None:
    cfg = CacheConfig(redis_url=redis_server, namespace="m" + uuid.uuid4().hex[:6],
                      disk_dir=str(tmp_path / "l3"), redis_max_connections=16)
    loads = 0
    peak = 0
    raw = redis.Redis.from_url(redis_server, client_name="probe")

    def others() -> int:
        return sum(1 for c in raw.client_list() if c.get("name") != "probe")

    async def loader(key: str) -> str:
        nonlocal loads, peak
        loads += 1
        peak = max(peak, await asyncio.to_thread(others))
        await asyncio.sleep(0.02)
        return key

    try:
        before = others()
        async with SmartCacheManager(cfg) as cache:
            results = await asyncio.gather(*(cache.get_or_set(f"k{i % 100}", loader)
                                             for i in range(5000)))
            assert results == [f"k{i % 100}" for i in range(5000)] and loads == 100
            assert cache.get_metrics()["tiers"]["l2"]["errors"] == 0, cache.health()
        assert peak - before < 40  # 16 commands at once, not 5,000 (other tests may still close)
    finally:
        raw.close()


def test_limit_l1_shrinks_and_restores_l1_through_a_public_hook() -> None:
    from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager

    cfg = CacheConfig(l1_max_entries=100, disk_enabled=False)

    def check(cache: Any) -> None:
        cache.limit_l1(0.25)
        assert len(cache.l1) <= 25 and cache.l1.lru.max_size == 25
        cache.limit_l1(None)
        assert cache.l1.lru.max_size == 100
        with pytest.raises(ValueError, match="fraction"):
            cache.limit_l1(0)
        with pytest.raises(TypeError, match="fraction"):
            cache.limit_l1("half")

    with SyncCacheManager(cfg) as sync_cache:
        for i in range(100):
            sync_cache.set(f"k{i}", i)
        check(sync_cache)

    async def with_async() -> None:
        async with SmartCacheManager(cfg) as async_cache:
            for i in range(100):
                await async_cache.set(f"k{i}", i)
            check(async_cache)

    asyncio.run(with_async())
