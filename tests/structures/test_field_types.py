"""Fields typed bool or int reject strings, floats and bools with a TypeError naming the field;
LogHistogram and MetricStore reject bools and times or windows past int64 (issue 14)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest

from defiperf import RingBuffer
from defiperf.batch.breaker import CircuitBreaker
from defiperf.batch.config import BatchConfig, BreakerConfig
from defiperf.batch.jobs import Processor
from defiperf.batch.queue import AgingQueue
from defiperf.batch.sizing import BatchSizer
from defiperf.cache.config import CacheConfig
from defiperf.cache.serialization import Serializer
from defiperf.monitor.config import MonitoringConfig
from defiperf.structures.metrics import LogHistogram, MetricStore

pytestmark = pytest.mark.usefixtures("refcount_guard")

BOOL_FIELDS: list[tuple[Callable[..., object], str]] = [
    *((CacheConfig, name) for name in ("l1_enabled", "redis_cluster", "invalidation",
                                       "disk_enabled", "allow_pickle", "use_pickle")),
    (Serializer, "allow_pickle"), (Serializer, "use_pickle"),
    (MonitoringConfig, "system_metrics"),
    (lambda **kw: Processor("p", lambda items: items, **kw), "retryable"),
    (lambda **kw: RingBuffer(4, **kw), "overwrite_on_full"),
]

INT_FIELDS: list[tuple[Callable[..., object], str]] = [
    (CacheConfig, "compress_threshold_bytes"), (Serializer, "compress_threshold_bytes"),
    (BreakerConfig, "min_calls"), (BreakerConfig, "window_calls"),
    (BatchConfig, "seed"), (MonitoringConfig, "rss_budget_bytes"),
    (CircuitBreaker, "min_calls"), (CircuitBreaker, "window_calls"),
    (AgingQueue, "max_priority"),
    (lambda **kw: BatchSizer(**{"max_size": 10, "latency_target_s": 0.1, **kw}), "max_size"),
]


@pytest.mark.parametrize(("make", "field"), BOOL_FIELDS)
@pytest.mark.parametrize("bad", ["yes", "", 1, 0, 1.0, None])
def test_bool_fields_take_only_bools(make: Callable[..., object], field: str, bad: Any) -> None:
    with pytest.raises(TypeError, match=field):
        make(**{field: bad})
    make(**{field: False})


@pytest.mark.parametrize(("make", "field"), INT_FIELDS)
@pytest.mark.parametrize("bad", ["3", 3.0, True, 2.5])
def test_int_fields_take_only_ints(make: Callable[..., object], field: str, bad: Any) -> None:
    with pytest.raises(TypeError, match=field):
        make(**{field: bad})
    make(**{field: 5 if field != "window_calls" else 50})


def test_log_histogram_record_many_rejects_bools_like_record() -> None:
    h = LogHistogram()
    with pytest.raises(TypeError, match="bool"):
        h.record(True)
    with pytest.raises(TypeError, match="bool"):
        h.record_many([1.0, True, False])
    assert h.count == 0  # all or nothing
    h.record_many([1, 2.5])
    assert h.count == 2


@pytest.mark.parametrize("t", [9.3e9, 1e300, -1.0, math.inf, math.nan])
def test_metric_store_rejects_times_past_int64(t: float) -> None:
    now = [0.0]
    store = MetricStore(timer=lambda: now[0])
    now[0] = t
    with pytest.raises(ValueError):
        store.record_metric("x", 1.0)


def test_metric_store_long_windows_do_not_overflow() -> None:
    now = [1e9]
    store = MetricStore(window_s=1e10, window_slots=4, timer=lambda: now[0])
    store.record_metric("x", 1.0)
    series = store.get_series("metric:x")
    for window in ("current", "previous", "total"):
        stats = series.stats(window)
        assert stats["rate"] >= 0 and math.isfinite(stats["rate"])
    with pytest.raises(ValueError, match="window_s"):
        MetricStore(window_s=1e11, window_slots=1)
