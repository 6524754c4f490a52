"""OptimizedLRU beside lru-dict, cachetools, functools.lru_cache and a plain dict.

Every cache holds ``capacity`` entries. Operations: get-hit (``c[k]``), get-miss
(``c.get(k)``), set-new-with-eviction (``c[k] = v`` on a full cache), overwrite (``c[k] = v`` of
a present key), for int keys and ``"token:%d"`` str keys. Keys are visited in one fixed shuffled
order (a cache is read in the order requests arrive); get-hit and set-evict are also measured
in insertion order (``seq``: the best case for a structure whose nodes sit in memory in
insertion order, as lru-dict's do) and in a Zipf order (``zipf``: ``capacity`` draws with
exponent ZIPF_S, the popular keys scattered over the key range; for set-evict each pass is a new
draw over ``2 x capacity`` keys, the range sliding by ``capacity // 2`` a pass, so that in every
pass some writes overwrite and the others evict). Every set-evict pass writes keys the cache
does not hold (``write_rounds``): two fixed rounds, alternating, fitted the cache together
(zipf: overwrites only) or, under W-TinyLFU, wrote back the keys it had kept.
"""

from __future__ import annotations

import functools
import importlib
import random
from collections.abc import Callable
from typing import Any

from defiperf.bench import _peers
from defiperf.bench._memory import measure_in_child
from defiperf.bench._table import Row
from defiperf.bench._timing import best_ns_per_op
from defiperf.structures import OptimizedLRU

TTL_SECONDS = 3600.0
ZIPF_S = 1.0
ORDERS = ("", "seq", "zipf")  # "" = shuffled (the plain operation name)
# set-evict passes cycle through this many write rounds of keys the cache does not hold: more
# than the rounds a cache keeps (one, or 3-4 Zipf draws), so that every pass evicts, whatever
# the policy admits (W-TinyLFU turns new keys away: a round of the keys it kept only overwrote).
WRITE_ROUNDS = 6


def make_ours(capacity: int) -> Any:
    return OptimizedLRU(capacity)


def make_ours_ttl(capacity: int) -> Any:
    return OptimizedLRU(capacity, ttl=TTL_SECONDS)


def make_ours_tinylfu(capacity: int) -> Any:
    return OptimizedLRU(capacity, policy="tinylfu")


def make_ours_sieve(capacity: int) -> Any:
    return OptimizedLRU(capacity, policy="sieve")


# The peers are optional (the `bench` extra) and untyped: imported by name at run time.
def make_lru_dict(capacity: int) -> Any:
    return importlib.import_module("lru").LRU(capacity)


def make_cachetools_lru(capacity: int) -> Any:
    return importlib.import_module("cachetools").LRUCache(capacity)


def make_cachetools_ttl(capacity: int) -> Any:
    return importlib.import_module("cachetools").TTLCache(capacity, TTL_SECONDS)


def make_dict(capacity: int) -> Any:
    return {}


# label -> (factory, the module it needs); ours first. The dict is the floor: no eviction.
CONTENDERS: dict[str, tuple[Callable[[int], Any], str | None]] = {
    "defiperf": (make_ours, None),
    "defiperf ttl": (make_ours_ttl, None),
    "defiperf tinylfu": (make_ours_tinylfu, None),
    "defiperf sieve": (make_ours_sieve, None),
    "lru-dict": (make_lru_dict, "lru"),
    "cachetools LRU": (make_cachetools_lru, "cachetools"),
    "cachetools TTL": (make_cachetools_ttl, "cachetools"),
    "dict": (make_dict, None),
}


def available() -> dict[str, Callable[[int], Any]]:
    """The contenders whose package is installed (peers come from the `bench` extra)."""
    return _peers.available(CONTENDERS)


def key_sets(kind: str, capacity: int, seed: int) -> tuple[list[Any], list[Any], list[Any]]:
    """(present keys, a shuffled read order of them, fresh keys never inserted)."""
    if kind == "int":
        present: list[Any] = list(range(capacity))
        fresh: list[Any] = list(range(capacity, 2 * capacity))
    else:
        present = [f"token:{i}" for i in range(capacity)]
        fresh = [f"token:{i}" for i in range(capacity, 2 * capacity)]
    order = present[:]
    random.Random(seed).shuffle(order)
    return present, order, fresh


def _keys(kind: str, lo: int, hi: int) -> list[Any]:
    return list(range(lo, hi)) if kind == "int" else [f"token:{i}" for i in range(lo, hi)]


