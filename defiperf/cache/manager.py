"""SmartCacheManager: read-through L1 -> L2 -> L3 -> loader with promotion, write-through,
single-flight loads, stale-while-revalidate, priority warming, refresh-ahead of hot keys,
cross-process invalidation, and a circuit breaker in front of Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import itertools
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from defiperf._validate import check_int
from defiperf.batch.breaker import BreakerState, CircuitBreaker
from defiperf.cache.config import DEFAULT_CACHE_CONFIG, CacheConfig
from defiperf.cache.envelope import Entry
from defiperf.cache.serialization import Serializer
from defiperf.cache.tiers import DiskTier, MemoryTier, RedisTier, TierError
from defiperf.structures import OptimizedLRU
from defiperf.structures.metrics import LogHistogram

logger = logging.getLogger("defiperf.cache")

Loader = Callable[[str], Any]
F = TypeVar("F", bound=Callable[..., Any])
_MISSING = object()
MAX_KEY_CHARS = 4096


class TierMetrics:
    """Counters and a latency histogram (ms) of one tier."""

    def __init__(self) -> None:
        self.hits = self.misses = self.errors = self.skipped = 0
        self.latency_ms = LogHistogram()

    def snapshot(self) -> dict[str, Any]:
        lookups = self.hits + self.misses
        h = self.latency_ms
        return {
            "hits": self.hits, "misses": self.misses, "errors": self.errors,
            "skipped": self.skipped, "hit_rate": self.hits / lookups if lookups else None,
            "latency_ms": {"p50": h.quantile(0.5), "p99": h.quantile(0.99), "max": h.max}
            if h.count else {"p50": None, "p99": None, "max": None},
        }


def _check_key(key: Any) -> str:
    """key as a str (UTF-8 bytes decoded); TypeError / ValueError naming what is wrong."""
    if isinstance(key, bytes):
        try:
            key = key.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("bytes keys must be UTF-8") from None
    elif not isinstance(key, str):
        raise TypeError(f"cache keys must be str or UTF-8 bytes, not {type(key).__name__}")
    if len(key) > MAX_KEY_CHARS:
        raise ValueError(f"cache key of {len(key)} characters is over {MAX_KEY_CHARS}")
    checked: str = key
    return checked


def _check_ttl(name: str, value: Any, allow_zero: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")


async def _call_loader(loader: Loader, key: str) -> Any:
    if inspect.iscoroutinefunction(loader):
        return await loader(key)
    result = await asyncio.to_thread(loader, key)  # a sync loader never blocks the loop
    if inspect.isawaitable(result):
        return await result
    return result


class SmartCacheManager:
    """SmartCacheManager(config=DEFAULT_CACHE_CONFIG, *, loader=None, clock=time.time,
    monitor=None)

    ``await get(key)``, ``await set(key, value, ttl=...)``, ``await delete(key)``,
    ``get_many``/``set_many``, ``await get_or_set(key, loader, ttl=..., stale_ttl=...)``,
    ``@cache.cached(ttl=...)``, ``await warm_cache(keys, priority, loader)``, ``get_metrics()``,
    ``health()``. Use ``async with`` (or ``await close()``) to release connections and tasks.

    Keys are str (or UTF-8 bytes, which name the same key as their decoded str), at most 4096
    characters. Values must be msgpack-serializable (plus Decimal, numpy arrays, datetime,
    tuple, set) when a shared tier is on, unless pickle is opted into. L1 holds the very
    objects you set: do not mutate them afterwards. ``clock`` is wall-clock seconds (freshness
    is shared between processes through Redis and disk).
    """

    def __init__(self, config: CacheConfig | None = None, *, loader: Loader | None = None,
                 clock: Callable[[], float] = time.time, monitor: Any = None,
                 redis_client: Any = None) -> None:
        config = DEFAULT_CACHE_CONFIG if config is None else config
        if not isinstance(config, CacheConfig):
            raise TypeError(f"config must be a CacheConfig, not {type(config).__name__}")
        if loader is not None and not callable(loader):
            raise TypeError("loader must be callable")
        self.config = config
        self.loader = loader
        self.monitor = monitor
        self._clock = clock
        self.serializer = Serializer(config.compress_threshold_bytes,
                                     allow_pickle=config.allow_pickle, use_pickle=config.use_pickle)
        self.l1 = (MemoryTier(config.l1_max_entries, max_weight_bytes=config.l1_max_weight_bytes,
                              policy=config.l1_policy, timer=clock)
                   if config.l1_enabled else None)
        self.l2 = (RedisTier(config.redis_url, self.serializer, namespace=config.namespace,
                             timeout_s=config.redis_timeout_s, cluster=config.redis_cluster,
                             clock=clock, client=redis_client)
                   if config.redis_url else None)
        self.l3 = (DiskTier(config.disk_dir, self.serializer, namespace=config.namespace,
                            size_limit_bytes=config.disk_size_limit_bytes, clock=clock)
                   if config.disk_enabled else None)
        self._shared = [t for t in (self.l2, self.l3) if t is not None]
        self.breaker = CircuitBreaker(0.5, min_calls=4, window_calls=20,
                                      reset_timeout_s=config.redis_breaker_reset_s)
        self.metrics = {name: TierMetrics() for name in ("l1", "l2", "l3")}
        self.counters = dict.fromkeys(
            ("loads", "load_errors", "stale_served", "refreshes", "refresh_failures",
             "single_flight_joins", "warmed", "warm_failures", "invalidations_received",
             "l3_write_errors", "l2_write_errors"), 0)
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._refreshing: set[str] = set()
        self._loaders: OptimizedLRU[str, tuple[Loader, float | None, float | None]] = OptimizedLRU(
            max(config.refresh_hot_keys * 4, 1024))
        self._warm_queue: asyncio.PriorityQueue[tuple[int, int, str, Loader, float | None, float | None, asyncio.Future[bool]]] | None = None
        self._warm_seq = itertools.count()
        self._warming_paused = asyncio.Event()
        self._warming_paused.set()  # set = running
        self._tasks: list[asyncio.Task[Any]] = []
        self._origin = uuid.uuid4().hex
        self._channel = f"{config.namespace}:cache:invalidate"
        self._pubsub_client: Any = None
        self._started = False
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background tasks (warm workers, refresh-ahead, invalidation listener);
        the first call of any method does it too."""
        if self._closed:
            raise RuntimeError("the cache manager is closed")
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        self._warm_queue = asyncio.PriorityQueue()
        self._tasks = [loop.create_task(self._warm_worker(), name=f"defiperf-warm-{i}")
                       for i in range(self.config.warm_concurrency)]
        if self.l1 is not None:
            self._tasks.append(loop.create_task(self._refresh_ahead(), name="defiperf-refresh"))
        if self.l2 is not None and self.config.invalidation:
            self._tasks.append(loop.create_task(self._listen(), name="defiperf-invalidate"))

    async def __aenter__(self) -> SmartCacheManager:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Cancel the background tasks and close every tier (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for fut in self._inflight.values():
            fut.cancel()
        if self._pubsub_client is not None:
            with contextlib.suppress(Exception):
                await self._pubsub_client.aclose()
        for tier in (self.l1, self.l2, self.l3):
            if tier is not None:
                with contextlib.suppress(Exception):
                    await tier.close()

    # --- helpers -----------------------------------------------------------------------------

    def _entry(self, value: Any, ttl: float | None, stale_ttl: float | None, weight: int) -> tuple[Entry, float | None]:
        """The entry for value and its hard TTL in seconds (None: no expiry)."""
        ttl = self.config.default_ttl_s if ttl is None else ttl
        stale = self.config.default_stale_ttl_s if stale_ttl is None else stale_ttl
        now = self._clock()
        if ttl is None:
            return Entry(value, math.inf, math.inf, weight), None
        return Entry(value, now + ttl, now + ttl + stale, weight), ttl + stale

    def _record(self, tier: str, hit: bool, start: float) -> None:
        ms = (time.perf_counter() - start) * 1000.0
        m = self.metrics[tier]
        if hit:
            m.hits += 1
        else:
            m.misses += 1
        m.latency_ms.record(ms)
        if self.monitor is not None:
            self.monitor.record_cache(tier, hit, ms)

    def _l2_allowed(self) -> bool:
        if self.l2 is None:
            return False
        if not self.breaker.allow():
            self.metrics["l2"].skipped += 1
            return False
        return True

    async def _l2_op(self, coro: Awaitable[Any]) -> tuple[bool, Any]:
        """Run one Redis call through the breaker: (ok, result)."""
        try:
            result = await coro
        except TierError as exc:
            self.breaker.record(False)
            self.metrics["l2"].errors += 1
            logger.warning("l2 unavailable: %s", exc)
            return False, None
        self.breaker.record(True)
        return True, result

    # --- read path ---------------------------------------------------------------------------

    async def _lookup(self, key: str) -> Entry | None:
        """The live entry of key from the first tier that has it, promoted to the tiers above
        with its remaining TTL; None when no tier has it."""
        now = self._clock()
        if self.l1 is not None:
            start = time.perf_counter()
            entry = self.l1.get_nowait(key)
            self._record("l1", entry is not None, start)
            if entry is not None:
                return entry
        above: list[Any] = [self.l1] if self.l1 is not None else []
        for tier in (self.l2, self.l3):
            if tier is None:
                continue
            if tier is self.l2 and not self._l2_allowed():
                continue
            start = time.perf_counter()
            if tier is self.l2:
                ok, entry = await self._l2_op(tier.get(key))
                if not ok:
                    continue
            else:
                try:
                    entry = await tier.get(key)
                except TierError as exc:
                    self.metrics["l3"].errors += 1
                    logger.warning("l3 unreadable: %s", exc)
                    continue
            self._record(tier.name, entry is not None, start)
            if entry is not None and entry.alive(now):
                await self._promote(key, entry, above, now)
                return entry
            above.append(tier)
        return None

    async def _promote(self, key: str, entry: Entry, tiers: list[Any], now: float) -> None:
        remaining = entry.remaining_s(now)
        for tier in tiers:
            if isinstance(tier, MemoryTier):
                tier.set_nowait(key, entry, remaining)
            elif isinstance(tier, RedisTier):
                if self._l2_allowed():
                    payload = entry.payload if entry.payload is not None else self.serializer.dumps(entry.value)
                    await self._l2_op(tier.set(key, entry, payload, remaining))

    async def get(self, key: str | bytes, default: Any = None) -> Any:
        """The fresh value of key from the fastest tier that has it, else ``default``.
        A Redis or disk failure counts as a miss of that tier, never as an error."""
        key = _check_key(key)
        if not self._started or self._closed:
            await self.start()
        entry = await self._lookup(key)
        if entry is None or not entry.fresh(self._clock()):
            return default
        return entry.value

    async def get_many(self, keys: Iterable[str | bytes]) -> dict[str, Any]:
        """{key: fresh value} for the keys any tier has; one MGET for L2's part."""
        wanted = [_check_key(k) for k in keys]
        if not self._started or self._closed:
            await self.start()
        now = self._clock()
        found: dict[str, Entry] = {}
        if self.l1 is not None:
            found.update(self.l1.lru.get_many(wanted))
        above: list[Any] = [self.l1] if self.l1 is not None else []
        for tier in (self.l2, self.l3):
            missing = [k for k in wanted if k not in found]
            if tier is None or not missing:
                continue
            if tier is self.l2:
                if not self._l2_allowed():
                    continue
                ok, got = await self._l2_op(tier.get_many(missing))
                if not ok:
                    continue
            else:
                try:
                    got = await tier.get_many(missing)
                except TierError:
                    self.metrics["l3"].errors += 1
                    continue
            for key, entry in got.items():
                await self._promote(key, entry, above, now)
            found.update(got)
            above.append(tier)
        return {k: e.value for k, e in found.items() if e.fresh(now)}

    # --- write path --------------------------------------------------------------------------

    def _serialize(self, value: Any) -> tuple[bytes | None, int]:
        if not self._shared and self.config.l1_max_weight_bytes is None:
            return None, 1
        payload = self.serializer.dumps(value)  # raises before any tier is written
        return payload, len(payload)

    async def set(self, key: str | bytes, value: Any, ttl: float | None = None,
                  stale_ttl: float | None = None) -> None:
        """Write through every enabled tier. ``ttl``: seconds fresh (default
        ``config.default_ttl_s``); ``stale_ttl``: seconds after that it may be served stale.
        An unserializable value raises before anything is written; a failing Redis or disk
        never loses the write in the other tiers."""
        key = _check_key(key)
        _check_ttl("ttl", ttl)
        _check_ttl("stale_ttl", stale_ttl, allow_zero=True)
        if not self._started or self._closed:
            await self.start()
        payload, weight = self._serialize(value)
        entry, hard_ttl = self._entry(value, ttl, stale_ttl, weight)
        await self._write(key, entry, payload, hard_ttl)
        await self._publish(key)

    async def _write(self, key: str, entry: Entry, payload: bytes | None, hard_ttl: float | None) -> None:
        if self.l1 is not None:
            self.l1.set_nowait(key, entry, hard_ttl)
        jobs = []
        if self.l2 is not None and self._l2_allowed():
            jobs.append(self._write_l2(key, entry, payload, hard_ttl))
        if self.l3 is not None:
            jobs.append(self._write_l3(key, entry, payload, hard_ttl))
        if jobs:
            await asyncio.gather(*jobs)

    async def _write_l2(self, key: str, entry: Entry, payload: bytes | None, hard_ttl: float | None) -> None:
        assert self.l2 is not None
        ok, _ = await self._l2_op(self.l2.set(key, entry, payload, hard_ttl))
        if not ok:
            self.counters["l2_write_errors"] += 1

    async def _write_l3(self, key: str, entry: Entry, payload: bytes | None, hard_ttl: float | None) -> None:
        assert self.l3 is not None
        try:
            await self.l3.set(key, entry, payload, hard_ttl)
        except TierError as exc:
            self.counters["l3_write_errors"] += 1
            self.metrics["l3"].errors += 1
            logger.error("l3 write of %r failed: %s", key, exc)

    async def set_many(self, mapping: Mapping[str | bytes, Any], ttl: float | None = None,
                       stale_ttl: float | None = None) -> None:
        """Write many keys; one pipeline to Redis, one transaction on disk. Every value is
        serialized first: one bad value writes nothing."""
        _check_ttl("ttl", ttl)
        _check_ttl("stale_ttl", stale_ttl, allow_zero=True)
        prepared: dict[str, tuple[Entry, bytes | None]] = {}
        hard_ttl: float | None = None
        for raw_key, value in mapping.items():
            payload, weight = self._serialize(value)
            entry, hard_ttl = self._entry(value, ttl, stale_ttl, weight)
            prepared[_check_key(raw_key)] = (entry, payload)
        if not self._started or self._closed:
            await self.start()
        if self.l1 is not None:
            for key, (entry, _) in prepared.items():
                self.l1.set_nowait(key, entry, hard_ttl)
        if self.l2 is not None and self._l2_allowed():
            ok, _ = await self._l2_op(self.l2.set_many(prepared, hard_ttl))
            self.counters["l2_write_errors"] += not ok
        if self.l3 is not None:
            try:
                await self.l3.set_many(prepared, hard_ttl)
            except TierError as exc:
                self.counters["l3_write_errors"] += 1
                logger.error("l3 write of %d keys failed: %s", len(prepared), exc)
        for key in prepared:
            await self._publish(key)

    async def delete(self, key: str | bytes) -> bool:
        """Remove key from every tier (and other processes' L1 through invalidation)."""
        key = _check_key(key)
        if not self._started or self._closed:
            await self.start()
        removed = False
        if self.l1 is not None:
            removed = self.l1.lru.delete(key) or removed
        if self.l2 is not None and self._l2_allowed():
            ok, result = await self._l2_op(self.l2.delete(key))
            removed = bool(ok and result) or removed
        if self.l3 is not None:
            try:
                removed = await self.l3.delete(key) or removed
            except TierError as exc:
                logger.error("l3 delete of %r failed: %s", key, exc)
        await self._publish(key)
        return removed

    async def clear(self) -> None:
        """Empty every tier (L2: this namespace's keys only)."""
        for tier in (self.l1, self.l2, self.l3):
            if tier is not None:
                with contextlib.suppress(TierError):
                    await tier.clear()

    # --- loading: single flight, stale-while-revalidate --------------------------------------

    async def get_or_set(self, key: str | bytes, loader: Loader | None = None, *,
                         ttl: float | None = None, stale_ttl: float | None = None) -> Any:
        """The fresh value of key; on a miss ``loader(key)`` (sync or async) is called once
        however many callers miss together (single flight) and its value is cached. Within
        ``stale_ttl`` after expiry the stale value is returned at once and one background
        refresh runs. A loader error is raised to the callers when there is no stale value;
        a failed refresh keeps the stale value."""
        key = _check_key(key)
        _check_ttl("ttl", ttl)
        _check_ttl("stale_ttl", stale_ttl, allow_zero=True)
        loader = loader or self.loader
        if loader is None:
            raise ValueError("no loader: pass one or give the manager a default loader")
        if not self._started or self._closed:
            await self.start()
        self._loaders.set(key, (loader, ttl, stale_ttl))
        entry = await self._lookup(key)
        now = self._clock()
        if entry is not None:
            if entry.fresh(now):
                return entry.value
            self.counters["stale_served"] += 1
            if key not in self._inflight and key not in self._refreshing:
                self._refreshing.add(key)  # before the task runs: one refresh per key
                self.counters["refreshes"] += 1
                task = asyncio.get_running_loop().create_task(
                    self._refresh(key, loader, ttl, stale_ttl))
                self._tasks.append(task)
                task.add_done_callback(self._forget_task)
            return entry.value
        return await self._load(key, loader, ttl, stale_ttl)

    def _forget_task(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)

    async def _refresh(self, key: str, loader: Loader, ttl: float | None, stale_ttl: float | None) -> None:
        try:
            await self._load(key, loader, ttl, stale_ttl)
        except Exception as exc:  # the stale value stays; the next caller tries again
            self.counters["refresh_failures"] += 1
            logger.warning("refresh of %r failed, serving stale: %s", key, exc)
        finally:
            self._refreshing.discard(key)

    async def _load(self, key: str, loader: Loader, ttl: float | None, stale_ttl: float | None) -> Any:
        fut = self._inflight.get(key)
        if fut is not None:
            self.counters["single_flight_joins"] += 1
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            self.counters["loads"] += 1
            value = await _call_loader(loader, key)
            await self.set(key, value, ttl, stale_ttl)
        except BaseException as exc:
            self.counters["load_errors"] += isinstance(exc, Exception)
            fut.set_exception(exc)
            fut.exception()  # retrieved here: no "never retrieved" warning without joiners
            raise
        else:
            fut.set_result(value)
            return value
        finally:
            del self._inflight[key]

    def cached(self, ttl: float | None = None, stale_ttl: float | None = None,
               key: Callable[..., str] | None = None) -> Callable[[F], F]:
        """Decorator for async and sync functions: results cached by ``key(*args, **kwargs)``
        (default: the function's qualified name and repr of the arguments), loaded through
        get_or_set (single flight, stale-while-revalidate). The sync form runs the cache on
        its own event loop: call it outside a running loop."""
        _check_ttl("ttl", ttl)
        _check_ttl("stale_ttl", stale_ttl, allow_zero=True)

        def decorate(fn: F) -> F:
            def make_key(*args: Any, **kwargs: Any) -> str:
                if key is not None:
                    return key(*args, **kwargs)
                parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in sorted(kwargs.items())]
                return f"{fn.__module__}.{fn.__qualname__}({', '.join(parts)})"

            if inspect.iscoroutinefunction(fn):
                @functools.wraps(fn)
                async def cached_async(*args: Any, **kwargs: Any) -> Any:
                    async def load(_key: str) -> Any:
                        return await fn(*args, **kwargs)
                    return await self.get_or_set(make_key(*args, **kwargs), load, ttl=ttl,
                                                 stale_ttl=stale_ttl)
                return cached_async  # type: ignore[return-value]

            @functools.wraps(fn)
            def cached_sync(*args: Any, **kwargs: Any) -> Any:
                def load(_key: str) -> Any:
                    return fn(*args, **kwargs)
                return asyncio.run(self.get_or_set(make_key(*args, **kwargs), load, ttl=ttl,
                                                   stale_ttl=stale_ttl))
            return cached_sync  # type: ignore[return-value]
        return decorate

    # --- warming and refresh-ahead -----------------------------------------------------------

    async def warm_cache(self, keys: Iterable[str | bytes], priority: int = 5,
                         loader: Loader | None = None, *, wait: bool = True,
                         ttl: float | None = None, stale_ttl: float | None = None) -> int:
        """Schedule loads of keys that are not fresh, on a priority queue (0..10, higher first,
        ``config.warm_concurrency`` at once). With ``wait`` returns how many were loaded (keys
        already fresh count as loaded); failures are logged and counted, not raised."""
        check_int("priority", priority, minimum=0, maximum=10)
        loader = loader or self.loader
        if loader is None:
            raise ValueError("no loader: pass one or give the manager a default loader")
        checked = [_check_key(k) for k in keys]
        if not self._started or self._closed:
            await self.start()
        assert self._warm_queue is not None
        loop = asyncio.get_running_loop()
        futures = []
        for key in checked:
            fut: asyncio.Future[bool] = loop.create_future()
            self._warm_queue.put_nowait((-priority, next(self._warm_seq), key, loader, ttl,
                                         stale_ttl, fut))
            futures.append(fut)
        if not wait:
            return 0
        return sum(await asyncio.gather(*futures))

    def pause_warming(self) -> None:
        """Stop starting warm and refresh-ahead loads (for memory pressure); queued ones wait."""
        self._warming_paused.clear()

    def resume_warming(self) -> None:
        self._warming_paused.set()

    @property
    def warming_paused(self) -> bool:
        return not self._warming_paused.is_set()

    async def _warm_worker(self) -> None:
        assert self._warm_queue is not None
        while True:
            await self._warming_paused.wait()  # paused: queued loads stay queued, in order
            _, _, key, loader, ttl, stale_ttl, fut = await self._warm_queue.get()
            ok = False
            try:
                entry = self.l1.get_nowait(key) if self.l1 is not None else None
                if entry is not None and entry.fresh(self._clock()) and entry.fresh_until - \
                        self._clock() > self.config.refresh_ahead_s:
                    ok = True
                else:
                    await self._load(key, loader, ttl, stale_ttl)
                    ok = True
                    self.counters["warmed"] += 1
            except asyncio.CancelledError:
                if not fut.done():
                    fut.set_result(False)
                raise
            except Exception as exc:
                self.counters["warm_failures"] += 1
                logger.warning("warming %r failed: %s", key, exc)
            if not fut.done():
                fut.set_result(ok)

    async def _refresh_ahead(self) -> None:
        """Every refresh_check_interval_s: hot L1 keys (access tracker) close to expiry whose
        loader is known are reloaded in the background, so a steady hot set never misses."""
        assert self.l1 is not None and self._warm_queue is not None
        while True:
            await asyncio.sleep(self.config.refresh_check_interval_s)
            if self.warming_paused:
                continue
            self.refresh_hot_now()

    def refresh_hot_now(self) -> int:
        """One refresh-ahead pass now; returns how many loads it scheduled."""
        if self.l1 is None or self._warm_queue is None:
            return 0
        now = self._clock()
        scheduled = 0
        for key in self.l1.lru.hot_keys(self.config.refresh_hot_keys):
            entry = self.l1.lru.peek(key)
            known = self._loaders.peek(key)
            if known is None and self.loader is not None:
                known = (self.loader, None, None)
            if entry is None or known is None or key in self._inflight:
                continue
            if entry.fresh_until - now <= self.config.refresh_ahead_s:
                loader, ttl, stale_ttl = known
                fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                self._warm_queue.put_nowait((-10, next(self._warm_seq), key, loader, ttl,
                                             stale_ttl, fut))
                scheduled += 1
        return scheduled

    # --- invalidation across processes -------------------------------------------------------

    async def _publish(self, key: str) -> None:
        if self.l2 is None or not self.config.invalidation or not self._l2_allowed():
            return
        await self._l2_op(self._publish_raw(f"{self._origin} {key}"))

    async def _publish_raw(self, message: str) -> Any:
        from redis.exceptions import RedisError

        assert self.l2 is not None
        try:
            return await self.l2.client.publish(self._channel, message)
        except (RedisError, OSError) as exc:
            raise TierError(f"redis publish: {exc}") from exc

    async def _listen(self) -> None:
        """Drop keys other processes changed from L1; reconnects with backoff."""
        import redis.asyncio as aioredis

        assert self.l2 is not None
        delay = 0.1
        while True:
            try:
                if self.l2.cluster:  # PUBLISH reaches every node: listen on one
                    self._pubsub_client = aioredis.from_url(self.l2.url)
                    pubsub = self._pubsub_client.pubsub()
                else:
                    pubsub = self.l2.client.pubsub()
                async with pubsub:
                    await pubsub.subscribe(self._channel)
                    delay = 0.1
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        origin, _, key = text.partition(" ")
                        if origin != self._origin and self.l1 is not None:
                            self.l1.lru.delete(key)
                            self.counters["invalidations_received"] += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("invalidation listener: %s; retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    # --- metrics and health ------------------------------------------------------------------

    def get_metrics(self) -> dict[str, Any]:
        """Per tier: hits, misses, hit rate, errors, latency p50/p99; plus loads, stale served,
        refreshes, warming, invalidations and the Redis breaker state."""
        tiers = {name: m.snapshot() for name, m in self.metrics.items()
                 if getattr(self, name) is not None}
        hits = sum(m["hits"] for m in tiers.values())
        lookups = self.metrics["l1"].hits + self.metrics["l1"].misses if self.l1 else 0
        return {"tiers": tiers, **self.counters,
                "hit_rate": hits / lookups if lookups else None,
                "l2_breaker": self.breaker.state.value if self.l2 is not None else None,
                "l1_entries": len(self.l1.lru) if self.l1 is not None else 0,
                "corrupt_entries": sum(t.corrupt for t in (self.l2, self.l3) if t is not None)}

    def health(self) -> dict[str, Any]:
        """``status`` ok / degraded (Redis breaker not closed) with a reason per tier."""
        tiers: dict[str, Any] = {}
        if self.l1 is not None:
            tiers["l1"] = {"status": "ok", "entries": len(self.l1.lru)}
        if self.l2 is not None:
            state = self.breaker.state
            tiers["l2"] = {"status": "ok" if state is BreakerState.CLOSED else "degraded",
                           "breaker": state.value, "errors": self.metrics["l2"].errors,
                           "reason": "" if state is BreakerState.CLOSED else
                           "redis unreachable or slow: served from L1/L3, probing again"}
        if self.l3 is not None:
            tiers["l3"] = {"status": "ok", "errors": self.metrics["l3"].errors,
                           "directory": str(self.l3.directory)}
        status = "ok" if all(t["status"] == "ok" for t in tiers.values()) else "degraded"
        return {"status": status, "tiers": tiers}
