"""CacheConfig: the tiers of SmartCacheManager/SyncCacheManager and how they behave, in one
copyable object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from defiperf._validate import check_bool, check_int, check_number
from defiperf.batch.config import BreakerConfig
from defiperf.cache.ttl import ttl_seconds
from defiperf.structures import OptimizedLRU


@dataclass(frozen=True)
class CacheConfig:
    """Tiers: L1 in memory (always on unless ``l1_enabled=False``), L2 Redis when ``redis_url``
    is set (``rediss://`` for TLS, AUTH in the URL; ``redis_cluster=True`` for Redis Cluster),
    L3 on disk when ``disk_enabled`` (``disk_dir=None``: a per-user cache directory).

    ``l1_policy`` is the L1's eviction policy: ``"tinylfu"`` (the default: the best hit rate
    across the traces we measured, and a burst of one-off keys does not push out the hot ones),
    ``"lru"`` or ``"sieve"`` (``OptimizedLRU.POLICIES``). Under ``l1_max_weight_bytes`` its shares
    follow the entries the budget holds, not ``l1_max_entries`` (docs/cache.md).

    TTLs are seconds: ``default_ttl_s`` (None: no expiry) is how long a value is fresh;
    ``default_stale_ttl_s`` how long after that it may still be served stale while one
    background refresh runs. Keys are namespaced with ``namespace`` in every shared tier.

    - ``breaker``: the circuit breaker of each shared tier (default: opens at 50% failures of
      the last 20 calls once 4 are known; probes after ``redis_breaker_reset_s``);
    - ``redis_timeout_s`` bounds a command, ``redis_connect_timeout_s`` a new connection and
      the wait for one of the ``redis_max_connections`` commands a manager runs at once;
    - ``coherence_check_s``: how often the invalidation listener checks that the shared Redis
      was not flushed (the bound on L1 staleness after FLUSHDB);
    - ``close_timeout_s``: ``close()`` returns within about this, whatever Redis does;
    - ``load_wait_timeout_s``: how long a caller waits for another caller's load of a key.
      A load whose owner is gone does not make its waiters wait that long: an owner cancelled
      or interrupted (a BaseException) sends them to load the key themselves at once, and an
      async owner whose event loop was closed is taken over within 0.1 s (a loop stopped and
      not running again within 1 s, within about 1.1 s; see cache/flights.py);
    - refresh-ahead: a key with a known loader that is *read* within
      ``min(refresh_ahead_fraction * ttl, refresh_ahead_s)`` of its expiry is reloaded once in
      the background (0 turns it off); a failed refresh is retried after
      ``refresh_check_interval_s``, doubling per failure up to the TTL; ``refresh_hot_keys``
      bounds how many keys' loaders are remembered for it;
    - ``max_decode_depth`` / ``max_value_bytes``: bounds on decoding bytes from a shared tier.
    """

    namespace: str = "defiperf"
    default_ttl_s: float | None = 300.0
    default_stale_ttl_s: float = 0.0
    l1_enabled: bool = True
    l1_max_entries: int = 100_000
    l1_max_weight_bytes: int | None = None
    l1_policy: str = "tinylfu"
    redis_url: str | None = None
    redis_cluster: bool = False
    redis_timeout_s: float = 0.25
    redis_connect_timeout_s: float = 2.0
    redis_max_connections: int = 64
    redis_breaker_reset_s: float = 2.0
    breaker: BreakerConfig | None = None
    invalidation: bool = True
    coherence_check_s: float = 1.0
    disk_enabled: bool = True
    disk_dir: str | None = None
    disk_size_limit_bytes: int = 1 << 30
    compress_threshold_bytes: int | None = 4096
    allow_pickle: bool = False
    use_pickle: bool = False
    max_decode_depth: int = 32
    max_value_bytes: int = 64 << 20
    warm_concurrency: int = 8
    refresh_ahead_s: float = 5.0
    refresh_ahead_fraction: float = 0.2
    refresh_check_interval_s: float = 1.0
    refresh_hot_keys: int = 1000
    close_timeout_s: float = 1.0
    load_wait_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not isinstance(self.namespace, str) or not self.namespace or ":" in self.namespace:
            raise ValueError("namespace must be a non-empty str without ':'")
        if self.default_ttl_s is not None:
            ttl_seconds("default_ttl_s", self.default_ttl_s)
        ttl_seconds("default_stale_ttl_s", self.default_stale_ttl_s, allow_zero=True)
        for name in ("l1_max_entries", "disk_size_limit_bytes", "warm_concurrency",
                     "refresh_hot_keys", "max_decode_depth", "max_value_bytes"):
            check_int(name, getattr(self, name))
        check_int("redis_max_connections", self.redis_max_connections)
        check_int("l1_max_weight_bytes", self.l1_max_weight_bytes, allow_none=True)
        check_int("compress_threshold_bytes", self.compress_threshold_bytes, minimum=0,
                  allow_none=True)
        for name in ("l1_enabled", "redis_cluster", "invalidation", "disk_enabled",
                     "allow_pickle", "use_pickle"):
            check_bool(name, getattr(self, name))
        if self.l1_policy not in OptimizedLRU.POLICIES:
            raise ValueError(f"l1_policy must be one of {', '.join(OptimizedLRU.POLICIES)}, "
                             f"got {self.l1_policy!r}")
        for name in ("redis_timeout_s", "redis_connect_timeout_s", "redis_breaker_reset_s",
                     "refresh_ahead_s", "refresh_check_interval_s", "coherence_check_s",
                     "close_timeout_s", "load_wait_timeout_s"):
            check_number(name, getattr(self, name))
        check_number("refresh_ahead_fraction", self.refresh_ahead_fraction, inclusive=True,
                     high=1.0)
        if self.breaker is not None and not isinstance(self.breaker, BreakerConfig):
            raise TypeError("breaker must be a BreakerConfig")
        if self.redis_url is not None and (not isinstance(self.redis_url, str) or not
                                           self.redis_url.startswith(("redis://", "rediss://", "unix://"))):
            raise ValueError("redis_url must be a redis://, rediss:// or unix:// URL")
        if self.use_pickle and not self.allow_pickle:
            raise ValueError("use_pickle=True needs allow_pickle=True")

    @property
    def breaker_config(self) -> BreakerConfig:
        """``breaker``, or the default with ``redis_breaker_reset_s`` as its reset timeout."""
        if self.breaker is not None:
            return self.breaker
        return BreakerConfig(failure_rate_threshold=0.5, min_calls=4, window_calls=20,
                             reset_timeout_s=self.redis_breaker_reset_s)

    def replace(self, **changes: Any) -> CacheConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        return dataclasses.replace(self, **changes)


DEFAULT_CACHE_CONFIG = CacheConfig()
