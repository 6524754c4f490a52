"""Policies the simulator replays a trace through, each returning its hit count.

``lru``, ``tinylfu``, ``sieve`` (every name in ``OptimizedLRU.POLICIES``, which come from the C
policy table, so a new C policy appears here by itself): defiperf's OptimizedLRU with that
policy. ``opt``: Belady's clairvoyant policy (evict the key used
furthest in the future), the limit no online policy can pass. ``theine``: theine's W-TinyLFU
cache, when installed (the ``bench`` extra). Every policy sees the same read-through workload:
a miss inserts the key.
"""

from __future__ import annotations

import functools
import heapq
import importlib
import importlib.util
from collections.abc import Callable

import numpy as np

from defiperf.structures import OptimizedLRU


def _replay(trace: np.ndarray, size: int, policy: str) -> int:
    cache: OptimizedLRU[int, bool] = OptimizedLRU(size, policy=policy)
    get, put = cache.get, cache.__setitem__
    hits = 0
    for key in trace.tolist():
        if get(key) is None:
            put(key, True)
        else:
            hits += 1
    return hits


def next_use(trace: np.ndarray) -> np.ndarray:
    """For each access, the index of the next access to the same key (len(trace) if none)."""
    n = len(trace)
    out = np.full(n, n, dtype=np.int64)
    last: dict[int, int] = {}
    keys = trace.tolist()
    for i in range(n - 1, -1, -1):
        out[i] = last.get(keys[i], n)
        last[keys[i]] = i
    return out


def _opt(trace: np.ndarray, size: int) -> int:
    nxt = next_use(trace).tolist()
    keys = trace.tolist()
    resident: dict[int, int] = {}  # key -> its next use
    heap: list[tuple[int, int]] = []  # (-next use, key); stale entries skipped lazily
    hits = 0
    for i, key in enumerate(keys):
        if key in resident:
            hits += 1
        elif len(resident) >= size:
            while True:
                neg_next, victim = heapq.heappop(heap)
                if resident.get(victim) == -neg_next:
                    del resident[victim]
                    break
        resident[key] = nxt[i]
        heapq.heappush(heap, (-nxt[i], key))
    return hits


def _theine(trace: np.ndarray, size: int) -> int:
    cache = importlib.import_module("theine").Cache(size)
    hits = 0
    for key in trace.tolist():
        _, found = cache.get(key)
        if found:
            hits += 1
        else:
            cache.set(key, True)
    cache.close()
    return hits


def _ours(policy: str) -> Callable[[np.ndarray, int], int]:
    return functools.partial(_replay, policy=policy)


POLICIES: dict[str, Callable[[np.ndarray, int], int]] = {
    **{name: _ours(name) for name in OptimizedLRU.POLICIES}, "opt": _opt}
if importlib.util.find_spec("theine") is not None:
    POLICIES["theine"] = _theine


def hit_rate(policy: str, trace: np.ndarray, size: int) -> float:
    """The fraction of accesses that hit, replaying `trace` through `policy` at `size`."""
    if policy not in POLICIES:
        raise ValueError(f"unknown or unavailable policy {policy!r}; available: "
                         f"{', '.join(POLICIES)}")
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if len(trace) == 0:
        raise ValueError("the trace holds no accesses")
    return POLICIES[policy](trace, size) / len(trace)
