"""BatchProcessingEngine beside a bare asyncio.Queue with 4 workers: the operations of
`python -m defiperf.bench batch`, on this host as it is and beside a CPU burner per core."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from defiperf.bench import batch as bench_batch
from defiperf.bench.burner import cpu_burners

from .common import Benchmark


class _Host(Benchmark):
    """``host`` = "busy" runs the benchmark beside one CPU-burning process per core."""

    def setup(self, *params: Any) -> None:  # the last parameter is the host
        self._burners: contextlib.ExitStack = contextlib.ExitStack()
        if params[-1] == "busy":
            self._burners.enter_context(cpu_burners())

    def teardown(self, *args: Any) -> None:
        self._burners.close()


class BatchThroughput(_Host):
    params = [["defiperf", "asyncio.Queue"], [1, 10, 1000], ["idle", "busy"]]
    param_names = ["impl", "jobs", "host"]

    def time_100k_items_noop(self, impl: str, jobs: int, host: str) -> None:
        run = bench_batch.engine_throughput if impl == "defiperf" else bench_batch.baseline_throughput
        asyncio.run(run(100_000, jobs))


class BatchQueueLatency(_Host):
    params = [["idle", "busy"]]
    param_names = ["host"]

    def track_queue_latency_p99_ms(self, host: str) -> float:
        rate = asyncio.run(bench_batch.engine_throughput(200_000, 1000)) / 2
        return asyncio.run(bench_batch.engine_queue_latency(rate, 0.5, 200)).quantile(0.99)

    track_queue_latency_p99_ms.unit = "ms"  # type: ignore[attr-defined]


class BatchFaults(_Host):
    params = [["idle", "busy"]]
    param_names = ["host"]

    def track_poison_over_clean_ratio(self, host: str) -> float:
        poisoned = asyncio.run(bench_batch.poison_job_seconds(2000, 100))
        return poisoned / asyncio.run(bench_batch.poison_job_seconds(2000, None))

    track_poison_over_clean_ratio.unit = "ratio"  # type: ignore[attr-defined]
