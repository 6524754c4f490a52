"""BatchProcessingEngine: jobs -> aging priority queue -> sized batches -> processor, with
bisecting retries, a circuit breaker per processor, backpressure, and per-item accounting.

Nothing is dropped silently: every submitted item ends as a result, a dead letter (with its
last error) or cancelled, and the job's future resolves once all of its items have.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from defiperf._validate import check_int, check_number
from defiperf.batch.breaker import BreakerState, CircuitBreaker
from defiperf.batch.config import DEFAULT_BATCH_CONFIG, BatchConfig
from defiperf.batch.jobs import (
    EngineStopped,
    Job,
    JobProgress,
    JobResult,
    JobTimeout,
    Processor,
    QueueFull,
    ResultCountMismatch,
)
from defiperf.batch.queue import AgingQueue, Segment
from defiperf.batch.retry import RetryState
from defiperf.batch.sizing import BatchSizer, LoadProbe
from defiperf.structures.metrics import LogHistogram

# Batch timeouts: on 3.11+ a per-lane watchdog cancels an overdue worker and uncancels it
# (one timer per lane, none per batch: asyncio.timeout/wait_for cost ~10 us a batch); on 3.10
# wait_for.
_WATCHDOG = hasattr(asyncio.Task, "uncancel")

MAX_PRIORITY = 10
THROUGHPUT_WINDOW_S = 10


@dataclass
class _Unit:
    """One batch: segments (possibly of several jobs), and its retry history."""

    segments: list[Segment]
    attempts: int = 0              # failures as a single item
    depth: int = 0                 # bisections so far
    first_failure: float | None = None

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

    def halves(self) -> tuple[list[Segment], list[Segment]]:
        half, left, right, seen = self.n_items // 2, [], [], 0
        for s in self.segments:
            n = s.stop - s.start
            if seen + n <= half:
                left.append(s)
            elif seen >= half:
                right.append(s)
            else:
                cut = s.start + half - seen
                left.append(Segment(s.job, s.start, cut, s.enqueued_at))
                right.append(Segment(s.job, cut, s.stop, s.enqueued_at))
            seen += n
        return left, right


@dataclass
class _Lane:
    """Everything per processor: queue, retries, sizing, breaker, workers, metrics."""

    processor: Processor
    queue: AgingQueue
    sizer: BatchSizer
    breaker: CircuitBreaker
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    retries: deque[_Unit] = field(default_factory=deque)
    pending_retries: int = 0
    in_flight: int = 0
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    deadlines: dict[asyncio.Task[Any], float] = field(default_factory=dict)
    overdue: set[asyncio.Task[Any]] = field(default_factory=set)
    watchdog: asyncio.TimerHandle | None = None
    queue_ms: LogHistogram = field(default_factory=LogHistogram)
    process_ms: LogHistogram = field(default_factory=LogHistogram)
    batch_sizes: LogHistogram = field(default_factory=LogHistogram)
    items_ok: int = 0
    items_dead: int = 0
    batches: int = 0
    failed_batches: int = 0
    retried_units: int = 0
    per_second: deque[list[float]] = field(default_factory=lambda: deque(maxlen=THROUGHPUT_WINDOW_S + 1))

    def busy(self) -> bool:
        return bool(self.queue.n_items or self.retries or self.pending_retries or self.in_flight)


class BatchProcessingEngine:
    """BatchProcessingEngine(config=DEFAULT_BATCH_CONFIG, *, monitor=None, load_probe=None)

    >>> import asyncio
    >>> async def double(items): return [2 * x for x in items]
    >>> async def main():
    ...     async with BatchProcessingEngine() as engine:
    ...         job = await engine.submit_job(range(5), Processor("double", double))
    ...         return (await engine.wait(job)).results
    >>> asyncio.run(main())
    [0, 2, 4, 6, 8]

    Priorities are 0..10 (higher first, FIFO within one; aging lifts a waiting job one level
    per ``config.aging_interval_s``). A failed batch is bisected and both halves retried after a
    backoff, so good items still succeed; a single item is retried until ``config.retry`` stops
    it, then dead-lettered. One asyncio loop at a time: use the engine from the loop it was
    started on (it is not thread-safe; sync processors run in its thread pool).
    """

    def __init__(self, config: BatchConfig | None = None, *, monitor: Any = None,
                 load_probe: LoadProbe | None = None) -> None:
        config = DEFAULT_BATCH_CONFIG if config is None else config
        if not isinstance(config, BatchConfig):
            raise TypeError(f"config must be a BatchConfig, not {type(config).__name__}")
        self.config = config
        self.monitor = monitor
        self._probe = load_probe or LoadProbe(config.memory_pressure_pct,
                                              config.cpu_saturation_pct,
                                              config.load_sample_interval_s)
        self._rng = random.Random(config.seed)
        self._lanes: dict[str, _Lane] = {}
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._finished: deque[str] = deque()
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

    async def __aenter__(self) -> BatchProcessingEngine:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop(graceful=exc_type is None)

    def _now(self) -> float:
        return self._time()

    def _lane(self, processor: Processor) -> _Lane:
        lane = self._lanes.get(processor.name)
        if lane is not None:
            if lane.processor != processor:
                raise ValueError(f"a different processor named {processor.name!r} is registered")
            return lane
        cfg = self.config
        lane = _Lane(
            processor, AgingQueue(MAX_PRIORITY, cfg.aging_interval_s),
            BatchSizer(processor.max_batch_size, cfg.latency_target_s, self._probe),
            CircuitBreaker(cfg.breaker.failure_rate_threshold, cfg.breaker.min_calls,
                           cfg.breaker.window_calls, cfg.breaker.reset_timeout_s, timer=self._now),
        )
        self._lanes[processor.name] = lane
        if self._size_fraction is not None:
            lane.sizer.limit(int(lane.sizer.max_size * self._size_fraction))
        assert self._loop is not None
        lane.workers = [self._loop.create_task(self._worker(lane), name=f"defiperf-batch-{processor.name}-{i}")
                        for i in range(cfg.workers_per_processor)]
        if self.monitor is not None:
            self.monitor.watch_queue(f"batch.{processor.name}", lambda: lane.queue.n_items)
        if _WATCHDOG and processor.timeout is not None:
            self._watch(lane, min(processor.timeout / 10, 0.05))
        return lane

    def _watch(self, lane: _Lane, period_s: float) -> None:
        """Every period, cancel the workers whose batch is past its deadline (so a timeout
        fires within ``period_s`` of it: a tenth of the timeout, at most 50 ms)."""
        assert self._loop is not None
        now = self._now()
        for task, deadline in lane.deadlines.items():
            if now >= deadline and task not in lane.overdue:
                lane.overdue.add(task)
                task.cancel()
        lane.watchdog = self._loop.call_later(period_s, self._watch, lane, period_s)

    # --- jobs --------------------------------------------------------------------------------

    async def submit_job(self, items: Iterable[Any], processor: Processor, priority: int = 5, *,
                         block: bool = True, timeout: float | None = None) -> str:
        """Queue ``items`` for ``processor``; returns the job id once every item is queued.

        When the queue bound (``config.max_queued_items``) is hit this waits for room, admitting
        a large job in chunks as room frees up; with ``block=False`` it raises QueueFull and
        queues nothing. ``timeout`` (default ``config.job_timeout_s``): seconds after which
        the items not yet processed become dead letters (JobTimeout).
        """
        if not isinstance(processor, Processor):
            raise TypeError(f"processor must be a Processor, not {type(processor).__name__}")
        check_int("priority", priority, minimum=0, maximum=MAX_PRIORITY)
        timeout = self.config.job_timeout_s if timeout is None else timeout
        check_number("timeout", timeout, allow_none=True)
        if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
            raise TypeError("items must be an iterable of items (not a str/bytes)")
        if self._closing:
            raise EngineStopped("the engine is stopping; no new jobs")
        await self.start()
        items = items if isinstance(items, (list, tuple)) else list(items)
        n = len(items)
        if not block and n > self.config.max_queued_items - self._queued:
            raise QueueFull(f"{n} items do not fit: {self._queued} of "
                            f"{self.config.max_queued_items} queued")
        lane = self._lane(processor)
        assert self._loop is not None
        job = Job(uuid.uuid4().hex, processor, items, priority, self._now(),
                  results=[None] * n, done=self._loop.create_future())
        self._jobs[job.job_id] = job
        self._idle.clear()
        if timeout is not None:
            job.deadline_handle = self._loop.call_later(timeout, self._expire, job)
        pos = 0
        while pos < n:
            free = self.config.max_queued_items - self._queued
            if free <= 0:
                await self._wait_for_space()
                continue
            take = min(free, n - pos)
            lane.queue.put(Segment(job, pos, pos + take, self._now()), priority)
            self._queued += take
            pos += take
            lane.wake.set()
        self._finish_if_resolved(job)
        return job.job_id

    async def _wait_for_space(self) -> None:
        self._space_waiters += 1
        try:
            self._space.clear()
            await self._space.wait()
        finally:
            self._space_waiters -= 1

    def _job(self, job_id: str) -> Job:
        try:
            return self._jobs[job_id]
        except (KeyError, TypeError):
            raise KeyError(f"no job {job_id!r} (unknown, or finished and forgotten)") from None

    async def wait(self, job_id: str, timeout: float | None = None) -> JobResult:
        """The job's result once every item is resolved; TimeoutError after ``timeout`` s
        (the job goes on). Once it has returned a result the engine forgets the job (so a
        later ``job_status``/``wait`` is a KeyError); unclaimed finished jobs are kept up to
        ``config.keep_finished_jobs``."""
        job = self._job(job_id)
        assert job.done is not None
        if not job.done.done():
            await asyncio.wait_for(asyncio.shield(job.done), timeout)
        self._jobs.pop(job_id, None)
        return job.done.result()

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
        self._purge(job, lambda seg: job.cancel_range(seg.start, seg.stop))
        self._finish_if_resolved(job)
        if self._draining:
            self._maybe_idle()
        return job.n_cancelled - before

    def _expire(self, job: Job) -> None:
        job.timed_out = True
        error = JobTimeout(f"job {job.job_id} passed its deadline")
        self._purge(job, lambda seg: job.fail(seg.start, seg.stop, error, 0))
        self._finish_if_resolved(job)
        if self._draining:
            self._maybe_idle()

    def _purge(self, job: Job, resolve: Callable[[Segment], None]) -> None:
        """Resolve every queued and retry-waiting segment of ``job`` with ``resolve``."""
        lane = self._lanes[job.processor.name]
        for seg in lane.queue.remove_if(lambda j: j is job):
            self._queued -= len(seg)
            resolve(seg)
        self._signal_space()
        kept: deque[_Unit] = deque()
        for unit in lane.retries:
            unit.segments = self._live(unit.segments)
            if unit.segments:
                kept.append(unit)
        lane.retries = kept

    def _live(self, segments: list[Segment]) -> list[Segment]:
        """Drop (and resolve) the segments of cancelled or expired jobs."""
        live = []
        for seg in segments:
            job = seg.job
            if job.cancel_requested:
                job.cancel_range(seg.start, seg.stop)
            elif job.timed_out:
                job.fail(seg.start, seg.stop, JobTimeout(f"job {job.job_id} passed its deadline"), 0)
            else:
                live.append(seg)
                continue
            self._finish_if_resolved(job)
        return live

    def _finish_if_resolved(self, job: Job) -> None:
        if job.finish_if_resolved():
            self._finished.append(job.job_id)
            while len(self._finished) > self.config.keep_finished_jobs:
                self._jobs.pop(self._finished.popleft(), None)

    def _signal_space(self) -> None:
        if self._space_waiters and self._queued < self.config.max_queued_items:
            self._space.set()

    # --- workers -----------------------------------------------------------------------------

    def _next_unit(self, lane: _Lane) -> _Unit | None:
        while lane.retries:
            unit = lane.retries.popleft()
            unit.segments = self._live(unit.segments)
            if unit.segments:
                return unit
        while lane.queue.n_items:
            segments = lane.queue.take(lane.sizer.size, self._now())
            self._queued -= sum(s.stop - s.start for s in segments)
            self._signal_space()
            segments = self._live(segments)
            if segments:
                return _Unit(segments)
        return None

    async def _worker(self, lane: _Lane) -> None:
        while True:
            unit = self._next_unit(lane)
            if unit is None:
                if self._draining:
                    self._maybe_idle()
                lane.wake.clear()
                await lane.wake.wait()
                continue
            unit.segments = await self._wait_for_breaker(lane, unit.segments)
            if unit.segments:
                await self._run(lane, unit)

    async def _wait_for_breaker(self, lane: _Lane, segments: list[Segment]) -> list[Segment]:
        """While the breaker is open the batch waits (it is not failed); its cancelled or
        expired items are resolved meanwhile."""
        while segments and not lane.breaker.allow():
            await asyncio.sleep(min(max(lane.breaker.seconds_until_probe(), 0.005), 0.05))
            segments = self._live(segments)
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

    async def _run(self, lane: _Lane, unit: _Unit) -> None:
        items = unit.items()
        now = self._now()
        for seg in unit.segments:
            seg.job.started = True
        if unit.depth == 0 and unit.attempts == 0:
            waited_ms = (now - unit.segments[0].enqueued_at) * 1000.0
            lane.queue_ms.record(waited_ms)
            if self.monitor is not None:
                self.monitor.record_metric(f"batch.{lane.processor.name}.queue_latency_ms",
                                           waited_ms, "ms")
        lane.in_flight += 1
        error: BaseException | None = None
        task = asyncio.current_task() if _WATCHDOG and lane.processor.timeout else None
        try:
            if task is not None:
                lane.deadlines[task] = now + lane.processor.timeout  # type: ignore[operator]
            try:
                out = await self._call(lane.processor, items)
            finally:
                if task is not None:
                    del lane.deadlines[task]
                    if task in lane.overdue:  # the watchdog fired: this batch timed out
                        lane.overdue.discard(task)
                        task.uncancel()  # type: ignore[attr-defined]  # 3.11+
                        raise TimeoutError(f"batch of {lane.processor.name!r} took more than "
                                           f"{lane.processor.timeout} s")
            if not isinstance(out, (list, tuple)):
                raise TypeError(f"processor {lane.processor.name!r} returned "
                                f"{type(out).__name__}, not a list")
            if len(out) != len(items):
                raise ResultCountMismatch(f"processor {lane.processor.name!r} returned "
                                          f"{len(out)} results for {len(items)} items")
        except asyncio.CancelledError:
            lane.in_flight -= 1
            self._requeue_front(lane, unit)
            raise
        except Exception as exc:  # a processor error fails this batch only
            error = exc
        lane.in_flight -= 1
        end = self._time()
        elapsed = end - now
        ok = error is None
        # Retried sub-batches failing again do not count against the breaker (a few poison
        # items must not open it); fresh batches, successes and half-open probes do.
        if ok or (unit.depth == 0 and unit.attempts == 0) or lane.breaker.state is not BreakerState.CLOSED:
            lane.breaker.record(ok)
        lane.sizer.observe(elapsed, not isinstance(error, TimeoutError))  # slow, not poison
        lane.process_ms.record(elapsed * 1000.0)
        lane.batch_sizes.record(len(items))
        lane.batches += 1
        if self.monitor is not None:
            self.monitor.record_timing(f"batch.{lane.processor.name}", elapsed * 1000.0, ok)
        if error is None:
            self._succeed(lane, unit, out, int(end))
        else:
            lane.failed_batches += 1
            self._failed(lane, unit, error)
        if self._draining:
            self._maybe_idle()

    def _succeed(self, lane: _Lane, unit: _Unit, out: Sequence[Any], second: int) -> None:
        offset = 0
        for seg in unit.segments:
            seg.job.succeed(seg.start, seg.stop, out, offset)
            offset += seg.stop - seg.start
            self._finish_if_resolved(seg.job)
        lane.items_ok += offset
        if self.monitor is not None:
            self.monitor.counter(f"batch.{lane.processor.name}.items_ok").inc(offset)
        if lane.per_second and lane.per_second[-1][0] == second:
            lane.per_second[-1][1] += offset
        else:
            lane.per_second.append([second, offset])

    def _failed(self, lane: _Lane, unit: _Unit, error: BaseException) -> None:
        now = self._now()
        first = unit.first_failure if unit.first_failure is not None else now
        policy = self.config.retry
        if not lane.processor.retryable:
            self._dead(lane, unit.segments, error, unit.attempts + 1)
        elif unit.n_items > 1:  # bisect: isolate the failing items, let the good ones succeed
            for half in unit.halves():
                self._schedule(lane, _Unit(half, 0, unit.depth + 1, first),
                               policy.delay_s(RetryState(unit.depth + 1, now - first), self._rng))
        else:
            state = RetryState(unit.attempts + 1, now - first)
            if policy.should_stop(state):
                self._dead(lane, unit.segments, error, state.attempt)
            else:
                self._schedule(lane, _Unit(unit.segments, state.attempt, unit.depth, first),
                               policy.delay_s(state, self._rng))

    def _dead(self, lane: _Lane, segments: list[Segment], error: BaseException, attempts: int) -> None:
        for seg in segments:
            seg.job.fail(seg.start, seg.stop, error, attempts)
            lane.items_dead += seg.stop - seg.start
            self._finish_if_resolved(seg.job)

    def _schedule(self, lane: _Lane, unit: _Unit, delay_s: float) -> None:
        assert self._loop is not None
        lane.pending_retries += 1
        lane.retried_units += 1

        def ready() -> None:
            lane.pending_retries -= 1
            lane.retries.append(unit)
            lane.wake.set()

        self._loop.call_later(delay_s, ready)

    def _requeue_front(self, lane: _Lane, unit: _Unit) -> None:
        lane.retries.appendleft(unit)
        lane.wake.set()

    # --- drain and stop ----------------------------------------------------------------------

    def _busy(self) -> bool:
        return any(lane.busy() for lane in self._lanes.values())

    def _maybe_idle(self) -> None:
        if not self._busy():
            self._idle.set()

    async def drain(self) -> None:
        """Wait until every queued item is resolved and nothing is running or waiting to retry."""
        self._draining += 1
        try:
            while self._busy():
                self._idle.clear()
                await self._idle.wait()
        finally:
            self._draining -= 1

    async def stop(self, graceful: bool = True) -> None:
        """Stop taking jobs; graceful: finish everything queued; otherwise cancel what is
        queued or waiting to retry. Running batches always finish. Then stop the workers."""
        self._closing = True
        if not graceful:
            for job in list(self._jobs.values()):
                if job.done is not None and not job.done.done():
                    self.cancel(job.job_id)
        await self.drain()
        tasks = [t for lane in self._lanes.values() for t in lane.workers]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for lane in self._lanes.values():
            lane.workers = []
            if lane.watchdog is not None:
                lane.watchdog.cancel()
        if self._executor is not None:
            await asyncio.to_thread(self._executor.shutdown, True)
            self._executor = None

    # --- metrics -----------------------------------------------------------------------------

    def get_metrics(self) -> dict[str, Any]:
        """Per processor: throughput (items/s over the last 10 s), queue and processing latency
        p50/p99 (ms), batch sizes, current batch size, retries, breaker state, counts."""
        out: dict[str, Any] = {"queued_items": self._queued, "jobs": len(self._jobs),
                               "processors": {}}
        now = int(time.monotonic()) if self._loop is None else int(self._now())
        for name, lane in self._lanes.items():
            recent = [n for second, n in lane.per_second if now - THROUGHPUT_WINDOW_S <= second < now]
            out["processors"][name] = {
                "items_per_s": sum(recent) / THROUGHPUT_WINDOW_S,
                "items_ok": lane.items_ok, "items_dead": lane.items_dead,
                "batches": lane.batches, "failed_batches": lane.failed_batches,
                "retries": lane.retried_units, "batch_size": lane.sizer.size,
                "batch_size_shrinks": lane.sizer.shrinks,
                "mean_batch_size": lane.batch_sizes.mean,
                "queued_items": lane.queue.n_items, "in_flight": lane.in_flight,
                "breaker": lane.breaker.state.value,
                "queue_latency_ms": _percentiles(lane.queue_ms),
                "processing_latency_ms": _percentiles(lane.process_ms),
            }
        return out

    def limit_batch_sizes(self, fraction: float | None) -> None:
        """Cap every processor's batch size at ``fraction`` of its maximum (memory pressure);
        None lifts the cap. New processors get the same cap."""
        if fraction is not None and not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1] or None, got {fraction!r}")
        self._size_fraction = fraction
        for lane in self._lanes.values():
            lane.sizer.limit(None if fraction is None else int(lane.sizer.max_size * fraction))

    def breaker_state(self, processor_name: str) -> BreakerState:
        return self._lanes[processor_name].breaker.state


def _percentiles(h: LogHistogram) -> dict[str, float | None]:
    if not h.count:
        return {"p50": None, "p99": None, "max": None}
    return {"p50": h.quantile(0.5), "p99": h.quantile(0.99), "max": h.max}
