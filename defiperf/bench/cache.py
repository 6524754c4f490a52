"""SmartCacheManager beside aiocache and cashews (configured the same way), and beside a raw
redis-py GET for the L2 round trip; ``@cached`` hits of a plain function (SyncCacheManager)
beside ``cachetools.cached(LRUCache, lock=RLock())`` and ``functools.lru_cache``, and of an
async function beside aiocache's ``@cached`` and cashews' ``@cache``; plus the hit rate of a
Zipf workload with TTLs, without and with warming (initial warm_cache + refresh-ahead of the
keys being read).

L2 rows need a redis-server binary (one is started on a free loopback port); without it they
are left out and said so. L3 is in a temporary directory.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from defiperf.bench import _peers
from defiperf.bench._table import Row
from defiperf.bench._timing import best_ns_per_op
from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager

VALUE = {"pair": "ETH/USDC", "price": "3412.55", "volume": 1234.5}


def _has(module: str) -> bool:
    return _peers.installed(module)


async def _per_op_ns(op: Callable[[int], Awaitable[Any]], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for i in range(n):
            await op(i)
        best = min(best, (time.perf_counter_ns() - start) / n)
    return best


async def _paired_ns(ours: Callable[[int], Awaitable[Any]], theirs: Callable[[int], Awaitable[Any]],
                     n: int, rounds: int) -> tuple[float, float]:
    """Best ns/op of each, their rounds interleaved (a busy host's slow spells hit both)."""
    best_ours = best_theirs = float("inf")
    for _ in range(rounds):
        best_theirs = min(best_theirs, await _per_op_ns(theirs, n, 1))
        best_ours = min(best_ours, await _per_op_ns(ours, n, 1))
    return best_ours, best_theirs


class _Redis:
    """A throwaway redis-server for the L2 rows."""

    def __enter__(self) -> str | None:
        exe = shutil.which("redis-server")
        if exe is None:
            self.proc = None
            _peers.skip("Redis (the L2 hit row)",
                        "redis-server not found; apt-get install redis-server")
            return None
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.dir = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                      "--dir", self.dir.name], stdout=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                return f"redis://127.0.0.1:{port}/0"
            except OSError:
                time.sleep(0.025)
        _peers.skip("Redis (the L2 hit row)", "redis-server did not start")
        return None

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.dir.cleanup()


async def _l1_rows(n: int, rounds: int) -> Row:
    peers: dict[str, float] = {}
    async with SmartCacheManager(CacheConfig(disk_enabled=False)) as cache:
        await cache.set("token:ETH", VALUE)
        ours = await _per_op_ns(lambda i: cache.get("token:ETH"), n, rounds)
    if _has("aiocache"):
        from aiocache import SimpleMemoryCache  # type: ignore[import-untyped, import-not-found, unused-ignore]

        ac = SimpleMemoryCache()
        await ac.set("token:ETH", VALUE, ttl=300)
        peers["aiocache memory"] = await _per_op_ns(lambda i: ac.get("token:ETH"), n, rounds)
    if _has("cashews"):
        from cashews import Cache  # type: ignore[import-untyped, import-not-found, unused-ignore]

        cc = Cache()
        cc.setup("mem://")
        await cc.set("token:ETH", VALUE, expire=300)
        peers["cashews mem://"] = await _per_op_ns(lambda i: cc.get("token:ETH"), n, rounds)
    return Row("cache", "L1 hit, await get", "ns/op", ours, peers)


def sync_cached_row(n: int, rounds: int) -> Row:
    """A plain function's @cached L1 hit (two arguments, one by default)."""
    import functools
    import threading

    def price(pair: str, venue: str = "uni") -> dict[str, Any]:
        return VALUE

    cache = SyncCacheManager(CacheConfig(disk_enabled=False))
    ours = cache.cached(ttl=300)(price)
    contenders: dict[str, Any] = {"defiperf": ours, "functools.lru_cache":
                                  functools.lru_cache(maxsize=1000)(price)}
    if _has("cachetools"):
        import cachetools  # type: ignore[import-untyped, import-not-found, unused-ignore]

        contenders["cachetools.cached"] = cachetools.cached(
            cachetools.LRUCache(1000), lock=threading.RLock())(price)
    smart = SmartCacheManager(CacheConfig(disk_enabled=False))
    contenders["SmartCacheManager (plain fn)"] = smart.cached(ttl=300)(price)

    def loop(fn: Any) -> Any:
        def run() -> int:
            for _ in range(n):
                fn("ETH/USDC")
            return n
        return run
    for fn in contenders.values():
        fn("ETH/USDC")
    best = best_ns_per_op({name: loop(fn) for name, fn in contenders.items()}, rounds)
    cache.close()
    asyncio.run(smart.close())
    ours_ns = best.pop("defiperf")
    return Row("cache", "@cached hit, plain function", "ns/op", ours_ns, best,
               note="ours: SyncCacheManager L1; target <= 2x cachetools.cached(LRUCache, "
                    "lock=RLock())")


