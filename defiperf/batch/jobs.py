"""Processors, jobs and their results: what goes into the engine and what comes out.

Every submitted item ends in exactly one of three places of its JobResult: ``results`` (it
succeeded), ``dead_letters`` (it failed for good, with its last error) or ``cancelled``.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from defiperf._validate import check_bool, check_int, check_number


class QueueFull(Exception):
    """No room for the job: the queue bound with ``block=False``, or the bound on unclaimed
    results (``max_unclaimed_results``), whatever ``block`` says."""


class EngineStopped(RuntimeError):
    """The engine is stopping or stopped and takes no new jobs."""


class JobTimeout(TimeoutError):
    """The job's deadline passed before the item could be processed."""


class ResultCountMismatch(ValueError):
    """A processor returned a different number of results than it was given items."""


@dataclass(frozen=True)
class Processor:
    """Processor(name, process, max_batch_size=100, timeout=5.0, retryable=True)

    ``process(items: list) -> list`` of the same length, in the same order; a coroutine
    function, or a plain function (run in the engine's thread pool so it never blocks the loop).
    ``timeout`` (seconds or None) bounds one batch. ``retryable=False``: a failed batch is not
    re-run (its items go straight to the dead letters), for processors with side effects.
    """

    name: str
    process: Callable[[list[Any]], Any]
    max_batch_size: int = 100
    timeout: float | None = 5.0
    retryable: bool = True
    is_async: bool = field(init=False, repr=False, compare=False, default=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError("name must be a non-empty str")
        if not callable(self.process):
            raise TypeError("process must be callable")
        check_int("max_batch_size", self.max_batch_size)
        check_number("timeout", self.timeout, allow_none=True)
        check_bool("retryable", self.retryable)
        fn = self.process
        is_async = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
            getattr(fn, "__call__", None))
        object.__setattr__(self, "is_async", is_async)


class JobStatus(enum.Enum):
    """Where a job is: QUEUED, RUNNING, or finished: DONE, FAILED (some dead letters), CANCELLED."""
    QUEUED = "queued"        # nothing started yet
    RUNNING = "running"      # some batch started
    DONE = "done"            # every item succeeded
    FAILED = "failed"        # finished, some items are dead letters
    CANCELLED = "cancelled"  # finished after cancel(): some items cancelled


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An item that failed for good: its index in the job, the item, the last error, tries."""

    index: int
    item: Any
    error: BaseException
    attempts: int


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of a job's item counts, as ``BatchProcessingEngine.job_status`` returns it."""
    job_id: str
    status: JobStatus
    total: int
    succeeded: int
    failed: int
    cancelled: int

    @property
    def pending(self) -> int:
        """Items neither succeeded, failed nor cancelled yet."""
        return self.total - self.succeeded - self.failed - self.cancelled


@dataclass(frozen=True, slots=True)
class JobResult:
    """``results[i]`` is item i's result (None unless it succeeded); ``dead_letters`` and
    ``cancelled`` (indices) account for every other item. A job submitted with
    ``keep_result=False`` has ``results == []`` (they were not kept); ``total`` still counts it."""

    job_id: str
    status: JobStatus
    results: list[Any]
    dead_letters: list[DeadLetter]
    cancelled: list[int]
    total: int = -1

    def __post_init__(self) -> None:
        if self.total < 0:
            object.__setattr__(self, "total", len(self.results))

    @property
    def ok(self) -> bool:
        """True if every item succeeded (status DONE)."""
        return self.status is JobStatus.DONE

    @property
    def succeeded(self) -> int:
        """How many items succeeded."""
        return self.total - len(self.dead_letters) - len(self.cancelled)


@dataclass(eq=False, slots=True)
class Job:
    """The engine's record of one job (internal): items, results, what is resolved."""

    job_id: str
    processor: Processor
    items: Sequence[Any]
    priority: int
    enqueued_at: float
    results: list[Any] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    cancelled_ranges: list[tuple[int, int]] = field(default_factory=list)
    n_ok: int = 0
    n_cancelled: int = 0
    started: bool = False
    cancel_requested: bool = False
    timed_out: bool = False
    keep_result: bool = True
    on_done: Callable[[JobResult], Any] | None = None
    queued_segments: list[Any] = field(default_factory=list)  # what it put in the queue
    deadline_handle: asyncio.TimerHandle | None = None
    done: asyncio.Future[JobResult] | None = None

    total: int = -1

    def __post_init__(self) -> None:
        self.total = len(self.items)

    @property
    def resolved(self) -> int:
        """Items resolved so far (succeeded, dead or cancelled)."""
        return self.n_ok + len(self.dead) + self.n_cancelled

    def status(self) -> JobStatus:
        if self.done is not None and self.done.done():
            return self.done.result().status
        return JobStatus.RUNNING if self.started else JobStatus.QUEUED

    def progress(self) -> JobProgress:
        return JobProgress(self.job_id, self.status(), self.total, self.n_ok, len(self.dead),
                           self.n_cancelled)

    def succeed(self, start: int, stop: int, values: Sequence[Any], offset: int) -> None:
        if self.keep_result:
            self.results[start:stop] = values[offset:offset + stop - start]
        self.n_ok += stop - start

    def fail(self, start: int, stop: int, error: BaseException, attempts: int) -> None:
        items = self.items
        self.dead.extend(DeadLetter(i, items[i], error, attempts) for i in range(start, stop))

    def cancel_range(self, start: int, stop: int) -> None:
        if stop > start:
            self.cancelled_ranges.append((start, stop))
            self.n_cancelled += stop - start

    def finish_if_resolved(self) -> bool:
        if self.resolved < self.total or self.done is None or self.done.done():
            return False
        if self.deadline_handle is not None:
            self.deadline_handle.cancel()
        status = (JobStatus.CANCELLED if self.n_cancelled else
                  JobStatus.FAILED if self.dead else JobStatus.DONE)
        cancelled = (sorted(i for a, b in self.cancelled_ranges for i in range(a, b))
                     if self.cancelled_ranges else [])
        results = self.results if self.keep_result else []
        dead = sorted(self.dead, key=lambda d: d.index) if self.dead else []
        self.done.set_result(JobResult(self.job_id, status, results, dead, cancelled,
                                       self.total))
        self.items = ()  # no longer needed (dead letters hold their own items): less to keep
        self.queued_segments = []
        return True
