"""BatchProcessingEngine: results in order, priorities, starvation, bisecting retries, dead
letters, breaker states, backpressure, cancellation, timeouts, graceful stop, sync processors,
and the rule that nothing is ever lost."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from defiperf.batch import (
    BatchConfig,
    BatchProcessingEngine,
    BreakerConfig,
    BreakerState,
    EngineStopped,
    JobStatus,
    JobTimeout,
    LoadProbe,
    Processor,
    QueueFull,
    ResultCountMismatch,
    RetryPolicy,
    stop_after_attempt,
    wait_fixed,
)

FAST_RETRY = RetryPolicy(stop=stop_after_attempt(3), wait=wait_fixed(0.001))


def config(**kw: Any) -> BatchConfig:
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("breaker", BreakerConfig(min_calls=1000, window_calls=1000))  # tests of it set it
    kw.setdefault("seed", 1)
    return BatchConfig(**kw)


def calm_probe() -> LoadProbe:
    return LoadProbe(read=lambda: (10.0, 10.0))


def engine(**kw: Any) -> BatchProcessingEngine:
    return BatchProcessingEngine(config(**kw), load_probe=calm_probe())


async def double(items: list[int]) -> list[int]:
    return [2 * x for x in items]


def accounted(result: Any, n: int) -> None:
    """Every index 0..n-1 is in exactly one of: succeeded, dead letters, cancelled."""
    dead = [d.index for d in result.dead_letters]
    assert len(set(dead)) == len(dead) and not set(dead) & set(result.cancelled)
    assert len(result.results) == n
    assert result.succeeded + len(dead) + len(result.cancelled) == n


async def test_results_come_back_in_input_order() -> None:
    async with engine() as eng:
        p = Processor("double", double, max_batch_size=7)
        job = await eng.submit_job(range(100), p)
        result = await eng.wait(job)
    assert result.status is JobStatus.DONE and result.ok
    assert result.results == [2 * x for x in range(100)]
    assert result.dead_letters == [] and result.cancelled == []


async def test_empty_job_is_done_at_once() -> None:
    async with engine() as eng:
        job = await eng.submit_job([], Processor("double", double))
        assert (await eng.wait(job)).status is JobStatus.DONE


async def test_sync_processors_run_in_threads_without_blocking_the_loop() -> None:
    threads: set[str] = set()

    def slow_upper(items: list[str]) -> list[str]:
        threads.add(threading.current_thread().name)
        time.sleep(0.05)
        return [s.upper() for s in items]

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    async with engine(workers_per_processor=2) as eng:
        t = asyncio.create_task(ticker())
        job = await eng.submit_job(["a", "b", "c", "d"], Processor("upper", slow_upper, 2))
        result = await eng.wait(job)
        t.cancel()
    assert result.results == ["A", "B", "C", "D"]
    assert all(name.startswith("defiperf-batch") for name in threads)
    assert ticks >= 5  # the loop kept running while the threads slept


async def test_bisecting_retry_isolates_poison_items() -> None:
    calls: list[int] = []

    async def picky(items: list[int]) -> list[int]:
        calls.append(len(items))
        if any(x % 37 == 0 for x in items):
            raise ValueError("poison")
        return items

    async with engine(workers_per_processor=1, breaker=BreakerConfig()) as eng:  # the default
        job = await eng.submit_job(range(1, 201), Processor("picky", picky, max_batch_size=50))
        result = await eng.wait(job)
    poison = [x for x in range(1, 201) if x % 37 == 0]
    assert result.status is JobStatus.FAILED
    assert [d.item for d in result.dead_letters] == poison
    # each failed batch that held the item is an attempt: bisection already tried it 5-6 times
    assert all(d.attempts >= 3 and isinstance(d.error, ValueError) for d in result.dead_letters)
    good = [i for i, x in enumerate(range(1, 201)) if x % 37]
    assert [result.results[i] for i in good] == [x for x in range(1, 201) if x % 37]
    accounted(result, 200)
    assert max(calls) == 50 and calls.count(1) >= len(poison)
    assert eng.breaker_state("picky") is BreakerState.CLOSED  # poison items do not open it


async def test_transient_failures_are_retried_to_success() -> None:
    failures = {"left": 3}

    async def flaky(items: list[int]) -> list[int]:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ConnectionError("blip")
        return items

    async with engine() as eng:
        job = await eng.submit_job(range(8), Processor("flaky", flaky, max_batch_size=8))
        result = await eng.wait(job)
    assert result.ok and result.results == list(range(8))
    assert eng.get_metrics()["processors"]["flaky"]["retries"] >= 2


async def test_not_retryable_processor_dead_letters_the_batch_at_once() -> None:
    calls = 0

    async def charge(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        raise RuntimeError("card declined")

    async with engine() as eng:
        job = await eng.submit_job(range(4), Processor("charge", charge, 4, retryable=False))
        result = await eng.wait(job)
    assert calls == 1 and [d.index for d in result.dead_letters] == [0, 1, 2, 3]
    assert all(d.attempts == 1 for d in result.dead_letters)


@pytest.mark.parametrize("bad_return", [lambda items: items[:-1], lambda items: None,
                                        lambda items: {"a": 1}])
async def test_a_wrong_result_count_or_type_fails_the_batch(bad_return: Any) -> None:
    async def broken(items: list[int]) -> Any:
        return bad_return(items)

    async with engine() as eng:
        job = await eng.submit_job(range(3), Processor("broken", broken, 3))
        result = await eng.wait(job)
    assert len(result.dead_letters) == 3
    assert all(isinstance(d.error, (ResultCountMismatch, TypeError)) for d in result.dead_letters)


async def test_a_slow_batch_times_out() -> None:
    async def stuck(items: list[int]) -> list[int]:
        await asyncio.sleep(10)
        return items

    async with engine() as eng:
        start = time.monotonic()
        job = await eng.submit_job([1], Processor("stuck", stuck, 1, timeout=0.05))
        result = await eng.wait(job, timeout=30)
    assert isinstance(result.dead_letters[0].error, TimeoutError)
    assert time.monotonic() - start < 5  # 3 attempts of ~0.05 s


async def test_breaker_opens_batches_wait_then_a_probe_closes_it() -> None:
    healthy = asyncio.Event()

    async def upstream(items: list[int]) -> list[int]:
        if not healthy.is_set():
            raise ConnectionError("down")
        return items

    cfg = dict(workers_per_processor=1,
               retry=RetryPolicy(stop=stop_after_attempt(1000), wait=wait_fixed(0.001)),
               breaker=BreakerConfig(failure_rate_threshold=0.5, min_calls=4, window_calls=4,
                                     reset_timeout_s=0.05))
    async with engine(**cfg) as eng:
        p = Processor("upstream", upstream, max_batch_size=4)
        job = await eng.submit_job(range(16), p)
        for _ in range(400):
            if eng.breaker_state("upstream") is BreakerState.OPEN:
                break
            await asyncio.sleep(0.005)
        assert eng.breaker_state("upstream") is BreakerState.OPEN
        assert eng.job_status(job).status in (JobStatus.RUNNING, JobStatus.QUEUED)
        await asyncio.sleep(0.2)                      # while open: waiting, not failing
        assert eng.job_status(job).failed == 0
        healthy.set()
        result = await eng.wait(job, timeout=30)
    assert result.ok and result.results == list(range(16))
    assert eng.breaker_state("upstream") is BreakerState.CLOSED


async def test_a_job_times_out_while_the_breaker_is_open() -> None:
    async def down(items: list[int]) -> list[int]:
        raise ConnectionError("down")

    cfg = dict(retry=RetryPolicy(stop=stop_after_attempt(1000), wait=wait_fixed(0.001)),
               breaker=BreakerConfig(min_calls=1, window_calls=1, reset_timeout_s=60))
    async with engine(**cfg) as eng:
        job = await eng.submit_job(range(10), Processor("down", down, 5), timeout=0.3)
        result = await eng.wait(job, timeout=30)
    assert result.status is JobStatus.FAILED
    assert len(result.dead_letters) == 10
    assert all(isinstance(d.error, (JobTimeout, ConnectionError)) for d in result.dead_letters)
    assert any(isinstance(d.error, JobTimeout) for d in result.dead_letters)


async def test_priorities_higher_first_fifo_within() -> None:
    order: list[str] = []
    gate = asyncio.Event()

    async def record(items: list[str]) -> list[str]:
        await gate.wait()
        order.extend(items)
        return items

    async with engine(workers_per_processor=1, aging_interval_s=1000) as eng:
        p = Processor("record", record, max_batch_size=1)
        first = await eng.submit_job(["blocker"], p)
        await asyncio.sleep(0.01)                     # the blocker is in flight
        jobs = [await eng.submit_job([name], p, priority=prio) for name, prio in
                [("low-1", 1), ("high-1", 9), ("mid", 5), ("high-2", 9), ("low-2", 1)]]
        gate.set()
        for job in [first, *jobs]:
            await eng.wait(job)
    assert order == ["blocker", "high-1", "high-2", "mid", "low-1", "low-2"]


async def test_no_starvation_under_sustained_high_priority_load() -> None:
    """Aging bounds the wait: a priority-0 item waits at most for the priority-10 work
    submitted within 10 x aging_interval_s after it, however long the high load lasts."""
    order: list[str] = []
    submitted: dict[str, float] = {}

    async def work(items: list[str]) -> list[str]:
        await asyncio.sleep(0.002)
        order.extend(items)
        return items

    async with engine(workers_per_processor=1, aging_interval_s=0.02) as eng:
        p = Processor("work", work, max_batch_size=1)
        start = time.monotonic()
        await eng.submit_job(["low"], p, priority=0)
        i = 0
        while "low" not in order and time.monotonic() - start < 20:  # outpace the worker
            submitted[f"h{i}"] = time.monotonic() - start
            await eng.submit_job([f"h{i}"], p, priority=10)
            i += 1
            await asyncio.sleep(0.0005)
        for _ in range(50):
            submitted[f"h{i}"] = time.monotonic() - start
            await eng.submit_job([f"h{i}"], p, priority=10)
            i += 1
        await eng.drain()
    assert "low" in order
    served_before = order[:order.index("low")]
    assert served_before, "the high load should have gone first for a while"
    # everything served before "low" was submitted within 10 x 0.02 s (+ scheduling slack)
    assert max(submitted[h] for h in served_before) < 0.2 + 0.1
    assert len(order) == i + 1


async def test_backpressure_blocks_or_raises_queue_full() -> None:
    gate = asyncio.Event()

    async def gated(items: list[int]) -> list[int]:
        await gate.wait()
        return items

    async with engine(max_queued_items=10, workers_per_processor=1) as eng:
        p = Processor("gated", gated, max_batch_size=5)
        await eng.submit_job(range(5), p)             # taken by the worker
        await asyncio.sleep(0.01)
        await eng.submit_job(range(10), p)            # fills the bound
        with pytest.raises(QueueFull):
            await eng.submit_job([1], p, block=False)
        assert eng.get_metrics()["queued_items"] == 10
        blocked = asyncio.create_task(eng.submit_job(range(25), p))  # bigger than the bound
        await asyncio.sleep(0.05)
        assert not blocked.done()
        gate.set()
        job = await asyncio.wait_for(blocked, 10)     # admitted in chunks as room frees
        result = await eng.wait(job)
        assert result.results == list(range(25))
        assert eng.get_metrics()["queued_items"] == 0


async def test_cancel_resolves_queued_items_and_keeps_running_ones() -> None:
    gate = asyncio.Event()

    async def gated(items: list[int]) -> list[int]:
        await gate.wait()
        return items

    async with engine(workers_per_processor=1) as eng:
        job = await eng.submit_job(range(20), Processor("gated", gated, max_batch_size=5))
        await asyncio.sleep(0.01)
        assert eng.job_status(job).status is JobStatus.RUNNING
        assert eng.cancel(job) == 15
        gate.set()
        await eng.drain()
        assert eng.cancel(job) == 0                   # finished: nothing left to cancel
        result = await eng.wait(job)
    assert result.status is JobStatus.CANCELLED
    assert result.results[:5] == [0, 1, 2, 3, 4] and result.cancelled == list(range(5, 20))
    accounted(result, 20)


async def test_graceful_stop_finishes_everything_and_then_refuses_jobs() -> None:
    async def slow(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return items

    eng = engine(workers_per_processor=2)
    await eng.start()
    p = Processor("slow", slow, max_batch_size=10)
    jobs = [await eng.submit_job(range(50), p) for _ in range(3)]
    await eng.stop(graceful=True)
    for job in jobs:
        assert (await eng.wait(job)).ok
    with pytest.raises(EngineStopped):
        await eng.submit_job([1], p)
    assert all(t.get_name().startswith("defiperf-batch") is False for t in asyncio.all_tasks()
               if t is not asyncio.current_task())


async def test_hard_stop_cancels_queued_items_but_finishes_running_batches() -> None:
    async def slow(items: list[int]) -> list[int]:
        await asyncio.sleep(0.05)
        return items

    eng = engine(workers_per_processor=1)
    job = await eng.submit_job(range(100), Processor("slow", slow, max_batch_size=10))
    await asyncio.sleep(0.01)
    await eng.stop(graceful=False)
    result = await eng.wait(job)
    assert result.status is JobStatus.CANCELLED
    assert result.results[:10] == list(range(10)) and result.cancelled == list(range(10, 100))


async def test_job_status_progress_and_unknown_jobs() -> None:
    async with engine() as eng:
        job = await eng.submit_job(range(10), Processor("double", double, 3))
        await eng.drain()
        progress = eng.job_status(job)
        assert (progress.status, progress.total, progress.succeeded, progress.pending) == (
            JobStatus.DONE, 10, 10, 0)
        assert (await eng.wait(job)).ok
        with pytest.raises(KeyError, match="already claimed"):
            eng.job_status(job)                       # claimed by wait(): forgotten
        with pytest.raises(KeyError):
            eng.job_status("nope")
        with pytest.raises(TimeoutError):
            gate = asyncio.Event()

            async def never(items: list[int]) -> list[int]:
                await gate.wait()
                return items

            slow = await eng.submit_job([1], Processor("never", never, timeout=None))
            await eng.wait(slow, timeout=0.01)
        gate.set()


async def test_dynamic_sizing_shrinks_slow_batches_and_reports_it() -> None:
    async def slow(items: list[int]) -> list[int]:
        await asyncio.sleep(0.002 * len(items))     # 2 ms an item: 40 ms target -> ~20 items
        return items

    async with engine(latency_target_s=0.04, workers_per_processor=1) as eng:
        job = await eng.submit_job(range(1500), Processor("slow", slow, max_batch_size=100))
        assert (await eng.wait(job)).ok
        m = eng.get_metrics()["processors"]["slow"]
    assert 3 <= m["batch_size"] <= 40 and m["batch_size_shrinks"] >= 1
    assert m["mean_batch_size"] < 50
    assert m["per_item_us"] == pytest.approx(2000, rel=0.5)
    assert m["processing_latency_ms"]["p99"] > 0 and m["queue_latency_ms"]["p50"] is not None


async def test_metrics_report_throughput_and_breaker() -> None:
    async with engine() as eng:
        job = await eng.submit_job(range(1000), Processor("double", double))
        await eng.wait(job)
        await asyncio.sleep(1.05)  # the throughput window counts whole seconds
        m = eng.get_metrics()["processors"]["double"]
    assert m["items_ok"] == 1000 and m["items_per_s"] == pytest.approx(100.0)
    assert m["breaker"] == "closed" and m["batches"] == 10


@pytest.mark.parametrize(
    ("call", "error"),
    [(lambda e, p: e.submit_job([1], "double"), TypeError),
     (lambda e, p: e.submit_job([1], p, priority=11), ValueError),
     (lambda e, p: e.submit_job([1], p, priority=True), TypeError),
     (lambda e, p: e.submit_job("abc", p), TypeError),
     (lambda e, p: e.submit_job([1], p, timeout=-1), ValueError),
     (lambda e, p: e.submit_job([1], Processor("double", lambda x: x)), ValueError)],
)
async def test_bad_submissions(call: Any, error: type[Exception]) -> None:
    async with engine() as eng:
        p = Processor("double", double)
        await eng.submit_job([1], p)
        with pytest.raises(error):
            await call(eng, p)


@pytest.mark.parametrize("kw", [{"name": ""}, {"process": 3}, {"max_batch_size": 0},
                                {"timeout": 0}, {"max_batch_size": 2.5}])
def test_bad_processors(kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"name": "p", "process": double, **kw}
    with pytest.raises((TypeError, ValueError)):
        Processor(**args)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=120), st.integers(1, 16),
       st.integers(2, 9), st.booleans())
def test_nothing_is_ever_lost(items: list[int], batch: int, modulus: int, cancel: bool) -> None:
    async def run() -> Any:
        async def sometimes(xs: list[int]) -> list[int]:
            await asyncio.sleep(0)
            if any(x % modulus == 0 for x in xs):
                raise ValueError("bad item")
            return [x + 1 for x in xs]

        async with engine(workers_per_processor=3, max_queued_items=50) as eng:
            job = await eng.submit_job(items, Processor("s", sometimes, max_batch_size=batch))
            if cancel:
                eng.cancel(job)
            return await eng.wait(job, timeout=60)

    result = asyncio.run(run())
    accounted(result, len(items))
    for i, x in enumerate(items):
        dead = {d.index for d in result.dead_letters}
        if i not in dead and i not in result.cancelled:
            assert result.results[i] == x + 1
    if not cancel:
        assert {items[d.index] % modulus for d in result.dead_letters} <= {0}
        assert len(result.dead_letters) == sum(x % modulus == 0 for x in items)


async def test_reports_into_an_attached_monitor() -> None:
    from defiperf.monitor import MonitoringConfig, PerformanceMonitor

    monitor = PerformanceMonitor(MonitoringConfig(system_metrics=False), alert_handlers=[])
    eng = BatchProcessingEngine(config(), monitor=monitor, load_probe=calm_probe())
    async with eng:
        job = await eng.submit_job(range(250), Processor("double", double, max_batch_size=100))
        assert (await eng.wait(job)).ok
    timing = monitor.get_series("timer:batch.double").stats("total")
    assert timing["count"] == 3 and timing["bad"] == 0
    monitor.tick()
    assert monitor.queue_depths()["batch.double"][-1][1] == 0
