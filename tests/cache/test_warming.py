"""warm_cache reports its failures as one rate-limited summary per call (how many failed and
the first error), not a line per key, on both managers; a failing key never stops the others."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from defiperf.cache import CacheConfig, SmartCacheManager, SyncCacheManager


def loader(key: str) -> str:
    if key.startswith("bad"):
        raise LookupError(f"no source for {key}")
    return key.upper()


def keys() -> list[str]:
    return [f"bad{i}" for i in range(40)] + [f"ok{i}" for i in range(10)]


def warm_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "warming" in r.getMessage()]


def check(cache: Any, loaded: int, caplog: pytest.LogCaptureFixture) -> None:
    assert loaded == 10
    lines = warm_lines(caplog)
    assert len(lines) == 1, lines
    assert "40 of 50 keys failed" in lines[0] and "LookupError" in lines[0] and "bad" in lines[0]
    metrics = cache.get_metrics()
    assert metrics["warm_failures"] == 40 and metrics["warmed"] == 10


def test_blocking_warm_cache_logs_one_summary(tmp_path: Path,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as cache, \
            caplog.at_level(logging.WARNING, logger="defiperf.cache"):
        check(cache, cache.warm_cache(keys(), 5, loader), caplog)
        assert cache.get("ok3") == "OK3"
        cache.warm_cache(["bad-again"], 5, loader)  # within the interval: held back
        assert len(warm_lines(caplog)) == 1 and cache.get_metrics()["warm_failures"] == 41


async def test_async_warm_cache_logs_one_summary(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    async def async_loader(key: str) -> str:
        return loader(key)

    async with SmartCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as cache:
        with caplog.at_level(logging.WARNING, logger="defiperf.cache"):
            check(cache, await cache.warm_cache(keys(), 5, async_loader), caplog)
            assert await cache.get("ok3") == "OK3"


async def test_warming_without_waiting_still_summarises(tmp_path: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    import asyncio

    async with SmartCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as cache:
        with caplog.at_level(logging.WARNING, logger="defiperf.cache"):
            assert await cache.warm_cache(keys(), 5, loader, wait=False) == 0
            for _ in range(500):
                if cache.get_metrics()["warm_failures"]:
                    break
                await asyncio.sleep(0.01)
            check(cache, 10, caplog)
