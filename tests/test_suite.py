"""PerformanceSuite end to end: each profile, Redis as L2, metrics and health reflecting what
happened, memory management under a small budget, the demo, the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from defiperf.batch import Processor
from defiperf.cache import CacheConfig
from defiperf.profiles import PROFILES, SuiteProfile
from defiperf.suite import PerformanceSuite, create_optimal_performance_suite


async def double(items: list[int]) -> list[int]:
    return [2 * x for x in items]


@pytest.mark.parametrize("profile", sorted(PROFILES))
async def test_each_profile_end_to_end(profile: str, tmp_path: Path, redis_server: str) -> None:
    # this test process's own RSS is whatever the rest of the suite left: the memory guard reads
    # a fixed figure here (its behaviour has tests of its own below)
    overrides: dict[str, Any] = {"disk_dir": str(tmp_path / "l3"), "read_rss": lambda: 50 << 20}
    if profile == "analytics":
        overrides["redis_url"] = redis_server  # every tier
    async with create_optimal_performance_suite(profile, **overrides) as suite:
        assert suite.profile.name == profile
        await suite.cache.set("token:ETH", {"price": "3412.55"})
        assert await suite.cache.get("token:ETH") == {"price": "3412.55"}
        assert await suite.cache.get("missing") is None
        job = await suite.batch.submit_job(range(500), Processor("double", double, 50))
        assert (await suite.batch.wait(job)).results == [2 * x for x in range(500)]
        suite.monitor.record_request("/api/portfolio", 12.0)
        buf = suite.structures.price_buffer()
        buf.push(1.0, 3412.5, 2.0)
        bloom = suite.structures.transaction_filter()
        bloom.add("0xabc")
        lru = suite.structures.lru()
        lru["a"] = 1
        assert buf.capacity == suite.profile.price_buffer_capacity and "0xabc" in bloom
        suite.monitor.tick()
        metrics = suite.get_performance_metrics()
        health = suite.get_health_status()
    assert metrics["profile"] == profile
    assert metrics["cache"]["tiers"]["l1"]["hits"] == 1 and metrics["cache"]["tiers"]["l1"]["misses"] >= 1
    assert metrics["batch"]["processors"]["double"]["items_ok"] == 500
    if profile == "analytics":
        assert metrics["cache"]["tiers"]["l2"]["misses"] >= 1  # the miss went down to Redis
    # the modules reported into the monitor by themselves
    keys = {s.key for s in suite.monitor.series()}
    assert {"cache:l1", "timer:batch.double", "request:/api/portfolio"} <= keys
    assert "metric:batch.double.queue_latency_ms" in keys
    assert suite.monitor.counter("batch.double.items_ok").value == 500
    assert health["status"] == "ok", health
    assert set(health["components"]) == {"cache", "batch", "monitor", "memory"}
    assert suite.get_health_status()["components"]["batch"]["status"] == "failing"  # stopped


def test_unknown_profile_and_override() -> None:
    with pytest.raises(ValueError, match="hft, analytics, memory_constrained"):
        create_optimal_performance_suite("turbo")
    with pytest.raises(TypeError, match="unknown override"):
        create_optimal_performance_suite("hft", cache_size=3)
    with pytest.raises(TypeError):
        create_optimal_performance_suite(42)  # type: ignore[arg-type]


def test_profiles_are_plain_copyable_configs() -> None:
    hft = PROFILES["hft"]
    assert "hft" in repr(hft) and hft.cache.disk_enabled is False
    mine = hft.replace(cache=hft.cache.replace(l1_max_entries=10), memory_budget_bytes=1 << 30)
    assert mine.cache.l1_max_entries == 10 and PROFILES["hft"].cache.l1_max_entries == 200_000
    assert PROFILES["memory_constrained"].cache.l1_max_weight_bytes is not None
    suite = create_optimal_performance_suite(mine)
    assert isinstance(suite, PerformanceSuite) and suite.profile is mine
    with pytest.raises(ValueError):
        SuiteProfile("x", CacheConfig(), hft.batch, hft.monitoring, memory_low_water=0.95)


async def test_memory_pressure_shrinks_pauses_alerts_and_restores(tmp_path: Path) -> None:
    rss = {"now": 100 << 20}
    fired: list[str] = []
    suite = create_optimal_performance_suite(
        "memory_constrained", disk_dir=str(tmp_path / "l3"), memory_budget_bytes=200 << 20,
        read_rss=lambda: rss["now"], alert_handlers=[lambda a: fired.append(f"{a.rule.name}:{a.state}")])
    async with suite:
        assert suite.cache.l1 is not None
        l1_size = suite.cache.l1.lru.max_size
        for i in range(l1_size):
            await suite.cache.set(f"k{i}", i)
        job = await suite.batch.submit_job(range(10), Processor("double", double, 100))
        await suite.batch.wait(job)
        suite.monitor.tick()
        assert not suite.memory.under_pressure
        rss["now"] = 190 << 20                         # over 90% of the budget
        suite.monitor.tick()
        assert suite.memory.under_pressure and suite.cache.warming_paused
        assert suite.cache.l1.lru.max_size == l1_size // 4 and len(suite.cache.l1.lru) <= l1_size // 4
        assert suite.batch.get_metrics()["processors"]["double"]["batch_size"] <= 25
        assert "memory pressure:firing" in fired
        health = suite.get_health_status()
        assert health["status"] == "degraded" and health["components"]["memory"]["status"] == "degraded"
        rss["now"] = 120 << 20                         # under 75%
        suite.monitor.tick()
        assert not suite.memory.under_pressure and not suite.cache.warming_paused
        assert suite.cache.l1.lru.max_size == l1_size
        assert "memory pressure:resolved" in fired
        assert [e for e, _ in suite.memory.events] == ["pressure", "restored"]


async def test_the_guard_runs_on_the_sampler_thread_safely(tmp_path: Path) -> None:
    rss = {"now": 300 << 20}
    profile = PROFILES["memory_constrained"]
    suite = create_optimal_performance_suite(
        profile.replace(monitoring=profile.monitoring.replace(sample_interval_s=0.02)),
        disk_dir=str(tmp_path / "l3"), read_rss=lambda: rss["now"], alert_handlers=[])
    async with suite:
        for _ in range(200):
            if suite.memory.under_pressure:
                break
            await asyncio.sleep(0.01)
        assert suite.memory.under_pressure and suite.cache.warming_paused


async def test_the_demo_runs_briefly(tmp_path: Path) -> None:
    from defiperf.demo import run_demo, summary

    result = await run_demo(1.0, pairs=5)
    assert result.price_updates > 0 and result.transactions > 0 and result.portfolio_lookups > 0
    assert result.duplicates_dropped > 0 and result.validated > 0 and result.invalid > 0
    assert result.health["status"] in ("ok", "degraded")
    text = summary(result)
    assert "## Hot paths" in text and "## Bottlenecks" in text and "chain:ethereum.eth_call" in text


async def test_the_demo_with_redis(redis_server: str) -> None:
    from defiperf.demo import run_demo

    result = await run_demo(0.5, redis_url=redis_server, pairs=2)
    assert "l2" in result.metrics["cache"]["tiers"]


def test_cli_demo_and_errors(tmp_path: Path) -> None:
    # run outside the repository root: `-m` would import the uncompiled source tree
    out = subprocess.run([sys.executable, "-m", "defiperf", "demo", "--seconds", "0.5"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# defiperf demo") and "## Bottlenecks" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "defiperf", "demo", "--seconds", "0"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2 and "--seconds" in bad.stderr


def test_doctest() -> None:
    import doctest

    import defiperf.suite

    assert doctest.testmod(defiperf.suite).failed == 0


async def test_rss_is_reported_by_the_suite_not_as_a_duplicate_gauge(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

    suite = create_optimal_performance_suite(
        "memory_constrained", disk_dir=str(tmp_path / "l3"), memory_budget_bytes=200 << 20,
        read_rss=lambda: 123 << 20, alert_handlers=[])
    async with suite:
        suite.monitor.tick()
        assert suite.memory.last_rss_bytes == 123 << 20
        assert suite.get_performance_metrics()["memory"]["rss_bytes"] == 123 << 20
        assert {g.name for g in suite.monitor.gauges()} <= {"memory_pressure"}
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        suite.monitor.register_prometheus(registry)
        names = {line.split("{")[0].split()[0] for line in generate_latest(registry).decode()
                 .splitlines() if line and not line.startswith("#")}
        ours = {n for n in names if n.startswith("defiperf_")}
        assert not any("rss" in n or "resident" in n for n in ours), ours
