"""Memory safety against adversarial Python: finalizers, re-__init__ from callbacks, raising
callbacks. Each test is a finding of issue 14; CI also runs this file under ASan + UBSan, where a
use-after-free or an out-of-bounds access aborts the run instead of passing by luck."""

from __future__ import annotations

import gc
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from address_limit import needs_address_limit, run_limited
from defiperf import BloomFilter, OptimizedLRU, RingBuffer
from defiperf.structures.metrics import MetricStore

pytestmark = pytest.mark.usefixtures("refcount_guard")


@pytest.fixture
def gc_every_allocation() -> Iterator[None]:
    """Run a collection at (almost) every container allocation, restored afterwards."""
    old = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1)
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.collect()


class Reenter:
    """A key (or value) whose __hash__, __eq__ and __float__ run `action` once armed."""

    def __init__(self, h: int, action: Callable[[], object] | None = None,
                 value: float = 1.0) -> None:
        self.h, self.action, self.value = h, action, value
        self.armed = False

    def fire(self) -> None:
        if self.armed and self.action is not None:
            self.armed = False
            self.action()

    def __hash__(self) -> int:
        self.fire()
        return self.h

    def __eq__(self, other: object) -> bool:
        self.fire()
        return isinstance(other, Reenter) and other.h == self.h

    def __float__(self) -> float:
        self.fire()
        return self.value


# ------------------------------------------------------------------ OptimizedLRU


def test_popitem_survives_a_finalizer_that_clears_the_cache() -> None:
    # The script: the tuple popitem allocates runs a collection, whose finalizer clears
    # the cache. (Under ASan a use-after-free here aborts; elsewhere it may pass by luck.)
    cache: OptimizedLRU[int, object] = OptimizedLRU(4)
    values = [object() for _ in range(4)]

    class Fin:
        def __init__(self) -> None:
            self.me = self

        def __del__(self) -> None:
            cache.clear()

    for i, v in enumerate(values):
        cache[i] = v
    del v
    values_ids = [id(v) for v in values]
    del values  # the cache holds the only references
    old = gc.get_threshold()
    gc.collect()
    Fin()  # garbage in a cycle: the next collection runs __del__
    gc.set_threshold(1)
    try:
        key, value = cache.popitem()
    finally:
        gc.set_threshold(*old)
    assert key == 0 and id(value) == values_ids[0] and type(value) is object
    assert len(cache) == 0  # the finalizer ran and cleared the rest
    cache._check()


@pytest.mark.parametrize("where", ["timer", "key_eq", "size_of"])
def test_lru_refuses_reinit_from_code_run_inside_set(where: str) -> None:
    state: dict[str, Any] = {"armed": False}
    cache: OptimizedLRU[Any, int]

    def reinit() -> None:
        cache.__init__(8, max_weight=1, size_of=lambda k, v: 1)  # type: ignore[misc]

    def timer() -> float:
        if where == "timer" and state["armed"]:
            state["armed"] = False
            reinit()
        return 1000.0

    def size_of(k: object, v: object) -> int:
        if where == "size_of" and state["armed"]:
            state["armed"] = False
            reinit()
        return 5

    cache = OptimizedLRU(100, ttl=60, max_weight=1000, size_of=size_of, timer=timer)
    keys = [Reenter(7, reinit if where == "key_eq" else None) for _ in range(3)]
    for i in range(20):
        cache[i] = i
    cache[keys[0]] = 1
    keys[1].armed = state["armed"] = True
    with pytest.raises(RuntimeError, match="cannot be called on an initialised"):
        cache[keys[1]] = 2  # __eq__ against keys[0] (same hash), or the timer, or size_of
    cache._check()
    assert cache.max_weight == 1000 and cache.max_size == 100
    cache[keys[2]] = 3  # still usable
    cache._check()


def test_lru_init_runs_once_even_on_an_object_made_by_new() -> None:
    cache = OptimizedLRU.__new__(OptimizedLRU)
    cache["early"] = 1  # a bare instance is a valid one-slot cache
    cache.__init__(4)  # type: ignore[misc]
    assert len(cache) == 0 and cache.max_size == 4
    with pytest.raises(RuntimeError):
        cache.__init__(4)  # type: ignore[misc]