async def _async_cached_row(n: int, rounds: int) -> Row:
    async def price(pair: str, venue: str = "uni") -> dict[str, Any]:
        return VALUE

    peers: dict[str, float] = {}
    async with SmartCacheManager(CacheConfig(disk_enabled=False)) as cache:
        ours_fn = cache.cached(ttl=300)(price)
        await ours_fn("ETH/USDC")
        ours = await _per_op_ns(lambda i: ours_fn("ETH/USDC"), n, rounds)
    if _has("aiocache"):
        from aiocache import cached as ac_cached  # type: ignore[import-untyped, import-not-found, unused-ignore]

        ac_fn = ac_cached(ttl=300)(price)
        await ac_fn("ETH/USDC")
        peers["aiocache @cached"] = await _per_op_ns(lambda i: ac_fn("ETH/USDC"), n, rounds)
    if _has("cashews"):
        from cashews import Cache  # type: ignore[import-untyped, import-not-found, unused-ignore]

        cc = Cache()
        cc.setup("mem://")
        cw_fn = cc(ttl="5m")(price)
        await cw_fn("ETH/USDC")
        peers["cashews @cache"] = await _per_op_ns(lambda i: cw_fn("ETH/USDC"), n, rounds)
    return Row("cache", "@cached hit, async function", "ns/op", ours, peers)


async def _l2_row(url: str, n: int, rounds: int) -> Row:
    import redis.asyncio as aioredis

    peers: dict[str, float] = {}
    raw = aioredis.from_url(url)
    await raw.set("raw:token:ETH", b"x" * 80)
    cfg = CacheConfig(redis_url=url, l1_enabled=False, disk_enabled=False, invalidation=False)
    async with SmartCacheManager(cfg) as cache:
        await cache.set("token:ETH", VALUE)
        ours, peers["redis-py GET"] = await _paired_ns(
            lambda i: cache.get("token:ETH"), lambda i: raw.get("raw:token:ETH"), n, 3 * rounds)
    await raw.aclose()
    if _has("aiocache"):
        from aiocache import RedisCache  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from aiocache.serializers import JsonSerializer  # type: ignore[import-untyped, import-not-found, unused-ignore]

        port = int(url.rsplit(":", 1)[1].split("/")[0])
        ac = RedisCache(endpoint="127.0.0.1", port=port, serializer=JsonSerializer())
        await ac.set("ac:token:ETH", VALUE)
        peers["aiocache redis"] = await _per_op_ns(lambda i: ac.get("ac:token:ETH"), n, rounds)
        await ac.close()
    if _has("cashews"):
        from cashews import Cache  # type: ignore[import-untyped, import-not-found, unused-ignore]

        cc = Cache()
        cc.setup(url, client_side=False)
        await cc.set("cw:token:ETH", VALUE)
        peers["cashews redis://"] = await _per_op_ns(lambda i: cc.get("cw:token:ETH"), n, rounds)
        await cc.close()
    return Row("cache", "L2 hit (Redis), await get", "ns/op", ours, peers,
               note="ours: L1 off; (x) vs redis-py GET is the 1.3x target")


