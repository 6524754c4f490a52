"""Synthetic traces, generated deterministically from a seed: workloads the public traces lack.

Each generator returns an int64 numpy array of keys; the same arguments always give the same
trace (numpy's PCG64 generator). ``SYNTHETIC`` names the ones the simulator replays by default,
at lengths that keep a full table quick.

- ``recency``: reads whose reuse distance is short and heavy-tailed (an ORM session or a request
  log: what was just read is read again soon), plus one-hit keys; frequency adds little to
  recency here, so a policy that trusts its sketch too much loses to LRU.
- ``reuse_twice``: every key read exactly twice, 100-400 keys apart: only a window at least as
  large as the reuse distance hits; the sketch cannot tell keys apart.
- ``moving_hot``: Zipf(1.0) phases over 5,000 keys, each phase shifted by 3,000 keys: the hot
  set moves, and stale counts must fade.
- ``scan_loop``: a Zipf hot set interrupted by one-time scans and by a loop over more keys than
  small caches hold: LRU's worst case, where frequency wins.
- ``drift``: Zipf(0.8) over a large catalogue whose ranking drifts a little every block (a
  recommendation feed): both recency and frequency matter.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _zipf_ranks(rng: np.random.Generator, n_keys: int, n_reads: int, alpha: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n_keys + 1) ** alpha
    return rng.choice(n_keys, n_reads, p=weights / weights.sum())


def recency(n_reads: int = 200_000, seed: int = 1) -> np.ndarray:
    """Half the reads a new key; the rest re-read the key read d reads ago, d ~ Pareto(1.2)."""
    rng = np.random.default_rng(seed)
    new = rng.random(n_reads) < 0.5
    back = np.minimum((rng.pareto(1.2, n_reads) * 4).astype(np.int64) + 1, n_reads)
    keys = np.empty(n_reads, dtype=np.int64)
    next_key = 0
    for i in range(n_reads):  # each read may copy an earlier one: sequential by nature
        if new[i] or back[i] > i:
            keys[i] = next_key
            next_key += 1
        else:
            keys[i] = keys[i - back[i]]
    return keys


def reuse_twice(n_keys: int = 60_000, seed: int = 1) -> np.ndarray:
    """Every key read twice, the second time 100-400 keys after the first."""
    rng = np.random.default_rng(seed)
    first = np.arange(n_keys) * 2
    second = first + 2 * rng.integers(100, 401, n_keys) + 1
    times = np.concatenate([first, second])
    keys = np.concatenate([np.arange(n_keys), np.arange(n_keys)])
    return keys[np.argsort(times, kind="stable")].astype(np.int64)


def moving_hot(n_phases: int = 6, seed: int = 1) -> np.ndarray:
    """Phases of 30,000 Zipf(1.0) reads over 5,000 keys, each shifted by 3,000 keys."""
    rng = np.random.default_rng(seed)
    phases = [rng.permutation(5_000)[_zipf_ranks(rng, 5_000, 30_000, 1.0)] + 3_000 * phase
              for phase in range(n_phases)]
    return np.concatenate(phases).astype(np.int64)


def scan_loop(n_blocks: int = 20, seed: int = 1) -> np.ndarray:
    """Blocks of 5,000 Zipf(0.9) reads over 2,000 hot keys, each followed in turn by a scan of
    2,000 never-seen keys or by two passes of a loop over 3,000 keys."""
    rng = np.random.default_rng(seed)
    parts, fresh = [], 10_000
    loop = np.arange(5_000, 8_000)
    for block in range(n_blocks):
        parts.append(_zipf_ranks(rng, 2_000, 5_000, 0.9))
        if block % 2 == 0:
            parts.append(np.arange(fresh, fresh + 2_000))
            fresh += 2_000
        else:
            parts.append(np.concatenate([loop, loop]))
    return np.concatenate(parts).astype(np.int64)


def drift(n_blocks: int = 40, seed: int = 1) -> np.ndarray:
    """Blocks of 5,000 Zipf(0.8) reads over 20,000 items; after each block 2% of the ranking
    is swapped with random items, so popularity drifts."""
    rng = np.random.default_rng(seed)
    ranking = rng.permutation(20_000)
    parts = []
    for _ in range(n_blocks):
        parts.append(ranking[_zipf_ranks(rng, 20_000, 5_000, 0.8)])
        i, j = rng.integers(0, 20_000, (2, 400))
        ranking[i], ranking[j] = ranking[j], ranking[i]
    return np.concatenate(parts).astype(np.int64)


SYNTHETIC: dict[str, Callable[[], np.ndarray]] = {
    "recency": recency,
    "reuse_twice": reuse_twice,
    "moving_hot": moving_hot,
    "scan_loop": scan_loop,
    "drift": drift,
}
