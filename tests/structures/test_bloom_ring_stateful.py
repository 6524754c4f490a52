"""BloomFilter against a set (no false negatives, ever) and RingBuffer against a bounded list."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from defiperf import BloomFilter, BufferFull, RingBuffer
from reference import ring_stats_match

KEYS = st.one_of(st.text(max_size=8), st.binary(max_size=8), st.integers(-(2**63), 2**64 - 1))


class BloomMachine(RuleBasedStateMachine):
    @initialize(capacity=st.integers(1, 200), rate=st.sampled_from([0.1, 0.01, 0.001]),
                seed=st.integers(0, 2**64 - 1))
    def setup(self, capacity: int, rate: float, seed: int) -> None:
        self.filter = BloomFilter(capacity, rate, seed=seed)
        self.model: set[Any] = set()

    def _norm(self, key: Any) -> Any:  # str and its UTF-8 bytes are one key
        return key.encode() if isinstance(key, str) else key

    @rule(key=KEYS)
    def add(self, key: Any) -> None:
        was_new = self.filter.add(key)
        if was_new:
            assert self._norm(key) not in self.model  # "new" is never said of a present key
        self.model.add(self._norm(key))

    @rule(keys=st.lists(KEYS, max_size=10))
    def add_many(self, keys: list[Any]) -> None:
        self.filter.add_many(keys)
        self.model.update(self._norm(k) for k in keys)

    @rule(keys=st.lists(st.integers(0, 2**64 - 1), max_size=10))
    def add_many_array(self, keys: list[int]) -> None:
        self.filter.add_many(np.array(keys, dtype=np.uint64))
        self.model.update(keys)

    @rule()
    def round_trip(self) -> None:
        self.filter = BloomFilter.from_bytes(self.filter.to_bytes())

    @rule(other=st.lists(KEYS, max_size=5))
    def union_with(self, other: list[Any]) -> None:
        g = BloomFilter(self.filter.capacity, self.filter.error_rate, seed=self.filter.seed)
        g.add_many(other)
        self.filter = self.filter | g
        self.model.update(self._norm(k) for k in other)

    @rule()
    def clear(self) -> None:
        self.filter.clear()
        self.model.clear()

    @invariant()
    def no_false_negatives(self) -> None:
        if not hasattr(self, "filter"):
            return
        keys = list(self.model)
        assert all(k in self.filter for k in keys)
        assert self.filter.contains_many(keys).all() if keys else True
        if not keys:
            assert len(self.filter) == 0 and self.filter.fill_ratio == 0.0


class RingMachine(RuleBasedStateMachine):
    @initialize(capacity=st.integers(1, 12), overwrite=st.booleans())
    def setup(self, capacity: int, overwrite: bool) -> None:
        self.buf = RingBuffer(capacity, overwrite_on_full=overwrite)
        self.model: list[tuple[float, float, float]] = []
        self.capacity, self.overwrite, self.t = capacity, overwrite, 0.0

    def _store(self, rows: list[tuple[float, float, float]]) -> None:
        self.model.extend(rows)
        del self.model[: max(0, len(self.model) - self.capacity)]

    def _rows(self, n: int, dt: float, price: float) -> list[tuple[float, float, float]]:
        rows = []
        for i in range(n):
            self.t += dt
            rows.append((self.t, price + i, float(i % 3)))
        return rows

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0]), price=st.floats(-1e6, 1e6))
    def push(self, dt: float, price: float) -> None:
        (row,) = self._rows(1, dt, price)
        if not self.overwrite and len(self.model) == self.capacity:
            with pytest.raises(BufferFull):
                self.buf.push(*row)
            self.t -= dt
            return
        self.buf.push(*row)
        self._store([row])

    @rule(n=st.integers(0, 15), price=st.floats(0, 1e4))
    def push_many(self, n: int, price: float) -> None:
        t0 = self.t
        rows = self._rows(n, 1.0, price)
        if not self.overwrite and len(self.model) + n > self.capacity:
            with pytest.raises(BufferFull):
                self.buf.push_many(np.array(rows).reshape(-1, 3))
            self.t = t0
            return
        self.buf.push_many(np.array(rows).reshape(-1, 3))
        self._store(rows)

    @rule(volume=st.sampled_from([0.0, 1e-3, 0.5, 2.0, 1e9, 1e15]),
          price=st.sampled_from([2.0, 3412.5, 1e6, 1e-4]))
    def push_volume(self, volume: float, price: float) -> None:
        # Huge volumes pass through the window: the sums must not keep their rounding.
        if not self.overwrite and len(self.model) == self.capacity:
            return
        self.t += 1.0
        self.buf.push(self.t, price, volume)
        self._store([(self.t, price, volume)])

    @rule()
    def push_out_of_order(self) -> None:
        if self.model:
            with pytest.raises(ValueError):
                self.buf.push(self.t - 1.0, 1.0, 1.0)

    @rule()
    def clear(self) -> None:
        self.buf.clear()
        self.model.clear()

    @rule(n=st.integers(0, 15))
    def get_latest(self, n: int) -> None:
        got = self.buf.get_latest(n)
        want = self.model[-n:] if n else []
        assert got.tolist() == want

    @rule(t=st.floats(0, 60))
    def since(self, t: float) -> None:
        assert self.buf.since(t).tolist() == [r for r in self.model if r[0] >= t]

    @invariant()
    def same_rows_and_stats(self) -> None:
        if not hasattr(self, "buf"):
            return
        assert list(self.buf) == self.model
        assert len(self.buf) == len(self.model)
        if self.model:
            assert self.buf[-1] == self.model[-1] and self.buf[0] == self.model[0]
            prices = np.array([r[1] for r in self.model])
            assert self.buf.mean("price") == pytest.approx(prices.mean(), rel=1e-9, abs=1e-6)
            assert self.buf.var("price") == pytest.approx(prices.var(), rel=1e-6, abs=1e-3)
            ring_stats_match(self.buf, self.model)
            assert self.buf.min("price") == prices.min()
            assert self.buf.max("price") == prices.max()


TestBloomMachine = BloomMachine.TestCase
TestBloomMachine.settings = settings(stateful_step_count=40, deadline=None)
TestRingMachine = RingMachine.TestCase
TestRingMachine.settings = settings(stateful_step_count=50, deadline=None)
