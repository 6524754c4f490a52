"""OpenTelemetry bridge: full pending buffers go to the bridge's drain thread, not the recording
thread, read back with the SDK's InMemoryMetricReader. Which thread records into the SDK is seen
by an ExemplarFilter (the SDK calls it for every synchronous measurement, on the recording
thread), which also blocks the drain thread where a test needs the SDK to be slow. A burst of
several buffers between collections, close() with batches queued and the drain thread stuck,
backpressure (the recording thread records when 4 batches wait), a forked child, and an
interpreter that exits with the drain thread busy."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from typing import Any

import pytest
from opentelemetry.sdk.metrics import ExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from conftest import FakeTimer
from defiperf.monitor import otel
from test_otel import assert_exact, buckets, hammer, new_monitor, points

DRAIN = "defiperf-otel-drain"
KEY = (("endpoint", "/b"),)


class Witness(ExemplarFilter):
    """Counts the durations each thread hands the SDK (float values with an endpoint: not the
    collection's observations of the failure counter); holds the drain thread while ``hold``
    is clear."""

    def __init__(self) -> None:
        self.by_thread: Counter[str] = Counter()
        self.hold = threading.Event()
        self.hold.set()
        self.held = threading.Event()         # the drain thread waits in the SDK

    def should_sample(self, value: Any, time_unix_nano: int, attributes: Any,
                      context: Any) -> bool:
        if not (isinstance(value, float) and "endpoint" in attributes):
            return False
        name = threading.current_thread().name
        if name == DRAIN and not self.hold.is_set():
            self.held.set()
            assert self.hold.wait(60)
        self.by_thread[name] += 1
        return False


def bridged(fake_timer: FakeTimer, max_pending: int) -> tuple[Any, Any, InMemoryMetricReader,
                                                               Witness]:
    witness = Witness()
    reader = InMemoryMetricReader()
    m = new_monitor(fake_timer)
    bridge = m.bridge_otel(MeterProvider(metric_readers=[reader], exemplar_filter=witness),
                           max_pending=max_pending)
    return m, bridge, reader, witness


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


_EARLIER: set[threading.Thread] = set()


@pytest.fixture(autouse=True)
def _earlier_drain_threads() -> None:
    """Drain threads of bridges other tests left open (they end when idle) are not ours."""
    _EARLIER.clear()
    _EARLIER.update(t for t in threading.enumerate() if t.name == DRAIN)


def drain_threads() -> list[threading.Thread]:
    """This test's drain threads."""
    return [t for t in threading.enumerate() if t.name == DRAIN and t not in _EARLIER]


def exact_in_any_order(point: Any, values_ms: list[float], m: Any) -> None:
    """Values of k/1024 s: the sum is exact whatever order the SDK adds them in."""
    assert (point.count, point.sum) == (len(values_ms), math.fsum(values_ms) / 1000)
    assert buckets(point) == [*m.get_series("request:/b").bucket_counts(), len(values_ms)]


def test_a_burst_is_recorded_by_the_drain_thread(fake_timer: FakeTimer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight full buffers between collections: the recording thread takes and queues them,
    the drain thread records them; the next collection is exact (what is pending included)."""
    monkeypatch.setattr(otel._Tap, "MAX_QUEUED", 100)          # no backpressure in this test
    m, bridge, reader, witness = bridged(fake_timer, 64)
    values = [float(i % 41) * 2.5 for i in range(8 * 64 + 10)]
    for v in values:
        m.record_request("/b", v)
    wait_for(lambda: witness.by_thread[DRAIN] == 8 * 64)
    assert set(witness.by_thread) == {DRAIN}                    # never the recording thread
    assert (m.n_pending, m.pending_dropped) == (10, 0)
    assert_exact(points(reader)["defiperf.request.duration"][KEY], values, m.buckets_s)
    assert witness.by_thread[threading.current_thread().name] == 10   # the collection's share
    assert bridge.close()
    assert drain_threads() == []


@pytest.mark.parametrize("max_pending", [5, 64])
def test_threads_record_and_the_drain_thread_races_collections(fake_timer: FakeTimer,
                                                               max_pending: int) -> None:
    m, bridge, reader, witness = bridged(fake_timer, max_pending)
    per_thread = [[(t * 5 + i) % 300 * (1000 / 1024) for i in range(2000)] for t in range(4)]
    counts: list[int] = []

    def record(values: list[float]) -> None:
        for v in values:
            m.record_request("/b", v)

    def collect() -> None:
        point = points(reader).get("defiperf.request.duration", {}).get(KEY)
        counts.append(point.count if point is not None else 0)

    hammer(record, per_thread, collect)
    everything = [v for values in per_thread for v in values]
    exact_in_any_order(points(reader)["defiperf.request.duration"][KEY], everything, m)
    assert counts == sorted(counts) and m.pending_dropped == 0
    assert witness.by_thread[DRAIN] > 0
    assert bridge.close()
    exact_in_any_order(points(reader)["defiperf.request.duration"][KEY], everything, m)


def test_close_records_what_is_queued_even_with_the_drain_thread_stuck(
        fake_timer: FakeTimer) -> None:
    m, bridge, reader, witness = bridged(fake_timer, 32)
    witness.hold.clear()
    values = [float(i % 29) * (1000 / 1024) for i in range(3 * 32 + 7)]
    for v in values:
        m.record_request("/b", v)
    assert witness.held.wait(30)                 # batch 1 in the SDK, batches 2 and 3 queued
    [thread] = drain_threads()
    assert bridge.close(timeout=0.05) is False   # could not wait for batch 1 ...
    assert m.pending_cap == 0
    assert witness.by_thread[threading.current_thread().name] == 2 * 32 + 7   # ... the rest: here
    witness.hold.set()
    thread.join(30)
    assert not thread.is_alive()
    exact_in_any_order(points(reader)["defiperf.request.duration"][KEY], values, m)
    assert bridge.close() is True                                # idempotent


def test_close_waits_for_the_drain_thread(fake_timer: FakeTimer) -> None:
    m, bridge, reader, witness = bridged(fake_timer, 16)
    values = [float(i % 13) for i in range(10 * 16 + 3)]
    for v in values:
        m.record_request("/b", v)
    with pytest.raises(TypeError, match="timeout"):
        bridge.close(timeout="1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        bridge.close(timeout=math.nan)
    assert m.pending_cap == 16                                  # refused before anything changed
    assert bridge.close(timeout=30) is True
    assert drain_threads() == [] and witness.by_thread[DRAIN] + witness.by_thread[
        threading.current_thread().name] == len(values)
    assert_exact(points(reader)["defiperf.request.duration"][KEY], values, m.buckets_s)


def test_backpressure_the_recording_thread_records_when_4_batches_wait(
        fake_timer: FakeTimer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK is stuck in the drain thread's batch: 4 more batches queue, then the record
    that fills a sixth buffer records the queue and its own buffer (after waiting WAIT_S for
    the stuck batch). Memory stays bounded; nothing is lost or counted twice."""
    monkeypatch.setattr(otel._Tap, "WAIT_S", 0.05)
    m, bridge, reader, witness = bridged(fake_timer, 16)
    witness.hold.clear()
    me = threading.current_thread().name
    values = [float(i % 17) * (1000 / 1024) for i in range(12 * 16 + 5)]
    for i, v in enumerate(values[:5 * 16]):
        m.record_request("/b", v)
        if i == 15:
            assert witness.held.wait(30)         # the drain thread holds batch 1
    assert witness.by_thread[me] == 0            # batches 2..5 queued
    for v in values[5 * 16:6 * 16]:
        m.record_request("/b", v)
    assert witness.by_thread[me] == 5 * 16       # batches 2..6, recorded by the caller
    for v in values[6 * 16:]:
        m.record_request("/b", v)
    assert m.pending_dropped == 0 and witness.by_thread[DRAIN] == 0
    witness.hold.set()
    assert bridge.close(timeout=30)
    exact_in_any_order(points(reader)["defiperf.request.duration"][KEY], values, m)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_drain_thread(fake_timer: FakeTimer) -> None:
    m, bridge, reader, witness = bridged(fake_timer, 8)
    values = [float(i % 7) for i in range(5 * 8)]
    for v in values:
        m.record_request("/b", v)
    wait_for(lambda: witness.by_thread.total() == len(values))   # (some by backpressure)
    assert len(drain_threads()) == 1             # alive (idle) when the process forks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)     # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:                                 # the child: no pytest from here
        code = 1
        try:
            witness.by_thread.clear()
            more = [float(i % 5) for i in range(6 * 8 + 3)]
            for v in more:
                m.record_request("/b", v)
            wait_for(lambda: witness.by_thread[DRAIN] > 0)
            point = points(reader)["defiperf.request.duration"][KEY]
            assert_exact(point, values + more, m.buckets_s)
            assert bridge.close(timeout=30)
            code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 120
    while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child hung")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status[1]) == 0
    assert_exact(points(reader)["defiperf.request.duration"][KEY], values, m.buckets_s)
    assert bridge.close()


EXIT_BUSY = """
import threading
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from defiperf.monitor import MonitoringConfig, PerformanceMonitor
m = PerformanceMonitor(MonitoringConfig(system_metrics=False), alert_handlers=[])
m.bridge_otel(MeterProvider(metric_readers=[InMemoryMetricReader()]), max_pending=4096)
for i in range(3 * 4096):
    m.record_request("/b", float(i % 100))
assert any(t.name == "defiperf-otel-drain" for t in threading.enumerate())
print("exiting")
"""


def test_the_interpreter_exits_with_the_drain_thread_busy() -> None:
    """No close(): the daemon thread neither holds the exit up nor prints anything."""
    got = subprocess.run([sys.executable, "-c", EXIT_BUSY], capture_output=True, text=True,
                         timeout=120, cwd=tempfile.gettempdir())  # not the source tree
    assert (got.returncode, got.stdout, got.stderr) == (0, "exiting\n", "")
