"""The L1's default policy is W-TinyLFU: a burst of one-off keys (a scan, a crawler, a batch
job reading everything once) passes through L1 without pushing out the keys read all along, so
they stay served from memory instead of going back to Redis, disk or the loader. With
``l1_policy="lru"`` the same burst evicts them all (the contrast, and the opt-out, are tested)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from defiperf.cache import CacheConfig, SyncCacheManager

HOT, CAP, SCAN = 200, 1000, 5000


def reloads_after_a_scan(tmp_path: Path, **kw: Any) -> tuple[int, str]:
    """Read HOT keys 20 times each, read SCAN one-off keys once, then the HOT keys again:
    how many of that last round went to the loader, and the L1's policy."""
    loads: list[str] = []

    def loader(key: str) -> str:
        loads.append(key)
        return key.upper()

    config = CacheConfig(namespace="p" + uuid.uuid4().hex[:8], disk_enabled=False,
                         l1_max_entries=CAP, default_ttl_s=None, **kw)
    with SyncCacheManager(config) as cache:
        for _ in range(20):
            for i in range(HOT):
                assert cache.get_or_set(f"hot{i}", loader) == f"HOT{i}"
        for i in range(SCAN):
            assert cache.get_or_set(f"scan{i}", loader) == f"SCAN{i}"
        assert len(loads) == HOT + SCAN  # each key loaded once so far
        before = len(loads)
        for i in range(HOT):
            assert cache.get_or_set(f"hot{i}", loader) == f"HOT{i}"
        assert cache.l1 is not None
        return len(loads) - before, cache.l1.lru.policy


def test_default_l1_keeps_the_hot_keys_through_a_scan(tmp_path: Path) -> None:
    reloaded, policy = reloads_after_a_scan(tmp_path)
    assert policy == "tinylfu"
    # Measured: 10. The hot keys that sat in the 1% window when the burst began end up oldest in
    # probation, and go when the hill climber grows the window during the burst (the window
    # grows by evicting main's oldest; docs/hit-rate.md, "Window growth", says why).
    assert reloaded <= HOT // 10, f"{reloaded} of {HOT} hot keys had to be loaded again"


def test_lru_l1_is_still_available_and_loses_them(tmp_path: Path) -> None:
    reloaded, policy = reloads_after_a_scan(tmp_path, l1_policy="lru")
    assert policy == "lru"
    assert reloaded == HOT  # the contrast the default exists for


@pytest.mark.parametrize("policy", ["lru", "tinylfu", "sieve"])
def test_every_policy_is_accepted(tmp_path: Path, policy: str) -> None:
    config = CacheConfig(namespace="q" + uuid.uuid4().hex[:8], disk_enabled=False,
                         l1_policy=policy)
    with SyncCacheManager(config) as cache:
        cache.set("k", 1)
        assert cache.get("k") == 1
        assert cache.l1 is not None and cache.l1.lru.policy == policy
