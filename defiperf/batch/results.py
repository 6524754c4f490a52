"""Where finished jobs wait to be claimed: nothing is forgotten, memory is bounded by refusal.

A kept job (the default) holds its results from submission until it is claimed — by
``wait(job)``, by ``as_completed()`` or by its ``on_done`` callback. Memory stays bounded
because ``submit_job`` is refused (QueueFull, naming what waits to be claimed) once the items
held would pass ``max_unclaimed_results``, never because a result was dropped. A job submitted
with ``keep_result=False`` holds no results and leaves as soon as it finishes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable

from defiperf.batch.hooks import call_safely
from defiperf.batch.jobs import Job, JobResult, QueueFull


class ResultStore:
    """The engine's jobs by id, the count of items they hold, and the finished-job stream."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.jobs: dict[str, Job] = {}
        self.held = 0                      # items of kept jobs not claimed yet
        self._stream: OrderedDict[str, Job] = OrderedDict()  # finished, unclaimed, in order
        self._event: asyncio.Event | None = None
        self.closed = False
        self.callback_tasks: set[asyncio.Future[object]] = set()  # coroutine callbacks running

    def admit(self, n: int) -> None:
        """Raise QueueFull unless a kept job of ``n`` items fits under the bound."""
        if self.held + n > self.bound:
            waiting = sum(j.total for j in self._stream.values())
            raise QueueFull(
                f"a job of {n} items would pass max_unclaimed_results={self.bound}: "
                f"{self.held} items are held, {waiting} of them in {self.finished_unclaimed} "
                "finished jobs waiting to be claimed (claim them with wait(), as_completed() or "
                "on_done=, or submit with keep_result=False)")

    def add(self, job: Job) -> None:
        self.jobs[job.job_id] = job
        if job.keep_result:
            self.held += job.total

    def finished(self, job: Job) -> None:
        """``job`` has just resolved: hand it to its callback, drop it, or queue it to claim."""
        assert job.done is not None
        if job.on_done is not None:
            result = self.claim(job)
            call_safely("on_done callback", job.on_done, result, tasks=self.callback_tasks)
        elif not job.keep_result:
            self.jobs.pop(job.job_id, None)
        else:
            self._stream[job.job_id] = job
            self._wake()

    def disown(self, job: Job) -> None:
        """Nobody can claim ``job`` (its submitter was cancelled before getting its id): hold
        nothing for it and drop it once it finishes."""
        if job.keep_result and job.job_id in self.jobs:
            self.held -= job.total
        job.keep_result = False
        if job.done is not None and job.done.done():
            self.jobs.pop(job.job_id, None)
            self._stream.pop(job.job_id, None)

    def claim(self, job: Job) -> JobResult:
        """The finished job's result; the engine forgets the job."""
        assert job.done is not None and job.done.done()
        if self.jobs.pop(job.job_id, None) is not None and job.keep_result:
            self.held -= job.total
        self._stream.pop(job.job_id, None)
        return job.done.result()

    @property
    def finished_unclaimed(self) -> int:
        """Kept jobs finished and not claimed yet."""
        return len(self._stream)

    def close(self) -> None:
        """No more jobs will come: streaming ``as_completed()`` ends once drained."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()

    async def stream(self, deadline: float | None, loop: asyncio.AbstractEventLoop,
                     ) -> AsyncIterator[tuple[str, JobResult]]:
        """Every kept job as it finishes (finished ones first), until closed and drained."""
        if self._event is None:
            self._event = asyncio.Event()
        while True:
            while self._stream:
                job = next(iter(self._stream.values()))
                yield job.job_id, self.claim(job)
            if self.closed and not any(j.keep_result and j.on_done is None for j in self.jobs.values()):
                return
            self._event.clear()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                raise TimeoutError("as_completed(): timed out waiting for the next job")
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except asyncio.TimeoutError:
                raise TimeoutError("as_completed(): timed out waiting for the next job") from None

    async def of(self, jobs: Iterable[Job], deadline: float | None, loop: asyncio.AbstractEventLoop,
                 ) -> AsyncIterator[tuple[str, JobResult]]:
        """The given jobs in the order they finish."""
        by_future = {job.done: job for job in jobs if job.done is not None}
        while by_future:
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            done, _ = await asyncio.wait(list(by_future), timeout=remaining,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done:
                raise TimeoutError(f"as_completed(): {len(by_future)} jobs not finished in time")
            for fut in done:
                job = by_future.pop(fut)
                if job.job_id in self.jobs:
                    yield job.job_id, self.claim(job)
