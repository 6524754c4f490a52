"""CacheCore: what SmartCacheManager (async) and SyncCacheManager (blocking) share — config,
serializer, L1, the disk tier, per-tier health and metrics, entries, and the read/write plans
(generators of tier calls that either manager drives, see slots.py). Single flight, background
work and I/O belong to the managers."""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import heapq
import inspect
import itertools
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, overload

from defiperf._validate import check_int
from defiperf.batch.breaker import CircuitBreaker
from defiperf._ratelimit import RateLimitedLog
from defiperf.cache.config import DEFAULT_CACHE_CONFIG, CacheConfig
from defiperf.cache.cached import MISS, CachedFunction, P, R, decorate, is_async_function
from defiperf.cache.disk import DiskTier
from defiperf.cache.envelope import Entry
from defiperf.cache.errors import CacheClosedError, ReentrantLoadError, SerializationError
from defiperf.cache.keys import check_key, check_tags
from defiperf.cache.flights import FlightTable, OwnerWatch
from defiperf.cache.load_future import RETRY, LoadFuture
from defiperf.cache.memory import MemoryTier
from defiperf.cache.serialization import Serializer
from defiperf.cache.slots import Plan, TierHealth, TierMetrics, TierSlot
from defiperf.cache.ttl import DEFAULT, TTL, _Default, resolve_ttl
from defiperf.cache.typed import rebuild, return_type
from defiperf.structures import OptimizedLRU

if TYPE_CHECKING:  # typing only: the monitor package is not imported at run time
    from defiperf.monitor.recorder import Recorder

logger = logging.getLogger("defiperf.cache")
_log = RateLimitedLog(logger, interval_s=10.0)

Loader = Callable[[Any], Any]  # called with the key: a str, or a call's key for @cached
_LOADING: contextvars.ContextVar[frozenset[tuple[str, Hashable]]] = contextvars.ContextVar(
    "defiperf_cache_loading", default=frozenset())
_COUNTERS = ("loads", "load_errors", "stale_served", "refreshes", "refresh_failures",
             "single_flight_joins", "warmed", "warm_failures", "invalidations_received",
             "l1_resets", "l2_write_errors", "l3_write_errors", "typed_misses")


class _Loader:
    """LOADER: a pseudo-tier a plan yields to call a loader (``(LOADER, "load", (loader,
    key))``); unlike a tier's, its exceptions propagate to the plan's caller."""

    name = "loader"

    @staticmethod
    def call(method: str, args: tuple[Any, ...]) -> tuple[bool, Any, float]:
        loader, key = args
        return True, loader(key), 0.0

    @staticmethod
    async def acall(method: str, args: tuple[Any, ...]) -> tuple[bool, Any, float]:
        loader, key = args
        return True, await call_loader(loader, key), 0.0


LOADER: Any = _Loader()


async def call_loader(loader: Loader, key: Hashable) -> Any:
    """loader(key) from the event loop: awaited when async, on a worker thread when blocking."""
    if is_async_function(loader):
        return await loader(key)
    result = await asyncio.to_thread(loader, key)  # a blocking loader never blocks the loop
    if inspect.isawaitable(result):
        return await result
    return result


class Flight:
    """``with core._flight(key) as flight``: marks key as loading in this context (a loader
    asking for its own key raises ReentrantLoadError) and joins the load in flight for key or
    owns a new one (``flight.owner``). The owner ends with ``flight.done(value)``; an exception
    leaving the block fails the load for its waiters — an Exception reaches them all, while a
    BaseException (cancelled, KeyboardInterrupt, SystemExit) stays the owner's own and its
    waiters load the key themselves (RETRY); either way the flight lands."""

    __slots__ = ("core", "key", "fut", "owner", "_token")

    def __init__(self, core: CacheCore, key: Hashable) -> None:
        self.core, self.key = core, key

    def __enter__(self) -> Flight:
        self._token = self.core._enter_load(self.key)
        try:
            self.fut, self.owner = self.core._join_or_own(self.key)
        except BaseException:
            _LOADING.reset(self._token)
            raise
        return self

    def done(self, value: Any) -> Any:
        self.fut.settle(value)
        return value

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> None:
        try:
            _LOADING.reset(self._token)
        except ValueError:  # closed by the GC in another context (its loop is gone): the
            pass            # mark dies with its own context; the flight must still land
        if self.owner:
            if exc is not None:
                self.core.counters["load_errors"] += isinstance(exc, Exception)
                self.fut.settle(exc=exc)
            self.core._flights.land(self.fut)


