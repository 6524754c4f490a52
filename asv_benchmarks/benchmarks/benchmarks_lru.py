"""OptimizedLRU beside lru-dict and cachetools: the operations of `python -m defiperf.bench lru`."""

from __future__ import annotations

from typing import Any

from defiperf.bench import lru as bench_lru

from .common import SEED, Benchmark

CAPACITY = 100_000
# asv name -> the label of the same contender in `python -m defiperf.bench lru`
IMPLS = {"defiperf": "defiperf", "defiperf-ttl": "defiperf ttl", "lru-dict": "lru-dict",
         "cachetools-lru": "cachetools LRU", "cachetools-ttl": "cachetools TTL"}


def _make(impl: str, capacity: int) -> Any:
    makers = bench_lru.available()
    label = IMPLS[impl]
    if label not in makers:
        raise NotImplementedError(f"{impl} is not installed")  # asv skips the combination
    return makers[label](capacity)


class LRUOps(Benchmark):
    params = [list(IMPLS), ["int", "str"]]
    param_names = ["impl", "keys"]

    def setup(self, impl: str, keys: str) -> None:
        self.cache = _make(impl, CAPACITY)
        self.present, self.order, self.fresh = bench_lru.key_sets(keys, CAPACITY, SEED)
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
        _make(impl, 1)  # raises NotImplementedError for a peer that is not installed
        self.keys = list(range(1_000_000, 2_000_000))

    def peakmem_fill_1e6_int(self, impl: str) -> None:
        c = _make(impl, len(self.keys))
        for k in self.keys:
            c[k] = k
