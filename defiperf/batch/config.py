"""BatchConfig: every knob of BatchProcessingEngine in one plain, copyable object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from defiperf._validate import check_int, check_number
from defiperf.batch.retry import RetryPolicy


@dataclass(frozen=True)
class BreakerConfig:
    """Per-processor circuit breaker settings (see CircuitBreaker)."""

    failure_rate_threshold: float = 0.5
    min_calls: int = 10
    window_calls: int = 50
    reset_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        check_number("failure_rate_threshold", self.failure_rate_threshold, high=1.0)
        check_int("min_calls", self.min_calls)
        check_int("window_calls", self.window_calls)
        check_number("reset_timeout_s", self.reset_timeout_s, inclusive=True)


@dataclass(frozen=True)
class BatchConfig:
    """What BatchProcessingEngine bounds, retries and adapts.

    - ``max_queued_items``: the backpressure bound, over all jobs and processors;
    - ``workers_per_processor``: batches of one processor in flight at once;
    - ``latency_target_s``: the batch latency AIMD sizing aims at;
    - ``aging_interval_s``: a waiting job gains one priority level per interval (no starvation);
    - ``job_timeout_s``: default deadline of a job (None: none); items left then are dead letters;
    - ``max_unclaimed_results``: items of kept jobs (queued, running, or finished and not yet
      claimed by ``wait``/``as_completed``/``on_done``) the engine holds at most; past it
      ``submit_job`` raises QueueFull naming what waits to be claimed. A result is never
      forgotten to make room. None: ten times ``max_queued_items``;
    - ``memory_pressure_pct``: system memory use (psutil) above which batch sizes are halved;
    - ``cpu_saturation_pct``: CPU use of *this process* (of the CPUs it may use, or of its
      event-loop thread) above which fewer batches of a processor run at once; the load of
      other processes is never a reason to change anything.
    """

    max_queued_items: int = 1_000_000
    workers_per_processor: int = 4
    latency_target_s: float = 0.25
    aging_interval_s: float = 1.0
    job_timeout_s: float | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    memory_pressure_pct: float = 90.0
    cpu_saturation_pct: float = 95.0
    load_sample_interval_s: float = 0.5
    thread_pool_size: int = 8
    max_unclaimed_results: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_queued_items", "workers_per_processor", "thread_pool_size"):
            check_int(name, getattr(self, name))
        check_int("max_unclaimed_results", self.max_unclaimed_results, allow_none=True)
        check_int("seed", self.seed, minimum=0, allow_none=True)
        for name in ("latency_target_s", "aging_interval_s", "load_sample_interval_s"):
            check_number(name, getattr(self, name))
        for name in ("memory_pressure_pct", "cpu_saturation_pct"):
            check_number(name, getattr(self, name), high=100.0)
        check_number("job_timeout_s", self.job_timeout_s, allow_none=True)
        if not isinstance(self.retry, RetryPolicy):
            raise TypeError("retry must be a RetryPolicy")
        if not isinstance(self.breaker, BreakerConfig):
            raise TypeError("breaker must be a BreakerConfig")

    @property
    def unclaimed_results_bound(self) -> int:
        """``max_unclaimed_results``, or its default: ten times ``max_queued_items``."""
        if self.max_unclaimed_results is not None:
            return self.max_unclaimed_results
        return 10 * self.max_queued_items

    def replace(self, **changes: Any) -> BatchConfig:
        """A copy with ``changes`` applied (validated like the constructor)."""
        return dataclasses.replace(self, **changes)


DEFAULT_BATCH_CONFIG = BatchConfig()
