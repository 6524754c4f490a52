"""Compiled hot data structures (Cython shells over the C cores in csrc/)."""

from __future__ import annotations

from defiperf.structures.lru import OptimizedLRU as OptimizedLRU

__all__ = ["OptimizedLRU"]
