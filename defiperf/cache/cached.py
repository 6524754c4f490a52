"""The ``@cached`` decorator of both managers: keys (keys.py) memoised per call shape, an L1
fast path, and the helpers ``cache_info()``, ``cache_clear()``, ``invalidate(*args, **kw)``,
``refresh(*args, **kw)`` and ``key(*args, **kw)``.

The wrapper has the kind of the function it wraps: a coroutine function gets an async wrapper
(and async ``invalidate``/``refresh``/``cache_clear``), a plain function a blocking one. A
blocking wrapper called on a thread that runs an event loop raises LoopThreadError instead of
blocking the loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Hashable
from typing import Any, Generic, NamedTuple, ParamSpec, Protocol, TypeVar

from defiperf.cache.errors import LoopThreadError
from defiperf.cache.envelope import MAX_TAGS
from defiperf.cache.keys import FunctionKey, check_tags
from defiperf.structures import OptimizedLRU

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
MISS: Any = object()
_KW = object()
_running_loop = asyncio._get_running_loop


class CacheInfo(NamedTuple):
    """Calls of one decorated function answered from L1 (``hits``) or not (``misses``)."""

    hits: int
    misses: int


class CachedFunction(Protocol, Generic[P, R_co]):
    """A decorated function (its result type is the function's, awaitable for async ones)."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...

    def cache_info(self) -> CacheInfo:
        """Hits and misses of this function's cache, as ``functools.lru_cache`` reports them."""

    def cache_clear(self) -> Any:
        """Remove every cached result of this function, in every tier."""

    def invalidate(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Remove the cached result for these arguments, in every tier."""

    def refresh(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Call the function for these arguments now and store the fresh result."""

    def key(self, *args: P.args, **kwargs: P.kwargs) -> Hashable:
        """The cache key these arguments map to."""


def loop_thread_error(what: str) -> LoopThreadError:
    return LoopThreadError(
        f"{what} is a blocking call and this thread runs an event loop: await the async form "
        "instead (an async function decorated with SmartCacheManager.cached, or "
        "`await cache.get(...)`), or call it from a worker thread (asyncio.to_thread)")


def key_maker(fk: FunctionKey, memo_size: int) -> Callable[[tuple[Any, ...], dict[str, Any]], Hashable]:
    """fk with a memo of call shape -> key (keys by equality, as functools.lru_cache does), used
    only for the canonical keys (a key= callable or template is called every time)."""
    if fk.key_fn is not None or fk.template is not None:
        return fk
    memo: OptimizedLRU[Any, Hashable] = OptimizedLRU(memo_size)
    memo_get, memo_set = memo.get, memo.set

    def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        shape = (args, _KW, *kwargs.items()) if kwargs else args
        try:
            found: Hashable = memo_get(shape)
        except Exception:  # an unhashable argument (list, dict, array): key by content
            made: Hashable = fk(args, kwargs)
            return made
        if found is None:
            found = fk(args, kwargs)
            try:
                memo_set(shape, found)
            except Exception:
                pass
        return found
    return key_of


def decorate(binding: Any, fn: Callable[..., Any], *, key: Any, ttl: Any, stale: Any, tp: Any,
             tags: tuple[str, ...], include_self: bool, memo_size: int,
             is_async: bool) -> Any:
    """The wrapper of fn; ``binding`` is the manager serving it (``_fast_get`` and
    ``_cached_miss``/``_store``/``_delete``/``_clear``, blocking or ``_async``)."""
    fk = FunctionKey(fn, key, include_self=include_self)
    if fk.clear_tag is not None:  # cache_clear() of a key= function finds its entries by it
        if len(tags) >= MAX_TAGS:
            raise ValueError(
                f"tags: a function with key= may have at most {MAX_TAGS - 1} tags, got "
                f"{len(tags)} (each entry also carries the function's own tag, which "
                f"cache_clear() uses, and an entry holds at most {MAX_TAGS})")
        tags = check_tags((*tags, fk.clear_tag))
    key_of = key_maker(fk, memo_size)
    fast_get = binding._fast_get
    stats = [0, 0]

    if is_async:
        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            k = key_of(args, kwargs)
            value = fast_get(k)
            if value is not MISS:
                stats[0] += 1
                return value
            stats[1] += 1

            async def load(_key: Any) -> Any:
                return await fn(*args, **kwargs)
            return await binding._cached_miss_async(k, load, ttl, stale, tp, tags)

        async def refresh(*args: Any, **kwargs: Any) -> Any:
            value = await fn(*args, **kwargs)
            await binding._cached_store_async(key_of(args, kwargs), value, ttl, stale, tags)
            return value

        async def invalidate(*args: Any, **kwargs: Any) -> bool:
            return bool(await binding._cached_delete_async(key_of(args, kwargs)))

        async def cache_clear() -> None:
            stats[0] = stats[1] = 0
            await binding._cached_clear_async(fk.prefix, fk.clear_tag)
        wrapper: Any = async_wrapper
    else:
        name = f"{fk.prefix}()"

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            if _running_loop() is not None:
                raise loop_thread_error(name)
            k = key_of(args, kwargs)
            value = fast_get(k)
            if value is not MISS:
                stats[0] += 1
                return value
            stats[1] += 1
            return binding._cached_miss(k, lambda _key: fn(*args, **kwargs), ttl, stale, tp, tags)

        def refresh(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            value = fn(*args, **kwargs)
            binding._cached_store(key_of(args, kwargs), value, ttl, stale, tags)
            return value

        def invalidate(*args: Any, **kwargs: Any) -> bool:  # type: ignore[misc]
            return bool(binding._cached_delete(key_of(args, kwargs)))

        def cache_clear() -> None:  # type: ignore[misc]
            stats[0] = stats[1] = 0
            binding._cached_clear(fk.prefix, fk.clear_tag)
        wrapper = sync_wrapper

    wrapper.cache_info = lambda: CacheInfo(stats[0], stats[1])
    wrapper.cache_clear = cache_clear
    wrapper.invalidate = invalidate
    wrapper.refresh = refresh
    wrapper.key = lambda *args, **kwargs: key_of(args, kwargs)
    return wrapper


def is_async_function(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None))
