"""Processors the Redis Streams worker processes import in tests (PYTHONPATH=tests/batch)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path


async def slow_double(items: list[int]) -> list[int]:
    """Marks each batch it starts in $DEFIPERF_TEST_MARKS (one file per pid and batch), then
    takes 50 ms: long enough for a test to kill the worker mid-batch."""
    marks = os.environ.get("DEFIPERF_TEST_MARKS")
    if marks:
        Path(marks, f"{os.getpid()}-{items[0]}").touch()
    await asyncio.sleep(0.05)
    return [2 * x for x in items]


async def reject_sevens(items: list[int]) -> list[int]:
    if any(x % 7 == 0 for x in items):
        raise ValueError("sevens are not allowed")
    return items


SEEN: list[int] = []


async def remember(items: list[int]) -> list[int]:
    """Records the order items are processed in (for in-process workers)."""
    SEEN.extend(items)
    return items
