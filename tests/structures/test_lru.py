"""OptimizedLRU: behaviour, bad input, callbacks, re-entrancy, GC, leaks and threads."""

from __future__ import annotations

import doctest
import gc
import math
import sys
import threading
import tracemalloc
import weakref
from collections.abc import MutableMapping
from typing import Any

import pytest

import defiperf
import defiperf._stats
import defiperf.structures.lru as lru_module
from defiperf import CacheStats, OptimizedLRU

pytestmark = pytest.mark.usefixtures("refcount_guard")


def recorder() -> tuple[list[tuple[Any, Any, str]], Any]:
    events: list[tuple[Any, Any, str]] = []
    return events, lambda k, v, r: events.append((k, v, r))


# ------------------------------------------------------------------ basics


def test_evicts_least_recently_used_and_orders_most_recent_first() -> None:
    c = OptimizedLRU(3)
    c["a"], c["b"], c["c"] = 1, 2, 3
    assert c["a"] == 1  # a becomes most recent
    c["d"] = 4  # evicts b
    assert "b" not in c
    assert c.keys() == ["d", "a", "c"]
    assert c.values() == [4, 1, 3]
    assert c.items() == [("d", 4), ("a", 1), ("c", 3)]
    assert list(c) == ["d", "a", "c"]
    assert len(c) == 3
    c._check()


def test_is_a_mutable_mapping() -> None:
    c: OptimizedLRU[str, int] = OptimizedLRU(4)
    assert isinstance(c, MutableMapping)
    c.set("x", 1)
    assert dict(c.items()) == {"x": 1}
    assert "OptimizedLRU(max_size=4" in repr(c)


def test_get_default_getitem_keyerror_and_miss_stats() -> None:
    c = OptimizedLRU(2)
    assert c.get("nope") is None
    assert c.get("nope", 7) == 7
    with pytest.raises(KeyError):
        c["nope"]
    c["k"] = "v"
    assert c.get("k") == "v"
    s = c.stats()
    assert (s.hits, s.misses) == (1, 3)
    assert s.hit_rate == pytest.approx(0.25)
    assert s["hits"] == 1 and dict(s)["misses"] == 3


def test_peek_and_contains_change_neither_recency_nor_stats() -> None:
    c = OptimizedLRU(2)
    c["a"], c["b"] = 1, 2
    assert c.peek("a") == 1
    assert "a" in c
    assert c.peek("zz", "d") == "d"
    c["c"] = 3  # a is still least recent and goes
    assert "a" not in c
    assert c.stats().hits == 0 and c.stats().misses == 0


def test_delete_pop_popitem_and_delitem() -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(5, on_evict=on_evict)
    for i in range(4):
        c[i] = str(i)
    assert c.delete(0) is True
    assert c.delete(0) is False
    assert c.pop(1) == "1"
    assert c.pop(1, "dflt") == "dflt"
    with pytest.raises(KeyError):
        c.pop(1)
    del c[2]
    with pytest.raises(KeyError):
        del c[2]
    assert c.popitem() == (3, "3")
    with pytest.raises(KeyError):
        c.popitem()
    assert [r for _, _, r in events] == ["deleted"] * 4
    c._check()


def test_overwrite_keeps_one_entry_and_reports_replaced() -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(2, on_evict=on_evict)
    c["a"] = 1
    c["a"] = 2
    assert len(c) == 1 and c["a"] == 2
    assert events == [("a", 1, "replaced")]


def test_clear_reports_deleted_and_empties() -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(3, on_evict=on_evict)
    c["a"], c["b"] = 1, 2
    c.clear()
    assert len(c) == 0 and c.keys() == []
    assert sorted(events) == [("a", 1, "deleted"), ("b", 2, "deleted")]
    c["c"] = 3  # usable afterwards
    assert c["c"] == 3
    c._check()


def test_get_many_and_set_many() -> None:
    c = OptimizedLRU(10)
    c.set_many({"a": 1, "b": 2})
    c.set_many([("c", 3)])
    assert c.get_many(["a", "c", "zz"]) == {"a": 1, "c": 3}
    s = c.stats()
    assert (s.hits, s.misses) == (2, 1)


def test_size_eviction_reports_size_and_counts() -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(2, on_evict=on_evict)
    for i in range(5):
        c[i] = i
    assert events == [(0, 0, "size"), (1, 1, "size"), (2, 2, "size")]
    assert c.stats().evictions == 3


# ------------------------------------------------------------------ TTL