async def _l3_and_miss_rows(n: int, rounds: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as d:
        cfg = CacheConfig(l1_enabled=False, disk_dir=d)
        async with SmartCacheManager(cfg) as cache:
            await cache.set("token:ETH", VALUE)
            l3 = await _per_op_ns(lambda i: cache.get("token:ETH"), n // 10, rounds)
    peers: dict[str, float] = {}
    if _has("cashews"):
        from cashews import Cache  # type: ignore[import-untyped, import-not-found, unused-ignore]

        with tempfile.TemporaryDirectory() as d:
            cc = Cache()
            cc.setup(f"disk://?directory={d}")
            await cc.set("token:ETH", VALUE)
            peers["cashews disk://"] = await _per_op_ns(lambda i: cc.get("token:ETH"), n // 10, rounds)
            await cc.close()
    rows = [Row("cache", "L3 hit (disk), await get", "ns/op", l3, peers)]

    async def load(key: str) -> dict[str, Any]:
        return VALUE

    async with SmartCacheManager(CacheConfig(disk_enabled=False)) as cache:
        base = [0]

        async def miss(i: int) -> Any:
            base[0] += 1
            return await cache.get_or_set(f"k{base[0]}", load)
        ours = await _per_op_ns(miss, n, rounds)
    miss_peers: dict[str, float] = {}
    if _has("cashews"):
        from cashews import Cache  # type: ignore[import-untyped, import-not-found, unused-ignore]

        cc = Cache()
        cc.setup("mem://")
        counter = [0]

        async def value(i: int) -> dict[str, Any]:
            return VALUE

        loaded: Callable[[int], Awaitable[Any]] = cc(ttl="5m")(value)  # cashews' @cache

        async def cw_miss(i: int) -> Any:
            counter[0] += 1
            return await loaded(counter[0])
        miss_peers["cashews @cache"] = await _per_op_ns(cw_miss, n, rounds)
    rows.append(Row("cache", "miss with loader (L1 only)", "ns/op", ours, miss_peers))
    return rows


def zipf_keys(n_keys: int, n_requests: int, s: float = 1.0, seed: int = 7) -> np.ndarray:
    ranks = np.arange(1, n_keys + 1)
    p = ranks ** -s
    return np.random.default_rng(seed).choice(n_keys, size=n_requests, p=p / p.sum())


async def zipf_hit_rate(warming: bool, n_keys: int = 2000, n_requests: int = 100_000,
                        seconds: float = 120.0, ttl_s: float = 10.0, hot_keys: int = 2000) -> float:
    """Requests spread over ``seconds`` of simulated time (a fake clock); a hit is a fresh
    value found by ``get``; a miss loads through get_or_set. With warming: every key is warmed
    first, and a key read within 2 s of its expiry is reloaded in the background
    (refresh-ahead; ``hot_keys`` bounds how many keys' loaders are remembered for it)."""
    now = [1_000_000.0]

    async def load(key: str) -> str:
        return key

    cfg = CacheConfig(disk_enabled=False, default_ttl_s=ttl_s, refresh_ahead_s=2.0,
                      refresh_ahead_fraction=0.2 if warming else 0.0, refresh_hot_keys=hot_keys)
    keys = zipf_keys(n_keys, n_requests)
    hits = 0
    async with SmartCacheManager(cfg, loader=load, clock=lambda: now[0]) as cache:
        if warming:
            await cache.warm_cache([f"k{i}" for i in range(n_keys)], 5)
        step = seconds / n_requests
        next_yield = now[0] + 0.1
        for k in keys:
            key = f"k{k}"
            if await cache.get(key) is not None:
                hits += 1
            else:
                await cache.get_or_set(key, load)
            now[0] += step
            if now[0] >= next_yield:  # let background refreshes run
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                next_yield += 0.1
    return hits / n_requests


def run(quick: bool = False, n_ops: int = 20_000) -> list[Row]:
    n = n_ops // 10 if quick else n_ops
    rounds = 2 if quick else 5

    sync_row = sync_cached_row(n * 5, rounds)  # blocking callers: outside any event loop

    async def all_rows() -> list[Row]:
        rows = [await _l1_rows(n * 5, rounds), sync_row, await _async_cached_row(n * 5, rounds)]
        with _Redis() as url:
            if url is not None:
                rows.append(await _l2_row(url, n // 4, rounds))
        rows += await _l3_and_miss_rows(n, rounds)
        requests = 20_000 if quick else 100_000
        without = await zipf_hit_rate(False, n_requests=requests)
        half = await zipf_hit_rate(True, n_requests=requests, hot_keys=1000)
        with_warming = await zipf_hit_rate(True, n_requests=requests)
        rows.append(Row("cache", "Zipf hit rate, TTL 10 s", "rate", with_warming,
                        {"no warming": without, "refresh top 1000 only": half},
                        lower_is_better=False,
                        note="2,000 keys, s=1.0, 120 simulated s; ours: warm_cache of all keys, "
                             "refresh-ahead of keys read in their last 2 s (loaders of 2,000 "
                             "keys remembered)"))
        return rows

    return asyncio.run(all_rows())
