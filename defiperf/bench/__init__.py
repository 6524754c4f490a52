"""Benchmarks that measure defiperf beside its peers in the same run.

Run ``python -m defiperf.bench [lru|all] [--quick]``. Each suite returns :class:`Row` objects
(one operation, our figure and each peer's) and prints them as a table.
"""

from __future__ import annotations

from defiperf.bench._table import Row as Row
from defiperf.bench._table import format_table as format_table

__all__ = ["Row", "format_table"]
