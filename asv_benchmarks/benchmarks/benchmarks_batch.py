"""BatchProcessingEngine beside a bare asyncio.Queue worker: the operations of
`python -m defiperf.bench batch`."""

from __future__ import annotations

import asyncio

from defiperf.bench import batch as bench_batch

from .common import Benchmark


class BatchThroughput(Benchmark):
    params = [["defiperf", "asyncio.Queue"]]
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        self.impl = impl

    def time_100k_items_noop(self, impl: str) -> None:
        run = bench_batch.engine_throughput if impl == "defiperf" else bench_batch.baseline_throughput
        asyncio.run(run(100_000))


class BatchQueueLatency(Benchmark):
    def track_queue_latency_p99_ms(self) -> float:
        rate = asyncio.run(bench_batch.engine_throughput(200_000)) / 2
        return asyncio.run(bench_batch.engine_queue_latency(rate, 0.5)).quantile(0.99)

    track_queue_latency_p99_ms.unit = "ms"  # type: ignore[attr-defined]
