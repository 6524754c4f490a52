"""BloomFilter beside rbloom and pybloomfiltermmap3: the operations of `python -m defiperf.bench bloom`."""

from __future__ import annotations

from typing import Any

import numpy as np

from defiperf.bench import bloom as bench_bloom

from .common import SEED, Benchmark

N_KEYS = 100_000


def _make(impl: str, capacity: int, rate: float) -> Any:
    makers = bench_bloom.available()
    if impl not in makers:
        raise NotImplementedError(f"{impl} is not installed")  # asv skips the combination
    return makers[impl](capacity, rate)


class BloomOps(Benchmark):
    params = [["defiperf", "rbloom", "pybloomfiltermmap3"], [10_000, 1_000_000], [0.01, 0.001]]
    param_names = ["impl", "expected_items", "false_positive_rate"]

    def setup(self, impl: str, n: int, p: float) -> None:
        self.filter = _make(impl, n, p)
        rng = np.random.default_rng(SEED)
        raw = rng.integers(0, 2**63, min(n, N_KEYS), dtype=np.int64)
        self.str_keys = [f"{x:064x}" for x in raw]
        self.int_keys = [int(x) for x in raw]
        for k in self.str_keys:
            self.filter.add(k)
        self.fill = np.arange(n, dtype=np.uint64)
        self.fresh = np.arange(n, 2 * n, dtype=np.uint64)

    def time_add_str64(self, impl: str, n: int, p: float) -> None:
        add = self.filter.add
        for k in self.str_keys:
            add(k)

    def time_contains_str64(self, impl: str, n: int, p: float) -> None:
        f = self.filter
        for k in self.str_keys:
            k in f  # noqa: B015

    def time_contains_int(self, impl: str, n: int, p: float) -> None:
        f = self.filter
        for k in self.int_keys:
            k in f  # noqa: B015

    def track_false_positive_rate(self, impl: str, n: int, p: float) -> float:
        f = _make(impl, n, p)
        if impl == "defiperf":
            f.add_many(self.fill)
            return float(f.contains_many(self.fresh).mean())
        f.update(self.fill.tolist())
        return sum(k in f for k in self.fresh.tolist()) / n

    track_false_positive_rate.unit = "ratio"  # type: ignore[attr-defined]

    def track_bits_over_optimum(self, impl: str, n: int, p: float) -> float:
        optimum = -n * np.log(p) / np.log(2) ** 2
        return bench_bloom.bits_used(impl, self.filter) / float(optimum)

    track_bits_over_optimum.unit = "ratio"  # type: ignore[attr-defined]


class BloomBulk(Benchmark):
    params = [[100_000, 1_000_000]]
    param_names = ["n_keys"]

    def setup(self, n: int) -> None:
        self.filter = _make("defiperf", n, 0.01)
        self.keys = np.arange(n, dtype=np.uint64)
        self.filter.add_many(self.keys[: n // 2])

    def time_contains_many_u64(self, n: int) -> None:
        self.filter.contains_many(self.keys)

    def peakmem_construct_and_fill(self, n: int) -> None:
        f = _make("defiperf", n, 0.01)
        f.add_many(self.keys)
