"""BatchProcessingEngine: jobs -> aging priority queue -> sized batches -> processor, with
bisecting retries, a circuit breaker per processor, backpressure, and per-item accounting.

Nothing is dropped silently: every submitted item ends as a result, a dead letter (with its
last error) or cancelled, the job's future resolves once all of its items have, and a kept
job's result stays until it is claimed (``wait``, ``as_completed``, ``on_done``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from defiperf._validate import check_int, check_number
from defiperf.batch.breaker import BreakerState, CircuitBreaker
from defiperf.batch.config import DEFAULT_BATCH_CONFIG, BatchConfig
from defiperf.batch.hooks import SafeMonitor, call_safely, warn_rate_limited
from defiperf.batch.jobs import (
    DeadLetter,
    EngineStopped,
    Job,
    JobProgress,
    JobResult,
    JobTimeout,
    Processor,
    QueueFull,
    ResultCountMismatch,
)
from defiperf.batch.lane import THROUGHPUT_WINDOW_S, Family, Lane, Unit
from defiperf.batch.queue import AgingQueue, Segment
from defiperf.batch.results import ResultStore
from defiperf.batch.retry import RetryState
from defiperf.batch.sizing import BatchSizer, LoadProbe
from defiperf.structures.metrics import LogHistogram

logger = logging.getLogger("defiperf.batch")

# Batch timeouts: on 3.11+ a per-lane watchdog cancels an overdue worker and uncancels it
# (one timer per lane, none per batch: asyncio.timeout/wait_for cost ~10 us a batch); on 3.10
# wait_for. 3.11+ also tells a processor's own CancelledError from the engine being cancelled.
_WATCHDOG = hasattr(asyncio.Task, "uncancel")

MAX_PRIORITY = 10
WORKER_EXIT_S = 1.0      # how long stop() waits for a cancelled worker before abandoning it
CALLBACKS_EXIT_S = 5.0   # how long an unbounded stop() waits for coroutine callbacks


class BatchProcessingEngine:
    """BatchProcessingEngine(config=DEFAULT_BATCH_CONFIG, *, monitor=None, load_probe=None,
    on_dead_letter=None)

    >>> import asyncio
    >>> async def double(items): return [2 * x for x in items]
    >>> async def main():
    ...     async with BatchProcessingEngine() as engine:
    ...         job = await engine.submit_job(range(5), Processor("double", double))
    ...         return (await engine.wait(job)).results
    >>> asyncio.run(main())
    [0, 2, 4, 6, 8]

    Priorities are 0..10 (higher first, FIFO within one; aging lifts a waiting job one level
    per ``config.aging_interval_s``). A failed batch is split and its pieces retried, so good
    items still succeed and poison items are isolated (at once into ~sqrt(n) pieces while the
    processor is healthy; in halves after a backoff when it may be down); a single item is
    retried until ``config.retry`` stops it (each failed batch that held it counts as an
    attempt once the processor is known healthy), then dead-lettered. Any exception a processor
    raises (a ``CancelledError`` of its own included; KeyboardInterrupt and SystemExit aside)
    fails its batch, never a worker. Batch sizes follow each processor's measured cost model
    (see ``defiperf.batch.sizing``); the load of other processes never shrinks them.

    ``on_dead_letter(job_id, dead_letter)`` is called for every item that fails for good (an
    error in it is logged, rate-limited). One asyncio loop at a time: use the engine from the
    loop it was started on (it is not thread-safe; sync processors run in its thread pool). If
    that loop ends without ``stop()``, every unresolved item is resolved as cancelled and one
    warning says how many.
    """

    def __init__(self, config: BatchConfig | None = None, *, monitor: Any = None,
                 load_probe: LoadProbe | None = None,
                 on_dead_letter: Callable[[str, DeadLetter], Any] | None = None) -> None:
        config = DEFAULT_BATCH_CONFIG if config is None else config
        if not isinstance(config, BatchConfig):
            raise TypeError(f"config must be a BatchConfig, not {type(config).__name__}")
        if load_probe is not None and not isinstance(load_probe, LoadProbe):
            raise TypeError(f"load_probe must be a LoadProbe, not {type(load_probe).__name__}")
        if on_dead_letter is not None and not callable(on_dead_letter):
            raise TypeError("on_dead_letter must be callable")
        missing = [m for m in ("record_metric", "record_timing", "counter", "watch_queue")
                   if monitor is not None and not callable(getattr(monitor, m, None))]
        if missing:
            raise TypeError(f"monitor must be a Recorder (a PerformanceMonitor); "
                            f"{type(monitor).__name__} has no {', '.join(missing)}")
        self.config = config
        self.monitor = monitor
        self._recorder = SafeMonitor(monitor) if monitor is not None else None
        self._on_dead_letter = on_dead_letter
        self._probe = load_probe or LoadProbe(config.memory_pressure_pct,
                                              config.cpu_saturation_pct,
                                              config.load_sample_interval_s)
        self._rng = random.Random(config.seed)
        self._id_prefix = uuid.uuid4().hex[:16] + "-"   # job ids: unique across engines
        self._ids = itertools.count()
        self._lanes: dict[str, Lane] = {}
        self._store = ResultStore(config.unclaimed_results_bound)
        self._queued = 0
        self._space = asyncio.Event()
        self._space_waiters = 0
        self._idle = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._time: Callable[[], float] = time.monotonic
        self._draining = 0
        self._executor: Any = None
        self._started = False
        self._closing = False
        self._stopping_workers = False
        self._torn_down = False
        self._size_fraction: float | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop (submit_job also does this on first use)."""
        if self._closing:
            raise EngineStopped("the engine was stopped; make a new one")
        if not self._started:
            self._loop = asyncio.get_running_loop()
            self._time = self._loop.time
            self._started = True
        elif asyncio.get_running_loop() is not self._loop:
            raise RuntimeError("the engine is bound to another event loop; make one per loop")

    async def __aenter__(self) -> BatchProcessingEngine:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop(graceful=exc_type is None)

    def _now(self) -> float:
        return self._time()

    def _lane(self, processor: Processor) -> Lane:
        lane = self._lanes.get(processor.name)
        if lane is not None:
            if lane.processor != processor:
                raise ValueError(f"a different processor named {processor.name!r} is registered")
            return lane
        cfg = self.config
        lane = Lane(
            processor, AgingQueue(MAX_PRIORITY, cfg.aging_interval_s),
            BatchSizer(processor.max_batch_size, cfg.latency_target_s, self._probe),
            CircuitBreaker(cfg.breaker.failure_rate_threshold, cfg.breaker.min_calls,
                           cfg.breaker.window_calls, cfg.breaker.reset_timeout_s, timer=self._now),
        )
        self._lanes[processor.name] = lane
        if self._size_fraction is not None:
            lane.sizer.limit(int(lane.sizer.max_size * self._size_fraction))
        for _ in range(cfg.workers_per_processor):
            self._add_worker(lane)
        if self._recorder is not None:
            self._recorder.watch_queue(f"batch.{processor.name}", lambda: lane.queue.n_items)
        if _WATCHDOG and processor.timeout is not None:
            self._watch(lane, min(processor.timeout / 10, 0.05))
        return lane

    def _add_worker(self, lane: Lane) -> None:
        assert self._loop is not None
        name = f"defiperf-batch-{lane.processor.name}-{len(lane.workers)}"
        lane.workers.append(self._loop.create_task(self._worker(lane), name=name))

    def _watch(self, lane: Lane, period_s: float) -> None:
        """Every period: cancel the workers whose batch is past its timeout (so it fires within
        ``period_s``: a tenth of the timeout, at most 50 ms). A batch still running one more
        timeout later ignores cancellation: its worker is abandoned (replaced by a new one) and
        the batch fails with a TimeoutError; its late result, if any, is discarded."""
        assert self._loop is not None
        now = self._now()
        timeout = lane.processor.timeout or 0.0
        for task, (unit, deadline) in list(lane.running.items()):
            if now >= deadline and task not in lane.overdue:
                lane.overdue.add(task)
                task.cancel()
            elif now >= deadline + max(timeout, 0.1) and task not in lane.abandoned:
                self._abandon(lane, task, unit)
        lane.watchdog = self._loop.call_later(period_s, self._watch, lane, period_s)

    def _abandon(self, lane: Lane, task: asyncio.Task[Any], unit: Unit) -> None:
        lane.abandoned.add(task)
        lane.running.pop(task, None)
        lane.overdue.discard(task)
        lane.in_flight -= 1
        lane.abandoned_batches += 1
        with contextlib.suppress(ValueError):
            lane.workers.remove(task)
        self._add_worker(lane)
        warn_rate_limited(f"abandon:{lane.processor.name}",
                          "processor %r ignored cancellation after its %s s timeout; its worker "
                          "was replaced", lane.processor.name, lane.processor.timeout)
        self._complete(lane, unit, None, TimeoutError(
            f"batch of {lane.processor.name!r} took more than {lane.processor.timeout} s "
            "and ignored cancellation"), self._now() - (lane.processor.timeout or 0.0) * 2)

    # --- jobs --------------------------------------------------------------------------------

    async def submit_job(self, items: Iterable[Any], processor: Processor, priority: int = 5, *,
                         block: bool = True, timeout: float | None = None,
                         keep_result: bool = True,
                         on_done: Callable[[JobResult], Any] | None = None) -> str:
        """Queue ``items`` for ``processor``; returns the job id once every item is queued.

        When the queue bound (``config.max_queued_items``) is hit this waits for room, admitting
        a large job in chunks as room frees up; with ``block=False`` it raises QueueFull and
        queues nothing. ``timeout`` (default ``config.job_timeout_s``): seconds after which
        the items not yet processed become dead letters (JobTimeout), even those in a batch
        whose processor ignores cancellation.

        The result is kept until claimed: by ``wait(job)``, ``as_completed()``, or ``on_done``
        (called with the JobResult when the job finishes; a coroutine function is run as a
        task). ``keep_result=False``: fire and forget — nothing is kept; dead letters still
        reach ``on_dead_letter`` and the metrics. QueueFull (whatever ``block`` says) when the
        job would pass ``config.max_unclaimed_results``.
        """
        if not isinstance(processor, Processor):
            raise TypeError(f"processor must be a Processor, not {type(processor).__name__}")
        if type(priority) is not int or not 0 <= priority <= MAX_PRIORITY:  # noqa: E721 - fast path
            check_int("priority", priority, minimum=0, maximum=MAX_PRIORITY)
        timeout = self.config.job_timeout_s if timeout is None else timeout
        if timeout is not None:
            check_number("timeout", timeout)
        if keep_result is not True and keep_result is not False:
            raise TypeError(f"keep_result must be a bool, not {type(keep_result).__name__}")
        if block is not True and block is not False:
            raise TypeError(f"block must be a bool, not {type(block).__name__}")
        if on_done is not None and not callable(on_done):
            raise TypeError("on_done must be callable")
        if type(items) is not list and type(items) is not tuple:
            if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
                raise TypeError("items must be an iterable of items (not a str/bytes)")
            items = list(items)
        if self._closing:
            raise EngineStopped("the engine is stopping; no new jobs")
        if not self._started:
            await self.start()
        n = len(items)
        if keep_result:
            self._store.admit(n)
        if not block and n > self.config.max_queued_items - self._queued:
            raise QueueFull(f"{n} items do not fit: {self._queued} of "
                            f"{self.config.max_queued_items} queued")
        lane = self._lane(processor)
        assert self._loop is not None
        job = Job(f"{self._id_prefix}{next(self._ids):x}", processor, items, priority, self._now(),
                  results=[None] * n if keep_result else [], done=self._loop.create_future(),
                  keep_result=keep_result, on_done=on_done)
        self._store.add(job)
        self._idle.clear()
        if timeout is not None:
            job.deadline_handle = self._loop.call_later(timeout, self._expire, job)
        pos = 0
        while pos < n:
            if job.cancel_requested or job.timed_out or self._torn_down:
                self._resolve_unqueued(job, pos, n)
                break
            free = self.config.max_queued_items - self._queued
            if free <= 0:
                try:
                    await self._wait_for_space()
                except BaseException:  # the submitter was cancelled: it never gets the id
                    self._abort_admission(job, pos, n)
                    raise
                continue
            take = min(free, n - pos)
            seg = Segment(job, pos, pos + take, self._now())
            job.queued_segments.append(seg)
            lane.queue.put(seg, priority)
            self._queued += take
            pos += take
            self._wake_one(lane)
        self._finish_if_resolved(job)
        return job.job_id

    def _resolve_unqueued(self, job: Job, start: int, stop: int) -> None:
        """Items of a job being admitted in chunks when it was cancelled or expired."""
        if job.timed_out:
            self._dead_range(job, start, stop, JobTimeout(f"job {job.job_id} passed its deadline"), 0)
        else:
            job.cancel_range(start, stop)

    def _abort_admission(self, job: Job, pos: int, n: int) -> None:
        """``submit_job`` was cancelled while admitting ``job`` in chunks: the caller never got
        its id, so what was queued is cancelled and nothing is held for it."""
        job.cancel_requested = True
        self._resolve_unqueued(job, pos, n)
        self._resolve_outstanding(lambda j: j is job,
                                  lambda seg: job.cancel_range(seg.start, seg.stop), running_too=False,
                                  job=job)
        self._finish_if_resolved(job)
        self._store.disown(job)

    async def _wait_for_space(self) -> None:
        self._space_waiters += 1
        try:
            self._space.clear()
            await self._space.wait()
        finally:
            self._space_waiters -= 1

    def _job(self, job_id: str) -> Job:
        if not isinstance(job_id, str):
            raise TypeError(f"job_id must be a str (what submit_job returned), not "
                            f"{type(job_id).__name__}")
        try:
            return self._store.jobs[job_id]
        except KeyError:
            raise KeyError(f"no job {job_id!r} (unknown, or its result was already claimed)") from None

    async def wait(self, job_id: str, timeout: float | None = None) -> JobResult:
        """The job's result once every item is resolved (this claims it: the engine then
        forgets the job); TimeoutError after ``timeout`` s (the job goes on, still claimable).
        KeyError for an unknown or already claimed job; ValueError for one submitted with
        ``keep_result=False`` or ``on_done`` (its result is not kept for ``wait``)."""
        check_number("timeout", timeout, inclusive=True, allow_none=True)
        job = self._job(job_id)
        if not job.keep_result or job.on_done is not None:
            raise ValueError(f"job {job_id!r} was submitted with keep_result=False or on_done: "
                             "its result is not kept to wait for")
        assert job.done is not None
        if not job.done.done():
            try:
                await asyncio.wait_for(asyncio.shield(job.done), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"job {job_id} not finished within {timeout} s") from None
        return self._store.claim(job)

    def as_completed(self, job_ids: Iterable[str] | None = None, *,
                     timeout: float | None = None) -> AsyncIterator[tuple[str, JobResult]]:
        """``async for job_id, result in engine.as_completed(...)``: results as jobs finish,
        each claimed as it is yielded.

        With ``job_ids``: those jobs, in the order they finish. Without: every kept job (not
        ``on_done`` or ``keep_result=False`` ones) as it finishes — those already finished
        first — until the engine is stopped and nothing is left: a consumer beside a producer.
        ``timeout``: seconds for the whole iteration; TimeoutError when it passes (what was
        not yielded stays claimable).
        """
        check_number("timeout", timeout, inclusive=True, allow_none=True)
        if job_ids is not None and (isinstance(job_ids, str) or not isinstance(job_ids, Iterable)):
            raise TypeError("job_ids must be an iterable of job ids (not a str) or None")
        jobs = None if job_ids is None else [self._job(j) for j in job_ids]
        unkept = [j.job_id for j in jobs or () if not j.keep_result or j.on_done is not None]
        if unkept:
            raise ValueError(f"jobs {unkept[:3]} were submitted with keep_result=False or on_done: "
                             "their results are not kept for as_completed()")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        if jobs is None:
            return self._store.stream(deadline, loop)
        return self._store.of(jobs, deadline, loop)

    def job_status(self, job_id: str) -> JobProgress:
        """queued / running / done / failed / cancelled, with per-item counts."""
        return self._job(job_id).progress()

    def cancel(self, job_id: str) -> int:
        """Cancel the job's items that are not in a running batch; returns how many. Items in
        running batches finish (their results are kept)."""
        job = self._job(job_id)
        if job.done is not None and job.done.done():
            return 0
        job.cancel_requested = True
        before = job.n_cancelled
        self._resolve_outstanding(lambda j: j is job, lambda seg: job.cancel_range(seg.start, seg.stop),
                                  running_too=False, job=job)
        return job.n_cancelled - before

    def _expire(self, job: Job) -> None:
        """The job's deadline: every item not yet resolved becomes a JobTimeout dead letter now,
        wherever it is (queued, waiting to retry, or in a running batch)."""
        job.timed_out = True
        error = JobTimeout(f"job {job.job_id} passed its deadline")
        self._resolve_outstanding(lambda j: j is job,
                                  lambda seg: self._dead_segment(job, seg, error, 0), running_too=True,
                                  job=job)

    def _resolve_outstanding(self, pred: Callable[[Job], bool], resolve: Callable[[Segment], None],
                             running_too: bool, job: Job | None = None) -> None:
        """Resolve with ``resolve`` every unresolved segment of the jobs ``pred`` selects:
        queued ones, those in units waiting to retry, and (``running_too``) those in running
        batches (whose late outcome is then ignored for them). With ``job`` (the one job ``pred``
        selects), its queued segments are found through the job and left in the queue as
        tombstones, so cancelling or expiring one job of many costs O(its segments), not
        O(everything queued)."""
        jobs: set[Job] = set()
        if job is not None:
            for seg in job.queued_segments:
                if seg.queued and not seg.resolved and seg.stop > seg.start:
                    seg.resolved = True
                    resolve(seg)
                    jobs.add(job)
            job.queued_segments = [s for s in job.queued_segments if s.queued and not s.resolved]
            lane_of_job = self._lanes.get(job.processor.name)
            if jobs and lane_of_job is not None:
                self._wake_one(lane_of_job)  # a worker sweeps the tombstones out of the queue
        for lane in list(self._lanes.values()):
            removed = [] if job is not None else lane.queue.remove_if(pred)
            for seg in removed:
                self._queued -= len(seg)
                resolve(seg)
                jobs.add(seg.job)
            for unit in list(lane.units):
                if unit.running and not running_too:
                    continue
                for seg in unit.segments:
                    if not seg.resolved and pred(seg.job):
                        seg.resolved = True
                        resolve(seg)
                        jobs.add(seg.job)
        self._signal_space()
        for job in jobs:
            self._finish_if_resolved(job)
        if self._draining:
            self._maybe_idle()

    def _live(self, segments: list[Segment]) -> list[Segment]:
        """The segments still to process: resolved ones dropped, cancelled jobs' ones cancelled."""
        live = []
        for seg in segments:
            if seg.resolved:
                continue
            job = seg.job
            if job.cancel_requested:
                seg.resolved = True
                job.cancel_range(seg.start, seg.stop)
                self._finish_if_resolved(job)
                continue
            live.append(seg)
        return live

    def _finish_if_resolved(self, job: Job) -> None:
        if job.finish_if_resolved():
            self._store.finished(job)

    def _signal_space(self) -> None:
        if self._space_waiters and self._queued < self.config.max_queued_items:
            self._space.set()

    # --- workers -----------------------------------------------------------------------------

    def _next_unit(self, lane: Lane) -> Unit | None:
        while lane.retries:
            unit = lane.retries.popleft()
            unit.segments = self._live(unit.segments)
            if unit.segments:
                return unit
            lane.units.discard(unit)
        while lane.queue.n_items:
            segments = lane.queue.take(lane.sizer.size, self._now())
            self._queued -= sum(s.stop - s.start for s in segments)
            self._signal_space()
            segments = self._live(segments)
            if segments:
                unit = Unit(segments)
                lane.units.add(unit)
                return unit
        return None

    def _concurrency(self, lane: Lane) -> int:
        """Batches of ``lane`` allowed at once: all workers, or half of them while this
        process's CPU is saturated (more concurrent batches would only queue for the CPU)."""
        workers = self.config.workers_per_processor
        if workers > 1 and self._probe.cpu_saturated():
            lane.concurrency_limited += 1
            return max(1, workers // 2)
        return workers

    async def _worker(self, lane: Lane) -> None:
        me = asyncio.current_task()
        try:
            while not self._stopping_workers and me not in lane.abandoned:
                if lane.in_flight >= self._concurrency(lane):
                    await self._park(lane)
                    continue
                unit = self._next_unit(lane)
                if unit is None:
                    if self._draining:
                        self._maybe_idle()
                    await self._park(lane)
                    continue
                if lane.queue.n_items or lane.retries:
                    self._wake_one(lane)  # more work: pass the baton to one more worker
                try:
                    unit.segments = await self._wait_for_breaker(lane, unit.segments)
                    if unit.segments:
                        await self._run(lane, unit)
                    else:
                        lane.units.discard(unit)
                except Exception as exc:  # an engine bug must not lose the unit's items
                    logger.exception("batch engine: internal error in a worker of %r",
                                     lane.processor.name)
                    self._dead(lane, unit, exc, unit.attempts + 1)
        except asyncio.CancelledError:
            if not (self._stopping_workers or me in lane.abandoned):
                self._teardown()  # cancelled from outside: the loop is ending without stop()
            raise
        finally:
            if me is not None:
                lane.abandoned.discard(me)

    async def _park(self, lane: Lane) -> None:
        """Wait until ``_wake_one`` picks this worker (one worker per piece of new work, not
        all of them: a thundering herd cost more than the batch itself)."""
        assert self._loop is not None
        fut: asyncio.Future[None] = self._loop.create_future()
        lane.idle.append(fut)
        await fut

    def _wake_one(self, lane: Lane) -> None:
        while lane.idle:
            fut = lane.idle.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    async def _wait_for_breaker(self, lane: Lane, segments: list[Segment]) -> list[Segment]:
        """While the breaker is open the batch waits (it is not failed); its cancelled or
        expired items are resolved meanwhile."""
        if not segments or lane.breaker.allow():
            return segments
        lane.breaker_waits += 1  # still busy for drain(): these items are not resolved yet
        try:
            while segments and not lane.breaker.allow():
                await asyncio.sleep(min(max(lane.breaker.seconds_until_probe(), 0.005), 0.05))
                segments = self._live(segments)
        finally:
            lane.breaker_waits -= 1
        return segments

    async def _call(self, processor: Processor, items: list[Any]) -> Any:
        if processor.is_async:
            call: Awaitable[Any] = processor.process(items)
        else:
            assert self._loop is not None
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor
                self._executor = ThreadPoolExecutor(self.config.thread_pool_size,
                                                    thread_name_prefix="defiperf-batch")
            call = self._loop.run_in_executor(self._executor, processor.process, items)
        if processor.timeout is None or _WATCHDOG:
            return await call
        return await asyncio.wait_for(call, processor.timeout)  # Python 3.10

    def _engine_cancelled(self, task: asyncio.Task[Any] | None) -> bool:
        """Is this CancelledError the engine's own (stop, loop teardown) rather than the
        processor's? On 3.10 it cannot be told apart and is taken as the engine's."""
        if self._stopping_workers or task is None or not _WATCHDOG:
            return True
        cancelling: Callable[[], int] = getattr(task, "cancelling")  # noqa: B009 - 3.11+
        return cancelling() > 0

    async def _run(self, lane: Lane, unit: Unit) -> None:
        items = unit.items()
        now = self._now()
        for seg in unit.segments:
            seg.job.started = True
        if unit.fresh:
            waited_ms = (now - unit.segments[0].enqueued_at) * 1000.0
            lane.queue_ms.record(waited_ms)
            if self._recorder is not None:
                self._recorder.record_metric(f"batch.{lane.processor.name}.queue_latency_ms",
                                             waited_ms, "ms")
        lane.in_flight += 1
        unit.running = True
        error: BaseException | None = None
        out: Any = None
        task = asyncio.current_task()
        timeout = lane.processor.timeout
        if task is not None:
            lane.running[task] = (unit, now + timeout if timeout is not None else float("inf"))
        try:
            try:
                out = await self._call(lane.processor, items)
            finally:
                if task is not None:
                    lane.running.pop(task, None)
                if task is not None and task in lane.overdue:  # the watchdog fired: timed out
                    lane.overdue.discard(task)
                    getattr(task, "uncancel")()  # noqa: B009 - 3.11+, where the watchdog runs
                    if task not in lane.abandoned:
                        raise TimeoutError(f"batch of {lane.processor.name!r} took more than "
                                           f"{timeout} s")
            if not isinstance(out, (list, tuple)):
                raise TypeError(f"processor {lane.processor.name!r} returned "
                                f"{type(out).__name__}, not a list")
            if len(out) != len(items):
                raise ResultCountMismatch(f"processor {lane.processor.name!r} returned "
                                          f"{len(out)} results for {len(items)} items")
        except asyncio.CancelledError as exc:
            if task in lane.abandoned:
                return  # its unit was failed when it was abandoned
            if self._engine_cancelled(task):
                lane.in_flight -= 1
                unit.running = False
                self._requeue_front(lane, unit)
                raise
            error = exc  # the processor's own CancelledError: a failure of this batch
        except (KeyboardInterrupt, SystemExit):
            lane.in_flight -= 1
            unit.running = False
            self._requeue_front(lane, unit)
            raise
        except BaseException as exc:  # noqa: BLE001 - a processor error fails this batch only
            error = exc
        if task in lane.abandoned:
            return  # a late outcome: the unit was failed when the worker was abandoned
        lane.in_flight -= 1
        self._complete(lane, unit, out, error, now)

    def _complete(self, lane: Lane, unit: Unit, out: Any, error: BaseException | None,
                  started: float) -> None:
        """Account for a finished batch: breaker, sizing, metrics, then its items."""
        unit.running = False
        end = self._now()
        elapsed = end - started
        ok = error is None
        n = len(out) if ok else unit.n_items
        self._judge(lane, unit, ok)
        lane.sizer.observe(elapsed, not isinstance(error, TimeoutError), n)
        if lane.queue.n_items or lane.retries:
            self._wake_one(lane)  # a concurrency slot is free
        lane.process_ms.record(elapsed * 1000.0)
        lane.batch_sizes.record(n)
        lane.batches += 1
        if self._recorder is not None:
            self._recorder.record_timing(f"batch.{lane.processor.name}", elapsed * 1000.0, ok)
        if error is None:
            self._succeed(lane, unit, out, int(end))
        else:
            lane.failed_batches += 1
            self._failed(lane, unit, error)
        if self._draining:
            self._maybe_idle()

    def _judge(self, lane: Lane, unit: Unit, ok: bool) -> None:
        """What the breaker learns from a batch. Fresh successes and half-open probes count at
        once; a failed fresh batch waits for the verdict of its first pieces (poison items in a
        healthy processor must not open the breaker); deeper retries do not count."""
        breaker = lane.breaker
        family = unit.family
        if ok and family is not None:
            family.healthy = True
        if breaker.state is not BreakerState.CLOSED:
            breaker.record(ok)
        elif unit.fresh and (ok or unit.n_items == 1 or not lane.processor.retryable):
            breaker.record(ok)
        elif family is not None and unit.depth == 1 and not family.decided:
            family.pending -= 1
            if ok or family.pending == 0:
                family.decided = True
                breaker.record(ok)

    def _healthy(self, lane: Lane) -> bool:
        """No sign that the processor is down: breaker closed, recent failures well under its
        threshold. Failures then split at once (a diagnosis, not a wait); a batch whose pieces
        all fail is a failure for the breaker, which turns this off."""
        b = lane.breaker
        return b.state is BreakerState.CLOSED and b.failure_rate < b.failure_rate_threshold / 2

    def _succeed(self, lane: Lane, unit: Unit, out: Sequence[Any], second: int) -> None:
        offset = done = 0
        for seg in unit.segments:
            n = seg.stop - seg.start
            if not seg.resolved:  # not resolved meanwhile (deadline, loop end)
                seg.resolved = True
                seg.job.succeed(seg.start, seg.stop, out, offset)
                done += n
                self._finish_if_resolved(seg.job)
            offset += n
        lane.units.discard(unit)
        lane.items_ok += done
        if lane.sizer.item_failure_rate:
            lane.sizer.observe_items(done, 0)
        if self._recorder is not None:
            self._recorder.count(f"batch.{lane.processor.name}.items_ok", done)
        if lane.per_second and lane.per_second[-1][0] == second:
            lane.per_second[-1][1] += done
        else:
            lane.per_second.append([second, done])

    def _failed(self, lane: Lane, unit: Unit, error: BaseException) -> None:
        unit.segments = self._live(unit.segments)
        lane.units.discard(unit)
        if not unit.segments:
            return
        now = self._now()
        first = unit.first_failure if unit.first_failure is not None else now
        policy = self.config.retry
        if not lane.processor.retryable:
            self._dead(lane, unit, error, unit.attempts + 1)
        elif unit.n_items > 1:
            # Split to isolate the failing items. While the processor is healthy (or a sibling
            # sub-batch succeeded) the failures are the items' own: cut into ~sqrt(n) pieces at
            # once (a 1%-poisoned job re-runs ~1.1x its items instead of bisection's ~2x).
            # Otherwise halve after a backoff growing with depth: it may be an outage.
            if (unit.family is not None and unit.family.healthy) or self._healthy(lane):
                delay, parts = 0.0, max(2, math.isqrt(unit.n_items - 1) + 1)
            else:
                delay, parts = policy.delay_s(RetryState(unit.depth + 1, now - first), self._rng), 2
            family = unit.family or Family(pending=min(parts, unit.n_items))
            for piece in unit.split(parts):
                self._schedule(lane, Unit(piece, 0, unit.depth + 1, first, family), delay)
        else:
            single = unit.family
            proven = single is not None and single.healthy and unit.attempts == 0
            state = RetryState(unit.attempts + 1 + (unit.depth if proven else 0), now - first)
            if policy.should_stop(state):
                self._dead(lane, unit, error, state.attempt)
            else:
                self._schedule(lane, Unit(unit.segments, state.attempt, unit.depth, first, single),
                               policy.delay_s(state, self._rng))

    def _dead_segment(self, job: Job, seg: Segment, error: BaseException, attempts: int) -> None:
        self._dead_range(job, seg.start, seg.stop, error, attempts)

    def _dead_range(self, job: Job, start: int, stop: int, error: BaseException,
                    attempts: int) -> None:
        """Items ``start:stop`` of ``job`` fail for good: dead letters, metrics, callback."""
        before = len(job.dead)
        job.fail(start, stop, error, attempts)
        lane = self._lanes.get(job.processor.name)
        if lane is not None:
            lane.items_dead += stop - start
            lane.sizer.observe_items(0, stop - start)
        if self._recorder is not None:
            self._recorder.count(f"batch.{job.processor.name}.items_dead", stop - start)
        if self._on_dead_letter is not None:
            for dead in job.dead[before:]:
                call_safely("on_dead_letter callback", self._on_dead_letter, job.job_id, dead,
                            tasks=self._store.callback_tasks)

    def _dead(self, lane: Lane, unit: Unit, error: BaseException, attempts: int) -> None:
        lane.units.discard(unit)
        for seg in unit.segments:
            if not seg.resolved:
                seg.resolved = True
                self._dead_segment(seg.job, seg, error, attempts)
                self._finish_if_resolved(seg.job)

    def _schedule(self, lane: Lane, unit: Unit, delay_s: float) -> None:
        assert self._loop is not None
        lane.pending_retries += 1
        lane.retried_units += 1
        lane.units.add(unit)

        def ready() -> None:
            lane.pending_retries -= 1
            lane.retries.append(unit)
            self._wake_one(lane)

        self._loop.call_later(delay_s, ready)

    def _requeue_front(self, lane: Lane, unit: Unit) -> None:
        lane.retries.appendleft(unit)
        self._wake_one(lane)

    # --- drain and stop ----------------------------------------------------------------------

    def _busy(self) -> bool:
        return any(lane.busy() for lane in self._lanes.values())

    def _maybe_idle(self) -> None:
        if not self._busy():
            self._idle.set()

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every queued item is resolved and nothing is running or waiting to retry;
        TimeoutError after ``timeout`` s (the work goes on)."""
        check_number("timeout", timeout, inclusive=True, allow_none=True)
        self._draining += 1
        deadline = None if timeout is None else self._now() + timeout
        try:
            while self._busy():
                self._idle.clear()
                remaining = None if deadline is None else deadline - self._now()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"drain(): work left after {timeout} s")
                try:
                    await asyncio.wait_for(self._idle.wait(), remaining)
                except asyncio.TimeoutError:
                    raise TimeoutError(f"drain(): work left after {timeout} s") from None
        finally:
            self._draining -= 1

    async def stop(self, graceful: bool = True, timeout: float | None = None) -> None:
        """Stop taking jobs. ``graceful``: finish everything queued; otherwise cancel what is
        queued or waiting to retry (running batches finish). ``timeout``: seconds the whole
        stop may take (None: a graceful stop waits for the queue however long it takes); when
        it passes, what is left is cancelled, running batches included. When stop returns every
        job's future is resolved (results stay claimable), coroutine callbacks have run or were
        given up on at the deadline, and a worker stuck in a processor that ignores
        cancellation is abandoned rather than waited for."""
        if graceful is not True and graceful is not False:
            raise TypeError(f"graceful must be a bool, not {type(graceful).__name__}")
        check_number("timeout", timeout, inclusive=True, allow_none=True)
        self._closing = True
        if not self._started:
            self._store.close()
            return
        deadline = None if timeout is None else self._now() + timeout

        def left(default: float | None = None) -> float | None:
            return default if deadline is None else max(0.0, deadline - self._now())

        if not graceful:
            self._cancel_all()
        try:
            await self.drain(left())
        except TimeoutError:
            warn_rate_limited("stop-timeout", "stop(): work left after %s s is cancelled", timeout)
            self._cancel_all()
        self._stopping_workers = True
        for lane in self._lanes.values():
            for task in lane.workers:
                task.cancel()
            if lane.watchdog is not None:
                lane.watchdog.cancel()
        workers = [t for lane in self._lanes.values() for t in lane.workers]
        if workers:
            _, stuck = await asyncio.wait(workers, timeout=left(WORKER_EXIT_S))
            for lane in self._lanes.values():
                lane.abandoned.update(t for t in lane.workers if t in stuck)
                lane.workers = []
        self._cancel_everything_left()
        if self._store.callback_tasks:
            await asyncio.wait(list(self._store.callback_tasks), timeout=left(CALLBACKS_EXIT_S))
        self._store.close()
        if self._executor is not None:
            executor, self._executor = self._executor, None
            waiter = asyncio.ensure_future(asyncio.to_thread(executor.shutdown, True))
            if not (await asyncio.wait([waiter], timeout=left(WORKER_EXIT_S)))[0]:
                warn_rate_limited("stop-threads", "stop(): a sync processor's thread is still "
                                  "running; it is left behind")

    def _cancel_everything_left(self) -> None:
        """After the workers stopped: any item not resolved yet (in a batch that was running,
        requeued, or waiting for the breaker) is cancelled, so no job's future stays pending."""
        self._cancel_unfinished(running_too=True)
        for lane in self._lanes.values():
            lane.in_flight = 0
            lane.retries.clear()

    def _cancel_all(self) -> None:
        self._cancel_unfinished(running_too=False)

    def _cancel_unfinished(self, running_too: bool) -> list[Job]:
        """Cancel every unresolved item of every unfinished job (those in running batches only
        with ``running_too``); returns the jobs that were unfinished."""
        jobs = [j for j in self._store.jobs.values() if j.done is not None and not j.done.done()]
        for job in jobs:
            job.cancel_requested = True
        self._resolve_outstanding(lambda j: j.cancel_requested,
                                  lambda seg: seg.job.cancel_range(seg.start, seg.stop),
                                  running_too=running_too)
        return jobs

    def _teardown(self) -> None:
        """The loop is ending without ``stop()``: resolve every unresolved item as cancelled
        (so no future stays pending) and say so once."""
        if self._torn_down:
            return
        self._torn_down = self._closing = True
        before = {j: j.n_cancelled for j in self._store.jobs.values()}
        jobs = self._cancel_unfinished(running_too=True)
        for lane in self._lanes.values():
            if lane.watchdog is not None:
                lane.watchdog.cancel()
        self._store.close()
        if jobs:
            logger.warning("batch engine: the event loop ended without stop(); %d unresolved "
                           "items of %d jobs were cancelled",
                           sum(j.n_cancelled - before.get(j, 0) for j in jobs),
                           len(jobs))

    # --- metrics -----------------------------------------------------------------------------

    def get_metrics(self) -> dict[str, Any]:
        """Per processor: throughput (items/s over the last 10 s), queue and processing latency
        p50/p99 (ms), batch sizes and the cost model behind them, retries, breaker state,
        counts; engine-wide: queued items, jobs held and results waiting to be claimed."""
        out: dict[str, Any] = {"queued_items": self._queued, "jobs": len(self._store.jobs),
                               "unclaimed_jobs": self._store.finished_unclaimed,
                               "held_items": self._store.held, "processors": {}}
        now = int(time.monotonic()) if self._loop is None else int(self._now())
        for name, lane in self._lanes.items():
            recent = [n for second, n in lane.per_second if now - THROUGHPUT_WINDOW_S <= second < now]
            out["processors"][name] = {
                "items_per_s": sum(recent) / THROUGHPUT_WINDOW_S,
                "items_ok": lane.items_ok, "items_dead": lane.items_dead,
                "batches": lane.batches, "failed_batches": lane.failed_batches,
                "retries": lane.retried_units, "batch_size": lane.sizer.size,
                "batch_size_shrinks": lane.sizer.shrinks,
                "per_call_ms": lane.sizer.per_call_s * 1000.0,
                "per_item_us": lane.sizer.per_item_s * 1e6,
                "mean_batch_size": lane.batch_sizes.mean,
                "queued_items": lane.queue.n_items, "in_flight": lane.in_flight,
                "abandoned_batches": lane.abandoned_batches,
                "breaker": lane.breaker.state.value,
                "queue_latency_ms": _percentiles(lane.queue_ms),
                "processing_latency_ms": _percentiles(lane.process_ms),
            }
        return out

    def health(self) -> dict[str, Any]:
        """``{"status": "ok" | "degraded" | "failing", "reasons": [...]}``: failing once stopped
        (or its loop ended without stop()), degraded while a breaker is not closed or a batch
        had to be abandoned (its processor ignored cancellation)."""
        if self._torn_down:
            return {"status": "failing", "reasons": ["the event loop ended without stop()"]}
        if self._closing:
            return {"status": "failing", "reasons": ["stopped"]}
        reasons = [f"circuit breaker of {name} is {lane.breaker.state.value}"
                   for name, lane in self._lanes.items()
                   if lane.breaker.state is not BreakerState.CLOSED]
        reasons += [f"{name}: {lane.abandoned_batches} batches ignored cancellation"
                    for name, lane in self._lanes.items() if lane.abandoned_batches]
        return {"status": "degraded" if reasons else "ok", "reasons": reasons}

    def limit_batch_sizes(self, fraction: float | None) -> None:
        """Cap every processor's batch size at ``fraction`` of its maximum (memory pressure);
        None lifts the cap. New processors get the same cap."""
        if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, (int, float))):
            raise TypeError(f"fraction must be a number or None, not {type(fraction).__name__}")
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1] or None, got {fraction!r}")
        self._size_fraction = fraction
        for lane in self._lanes.values():
            lane.sizer.limit(None if fraction is None else int(lane.sizer.max_size * fraction))

    def breaker_state(self, processor_name: str) -> BreakerState:
        """The circuit breaker state of a processor (KeyError if none by that name ran)."""
        return self._lanes[processor_name].breaker.state

    def queue_latency(self, processor_name: str) -> LogHistogram:
        """The queue-latency histogram (ms) of a processor (KeyError if none by that name ran)."""
        return self._lanes[processor_name].queue_ms


def _percentiles(h: LogHistogram) -> dict[str, float | None]:
    if not h.count:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": h.quantile(0.5), "p99": h.quantile(0.99), "max": h.max}

