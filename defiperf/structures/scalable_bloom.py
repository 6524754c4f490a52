"""ScalableBloomFilter: a chain of BloomFilters that keeps its error bound as the stream grows.

Almeida, Baquero, Preguiça and Hutchison (2007), "Scalable Bloom Filters": filter i is sized
for ``initial_capacity * growth**i`` keys at ``error_rate * (1 - r) * r**i`` (r = 0.5), so
the compound false-positive rate stays below ``error_rate`` however many filters are added.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from defiperf.structures.bloom import BloomFilter

TIGHTENING = 0.5


class ScalableBloomFilter:
    """ScalableBloomFilter(initial_capacity, error_rate=0.01, growth=2, *, seed=0)

    Set-like and append-only, for deduplicating streams of unknown size. Same key types as
    :class:`BloomFilter`. ``len()`` is the number of keys that were new when added.

    Thread safety: every method holds one lock for its whole run, so ``add`` racing ``clear``
    (or another ``add`` growing the chain) from other threads is safe and each is atomic.

    >>> seen = ScalableBloomFilter(100, 0.01)
    >>> new = seen.add_many(range(1000))  # grows past its first filter
    >>> seen.filter_count > 1, all(i in seen for i in range(1000)), "0xnew" in seen
    (True, True, False)
    """

    def __init__(self, initial_capacity: int, error_rate: float = 0.01, growth: int = 2, *,
                 seed: int = 0) -> None:
        if isinstance(error_rate, bool) or not isinstance(error_rate, (int, float)):
            raise TypeError(f"error_rate must be a float, not {type(error_rate).__name__}")
        if not 0.0 < error_rate < 1.0:  # also rejects NaN
            raise ValueError(f"error_rate must be in (0, 1), got {error_rate!r}")
        BloomFilter(initial_capacity, error_rate * (1 - TIGHTENING), seed=seed)  # validates
        if isinstance(growth, bool) or not isinstance(growth, int):
            raise TypeError(f"growth must be an int, not {type(growth).__name__}")
        if growth < 2:
            raise ValueError(f"growth must be >= 2, got {growth}")
        self.initial_capacity = initial_capacity
        self.error_rate = error_rate
        self.growth = growth
        self.seed = seed
        self._lock = threading.RLock()
        self._filters: list[BloomFilter] = []
        self._counts: list[int] = []
        self._add_filter()

    def _add_filter(self) -> None:
        i = len(self._filters)
        capacity = self.initial_capacity * self.growth**i
        rate = self.error_rate * (1 - TIGHTENING) * TIGHTENING**i
        self._filters.append(BloomFilter(capacity, rate, seed=self.seed))
        self._counts.append(0)

    def add(self, key: Any) -> bool:
        """Add ``key``; True if it was probably new."""
        with self._lock:
            if any(key in f for f in self._filters[:-1]):
                return False
            if not self._filters[-1].add(key):
                return False
            self._counts[-1] += 1
            if self._counts[-1] >= self._filters[-1].capacity:
                self._add_filter()
            return True

    def __contains__(self, key: Any) -> bool:
        with self._lock:
            return any(key in f for f in self._filters)

    def contains(self, key: Any) -> bool:
        """True if ``key`` was probably added."""
        return key in self

    def add_many(self, keys: Iterable[Any] | np.ndarray) -> np.ndarray:
        """``add`` each key in order; a numpy bool array of which were probably new."""
        with self._lock:
            return np.fromiter((self.add(k) for k in keys), dtype=np.bool_)

    def contains_many(self, keys: Iterable[Any] | np.ndarray) -> np.ndarray:
        """``contains`` for each key; a numpy bool array (bulk C loops per filter)."""
        out: np.ndarray | None = None
        if not isinstance(keys, np.ndarray):
            keys = list(keys)  # read once, though every filter tests it
        with self._lock:
            for f in self._filters:
                hit = f.contains_many(keys)
                out = hit if out is None else out | hit
        assert out is not None
        return out

    def __len__(self) -> int:
        with self._lock:
            return sum(self._counts)

    @property
    def filter_count(self) -> int:
        """How many filters the chain holds."""
        return len(self._filters)

    @property
    def bit_count(self) -> int:
        """Bits used by all the filters together."""
        with self._lock:
            return sum(f.bit_count for f in self._filters)

    @property
    def estimated_fpr(self) -> float:
        """1 - prod(1 - fpr_i): the chance that a new key is reported present now."""
        with self._lock:
            return 1.0 - math.prod(1.0 - f.estimated_fpr for f in self._filters)

    def clear(self) -> None:
        """Back to one empty filter."""
        with self._lock:
            self._filters.clear()
            self._counts.clear()
            self._add_filter()

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            state = dict(self.__dict__)
        del state["_lock"]  # a lock cannot be pickled; each copy gets its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (f"ScalableBloomFilter(initial_capacity={self.initial_capacity}, "
                f"error_rate={self.error_rate}, growth={self.growth}, len={len(self)}, "
                f"filters={self.filter_count})")
