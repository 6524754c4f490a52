"""The engine's per-processor state (a lane) and its unit of work (a batch and its retries).

A unit is out of the queue from the moment a worker takes it until each of its segments is
resolved; while out it is in its lane's ``units`` set (waiting for a retry, or running), so a
job's deadline, a cancel or the loop's end can resolve its items wherever they are.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from defiperf.batch.breaker import CircuitBreaker
from defiperf.batch.jobs import Processor
from defiperf.batch.queue import AgingQueue, Segment
from defiperf.batch.sizing import BatchSizer
from defiperf.structures.metrics import LogHistogram

THROUGHPUT_WINDOW_S = 10


@dataclass(eq=False, slots=True)
class Family:
    """A failed fresh batch and every sub-batch bisected from it.

    ``pending``/``decided``: the breaker's verdict on the failed batch waits for its first
    pieces: if any succeeds the processor is healthy (the batch held poison items) and the
    batch counts as a success; if all fail it counts as a failure. ``healthy``: some sub-batch
    of the family succeeded, so the failures left are the items' own: each failed level counts
    as an attempt of the items in it (a poison item reaching a batch of one is dead-lettered
    at once instead of being retried with backoff).
    """

    pending: int = 2
    decided: bool = False
    healthy: bool = False


@dataclass(eq=False, slots=True)
class Unit:
    """One batch: segments (possibly of several jobs), and its retry history."""

    segments: list[Segment]
    attempts: int = 0              # failures as a single item
    depth: int = 0                 # bisections so far
    first_failure: float | None = None
    family: Family | None = None   # set on the sub-batches of a failed fresh batch
    running: bool = False

    @property
    def fresh(self) -> bool:
        return self.depth == 0 and self.attempts == 0

    @property
    def n_items(self) -> int:
        return sum(s.stop - s.start for s in self.segments)

    def items(self) -> list[Any]:
        segs = self.segments
        if len(segs) == 1:
            s = segs[0]
            batch = s.job.items[s.start:s.stop]  # a new list (jobs hold lists or tuples)
            return batch if isinstance(batch, list) else list(batch)
        out: list[Any] = []
        for s in segs:
            out += s.job.items[s.start:s.stop]
        return out

    def split(self, parts: int) -> list[list[Segment]]:
        """The unit's items cut into ``parts`` contiguous pieces of near-equal size (as
        segments; a segment is cut where a piece ends)."""
        n = self.n_items
        parts = max(1, min(parts, n))
        bounds = [n * (i + 1) // parts for i in range(parts)]  # cumulative end of each piece
        out: list[list[Segment]] = [[] for _ in range(parts)]
        piece, seen = 0, 0
        for s in self.segments:
            start = s.start
            while start < s.stop:
                take = min(s.stop - start, bounds[piece] - seen)
                out[piece].append(Segment(s.job, start, start + take, s.enqueued_at))
                start += take
                seen += take
                if seen == bounds[piece] and piece < parts - 1:
                    piece += 1
        return out


@dataclass(eq=False)
class Lane:
    """Everything per processor: queue, units out of it, sizing, breaker, workers, metrics."""

    processor: Processor
    queue: AgingQueue
    sizer: BatchSizer
    breaker: CircuitBreaker
    idle: deque[asyncio.Future[None]] = field(default_factory=deque)  # parked workers
    retries: deque[Unit] = field(default_factory=deque)
    units: set[Unit] = field(default_factory=set)
    pending_retries: int = 0
    in_flight: int = 0
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    running: dict[asyncio.Task[Any], tuple[Unit, float]] = field(default_factory=dict)
    overdue: set[asyncio.Task[Any]] = field(default_factory=set)
    abandoned: set[asyncio.Task[Any]] = field(default_factory=set)
    watchdog: asyncio.TimerHandle | None = None
    queue_ms: LogHistogram = field(default_factory=LogHistogram)
    process_ms: LogHistogram = field(default_factory=LogHistogram)
    batch_sizes: LogHistogram = field(default_factory=LogHistogram)
    items_ok: int = 0
    items_dead: int = 0
    batches: int = 0
    failed_batches: int = 0
    retried_units: int = 0
    abandoned_batches: int = 0
    breaker_waits: int = 0         # batches taken but waiting for an open breaker
    concurrency_limited: int = 0
    per_second: deque[list[float]] = field(default_factory=lambda: deque(maxlen=THROUGHPUT_WINDOW_S + 1))

    def busy(self) -> bool:
        return bool(self.queue.n_items or self.retries or self.pending_retries or self.in_flight
                    or self.breaker_waits)
