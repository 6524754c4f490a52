"""Redis Streams: many worker processes share jobs; a SIGKILLed worker's chunks are reclaimed
and every item ends in the results exactly once. Real redis-server, real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import pytest

from defiperf.batch import JobResult, JobStatus, Processor
from defiperf.batch.streams import RedisStreamQueue, RemoteError, StreamWorker

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import stream_processors  # noqa: E402


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def spawn_worker(url: str, namespace: str, consumer: str, marks: Path,
                 log: Any) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
               DEFIPERF_TEST_MARKS=str(marks))
    return subprocess.Popen(
        [sys.executable, "-m", "defiperf.batch.worker", url, "stream_processors:slow_double",
         "--namespace", namespace, "--consumer", consumer, "--claim-idle-s", "1.0",
         "--batch-size", "10", "--concurrency", "2"],
        env=env, stdout=log, stderr=log,
        cwd=marks,  # not the repository root: `-m` would import the uncompiled source tree
    )


@pytest.fixture
def workers(redis_server: str, namespace: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    marks = tmp_path / "marks"
    marks.mkdir()
    with open(tmp_path / "workers.log", "wb") as log:
        procs = [spawn_worker(redis_server, namespace, f"w{i}", marks, log) for i in (1, 2)]
        try:
            yield procs
        finally:
            stop_all(procs)
    sys.stderr.write((tmp_path / "workers.log").read_text(errors="replace")[-4000:])


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def test_sigkilled_worker_loses_nothing(redis_server: str, namespace: str, tmp_path: Path,
                                              workers: list[subprocess.Popen[bytes]]) -> None:
    n = 600
    async with RedisStreamQueue(redis_server, namespace=namespace, chunk_size=20) as q:
        job = await q.submit_job(range(n), Processor("slow_double", stream_processors.slow_double))
        victim = workers[0]
        deadline = time.monotonic() + 30
        marks = tmp_path / "marks"
        while not any(p.name.startswith(f"{victim.pid}-") for p in marks.iterdir()):
            assert time.monotonic() < deadline, "worker 1 never started a batch"
            await asyncio.sleep(0.01)
        victim.send_signal(signal.SIGKILL)            # mid-batch: its chunks stay pending
        victim.wait(timeout=10)
        result = await q.wait(job, timeout=120)
        status = await q.job_status(job)
    assert result.status is JobStatus.DONE and status.succeeded == n
    assert result.results == [2 * x for x in range(n)]  # each item once, in its place
    assert workers[1].poll() is None                   # the survivor took over
    started_by_victim = {p.name for p in marks.iterdir() if p.name.startswith(f"{victim.pid}-")}
    assert started_by_victim                           # it really died mid-work


async def run_worker_until(url: str, namespace: str, processors: list[Processor],
                           q: RedisStreamQueue, jobs: list[str]) -> list[JobResult]:
    worker = StreamWorker(url, processors, namespace=namespace, claim_idle_s=60, concurrency=1)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        return [await q.wait(job, timeout=60) for job in jobs]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await worker.close()


async def test_dead_letters_come_back_with_their_errors(redis_server: str, namespace: str) -> None:
    p = Processor("reject_sevens", stream_processors.reject_sevens, max_batch_size=5)
    async with RedisStreamQueue(redis_server, namespace=namespace, chunk_size=10) as q:
        job = await q.submit_job(range(30), p)
        assert (await q.job_status(job)).status is JobStatus.QUEUED
        (result,) = await run_worker_until(redis_server, namespace, [p], q, [job])
    assert [d.item for d in result.dead_letters] == [0, 7, 14, 21, 28]
    assert all(isinstance(d.error, RemoteError) and d.error.type_name == "ValueError"
               and d.attempts >= 3 for d in result.dead_letters)
    assert result.status is JobStatus.FAILED
    assert [result.results[i] for i in range(30) if i % 7] == [i for i in range(30) if i % 7]


async def test_higher_priority_bands_go_first(redis_server: str, namespace: str) -> None:
    p = Processor("remember", stream_processors.remember, max_batch_size=10)
    stream_processors.SEEN.clear()
    async with RedisStreamQueue(redis_server, namespace=namespace, chunk_size=10) as q:
        low = await q.submit_job(range(0, 30), p, priority=1)
        high = await q.submit_job(range(100, 130), p, priority=9)
        results = await run_worker_until(redis_server, namespace, [p], q, [low, high])
    assert [r.ok for r in results] == [True, True]
    seen = stream_processors.SEEN
    assert sorted(seen) == list(range(30)) + list(range(100, 130))
    assert seen[:30] == list(range(100, 130))  # the whole high job first


async def test_cancel_and_unknown_jobs(redis_server: str, namespace: str) -> None:
    p = Processor("reject_sevens", stream_processors.reject_sevens)
    async with RedisStreamQueue(redis_server, namespace=namespace) as q:
        job = await q.submit_job([1, 2, 3], p)
        await q.cancel(job)
        worker = StreamWorker(redis_server, [p], namespace=namespace)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        result = await q.wait(job, timeout=60)
        stop.set()
        await asyncio.wait_for(task, 30)
        await worker.close()
        assert result.status is JobStatus.CANCELLED and result.cancelled == [0, 1, 2]
        with pytest.raises(KeyError):
            await q.job_status("nope")
        with pytest.raises(ValueError):
            await q.submit_job([1], p, priority=11)
    with pytest.raises(ValueError):
        RedisStreamQueue(redis_server, namespace="a:b")
