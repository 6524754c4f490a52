"""RingBuffer beside deque(maxlen) and numpy_ringbuffer: the operations of `python -m defiperf.bench ring`."""

from __future__ import annotations

import itertools
from typing import Any

from defiperf.bench import ring as bench_ring

from .common import Benchmark

IMPLS = ["defiperf", "deque", "numpy_ringbuffer"]


class RingOps(Benchmark):
    params = [IMPLS, [1_000, 1_000_000]]
    param_names = ["impl", "capacity"]

    def setup(self, impl: str, capacity: int) -> None:
        bufs = bench_ring._filled(capacity)
        if impl not in bufs:
            raise NotImplementedError(f"{impl} is not installed")
        self.buf: Any = bufs[impl]
        self.impl = impl

    def time_push_1000_rows(self, impl: str, capacity: int) -> None:
        if impl == "defiperf":
            push = self.buf.push
            t0 = self.buf[-1][0]
            for i in range(1000):
                push(t0 + i, 3000.0, 1.0)
        else:
            append = self.buf.append
            for i in range(1000):
                append((float(i), 3000.0, 1.0))

    def time_get_latest_100(self, impl: str, capacity: int) -> None:
        if impl == "defiperf":
            self.buf.get_latest(100)
        elif impl == "deque":
            list(itertools.islice(self.buf, len(self.buf) - 100, None))
        else:
            self.buf[-100:]

    def time_mean_price(self, impl: str, capacity: int) -> None:
        if impl == "defiperf":
            self.buf.mean("price")
        elif impl == "deque":
            sum(row[1] for row in self.buf) / len(self.buf)
        else:
            import numpy as np

            np.asarray(self.buf)[:, 1].mean()