def test_weight_eviction_never_reads_past_an_emptied_cache() -> None:
    # A bare instance (weightless) is re-sized by __init__ from a key's __eq__ mid-set: the
    # weight computed before must not drive evictions past the empty cache.
    cache = OptimizedLRU.__new__(OptimizedLRU)
    a, b = Reenter(3), Reenter(3)
    cache[a] = 1
    b.action = lambda: cache.__init__(8, max_weight=1, size_of=lambda k, v: 1)  # type: ignore[misc]
    b.armed = True
    try:
        cache[b] = 2
    except (RuntimeError, ValueError):
        pass
    cache._check()


@pytest.mark.parametrize("op", ["pop", "delete", "delitem", "popitem"])
def test_removed_value_is_released_when_on_evict_raises(op: str) -> None:
    def on_evict(k: object, v: object, reason: str) -> None:
        raise ValueError("listener failed")

    value = object()
    before = sys.getrefcount(value)
    cache = OptimizedLRU(4, on_evict=on_evict)
    for _ in range(20):
        cache["k"] = value
        with pytest.raises(ValueError, match="listener failed"):
            if op == "pop":
                cache.pop("k")
            elif op == "delete":
                cache.delete("k")
            elif op == "delitem":
                del cache["k"]
            else:
                cache.popitem()
        assert "k" not in cache
    assert sys.getrefcount(value) == before


def test_hot_keys_accepts_any_large_n() -> None:
    cache = OptimizedLRU(8)
    for k in "abc":
        cache[k] = k
    assert cache["b"] == "b"
    for n in (2**63, 2**64, 2**200):
        assert cache.hot_keys(n)[0] == "b" and len(cache.hot_keys(n)) == 3


OOM_SCRIPT = """
from defiperf import OptimizedLRU
# 256 MiB more address space: the storage's next doubling (a large block) is what fails.
limit_address_space(2**28)
try:
    cache = OptimizedLRU(2**30)
    for i in range(2**30):  # storage grown with the entries: fill until it runs out
        cache[i] = None
except MemoryError as exc:
    print("MemoryError:", exc)
"""


@needs_address_limit
def test_memory_error_says_what_could_not_be_allocated(tmp_path: Any) -> None:
    out = run_limited(OOM_SCRIPT, tmp_path)
    assert out.returncode == 0, out.stderr
    message = out.stdout.strip()
    assert message.startswith("MemoryError: OptimizedLRU"), message
    assert "None" not in message


# ------------------------------------------------------------------ RingBuffer


def test_push_refuses_reinit_from_float() -> None:
    buf = RingBuffer(4)
    evil = Reenter(0, lambda: buf.__init__(4, [f"f{i}" for i in range(5)]), value=2.0)
    evil.armed = True
    with pytest.raises(RuntimeError):
        buf.push(1.0, evil, 3.0)
    assert len(buf) == 0 and buf.fields == ("timestamp", "price", "volume")
    buf.push(1.0, 2.0, 3.0)
    assert buf[-1] == (1.0, 2.0, 3.0)


def test_push_many_refuses_reinit_from_float() -> None:
    buf = RingBuffer(4, ["x"])
    evil = Reenter(0, lambda: buf.__init__(4, [f"f{i}" for i in range(64)]))
    evil.armed = True
    rows = np.array([[evil], [1.0]], dtype=object)
    with pytest.raises(RuntimeError):
        buf.push_many(rows)
    assert len(buf) == 0 and buf.fields == ("x",)


def test_push_on_a_bare_instance_reinitialised_mid_call_stores_nothing_uninitialised() -> None:
    buf = RingBuffer.__new__(RingBuffer)  # one field, "value", until __init__ runs
    evil = Reenter(0, lambda: buf.__init__(4, [f"f{i}" for i in range(5)]))
    evil.armed = True
    with pytest.raises(RuntimeError, match="changed during push"):
        buf.push(evil)
    assert len(buf) == 0


def test_field_name_whose_hash_reinitialises() -> None:
    class EvilName(str):
        armed = False

        def __hash__(self) -> int:
            if self.armed:
                self.armed = False
                buf.__init__(4, ["only"])
            return str.__hash__(self)

        __eq__ = str.__eq__

    buf = RingBuffer(4, [f"f{i}" for i in range(64)])
    buf.push(*range(64))
    name = EvilName("f63")
    name.armed = True
    with pytest.raises(RuntimeError):
        buf.mean(name)
    assert buf.mean("f63") == 63.0