class _SafeText:
    """A log argument formatted only when the line is emitted, never raising: an exception's
    ``__str__`` (or a type's name) is user code that may fail."""

    __slots__ = ("obj", "attr")

    def __init__(self, obj: Any, attr: str | None = None) -> None:
        self.obj, self.attr = obj, attr

    def __str__(self) -> str:
        try:
            text = getattr(self.obj, self.attr) if self.attr else str(self.obj)
            if not isinstance(text, str):
                raise TypeError("not a str")
            return text[:200]
        except Exception:  # whatever it raises, the log line stays
            return f"<unprintable {type(self.obj).__name__}>"


class RefreshSchedule:
    """Loaded entries by refresh time (a heap), and the keys read since they were loaded."""

    def __init__(self, cap: int) -> None:
        self.due: list[tuple[float, int, Hashable]] = []
        self.due_at = math.inf  # due[0]'s time: one comparison per read
        self.seq = itertools.count()
        self.reads: set[Hashable] = set()
        self.cap = cap
        self.lock = threading.Lock()


class CacheCore:
    """The shared state of a manager (see the managers for the API)."""

    _state: str  # "new", "open" or "closed": each manager's lifecycle

    def __init__(self, config: CacheConfig | None = None, *, loader: Loader | None = None,
                 clock: Callable[[], float] = time.time, monitor: Recorder | None = None,
                 serializer: Any = None, default: Callable[[Any], Any] | None = None,
                 _share: CacheCore | None = None) -> None:
        if _share is not None:  # a blocking companion of an async manager: one cache
            self._share_state(_share)
            return
        config = DEFAULT_CACHE_CONFIG if config is None else config
        if not isinstance(config, CacheConfig):
            raise TypeError(f"config must be a CacheConfig, not {type(config).__name__}")
        if loader is not None and not callable(loader):
            raise TypeError("loader must be callable")
        if monitor is not None and not callable(getattr(monitor, "record_cache", None)):
            raise TypeError("monitor must be a Recorder (defiperf.monitor.recorder): it has no "
                            f"record_cache method ({type(monitor).__name__})")
        if serializer is not None and not (callable(getattr(serializer, "dumps", None))
                                           and callable(getattr(serializer, "loads", None))):
            raise TypeError("serializer must have dumps(value) -> bytes and loads(bytes)")
        if serializer is not None and default is not None:
            raise ValueError("pass serializer= or default=, not both (default= is a hook of "
                             "the built-in serializer)")
        self.config = config
        self.loader = loader
        self.monitor = monitor
        self._clock = clock
        self.serializer = serializer if serializer is not None else Serializer(
            config.compress_threshold_bytes, allow_pickle=config.allow_pickle,
            use_pickle=config.use_pickle, default=default, max_depth=config.max_decode_depth,
            max_value_bytes=config.max_value_bytes)
        self.l1 = (MemoryTier(config.l1_max_entries, max_weight_bytes=config.l1_max_weight_bytes,
                              policy=config.l1_policy, timer=clock)
                   if config.l1_enabled else None)
        self.l3 = self._open_disk()
        self.origin = uuid.uuid4().hex
        b = config.breaker_config
        self.tier_health = {name: TierHealth(name, CircuitBreaker(
            b.failure_rate_threshold, min_calls=b.min_calls, window_calls=b.window_calls,
            reset_timeout_s=b.reset_timeout_s)) for name in ("l2", "l3")}
        self.l1_metrics = TierMetrics()
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self._loaders: OptimizedLRU[Hashable, tuple[Any, ...]] = OptimizedLRU(
            max(config.refresh_hot_keys, 16))
        self._refresh_backoff: dict[Hashable, tuple[int, float]] = {}
        self._refreshing: set[Hashable] = set()
        self._sched = RefreshSchedule(4 * max(config.refresh_hot_keys, 16))
        self._flights = FlightTable()  # never rebound: both sides share it (see flights.py)
        self._warm_log = RateLimitedLog(logger, interval_s=10.0)
        self.shared: list[TierSlot] = []
        self._l2_slot: TierSlot | None = None

    def _share_state(self, other: CacheCore) -> None:
        for name in ("config", "loader", "monitor", "_clock", "serializer", "l1", "l3", "origin",
                     "tier_health", "l1_metrics", "counters", "_loaders", "_refresh_backoff",
                     "_refreshing", "_sched", "_flights", "_warm_log"):
            setattr(self, name, getattr(other, name))
        self.shared = []
        self._l2_slot = None

    def _open_disk(self) -> DiskTier | None:
        c = self.config
        if not c.disk_enabled:
            return None
        return DiskTier(c.disk_dir, self.serializer, namespace=c.namespace,
                        size_limit_bytes=c.disk_size_limit_bytes, clock=self._clock)

    @property
    def metrics(self) -> dict[str, TierMetrics]:
        """Per-tier metrics (hits, misses, errors, latency), keyed ``l1``, ``l2``, ``l3``."""
        return {"l1": self.l1_metrics, **{n: h.metrics for n, h in self.tier_health.items()}}

    @property
    def breaker(self) -> CircuitBreaker:
        """L2's circuit breaker."""
        return self.tier_health["l2"].breaker

    def _make_l2(self, tier_class: Any, client: Any) -> Any:
        """The L2 tier of this manager's kind as the config says (None without redis_url)."""
        c = self.config
        if not c.redis_url:
            return None
        return tier_class(c.redis_url, self.serializer, namespace=c.namespace,
                          timeout_s=c.redis_timeout_s, connect_timeout_s=c.redis_connect_timeout_s,
                          max_connections=c.redis_max_connections, cluster=c.redis_cluster,
                          clock=self._clock, client=client, origin=self.origin)

    def _set_shared(self, l2: Any, l3: Any) -> None:
        self._l2_slot = TierSlot(l2, self.tier_health["l2"]) if l2 is not None else None
        self.shared = [s for s in (self._l2_slot,) if s is not None]
        if l3 is not None:
            self.shared.append(TierSlot(l3, self.tier_health["l3"]))

    # --- arguments ---------------------------------------------------------------------------

    def _write_args(self, ttl: Any, stale_ttl: Any,
                    tags: Iterable[str]) -> tuple[float | None, float, tuple[str, ...]]:
        """(ttl seconds or None, stale seconds, tags), validated; DEFAULT from the config."""
        c = self.config
        ttl_s = resolve_ttl("ttl", ttl, c.default_ttl_s)
        stale = resolve_ttl("stale_ttl", stale_ttl, c.default_stale_ttl_s, allow_zero=True) or 0.0
        return ttl_s, stale, check_tags(tags)

    def _loader(self, loader: Loader | None) -> Loader:
        chosen = loader or self.loader
        if chosen is None:
            raise ValueError("no loader: pass one or give the manager a default loader")
        return chosen

    def _warm_args(self, keys: Iterable[str | bytes], priority: int, loader: Loader | None,
                   ttl: Any, stale_ttl: Any) -> tuple[list[str], Loader, float | None, float]:
        check_int("priority", priority, minimum=0, maximum=10)
        chosen = self._loader(loader)
        checked = [check_key(k) for k in keys]
        ttl_s, stale, _ = self._write_args(ttl, stale_ttl, ())
        return checked, chosen, ttl_s, stale

    def _prepare_many(self, mapping: Mapping[str | bytes, Any], ttl: float | None,
                      stale: float) -> tuple[dict[str, Any], float | None]:
        """Every value serialized before anything is written: one bad value writes nothing."""
        prepared: dict[str, Any] = {}
        hard: float | None = None
        for raw_key, value in mapping.items():
            key = check_key(raw_key)
            payload, weight = self._serialize(key, value)
            entry, hard = self._entry(value, ttl, stale, weight)
            prepared[key] = (entry, payload)
        return prepared, hard

    # --- entries and values --------------------------------------------------------------

    def _refresh_window(self, ttl: float | None) -> float:
        c = self.config
        if ttl is None or c.refresh_ahead_fraction <= 0:
            return -1.0
        return min(c.refresh_ahead_fraction * ttl, c.refresh_ahead_s)

    def _entry(self, value: Any, ttl: float | None, stale: float, weight: int,
               tags: tuple[str, ...] = (), refreshable: bool = False) -> tuple[Entry, float | None]:
        """The entry for value and its hard TTL in seconds (None: no expiry)."""
        if ttl is None:
            return Entry(value, math.inf, math.inf, weight, None, math.inf, tags), None
        now = self._clock()
        window = self._refresh_window(ttl) if refreshable else -1.0
        refresh_at = now + ttl - window if window > 0 else math.inf
        return Entry(value, now + ttl, now + ttl + stale, weight, None, refresh_at, tags), ttl + stale

    def _serialize(self, key: Hashable, value: Any) -> tuple[bytes | None, int]:
        shared = bool(self.shared) and type(key) is str
        if not shared and self.config.l1_max_weight_bytes is None:
            return None, 1
        try:
            payload = self.serializer.dumps(value)  # raises before any tier is written
        except SerializationError:
            raise
        except Exception as exc:
            raise SerializationError(f"serializer= could not serialize {type(value).__name__}: "
                                     f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(payload, bytes):
            raise SerializationError(f"serializer.dumps returned {type(payload).__name__}, "
                                     "not bytes")
        return payload, len(payload)

    def _typed(self, key: Hashable, entry: Entry, tp: Any) -> tuple[bool, Any]:
        """(ok, value) of entry as type tp; a value that does not fit is a logged miss."""
        if tp is None or entry.payload is None:
            return True, entry.value
        try:
            value = rebuild(entry.value, tp)
        except Exception as exc:
            self.counters["typed_misses"] += 1
            _log.log(logging.WARNING, "typed", "cached value of %r is not a %s (%s): a miss",
                     key, getattr(tp, "__name__", tp), exc)
            return False, None
        if value is not entry.value and self.l1 is not None:  # L1 keeps the typed value
            self.l1.set(key, entry._replace(value=value, payload=None),
                        entry.remaining_s(self._clock()))
        return True, value

    def _fast_get(self, key: Hashable) -> Any:
        """The fresh L1 value of key, or MISS (the hot path of ``get`` and ``@cached``: L1 hits
        are counted, and timed only when a monitor is attached)."""
        l1 = self.l1
        if l1 is None:
            return MISS
        if self.monitor is not None:
            entry = self._l1_get(key)
            if entry is None:
                return MISS
            self.l1_metrics.hits -= 1  # counted again below
        else:
            entry = l1.get(key)
        if entry is None:
            return MISS
        now = self._clock()
        if now >= entry.fresh_until:
            return MISS
        self._note_read(key, entry, now)
        self.l1_metrics.hits += 1
        return entry.value

    def _found(self, key: Hashable, entry: Entry | None, tp: Any, default: Any) -> Any:
        """What ``get`` returns for the entry a lookup found."""
        now = self._clock()
        if entry is None or not entry.fresh(now):
            return default
        self._note_read(key, entry, now)
        ok, value = self._typed(key, entry, tp)
        return value if ok else default

    def _usable(self, key: Hashable, entry: Entry | None, spec: tuple[Any, ...]) -> Any:
        """What ``get_or_set`` returns without loading: the fresh value, or the stale one (a
        background refresh started); MISS when it must load. ``spec``: loader, ttl, stale,
        type, tags."""
        if entry is None:
            return MISS
        ok, value = self._typed(key, entry, spec[3])
        if not ok:
            return MISS
        now = self._clock()
        if entry.fresh(now):
            self._note_read(key, entry, now)
            return value
        self.counters["stale_served"] += 1
        self._refresh_ahead(key, spec)
        return value

    def _note_read(self, key: Hashable, entry: Entry, now: float) -> None:
        """A fresh entry was read: remember it for refresh-ahead, and run what is due."""
        sched = self._sched
        if entry.refresh_at != math.inf:
            sched.reads.add(key)
            if now >= entry.refresh_at:
                self._refresh_ahead(key)
        if now >= sched.due_at:
            self._refresh_pass(now)

    def _schedule_refresh(self, key: Hashable, entry: Entry) -> None:
        """A loaded entry: at its refresh_at it is reloaded if it was read meanwhile."""
        sched = self._sched
        if entry.refresh_at == math.inf or len(sched.due) >= sched.cap:
            return
        with sched.lock:
            heapq.heappush(sched.due, (entry.refresh_at, next(sched.seq), key))
            sched.due_at = sched.due[0][0]

    def _refresh_pass(self, now: float) -> int:
        """Refresh-ahead of the entries due by now that were read since they were loaded;
        the others are left to expire. Runs on reads (no timer): a cache nobody reads does no
        work. Returns how many refreshes it started."""
        sched = self._sched
        ready = []
        with sched.lock:
            due = sched.due
            while due and due[0][0] <= now:
                ready.append(heapq.heappop(due)[2])
            sched.due_at = due[0][0] if due else math.inf
        started = 0
        for key in ready:
            if key in sched.reads:
                sched.reads.discard(key)
                before = self.counters["refreshes"]
                self._refresh_ahead(key)
                started += self.counters["refreshes"] - before
        return started

    def run_refresh_ahead(self) -> int:
        """One refresh-ahead pass now (reads run them as they come); how many it started."""
        return self._refresh_pass(self._clock())

    def _refresh_ahead(self, key: Hashable, spec: tuple[Any, ...] | None = None) -> None:
        """Start a background refresh of key (each manager runs it its own way)."""
        raise NotImplementedError

    # --- the decorator -----------------------------------------------------------------------

    @overload
    def cached(self, ttl: Callable[P, R], /) -> CachedFunction[P, R]: ...

    @overload
    def cached(self, ttl: TTL | _Default = DEFAULT, stale_ttl: TTL | _Default = DEFAULT,
               key: str | Callable[..., Any] | None = None, *, type: Any = None,
               tags: Iterable[str] = (),
               include_self: bool = False) -> Callable[[Callable[P, R]], CachedFunction[P, R]]: ...

    def cached(self, ttl: Any = DEFAULT, stale_ttl: Any = DEFAULT,
               key: str | Callable[..., Any] | None = None, *, type: Any = None,
               tags: Iterable[str] = (), include_self: bool = False) -> Any:
        """Decorator for async and plain functions: results keyed by the call's arguments
        normalised through the signature (``self`` left out unless ``include_self``), or by
        ``key=`` (a callable, or a format template checked now); loaded through single flight
        with stale-while-revalidate and refresh-ahead; values read back from Redis/disk are
        rebuilt as the return annotation (or ``type=``). The wrapper gets ``cache_info()``,
        ``cache_clear()``, ``invalidate(...)``, ``refresh(...)`` and ``key(...)``. With
        ``key=`` each entry also carries the function's own tag (``cache_clear()`` finds the
        entries by it), so ``tags`` may then hold at most 63 of an entry's 64. A plain
        function's wrapper is blocking (no event loop per call) and raises LoopThreadError on
        a thread running an event loop."""
        if callable(ttl) and not isinstance(ttl, (int, float, datetime.timedelta)):
            return self.cached()(ttl)
        ttl_s, stale, tag_tuple = self._write_args(ttl, stale_ttl, tags)

        def wrap(fn: Callable[..., Any]) -> Any:
            is_async = is_async_function(fn)
            return decorate(self._binding_for(is_async), fn, key=key, ttl=ttl_s,
                            stale=stale, tp=type if type is not None else return_type(fn),
                            tags=tag_tuple, include_self=include_self,
                            memo_size=self.config.l1_max_entries, is_async=is_async)
        return wrap

    def _binding_for(self, is_async: bool) -> Any:
        """The manager serving a decorated function of this kind (see cached.py)."""
        return self

    # --- plans -----------------------------------------------------------------------------

    def _l1_get(self, key: Hashable) -> Entry | None:
        if self.l1 is None:
            return None
        start = time.perf_counter()
        entry = self.l1.get(key)
        m = self.l1_metrics
        ms = (time.perf_counter() - start) * 1000.0
        if entry is not None:
            m.hits += 1
        else:
            m.misses += 1
        m.latency_ms.record(ms)
        if self.monitor is not None:
            self.monitor.record_cache("l1", entry is not None, ms)
        return entry

    def _plan_lookup(self, key: Hashable, refresh_ttl: float | None = None) -> Plan:
        """The live entry of key from the first tier that has it, promoted to the tiers above
        with its remaining TTL; None when no tier has it."""
        entry = self._l1_get(key)
        if entry is not None or type(key) is not str:
            return entry
        now = self._clock()
        above: list[TierSlot] = []
        for slot in self.shared:
            if not slot.allowed():
                continue
            ok, found, ms = yield slot, "get", (key,)
            if not ok:
                continue
            slot.record(found is not None, ms, self.monitor)
            if found is not None and found.alive(now):
                remaining = found.remaining_s(now)
                for upper in above:
                    if upper.allowed():
                        yield upper, "set", (key, found, found.payload, remaining)
                if refresh_ttl is not None:
                    window = self._refresh_window(refresh_ttl)
                    if window > 0:
                        found = found._replace(refresh_at=found.fresh_until - window)
                if self.l1 is not None:
                    self.l1.set(key, found, remaining)
                return found
            above.append(slot)
        return None

    def _plan_lookup_many(self, keys: list[str]) -> Plan:
        now = self._clock()
        found: dict[str, Entry] = {}
        if self.l1 is not None:
            found.update(self.l1.get_many(keys))  # type: ignore[arg-type]
        above: list[TierSlot] = []
        for slot in self.shared:
            missing = [k for k in keys if k not in found]
            if not missing:
                break
            if not slot.allowed():
                continue
            ok, got, _ = yield slot, "get_many", (missing,)
            if not ok:
                continue
            for key, entry in got.items():
                remaining = entry.remaining_s(now)
                for upper in above:
                    if upper.allowed():
                        yield upper, "set", (key, entry, entry.payload, remaining)
                if self.l1 is not None:
                    self.l1.set(key, entry, remaining)
            found.update(got)
            above.append(slot)
        return found

    def _plan_store(self, key: Hashable, value: Any, ttl: float | None, stale: float,
                    tags: tuple[str, ...], refreshable: bool = False) -> Plan:
        """Serialize value (raising before anything is written) and write it through."""
        payload, weight = self._serialize(key, value)
        entry, hard = self._entry(value, ttl, stale, weight, tags, refreshable)
        yield from self._plan_write(key, entry, payload, hard)
        self._schedule_refresh(key, entry)

    def _plan_load(self, key: Hashable, loader: Loader, ttl: float | None, stale: float,
                   tags: tuple[str, ...], force: bool) -> Plan:
        """The owner of a load's flight: the value another load stored meanwhile (unless
        ``force``), else the loader's, stored while the manager is open. The loader is called
        through the LOADER pseudo-tier, whose errors reach the caller."""
        if not force:  # another load may have finished since this caller's lookup
            entry = (self.l1.get(key) if self.l1 is not None
                     else (yield from self._plan_lookup(key)))
            if entry is not None and entry.fresh(self._clock()):
                return entry.value
        self.counters["loads"] += 1
        _, value, _ = yield LOADER, "load", (loader, key)
        if self._state == "open":
            yield from self._plan_store(key, value, ttl, stale, tags, refreshable=True)
        return value

    def _plan_write(self, key: Hashable, entry: Entry, payload: bytes | None,
                    hard_ttl: float | None) -> Plan:
        if self.l1 is not None:
            self.l1.set(key, entry, hard_ttl)
        if type(key) is not str or payload is None:
            return None
        for slot in self.shared:
            if slot.allowed():
                ok, _, _ = yield slot, "set", (key, entry, payload, hard_ttl)
                if not ok:
                    self.counters[f"{slot.name}_write_errors"] += 1
        yield from self._plan_publish("k", key)
        return None

    def _plan_write_many(self, prepared: dict[str, tuple[Entry, bytes | None]],
                         hard_ttl: float | None) -> Plan:
        if self.l1 is not None:
            self.l1.set_many(prepared, hard_ttl)  # type: ignore[arg-type]
        if not prepared or next(iter(prepared.values()))[1] is None:
            return None
        for slot in self.shared:
            if slot.allowed():
                ok, _, _ = yield slot, "set_many", (prepared, hard_ttl)
                if not ok:
                    self.counters[f"{slot.name}_write_errors"] += 1
        for key in prepared:
            yield from self._plan_publish("k", key)
        return None

    def _plan_publish(self, op: str, arg: str) -> Plan:
        slot = self._l2_slot
        if slot is not None and self.config.invalidation and slot.allowed():
            yield slot, "publish", (op, arg)

    def _plan_delete(self, key: Hashable) -> Plan:
        removed = self.l1.delete(key) if self.l1 is not None else False
        if type(key) is not str:
            return removed
        for slot in self.shared:
            if slot.allowed():
                ok, result, _ = yield slot, "delete", (key,)
                removed = bool(ok and result) or removed
        yield from self._plan_publish("k", key)
        return removed

    def _plan_clear(self) -> Plan:
        if self.l1 is not None:
            self.l1.clear()
        for slot in self.shared:
            if slot.allowed():
                yield slot, "clear", ()
        yield from self._plan_publish("c", "")

    def _plan_delete_prefix(self, prefix: str) -> Plan:
        removed = self.l1.delete_prefix(prefix) if self.l1 is not None else 0
        for slot in self.shared:
            if slot.allowed():
                ok, n, _ = yield slot, "delete_prefix", (prefix,)
                removed += n if ok else 0
        yield from self._plan_publish("p", prefix)
        return removed

    def _plan_clear_function(self, prefix: str, tag: str | None) -> Plan:
        """A decorated function's entries: its canonical keys (by prefix) and, when it has a
        ``key=``, the entries carrying its tag."""
        removed = yield from self._plan_delete_prefix(prefix)
        if tag is not None:
            removed += yield from self._plan_invalidate_tags((tag,))
        return removed

    def _plan_invalidate_tags(self, tags: tuple[str, ...]) -> Plan:
        removed = self.l1.delete_tagged(tags) if self.l1 is not None else 0
        for slot in self.shared:
            if slot.allowed():
                ok, n, _ = yield slot, "delete_tagged", (tags,)
                removed += n if ok else 0
        yield from self._plan_publish("t", "\x1f".join(tags))
        return removed

    # --- the invalidation listener's handler --------------------------------------------------

    def on_invalidate(self, key: str) -> None:
        """Another process changed ``key``: drop it from L1."""
        if self.l1 is not None:
            self.l1.delete(key)
        self.counters["invalidations_received"] += 1

    def on_invalidate_tags(self, tags: list[str]) -> None:
        """Another process invalidated ``tags``: drop their entries from L1."""
        if self.l1 is not None:
            self.l1.delete_tagged(tags)
        self.counters["invalidations_received"] += 1

    def on_invalidate_prefix(self, prefix: str) -> None:
        """Another process cleared ``prefix``: drop its entries from L1."""
        if self.l1 is not None:
            self.l1.delete_prefix(prefix)
        self.counters["invalidations_received"] += 1

    def on_reset(self, reason: str) -> None:
        """Drop L1: another process may have changed anything (see redis_tier.py)."""
        if self.l1 is not None:
            self.l1.clear()
        self.counters["l1_resets"] += 1
        logger.debug("L1 dropped: %s", reason)

    # --- single flight helpers -------------------------------------------------------------
    # One table of loads in flight for both sides of a cache (an async manager and its blocking
    # companion share it): a caller that misses a key another caller — async or blocking — is
    # loading waits for that load's LoadFuture instead of calling the loader again.

    def _flight(self, key: Hashable) -> Flight:
        return Flight(self, key)

    def _join_or_own(self, key: Hashable) -> tuple[LoadFuture, bool]:
        """(the Future of key's load in flight, False), or (a new one, True): the caller owns
        the load and must settle the Future and then land it."""
        fut, owner = self._flights.join_or_own(key)
        if not owner:
            self.counters["single_flight_joins"] += 1
        return fut, owner

    def _fail_flights(self) -> None:
        """Every load in flight ends for its waiters with CacheClosedError (close)."""
        for fut in self._flights.take_all():  # in place: the table stays shared
            fut.settle(exc=CacheClosedError("the cache manager was closed during this load"))

    def _gave_up(self, key: Hashable, fut: LoadFuture, verdict: str) -> Any:
        """A waiter's end other than the outcome (see OwnerWatch): the owner is gone — drop
        its flight and send its waiters to load (RETRY) — or the wait timed out."""
        if verdict != "gone":
            raise self._wait_timeout_error(key)
        self._flights.land(fut)
        fut.abandon()
        return RETRY

    def _wait_blocking(self, key: Hashable, fut: LoadFuture) -> Any:
        """The outcome of a load another caller owns, or RETRY (its owner gave it up or is
        gone: load it yourself); at most load_wait_timeout_s."""
        watch = OwnerWatch(fut, self.config.load_wait_timeout_s)
        while not fut.wait(watch.slice()):
            verdict = watch.verdict()
            if verdict:
                return self._gave_up(key, fut, verdict)
        return fut.outcome()

    def _wait_timeout_error(self, key: Hashable) -> TimeoutError:
        return TimeoutError(
            f"waited {self.config.load_wait_timeout_s:g} s for another caller's load of "
            f"{key!r} (load_wait_timeout_s). If that load itself asks for {key!r} from a "
            "worker thread that does not carry its context (loop.run_in_executor, a thread "
            "pool's submit), it is waiting for its own result: call the cached function "
            "directly, or through asyncio.to_thread / contextvars.copy_context().run, so the "
            "re-entry raises ReentrantLoadError at once")

    def _enter_load(self, key: Hashable) -> contextvars.Token[frozenset[tuple[str, Hashable]]]:
        """Mark key as being loaded in this context; ReentrantLoadError when it already is."""
        loading = _LOADING.get()
        mark = (self.origin, key)
        if mark in loading:
            raise ReentrantLoadError(
                f"the loader of {key!r} asked the cache for {key!r} itself: it would wait for "
                "its own result")
        return _LOADING.set(loading | {mark})

    def _is_loading_here(self, key: Hashable) -> bool:
        return (self.origin, key) in _LOADING.get()

    def _remember_loader(self, key: Hashable, loader: Any, ttl: float | None, stale: float,
                         tp: Any, tags: tuple[str, ...]) -> None:
        if self._refresh_window(ttl) > 0:
            self._loaders.set(key, (loader, ttl, stale, tp, tags))

    def _claim_refresh(self, key: Hashable, spec: tuple[Any, ...] | None = None,
                       busy: Any = ()) -> tuple[Any, ...] | None:
        """The loader spec for a background refresh of key, marked as running; None when its
        loader is unknown, it is already loading or refreshing, or it is backing off."""
        if key in self._refreshing or key in busy:
            return None
        if spec is None:
            spec = self._loaders.peek(key)
            if spec is None:
                return None
        backoff = self._refresh_backoff.get(key)
        if backoff is not None and time.monotonic() < backoff[1]:
            return None
        self._refreshing.add(key)
        self.counters["refreshes"] += 1
        return spec

    def _refresh_done(self, key: Hashable, exc: BaseException | None, ttl: float | None) -> None:
        self._refreshing.discard(key)
        if exc is None:
            self._refresh_backoff.pop(key, None)
            return
        self.counters["refresh_failures"] += 1
        failures = self._refresh_backoff.get(key, (0, 0.0))[0] + 1
        cap = ttl if ttl is not None else 300.0
        delay = min(self.config.refresh_check_interval_s * 2 ** (failures - 1), max(cap, 1.0))
        if len(self._refresh_backoff) > 10 * self.config.refresh_hot_keys:
            self._refresh_backoff.clear()
        self._refresh_backoff[key] = (failures, time.monotonic() + delay)
        logger.warning("refresh of %r failed (%d in a row), serving stale; next try in %.1f s: "
                       "%s", key, failures, delay, exc)

    # --- warming ---------------------------------------------------------------------------

    def _warm_outcome(self, keys: list[str], outcomes: list[bool | Exception]) -> int:
        """Count one warm call's outcomes (True: fresh, False: not run, an exception: failed)
        and log its failures as one rate-limited line; returns how many keys are fresh."""
        failed = [(k, o) for k, o in zip(keys, outcomes) if isinstance(o, Exception)]
        fresh = sum(o is True for o in outcomes)
        self.counters["warmed"] += fresh
        self.counters["warm_failures"] += len(failed)
        if failed:
            key, exc = failed[0]
            self._warm_log.log(logging.WARNING, "warming", "warming: %d of %d keys failed "
                               "(first: %r: %s: %s)", len(failed), len(keys), key,
                               _SafeText(type(exc), "__name__"), _SafeText(exc))
        return fresh

    # --- metrics and health ------------------------------------------------------------------

    def _l3_reason(self) -> str:
        return "" if self.l3 is None else self.l3.reason

    def get_metrics(self) -> dict[str, Any]:
        """Per tier: hits, misses, hit rate, errors, latency p50/p99; plus loads, stale served,
        refreshes, warming, invalidations and the Redis breaker state."""
        tiers: dict[str, Any] = {}
        if self.l1 is not None:
            tiers["l1"] = self.l1_metrics.snapshot()
        if self._l2_slot is not None:
            tiers["l2"] = self.tier_health["l2"].metrics.snapshot()
        if self.l3 is not None:
            tiers["l3"] = self.tier_health["l3"].metrics.snapshot()
        hits = sum(m["hits"] for m in tiers.values())
        m1 = self.l1_metrics
        lookups = m1.hits + m1.misses if self.l1 is not None else 0
        return {"tiers": tiers, **self.counters,
                "hit_rate": hits / lookups if lookups else None,
                "l2_breaker": self.breaker.state.value if self._l2_slot is not None else None,
                "l1_entries": len(self.l1) if self.l1 is not None else 0,
                "corrupt_entries": sum(s.tier.corrupt for s in self.shared)}

    def limit_l1(self, fraction: float | None) -> None:
        """Shrink L1 to ``fraction`` (0..1] of ``config.l1_max_entries`` (memory pressure:
        evicting the least valuable entries now); None restores the configured size. A no-op
        without L1."""
        if fraction is not None and (isinstance(fraction, bool)
                                     or not isinstance(fraction, (int, float))):
            raise TypeError(f"fraction must be a number or None, not {type(fraction).__name__}")
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1] or None, got {fraction!r}")
        if self.l1 is None:
            return
        full = self.config.l1_max_entries
        self.l1.lru.resize(full if fraction is None else max(1, int(full * fraction)))

    def health(self) -> dict[str, Any]:
        """``status`` ok / degraded, with a reason per tier (breaker open, last failure,
        disk full, a quarantined or unusable disk directory)."""
        tiers: dict[str, Any] = {}
        if self.l1 is not None:
            tiers["l1"] = {"status": "ok", "entries": len(self.l1)}
        if self._l2_slot is not None:
            tiers["l2"] = self.tier_health["l2"].snapshot()
        if self.l3 is not None:
            tiers["l3"] = {**self.tier_health["l3"].snapshot(self._l3_reason()),
                           "directory": str(self.l3.directory)}
        status = "ok" if all(t["status"] == "ok" for t in tiers.values()) else "degraded"
        return {"status": status, "tiers": tiers}
