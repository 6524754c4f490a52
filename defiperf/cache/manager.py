"""SmartCacheManager: the async cache — read-through L1 -> L2 -> L3 -> loader with promotion,
write-through, single-flight loads, stale-while-revalidate, priority warming, refresh-ahead of
keys being read, tags, cross-process invalidation, a circuit breaker per shared tier, and a
bounded, restartable lifecycle. Blocking callers (a plain function under ``@cached``) go
through a SyncCacheManager companion sharing the same L1, disk tier, metrics and origin.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from defiperf.cache.cached import MISS, is_async_function
from defiperf.cache.config import CacheConfig
from defiperf.cache.core import _LOADING, CacheCore, Loader
from defiperf.cache.disk import DiskTier
from defiperf.cache.flights import OwnerWatch
from defiperf.cache.keys import check_key, check_tags
from defiperf.cache.load_future import RETRY, LoadFuture
from defiperf.cache.redis_tier import RedisTier
from defiperf.cache.slots import run_async
from defiperf.cache.sync_manager import SyncCacheManager
from defiperf.cache.ttl import DEFAULT
from defiperf.cache.warming import Warmer, in_worker, warm_inline

if TYPE_CHECKING:  # typing only: the monitor package is not imported at run time
    from defiperf.monitor.recorder import Recorder

_get_running_loop = asyncio._get_running_loop


class AsyncDisk:
    """A DiskTier whose calls run on one worker thread (the loop never blocks on disk)."""

    name = "l3"

    def __init__(self, disk: DiskTier, executor: concurrent.futures.ThreadPoolExecutor) -> None:
        self.disk = disk
        self._executor = executor

    @property
    def corrupt(self) -> int:
        return self.disk.corrupt

    def __getattr__(self, method: str) -> Callable[..., Any]:
        fn = getattr(self.disk, method)

        async def call(*args: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, functools.partial(fn, *args))
        return call


_RETRY: Any = object()


def _retrieve(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


async def _hop(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    """Run coro on the manager's own loop (running in another thread) and await it here."""
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


