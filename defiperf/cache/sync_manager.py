"""SyncCacheManager: the cache for threaded code (Flask-style apps, scripts, worker pools) —
the same config, tiers, keys, serializer and metrics as SmartCacheManager, over redis-py's
blocking, thread-safe client, with single flight across threads."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from defiperf.cache.cached import MISS, is_async_function, loop_thread_error
from defiperf.cache.config import CacheConfig
from defiperf.cache.core import _LOADING, CacheCore, Loader
from defiperf.cache.keys import check_key, check_tags
from defiperf.cache.load_future import RETRY
from defiperf.cache.redis_tier import SyncRedisTier
from defiperf.cache.slots import run_blocking
from defiperf.cache.ttl import DEFAULT

if TYPE_CHECKING:  # typing only: the monitor package is not imported at run time
    from defiperf.monitor.recorder import Recorder

_running_loop = asyncio._get_running_loop


class SyncCacheManager(CacheCore):
    """SyncCacheManager(config=DEFAULT_CACHE_CONFIG, *, loader=None, clock=time.time,
    monitor=None, serializer=None, default=None, redis_client=None)

    ``get(key, default=None, type=None)``, ``set(key, value, ttl=DEFAULT, stale_ttl=DEFAULT,
    tags=())``, ``delete``, ``get_many``, ``set_many``, ``get_or_set(key, loader, ...)``,
    ``clear()``, ``invalidate_tags(tags)``, ``warm_cache(keys, priority, loader)``,
    ``@cached(...)``, ``close()`` and ``with``. Every method may be called from any number of
    threads; 50 threads missing one key call its loader once and all get its value or its
    error. Calling them on a thread that runs an event loop raises LoopThreadError (use
    SmartCacheManager there). ``ttl``: seconds or timedelta, None for no expiry, DEFAULT for
    ``config.default_ttl_s``. After ``close()`` the next call starts the manager again.
    """

    def __init__(self, config: CacheConfig | None = None, *, loader: Loader | None = None,
                 clock: Callable[[], float] = time.time, monitor: Recorder | None = None,
                 serializer: Any = None, default: Callable[[Any], Any] | None = None,
                 redis_client: Any = None, _share: CacheCore | None = None) -> None:
        super().__init__(config, loader=loader, clock=clock, monitor=monitor,
                         serializer=serializer, default=default, _share=_share)
        self._redis_client = redis_client
        self._lock = threading.RLock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._state = "new"
        self._listening = True
        self.l2: SyncRedisTier | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> SyncCacheManager:
        """Connect the tiers and start the invalidation listener (the first call of any method
        does it; after ``close()`` it starts the manager again)."""
        with self._lock:
            if self._state == "open":
                return self
            c = self.config
            self.l2 = self._make_l2(SyncRedisTier, self._redis_client)
            self._set_shared(self.l2, self.l3 if self.l3 is not None and self.l3.available else None)
            if self.l2 is not None and c.invalidation and self._listening:
                self.l2.start_listener(self, c.coherence_check_s,
                                       wait_s=min(1.0, c.redis_connect_timeout_s))
            self._state = "open"
        return self

    def _enter(self, what: str) -> None:
        if _running_loop() is not None:
            raise loop_thread_error(f"SyncCacheManager.{what}")
        if self._state != "open":
            self.start()

    def __enter__(self) -> SyncCacheManager:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Fail in-flight waiters with CacheClosedError, stop the listener and background
        refreshes, close every tier; returns within about ``config.close_timeout_s``."""
        with self._lock:
            if self._state != "open":
                self._state = "closed"
                return
            self._state = "closed"
            pool, self._pool = self._pool, None
        deadline = time.monotonic() + self.config.close_timeout_s
        self._fail_flights()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if self.l2 is not None:
            self.l2.stop_listener(max(0.0, deadline - time.monotonic()))
            try:
                self.l2.client.close()
            except Exception:  # closing is best effort
                pass
        if self.l3 is not None:
            try:
                self.l3.close()
            except Exception:
                pass
        if self.l1 is not None:
            self.l1.clear()
        self._refreshing.clear()

    @property
    def closed(self) -> bool:
        """True after ``close()`` until the next call starts the manager again."""
        return self._state == "closed"

    # --- reads and writes ----------------------------------------------------------------

    def get(self, key: str | bytes, default: Any = None, *, type: Any = None) -> Any:
        """The fresh value of key from the fastest tier that has it, else ``default``
        (``type``: rebuild a dataclass/model/... read from a shared tier)."""
        key = check_key(key)
        self._enter("get")
        value = self._fast_get(key)
        if value is not MISS:
            return value
        return self._found(key, run_blocking(self._plan_lookup(key)), type, default)

    def get_many(self, keys: Iterable[str | bytes]) -> dict[str, Any]:
        """{key: fresh value} for the keys any tier has; one MGET for L2's part."""
        wanted = [check_key(k) for k in keys]
        self._enter("get_many")
        now = self._clock()
        found = run_blocking(self._plan_lookup_many(wanted))
        return {k: e.value for k, e in found.items() if e.fresh(now)}

    def set(self, key: str | bytes, value: Any, ttl: Any = DEFAULT, stale_ttl: Any = DEFAULT, *,
            tags: Iterable[str] = ()) -> None:
        """Write through every tier. An unserializable value or a bad TTL raises before
        anything is written; a failing Redis or disk never loses the write in the others."""
        key = check_key(key)
        ttl_s, stale, tag_tuple = self._write_args(ttl, stale_ttl, tags)
        self._enter("set")
        run_blocking(self._plan_store(key, value, ttl_s, stale, tag_tuple))

    def set_many(self, mapping: Mapping[str | bytes, Any], ttl: Any = DEFAULT,
                 stale_ttl: Any = DEFAULT) -> None:
        """Write many keys; every value is serialized first: one bad value writes nothing."""
        ttl_s, stale, _ = self._write_args(ttl, stale_ttl, ())
        prepared, hard = self._prepare_many(mapping, ttl_s, stale)
        self._enter("set_many")
        run_blocking(self._plan_write_many(prepared, hard))

    def delete(self, key: str | bytes) -> bool:
        """Remove key from every tier (and from other processes' L1)."""
        key = check_key(key)
        self._enter("delete")
        return bool(run_blocking(self._plan_delete(key)))

    def clear(self) -> None:
        """Empty every tier — in Redis only this namespace's keys — and other processes' L1."""
        self._enter("clear")
        run_blocking(self._plan_clear())

    def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove every entry set with any of ``tags``, in every tier and process."""
        tag_tuple = check_tags(tags)
        self._enter("invalidate_tags")
        return int(run_blocking(self._plan_invalidate_tags(tag_tuple)))

    # --- loading ---------------------------------------------------------------------------

    def get_or_set(self, key: str | bytes, loader: Loader | None = None, *, ttl: Any = DEFAULT,
                   stale_ttl: Any = DEFAULT, type: Any = None, tags: Iterable[str] = ()) -> Any:
        """The fresh value of key; on a miss ``loader(key)`` runs once however many threads
        miss together, and its value (or error) reaches all of them. Within ``stale_ttl``
        after expiry the stale value is returned at once and one background refresh runs."""
        key = check_key(key)
        ttl_s, stale, tag_tuple = self._write_args(ttl, stale_ttl, tags)
        loader = self._loader(loader)
        if is_async_function(loader):
            raise TypeError("SyncCacheManager.get_or_set needs a blocking loader; use "
                            "SmartCacheManager for async loaders")
        self._enter("get_or_set")
        return self._get_or_load(key, loader, ttl_s, stale, type, tag_tuple)

    def _get_or_load(self, key: Hashable, loader: Loader, ttl: float | None, stale: float,
                     tp: Any, tags: tuple[str, ...]) -> Any:
        self._remember_loader(key, loader, ttl, stale, tp, tags)
        if key in self._flights and key not in self._refreshing:  # a cold load: join it
            return self._load(key, loader, ttl, stale, tags)
        value = self._usable(key, run_blocking(self._plan_lookup(key, ttl)),
                             (loader, ttl, stale, tp, tags))
        return self._load(key, loader, ttl, stale, tags) if value is MISS else value

    def _load(self, key: Hashable, loader: Loader, ttl: float | None, stale: float,
              tags: tuple[str, ...], force: bool = False) -> Any:
        while True:
            with self._flight(key) as flight:
                if not flight.owner:
                    value = self._wait_blocking(key, flight.fut)
                    if value is RETRY:  # the owner gave the load up or is gone: load it here
                        continue
                    return value
                return flight.done(run_blocking(
                    self._plan_load(key, loader, ttl, stale, tags, force)))

    def _refresh_ahead(self, key: Hashable, spec: tuple[Any, ...] | None = None) -> None:
        if self._state != "open":
            return
        due = self._claim_refresh(key, spec, self._flights)
        if due is None:
            return
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    self.config.warm_concurrency, thread_name_prefix="defiperf-refresh")
            pool = self._pool
        try:
            pool.submit(contextvars.copy_context().run, self._refresh, key, due)
        except RuntimeError:  # shut down by close()
            self._refreshing.discard(key)

    def _refresh(self, key: Hashable, spec: tuple[Any, ...]) -> None:
        loader, ttl, stale, _tp, tags = spec
        _LOADING.set(frozenset())  # a fresh context: not inside the reader's load
        try:
            self._load(key, loader, ttl, stale, tags, force=True)
        except BaseException as exc:
            self._refresh_done(key, exc, ttl)
        else:
            self._refresh_done(key, None, ttl)

    def warm_cache(self, keys: Iterable[str | bytes], priority: int = 5,
                   loader: Loader | None = None, *, ttl: Any = DEFAULT,
                   stale_ttl: Any = DEFAULT) -> int:
        """Load the keys that are not fresh, ``config.warm_concurrency`` at a time; returns how
        many are fresh afterwards. Failures are counted and logged as one rate-limited summary
        per call (how many, the first error), not raised. (``priority``
        0..10 is accepted for parity with SmartCacheManager; one call's keys share it.)"""
        checked, use, ttl_s, stale = self._warm_args(keys, priority, loader, ttl, stale_ttl)
        self._enter("warm_cache")

        def one(key: str) -> bool | Exception:
            try:
                self._get_or_load(key, use, ttl_s, stale, None, ())
            except Exception as exc:
                return exc
            return True
        with concurrent.futures.ThreadPoolExecutor(self.config.warm_concurrency,
                                                   thread_name_prefix="defiperf-warm") as pool:
            return self._warm_outcome(checked, list(pool.map(one, checked)))

    # --- the decorator ---------------------------------------------------------------------

    def _cached_miss(self, key: Hashable, loader: Loader, ttl: float | None, stale: float,
                     tp: Any, tags: tuple[str, ...]) -> Any:
        if self._state != "open":
            self.start()
        return self._get_or_load(key, loader, ttl, stale, tp, tags)

    async def _cached_miss_async(self, key: Hashable, load: Callable[[Any], Any],
                                 ttl: float | None, stale: float, tp: Any,
                                 tags: tuple[str, ...]) -> Any:
        """An async function's miss: the blocking path on a worker thread, the function itself
        on the caller's loop (where its resources live)."""
        loop = asyncio.get_running_loop()
        timeout = self.config.load_wait_timeout_s

        def blocking_loader(k: Any) -> Any:
            marks = _LOADING.get()

            async def marked() -> Any:
                _LOADING.set(marks)
                return await load(k)
            return asyncio.run_coroutine_threadsafe(marked(), loop).result(timeout)
        return await asyncio.to_thread(self._cached_miss, key, blocking_loader, ttl, stale, tp,
                                       tags)

    def _cached_store(self, key: Hashable, value: Any, ttl: float | None, stale: float,
                      tags: tuple[str, ...]) -> None:
        self._enter("refresh")
        run_blocking(self._plan_store(key, value, ttl, stale, tags))

    def _cached_delete(self, key: Hashable) -> bool:
        self._enter("invalidate")
        return bool(run_blocking(self._plan_delete(key)))

    def _cached_clear(self, prefix: str, tag: str | None) -> None:
        self._enter("cache_clear")
        run_blocking(self._plan_clear_function(prefix, tag))

    async def _cached_store_async(self, *args: Any) -> None:
        await asyncio.to_thread(self._cached_store, *args)

    async def _cached_delete_async(self, key: Hashable) -> bool:
        return await asyncio.to_thread(self._cached_delete, key)

    async def _cached_clear_async(self, prefix: str, tag: str | None) -> None:
        await asyncio.to_thread(self._cached_clear, prefix, tag)


__all__ = ["MISS", "SyncCacheManager"]
