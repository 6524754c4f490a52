"""Regressions from an adversarial review: a submit cancelled while waiting for room, stop()
with a timeout or with a processor that swallows cancellation, batches waiting for an open
breaker, heavy poison, coroutine callbacks at shutdown, many jobs expiring or cancelled at
once, dead-letter hooks during chunked admission, a failing load probe, bad arguments."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from stubborn import ignoring_cancellation

from defiperf.batch import (
    BatchConfig,
    BatchProcessingEngine,
    BreakerConfig,
    JobResult,
    JobTimeout,
    LoadProbe,
    Processor,
    RetryPolicy,
    stop_after_attempt,
    wait_fixed,
)


def make(probe: Any = None, **kw: Any) -> BatchProcessingEngine:
    on_dead = kw.pop("on_dead_letter", None)
    kw.setdefault("retry", RetryPolicy(stop=stop_after_attempt(2), wait=wait_fixed(0.001)))
    return BatchProcessingEngine(BatchConfig(**kw), on_dead_letter=on_dead,
                                 load_probe=probe or LoadProbe(read=lambda: (10.0, 10.0)))


async def slowly(items: list[int]) -> list[int]:
    await asyncio.sleep(0.02)
    return items


async def test_a_submit_cancelled_while_waiting_for_room_leaves_nothing_behind() -> None:
    eng = make(max_queued_items=100, max_unclaimed_results=1000, workers_per_processor=1)
    await eng.start()
    p = Processor("slowly", slowly, max_batch_size=10)
    for _ in range(3):
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(eng.submit_job(range(500), p), 0.05)
    await asyncio.wait_for(eng.drain(), 30)
    m = eng.get_metrics()
    assert m["held_items"] == 0 and m["jobs"] == 0
    job = await eng.submit_job(range(900), p)        # the bound is free again
    assert (await asyncio.wait_for(eng.wait(job), 30)).ok
    await asyncio.wait_for(eng.stop(), 10)


async def test_stop_with_a_timeout_resolves_every_job_and_keeps_its_time() -> None:
    async def sleepy(items: list[int]) -> list[int]:
        await asyncio.sleep(3)
        return items

    eng = make(workers_per_processor=4)
    await eng.start()
    jobs = [await eng.submit_job([i], Processor("sleepy", sleepy, max_batch_size=1, timeout=None))
            for i in range(8)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    await eng.stop(timeout=0.5)
    assert loop.time() - start < 1.5
    results = [await asyncio.wait_for(eng.wait(j), 1) for j in jobs]
    assert all(r.cancelled == [0] for r in results)


async def test_stop_returns_when_a_processor_swallows_cancellation() -> None:
    release = asyncio.Event()

    stubborn = ignoring_cancellation(release)

    eng = make()
    await eng.start()
    job = await eng.submit_job([1, 2], Processor("stubborn", stubborn, timeout=None))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(eng.stop(graceful=False, timeout=0.5), 5)
    assert (await asyncio.wait_for(eng.wait(job), 1)).cancelled == [0, 1]
    release.set()
    await asyncio.sleep(0.1)


async def test_drain_waits_for_batches_held_by_an_open_breaker() -> None:
    state = {"down": True}

    async def flaky(items: list[int]) -> list[int]:
        if state["down"]:
            raise ConnectionError("down")
        return items

    eng = make(breaker=BreakerConfig(min_calls=1, window_calls=2, reset_timeout_s=0.3),
               retry=RetryPolicy(stop=stop_after_attempt(1), wait=wait_fixed(0.001)))
    await eng.start()
    p = Processor("flaky", flaky, max_batch_size=1)
    await eng.submit_job([0], p)
    for _ in range(100):
        if eng.breaker_state("flaky").value == "open":
            break
        await asyncio.sleep(0.01)
    job = await eng.submit_job([1, 2, 3], p)
    state["down"] = False
    await asyncio.wait_for(eng.drain(), 10)
    assert eng.job_status(job).pending == 0
    assert (await eng.wait(job)).results == [1, 2, 3]
    await eng.stop()


async def test_five_percent_poison_does_not_open_a_healthy_processors_breaker() -> None:
    rng = random.Random(11)
    poison = set(rng.sample(range(2000), 100))

    async def validate(items: list[int]) -> list[int]:
        await asyncio.sleep(0.0001 * len(items))
        if poison.intersection(items):
            raise ValueError("poison")
        return items

    eng = BatchProcessingEngine(BatchConfig(), load_probe=LoadProbe(read=lambda: (10.0, 10.0)))
    await eng.start()
    job = await eng.submit_job(range(2000), Processor("validate", validate))
    result = await asyncio.wait_for(eng.wait(job), 60)
    assert {d.index for d in result.dead_letters} == poison
    assert eng._lanes["validate"].breaker.transitions == 0
    await eng.stop()


async def test_coroutine_callbacks_finish_before_stop_returns() -> None:
    done: list[int] = []

    async def on_done(result: JobResult) -> None:
        await asyncio.sleep(0.01)
        done.append(result.total)

    async with make() as eng:
        p = Processor("slowly", slowly)
        for i in range(50):
            await eng.submit_job(range(i + 1), p, on_done=on_done)
    assert sorted(done) == list(range(1, 51))


async def test_ten_thousand_jobs_expiring_together_keep_their_deadline() -> None:
    never = asyncio.Event()

    async def stuck(items: list[int]) -> list[int]:
        await never.wait()
        return items

    eng = make(workers_per_processor=1)
    await eng.start()
    p = Processor("stuck", stuck, timeout=None)
    loop = asyncio.get_running_loop()
    jobs = [await eng.submit_job([i], p, timeout=0.3) for i in range(10_000)]
    start = loop.time()
    results = [await asyncio.wait_for(eng.wait(j), 30) for j in jobs]
    assert loop.time() - start < 3.0          # was ~8 s of a stalled loop: O(jobs^2)
    assert all(isinstance(r.dead_letters[0].error, JobTimeout) for r in results)
    cancel_jobs = [await eng.submit_job([i], p) for i in range(10_000)]
    start = loop.time()
    assert sum(eng.cancel(j) for j in cancel_jobs) >= 9_999
    assert loop.time() - start < 3.0          # was ~10 s
    never.set()
    await asyncio.wait_for(eng.stop(), 10)


async def test_a_deadline_during_chunked_admission_reaches_the_dead_letter_hook() -> None:
    seen: list[int] = []
    eng = make(max_queued_items=100, workers_per_processor=1,
               on_dead_letter=lambda job, d: seen.append(d.index))
    await eng.start()
    p = Processor("slowly", slowly, max_batch_size=10)
    job = await eng.submit_job(range(1000), p, timeout=0.2)
    result = await asyncio.wait_for(eng.wait(job), 30)
    assert len(result.dead_letters) > 0 and sorted(seen) == [d.index for d in result.dead_letters]
    assert eng.get_metrics()["processors"]["slowly"]["items_dead"] == len(seen)
    await eng.stop()


async def test_a_failing_load_probe_is_no_pressure_not_lost_items() -> None:
    def broken() -> tuple[float, float]:
        raise OSError("psutil failed")

    eng = make(probe=LoadProbe(read=broken, interval_s=0.001))
    await eng.start()
    job = await eng.submit_job(range(500), Processor("slowly", slowly, max_batch_size=10))
    assert (await asyncio.wait_for(eng.wait(job), 30)).ok
    await eng.stop()


async def test_bad_arguments_name_themselves() -> None:
    eng = make()
    await eng.start()
    p = Processor("slowly", slowly)
    with pytest.raises(TypeError, match="block"):
        await eng.submit_job([1], p, block="no")  # type: ignore[arg-type]
    for bad in (5, None, [1]):
        with pytest.raises(TypeError, match="job_id"):
            eng.job_status(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="graceful"):
        await eng.stop(graceful="no")  # type: ignore[arg-type]
    await eng.stop()
    with pytest.raises(TypeError, match="monitor"):
        BatchProcessingEngine(monitor=5)
    with pytest.raises(ValueError, match="cpu_saturation_pct"):
        BatchConfig(cpu_saturation_pct=500)
    with pytest.raises(TypeError, match="read"):
        LoadProbe(read=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval_s"):
        LoadProbe(interval_s=-1)
    with pytest.raises(TypeError, match="job_ids"):
        make().as_completed("abc")                   # before any loop is needed
