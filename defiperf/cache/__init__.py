"""SmartCacheManager (async) and SyncCacheManager (threads): L1 memory / L2 Redis / L3 disk,
single flight, stale-while-revalidate, priority warming, refresh-ahead, tags, cross-process
invalidation."""

from __future__ import annotations

from defiperf.cache.cached import CacheInfo as CacheInfo
from defiperf.cache.cached import CachedFunction as CachedFunction
from defiperf.cache.config import DEFAULT_CACHE_CONFIG as DEFAULT_CACHE_CONFIG
from defiperf.cache.config import CacheConfig as CacheConfig
from defiperf.cache.disk import DiskTier as DiskTier
from defiperf.cache.envelope import Entry as Entry
from defiperf.cache.errors import CacheClosedError as CacheClosedError
from defiperf.cache.errors import LoopThreadError as LoopThreadError
from defiperf.cache.errors import ReentrantLoadError as ReentrantLoadError
from defiperf.cache.errors import SerializationError as SerializationError
from defiperf.cache.errors import TierError as TierError
from defiperf.cache.manager import SmartCacheManager as SmartCacheManager
from defiperf.cache.memory import MemoryTier as MemoryTier
from defiperf.cache.redis_tier import RedisTier as RedisTier
from defiperf.cache.redis_tier import SyncRedisTier as SyncRedisTier
from defiperf.cache.serialization import Serializer as Serializer
from defiperf.cache.sync_manager import SyncCacheManager as SyncCacheManager
from defiperf.cache.ttl import DEFAULT as DEFAULT

__all__ = [
    "DEFAULT",
    "DEFAULT_CACHE_CONFIG",
    "CacheClosedError",
    "CacheConfig",
    "CacheInfo",
    "CachedFunction",
    "DiskTier",
    "Entry",
    "LoopThreadError",
    "MemoryTier",
    "RedisTier",
    "ReentrantLoadError",
    "SerializationError",
    "Serializer",
    "SmartCacheManager",
    "SyncCacheManager",
    "SyncRedisTier",
    "TierError",
]
