"""BatchProcessingEngine beside a bare asyncio baseline doing the same batching.

The baseline is what one writes by hand: an ``asyncio.Queue`` of 100-item lists and one worker
loop awaiting the processor and collecting results (no priorities, retries, breaker, timeouts
or accounting). Throughput is through a no-op async processor; queue latency is measured with
a producer paced at half of each side's measured maximum; memory is what the engine (or the
queue) allocates per queued item, items themselves excluded (tracemalloc).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from typing import Any

from defiperf.bench._table import Row
from defiperf.batch import BatchConfig, BatchProcessingEngine, BreakerConfig, Processor
from defiperf.batch.sizing import LoadProbe
from defiperf.structures.metrics import LogHistogram

BATCH = 100


async def _noop(items: list[Any]) -> list[Any]:
    return items


def _engine(max_queued: int = 10_000_000) -> BatchProcessingEngine:
    # A fixed load reading: the benchmark measures the engine, not psutil or this machine's load.
    return BatchProcessingEngine(BatchConfig(max_queued_items=max_queued, workers_per_processor=1,
                                             breaker=BreakerConfig()),
                                 load_probe=LoadProbe(read=lambda: (0.0, 0.0)))


async def engine_throughput(n: int) -> float:
    items = list(range(n))
    async with _engine() as eng:
        start = time.perf_counter()
        job = await eng.submit_job(items, Processor("noop", _noop, BATCH))
        result = await eng.wait(job)
        elapsed = time.perf_counter() - start
    assert result.ok
    return n / elapsed


async def baseline_throughput(n: int) -> float:
    items = list(range(n))
    start = time.perf_counter()
    queue: asyncio.Queue[list[Any] | None] = asyncio.Queue()
    results: list[Any] = []

    async def worker() -> None:
        while (batch := await queue.get()) is not None:
            results.extend(await _noop(batch))

    task = asyncio.create_task(worker())
    for i in range(0, n, BATCH):
        queue.put_nowait(items[i:i + BATCH])
    queue.put_nowait(None)
    await task
    assert len(results) == n
    return n / (time.perf_counter() - start)


async def _paced(rate: float, seconds: float, submit: Any) -> None:
    """Call submit(k) so that about ``rate`` items per second go out, in small bursts."""
    start = time.perf_counter()
    sent = 0
    while (now := time.perf_counter() - start) < seconds:
        due = int(rate * now) - sent
        if due > 0:
            await submit(due)
            sent += due
        await asyncio.sleep(0.0002)


async def engine_queue_latency(rate: float, seconds: float) -> LogHistogram:
    async with _engine() as eng:
        p = Processor("noop", _noop, BATCH)
        submitted: asyncio.Queue[str | None] = asyncio.Queue()

        async def submit(k: int) -> None:
            submitted.put_nowait(await eng.submit_job([0] * k, p))

        async def collect() -> None:  # a submitter waits for its jobs, as users do
            while (job := await submitted.get()) is not None:
                await eng.wait(job)

        collector = asyncio.create_task(collect())
        await _paced(rate, seconds, submit)
        submitted.put_nowait(None)
        await collector
        return eng.queue_latency("noop")


async def baseline_queue_latency(rate: float, seconds: float) -> LogHistogram:
    queue: asyncio.Queue[tuple[float, list[Any]] | None] = asyncio.Queue()
    waits = LogHistogram()

    async def worker() -> None:
        while (entry := await queue.get()) is not None:
            waits.record((time.perf_counter() - entry[0]) * 1000.0)
            await _noop(entry[1])

    async def submit(k: int) -> None:
        now = time.perf_counter()
        for i in range(0, k, BATCH):
            queue.put_nowait((now, [0] * min(BATCH, k - i)))

    task = asyncio.create_task(worker())
    await _paced(rate, seconds, submit)
    queue.put_nowait(None)
    await task
    return waits


async def _engine_bytes_per_item(n: int) -> float:
    gate = asyncio.Event()

    async def gated(items: list[Any]) -> list[Any]:
        await gate.wait()
        return items

    items = [0] * n
    async with _engine() as eng:
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        jobs = [await eng.submit_job(items[i:i + n // 100], Processor("gated", gated, BATCH))
                for i in range(0, n, n // 100)]
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        gate.set()
        for job in jobs:
            await eng.wait(job)
    return (grown - n * 8) / n  # minus the job slices: those are the caller's items


def _baseline_bytes_per_item(n: int) -> float:
    items = [0] * n
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    queue: asyncio.Queue[list[Any]] = asyncio.Queue()
    for i in range(0, n, BATCH):
        queue.put_nowait(items[i:i + BATCH])
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return (grown - n * 8) / n  # the chunk lists hold the items: the caller's share


def run(quick: bool = False, n_items: int = 1_000_000) -> list[Row]:
    n = n_items // 10 if quick else n_items
    rounds = 2 if quick else 5
    ours = max(asyncio.run(engine_throughput(n)) for _ in range(rounds))
    base = max(asyncio.run(baseline_throughput(n)) for _ in range(rounds))
    rows = [Row("batch", f"no-op throughput, batches of {BATCH}", "items/s", ours,
                {"asyncio.Queue baseline": base}, lower_is_better=False)]
    seconds = 0.5 if quick else 2.0
    ours_q = asyncio.run(engine_queue_latency(ours / 2, seconds))
    base_q = asyncio.run(baseline_queue_latency(base / 2, seconds))
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        rows.append(Row("batch", f"queue latency {label} at 50% of max", "ms", ours_q.quantile(q),
                        {"asyncio.Queue baseline": base_q.quantile(q)},
                        note="each side paced at half of its own maximum"))
    mem_n = 100_000 if quick else 10_000_000
    rows.append(Row("batch", f"bytes per queued item, {mem_n:,} queued", "B/item",
                    asyncio.run(_engine_bytes_per_item(mem_n)),
                    {"asyncio.Queue baseline": _baseline_bytes_per_item(mem_n)},
                    note="items excluded; the engine keeps a result slot per item"))
    return rows
