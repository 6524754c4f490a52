"""OptimizedLRU beside lru-dict and cachetools: the operations of `python -m defiperf.bench lru`,
and the hit rates of `python -m defiperf.simulate` on the shared traces beside theine's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from defiperf.bench import lru as bench_lru
from defiperf.simulate import hit_rate, read_trace
from defiperf.simulate.policies import POLICIES

from .common import SEED, Benchmark

CAPACITY = 100_000
# asv name -> the label of the same contender in `python -m defiperf.bench lru`
IMPLS = {"defiperf": "defiperf", "defiperf-ttl": "defiperf ttl",
         "defiperf-tinylfu": "defiperf tinylfu", "lru-dict": "lru-dict",
         "cachetools-lru": "cachetools LRU", "cachetools-ttl": "cachetools TTL"}
# The real traces live beside the repository (../shared/data/traces), or at DEFIPERF_TRACES.
TRACES = Path(os.environ.get("DEFIPERF_TRACES",
                             Path(__file__).resolve().parents[3] / "shared/data/traces"))


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
        # Rounds of keys the cache does not hold, cycled: every call evicts, under W-TinyLFU too
        # (writing back the first keys, which it keeps, only overwrote).
        self.rounds = bench_lru.write_rounds(keys, CAPACITY, SEED, "")
        self.next_round = 0

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
        keys_now = self.rounds[self.next_round % len(self.rounds)]
        self.next_round += 1
        for k in keys_now:
            c[k] = k


class LRUMemory(Benchmark):
    params = [["defiperf", "defiperf-tinylfu", "lru-dict", "cachetools-lru"]]
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        _make(impl, 1)  # raises NotImplementedError for a peer that is not installed
        self.keys = list(range(1_000_000, 2_000_000))

    def peakmem_fill_1e6_int(self, impl: str) -> None:
        c = _make(impl, len(self.keys))
        for k in self.keys:
            c[k] = k


class HitRate(Benchmark):
    """Hit rate per policy on the issue's trace rows (theine: one run; it seeds at random)."""

    params = [["lru", "tinylfu", "theine", "opt"],
              ["gli-500", "gli-1000", "gli-2000", "multi2-500", "multi2-1000", "multi2-2000",
               "loop-256", "loop-512", "loop-768"]]
    param_names = ["policy", "trace_size"]
    unit = "hit rate"

    def setup(self, policy: str, trace_size: str) -> None:
        if policy not in POLICIES:
            raise NotImplementedError(f"{policy} is not installed")
        name, size = trace_size.split("-")
        path = TRACES / f"{name}.trace.gz"
        if not path.is_file():
            raise NotImplementedError(f"{path} is missing; set DEFIPERF_TRACES")
        self.trace, self.size = read_trace(path), int(size)

    def track_hit_rate(self, policy: str, trace_size: str) -> float:
        return hit_rate(policy, self.trace, self.size)
