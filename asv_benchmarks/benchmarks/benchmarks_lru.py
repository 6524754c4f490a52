"""OptimizedLRU beside lru-dict and cachetools: the operations of `python -m defiperf.bench lru`."""

from __future__ import annotations

import importlib.util
from typing import Any

from .common import Benchmark, int_and_str_keys

CAPACITY = 100_000
KEYS = int_and_str_keys(CAPACITY)


def _make(impl: str, capacity: int) -> Any:
    if impl == "defiperf":
        from defiperf import OptimizedLRU

        return OptimizedLRU(capacity)
    if impl == "defiperf-ttl":
        from defiperf import OptimizedLRU

        return OptimizedLRU(capacity, ttl=3600.0)
    if impl == "lru-dict":
        import lru

        return lru.LRU(capacity)
    if impl == "cachetools-lru":
        import cachetools

        return cachetools.LRUCache(capacity)
    import cachetools

    return cachetools.TTLCache(capacity, 3600.0)


IMPLS = ["defiperf", "defiperf-ttl", "lru-dict", "cachetools-lru", "cachetools-ttl"]


class LRUOps(Benchmark):
    params = [IMPLS, ["int", "str"]]
    param_names = ["impl", "keys"]

    def setup(self, impl: str, keys: str) -> None:
        needs = {"lru-dict": "lru", "cachetools-lru": "cachetools", "cachetools-ttl": "cachetools"}
        if impl in needs and importlib.util.find_spec(needs[impl]) is None:
            raise NotImplementedError(f"{impl} is not installed")  # asv skips the combination
        self.present, self.order, self.fresh = KEYS[keys]
        self.cache = _make(impl, CAPACITY)
        for k in self.present:
            self.cache[k] = k

    def time_get_hit(self, impl: str, keys: str) -> None:
        c = self.cache
        for k in self.order:
            c[k]

    def time_get_miss(self, impl: str, keys: str) -> None:
        get = self.cache.get
        for k in self.fresh:
            get(k)

    def time_overwrite(self, impl: str, keys: str) -> None:
        c = self.cache
        for k in self.order:
            c[k] = k

    def time_set_with_eviction(self, impl: str, keys: str) -> None:
        c = self.cache
        for k in self.fresh:
            c[k] = k
        for k in self.present:
            c[k] = k


class LRUMemory(Benchmark):
    params = [["defiperf", "lru-dict", "cachetools-lru"]]
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        if impl != "defiperf" and importlib.util.find_spec(
                "lru" if impl == "lru-dict" else "cachetools") is None:
            raise NotImplementedError(f"{impl} is not installed")
        self.keys = list(range(1_000_000, 2_000_000))

    def peakmem_fill_1e6_int(self, impl: str) -> None:
        c = _make(impl, len(self.keys))
        for k in self.keys:
            c[k] = k