def test_ttl_expires_entries_and_len_counts_live_only(fake_timer: Any) -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(10, ttl=5, timer=fake_timer, on_evict=on_evict)
    c["a"] = 1
    fake_timer.tick(3)
    c["b"] = 2
    assert len(c) == 2
    fake_timer.tick(2)  # a expires exactly now
    assert len(c) == 1
    assert "a" not in c
    assert c.peek("a") is None
    assert c.keys() == ["b"]
    assert events == []  # nothing removed by reads that do not mutate
    assert c.get("a") is None  # get removes it
    assert events == [("a", 1, "expired")]
    s = c.stats()
    assert (s.misses, s.expirations) == (1, 1)


def test_per_entry_ttl_override_and_infinite(fake_timer: Any) -> None:
    c = OptimizedLRU(10, ttl=10, timer=fake_timer)
    c.set("short", 1, ttl=1)
    c.set("forever", 2, ttl=math.inf)
    c.set("default", 3)
    fake_timer.tick(2)
    assert "short" not in c
    fake_timer.tick(100)
    assert c.keys() == ["forever"]
    assert c.ttl == 10


def test_ttl_per_entry_without_default(fake_timer: Any) -> None:
    c = OptimizedLRU(10, timer=fake_timer)
    c["plain"] = 0
    c.set("timed", 1, ttl=0.5)
    fake_timer.tick(0.5)
    assert c.keys() == ["plain"]
    assert c.expire() == 1
    assert c.expire() == 0


def test_reads_do_not_extend_ttl_but_sets_do(fake_timer: Any) -> None:
    c = OptimizedLRU(10, ttl=2, timer=fake_timer)
    c["a"] = 1
    fake_timer.tick(1.5)
    assert c["a"] == 1
    fake_timer.tick(1)
    assert "a" not in c
    c["b"] = 1
    fake_timer.tick(1.5)
    c["b"] = 2
    fake_timer.tick(1.5)
    assert c["b"] == 2


def test_set_over_expired_entry_reports_expired(fake_timer: Any) -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(10, ttl=1, timer=fake_timer, on_evict=on_evict)
    c["a"] = 1
    fake_timer.tick(2)
    c["a"] = 2
    assert events == [("a", 1, "expired")]
    assert c["a"] == 2


def test_full_cache_evicts_expired_before_least_recent(fake_timer: Any) -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(2, timer=fake_timer, on_evict=on_evict)
    c.set("old", 1)
    c.set("temp", 2, ttl=1)
    fake_timer.tick(1)
    c["new"] = 3
    assert events == [("temp", 2, "expired")]
    assert sorted(c.keys()) == ["new", "old"]


def test_expire_purges_and_counts(fake_timer: Any) -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(100, ttl=1, timer=fake_timer, on_evict=on_evict)
    for i in range(50):
        c[i] = i
    fake_timer.tick(1)
    for i in range(50, 60):
        c[i] = i
    assert c.expire() == 50
    assert len(c) == 10 and len(events) == 50
    assert c.stats().expirations == 50
    c._check()


def test_default_clock_is_used_without_timer() -> None:
    c = OptimizedLRU(10, ttl=0)  # expires at once on the C monotonic clock
    c["a"] = 1
    assert "a" not in c
    d = OptimizedLRU(10, ttl=3600)
    d["a"] = 1
    assert d["a"] == 1


# ------------------------------------------------------------------ weights


def test_max_weight_evicts_until_it_fits() -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(100, max_weight=10, size_of=lambda k, v: len(v), on_evict=on_evict)
    c["a"] = "xxxx"
    c["b"] = "xxxx"
    c["c"] = "xxxx"  # 12 > 10: a goes
    assert c.keys() == ["c", "b"] and c.total_weight == 8
    c["b"] = "xxxxxxxx"  # b grows to 8: c goes, b stays (most recent)
    assert c.keys() == ["b"] and c.total_weight == 8
    assert [(k, r) for k, _, r in events] == [("a", "size"), ("b", "replaced"), ("c", "size")]
    assert c.max_weight == 10
    c._check()


def test_entry_heavier_than_max_weight_is_refused_and_cache_unchanged() -> None:
    c = OptimizedLRU(10, max_weight=5, size_of=lambda k, v: len(v))
    c["a"] = "xx"
    with pytest.raises(ValueError, match="max_weight"):
        c["b"] = "x" * 6
    with pytest.raises(ValueError, match="max_weight"):
        c["a"] = "x" * 6
    assert c.items() == [("a", "xx")] and c.total_weight == 2