class SmartCacheManager(CacheCore):
    """SmartCacheManager(config=DEFAULT_CACHE_CONFIG, *, loader=None, clock=time.time,
    monitor=None, serializer=None, default=None, redis_client=None)

    ``await get(key, default=None, type=None)``, ``await set(key, value, ttl=DEFAULT,
    stale_ttl=DEFAULT, tags=())``, ``await delete(key)``, ``get_many``/``set_many``,
    ``await get_or_set(key, loader, ...)``, ``await clear()``, ``await invalidate_tags(tags)``,
    ``@cache.cached(...)`` (async and plain functions), ``await warm_cache(keys, priority,
    loader)``, ``get_metrics()``, ``health()``. ``async with`` (or ``await close()``) releases
    connections and tasks within ``config.close_timeout_s``; the next call after ``close()``
    starts the manager again (on the caller's loop).

    The manager runs on one event loop (the first it is used on). A call from another running
    loop is carried over to it; if that loop has ended the manager moves to the caller's.
    Keys are str (or UTF-8 bytes), at most 4096 characters. ``ttl``: seconds or timedelta,
    None for no expiry, DEFAULT for ``config.default_ttl_s``. L1 holds the very objects you
    set: do not mutate them afterwards. ``clock`` is wall-clock seconds (freshness is shared
    between processes through Redis and disk).
    """

    def __init__(self, config: CacheConfig | None = None, *, loader: Loader | None = None,
                 clock: Callable[[], float] = time.time, monitor: Recorder | None = None,
                 serializer: Any = None, default: Callable[[Any], Any] | None = None,
                 redis_client: Any = None) -> None:
        super().__init__(config, loader=loader, clock=clock, monitor=monitor,
                         serializer=serializer, default=default)
        self._redis_client = redis_client
        self._state = "new"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lookups: dict[Hashable, asyncio.Future[Any]] = {}
        self._stop: asyncio.Event | None = None
        self._warmer: Warmer | None = None
        self._paused = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._sync: SyncCacheManager | None = None
        self._sync_lock = threading.Lock()
        self.l2: RedisTier | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def _loop_alive(self) -> bool:
        loop = self._loop
        return loop is not None and not loop.is_closed() and loop.is_running()

    async def start(self) -> None:
        """Connect the tiers and start the background tasks (warm workers, invalidation
        listener); the first call of any method does it too, also after ``close()``."""
        loop = asyncio.get_running_loop()
        if self._state == "open":
            if self._loop is loop or self._loop_alive():
                return
            self._abandon()  # the loop it ran on has ended
        c = self.config
        self._loop = loop
        self._stop = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="defiperf-l3")
        self.l2 = self._make_l2(RedisTier, self._redis_client)
        disk = AsyncDisk(self.l3, self._executor) if self.l3 is not None and self.l3.available else None
        self._set_shared(self.l2, disk)
        self._warmer = Warmer(self._warm_one, c.warm_concurrency, paused=self._paused)
        self._tasks = set(self._warmer.start(loop))
        self._spawn(self._loop_guard(self._stop), "defiperf-loop-guard")
        self._state = "open"
        if self.l2 is not None and c.invalidation:
            ready = asyncio.Event()
            self._spawn(self.l2.listen(self, self._stop, c.coherence_check_s, ready),
                        "defiperf-invalidate")
            with contextlib.suppress(asyncio.TimeoutError):  # Redis down: start anyway
                await asyncio.wait_for(ready.wait(), min(1.0, c.redis_connect_timeout_s))

    async def _loop_guard(self, stop: asyncio.Event) -> None:
        """Waits for close(); cancelled without it (asyncio.run ending with the manager still
        open), it closes the Redis connections of this loop, which cannot outlive it."""
        try:
            await stop.wait()
        except asyncio.CancelledError:
            if not stop.is_set() and self.l2 is not None:
                try:
                    await asyncio.wait_for(self.l2.close(), 0.5)
                except Exception:  # best effort: the loop is going away
                    pass
            raise

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _abandon(self) -> None:
        """Forget what belonged to a loop that has ended (its tasks and sockets died with it)."""
        self._tasks = set()
        self._lookups = {}
        self._fail_flights()  # their owners' tasks died with the loop
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        self._state = "closed"

    async def _ready(self) -> asyncio.AbstractEventLoop | None:
        """None when the caller may proceed on its loop; else the manager's (other) loop."""
        loop = asyncio.get_running_loop()
        if self._state == "open" and self._loop is loop:
            return None
        if self._state == "open" and self._loop_alive():
            return self._loop
        await self.start()
        return None

    async def __aenter__(self) -> SmartCacheManager:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    async def close(self) -> None:
        """Fail in-flight loads' waiters with CacheClosedError, stop the background tasks and
        close every tier, within about ``config.close_timeout_s`` whatever Redis does.
        Idempotent; the manager can be used (started) again afterwards."""
        if self._state == "open" and self._loop is not asyncio.get_running_loop():
            if self._loop_alive():
                assert self._loop is not None
                await _hop(self._loop, self.close())
                return None
            self._abandon()
        if self._state != "open":
            self._state = "closed"
            await self._close_companion(self.config.close_timeout_s)
            return None
        self._state = "closed"
        deadline = time.monotonic() + self.config.close_timeout_s

        def left() -> float:
            return max(0.01, deadline - time.monotonic())
        assert self._stop is not None
        self._stop.set()
        self._fail_flights()
        if self._warmer is not None:
            self._warmer.cancel_queued()
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        # every closing runs at once, so a slow one cannot eat the others' share of the bound
        loop = asyncio.get_running_loop()
        jobs: list[asyncio.Future[Any]] = list(tasks)
        if self.l2 is not None:
            jobs.append(loop.create_task(self.l2.close()))
        if self._executor is not None:
            if self.l3 is not None:
                jobs.append(loop.run_in_executor(self._executor, self.l3.close))
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._sync is not None and not self._sync.closed:
            jobs.append(loop.create_task(asyncio.to_thread(self._sync.close)))
        done, _ = await asyncio.wait(jobs, timeout=left())
        for job in done:  # retrieved: a failed close is not an unhandled error
            if not job.cancelled():
                job.exception()
        self._tasks = set()
        if self.l1 is not None:
            self.l1.clear()
        self._refreshing.clear()
        return None

    async def _close_companion(self, timeout_s: float) -> None:
        companion = self._sync
        if companion is not None and not companion.closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.to_thread(companion.close), timeout_s)

    @property
    def closed(self) -> bool:
        """True after ``close()`` until the next call starts the manager again."""
        return self._state == "closed"

    def _companion(self) -> SyncCacheManager:
        """The blocking side of this cache (plain functions under ``@cached``)."""
        with self._sync_lock:
            if self._sync is None:
                self._sync = SyncCacheManager(redis_client=None, _share=self)
            return self._sync

    # --- reads -------------------------------------------------------------------------------

    async def get(self, key: str | bytes, default: Any = None, *, type: Any = None) -> Any:
        """The fresh value of key from the fastest tier that has it, else ``default``.
        A Redis or disk failure counts as a miss of that tier, never as an error."""
        key = check_key(key)
        if self._state != "open" or self._loop is not _get_running_loop():
            other = await self._ready()
            if other is not None:
                return await _hop(other, self.get(key, default, type=type))
        value = self._fast_get(key)
        if value is not MISS:
            return value
        return self._found(key, await run_async(self._plan_lookup(key)), type, default)

    async def get_many(self, keys: Iterable[str | bytes]) -> dict[str, Any]:
        """{key: fresh value} for the keys any tier has; one MGET for L2's part."""
        wanted = [check_key(k) for k in keys]
        other = await self._ready()
        if other is not None:
            return await _hop(other, self.get_many(wanted))  # type: ignore[no-any-return]
        now = self._clock()
        found = await run_async(self._plan_lookup_many(wanted))
        return {k: e.value for k, e in found.items() if e.fresh(now)}

    # --- writes ------------------------------------------------------------------------------

    async def set(self, key: str | bytes, value: Any, ttl: Any = DEFAULT,
                  stale_ttl: Any = DEFAULT, *, tags: Iterable[str] = ()) -> None:
        """Write through every enabled tier. ``ttl``: seconds fresh (DEFAULT:
        ``config.default_ttl_s``; None: no expiry); ``stale_ttl``: seconds after that it may be
        served stale; ``tags``: names for ``invalidate_tags``. An unserializable value or a bad
        TTL raises before anything is written; a failing Redis or disk never loses the write
        in the other tiers."""
        key = check_key(key)
        ttl_s, stale, tag_tuple = self._write_args(ttl, stale_ttl, tags)
        payload, weight = self._serialize(key, value)
        other = await self._ready()
        if other is not None:
            await _hop(other, self.set(key, value, ttl, stale_ttl, tags=tag_tuple))
            return None
        entry, hard = self._entry(value, ttl_s, stale, weight, tag_tuple)
        await run_async(self._plan_write(key, entry, payload, hard))
        return None

    async def set_many(self, mapping: Mapping[str | bytes, Any], ttl: Any = DEFAULT,
                       stale_ttl: Any = DEFAULT) -> None:
        """Write many keys; one pipeline to Redis, one transaction on disk. Every value is
        serialized first: one bad value writes nothing."""
        ttl_s, stale, _ = self._write_args(ttl, stale_ttl, ())
        other = await self._ready()
        if other is not None:
            await _hop(other, self.set_many(dict(mapping), ttl, stale_ttl))
            return None
        entries, hard = self._prepare_many(mapping, ttl_s, stale)
        await run_async(self._plan_write_many(entries, hard))
        return None

    async def delete(self, key: str | bytes) -> bool:
        """Remove key from every tier (and other processes' L1 through invalidation)."""
        key = check_key(key)
        return await self._run_plan(lambda: self._plan_delete(key))  # type: ignore[no-any-return]

    async def clear(self) -> None:
        """Empty every tier — in Redis only this namespace's keys — and other processes' L1."""
        await self._run_plan(self._plan_clear)

    async def invalidate_tags(self, tags: Iterable[str]) -> int:
        """Remove every entry set with any of ``tags``, in every tier and process."""
        tag_tuple = check_tags(tags)
        return int(await self._run_plan(lambda: self._plan_invalidate_tags(tag_tuple)))

    async def _run_plan(self, make: Callable[[], Any]) -> Any:
        other = await self._ready()
        if other is not None:
            return await _hop(other, self._run_plan(make))
        return await run_async(make())

    # --- loading: single flight, stale-while-revalidate, refresh-ahead -----------------------

    async def get_or_set(self, key: str | bytes, loader: Loader | None = None, *,
                         ttl: Any = DEFAULT, stale_ttl: Any = DEFAULT, type: Any = None,
                         tags: Iterable[str] = ()) -> Any:
        """The fresh value of key; on a miss ``loader(key)`` (sync or async) is called once
        however many callers miss together (single flight, shared with the blocking callers of
        plain functions under ``@cached``: one load per key for both) and its value is cached;
        callers missing a key together also share one lookup of Redis and disk. Within
        ``stale_ttl`` after expiry the stale value is returned at once and one background
        refresh runs. A loader error is raised to the callers when there is no stale value;
        a failed refresh keeps the stale value. A loader asking for its own key raises
        ReentrantLoadError; waiters of a load cut short by ``close()`` get CacheClosedError."""
        key = check_key(key)
        ttl_s, stale, tag_tuple = self._write_args(ttl, stale_ttl, tags)
        loader = self._loader(loader)
        return await self._cached_miss_async(key, loader, ttl_s, stale, type, tag_tuple)

    async def _cached_miss_async(self, key: Hashable, loader: Loader, ttl: float | None,
                                 stale: float, tp: Any, tags: tuple[str, ...]) -> Any:
        other = await self._ready()
        if other is not None:
            return await _hop(other, self._cached_miss_async(key, loader, ttl, stale, tp, tags))
        self._remember_loader(key, loader, ttl, stale, tp, tags)
        if key in self._flights and key not in self._refreshing:  # a cold load: join it
            return await self._load(key, loader, ttl, stale, tags)
        value = self._usable(key, await self._lookup_once(key, ttl), (loader, ttl, stale, tp, tags))
        return await self._load(key, loader, ttl, stale, tags) if value is MISS else value

    async def _lookup_once(self, key: Hashable, ttl: float | None) -> Any:
        """The tiers' entry of key, looked up once for the callers that miss it together (a
        cold burst of 5,000 callers on 100 keys makes 100 Redis round trips, not 5,000)."""
        if not self.shared:  # L1 only: nothing to wait for
            return await run_async(self._plan_lookup(key, ttl))
        lookups = self._lookups
        fut = lookups.get(key)
        if fut is not None:
            found = await asyncio.shield(fut)
            if found is not _RETRY:
                return found
            return await run_async(self._plan_lookup(key, ttl))
        fut = lookups[key] = asyncio.get_running_loop().create_future()
        found = _RETRY  # the owner was cancelled: its joiners look up for themselves
        try:
            found = await run_async(self._plan_lookup(key, ttl))
            return found
        finally:
            fut.set_result(found)
            if lookups.get(key) is fut:
                del lookups[key]

    async def _load(self, key: Hashable, loader: Loader, ttl: float | None, stale: float,
                    tags: tuple[str, ...], force: bool = False) -> Any:
        while True:
            with self._flight(key) as flight:  # one table with the blocking side
                if not flight.owner:
                    value = await self._wait(key, flight.fut)
                    if value is RETRY:  # the owner gave the load up or is gone: load it here
                        continue
                    return value
                return flight.done(await run_async(
                    self._plan_load(key, loader, ttl, stale, tags, force)))

    async def _wait(self, key: Hashable, fut: LoadFuture) -> Any:
        """The result of a load another caller owns (on this loop or a blocking thread), or
        RETRY when its owner gave it up or is gone (see CacheCore._wait_blocking)."""
        waiter = fut.waiter()
        waiter.add_done_callback(_retrieve)  # read even when this caller gave up waiting
        watch = OwnerWatch(fut, self.config.load_wait_timeout_s, asyncio.get_running_loop())
        while True:  # asyncio.wait never cancels the waiter: the load's Future is untouched
            await asyncio.wait((waiter,), timeout=watch.slice())
            if waiter.done():
                return waiter.result()
            verdict = watch.verdict()
            if verdict:
                return self._gave_up(key, fut, verdict)

    def _refresh_ahead(self, key: Hashable, spec: tuple[Any, ...] | None = None) -> None:
        if self._state != "open" or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not self._loop:  # a blocking caller: its companion refreshes
            self._companion()._refresh_ahead(key, spec)
            return
        due = self._claim_refresh(key, spec, self._flights)
        if due is not None:
            self._spawn(self._refresh(key, due), "defiperf-refresh")

    async def _refresh(self, key: Hashable, spec: tuple[Any, ...]) -> None:
        loader, ttl, stale, _tp, tags = spec
        _LOADING.set(frozenset())  # this task's own context: not inside the reader's load
        try:
            await self._load(key, loader, ttl, stale, tags, force=True)
        except asyncio.CancelledError:
            self._refreshing.discard(key)
            raise
        except BaseException as exc:
            self._refresh_done(key, exc, ttl)
        else:
            self._refresh_done(key, None, ttl)

    # --- the decorator -----------------------------------------------------------------------

    def _binding_for(self, is_async: bool) -> Any:
        return self if is_async else self._companion()

    async def _cached_store_async(self, key: Hashable, value: Any, ttl: float | None,
                                  stale: float, tags: tuple[str, ...]) -> None:
        await self._run_plan(lambda: self._plan_store(key, value, ttl, stale, tags))

    async def _cached_delete_async(self, key: Hashable) -> bool:
        return bool(await self._run_plan(lambda: self._plan_delete(key)))

    async def _cached_clear_async(self, prefix: str, tag: str | None) -> None:
        await self._run_plan(lambda: self._plan_clear_function(prefix, tag))

    # --- warming -----------------------------------------------------------------------------

    async def warm_cache(self, keys: Iterable[str | bytes], priority: int = 5,
                         loader: Loader | None = None, *, wait: bool = True,
                         ttl: Any = DEFAULT, stale_ttl: Any = DEFAULT) -> int:
        """Schedule loads of keys that are not fresh, on a priority queue (0..10, higher first,
        ``config.warm_concurrency`` at once). With ``wait`` returns how many were loaded (keys
        already fresh count as loaded); failures are counted and logged as one rate-limited
        summary per call (how many, the first error), not raised."""
        checked, use, ttl_s, stale = self._warm_args(keys, priority, loader, ttl, stale_ttl)
        other = await self._ready()
        if other is not None:
            return await _hop(other, self.warm_cache(checked, priority, use, wait=wait,  # type: ignore[no-any-return]
                                                     ttl=ttl, stale_ttl=stale_ttl))
        assert self._warmer is not None
        if wait and in_worker():  # a warm loader warming its dependents: no worker is free
            outcomes = await warm_inline(self._warm_one, checked, (use, ttl_s, stale),
                                         self.config.warm_concurrency)
            return self._warm_outcome(checked, outcomes)
        futures = [self._warmer.submit(k, (use, ttl_s, stale), priority) for k in checked]
        summary = asyncio.gather(*futures)
        if not wait:
            summary.add_done_callback(
                lambda done: done.cancelled() or self._warm_outcome(checked, done.result()))
            return 0
        return self._warm_outcome(checked, await summary)

    async def _warm_one(self, key: str, spec: tuple[Any, ...]) -> None:
        loader, ttl, stale = spec
        entry = self.l1.lru.peek(key) if self.l1 is not None else None
        if entry is not None and entry.fresh(self._clock()) and self._clock() < entry.refresh_at:
            return
        await self._load(key, loader, ttl, stale, ())

    def pause_warming(self) -> None:
        """Stop starting warm loads (for memory pressure); queued ones wait, in order."""
        self._paused = True
        if self._warmer is not None:
            self._warmer.pause()

    def resume_warming(self) -> None:
        """Resume warming and refresh-ahead after ``pause_warming()``."""
        self._paused = False
        if self._warmer is not None:
            self._warmer.resume()

    @property
    def warming_paused(self) -> bool:
        """True while warming and refresh-ahead are paused."""
        return self._paused


__all__ = ["SmartCacheManager"]
