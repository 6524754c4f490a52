"""The table of loads in flight runs no user code under its lock: an argument's __hash__ or
__eq__ that calls the cache (or raises) neither deadlocks its thread nor freezes the other
callers. Threads run with a bound, so a regression fails instead of hanging."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager

from switching import fast_switching  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("fast_switching")


def run_bounded(fn: Any, timeout_s: float = 10.0) -> list[Any]:
    out: list[Any] = []

    def target() -> None:
        try:
            out.append(("value", fn()))
        except Exception as exc:
            out.append(("raised", type(exc).__name__))
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout_s)
    assert out, "the call hung"
    return out


def test_a_hash_that_calls_a_missing_cached_helper_does_not_deadlock() -> None:
    cache = SyncCacheManager(CacheConfig(disk_enabled=False))

    @cache.cached(ttl=60)
    def lookup_rate(pair: str) -> float:
        raise LookupError("rate service down")  # not cached: a miss every time

    class Pair:
        def __init__(self, name: str) -> None:
            self.name = name

        def __eq__(self, other: object) -> bool:
            try:
                lookup_rate(self.name)  # equality consults the cache too
            except LookupError:
                pass
            return isinstance(other, Pair) and other.name == self.name

        def __hash__(self) -> int:
            try:
                lookup_rate(self.name)
            except LookupError:
                pass
            return hash(self.name)

    @cache.cached(ttl=60)
    def quote(pair: Pair) -> int:
        return 1

    assert run_bounded(lambda: quote(Pair("ETH"))) == [("value", 1)]
    assert run_bounded(lambda: cache.get_or_set("unrelated", lambda k: 5)) == [("value", 5)]
    # many threads at once: equal keys share loads, the table ends empty
    results = []
    threads = [threading.Thread(target=lambda i=i: results.extend(
        run_bounded(lambda: quote(Pair(f"P{i % 4}"))))) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert results == [("value", 1)] * 16
    assert len(cache._flights) == 0
    cache.close()


async def test_an_eq_that_raises_fails_only_its_own_caller() -> None:
    cache = SmartCacheManager(CacheConfig(disk_enabled=False))
    release = asyncio.Event()

    class Bad:
        def __hash__(self) -> int:
            return 1

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no equality today")

    class Good:
        def __hash__(self) -> int:
            return 1  # the same hash: Bad's __eq__ is asked about it

        def __eq__(self, other: object) -> bool:
            return other is self if type(other) is Good else NotImplemented  # asks Bad

    @cache.cached(ttl=60)
    async def f(x: Any) -> int:
        await release.wait()
        return 3

    good = Good()
    owner = asyncio.create_task(f(good))
    await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError, match="no equality"):
        await asyncio.wait_for(f(Bad()), 10)
    release.set()
    assert await asyncio.wait_for(owner, 10) == 3
    assert await asyncio.wait_for(cache.get_or_set("k", lambda k: 4), 10) == 4
    await cache.close()