@pytest.mark.parametrize("weight, exc", [(-1, ValueError), (1.5, TypeError), ("3", TypeError),
                                         (None, TypeError), (True, TypeError)])
def test_bad_weights_are_refused(weight: Any, exc: type[Exception]) -> None:
    c = OptimizedLRU(10, size_of=lambda k, v: weight)
    with pytest.raises(exc, match="size_of"):
        c["a"] = 1
    assert len(c) == 0


def test_size_of_without_max_weight_tracks_weight() -> None:
    c = OptimizedLRU(10, size_of=lambda k, v: v)
    c["a"], c["b"] = 3, 4
    assert c.total_weight == 7 and c.max_weight is None


# ------------------------------------------------------------------ resize, hot keys


def test_resize_shrinks_by_recency_and_grows() -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(5, on_evict=on_evict)
    for i in range(5):
        c[i] = i
    c.get(0)
    c.resize(2)
    assert c.keys() == [0, 4] and c.max_size == 2
    assert [k for k, _, r in events if r == "size"] == [1, 2, 3]
    c.resize(4)
    c[5], c[6] = 5, 6
    assert c.keys() == [6, 5, 0, 4]
    c._check()


def test_resize_keeps_ttl_and_weights(fake_timer: Any) -> None:
    c = OptimizedLRU(4, ttl=2, timer=fake_timer, size_of=lambda k, v: v, max_weight=100)
    c["a"], c["b"] = 5, 6
    c.resize(10)
    assert c.total_weight == 11
    fake_timer.tick(2)
    assert len(c) == 0


def test_hot_keys_ranks_by_access_count() -> None:
    c = OptimizedLRU(10)
    for k in "abcd":
        c[k] = k
    for k, n in (("a", 1), ("b", 5), ("c", 3)):
        for _ in range(n):
            c.get(k)
    assert c.hot_keys(2) == ["b", "c"]
    assert c.hot_keys(0) == []
    assert c.hot_keys(100)[:3] == ["b", "c", "a"] and len(c.hot_keys(100)) == 4
    assert c.access_count("b") == 5 and c.access_count("zz") == 0


def test_hot_keys_skips_expired(fake_timer: Any) -> None:
    c = OptimizedLRU(10, timer=fake_timer)
    c.set("hot", 1, ttl=1)
    c.set("warm", 2)
    for _ in range(5):
        c.get("hot")
    fake_timer.tick(1)
    assert c.hot_keys(1) == ["warm"]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("max_size, exc", [(0, ValueError), (-3, ValueError), (2**31, ValueError),
                                           (1.5, TypeError), ("9", TypeError), (True, TypeError),
                                           (None, TypeError)])
def test_bad_max_size(max_size: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc, match="max_size"):
        OptimizedLRU(max_size)


@pytest.mark.parametrize("ttl, exc", [(-1, ValueError), (math.nan, ValueError), ("5", TypeError),
                                      (True, TypeError)])
def test_bad_ttl(ttl: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc, match="ttl"):
        OptimizedLRU(10, ttl)
    c = OptimizedLRU(10)
    with pytest.raises(exc, match="ttl"):
        c.set("a", 1, ttl=ttl)
    with pytest.raises(exc, match="ttl"):
        c.set_many({"a": 1}, ttl=ttl)
    assert len(c) == 0


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="size_of"):
        OptimizedLRU(10, max_weight=5)
    with pytest.raises(ValueError, match="max_weight"):
        OptimizedLRU(10, max_weight=0, size_of=len)
    with pytest.raises(TypeError, match="max_weight"):
        OptimizedLRU(10, max_weight=2.5, size_of=len)
    for name in ("size_of", "on_evict", "timer"):
        with pytest.raises(TypeError, match=name):
            OptimizedLRU(10, **{name: 42})
    c = OptimizedLRU(3)
    with pytest.raises(ValueError, match="new_max_size"):
        c.resize(0)
    with pytest.raises(TypeError, match="new_max_size"):
        c.resize("2")
    with pytest.raises(ValueError, match="n must"):
        c.hot_keys(-1)


@pytest.mark.parametrize("bad", [math.nan, "now", math.inf])
def test_bad_timer_values(bad: Any) -> None:
    c = OptimizedLRU(10, ttl=1, timer=lambda: bad)
    with pytest.raises((TypeError, ValueError), match="timer"):
        c["a"] = 1
    assert len(OptimizedLRU(10, timer=lambda: bad)) == 0  # no TTL: the timer is never read


