"""Storage growth (it fills the index table to its bound, not doubling) from every size: a cache
of every capacity 1..300, per policy, filled key by key with ``_check()`` after each write, then
resized down and up and cleared between phases, each phase refilled and checked. The growth
steps depend on the capacity (4, 11, 21, 43, ... capped), and W-TinyLFU's sketch and ghosts grow
with them: every size is a different path through both."""

from __future__ import annotations

import pytest

from defiperf.structures import OptimizedLRU

CAPS = range(1, 301)


def fill(cache: OptimizedLRU, keys: range) -> None:
    for k in keys:
        cache[k] = k
        cache.get(k // 2)  # hits too: W-TinyLFU buffers them across the growth
        cache._check()


@pytest.mark.parametrize("policy", OptimizedLRU.POLICIES)
def test_growth_from_every_size_keeps_the_invariants(policy: str) -> None:
    for cap in CAPS:
        cache: OptimizedLRU[int, int] = OptimizedLRU(cap, policy=policy)
        fill(cache, range(cap + 3))
        assert len(cache) == cap
        cache.resize(cap // 2 + 1)
        cache._check()
        fill(cache, range(1000, 1000 + cap))
        cache.resize(2 * cap + 1)
        cache._check()
        fill(cache, range(2000, 2000 + 2 * cap + 1))
        assert len(cache) == 2 * cap + 1
        cache.clear()
        cache._check()
        fill(cache, range(3000, 3000 + cap))
        assert len(cache) == cap and all(cache.peek(k) == k for k in range(3000, 3000 + cap))


@pytest.mark.parametrize("cap", [1, 2, 3, 4, 5, 11, 12, 97, 683, 684])
def test_growth_with_ttl_and_weight(cap: int) -> None:
    now = [0.0]
    cache: OptimizedLRU[int, int] = OptimizedLRU(
        cap, ttl=5.0, max_weight=3 * cap, size_of=lambda k, v: k % 3 + 1, policy="tinylfu",
        timer=lambda: now[0])
    for k in range(4 * cap):
        cache.set(k, k, ttl=None if k % 4 else 1.0)
        now[0] += 0.01
        cache._check()
    assert sum(k % 3 + 1 for k in cache.keys()) <= 3 * cap
    now[0] += 10.0  # everything expires
    assert len(cache) == 0
    cache.resize(cap + 7)
    fill(cache, range(cap + 7))
    cache._check()
