"""The asv hit-rate suite imports and runs (one trace, each policy) so that it cannot rot."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ASV_DIR = Path(__file__).resolve().parents[2] / "asv_benchmarks"


def test_trace_hit_rate_suite_runs() -> None:
    sys.path.insert(0, str(ASV_DIR))
    try:
        mod = importlib.import_module("benchmarks.benchmarks_hitrate")
    finally:
        sys.path.remove(str(ASV_DIR))
    traces, policies, sizes = mod.TraceHitRate.params
    assert "gli" in traces and "web07" in traces and "reuse_twice" in traces
    rates = {}
    for policy in policies:
        bench = mod.TraceHitRate()
        bench.setup("gli", policy, "20%")
        assert bench.size == 505
        rates[policy] = bench.track_hit_rate("gli", policy, "20%")
    assert rates["lru"] < 0.02 < 0.30 < rates["tinylfu"] <= rates["opt"]
