"""defiperf: compiled hot data structures and performance tooling for DeFi services."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from defiperf._stats import CacheStats as CacheStats
from defiperf.structures import BloomFilter as BloomFilter
from defiperf.structures import BufferFull as BufferFull
from defiperf.structures import OptimizedLRU as OptimizedLRU
from defiperf.structures import RingBuffer as RingBuffer
from defiperf.structures import ScalableBloomFilter as ScalableBloomFilter
from defiperf.structures import create_price_buffer as create_price_buffer
from defiperf.structures import create_transaction_filter as create_transaction_filter


def _version() -> str:
    """The installed distribution's version: pyproject.toml is its one source."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("defiperf")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


__version__ = _version()

# A library never configures logging: its `defiperf.*` loggers stay silent unless the
# application adds handlers (no "No handlers could be found" noise, no lastResort output).
logging.getLogger("defiperf").addHandler(logging.NullHandler())

if TYPE_CHECKING:  # what the lazy names below resolve to, for type checkers
    from defiperf.batch import DEFAULT_BATCH_CONFIG as DEFAULT_BATCH_CONFIG
    from defiperf.batch import BatchConfig as BatchConfig
    from defiperf.batch import BatchProcessingEngine as BatchProcessingEngine
    from defiperf.batch import Processor as Processor
    from defiperf.bench import run_benchmarks as run_benchmarks
    from defiperf.cache import DEFAULT_CACHE_CONFIG as DEFAULT_CACHE_CONFIG
    from defiperf.cache import CacheConfig as CacheConfig
    from defiperf.cache import SmartCacheManager as SmartCacheManager
    from defiperf.monitor import DEFAULT_MONITORING_CONFIG as DEFAULT_MONITORING_CONFIG
    from defiperf.monitor import AlertRule as AlertRule
    from defiperf.monitor import MonitoringConfig as MonitoringConfig
    from defiperf.monitor import PerformanceMonitor as PerformanceMonitor
    from defiperf.suite import PerformanceSuite as PerformanceSuite
    from defiperf.suite import create_optimal_performance_suite as create_optimal_performance_suite

# The Python layers are imported on first use, so `import defiperf` for the hot structures
# does not pull in redis, diskcache or psutil.
_LAZY = {
    "PerformanceSuite": "defiperf.suite",
    "create_optimal_performance_suite": "defiperf.suite",
    "SmartCacheManager": "defiperf.cache",
    "CacheConfig": "defiperf.cache",
    "DEFAULT_CACHE_CONFIG": "defiperf.cache",
    "BatchProcessingEngine": "defiperf.batch",
    "BatchConfig": "defiperf.batch",
    "DEFAULT_BATCH_CONFIG": "defiperf.batch",
    "Processor": "defiperf.batch",
    "PerformanceMonitor": "defiperf.monitor",
    "MonitoringConfig": "defiperf.monitor",
    "DEFAULT_MONITORING_CONFIG": "defiperf.monitor",
    "AlertRule": "defiperf.monitor",
    "run_benchmarks": "defiperf.bench",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'defiperf' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "DEFAULT_BATCH_CONFIG",
    "DEFAULT_CACHE_CONFIG",
    "DEFAULT_MONITORING_CONFIG",
    "AlertRule",
    "BatchConfig",
    "BatchProcessingEngine",
    "CacheConfig",
    "MonitoringConfig",
    "PerformanceMonitor",
    "PerformanceSuite",
    "Processor",
    "SmartCacheManager",
    "create_optimal_performance_suite",
    "run_benchmarks",
    "BloomFilter",
    "BufferFull",
    "CacheStats",
    "OptimizedLRU",
    "RingBuffer",
    "ScalableBloomFilter",
    "__version__",
    "create_price_buffer",
    "create_transaction_filter",
]
