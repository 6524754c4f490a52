"""Compiled hot data structures (Cython shells over the C cores in csrc/)."""

from __future__ import annotations

from defiperf.structures.bloom import BloomFilter as BloomFilter
from defiperf.structures.bloom import create_transaction_filter as create_transaction_filter
from defiperf.structures.lru import OptimizedLRU as OptimizedLRU
from defiperf.structures.ring import BufferFull as BufferFull
from defiperf.structures.ring import RingBuffer as RingBuffer
from defiperf.structures.ring import create_price_buffer as create_price_buffer
from defiperf.structures.scalable_bloom import ScalableBloomFilter as ScalableBloomFilter
from defiperf.structures.sketch import FrequencySketch as FrequencySketch

__all__ = [
    "BloomFilter",
    "BufferFull",
    "FrequencySketch",
    "OptimizedLRU",
    "RingBuffer",
    "ScalableBloomFilter",
    "create_price_buffer",
    "create_transaction_filter",
]
