"""BatchProcessingEngine: priorities with aging, AIMD batch sizing, bisecting retries, circuit
breakers, backpressure; nothing submitted is ever dropped silently."""

from __future__ import annotations

from defiperf.batch.breaker import BreakerState as BreakerState
from defiperf.batch.breaker import CircuitBreaker as CircuitBreaker
from defiperf.batch.config import DEFAULT_BATCH_CONFIG as DEFAULT_BATCH_CONFIG
from defiperf.batch.config import BatchConfig as BatchConfig
from defiperf.batch.config import BreakerConfig as BreakerConfig
from defiperf.batch.engine import BatchProcessingEngine as BatchProcessingEngine
from defiperf.batch.jobs import DeadLetter as DeadLetter
from defiperf.batch.jobs import EngineStopped as EngineStopped
from defiperf.batch.jobs import JobProgress as JobProgress
from defiperf.batch.jobs import JobResult as JobResult
from defiperf.batch.jobs import JobStatus as JobStatus
from defiperf.batch.jobs import JobTimeout as JobTimeout
from defiperf.batch.jobs import Processor as Processor
from defiperf.batch.jobs import QueueFull as QueueFull
from defiperf.batch.jobs import ResultCountMismatch as ResultCountMismatch
from defiperf.batch.retry import RetryPolicy as RetryPolicy
from defiperf.batch.retry import RetryState as RetryState
from defiperf.batch.retry import stop_after_attempt as stop_after_attempt
from defiperf.batch.retry import stop_after_delay as stop_after_delay
from defiperf.batch.retry import wait_exponential as wait_exponential
from defiperf.batch.retry import wait_fixed as wait_fixed
from defiperf.batch.retry import wait_full_jitter as wait_full_jitter
from defiperf.batch.sizing import BatchSizer as BatchSizer
from defiperf.batch.sizing import LoadProbe as LoadProbe

__all__ = [
    "DEFAULT_BATCH_CONFIG",
    "BatchConfig",
    "BatchProcessingEngine",
    "BatchSizer",
    "BreakerConfig",
    "BreakerState",
    "CircuitBreaker",
    "DeadLetter",
    "EngineStopped",
    "JobProgress",
    "JobResult",
    "JobStatus",
    "JobTimeout",
    "LoadProbe",
    "Processor",
    "QueueFull",
    "ResultCountMismatch",
    "RetryPolicy",
    "RetryState",
    "stop_after_attempt",
    "stop_after_delay",
    "wait_exponential",
    "wait_fixed",
    "wait_full_jitter",
]
