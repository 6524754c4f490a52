"""Interleaved timing: every contender is timed once per round, the best round counts.

Rounds alternate between contenders so that a noisy neighbour slows all of them alike, and
the minimum over rounds is the figure least disturbed by the machine (2 shared cores).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def best_ns_per_op(passes: dict[str, Callable[[], int]], rounds: int) -> dict[str, float]:
    """Run each ``pass`` (which returns how many operations it did) ``rounds`` times,
    interleaved, and return the best ns per operation of each."""
    best = {name: float("inf") for name in passes}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, run in passes.items():
                start = time.perf_counter_ns()
                n_ops = run()
                elapsed = time.perf_counter_ns() - start
                best[name] = min(best[name], elapsed / max(n_ops, 1))
    finally:
        if gc_was_enabled:
            gc.enable()
    return best
