"""RingBuffer beside collections.deque(maxlen) and numpy_ringbuffer.

push of a (timestamp, price, volume) row; get_latest(100); mean of the price over the whole
window at capacity 1,000 and 1,000,000 (ours is O(1); the peers must scan the window).
"""

from __future__ import annotations

import importlib
import itertools
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from defiperf.bench import _peers
from defiperf.bench._table import Row
from defiperf.bench._timing import best_ns_per_op
from defiperf.structures import RingBuffer


def _numpy_ringbuffer(capacity: int) -> Any:
    return importlib.import_module("numpy_ringbuffer").RingBuffer(capacity=capacity,
                                                                  dtype=(float, 3))


def _filled(capacity: int) -> dict[str, Any]:
    ours = RingBuffer(capacity)
    ours.push_many(np.column_stack([np.arange(capacity, dtype=np.float64),
                                    np.full(capacity, 3000.0), np.ones(capacity)]))
    peers: dict[str, Any] = {"deque": deque(((float(t), 3000.0, 1.0) for t in range(capacity)),
                                            maxlen=capacity)}
    if _peers.installed("numpy_ringbuffer"):
        nrb = _numpy_ringbuffer(capacity)
        nrb.extend(np.asarray(ours.get_latest(capacity).tolist()))
        peers["numpy_ringbuffer"] = nrb
    return {"defiperf": ours, **peers}


def run(quick: bool = False, capacity: int = 10_000, n_ops: int = 100_000) -> list[Row]:
    rounds = 3 if quick else 7
    rows: list[Row] = []
    bufs = _filled(capacity)
    n_push = n_ops // 10 if quick else n_ops

    def push_ours() -> int:
        push = bufs["defiperf"].push
        t0 = bufs["defiperf"][-1][0]
        for i in range(n_push):
            push(t0 + i, 3000.0, 1.0)
        return n_push

    def push_deque() -> int:
        append = bufs["deque"].append
        for i in range(n_push):
            append((float(i), 3000.0, 1.0))
        return n_push

    passes: dict[str, Callable[[], int]] = {"defiperf": push_ours, "deque": push_deque}
    if "numpy_ringbuffer" in bufs:
        def push_nrb() -> int:
            append = bufs["numpy_ringbuffer"].append
            for i in range(n_push):
                append((float(i), 3000.0, 1.0))
            return n_push
        passes["numpy_ringbuffer"] = push_nrb
    best = best_ns_per_op(passes, rounds)
    rows.append(Row("ring", "push 3-field row", "ns/op", best.pop("defiperf"), best))

    reps = 2_000 if quick else 20_000

    def latest_ours() -> int:
        get = bufs["defiperf"].get_latest
        for _ in range(reps):
            get(100)
        return reps

    def latest_deque() -> int:
        d = bufs["deque"]
        for _ in range(reps):
            list(itertools.islice(d, len(d) - 100, None))
        return reps

    passes = {"defiperf": latest_ours, "deque": latest_deque}
    if "numpy_ringbuffer" in bufs:
        def latest_nrb() -> int:
            rb = bufs["numpy_ringbuffer"]
            for _ in range(reps):
                rb[-100:]
            return reps
        passes["numpy_ringbuffer"] = latest_nrb
    best = best_ns_per_op(passes, rounds)
    rows.append(Row("ring", "get_latest(100)", "ns/op", best.pop("defiperf"), best))

    for cap in (1_000, 1_000_000):
        big = _filled(cap)
        mean_reps = 200 if cap > 10_000 else 2_000

        def mean_ours(b: Any = big["defiperf"]) -> int:
            for _ in range(mean_reps):
                b.mean("price")
            return mean_reps

        def mean_deque(d: Any = big["deque"]) -> int:
            for _ in range(mean_reps // 10):
                sum(row[1] for row in d) / len(d)
            return mean_reps // 10

        passes = {"defiperf": mean_ours, "deque": mean_deque}
        if "numpy_ringbuffer" in big:
            def mean_nrb(rb: Any = big["numpy_ringbuffer"]) -> int:
                for _ in range(mean_reps):
                    np.asarray(rb)[:, 1].mean()
                return mean_reps
            passes["numpy_ringbuffer"] = mean_nrb
        best = best_ns_per_op(passes, 3)
        rows.append(Row("ring", f"mean(price), capacity {cap:,}", "ns/op", best.pop("defiperf"),
                        best))
    return rows
