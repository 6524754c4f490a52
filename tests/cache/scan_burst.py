"""The burst the L1 policy tests run: hot keys read all along, one-off keys, the hot keys again."""

from __future__ import annotations

import uuid
from typing import Any

from defiperf.cache import CacheConfig, SyncCacheManager

HOT, SCAN = 200, 5000


def reloads_after_a_scan(**config: Any) -> tuple[int, int, str]:
    """Read HOT keys 20 times each, SCAN one-off keys once, then the HOT keys again through a
    SyncCacheManager with ``config`` (no disk tier, no TTL): how many of that last round went to
    the loader, how many entries the L1 held, and its policy."""
    loads: list[str] = []

    def loader(key: str) -> str:
        loads.append(key)
        return key.upper()

    config.setdefault("default_ttl_s", None)
    with SyncCacheManager(CacheConfig(namespace="p" + uuid.uuid4().hex[:8], disk_enabled=False,
                                      **config)) as cache:
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
        return len(loads) - before, len(cache.l1), cache.l1.lru.policy
