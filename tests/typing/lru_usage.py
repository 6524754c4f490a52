"""Type-checked by tests/typing/test_stubs.py (mypy) and also run (the runtime must agree)."""

import sys
from typing import TYPE_CHECKING

from defiperf import OptimizedLRU

if not TYPE_CHECKING and sys.version_info < (3, 11):  # typing.reveal_type is new in 3.11
    def reveal_type(obj: object) -> object:
        return obj
elif not TYPE_CHECKING:
    from typing import reveal_type

cache: OptimizedLRU[str, int] = OptimizedLRU(100, ttl=30.0)
cache["a"] = 1
reveal_type(cache["a"])  # R: int
reveal_type(cache.get("a"))  # R: int | None
reveal_type(cache.get("a", "x"))  # R: int | str
reveal_type(cache.keys())  # R: list[str]
reveal_type(cache.stats().hit_rate)  # R: float
reveal_type(cache.hot_keys(3))  # R: list[str]
reveal_type(cache.setdefault("b", 2))  # R: int
reveal_type(cache.copy())  # R: defiperf.structures.lru.OptimizedLRU[str, int]
alias = OptimizedLRU[str, float]
reveal_type(alias(10))  # R: defiperf.structures.lru.OptimizedLRU[str, float]
