"""A processor that ignores cancellation, shared by the engine's fault tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


def ignoring_cancellation(release: asyncio.Event) -> Callable[[list[int]], Awaitable[list[int]]]:
    """A processor that swallows every CancelledError and returns its items once `release` is set."""
    async def stubborn(items: list[int]) -> list[int]:
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass            # ignores cancellation
        return items
    return stubborn
