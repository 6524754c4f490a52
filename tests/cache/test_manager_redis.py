"""SmartCacheManager with a real Redis as L2: promotion, invalidation between two managers,
killing and restarting redis-server mid-run, slow Redis, untrusted payloads, namespaces,
AUTH and TLS URLs, and a local 3-node Redis Cluster."""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from defiperf.cache import CacheConfig, SmartCacheManager
from defiperf.cache.envelope import pack
from redis_process import RedisProcess, free_port, start_cluster


def manager(url: str, tmp_path: Path | None = None, **kw: Any) -> SmartCacheManager:
    kw.setdefault("namespace", "t" + uuid.uuid4().hex[:8])
    kw.setdefault("disk_enabled", tmp_path is not None)
    if tmp_path is not None:
        kw.setdefault("disk_dir", str(tmp_path / f"l3-{uuid.uuid4().hex[:6]}"))
    return SmartCacheManager(CacheConfig(redis_url=url, **kw))


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.02)


async def test_l2_hit_is_promoted_to_l1_with_its_remaining_ttl(redis_server: str) -> None:
    a = manager(redis_server)
    b = manager(redis_server, namespace=a.config.namespace)
    async with a, b:
        await a.set("token:ETH", {"price": "3412.55"}, ttl=30)
        assert await b.get("token:ETH") == {"price": "3412.55"}
        m = b.get_metrics()["tiers"]
        assert m["l1"]["misses"] == 1 and m["l2"]["hits"] == 1
        assert b.l1 is not None
        entry = b.l1.lru.peek("token:ETH")
        assert entry is not None and entry.expires_at <= time.time() + 30
        assert await b.get("token:ETH") == {"price": "3412.55"}
        assert b.get_metrics()["tiers"]["l1"]["hits"] == 1
        raw = aioredis.from_url(redis_server)
        ttl_ms = await raw.pttl(f"{a.config.namespace}:cache:token:ETH")
        await raw.aclose()
        assert 0 < ttl_ms <= 30_000  # SET ... PX


async def test_get_many_uses_one_mget_and_set_many_one_pipeline(redis_server: str) -> None:
    a = manager(redis_server)
    b = manager(redis_server, namespace=a.config.namespace)
    async with a, b:
        await a.set_many({f"k{i}": i for i in range(20)}, ttl=60)
        assert await b.get_many([f"k{i}" for i in range(25)]) == {f"k{i}": i for i in range(20)}
        assert b.l1 is not None and len(b.l1.lru) == 20  # promoted


async def test_set_and_delete_invalidate_other_processes_l1(redis_server: str) -> None:
    a = manager(redis_server)
    b = manager(redis_server, namespace=a.config.namespace)
    async with a, b:
        await asyncio.sleep(0.1)  # both listeners subscribed
        await a.set("pos:alice", 1)
        assert await b.get("pos:alice") == 1          # now in b's L1
        await a.set("pos:alice", 2)

        async def b_sees_2() -> bool:
            return await b.get("pos:alice") == 2
        await eventually(b_sees_2)
        await a.delete("pos:alice")

        async def b_sees_nothing() -> bool:
            return await b.get("pos:alice") is None
        await eventually(b_sees_nothing)
        assert b.counters["invalidations_received"] >= 2
        assert a.counters["invalidations_received"] == 0  # its own messages are ignored


async def test_redis_killed_and_restarted_mid_run(redis_process: RedisProcess, tmp_path: Path) -> None:
    cache = manager(redis_process.url, tmp_path, redis_timeout_s=0.2, redis_breaker_reset_s=0.3)
    async with cache:
        await cache.set("before", "v0")
        assert cache.health()["status"] == "ok"
        redis_process.kill()
        for i in range(20):                      # never an error; writes land in L1 and L3
            await cache.set(f"during{i}", i)
            assert await cache.get(f"during{i}") == i
            assert await cache.get("before") == "v0"
            assert await cache.get(f"absent{i}") is None
        health = cache.health()
        assert health["status"] == "degraded" and health["tiers"]["l2"]["breaker"] != "closed"
        assert cache.get_metrics()["tiers"]["l2"]["errors"] >= 1
        assert cache.l1 is not None and cache.l3 is not None
        cache.l1.lru.clear()
        assert await cache.get("during7") == 7    # from L3
        redis_process.start()                    # same port

        async def recovered() -> bool:
            await cache.set("after", "v1")
            return cache.health()["status"] == "ok"
        await eventually(recovered)
        await cache.set("after", "v1")  # the loop's last write may have preceded the probe
        raw = aioredis.from_url(redis_process.url)
        assert await raw.exists(f"{cache.config.namespace}:cache:after") == 1
        await raw.aclose()


