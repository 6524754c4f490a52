# Checked by tests/cache/test_typing.py with mypy --strict: "# R:" is the revealed type.
from defiperf.cache import SmartCacheManager, SyncCacheManager
from defiperf.monitor import PerformanceMonitor

sync = SyncCacheManager()
smart = SmartCacheManager()


@sync.cached(ttl=5)
def price(pair: str, venue: str = "uni") -> float:
    return 1.0


@sync.cached
def name(x: int) -> str:
    return ""


@smart.cached(ttl=5, key="q:{x}")
async def quote(x: int) -> str:
    return ""


reveal_type(price("ETH"))  # R: float
reveal_type(price.cache_info().hits)  # R: int
reveal_type(name)  # R: defiperf.cache.cached.CachedFunction[[x: int], str]
reveal_type(quote)  # R: defiperf.cache.cached.CachedFunction[[x: int], typing.Coroutine[Any, Any, str]]

watched = SyncCacheManager(monitor=PerformanceMonitor())  # a Recorder
reveal_type(watched.monitor)  # R: defiperf.monitor.recorder.Recorder | None
