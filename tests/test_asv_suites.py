"""The asv suites import and run (one pass each, defiperf only) so that they cannot rot."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ASV_DIR = Path(__file__).resolve().parent.parent / "asv_benchmarks"


@pytest.fixture
def benchmarks_lru():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ASV_DIR))
    try:
        yield importlib.import_module("benchmarks.benchmarks_lru")
    finally:
        sys.path.remove(str(ASV_DIR))


def test_lru_suite_runs(benchmarks_lru) -> None:  # type: ignore[no-untyped-def]
    ops = benchmarks_lru.LRUOps()
    for keys in ("int", "str"):
        ops.setup("defiperf", keys)
        names = [n for n in dir(ops) if n.startswith("time_")]
        assert len(names) == 4
        for name in names:
            getattr(ops, name)("defiperf", keys)
        assert len(ops.cache) == benchmarks_lru.CAPACITY
        ops.cache._check()
