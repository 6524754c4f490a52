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


class MonitorOverflow(Benchmark):
    """Recording new names past max_series: the overflow path, its time and its memory."""

    def setup(self) -> None:
        self.monitor = bench_monitor._ours()
        for i in range(self.monitor.max_series):
            self.monitor.record_chain_call(f"warm{i}", "eth_call", 1.0)
        self.names = [f"chain{i}" for i in range(10_000)]

    def time_record_chain_call_new_names_10000(self) -> None:
        record = self.monitor.record_chain_call
        for name in self.names:
            record(name, "eth_call", 1.0)

    def peakmem_record_chain_call_new_names_100000(self) -> None:
        record = self.monitor.record_chain_call
        for i in range(100_000):
            record(f"new{i}", "eth_call", 1.0)


class MonitorExport(Benchmark):
    """One Prometheus scrape and one HTTP record (the middleware's per-request cost)."""

    params = [[10, 200]]
    param_names = ["n_series"]

    def setup(self, n_series: int) -> None:
        from prometheus_client import CollectorRegistry

        self.monitor = bench_monitor._ours()
        for i in range(n_series):
            for v in bench_monitor._latencies(50):
                self.monitor.record_http("GET", f"/route/{i}", 200, v)
        self.registry = CollectorRegistry()
        self.monitor.register_prometheus(self.registry)

    def time_scrape(self, n_series: int) -> None:
        from prometheus_client import generate_latest

        generate_latest(self.registry)

    def time_record_http_1000(self, n_series: int) -> None:
        record = self.monitor.record_http
        for _ in range(1000):
            record("GET", "/route/0", 200, 12.5)


class MonitorOTel(Benchmark):
    """record_request with the OpenTelemetry bridge attached beside the SDK's own histogram
    record (what a service would call per request without defiperf)."""

    params = [["defiperf+bridge", "otel-sdk"]]
    param_names = ["impl"]

    def setup(self, impl: str) -> None:
        try:
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        except ImportError:
            raise NotImplementedError("opentelemetry-sdk is not installed") from None
        self.values = bench_monitor._latencies(1000)
        provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        if impl == "defiperf+bridge":
            self.monitor = bench_monitor._ours()
            self.monitor.bridge_otel(provider)
        else:
            self.hist = provider.get_meter("bench").create_histogram("request.duration", unit="s")

    def time_record_request_1000(self, impl: str) -> None:
        if impl == "defiperf+bridge":
            record = self.monitor.record_request
            for v in self.values:
                record("/api/portfolio", v, True)
        else:
            record = self.hist.record
            attrs = {"endpoint": "/api/portfolio"}
            for v in self.values:
                record(v / 1000.0, attrs)
