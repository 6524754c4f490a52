"""Type-checked by tests/typing/test_stubs.py; never imported by pytest."""

from defiperf import OptimizedLRU

cache: OptimizedLRU[str, int] = OptimizedLRU(100, ttl=30.0)
cache["a"] = 1
reveal_type(cache["a"])  # R: int
reveal_type(cache.get("a"))  # R: int | None
reveal_type(cache.get("a", "x"))  # R: int | str
reveal_type(cache.keys())  # R: list[str]
reveal_type(cache.stats().hit_rate)  # R: float
reveal_type(cache.hot_keys(3))  # R: list[str]
