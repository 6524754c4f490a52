"""FrequencySketch against exact counts: never under before a halving, halving, accuracy."""

from __future__ import annotations

import doctest
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import defiperf.structures.sketch as sketch_module
from defiperf.structures import FrequencySketch

pytestmark = pytest.mark.usefixtures("refcount_guard")


@given(st.lists(st.integers(0, 50), max_size=300), st.integers(16, 200))
def test_estimates_never_fall_below_true_counts_before_a_halving(keys: list[int],
                                                                 capacity: int) -> None:
    s = FrequencySketch(capacity)
    for k in keys:
        s.increment(k)
    counts = Counter(keys)
    if s.resets == 0:
        for k, n in counts.items():
            assert s.estimate(k) >= min(n, 15)
    assert all(0 <= s.estimate(k) <= 15 for k in range(60))


def test_halving_keeps_ranks_and_fades_old_counts() -> None:
    s = FrequencySketch(1000)
    for _ in range(12):
        s.increment("hot")
    for _ in range(4):
        s.increment("warm")
    assert (s.estimate("hot"), s.estimate("warm")) == (12, 4)
    s.halve()
    assert (s.estimate("hot"), s.estimate("warm"), s.resets) == (6, 2, 1)
    s.clear()
    assert s.estimate("hot") == 0


def test_automatic_halving_after_sample_size() -> None:
    s = FrequencySketch(100)
    assert s.sample_size == 1000 and s.width >= 100
    for i in range(s.sample_size):
        s.increment(i % 500)
    assert s.resets == 1


def test_ranks_a_zipf_stream_like_the_exact_counts() -> None:
    rng = np.random.default_rng(3)
    stream = rng.zipf(1.2, 5000) % 10_000
    s = FrequencySketch(2000)
    for k in stream.tolist():
        s.increment(k)
    exact = Counter(stream.tolist())
    top = [k for k, _ in exact.most_common(20)]
    rare = [k for k in range(10_000) if exact[k] == 0][:200]
    assert np.mean([s.estimate(k) for k in top]) > 10
    assert np.mean([s.estimate(k) for k in rare]) < 1  # few collisions at one counter per key


def test_bad_capacity_and_doctests() -> None:
    for bad, exc in [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(exc, match="capacity"):
            FrequencySketch(bad)
    with pytest.raises(TypeError):
        FrequencySketch(10).increment([1])
    result = doctest.testmod(sketch_module)
    assert result.failed == 0 and result.attempted > 0
