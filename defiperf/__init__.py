"""defiperf: compiled hot data structures and performance tooling for DeFi services."""

from __future__ import annotations

from defiperf._stats import CacheStats as CacheStats
from defiperf.structures import OptimizedLRU as OptimizedLRU

__version__ = "0.1.0"

__all__ = ["CacheStats", "OptimizedLRU", "__version__"]
