"""SmartCacheManager: L1 memory / L2 Redis / L3 disk, single flight, stale-while-revalidate,
priority warming, refresh-ahead, cross-process invalidation."""

from __future__ import annotations

from defiperf.cache.config import DEFAULT_CACHE_CONFIG as DEFAULT_CACHE_CONFIG
from defiperf.cache.config import CacheConfig as CacheConfig
from defiperf.cache.envelope import Entry as Entry
from defiperf.cache.manager import SmartCacheManager as SmartCacheManager
from defiperf.cache.serialization import SerializationError as SerializationError
from defiperf.cache.serialization import Serializer as Serializer
from defiperf.cache.tiers import DiskTier as DiskTier
from defiperf.cache.tiers import MemoryTier as MemoryTier
from defiperf.cache.tiers import RedisTier as RedisTier
from defiperf.cache.tiers import TierError as TierError

__all__ = [
    "DEFAULT_CACHE_CONFIG",
    "CacheConfig",
    "DiskTier",
    "Entry",
    "MemoryTier",
    "RedisTier",
    "SerializationError",
    "Serializer",
    "SmartCacheManager",
    "TierError",
]
