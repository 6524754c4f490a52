"""BatchProcessingEngine beside a bare asyncio baseline doing the same batching, idle and busy.

The baseline is what one writes by hand: an ``asyncio.Queue`` of 100-item lists, 4 worker
tasks awaiting the processor and storing each batch's results into its job's list, one future
per job (no priorities, retries, breaker, timeouts or accounting). Throughput is through a
no-op async processor, as 1 job of N items, 10 jobs of N/10 and 1,000 jobs of N/1,000; queue
latency is measured with a producer submitting jobs of N/1,000 items paced at half of each
side's own maximum for jobs of that size; memory is
what the engine (or the queue) allocates per queued item, items themselves excluded.

Every run is made twice: on the host as it is, and on a busy host (a CPU-burning process per
core beside it, ``defiperf.bench.burner``), because services share their machines. The engine
runs with its real load probe: it must not mistake the burners' load for its own. Two fault
runs time what used to collapse: 1% poison items (beside the same job without them) and a
processor with a fixed 0.3 s cost per batch over a 0.25 s latency target (beside the ideal).
Isolating poison re-runs about 1.7x the items of a 1%-poisoned job (63% of 100-item batches
hold one), so a processor whose cost is per item stays within 2x; one whose cost is all per
call pays for every extra call isolation makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

from defiperf.batch import BatchConfig, BatchProcessingEngine, Processor
from defiperf.bench._table import Row
from defiperf.bench.burner import cpu_burners
from defiperf.structures.metrics import LogHistogram

BATCH = 100
WORKERS = 4
JOB_COUNTS = (1, 10, 1000)


async def _noop(items: list[Any]) -> list[Any]:
    return items


def _engine(max_queued: int = 10_000_000) -> BatchProcessingEngine:
    return BatchProcessingEngine(BatchConfig(max_queued_items=max_queued,
                                             workers_per_processor=WORKERS))


async def engine_throughput(n: int, n_jobs: int = 1) -> float:
    """Items per second through the engine: ``n_jobs`` jobs of ``n // n_jobs`` items each,
    all submitted, then all awaited."""
    per_job = n // n_jobs
    chunks = [list(range(i * per_job, (i + 1) * per_job)) for i in range(n_jobs)]
    async with _engine() as eng:
        p = Processor("noop", _noop, BATCH)
        start = time.perf_counter()
        jobs = [await eng.submit_job(chunk, p) for chunk in chunks]
        results = [await eng.wait(job) for job in jobs]
        elapsed = time.perf_counter() - start
    assert all(r.ok for r in results)
    return per_job * n_jobs / elapsed


async def baseline_throughput(n: int, n_jobs: int = 1) -> float:
    """The same jobs through an asyncio.Queue of 100-item batches and 4 worker tasks."""
    per_job = n // n_jobs
    chunks = [list(range(i * per_job, (i + 1) * per_job)) for i in range(n_jobs)]
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[list[Any], int, list[Any], list[int], asyncio.Future[None]] | None]
    queue = asyncio.Queue()

    async def worker() -> None:
        while (entry := await queue.get()) is not None:
            batch, offset, results, left, done = entry
            out = await _noop(batch)
            results[offset:offset + len(out)] = out
            left[0] -= len(out)
            if left[0] == 0:
                done.set_result(None)

    start = time.perf_counter()
    tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    jobs = []
    for chunk in chunks:
        results: list[Any] = [None] * len(chunk)
        done = loop.create_future()
        left = [len(chunk)]
        for i in range(0, len(chunk), BATCH):
            queue.put_nowait((chunk[i:i + BATCH], i, results, left, done))
        jobs.append((done, results))
    for done, _ in jobs:
        await done
    elapsed = time.perf_counter() - start
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
    return per_job * n_jobs / elapsed


async def _paced(rate: float, seconds: float, job_size: int, submit: Any) -> None:
    """Call submit() once per ``job_size`` items so that about ``rate`` items per second go out."""
    start = time.perf_counter()
    sent = 0
    while (now := time.perf_counter() - start) < seconds:
        while sent + job_size <= rate * now:
            await submit()
            sent += job_size
        await asyncio.sleep(max(0.0, (sent + job_size) / rate - (time.perf_counter() - start)))


async def engine_queue_latency(rate: float, seconds: float, job_size: int = 1000) -> LogHistogram:
    """Queue latency (ms) of each batch with jobs of ``job_size`` items paced at ``rate``."""
    async with _engine() as eng:
        p = Processor("noop", _noop, BATCH)
        items = [0] * job_size

        async def submit() -> None:
            await eng.submit_job(items, p, keep_result=False)

        await _paced(rate, seconds, job_size, submit)
        await eng.drain()
        return eng.queue_latency("noop")


async def baseline_queue_latency(rate: float, seconds: float, job_size: int = 1000) -> LogHistogram:
    queue: asyncio.Queue[tuple[float, list[Any]] | None] = asyncio.Queue()
    waits = LogHistogram()
    items = [0] * job_size

    async def worker() -> None:
        while (entry := await queue.get()) is not None:
            waits.record((time.perf_counter() - entry[0]) * 1000.0)
            await _noop(entry[1])

    async def submit() -> None:
        now = time.perf_counter()
        for i in range(0, job_size, BATCH):
            queue.put_nowait((now, items[i:i + BATCH]))

    tasks = [asyncio.create_task(worker()) for _ in range(WORKERS)]
    await _paced(rate, seconds, job_size, submit)
    for _ in tasks:
        queue.put_nowait(None)
    await asyncio.gather(*tasks)
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


async def poison_job_seconds(n: int = 2000, poison_every: int | None = 100) -> float:
    """Seconds for one job through a validator costing 1.8 ms an item (a signature check: 0.9 s
    for 2,000 items on 4 workers) that fails any batch holding a poison item (every
    ``poison_every``-th; None: none), with the engine's default settings."""
    rng = random.Random(5)
    poison = set(rng.sample(range(n), n // poison_every)) if poison_every else set()

    async def validate(items: list[int]) -> list[int]:
        await asyncio.sleep(0.0018 * len(items))
        if poison.intersection(items):
            raise ValueError("poison item")
        return items

    async with BatchProcessingEngine() as eng:
        start = time.perf_counter()
        result = await eng.wait(await eng.submit_job(range(n), Processor("validate", validate)))
        elapsed = time.perf_counter() - start
    assert len(result.dead_letters) == len(poison)
    return elapsed


async def fixed_cost_seconds(n: int = 1000, cost_s: float = 0.3) -> float:
    """Seconds for ``n`` items through a processor costing ``cost_s`` per batch whatever its
    size, over a 0.25 s latency target (batches of at most 100, 4 workers)."""
    async def fixed(items: list[int]) -> list[int]:
        await asyncio.sleep(cost_s)
        return items

    async with BatchProcessingEngine(BatchConfig(latency_target_s=0.25)) as eng:
        start = time.perf_counter()
        result = await eng.wait(await eng.submit_job(range(n), Processor("fixed", fixed, 100)))
        elapsed = time.perf_counter() - start
    assert result.ok
    return elapsed


def _best(rounds: int, coro_fn: Any, *args: Any) -> float:
    return float(max(asyncio.run(coro_fn(*args)) for _ in range(rounds)))


def _runs(quick: bool, n: int, where: str) -> list[Row]:
    suffix = ", busy host" if where == "busy" else ""
    rounds = 2 if quick else 3
    rows = []
    maxima = {}
    for n_jobs in JOB_COUNTS:
        per_job = n // n_jobs
        label = f"{n_jobs:,} job{'s' if n_jobs > 1 else ''} x {per_job:,}"
        ours = _best(rounds, engine_throughput, n, n_jobs)
        base = _best(rounds, baseline_throughput, n, n_jobs)
        maxima[n_jobs] = (ours, base)
        rows.append(Row("batch", f"no-op throughput, {label}{suffix}", "items/s", ours,
                        {"asyncio baseline": base}, lower_is_better=False,
                        note=f"batches of {BATCH}, {WORKERS} workers each side"))
    # Paced with jobs of the 1,000-jobs row's shape, at half of that row's maximum.
    ours_max, base_max = maxima[1000]
    job_size = n // 1000
    seconds = 0.5 if quick else 2.0
    ours_q = asyncio.run(engine_queue_latency(ours_max / 2, seconds, job_size))
    base_q = asyncio.run(baseline_queue_latency(base_max / 2, seconds, job_size))
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        rows.append(Row("batch", f"queue latency {label} at 50% of max{suffix}", "ms",
                        ours_q.quantile(q), {"asyncio baseline": base_q.quantile(q)},
                        note=f"jobs of {job_size:,}, each side at half of its own maximum"))
    clean = asyncio.run(poison_job_seconds(2000, None))
    rows.append(Row("batch", f"2,000-item job with 1% poison items{suffix}", "s",
                    asyncio.run(poison_job_seconds(2000, 100)), {"same job, no poison": clean},
                    note="target: at most 2x the clean run"))
    rows.append(Row("batch", f"fixed 0.3 s per batch, 1,000 items{suffix}", "s",
                    asyncio.run(fixed_cost_seconds()), {"ideal (10 batches on 4 workers)": 0.9},
                    note="latency target 0.25 s: no size meets it, so none is shrunk"))
    return rows


@contextlib.contextmanager
def _host(where: str) -> Iterator[None]:
    if where == "busy":
        with cpu_burners():
            time.sleep(0.5)  # let the burners get going
            yield
    else:
        yield


def run(quick: bool = False, n_items: int = 1_000_000, busy: bool = True) -> list[Row]:
    """The suite's rows: throughput (1, 10, 1,000 jobs), queue latency and the two fault runs,
    on this host as it is and (``busy``) beside a CPU burner per core; memory per item."""
    n = n_items // 10 if quick else n_items
    rows: list[Row] = []
    for where in ("idle", "busy") if busy else ("idle",):
        with _host(where):
            rows += _runs(quick, n, where)
    mem_n = 100_000 if quick else 10_000_000
    rows.append(Row("batch", f"bytes per queued item, {mem_n:,} queued", "B/item",
                    asyncio.run(_engine_bytes_per_item(mem_n)),
                    {"asyncio baseline": _baseline_bytes_per_item(mem_n)},
                    note="items excluded; the engine keeps a result slot per item"))
    return rows
