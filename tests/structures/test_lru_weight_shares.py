"""W-TinyLFU under a weight budget that binds before ``max_size``: its shares are sized for the
entries the budget holds (``_segments()["policy_cap"]``), so it keeps a hot set through a burst
of one-off keys as a cache of that many entries does. (Sized from ``max_size`` instead, its 1%
window held every entry a small budget kept: plain LRU.) The C side: tests/csrc/recap_check.c."""

from __future__ import annotations

import random

import pytest

from defiperf.structures import OptimizedLRU


def _burst(cache: OptimizedLRU, hot: int = 200, scan: int = 5000) -> int:
    """Read `hot` keys 20 times, `scan` one-off keys, the hot keys again (read-through):
    how many of the last round missed."""
    def read(key: object) -> bool:
        if cache.get(key) is None:
            cache[key] = 1
            return False
        return True

    for _ in range(20):
        for i in range(hot):
            read(("hot", i))
    for i in range(scan):
        read(("scan", i))
    return sum(not read(("hot", i)) for i in range(hot))


def _eight(key: object, value: object) -> int:
    return 8


def _weighted(policy: str, budget: int, max_size: int = 100_000) -> OptimizedLRU:
    return OptimizedLRU(max_size, policy=policy, max_weight=budget, size_of=_eight)


@pytest.mark.parametrize("budget", [2_400, 8_000, 40_000])
def test_a_budget_keeps_the_hot_set_as_an_entry_bound_does(budget: int) -> None:
    weighted = _weighted("tinylfu", budget)
    missed = _burst(weighted)
    held = len(weighted)
    assert held == budget // 8
    by_count = OptimizedLRU(held, policy="tinylfu")
    assert missed <= max(10, 2 * _burst(by_count)), (missed, held)
    assert _burst(_weighted("lru", budget)) == 200  # what it would be without the sizing


def test_the_shares_follow_the_entries_the_budget_holds() -> None:
    c = _weighted("tinylfu", 8_000)
    for i in range(3_000):
        c[i] = i
        seg = c._segments()
        assert len(c) <= seg["policy_cap"] + max(seg["policy_cap"] // 8, 4)
        assert seg["policy_cap"] <= 100_000
    seg = c._segments()
    assert len(c) == 1_000 and seg["policy_cap"] == 1_000  # exactly: its shadows simulate it
    assert seg["window_max"] <= 20  # about 1% of what is held, not 1% of max_size (1,000)
    assert seg["protected_max"] == (seg["policy_cap"] - seg["window_max"]) * 3 // 4
    c._check()


def test_lighter_entries_raise_it_and_an_unbinding_budget_gives_max_size() -> None:
    c = OptimizedLRU(5_000, policy="tinylfu", max_weight=10_000, size_of=lambda k, v: v)
    for i in range(2_000):
        c[i] = 10
    low = c._segments()["policy_cap"]
    assert low < 1_200
    c.clear()
    for i in range(4_000):
        c[i] = 2  # 5,000 would fit: the count bound binds first
    assert c._segments()["policy_cap"] == 5_000 and len(c) == 4_000
    c._check()


def test_copy_and_resize_keep_the_budget_sizing() -> None:
    import copy
    import pickle

    c = _weighted("tinylfu", 8_000)
    for i in range(3_000):
        c[i] = i
    cap = c._segments()["policy_cap"]
    assert cap == 1_000
    for other in (copy.copy(c), c.copy()):
        assert other._segments()["policy_cap"] == cap
        other._check()
    restored = pickle.loads(pickle.dumps(c))  # rebuilt write by write: sized the same way
    assert restored._segments()["policy_cap"] == 1_000
    restored._check()
    c.resize(50_000)
    assert c._segments()["policy_cap"] == cap and len(c) == 1_000
    c.resize(500)  # now the entry bound binds first
    assert c._segments()["policy_cap"] == 500
    c._check()


@pytest.mark.parametrize("policy", ["lru", "sieve"])
def test_policies_that_size_nothing_keep_max_size(policy: str) -> None:
    c = _weighted(policy, 8_000)
    for i in range(3_000):
        c[i] = i
    assert len(c) == 1_000 and c._segments()["policy_cap"] == 100_000
    c._check()


def test_weights_that_wander_keep_every_invariant() -> None:
    """Random weights, overwrites heavier and lighter, deletes, clear and resize between: the
    policy's cap stays within len .. max_size and _check() holds after every step."""
    rng = random.Random(7)
    c = OptimizedLRU(3_000, policy="tinylfu", max_weight=20_000, size_of=lambda k, v: v)
    for step in range(30_000):
        op = rng.random()
        key = rng.randrange(6_000)
        if op < 0.7:
            c[key] = rng.choice([1, 2, 5, 10, 40, 200])
        elif op < 0.9:
            c.get(key)
        elif op < 0.99:
            c.pop(key, None)
        elif op < 0.995:
            c.resize(rng.randrange(1, 4_000))
        else:
            c.clear()
        seg = c._segments()
        assert len(c) <= seg["policy_cap"] + max(seg["policy_cap"] // 8, 4)
        assert seg["policy_cap"] <= c.max_size
        if step % 499 == 0:
            c._check()
    c._check()

