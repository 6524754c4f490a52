"""defiperf: compiled hot data structures and performance tooling for DeFi services."""

from __future__ import annotations

from defiperf._stats import CacheStats as CacheStats
from defiperf.structures import BloomFilter as BloomFilter
from defiperf.structures import BufferFull as BufferFull
from defiperf.structures import OptimizedLRU as OptimizedLRU
from defiperf.structures import RingBuffer as RingBuffer
from defiperf.structures import ScalableBloomFilter as ScalableBloomFilter
from defiperf.structures import create_price_buffer as create_price_buffer
from defiperf.structures import create_transaction_filter as create_transaction_filter

__version__ = "0.1.0"

__all__ = [
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
