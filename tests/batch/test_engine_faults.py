"""Faults that used to kill workers, hang stop() or leave futures pending: a processor's own
CancelledError, a monitor that raises, the loop ending without stop(), processors that ignore
cancellation, poison items, fixed-cost processors, and CPU saturation (an injected probe)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from stubborn import ignoring_cancellation

from defiperf.batch import (
    BatchConfig,
    BatchProcessingEngine,
    BreakerConfig,
    JobStatus,
    JobTimeout,
    LoadProbe,
    Processor,
    RetryPolicy,
    stop_after_attempt,
    wait_fixed,
)


def make(probe: tuple[float, float] = (10.0, 10.0), monitor: Any = None, **kw: Any) -> BatchProcessingEngine:
    kw.setdefault("retry", RetryPolicy(stop=stop_after_attempt(2), wait=wait_fixed(0.001)))
    return BatchProcessingEngine(BatchConfig(**kw), monitor=monitor,
                                 load_probe=LoadProbe(read=lambda: probe))


async def test_a_processor_raising_cancelled_error_fails_its_batch_not_the_workers() -> None:
    async def flaky(items: list[int]) -> list[int]:
        if 13 in items:
            raise asyncio.CancelledError()  # e.g. a client library cancelling its own request
        return items

    eng = make(workers_per_processor=2)
    await eng.start()
    job = await eng.submit_job(range(400), Processor("flaky", flaky, max_batch_size=20))
    result = await asyncio.wait_for(eng.wait(job), 10)
    assert [d.index for d in result.dead_letters] == [13]
    assert result.succeeded == 399
    again = await eng.submit_job(range(5), Processor("flaky", flaky, max_batch_size=20))
    assert (await asyncio.wait_for(eng.wait(again), 10)).ok     # workers alive
    await asyncio.wait_for(eng.stop(), 10)                      # and stop() returns


class ExplodingMonitor:
    """A monitor whose every call raises (as one at its series cap did)."""

    def record_metric(self, *a: Any) -> None:
        raise OverflowError("max_series reached")

    record_timing = record_metric
    watch_queue = record_metric

    def counter(self, name: str) -> Any:
        raise OverflowError("max_series reached")


async def test_a_monitor_that_raises_never_reaches_a_worker(caplog: pytest.LogCaptureFixture) -> None:
    async def double(items: list[int]) -> list[int]:
        return [2 * x for x in items]

    eng = make(monitor=ExplodingMonitor())
    await eng.start()
    job = await eng.submit_job(range(1000), Processor("double", double))
    result = await asyncio.wait_for(eng.wait(job), 10)
    assert result.ok and result.results == [2 * x for x in range(1000)]
    await asyncio.wait_for(eng.stop(graceful=False), 10)
    lines = [r for r in caplog.records if "max_series" in r.getMessage()]
    assert 1 <= len(lines) <= 8                                  # logged, rate-limited


async def test_a_real_monitor_at_its_series_cap() -> None:
    from defiperf.monitor import MonitoringConfig, PerformanceMonitor

    monitor = PerformanceMonitor(MonitoringConfig(system_metrics=False, max_series=1),
                                 alert_handlers=[])
    monitor.record_metric("fills_the_cap", 1.0, "")

    async def double(items: list[int]) -> list[int]:
        return [2 * x for x in items]

    eng = make(monitor=monitor)
    await eng.start()
    jobs = [await eng.submit_job(range(100), Processor(f"p{i}", double)) for i in range(10)]
    for job in jobs:
        assert (await asyncio.wait_for(eng.wait(job), 10)).ok
    await asyncio.wait_for(eng.stop(graceful=False), 10)


def test_the_loop_ending_without_stop_resolves_every_future(caplog: pytest.LogCaptureFixture) -> None:
    held: dict[str, Any] = {}

    async def slow(items: list[int]) -> list[int]:
        await asyncio.sleep(0.01)
        return items

    async def main() -> None:
        eng = make(workers_per_processor=1)
        held["eng"] = eng
        held["jobs"] = [await eng.submit_job(range(100), Processor("slow", slow, max_batch_size=10))
                        for _ in range(10)]
        held["futures"] = [eng._store.jobs[j].done for j in held["jobs"]]
        await asyncio.sleep(0.05)   # a few batches ran; then main returns without stop()

    with caplog.at_level(logging.WARNING, logger="defiperf.batch"):
        asyncio.run(main())
    eng = held["eng"]
    assert all(f.done() for f in held["futures"])
    statuses = [eng.job_status(j) for j in held["jobs"]]
    assert all(s.pending == 0 for s in statuses)
    assert sum(s.cancelled for s in statuses) > 0 and statuses[-1].status is JobStatus.CANCELLED
    warnings = [r for r in caplog.records if "without stop()" in r.getMessage()]
    assert len(warnings) == 1 and "items of 10 jobs were cancelled" in warnings[0].getMessage()


async def test_a_job_deadline_holds_when_the_processor_ignores_cancellation() -> None:
    release = asyncio.Event()

    stubborn = ignoring_cancellation(release)

    eng = make(workers_per_processor=1)
    await eng.start()
    job = await eng.submit_job(range(30), Processor("stubborn", stubborn, max_batch_size=10,
                                                    timeout=None), timeout=0.3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await asyncio.wait_for(eng.wait(job), 10)
    assert loop.time() - start < 5
    assert len(result.dead_letters) == 30 and all(isinstance(d.error, JobTimeout)
                                                  for d in result.dead_letters)
    release.set()
    await asyncio.wait_for(eng.stop(), 10)


async def test_a_worker_stuck_past_its_batch_timeout_is_replaced() -> None:
    release = asyncio.Event()

    async def sometimes_stuck(items: list[int]) -> list[int]:
        if 0 in items:
            while not release.is_set():
                try:
                    await asyncio.sleep(0.02)
                except asyncio.CancelledError:
                    pass
        return items

    eng = make(workers_per_processor=1, retry=RetryPolicy(stop=stop_after_attempt(1),
                                                           wait=wait_fixed(0.001)))
    await eng.start()
    job = await eng.submit_job(range(20), Processor("stuck", sometimes_stuck, max_batch_size=1,
                                                    timeout=0.1, retryable=False))
    result = await asyncio.wait_for(eng.wait(job), 10)
    assert [d.index for d in result.dead_letters] == [0]
    assert isinstance(result.dead_letters[0].error, TimeoutError)
    assert result.results[1:] == list(range(1, 20))            # the replacement worker ran them
    assert eng.get_metrics()["processors"]["stuck"]["abandoned_batches"] == 1
    release.set()
    await asyncio.wait_for(eng.stop(), 10)


async def test_one_percent_poison_items_are_isolated_without_opening_the_breaker() -> None:
    poison = set(range(0, 2000, 100))

    async def validate(items: list[int]) -> list[int]:
        await asyncio.sleep(0.001)
        if poison.intersection(items):
            raise ValueError("poison item in the batch")
        return items

    eng = BatchProcessingEngine(BatchConfig(breaker=BreakerConfig()),  # the default breaker
                                load_probe=LoadProbe(read=lambda: (10.0, 10.0)))
    await eng.start()
    job = await eng.submit_job(range(2000), Processor("validate", validate))
    result = await asyncio.wait_for(eng.wait(job), 30)
    assert {d.index for d in result.dead_letters} == poison
    assert result.succeeded == 2000 - len(poison)
    lane = eng._lanes["validate"]
    assert lane.breaker.transitions == 0
    await eng.stop()


async def test_a_processor_that_is_down_still_opens_the_breaker() -> None:
    async def down(items: list[int]) -> list[int]:
        raise ConnectionError("node unreachable")

    eng = BatchProcessingEngine(BatchConfig(breaker=BreakerConfig(min_calls=4, window_calls=10,
                                                                  reset_timeout_s=60.0),
                                            retry=RetryPolicy(stop=stop_after_attempt(1),
                                                              wait=wait_fixed(0.001))),
                                load_probe=LoadProbe(read=lambda: (10.0, 10.0)))
    await eng.start()
    await eng.submit_job(range(2000), Processor("down", down, max_batch_size=10))
    for _ in range(200):
        if eng.breaker_state("down").value == "open":
            break
        await asyncio.sleep(0.01)
    assert eng.breaker_state("down").value == "open"
    await asyncio.wait_for(eng.stop(graceful=False), 10)


async def test_a_fixed_cost_processor_keeps_full_batches() -> None:
    async def fixed(items: list[int]) -> list[int]:
        await asyncio.sleep(0.3)     # whatever the size; over the 0.25 s target
        return items

    eng = make(latency_target_s=0.25)
    await eng.start()
    job = await eng.submit_job(range(1000), Processor("fixed", fixed, max_batch_size=100))
    result = await asyncio.wait_for(eng.wait(job), 10)
    m = eng.get_metrics()["processors"]["fixed"]
    assert result.ok and m["batches"] <= 15 and m["mean_batch_size"] >= 65
    await eng.stop()


async def test_cpu_saturation_of_this_process_lowers_concurrency_not_batch_size() -> None:
    running = 0
    peak = 0

    async def tracked(items: list[int]) -> list[int]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.002)
        running -= 1
        return items

    eng = make(probe=(10.0, 100.0), workers_per_processor=4)    # this process at 100% CPU
    await eng.start()
    job = await eng.submit_job(range(5000), Processor("tracked", tracked, max_batch_size=100))
    assert (await asyncio.wait_for(eng.wait(job), 10)).ok
    m = eng.get_metrics()["processors"]["tracked"]
    assert m["batch_size"] == 100 and m["mean_batch_size"] == 100 and peak == 2
    await eng.stop()


async def test_health_says_what_is_wrong() -> None:
    async def down(items: list[int]) -> list[int]:
        raise ConnectionError("node unreachable")

    eng = BatchProcessingEngine(BatchConfig(breaker=BreakerConfig(min_calls=2, window_calls=4,
                                                                  reset_timeout_s=60.0),
                                            retry=RetryPolicy(stop=stop_after_attempt(1),
                                                              wait=wait_fixed(0.001))),
                                load_probe=LoadProbe(read=lambda: (10.0, 10.0)))
    assert eng.health() == {"status": "ok", "reasons": []}
    await eng.start()
    await eng.submit_job(range(100), Processor("down", down, max_batch_size=10))
    for _ in range(200):
        if eng.health()["status"] == "degraded":
            break
        await asyncio.sleep(0.01)
    assert eng.health() == {"status": "degraded", "reasons": ["circuit breaker of down is open"]}
    await asyncio.wait_for(eng.stop(graceful=False), 10)
    assert eng.health() == {"status": "failing", "reasons": ["stopped"]}
