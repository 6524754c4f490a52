"""PerformanceMonitor recording beside prometheus_client, hdrhistogram and ddsketch: the
operations of `python -m defiperf.bench monitor`."""

from __future__ import annotations

from typing import Any

from defiperf.bench import monitor as bench_monitor
from defiperf.bench._peers import available

from .common import Benchmark

IMPLS = ["defiperf", "prometheus_client", "hdrhistogram", "ddsketch"]


class MonitorRecord(Benchmark):
    params = [IMPLS]
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        self.values = bench_monitor._latencies(1000)
        if impl == "defiperf":
            self.sink: Any = bench_monitor._ours()
            return
        peers = available(bench_monitor.PEERS)
        if impl not in peers:
            raise NotImplementedError(f"{impl} is not installed")
        self.sink = peers[impl]()

    def time_record_request_1000(self, impl: str) -> None:
        if impl == "defiperf":
            record = self.sink.record_request
            for v in self.values:
                record("/api/portfolio", v, True)
        elif impl == "prometheus_client":
            observe = self.sink.labels("/api/portfolio").observe
            for v in self.values:
                observe(v / 1000.0)
        elif impl == "hdrhistogram":
            record = self.sink.record_value
            for v in self.values:
                record(int(v * 1000))
        else:
            add = self.sink.add
            for v in self.values:
                add(v)


class MonitorQuality(Benchmark):
    def track_p99_relative_error(self) -> float:
        ours, _ = bench_monitor._p99_errors(bench_monitor._latencies(20_000))
        return ours

    track_p99_relative_error.unit = "ratio"  # type: ignore[attr-defined]
