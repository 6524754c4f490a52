"""AgingQueue: priority levels of FIFO segments; a waiting segment gains a level per
``aging_interval_s``, so low priorities are never starved (aging, not weighted fair share).

A segment is a contiguous range of one job's items: queuing a job costs one object however
many items it has, and a batch is carved from the head segment without copying items.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from defiperf._validate import check_int, check_number


@dataclass(slots=True)
class Segment:
    """Items ``start:stop`` of ``job``; ``resolved`` once they were resolved out of turn (the
    job's deadline, a cancel, the loop's end) while the segment was in a batch or a retry."""

    job: Any
    start: int
    stop: int
    enqueued_at: float
    resolved: bool = False
    queued: bool = False   # in the queue now (a resolved one stays there as a tombstone)

    def __len__(self) -> int:
        return self.stop - self.start


class AgingQueue:
    """Levels 0..max_priority (higher first); within a level, FIFO. The head of level p at time
    t scores ``p + (t - enqueued_at) / aging_interval_s``; ``take`` serves the best score."""

    def __init__(self, max_priority: int = 10, aging_interval_s: float = 1.0) -> None:
        check_int("max_priority", max_priority, minimum=0)
        check_number("aging_interval_s", aging_interval_s)
        self._levels: list[deque[Segment]] = [deque() for _ in range(max_priority + 1)]
        self._aging = aging_interval_s
        self.n_items = 0
        self._single: deque[Segment] | None = None
        self._used: set[int] = set()

    def put(self, seg: Segment, priority: int) -> None:
        seg.queued = True
        self._levels[priority].append(seg)
        if priority not in self._used:
            self._used.add(priority)
            self._single = self._levels[priority] if len(self._used) == 1 else None
        self.n_items += len(seg)

    def _best(self, now: float) -> deque[Segment]:
        if self._single is not None and self._single:  # only one level was ever used
            return self._single
        best: deque[Segment] | None = None
        best_score = float("-inf")
        aging = self._aging
        for p in range(len(self._levels) - 1, -1, -1):
            level = self._levels[p]
            if level:
                score = p + (now - level[0].enqueued_at) / aging
                if score > best_score:
                    best, best_score = level, score
        assert best is not None
        return best

    def take(self, max_items: int, now: float) -> list[Segment]:
        """Up to ``max_items`` items, as segments, best score first."""
        out: list[Segment] = []
        need = max_items
        while need > 0 and self.n_items > 0:
            level = self._best(now)
            head = level[0]
            n = head.stop - head.start
            if n <= need:
                level.popleft()
                head.queued = False
                out.append(head)
            else:
                out.append(Segment(head.job, head.start, head.start + need, head.enqueued_at,
                                   head.resolved))
                head.start += need
                n = need
            need -= n
            self.n_items -= n
        return out

    def remove_if(self, pred: Callable[[Any], bool]) -> list[Segment]:
        """Remove and return every segment whose job satisfies ``pred`` (O(queued segments))."""
        removed: list[Segment] = []
        for level in self._levels:
            if any(pred(s.job) for s in level):
                keep = [s for s in level if not pred(s.job)]
                removed += [s for s in level if pred(s.job)]
                level.clear()
                level.extend(keep)
        for s in removed:
            s.queued = False
        self.n_items -= sum(len(s) for s in removed)
        return removed
