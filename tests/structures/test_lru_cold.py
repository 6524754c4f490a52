"""OptimizedLRU's cold slot array (expiry times and weights, csrc/slots.h): allocated only when
the first entry with a TTL or a non-zero weight is written, grown with the slots after that,
carried by copy and resize; when it cannot be allocated, the write raises MemoryError and the
cache is exactly as it was."""

from __future__ import annotations

from pathlib import Path

from address_limit import needs_address_limit, run_limited
from defiperf import OptimizedLRU


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_first_ttl_after_untimed_entries() -> None:
    clock = Clock()
    cache: OptimizedLRU[int, int] = OptimizedLRU(1000, timer=clock)
    for i in range(300):  # grown past its first arrays without any expiry
        cache[i] = i
    cache.set(7, 70, ttl=1)
    cache.set(1000 - 1, 1, ttl=5)  # a new key, timed
    cache._check()
    clock.now = 2
    assert 7 not in cache and cache.get(999) == 1
    for i in range(300, 700):  # growth with the expiry array present
        cache[i] = i
    clock.now = 6
    assert cache.expire() == 2 and len(cache) == 699  # 7 (expired at 1) and 999
    cache._check()


def test_first_weight_then_resize_and_copy() -> None:
    cache: OptimizedLRU[int, int] = OptimizedLRU(1000, size_of=lambda k, v: v)
    for i in range(200):
        cache[i] = 0  # weight 0: no weight array yet
    assert cache.total_weight == 0
    for i in range(200, 400):
        cache[i] = 2
    cache[0] = 5  # a replaced entry takes its first non-zero weight
    assert cache.total_weight == 405
    cache._check()
    copied = cache.copy()
    assert copied.total_weight == 405 and dict(copied.items()) == dict(cache.items())
    copied._check()
    cache.resize(150)  # keeps the 150 most recent: 0 (weight 5), then 149 of weight 2
    assert len(cache) == 150 and cache.total_weight == 5 + 149 * 2
    cache._check()


def test_copy_and_resize_of_entries_that_no_longer_need_it() -> None:
    clock = Clock()
    cache: OptimizedLRU[int, int] = OptimizedLRU(100, timer=clock)
    for i in range(50):
        cache.set(i, i, ttl=1 if i < 10 else None)
    clock.now = 2
    assert cache.expire() == 10
    for copied in (cache.copy(), cache):
        copied.resize(80)
        copied._check()
        copied.set(60, 60, ttl=1)  # a new expiry after the copy left the array behind
        clock.now += 2
        assert 60 not in copied and len(copied) == 40
        copied._check()


OOM_SCRIPT = """
import resource
from defiperf import OptimizedLRU

class Clock:
    now = 0.0
    def __call__(self):
        return self.now

clock = Clock()
n = 2**20
cache = OptimizedLRU(n, size_of=lambda k, v: 0 if v is None else 1, timer=clock)
for i in range(n):
    cache[i] = None  # full; nothing weighted or timed: no cold array
keys = cache.keys()
writes = [
    ("weighted insert", lambda: cache.__setitem__(-1, 1)),  # would evict first
    ("weighted replace", lambda: cache.__setitem__(5, 1)),
    ("timed insert", lambda: cache.set(-2, None, ttl=5)),
    ("timed replace", lambda: cache.set(7, None, ttl=5)),
]
# 8 MiB more address space: the 32 MiB cold array for 2**20 slots cannot be mapped.
limit_address_space(2**23)
for name, write in writes:
    try:
        write()
        print(name, "wrote")
    except MemoryError as exc:
        print(name, "MemoryError:", exc)
resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
cache._check()
assert cache.keys() == keys and cache.total_weight == 0 and cache.stats().evictions == 0
assert -1 not in cache and -2 not in cache and cache[5] is None
for name, write in writes:  # now they fit
    write()
cache._check()
assert cache.total_weight == 2 and cache[5] == 1 and cache.stats().evictions == 2
clock.now = 6
assert cache.expire() == 2
print("ok")
"""


@needs_address_limit
def test_memory_error_on_first_use_changes_nothing(tmp_path: Path) -> None:
    out = run_limited(OOM_SCRIPT, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")
    for name in ("weighted insert", "weighted replace", "timed insert", "timed replace"):
        assert f"{name} MemoryError: OptimizedLRU" in out.stdout, out.stdout
    assert lines[-2] == "ok", out.stdout
