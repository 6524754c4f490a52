"""W-TinyLFU's frozen main region (csrc/policies/tinylfu.h, DP_TINYLFU_REACH_MARGIN) must not
outlive the workload that froze it. The freeze leaves only two ways out: the TinyLFU shadow
beating the LRU shadow (a frequency-skewed trace), or the LRU shadow beating us by 30% of the
sampled reads. A working set a few times the cache with flat popularity takes neither: both
shadows hit it alike, and the LRU shadow's lead over our small window stays under 30%, so the
main region kept the previous phase's keys for good (hit rate a third of LRU's, permanently).
Now a frozen main region that earns under 1/16 of a counting period's hits makes the cache plain
LRU (DP_TINYLFU_FROZEN_IDLE_DIV)."""

from __future__ import annotations

import random

from defiperf.structures.lru import OptimizedLRU

CAP = 1000


def _read(cache: OptimizedLRU, key: int) -> int:
    """A read-through: 1 on a hit, else the key is loaded and 0."""
    if cache.get(key) is None:
        cache[key] = key
        return 0
    return 1


def _recency_then_flat(cache: OptimizedLRU, n_flat: int) -> float:
    """Each key re-read 30 new keys later (the shadows' verdict freezes the main region), then
    uniform reads over 3,000 other keys; the hit rate of the last 100,000."""
    froze = False
    for k in range(1, 20001):
        _read(cache, k)
        if k > 30:
            _read(cache, k - 30)
        if k % 50 == 0:
            froze = froze or CAP // 10 < cache._segments()["window_max"] < CAP // 2
    if cache.policy == "tinylfu":  # the precondition: half-way to LRU, the main region frozen
        assert froze
    rng = random.Random(1)
    hits = 0
    for i in range(n_flat):
        hit = _read(cache, 10**6 + rng.randrange(3000))
        if i >= n_flat - 100_000:
            hits += hit
    cache._check()
    return hits / 100_000


def test_a_frozen_main_region_thaws_on_a_flat_working_set() -> None:
    lru = _recency_then_flat(OptimizedLRU(CAP, policy="lru"), 400_000)
    tinylfu = _recency_then_flat(OptimizedLRU(CAP, policy="tinylfu"), 400_000)
    # Any policy that keeps a full cache of this set hits about a third of the reads (LRU and a
    # fresh W-TinyLFU both do); 300 cache turnovers are ample to get there.
    assert lru > 0.3
    assert tinylfu > 0.9 * lru, (tinylfu, lru)
