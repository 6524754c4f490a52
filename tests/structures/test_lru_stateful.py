"""OptimizedLRU against tests/reference.LRUModel, one random operation at a time."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from defiperf.structures import OptimizedLRU
from reference import LRUModel, TinyLFUModel


class Collider:
    """A key whose hash collides on purpose, to exercise probing and backward-shift deletion."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __hash__(self) -> int:
        return self.n % 3

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Collider) and other.n == self.n

    def __repr__(self) -> str:
        return f"Collider({self.n})"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


KEYS = st.one_of(st.integers(0, 12), st.builds(Collider, st.integers(0, 8)),
                 st.sampled_from(["a", "b", "token:1"]))
VALUES = st.integers(0, 50)
TTLS = st.one_of(st.none(), st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0, float("inf")]))


def weight_of(key: Any, value: int) -> int:
    return value % 7


class LRUMachine(RuleBasedStateMachine):
    @initialize(max_size=st.one_of(st.integers(1, 8), st.integers(9, 24)),  # grows past 4 slots
                ttl=st.sampled_from([None, 1.0, 3.0]),
                weighted=st.booleans())
    def setup(self, max_size: int, ttl: float | None, weighted: bool) -> None:
        self.clock = Clock()
        self.log: list[tuple[Any, Any, str]] = []
        kwargs: dict[str, Any] = {}
        if weighted:
            kwargs = {"max_weight": 15, "size_of": weight_of}
        self.cache = OptimizedLRU(max_size, ttl, timer=self.clock,
                                  on_evict=lambda k, v, r: self.log.append((k, v, r)), **kwargs)
        self.model = LRUModel(max_size, ttl, self.clock, max_weight=kwargs.get("max_weight"),
                              size_of=kwargs.get("size_of"))

    def _sync_events(self, before: int, unordered: bool = False) -> list[Any]:
        """Compare what on_evict saw with what the model logged; return the evicted keys."""
        got = self.log[before:]
        want = self.model.events[before:]
        if unordered:
            assert sorted(map(repr, got)) == sorted(map(repr, want))
        else:
            assert got == want
        return [k for k, _, _ in got]

    def _evicted_keys(self, before: int) -> list[Any]:
        return [k for k, _, r in self.log[before:] if r in ("size", "expired")]

    @rule(key=KEYS, value=VALUES, ttl=TTLS)
    def set(self, key: Any, value: int, ttl: float | None) -> None:
        before = len(self.log)
        try:
            self.cache.set(key, value, ttl=ttl)
        except ValueError:
            with_error = True
        else:
            with_error = False
        if with_error:
            assert len(self.log) == before
            try:
                self.model.set(key, value, ttl, [])
            except ValueError:
                return
            raise AssertionError("the cache refused a set the model accepted")
        replaced = 1 if key in self.model.od else 0  # its event comes first, then evictions
        self.model.set(key, value, ttl, self._evicted_keys(before + replaced))
        self._sync_events(before)

    @rule(key=KEYS)
    def get(self, key: Any) -> None:
        before = len(self.log)
        found, value = self.model.get(key)
        got = self.cache.get(key, "missing")
        assert got == (value if found else "missing")
        self._sync_events(before)

    @rule(key=KEYS)
    def peek_and_contains(self, key: Any) -> None:
        found, value = self.model.peek(key)
        assert (key in self.cache) == found
        assert self.cache.peek(key, "missing") == (value if found else "missing")

    @rule(key=KEYS)
    def delete(self, key: Any) -> None:
        before = len(self.log)
        found, _ = self.model.delete(key)
        assert self.cache.delete(key) == found
        self._sync_events(before)

    @rule()
    def popitem(self) -> None:
        before = len(self.log)
        want = self.model.popitem()
        try:
            got = self.cache.popitem()
        except KeyError:
            got = None
        assert got == want
        self._sync_events(before)

    @rule(dt=st.sampled_from([0.25, 0.5, 1.0, 2.0]))
    def tick(self, dt: float) -> None:
        self.clock.now += dt

    @rule()
    def expire(self) -> None:
        before = len(self.log)
        assert self.cache.expire() == self.model.expire()
        self._sync_events(before, unordered=True)

    @rule(new_size=st.integers(1, 24))
    def resize(self, new_size: int) -> None:
        before = len(self.log)
        self.cache.resize(new_size)
        self.model.resize(new_size, self._evicted_keys(before))
        self._sync_events(before)

    @precondition(lambda self: len(self.model.od) > 0)
    @rule()
    def clear(self) -> None:
        before = len(self.log)
        self.cache.clear()
        self.model.clear()
        self._sync_events(before, unordered=True)

    @rule(key=KEYS)
    def access_count(self, key: Any) -> None:
        entry = self.model.od.get(key)
        live = entry is not None and entry.expires_ns > self.model.now_ns()
        assert self.cache.access_count(key) == (entry.hits if live else 0)

    @rule(n=st.integers(0, 5))
    def hot_keys(self, n: int) -> None:
        got = self.cache.hot_keys(n)
        now = self.model.now_ns()
        live = {repr(k): e.hits for k, e in self.model.od.items() if e.expires_ns > now}
        assert len(got) == min(n, len(live))
        counts = [live[repr(k)] for k in got]
        assert counts == sorted(counts, reverse=True)
        assert counts == sorted(live.values(), reverse=True)[: len(got)]

    @invariant()
    def same_contents(self) -> None:
        if not hasattr(self, "cache"):
            return
        self.cache._check()
        assert self.cache.keys() == self.model.live_keys_mru_first()
        assert len(self.cache) == len(self.model.live_keys_mru_first())
        assert len(self.cache) <= self.cache.max_size
        assert self.cache.total_weight == self.model.total_weight()
        s = self.cache.stats()
        assert (s.hits, s.misses, s.evictions, s.expirations) == (
            self.model.hits, self.model.misses, self.model.evictions, self.model.expirations)


