"""policy="sieve" (csrc/policies/sieve.c), the third policy: exact against a Python SIEVE (keys
-1 and -2 share a hash; deletes included, re-sets of a deleted hand's key among them), and
the property SIEVE is for (entries read since the hand last passed survive a scan). The generic
stateful machine covers TTL, weights, callbacks and resize (test_lru_stateful.SieveMachine)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from defiperf.structures import OptimizedLRU


class SieveModel:
    """SIEVE as its paper states it: a FIFO queue (newest first), a visited bit per entry, a
    hand that moves from the oldest entry towards the newest, clearing bits, and evicts the
    first entry it finds unvisited, then rests on the next newer one."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.queue: list[int] = []  # index 0 = newest
        self.visited: dict[int, bool] = {}
        self.hand: int | None = None
        self.evicted: list[int] = []

    def get(self, key: int) -> bool:
        if key in self.visited:
            self.visited[key] = True
            return True
        return False

    def set(self, key: int) -> None:
        if key in self.visited:
            self.visited[key] = True
            return
        if len(self.queue) == self.cap:
            self._evict()
        self.queue.insert(0, key)
        self.visited[key] = False

    def delete(self, key: int) -> None:
        """The paper moves the hand on; ours restarts from the oldest (sieve.c says why)."""
        if key in self.visited:
            self.queue.remove(key)
            del self.visited[key]
            if self.hand == key:
                self.hand = None

    def _evict(self) -> None:
        i = self.queue.index(self.hand) if self.hand in self.visited else len(self.queue) - 1
        while self.visited[self.queue[i]]:
            self.visited[self.queue[i]] = False
            i = i - 1 if i > 0 else len(self.queue) - 1
        victim = self.queue.pop(i)
        del self.visited[victim]
        self.hand = self.queue[i - 1] if i > 0 else None
        self.evicted.append(victim)


ops = st.lists(st.tuples(st.sampled_from(["get", "set", "set", "delete"]), st.integers(-3, 30)),
               max_size=300)


@settings(max_examples=300)
@given(cap=st.integers(1, 12), ops=ops)
def test_sieve_matches_the_model(cap: int, ops: list[tuple[str, int]]) -> None:
    evicted: list[int] = []
    cache = OptimizedLRU(cap, policy="sieve", on_evict=lambda k, v, r: r == "size" and evicted.append(k))
    model = SieveModel(cap)
    for op, key in ops:
        if op == "get":
            assert (cache.get(key) is not None) == model.get(key)
        elif op == "delete":
            cache.delete(key)
            model.delete(key)
        else:
            cache[key] = key
            model.set(key)
        assert evicted == model.evicted
        assert cache.keys() == model.queue  # FIFO order, newest first: hits do not move
    cache._check()


def test_entries_read_since_the_hand_passed_survive_a_scan() -> None:
    for policy, kept_at_least in (("lru", 0), ("sieve", 100)):
        cache = OptimizedLRU(200, policy=policy)
        hot = range(100)
        for k in hot:
            cache[k] = k
        for k in hot:
            cache.get(k)
        for k in range(1000, 1150):  # a scan of 150 one-time keys
            cache[k] = k
        kept = sum(k in cache for k in hot)
        assert kept >= kept_at_least if policy == "sieve" else kept < 100, (policy, kept)


def test_a_deleted_hand_restarts_from_the_oldest() -> None:
    """The hand rests on the entry after a victim. If that entry is deleted and its slot reused
    by the next insert, the hand must not start at that newest entry (and evict it)."""
    cache = OptimizedLRU(4, policy="sieve")
    for k in range(4):
        cache[k] = k
    cache[4] = 4  # evicts 0; the hand rests on 1
    assert 0 not in cache
    del cache[1]
    cache[5] = 5  # takes 1's slot (the cache had room)
    cache[6] = 6  # full: the search starts from the oldest (2), not from 5
    assert 5 in cache and 2 not in cache
    assert cache.keys() == [6, 5, 4, 3]
    cache._check()


@pytest.mark.parametrize("op", ["none", "resize_same", "resize_up", "copy"])
def test_visited_entries_stay_visited_through_resize_and_copy(op: str) -> None:
    cache = OptimizedLRU(4, policy="sieve")
    for k in range(4):
        cache[k] = k
    cache.get(0)  # visited: kept over the next one-time key
    if op == "resize_same":
        cache.resize(4)
    elif op == "resize_up":
        cache.resize(5)
        cache[99] = 99
    elif op == "copy":
        cache = cache.copy()
    cache[10] = 10
    assert 0 in cache and 1 not in cache, cache.keys()


def test_a_reset_hand_key_is_not_evicted_at_once() -> None:
    """The hand's entry deleted and the same key (or one of equal hash) set again in its slot:
    the next eviction must not take that newest entry."""
    for again in (1, -2):
        cache = OptimizedLRU(4, policy="sieve")
        keys = [0, 1, 2, 3] if again == 1 else [10, -1, 12, 13]
        for k in keys:
            cache[k] = k
        cache[4] = 4  # evicts keys[0]; the hand rests on keys[1]
        del cache[keys[1]]
        cache[again] = again  # into the hand's old slot, with the same hash
        cache[5] = 5  # full: the search starts from the oldest, not from `again`
        assert again in cache, (again, cache.keys())
        assert keys[2] not in cache
