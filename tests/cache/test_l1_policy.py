"""The L1's default policy is W-TinyLFU: a burst of one-off keys (a scan, a crawler, a batch
job reading everything once) passes through L1 without pushing out the keys read all along, so
they stay served from memory instead of going back to Redis, disk or the loader. With
``l1_policy="lru"`` the same burst evicts them all (the contrast, and the opt-out, are tested)."""

from __future__ import annotations

import uuid

import pytest

from defiperf.cache import CacheConfig, SyncCacheManager
from scan_burst import HOT, reloads_after_a_scan


def test_default_l1_keeps_the_hot_keys_through_a_scan() -> None:
    reloaded, _, policy = reloads_after_a_scan(l1_max_entries=1000)
    assert policy == "tinylfu"
    # Measured: 10. The hot keys that sat in the 1% window when the burst began end up oldest in
    # probation, and go when the hill climber grows the window during the burst (the window
    # grows by evicting main's oldest; docs/hit-rate.md, "Window growth", says why).
    assert reloaded <= HOT // 10, f"{reloaded} of {HOT} hot keys had to be loaded again"


def test_lru_l1_is_still_available_and_loses_them() -> None:
    reloaded, _, policy = reloads_after_a_scan(l1_max_entries=1000, l1_policy="lru")
    assert policy == "lru"
    assert reloaded == HOT  # the contrast the default exists for


@pytest.mark.parametrize("policy", ["lru", "tinylfu", "sieve"])
def test_every_policy_is_accepted(policy: str) -> None:
    config = CacheConfig(namespace="q" + uuid.uuid4().hex[:8], disk_enabled=False,
                         l1_policy=policy)
    with SyncCacheManager(config) as cache:
        cache.set("k", 1)
        assert cache.get("k") == 1
        assert cache.l1 is not None and cache.l1.lru.policy == policy
