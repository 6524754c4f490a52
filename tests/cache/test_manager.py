"""SmartCacheManager on L1 + L3 (real directory) with a fake clock: read path and promotion,
write-through, single flight, stale-while-revalidate, loader errors, warming, refresh-ahead,
corrupt disk entries, bad input, clean shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import FakeTimer
from defiperf.cache import CacheConfig, SerializationError, SmartCacheManager


def make(tmp_path: Path, clock: FakeTimer, **kw: Any) -> SmartCacheManager:
    kw.setdefault("disk_dir", str(tmp_path / "l3"))
    kw.setdefault("refresh_check_interval_s", 3600.0)  # refresh-ahead driven by hand
    return SmartCacheManager(CacheConfig(**kw), clock=clock)


@pytest.fixture
async def cache(tmp_path: Path, fake_timer: FakeTimer) -> AsyncIterator[SmartCacheManager]:
    async with make(tmp_path, fake_timer) as c:
        yield c


async def test_set_get_delete_through_every_tier(cache: SmartCacheManager) -> None:
    await cache.set("token:ETH", {"price": "3412.55"}, ttl=60)
    assert await cache.get("token:ETH") == {"price": "3412.55"}
    assert cache.l3 is not None and cache.l3.get("token:ETH") is not None
    assert await cache.delete("token:ETH") is True
    assert await cache.get("token:ETH") is None and await cache.get("x", "dflt") == "dflt"
    assert cache.l3.get("token:ETH") is None


async def test_l3_hit_is_promoted_with_the_remaining_ttl(cache: SmartCacheManager,
                                                         fake_timer: FakeTimer) -> None:
    await cache.set("k", "v", ttl=100)
    fake_timer.tick(60)
    assert cache.l1 is not None
    cache.l1.lru.clear()
    assert await cache.get("k") == "v"
    m = cache.get_metrics()["tiers"]
    assert m["l1"]["misses"] == 1 and m["l3"]["hits"] == 1
    assert cache.l1.lru.peek("k") is not None
    fake_timer.tick(41)                      # 101 s after the set: never extended
    assert cache.l1.lru.peek("k") is None and await cache.get("k") is None


async def test_bytes_keys_name_the_same_key(cache: SmartCacheManager) -> None:
    await cache.set(b"pair", 1)
    assert await cache.get("pair") == 1


@pytest.mark.parametrize(
    ("call", "error"),
    [(lambda c: c.set(1, "v"), TypeError), (lambda c: c.set("k", "v", ttl=-1), ValueError),
     (lambda c: c.set("k", "v", ttl=0), ValueError), (lambda c: c.set("k", "v", stale_ttl=-1), ValueError),
     (lambda c: c.get(("t",)), TypeError), (lambda c: c.set("k" * 5000, 1), ValueError),
     (lambda c: c.set(b"\xff", 1), ValueError), (lambda c: c.set("k", object()), SerializationError),
     (lambda c: c.warm_cache(["k"], priority=11, loader=str), ValueError),
     (lambda c: c.get_or_set("k"), ValueError)],
)
async def test_bad_input_writes_nothing(cache: SmartCacheManager, call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        await call(cache)
    assert cache.l1 is not None and len(cache.l1.lru) == 0
    assert cache.l3 is not None and cache.l3.get("k") is None


async def test_set_many_serializes_everything_first(cache: SmartCacheManager) -> None:
    with pytest.raises(SerializationError):
        await cache.set_many({"a": 1, "b": object()})
    assert await cache.get_many(["a", "b"]) == {}
    await cache.set_many({"a": 1, "b": [2]})
    assert cache.l1 is not None
    cache.l1.lru.clear()
    assert await cache.get_many(["a", "b", "c"]) == {"a": 1, "b": [2]}


async def test_single_flight(cache: SmartCacheManager) -> None:
    calls = 0

    async def loader(key: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        return key.upper()

    results = await asyncio.gather(*(cache.get_or_set("eth", loader) for _ in range(100)))
    assert set(results) == {"ETH"} and calls == 1
    assert cache.counters["single_flight_joins"] == 99
    assert await cache.get_or_set("eth", loader) == "ETH" and calls == 1


async def test_sync_loaders_run_off_the_loop(cache: SmartCacheManager) -> None:
    import threading

    seen: list[str] = []

    def loader(key: str) -> int:
        seen.append(threading.current_thread().name)
        return len(key)

    assert await cache.get_or_set("abcd", loader) == 4
    assert seen and seen[0] != threading.main_thread().name


async def test_stale_while_revalidate(cache: SmartCacheManager, fake_timer: FakeTimer) -> None:
    versions = iter(["v1", "v2", "v3"])
    gate = asyncio.Event()

    async def loader(key: str) -> str:
        value = next(versions)
        if value == "v2":
            await gate.wait()
        return value

    assert await cache.get_or_set("k", loader, ttl=10, stale_ttl=30) == "v1"
    fake_timer.tick(15)                                   # stale, within stale_ttl
    assert await cache.get_or_set("k", loader, ttl=10, stale_ttl=30) == "v1"  # at once
    assert await cache.get_or_set("k", loader, ttl=10, stale_ttl=30) == "v1"  # one refresh only
    assert cache.counters["refreshes"] == 1 and cache.counters["stale_served"] == 2
    gate.set()
    for _ in range(100):
        if await cache.get("k") == "v2":
            break
        await asyncio.sleep(0.005)
    assert await cache.get_or_set("k", loader, ttl=10, stale_ttl=30) == "v2"
    fake_timer.tick(41)                                   # past ttl + stale_ttl: a real miss
    assert await cache.get_or_set("k", loader, ttl=10, stale_ttl=30) == "v3"


async def test_a_failed_refresh_keeps_serving_stale(cache: SmartCacheManager, fake_timer: FakeTimer,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    fail = False

    async def loader(key: str) -> str:
        if fail:
            raise ConnectionError("price api down")
        return "good"

    await cache.get_or_set("k", loader, ttl=10, stale_ttl=60)
    fail = True
    fake_timer.tick(20)
    with caplog.at_level(logging.WARNING, logger="defiperf.cache"):
        for _ in range(3):
            assert await cache.get_or_set("k", loader, ttl=10, stale_ttl=60) == "good"
            await asyncio.sleep(0.01)
    assert cache.counters["refresh_failures"] >= 1 and "serving stale" in caplog.text
    assert cache.l1 is not None and cache.l1.lru.peek("k") is not None  # never evicted


async def test_loader_errors_reach_every_waiter_without_a_stale_value(cache: SmartCacheManager) -> None:
    async def loader(key: str) -> str:
        for _ in range(1000):  # until the other four callers joined this load
            if cache.counters["single_flight_joins"] == 4:
                break
            await asyncio.sleep(0.005)
        raise ConnectionError("down")

    results = await asyncio.gather(*(cache.get_or_set("k", loader) for _ in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await cache.get("k") is None and cache.counters["load_errors"] == 1


async def test_warm_cache_priority_order_and_bounded_concurrency(tmp_path: Path,
                                                                 fake_timer: FakeTimer) -> None:
    order: list[str] = []
    running = peak = 0

    async def loader(key: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        order.append(key)
        running -= 1
        return key

    async with make(tmp_path, fake_timer, warm_concurrency=2) as cache:
        cache.pause_warming()
        low = asyncio.create_task(cache.warm_cache([f"low{i}" for i in range(4)], 1, loader))
        high = asyncio.create_task(cache.warm_cache([f"high{i}" for i in range(4)], 9, loader))
        await asyncio.sleep(0.01)
        cache.resume_warming()
        assert await high == 4 and await low == 4
        assert peak <= 2
        assert [k[:4] for k in order] == ["high"] * 4 + ["low0", "low1", "low2", "low3"]
        assert await cache.get("high3") == "high3"
        assert await cache.warm_cache(["high3"], 5, loader) == 1  # fresh: nothing to do
        assert order.count("high3") == 1


async def test_refresh_ahead_reloads_only_keys_being_read(tmp_path: Path, fake_timer: FakeTimer) -> None:
    loads: list[str] = []

    async def loader(key: str) -> str:
        loads.append(key)
        return f"{key}@{fake_timer()}"

    async with make(tmp_path, fake_timer, refresh_ahead_s=5.0, default_ttl_s=30.0) as cache:
        for key in ("eth", "btc"):
            await cache.get_or_set(key, loader)
        fake_timer.tick(26)                             # 4 s before expiry: in the window
        assert await cache.get("eth") == "eth@1000.0"   # read: one refresh in the background
        assert await cache.get("eth") == "eth@1000.0"   # no second one
        for _ in range(200):
            if len(loads) == 3:
                break
            await asyncio.sleep(0.005)
        assert sorted(loads) == ["btc", "eth", "eth"]   # btc was not read: not refreshed
        assert cache.counters["refreshes"] == 1
        fake_timer.tick(10)                             # past the first expiry
        assert await cache.get("eth") == "eth@1026.0"
        assert await cache.get("btc") is None


async def test_an_idle_key_is_never_refreshed(tmp_path: Path, fake_timer: FakeTimer) -> None:
    calls = 0
    cache = make(tmp_path, fake_timer)

    @cache.cached(ttl=2)
    async def price(pair: str) -> float:
        nonlocal calls
        calls += 1
        return 1.0

    await price("ETH")
    for _ in range(10):                                 # ten idle seconds
        fake_timer.tick(1)
        await asyncio.sleep(0.01)
    assert calls == 1 and cache.counters["refreshes"] == 0
    await cache.close()


async def test_corrupt_disk_entry_is_a_logged_miss_and_removed(cache: SmartCacheManager,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    await cache.set("k", "v")
    assert cache.l1 is not None and cache.l3 is not None
    cache.l1.lru.clear()
    cache.l3._cache.set("k", b"\x00garbage")
    cache.l3._cache.set("k2", 12345)  # not even bytes
    with caplog.at_level(logging.WARNING, logger="defiperf.cache"):
        assert await cache.get("k") is None
        assert await cache.get("k2") is None
    assert "unreadable" in caplog.text and cache.get_metrics()["corrupt_entries"] == 2
    assert cache.l3._cache.get("k") is None


async def test_cached_decorator_async_and_sync(tmp_path: Path, fake_timer: FakeTimer) -> None:
    calls = 0
    cache = make(tmp_path, fake_timer)

    @cache.cached(ttl=60)
    async def price(pair: str, venue: str = "uni") -> float:
        nonlocal calls
        calls += 1
        return 3412.5

    assert await price("ETH/USDC") == await price("ETH/USDC") == 3412.5
    assert calls == 1
    await price("ETH/USDC", venue="curve")
    assert calls == 2
    await cache.close()


def test_cached_decorator_on_a_sync_function(tmp_path: Path, fake_timer: FakeTimer) -> None:
    cache = make(tmp_path, fake_timer, disk_enabled=False)
    calls = 0

    @cache.cached(ttl=60, key=lambda x: f"sq:{x}")
    def square(x: int) -> int:
        nonlocal calls
        calls += 1
        return x * x

    assert square(4) == square(4) == 16 and calls == 1


async def test_close_leaves_no_tasks_behind_and_the_manager_restarts(tmp_path: Path,
                                                                      fake_timer: FakeTimer) -> None:
    cache = make(tmp_path, fake_timer)
    await cache.start()
    await cache.warm_cache(["a"], 5, str.upper)
    await cache.close()
    await cache.close()  # idempotent
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == [] and cache.closed
    assert await cache.get("a") == "A"  # from disk: the next call started it again
    assert not cache.closed
    await cache.close()


async def test_l1_byte_budget(tmp_path: Path, fake_timer: FakeTimer) -> None:
    async with make(tmp_path, fake_timer, l1_max_weight_bytes=2000, disk_enabled=False) as cache:
        for i in range(50):
            await cache.set(f"k{i}", "x" * 100)
        assert cache.l1 is not None and cache.l1.lru.total_weight <= 2000
        assert len(cache.l1.lru) < 50


async def test_l1_only_and_tinylfu_policy(tmp_path: Path, fake_timer: FakeTimer) -> None:
    async with make(tmp_path, fake_timer, disk_enabled=False, l1_policy="tinylfu") as cache:
        await cache.set("k", object())  # L1 only: no serialization needed
        assert await cache.get("k") is not None
        assert cache.l1 is not None and cache.l1.lru.policy == "tinylfu"


def test_default_disk_dir_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from defiperf.cache.disk import default_disk_dir

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = default_disk_dir("ns")
    assert path == tmp_path / "defiperf" / "ns" and (path.stat().st_mode & 0o777) == 0o700
    (tmp_path / "defiperf" / "evil").symlink_to(tmp_path)
    with pytest.raises(PermissionError):
        default_disk_dir("evil")


@pytest.mark.parametrize("kw", [{"namespace": "a:b"}, {"default_ttl_s": -1},
                                {"redis_url": "http://x"}, {"l1_policy": "lfu"},
                                {"use_pickle": True}, {"l1_max_entries": 0}])
def test_bad_config(kw: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)):
        CacheConfig(**kw)


async def test_refresh_ahead_covers_keys_read_earlier_in_their_ttl(tmp_path: Path,
                                                                    fake_timer: FakeTimer) -> None:
    loads: list[str] = []

    async def loader(key: str) -> str:
        loads.append(key)
        return f"{key}@{fake_timer()}"

    async with make(tmp_path, fake_timer, refresh_ahead_s=5.0, default_ttl_s=30.0) as cache:
        for key in ("read", "unread", "other"):
            await cache.get_or_set(key, loader)
        fake_timer.tick(10)
        assert await cache.get("read") == "read@1000.0"  # read early, outside the window
        fake_timer.tick(16)                             # 1026: past its refresh time
        await cache.get("other")                        # any read runs what is due
        for _ in range(200):
            if loads.count("read") == 2:
                break
            await asyncio.sleep(0.005)
        assert loads.count("read") == 2 and loads.count("unread") == 1
        fake_timer.tick(10)                             # 1036: the first values expired
        assert await cache.get("read") == "read@1026.0" and await cache.get("unread") is None


async def test_readers_never_wait_for_a_refresh(tmp_path: Path, fake_timer: FakeTimer) -> None:
    gate = asyncio.Event()
    versions = iter(["v1", "v2"])

    async def loader(key: str) -> str:
        value = next(versions)
        if value == "v2":
            await gate.wait()
        return value

    async with make(tmp_path, fake_timer, refresh_ahead_s=5.0) as cache:
        assert await cache.get_or_set("k", loader, ttl=30, stale_ttl=60) == "v1"
        fake_timer.tick(27)                  # refresh-ahead window
        assert await cache.get_or_set("k", loader, ttl=30, stale_ttl=60) == "v1"
        assert cache.counters["refreshes"] == 1
        for _ in range(3):                   # the refresh hangs: readers are not held
            assert await asyncio.wait_for(cache.get_or_set("k", loader, ttl=30), 1) == "v1"
        fake_timer.tick(10)                  # stale now, refresh still running
        assert await asyncio.wait_for(cache.get_or_set("k", loader, ttl=30, stale_ttl=60), 1) == "v1"
        gate.set()
