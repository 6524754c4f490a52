"""Synthetic traces are deterministic and have the shape their docstrings promise."""

from __future__ import annotations

import numpy as np
import pytest

from defiperf.simulate import SYNTHETIC
from defiperf.simulate.synthetic import moving_hot, recency, reuse_twice, scan_loop


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_deterministic_int64(name: str) -> None:
    first, again = SYNTHETIC[name](), SYNTHETIC[name]()
    assert first.dtype == np.int64 and len(first) > 10_000
    assert np.array_equal(first, again)


def test_seed_changes_the_trace() -> None:
    assert not np.array_equal(recency(5_000, seed=1), recency(5_000, seed=2))


def test_reuse_twice_reads_each_key_twice_100_to_400_keys_apart() -> None:
    trace = reuse_twice(2_000, seed=3)
    keys, counts = np.unique(trace, return_counts=True)
    assert len(keys) == 2_000 and set(counts.tolist()) == {2}
    is_first = np.zeros(len(trace), dtype=bool)
    is_first[np.unique(trace, return_index=True)[1]] = True
    for key in keys[:1_600:97].tolist():  # the last 400 keys run out of new keys
        first, second = np.flatnonzero(trace == key)
        assert 100 <= is_first[first + 1:second].sum() <= 400  # new keys read in between


def test_recency_rereads_recent_keys() -> None:
    trace = recency(20_000, seed=1)
    new = np.concatenate([[True], trace[1:] > np.maximum.accumulate(trace)[:-1]])
    assert 0.4 < new.mean() < 0.6  # half the reads are first reads


def test_moving_hot_and_scan_loop_shapes() -> None:
    hot = moving_hot(n_phases=2, seed=1)
    assert len(hot) == 60_000 and hot[:30_000].max() < 5_000 <= hot[30_000:].max()
    mixed = scan_loop(n_blocks=2, seed=1)
    assert len(mixed) == 2 * 5_000 + 2_000 + 6_000
    assert np.array_equal(mixed[5_000:7_000], np.arange(10_000, 12_000))  # the first scan
