"""The asv suites import and run (one pass each, defiperf only) so that they cannot rot."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ASV_DIR = Path(__file__).resolve().parent.parent / "asv_benchmarks"


@pytest.fixture
def suites() -> Iterator[dict[str, ModuleType]]:
    sys.path.insert(0, str(ASV_DIR))
    try:
        yield {name: importlib.import_module(f"benchmarks.benchmarks_{name}")
               for name in ("lru", "bloom", "ring", "monitor", "batch", "cache")}
    finally:
        sys.path.remove(str(ASV_DIR))


def run_once(bench: object, *params: object) -> int:
    bench.setup(*params)  # type: ignore[attr-defined]
    names = [n for n in dir(bench) if n.startswith(("time_", "track_", "peakmem_"))]
    for name in names:
        getattr(bench, name)(*params)
    return len(names)


def test_lru_suite_runs(suites: dict[str, ModuleType]) -> None:
    mod = suites["lru"]
    for keys in ("int", "str"):
        assert run_once(mod.LRUOps(), "defiperf", keys) == 4
    assert run_once(mod.LRUMemory(), "defiperf") == 1
    assert run_once(mod.LRUOps(), "defiperf-tinylfu", "int") == 4
    rates = mod.HitRate()
    rates.setup("tinylfu", "gli-500")
    assert 0.30 < rates.track_hit_rate("tinylfu", "gli-500") <= rates.track_hit_rate("opt",
                                                                                      "gli-500")


def test_bloom_suite_runs(suites: dict[str, ModuleType]) -> None:
    mod = suites["bloom"]
    ops = mod.BloomOps()
    assert run_once(ops, "defiperf", 10_000, 0.01) == 5
    assert ops.track_false_positive_rate("defiperf", 10_000, 0.01) < 0.011 * 1.5
    assert ops.track_bits_over_optimum("defiperf", 10_000, 0.01) <= 1.05
    assert run_once(mod.BloomBulk(), 100_000) == 2


def test_ring_suite_runs(suites: dict[str, ModuleType]) -> None:
    assert run_once(suites["ring"].RingOps(), "defiperf", 1_000) == 3


def test_monitor_suite_runs(suites: dict[str, ModuleType]) -> None:
    assert run_once(suites["monitor"].MonitorRecord(), "defiperf") == 1
    assert suites["monitor"].MonitorQuality().track_p99_relative_error() < 0.01


def test_batch_suite_runs(suites: dict[str, ModuleType]) -> None:
    mod = suites["batch"]
    for params in (("defiperf", 10, "idle"), ("asyncio.Queue", 1000, "busy")):
        bench = mod.BatchThroughput()
        assert run_once(bench, *params) == 1
        bench.teardown(*params)
    latency = mod.BatchQueueLatency()
    latency.setup("busy")
    try:
        assert latency.track_queue_latency_p99_ms("busy") > 0
    finally:
        latency.teardown("busy")
    faults = mod.BatchFaults()
    faults.setup("idle")
    assert faults.track_poison_over_clean_ratio("idle") > 1
    faults.teardown("idle")


def test_cache_suite_runs(suites: dict[str, ModuleType]) -> None:
    l1 = suites["cache"].CacheL1()
    l1.setup()
    l1.time_l1_hit_1000()
    l1.teardown()
    plain = suites["cache"].CachedPlainFunction()
    assert run_once(plain, "defiperf") == 1
    plain.teardown("defiperf")
    rate = suites["cache"].CacheHitRate()
    assert rate.track_zipf_hit_rate(True) > rate.track_zipf_hit_rate(False)