def test_getitem_with_an_int_subclass_that_clears() -> None:
    buf = RingBuffer(4)
    for t in range(4):
        buf.push(t, 1.0, 1.0)

    class EvilIndex(int):
        def __lt__(self, other: object) -> bool:
            buf.clear()
            return int(self) < int(other)  # type: ignore[call-overload]

        def __le__(self, other: object) -> bool:
            buf.clear()
            return int(self) <= int(other)  # type: ignore[call-overload]

        def __ge__(self, other: object) -> bool:
            buf.clear()
            return int(self) >= int(other)  # type: ignore[call-overload]

    with pytest.raises(IndexError):
        buf[EvilIndex(3)]


# ------------------------------------------------------------------ BloomFilter, MetricStore


def test_bloom_and_metric_store_init_run_once() -> None:
    bloom = BloomFilter(100)
    bloom.add("x")
    with pytest.raises(RuntimeError):
        bloom.__init__(10)  # type: ignore[misc]
    assert "x" in bloom and bloom.copy().bit_count == bloom.bit_count
    with pytest.raises(RuntimeError):
        bloom.copy().__init__(10)  # type: ignore[misc]
    store = MetricStore(window_s=4, window_slots=2)
    with pytest.raises(RuntimeError):
        store.__init__(window_s=100, window_slots=50)  # type: ignore[misc]
    assert store.window_slots == 2


# ------------------------------------------------------------------ a short random smoke


def test_random_reentrant_operations_keep_every_structure_valid() -> None:
    """Random operations where keys and values re-enter their cache; short enough for ASan."""
    rng = np.random.default_rng(14)
    cache: OptimizedLRU[Any, Any] = OptimizedLRU(16, ttl=5.0, policy="tinylfu",
                                                 max_weight=40, size_of=lambda k, v: 3)
    ops: list[Callable[[], object]] = [
        lambda: cache.clear(), lambda: cache.popitem() if len(cache) else None,
        lambda: cache.resize(int(rng.integers(1, 32))), lambda: cache.expire(),
        lambda: cache.keys(), lambda: cache.copy(), lambda: cache.hot_keys(3),
        lambda: cache.__init__(4),  # type: ignore[misc]
    ]
    for step in range(3000):
        h = int(rng.integers(0, 24))
        key = Reenter(h, ops[int(rng.integers(0, len(ops)))])
        key.armed = bool(rng.random() < 0.3)
        try:
            if step % 3 == 0:
                cache[key] = Reenter(h)
            elif step % 3 == 1:
                cache.get(key)
            else:
                cache.pop(key, None)
        except (RuntimeError, KeyError):
            pass
        if step % 100 == 0:
            cache._check()
    cache._check()


def test_random_reentrant_ring_and_bloom_operations() -> None:
    """Values whose __float__ / __index__ re-enter their buffer or filter; short enough for ASan."""
    rng = np.random.default_rng(41)
    buf = RingBuffer(8)
    bloom = BloomFilter(200)
    ring_ops: list[Callable[[], object]] = [
        buf.clear, lambda: buf.push(1.0, 2.0, 3.0), lambda: buf.mean("price"),
        lambda: buf.get_latest(3), lambda: list(buf), lambda: buf.view(),
        lambda: buf.__init__(3, ["a"]),  # type: ignore[misc]
        lambda: buf.push_many(np.ones((5, 3))),
    ]
    bloom_ops: list[Callable[[], object]] = [
        bloom.clear, lambda: bloom.add_many(range(50)), lambda: bloom.copy(),
        lambda: bloom.__init__(10),  # type: ignore[misc]
        lambda: bloom | bloom, lambda: len(bloom),
    ]

    class Index:
        def __init__(self, value: int, action: Callable[[], object]) -> None:
            self.value, self.action = value, action

        def __index__(self) -> int:
            self.action()
            return self.value

    t = 0.0
    for step in range(2000):
        t += 1.0
        evil = Reenter(0, ring_ops[int(rng.integers(0, len(ring_ops)))], value=float(step))
        evil.armed = True
        try:
            if step % 4 == 0:
                buf.push(t, evil, 1.0)
            elif step % 4 == 1:
                buf.push_many(np.array([[t + 0.5, evil, 2.0]], dtype=object))
            elif step % 4 == 2:
                buf.push({"timestamp": t, "price": evil, "volume": 1.0})
            else:
                key = Index(step, bloom_ops[int(rng.integers(0, len(bloom_ops)))])
                bloom.add(key)
                assert step in bloom
                bloom.contains_many([key, Index(step + 1, bloom.clear)])
        except (RuntimeError, ValueError, BufferError):
            pass
        if len(buf):
            assert math.isfinite(buf.mean("price")) and buf[-1].timestamp <= t + 0.5
    assert buf.capacity == 8 and buf.fields == ("timestamp", "price", "volume")
