"""Results are never forgotten: kept until claimed (wait, as_completed, on_done), memory bounded
by refusing new jobs (QueueFull naming what waits), fire-and-forget jobs that keep nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from defiperf.batch import (
    BatchConfig,
    BatchProcessingEngine,
    BreakerConfig,
    DeadLetter,
    JobResult,
    JobStatus,
    LoadProbe,
    Processor,
    QueueFull,
    RetryPolicy,
    stop_after_attempt,
    wait_fixed,
)


def make(**kw: Any) -> BatchProcessingEngine:
    kw.setdefault("retry", RetryPolicy(stop=stop_after_attempt(2), wait=wait_fixed(0.001)))
    kw.setdefault("breaker", BreakerConfig(min_calls=1000, window_calls=1000))
    on_dead = kw.pop("on_dead_letter", None)
    return BatchProcessingEngine(BatchConfig(**kw), load_probe=LoadProbe(read=lambda: (10.0, 10.0)),
                                 on_dead_letter=on_dead)


async def double(items: list[int]) -> list[int]:
    return [2 * x for x in items]


async def negative_fails(items: list[int]) -> list[int]:
    if any(x < 0 for x in items):
        raise ValueError("negative")
    return items


async def test_two_thousand_jobs_awaited_after_submission_all_come_back() -> None:
    async with make() as eng:
        p = Processor("double", double)
        jobs = [await eng.submit_job([i, i + 1], p) for i in range(2000)]
        await eng.drain()
        results = [await eng.wait(j) for j in jobs]
    assert [r.results for r in results] == [[2 * i, 2 * i + 2] for i in range(2000)]


async def test_a_claimed_job_is_forgotten_and_the_bound_refuses_not_forgets() -> None:
    async with make(max_unclaimed_results=50) as eng:
        p = Processor("double", double)
        jobs = [await eng.submit_job(range(10), p) for _ in range(5)]
        await eng.drain()
        held = eng.get_metrics()
        assert held["held_items"] == 50 and held["unclaimed_jobs"] == 5
        with pytest.raises(QueueFull, match=r"50 items are held.*5 finished jobs waiting to be claimed"):
            await eng.submit_job([1], p, block=True)
        assert eng.get_metrics()["jobs"] == 5                  # nothing was admitted
        assert all(eng.job_status(j).status is JobStatus.DONE for j in jobs)  # none forgotten
        assert (await eng.wait(jobs[0])).results == [2 * x for x in range(10)]
        with pytest.raises(KeyError, match="already claimed"):
            await eng.wait(jobs[0])
        job = await eng.submit_job(range(10), p)               # room again
        assert (await eng.wait(job)).ok
        fire = await eng.submit_job(range(1000), p, keep_result=False)  # holds nothing
        with pytest.raises(ValueError, match="keep_result=False"):
            await eng.wait(fire)


async def test_as_completed_yields_given_jobs_as_they_finish_and_claims_them() -> None:
    gates = [asyncio.Event() for _ in range(3)]

    async def gated(items: list[int]) -> list[int]:
        await gates[items[0]].wait()
        return items

    async with make() as eng:
        p = Processor("gated", gated, max_batch_size=1)
        jobs = [await eng.submit_job([i], p) for i in range(3)]
        order = []

        async def consume() -> None:
            async for job_id, result in eng.as_completed(jobs, timeout=10):
                order.append((jobs.index(job_id), result.results))

        consumer = asyncio.create_task(consume())
        for i in (2, 0, 1):
            gates[i].set()
            await asyncio.sleep(0.02)
        await asyncio.wait_for(consumer, 10)
        assert order == [(2, [2]), (0, [0]), (1, [1])]
        assert eng.get_metrics()["jobs"] == 0 and eng.get_metrics()["held_items"] == 0


async def test_as_completed_times_out_and_what_is_left_stays_claimable() -> None:
    never = asyncio.Event()

    async def stuck(items: list[int]) -> list[int]:
        await never.wait()
        return items

    eng = make()
    await eng.start()
    job = await eng.submit_job([1], Processor("stuck", stuck, timeout=None))
    with pytest.raises(TimeoutError):
        async for _ in eng.as_completed([job], timeout=0.05):
            pass
    with pytest.raises(TimeoutError):
        await eng.wait(job, timeout=0.01)
    never.set()
    assert (await eng.wait(job, timeout=10)).results == [1]
    await eng.stop()


async def test_streaming_as_completed_beside_a_producer_ends_after_stop() -> None:
    eng = make(max_unclaimed_results=100)
    await eng.start()
    p = Processor("double", double, max_batch_size=7)
    seen: dict[str, list[int]] = {}

    async def consume() -> None:
        async for job_id, result in eng.as_completed():
            seen[job_id] = result.results

    consumer = asyncio.create_task(consume())
    submitted = {}
    for i in range(500):                 # 5,000 items through a bound of 100 held: only works
        while True:                      # because the consumer claims as jobs finish
            try:
                job = await eng.submit_job(range(i, i + 10), p)
                break
            except QueueFull:
                await asyncio.sleep(0.001)
        submitted[job] = [2 * x for x in range(i, i + 10)]
    await eng.stop()
    await asyncio.wait_for(consumer, 10)
    assert seen == submitted


async def test_on_done_gets_every_result_and_its_errors_are_contained(
        caplog: pytest.LogCaptureFixture) -> None:
    got: list[JobResult] = []

    def on_done(result: JobResult) -> None:
        got.append(result)
        raise RuntimeError("callback bug")

    async with make() as eng:
        p = Processor("double", double)
        jobs = [await eng.submit_job([i], p, on_done=on_done) for i in range(20)]
        await eng.drain()
        with pytest.raises(KeyError, match="already claimed"):   # on_done claimed it
            await eng.wait(jobs[0])
        assert eng.get_metrics()["held_items"] == 0
        again = await eng.submit_job([5], p)              # the workers are alive
        assert (await eng.wait(again)).results == [10]
    assert sorted(r.results[0] for r in got) == [2 * i for i in range(20)]
    errors = [r for r in caplog.records if "callback bug" in r.getMessage()]
    assert 1 <= len(errors) <= 2                          # rate-limited, not 20 lines


async def test_fire_and_forget_dead_letters_reach_the_callback_and_metrics() -> None:
    dead: list[tuple[str, DeadLetter]] = []
    async with make(on_dead_letter=lambda job, d: dead.append((job, d))) as eng:
        p = Processor("neg", negative_fails, max_batch_size=8)
        job = await eng.submit_job([1, -2, 3, 4, -5, 6], p, keep_result=False)
        await eng.drain()
        m = eng.get_metrics()
        assert m["jobs"] == 0 and m["held_items"] == 0
        with pytest.raises(KeyError):
            eng.job_status(job)
    assert sorted(d.item for _, d in dead) == [-5, -2] and {j for j, _ in dead} == {job}
    assert m["processors"]["neg"]["items_dead"] == 2 and m["processors"]["neg"]["items_ok"] == 4


async def test_bad_arguments_are_rejected_before_anything_is_queued() -> None:
    async with make() as eng:
        p = Processor("double", double)
        with pytest.raises(TypeError, match="keep_result"):
            await eng.submit_job([1], p, keep_result=1)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="on_done"):
            await eng.submit_job([1], p, on_done=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="job_ids"):
            eng.as_completed("abc")
        with pytest.raises(ValueError, match="timeout"):
            await eng.wait("x", timeout=-1)
        assert eng.get_metrics()["jobs"] == 0
    with pytest.raises(TypeError, match="max_unclaimed_results"):
        BatchConfig(max_unclaimed_results=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="on_dead_letter"):
        BatchProcessingEngine(on_dead_letter=3)  # type: ignore[arg-type]