def write_rounds(kind: str, capacity: int, seed: int, order: str) -> list[list[Any]]:
    """The set-evict passes: WRITE_ROUNDS rounds of ``capacity`` writes of keys never held at
    first. "" and "seq": round r writes the keys (r + 1) x capacity .. (r + 2) x capacity, shuffled
    or in order; "zipf": a Zipf draw over the keys r x capacity // 2 .. that + 2 x capacity,
    popular keys ranked apart (some writes overwrite, the others evict)."""
    rounds = []
    for r in range(WRITE_ROUNDS):
        if order == "zipf":
            lo = r * (capacity // 2)
            rounds.append(zipf_order(_keys(kind, lo, lo + 2 * capacity), capacity, seed + 3 + r))
            continue
        keys = _keys(kind, (r + 1) * capacity, (r + 2) * capacity)
        if order == "":
            random.Random(seed + 10 + r).shuffle(keys)
        rounds.append(keys)
    return rounds


def zipf_order(keys: list[Any], n: int, seed: int) -> list[Any]:
    """`n` draws from `keys` with P(rank r) ~ 1 / r**ZIPF_S, ranks given to keys at random."""
    rng = random.Random(seed)
    ranked = keys[:]
    rng.shuffle(ranked)
    weights = [1.0 / (r + 1) ** ZIPF_S for r in range(len(ranked))]
    return rng.choices(ranked, weights=weights, k=n)


def orders(kind: str, capacity: int, seed: int) -> dict[str, tuple[list[Any], list[list[Any]]]]:
    """Per order: (the get-hit read order, the set-evict write rounds, which cycle)."""
    present, shuffled, _ = key_sets(kind, capacity, seed)
    return {
        "": (shuffled, write_rounds(kind, capacity, seed, "")),
        "seq": (present, write_rounds(kind, capacity, seed, "seq")),
        "zipf": (zipf_order(present, capacity, seed + 2), write_rounds(kind, capacity, seed, "zipf")),
    }


def _pass(op: str, cache: Any, order: list[Any], present: list[Any],
          fresh: list[Any], writes: list[list[Any]] | None = None) -> Callable[[], int]:
    """One timed pass of `op` over `cache`; it returns its operation count."""
    if op == "get-hit":
        def get_hit() -> int:
            c = cache
            for k in order:
                c[k]
            return len(order)
        return get_hit
    if op == "get-miss":
        def get_miss() -> int:
            get = cache.get
            for k in fresh:
                get(k)
            return len(fresh)
        return get_miss
    if op == "set-evict":
        # Each contender its own rotation, from the same first round: a shared one handed the
        # contenders alternate rounds, and with an even count of them some only overwrote.
        rotation = list(writes) if writes is not None else [fresh, present]

        def set_evict() -> int:
            # Alternate between the key sets so that every insert evicts.
            keys = rotation[0]
            rotation.append(rotation.pop(0))
            c = cache
            for k in keys:
                c[k] = k
            return len(keys)
        return set_evict

    def overwrite() -> int:
        c = cache
        for k in order:
            c[k] = k
        return len(order)
    return overwrite


def _lru_cache_hit(order: list[Any], capacity: int, present: list[Any]) -> Callable[[], int]:
    """functools.lru_cache has only a hit path to compare: calls of a cached identity."""
    @functools.lru_cache(maxsize=capacity)
    def cached(k: Any) -> Any:
        return k

    for k in present:
        cached(k)

    def run() -> int:
        for k in order:
            cached(k)
        return len(order)
    return run


def run(quick: bool = False, capacity: int = 100_000, seed: int = 12345,
        memory_items: int = 1_000_000) -> list[Row]:
    """Measure every operation for int and str keys, plus memory for 1e6 int->int entries, and
    for 1% of that (at least 10,000) in a structure made for 1e6: storage grows with the
    entries, not with the capacity."""
    rounds = 3 if quick else 9
    makers = available()
    rows: list[Row] = []
    for kind in ("int", "str"):
        present, _, fresh = key_sets(kind, capacity, seed)
        by_order = orders(kind, capacity, seed)
        for op, order_name in [(op, o) for op in ("get-hit", "get-miss", "set-evict", "overwrite")
                               for o in (ORDERS if op in ("get-hit", "set-evict") else ("",))]:
            order, writes = by_order[order_name]
            caches = {label: make(capacity) for label, make in makers.items()}
            for cache in caches.values():
                for k in present:
                    cache[k] = k
            passes = {label: _pass(op, cache, order, present, fresh, writes)
                      for label, cache in caches.items()
                      if not (op == "set-evict" and label == "dict")}  # a dict never evicts
            if op == "get-hit":
                passes["functools.lru_cache"] = _lru_cache_hit(order, capacity, present)
            best = best_ns_per_op(passes, rounds)
            ours = best.pop("defiperf")
            name = f"{op} {kind}" + (f" {order_name}" if order_name else "")
            rows.append(Row("lru", name, "ns/op", ours, best))
            del caches
    n_mem = memory_items // 10 if quick else memory_items
    mem = {label: measure_in_child(f"defiperf.bench.lru:{make.__name__}", n_mem)
           for label, make in makers.items()}
    ours_mem = mem.pop("defiperf")
    rows.append(Row("lru", f"memory {n_mem:,} int->int", "B/entry", ours_mem, mem))
    n_few = min(n_mem, max(n_mem // 100, 10_000))  # enough pages for RSS to resolve
    few = {label: measure_in_child(f"defiperf.bench.lru:{make.__name__}", n_few, n_mem)
           for label, make in makers.items()}
    ours_few = few.pop("defiperf")
    rows.append(Row("lru", f"memory {n_few:,} int->int, capacity {n_mem:,}", "B/entry",
                    ours_few, few))
    return rows
