"""The default L1 (W-TinyLFU) under a byte budget that binds before ``l1_max_entries``: the
scan resistance docs/cache.md ("The L1's policy", "Scans") promises holds there too, because
W-TinyLFU sizes its shares for the entries the budget holds (``OptimizedLRU._segments()``'s
``policy_cap``), not for ``max_size``. Before, a window of 1% of the default 100,000 entries held
everything a 10 KB budget did: plain LRU, 200 of 200 hot keys reloaded after the burst."""

from __future__ import annotations

import pytest

from defiperf.cache import CacheConfig
from scan_burst import HOT, reloads_after_a_scan


@pytest.mark.parametrize("budget", [3_000, 5_000, 10_000, 50_000])
def test_default_l1_keeps_the_hot_keys_through_a_scan_under_a_byte_budget(budget: int) -> None:
    reloaded, held, policy = reloads_after_a_scan(l1_max_weight_bytes=budget)
    assert policy == "tinylfu"
    assert HOT < held < CacheConfig().l1_max_entries // 10  # the budget binds, not the entry bound
    assert reloaded <= HOT // 20, f"{reloaded} of {HOT} hot keys loaded again ({held} held)"


def test_lru_under_the_same_budget_reloads_them_all() -> None:
    """The contrast the test above is measured against: the burst empties an LRU L1."""
    reloaded, held, policy = reloads_after_a_scan(l1_max_weight_bytes=10_000, l1_policy="lru")
    assert policy == "lru" and held < CacheConfig().l1_max_entries // 10
    assert reloaded >= HOT * 9 // 10, f"{reloaded} of {HOT} ({held} held)"


def test_an_entry_bound_near_what_the_budget_holds_keeps_them() -> None:
    reloaded, held, _ = reloads_after_a_scan(l1_max_weight_bytes=10_000, l1_max_entries=5_000)
    assert held < 5_000  # the budget still binds
    assert reloaded <= HOT // 20, f"{reloaded} of {HOT} hot keys loaded again ({held} held)"