TestLRUMachine = LRUMachine.TestCase
TestLRUMachine.settings = settings(stateful_step_count=60)


class TinyLFUMachine(LRUMachine):
    """The same operations under policy="tinylfu": sizes, TTL, weights, values, callbacks and
    stats are checked exactly; which entry is evicted is the policy's choice."""

    POLICY = "tinylfu"

    @initialize(max_size=st.one_of(st.integers(1, 8), st.integers(9, 24)),  # grows past 4 slots
                ttl=st.sampled_from([None, 1.0, 3.0]),
                weighted=st.booleans())
    def setup(self, max_size: int, ttl: float | None, weighted: bool) -> None:
        self.clock = Clock()
        self.log = []
        kwargs: dict[str, Any] = {}
        if weighted:
            kwargs = {"max_weight": 15, "size_of": weight_of}
        self.cache = OptimizedLRU(max_size, ttl, timer=self.clock, policy=self.POLICY,
                                  on_evict=lambda k, v, r: self.log.append((k, v, r)), **kwargs)
        self.model = TinyLFUModel(max_size, ttl, self.clock, max_weight=kwargs.get("max_weight"),
                                  size_of=kwargs.get("size_of"))

    @rule()
    def popitem(self) -> None:
        before = len(self.log)
        try:
            got = self.cache.popitem()
        except KeyError:
            got = None
        now = self.model.now_ns()
        for key, value, reason in self.log[before:]:
            entry = self.model.od.get(key)
            assert entry is not None and entry.value == value
            assert reason == ("expired" if entry.expires_ns <= now else "deleted")
            self.model._remove(key, reason)
        assert self.log[before:] == self.model.events[before:]
        if got is None:
            assert not self.model.live_keys_mru_first()
        else:
            assert self.log[-1][:2] == got

    @rule()
    def list_contents(self) -> None:
        """keys()/values() apply the pending buffered hits first; they must list the model's."""
        live = self.model.live_keys_mru_first()
        assert sorted(map(repr, self.cache.keys())) == sorted(map(repr, live))
        assert dict(zip(map(repr, self.cache.keys()), self.cache.values())) == {
            repr(k): self.model.od[k].value for k in live}
        self.cache._check()

    @invariant()
    def same_contents(self) -> None:
        """Checked without listing, so that buffered hits stay pending across steps (their
        slots deleted, evicted or reused meanwhile) until the buffer fills or a rule drains it."""
        if not hasattr(self, "cache"):
            return
        self.cache._check()
        live = self.model.live_keys_mru_first()
        for key in live:
            assert key in self.cache
            assert self.cache.peek(key, "missing") == self.model.od[key].value
        assert len(self.cache) == len(live) <= self.cache.max_size
        assert self.cache.total_weight == self.model.total_weight()
        s = self.cache.stats()
        assert (s.hits, s.misses, s.evictions, s.expirations) == (
            self.model.hits, self.model.misses, self.model.evictions, self.model.expirations)


TestTinyLFUMachine = TinyLFUMachine.TestCase
TestTinyLFUMachine.settings = settings(stateful_step_count=60)


class SieveMachine(TinyLFUMachine):
    """The same under policy="sieve" (its exact eviction order: test_lru_sieve.py)."""

    POLICY = "sieve"


TestSieveMachine = SieveMachine.TestCase
TestSieveMachine.settings = settings(stateful_step_count=60)