def test_unhashable_key_raises_typeerror_and_leaves_cache_unchanged() -> None:
    c = OptimizedLRU(10)
    c["a"] = 1
    for op in (lambda: c.__setitem__([1], 2), lambda: c.get([1]), lambda: [1] in c,
               lambda: c.delete({}), lambda: c.set(set(), 1)):
        with pytest.raises(TypeError):
            op()
    assert c.items() == [("a", 1)]
    c._check()


class BadKey:
    def __init__(self, h: int, fail_hash: bool = False, fail_eq: bool = False) -> None:
        self.h, self.fail_hash, self.fail_eq = h, fail_hash, fail_eq

    def __hash__(self) -> int:
        if self.fail_hash:
            raise RuntimeError("hash failed")
        return self.h

    def __eq__(self, other: object) -> bool:
        if self.fail_eq:
            raise RuntimeError("eq failed")
        return self is other


def test_raising_hash_and_eq_leave_cache_consistent() -> None:
    c = OptimizedLRU(4)
    good = BadKey(7)
    c[good] = "g"
    with pytest.raises(RuntimeError, match="hash"):
        c[BadKey(7, fail_hash=True)] = 1
    good.fail_eq = True  # from now on comparing anything with the stored key raises
    with pytest.raises(RuntimeError, match="eq"):
        c[BadKey(7)] = 1  # same hash: the comparison runs and raises
    with pytest.raises(RuntimeError, match="eq"):
        c.get(BadKey(7))
    with pytest.raises(RuntimeError, match="eq"):
        c.delete(BadKey(7))
    assert c[good] == "g"  # identity needs no comparison
    assert c.items() == [(good, "g")]
    c._check()


def test_eq_that_mutates_the_cache_is_survived() -> None:
    c = OptimizedLRU(8)

    class Meddler:
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            for i in range(20):  # churns the slots while a lookup is in progress
                c[("m", i)] = i
            return False

    class Same:
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            return False

    c[Same()] = 0
    c[Meddler()] = 1
    c._check()
    assert len(c) <= 8


def test_on_evict_may_use_the_cache_and_errors_surface_after_completion() -> None:
    seen: list[str] = []

    def on_evict(k: Any, v: Any, r: str) -> None:
        seen.append(r)
        c.get("other")  # re-entrant read
        if k == "boom":
            raise RuntimeError("listener failed")

    c = OptimizedLRU(1, on_evict=on_evict)
    c["boom"] = 1
    with pytest.raises(RuntimeError, match="listener"):
        c["next"] = 2
    assert c.items() == [("next", 2)]  # the set itself completed
    assert seen == ["size"]
    c._check()


def test_value_finalizer_that_mutates_the_cache_is_survived() -> None:
    c = OptimizedLRU(2)

    class Noisy:
        def __del__(self) -> None:
            c[object()] = "from __del__"

    c["a"] = Noisy()
    c["b"] = Noisy()
    c["c"] = 1  # evicts a, whose __del__ inserts while we finish
    c["a"] = 2
    c.clear()
    c._check()
    assert len(c) <= 2


# ------------------------------------------------------------------ memory


def test_value_referencing_the_cache_is_collected() -> None:
    class Box:
        pass

    c = OptimizedLRU(10)
    box = Box()
    box.cache = c  # type: ignore[attr-defined]
    c["self"] = box
    c[box] = c  # key and value both in the cycle
    ref_cache, ref_box = weakref.ref(c), weakref.ref(box)
    del c, box
    gc.collect()
    assert ref_cache() is None and ref_box() is None


def test_no_reference_or_memory_leak_over_many_cycles(fake_timer: Any) -> None:
    sentinel = object()
    key_sentinel = ("k", "sentinel")
    c = OptimizedLRU(1000, ttl=50, timer=fake_timer, size_of=lambda k, v: 1, max_weight=900,
                     on_evict=lambda k, v, r: None)
    before = sys.getrefcount(sentinel)
    tracemalloc.start()
    try:
        for i in range(100_000):
            c[i % 3000] = sentinel
            c.get((i * 7) % 3000)
            if i % 5 == 0:
                c.delete((i * 3) % 3000)
            if i % 1000 == 0:
                fake_timer.tick(10)
                c.expire()
                c[key_sentinel] = sentinel
        c.clear()
        gc.collect()
        snapshot_growth = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert sys.getrefcount(sentinel) == before
    assert snapshot_growth < 256 * 1024, f"{snapshot_growth} bytes still traced"


# ------------------------------------------------------------------ threads