async def _until_redis_stalls(url: str, within_s: float = 10.0) -> None:
    """Return once the server stops answering PING within 50 ms (DEBUG SLEEP has begun)."""
    probe = aioredis.from_url(url, socket_timeout=0.05)
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            try:
                await probe.ping()
            except (TimeoutError, aioredis.TimeoutError):
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"redis kept answering for {within_s} s after DEBUG SLEEP")
    finally:
        await probe.aclose(close_connection_pool=True)


async def test_slow_redis_times_out_into_a_miss(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "r", extra=["--enable-debug-command", "yes"]).start()
    try:
        cache = manager(server.url, redis_timeout_s=0.1, l1_enabled=False)
        async with cache:
            await cache.set("k", "v")
            blocker = subprocess.Popen(["redis-cli", "-p", str(server.port), "DEBUG", "SLEEP", "2"],
                                       stdout=subprocess.DEVNULL)
            try:
                await _until_redis_stalls(server.url)  # not a fixed sleep: redis-cli may be slow
                start = time.monotonic()
                assert await cache.get("k") is None     # a timeout is a miss, not an error
                assert time.monotonic() - start < 0.9
            finally:
                blocker.wait(timeout=10)
            assert cache.get_metrics()["tiers"]["l2"]["errors"] >= 1
    finally:
        server.kill()


async def test_pickles_and_garbage_in_redis_are_misses(redis_server: str) -> None:
    import pickle

    cache = manager(redis_server)
    async with cache:
        raw = aioredis.from_url(redis_server)
        ns = cache.config.namespace
        evil = pack(time.time() + 60, time.time() + 60, b"P" + pickle.dumps({"x": 1}))
        await raw.set(f"{ns}:cache:evil", evil)
        await raw.set(f"{ns}:cache:junk", b"\x01\x02")
        assert await cache.get("evil") is None and await cache.get("junk") is None
        assert cache.get_metrics()["corrupt_entries"] == 2

        async def removed() -> bool:
            return await raw.exists(f"{ns}:cache:evil", f"{ns}:cache:junk") == 0
        await eventually(removed)
        await raw.aclose()


async def test_namespaces_do_not_see_each_other(redis_server: str) -> None:
    a, b = manager(redis_server, l1_enabled=False), manager(redis_server, l1_enabled=False)
    async with a, b:
        await a.set("k", "a")
        await b.set("k", "b")
        assert await a.get("k") == "a" and await b.get("k") == "b"
        await a.clear()
        assert await a.get("k") is None and await b.get("k") == "b"


async def test_auth_in_the_url(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path / "r", extra=["--requirepass", "s3cret"]).start()
    try:
        good = manager(f"redis://:s3cret@127.0.0.1:{server.port}/0", l1_enabled=False)
        bad = manager(f"redis://:wrong@127.0.0.1:{server.port}/0", l1_enabled=False)
        async with good, bad:
            await good.set("k", "v")
            assert await good.get("k") == "v"
            await bad.set("k2", "v")              # refused by the server: counted, not raised
            assert await bad.get("k") is None
            assert bad.get_metrics()["tiers"]["l2"]["errors"] >= 1
    finally:
        server.kill()


async def test_tls_url(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    tls_port = free_port()
    server = RedisProcess(tmp_path / "r", extra=[
        "--port", "0", "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
        "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
        "--requirepass", "pw"]).start(wait_port=tls_port)
    try:
        url = f"rediss://:pw@127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"
        cache = manager(url, l1_enabled=False)
        async with cache:
            await cache.set("k", {"tls": True})
            assert await cache.get("k") == {"tls": True}
            assert cache.get_metrics()["tiers"]["l2"]["errors"] == 0
    finally:
        server.kill()


async def test_redis_cluster(tmp_path: Path) -> None:
    nodes = start_cluster(tmp_path)
    try:
        url = nodes[0].url.rsplit("/", 1)[0]
        a = manager(url, redis_cluster=True)
        b = manager(url, redis_cluster=True, namespace=a.config.namespace)
        async with a, b:
            await asyncio.sleep(0.2)
            await a.set_many({f"k{i}": i for i in range(50)}, ttl=60)  # keys on every node
            assert await b.get_many([f"k{i}" for i in range(50)]) == {f"k{i}": i for i in range(50)}
            await a.set("k3", "new")

            async def b_sees_new() -> bool:
                return await b.get("k3") == "new"
            await eventually(b_sees_new)
            assert await a.delete("k4") is True
            await a.clear()
            assert b.l1 is not None
            b.l1.lru.clear()
            assert await b.get_many([f"k{i}" for i in range(50)]) == {}
    finally:
        for node in nodes:
            node.kill()
