"""SmartCacheManager and SyncCacheManager: L1 hit latency, the @cached hit of a plain function
(beside cachetools.cached with an RLock, when installed) and the Zipf hit rate with and
without warming (the L2 and other peer rows need a redis-server and live in
`python -m defiperf.bench cache`)."""

from __future__ import annotations

import asyncio

from defiperf.bench import cache as bench_cache
from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager

from .common import Benchmark


class CacheL1(Benchmark):
    def setup(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.cache = SmartCacheManager(CacheConfig(disk_enabled=False))
        self.loop.run_until_complete(self.cache.set("token:ETH", bench_cache.VALUE))

    def teardown(self) -> None:
        self.loop.run_until_complete(self.cache.close())
        self.loop.close()

    def time_l1_hit_1000(self) -> None:
        async def hits() -> None:
            for _ in range(1000):
                await self.cache.get("token:ETH")
        self.loop.run_until_complete(hits())


class CachedPlainFunction(Benchmark):
    params = [["defiperf", "cachetools"]]
    param_names = ["cache"]

    def setup(self, which: str) -> None:
        def price(pair: str, venue: str = "uni") -> dict[str, object]:
            return bench_cache.VALUE

        self.manager = None
        if which == "defiperf":
            self.manager = SyncCacheManager(CacheConfig(disk_enabled=False))
            self.fn = self.manager.cached(ttl=300)(price)
        else:
            try:
                import cachetools  # type: ignore[import-untyped, import-not-found, unused-ignore]
            except ImportError:
                raise NotImplementedError("cachetools is not installed") from None
            import threading

            self.fn = cachetools.cached(cachetools.LRUCache(1000), lock=threading.RLock())(price)
        self.fn("ETH/USDC")

    def teardown(self, which: str) -> None:
        if self.manager is not None:
            self.manager.close()

    def time_hit_1000(self, which: str) -> None:
        fn = self.fn
        for _ in range(1000):
            fn("ETH/USDC")


class CacheHitRate(Benchmark):
    params = [[False, True]]
    param_names = ["warming"]

    def setup(self, warming: bool) -> None:
        self.warming = warming

    def track_zipf_hit_rate(self, warming: bool) -> float:
        return asyncio.run(bench_cache.zipf_hit_rate(warming, n_requests=20_000))

    track_zipf_hit_rate.unit = "ratio"  # type: ignore[attr-defined]