@pytest.mark.parametrize("policy", OptimizedLRU.POLICIES)
def test_threads_keep_bounds_and_invariants(policy: str) -> None:
    c = OptimizedLRU(500, ttl=3600, policy=policy)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            x = seed
            for _ in range(100_000):
                x = (x * 1103515245 + 12345) & 0x7FFFFFFF
                k = x % 2000
                op = x % 7
                if op < 3:
                    c[k] = x
                elif op < 5:
                    c.get(k)
                elif op == 5:
                    c.delete(k)
                else:
                    k in c  # noqa: B015
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors
    assert len(c) <= 500
    c._check()


# ------------------------------------------------------------------ docs


def test_doctests() -> None:
    for module in (lru_module, defiperf._stats):
        result = doctest.testmod(module)
        assert result.failed == 0
        assert result.attempted > 0, f"no doctest found in {module.__name__}"


def test_public_surface() -> None:
    assert defiperf.OptimizedLRU is OptimizedLRU
    assert isinstance(OptimizedLRU(1).stats(), CacheStats)
    assert defiperf.__version__


# ------------------------------------------------------------------ W-TinyLFU policy


def test_policy_option_and_validation() -> None:
    assert OptimizedLRU(4).policy == "lru"
    assert OptimizedLRU(4, policy="tinylfu").policy == "tinylfu"
    with pytest.raises(ValueError, match="policy"):
        OptimizedLRU(4, policy="fifo")


@pytest.mark.parametrize("policy, kept_at_least, kept_at_most", [("lru", 0, 0),
                                                                  ("tinylfu", 45, 50)])
def test_tinylfu_keeps_a_hot_set_through_a_scan(policy: str, kept_at_least: int,
                                                kept_at_most: int) -> None:
    c = OptimizedLRU(100, policy=policy)
    for _ in range(20):
        for k in range(50):
            if c.get(k) is None:
                c[k] = k
    for k in range(1000, 3000):  # a one-time scan, twenty times the cache
        if c.get(k) is None:
            c[k] = k
    kept = sum(k in c for k in range(50))
    assert kept_at_least <= kept <= kept_at_most
    assert len(c) == 100
    c._check()


def test_tinylfu_buffered_hits_apply_before_the_order_is_read() -> None:
    # 200 slots: a window of 2 and a probation segment of 198; key 0 is the probation tail.
    c = OptimizedLRU(200, policy="tinylfu")
    for k in range(200):
        c[k] = k
    assert c.keys()[:3] == [199, 198, 197]
    assert c.get(0) == 0  # a probation hit: promoted to protected once the buffer drains
    assert c.keys()[:3] == [199, 198, 0]  # window, then protected, then probation
    for _ in range(3):  # the window's keys now outrank the probation tail: it is the victim
        c.get(198)
        c.get(199)
    c.get(1)
    assert c.popitem() == (2, 2)  # the pending hit on 1 moved it out of probation first
    c._check()


def test_tinylfu_buffered_hits_survive_deletes_evictions_and_reuse() -> None:
    c = OptimizedLRU(300, policy="tinylfu")
    model: dict[int, int] = {}
    for k in range(300):
        c[k] = model[k] = k
    for round_ in range(40):
        hits = list(range(round_ * 7 % 300, 300, 3))[:100]  # fewer than one buffer: pending
        for k in hits:
            if k in model:
                assert c.get(k) == model[k]
        for k in hits[::4]:  # free some buffered slots, then reuse them for other keys
            if k in model:
                del c[k]
                del model[k]
        for k in range(1000 + round_ * 50, 1050 + round_ * 50):
            c[k] = k
            model[k] = k
        c._check()
        model = {k: v for k, v in model.items() if k in c}
        assert len(c) == len(model) == 300
    assert sorted(c.keys()) == sorted(model)
    assert all(c.peek(k) == v for k, v in model.items())
    c._check()


def test_tinylfu_resize_ttl_weights_and_hot_keys(fake_timer: Any) -> None:
    events, on_evict = recorder()
    c = OptimizedLRU(50, ttl=10, policy="tinylfu", timer=fake_timer, size_of=lambda k, v: 1,
                     max_weight=40, on_evict=on_evict)
    for i in range(200):
        c[i % 70] = i
        c.get(i % 5)
    assert len(c) <= 40 and c.total_weight == len(c)
    assert set(c.hot_keys(5)) == set(range(5))
    c.resize(10)
    assert len(c) <= 10
    c._check()
    fake_timer.tick(10)
    assert len(c) == 0 and c.expire() > 0
    assert {r for _, _, r in events} <= {"size", "expired", "replaced"}
