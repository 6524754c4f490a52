"""Type-checked by tests/typing/test_stubs.py; never imported by pytest."""

from defiperf import OptimizedLRU

cache: OptimizedLRU[str, int] = OptimizedLRU(100, ttl=30.0)
cache["a"] = 1
reveal_type(cache["a"])  # R: builtins.int
reveal_type(cache.get("a"))  # R: builtins.int | None
reveal_type(cache.get("a", "x"))  # R: builtins.int | builtins.str
reveal_type(cache.keys())  # R: builtins.list[builtins.str]
reveal_type(cache.stats().hit_rate)  # R: builtins.float
reveal_type(cache.hot_keys(3))  # R: builtins.list[builtins.str]
