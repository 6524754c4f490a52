"""Benchmarks that measure defiperf beside its peers in the same run.

Run ``python -m defiperf.bench [lru|bloom|ring|monitor|batch|cache|all] [--quick]``. Each suite returns :class:`Row` objects
(one operation, our figure and each peer's) and prints them as a table.
"""

from __future__ import annotations

from typing import Any

from defiperf.bench._table import Row as Row
from defiperf.bench._table import format_table as format_table


def run_benchmarks(*args: Any, **kwargs: Any) -> list[Row]:
    """See :func:`defiperf.bench.runner.run_benchmarks` (imported lazily: the suites import
    every module)."""
    from defiperf.bench.runner import run_benchmarks as run

    return run(*args, **kwargs)


__all__ = ["Row", "format_table", "run_benchmarks"]
