"""CacheConfig: the tiers of SmartCacheManager and how they behave, in one copyable object."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal


def _check_positive(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")


@dataclass(frozen=True)
class CacheConfig:
    """Tiers: L1 in memory (always on unless ``l1_enabled=False``), L2 Redis when ``redis_url``
    is set (``rediss://`` for TLS, AUTH in the URL; ``redis_cluster=True`` for Redis Cluster),
    L3 on disk when ``disk_enabled`` (``disk_dir=None``: a per-user cache directory).

    TTLs are seconds: ``default_ttl_s`` (None: no expiry) is how long a value is fresh;
    ``default_stale_ttl_s`` how long after that it may still be served stale while one
    background refresh runs. Keys are namespaced with ``namespace`` in every shared tier.
    """

    namespace: str = "defiperf"
    default_ttl_s: float | None = 300.0
    default_stale_ttl_s: float = 0.0
    l1_enabled: bool = True
    l1_max_entries: int = 100_000
    l1_max_weight_bytes: int | None = None
    l1_policy: Literal["lru", "tinylfu"] = "lru"
    redis_url: str | None = None
    redis_cluster: bool = False
    redis_timeout_s: float = 0.25
    redis_breaker_reset_s: float = 2.0
    invalidation: bool = True
    disk_enabled: bool = True
    disk_dir: str | None = None
    disk_size_limit_bytes: int = 1 << 30
    compress_threshold_bytes: int | None = 4096
    allow_pickle: bool = False
    use_pickle: bool = False
    warm_concurrency: int = 8
    refresh_ahead_s: float = 5.0
    refresh_check_interval_s: float = 1.0
    refresh_hot_keys: int = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or not self.namespace or ":" in self.namespace:
            raise ValueError("namespace must be a non-empty str without ':'")
        _check_positive("default_ttl_s", self.default_ttl_s, allow_none=True)
        if not (isinstance(self.default_stale_ttl_s, (int, float)) and self.default_stale_ttl_s >= 0):
            raise ValueError(f"default_stale_ttl_s must be >= 0, got {self.default_stale_ttl_s!r}")
        for name in ("l1_max_entries", "disk_size_limit_bytes", "warm_concurrency",
                     "refresh_hot_keys"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if self.l1_max_weight_bytes is not None and (
                isinstance(self.l1_max_weight_bytes, bool) or not isinstance(self.l1_max_weight_bytes, int)
                or self.l1_max_weight_bytes < 1):
            raise ValueError(f"l1_max_weight_bytes must be an int >= 1 or None, got {self.l1_max_weight_bytes!r}")
        if self.l1_policy not in ("lru", "tinylfu"):
            raise ValueError(f"l1_policy must be 'lru' or 'tinylfu', got {self.l1_policy!r}")
        for name in ("redis_timeout_s", "redis_breaker_reset_s", "refresh_ahead_s",
                     "refresh_check_interval_s"):
            _check_positive(name, getattr(self, name))
        if self.redis_url is not None and (not isinstance(self.redis_url, str) or not
                                           self.redis_url.startswith(("redis://", "rediss://", "unix://"))):
            raise ValueError("redis_url must be a redis://, rediss:// or unix:// URL")
        if self.use_pickle and not self.allow_pickle:
            raise ValueError("use_pickle=True needs allow_pickle=True")

    def replace(self, **changes: Any) -> CacheConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        return dataclasses.replace(self, **changes)


DEFAULT_CACHE_CONFIG = CacheConfig()
