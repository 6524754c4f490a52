"""OptimizedLRU's key comparison without Python code (exact str and exact int keys are compared
in C; every other pair goes to ``==``): equal-hash keys stay apart, equal keys that are other
objects are found, and subclasses still have their ``__eq__`` called."""

from __future__ import annotations

import sys

import pytest

from defiperf import OptimizedLRU

pytestmark = pytest.mark.usefixtures("refcount_guard")

MODULUS = sys.hash_info.modulus  # ints that differ by it hash alike


def fresh_int(n: int) -> int:
    """An int equal to n that is not the object n (ints outside the small-int cache)."""
    return int(str(n))


def fresh_str(s: str) -> str:
    """A str equal to s that is not the object s."""
    return "".join(list(s))


@pytest.mark.parametrize("policy", OptimizedLRU.POLICIES)
@pytest.mark.parametrize("pair", [
    (5, MODULUS + 5),                       # both fit 64 bits
    (MODULUS + 5, 2 * MODULUS + 5),
    (2**70, 2**70 + MODULUS),               # beyond 64 bits: compared by ==
    (-(MODULUS + 5), -5),
    (-1, -2),                               # hash(-1) is -2
    (0, MODULUS),                           # zero has no digits
    (2**30 - 1, 2**30 - 1 + MODULUS),       # one 30-bit digit, then three
    (-(2**70), -(2**70) - MODULUS),         # negative, several digits
])
def test_equal_hash_ints_stay_apart(policy: str, pair: tuple[int, int]) -> None:
    a, b = pair
    assert hash(a) == hash(b) and a != b
    c = OptimizedLRU(8, policy=policy)
    c[a], c[b] = "a", "b"
    assert c[fresh_int(a)] == "a" and c[fresh_int(b)] == "b"
    assert fresh_int(a) in c and fresh_int(b) in c
    c[fresh_int(b)] = "B"  # an overwrite finds the stored key, not the other one
    assert len(c) == 2 and c[a] == "a" and c[b] == "B"
    del c[fresh_int(a)]
    assert a not in c and c[b] == "B"
    c._check()


@pytest.mark.parametrize("text", ["token:12345", "caf\u00e9-latin1", "\u0119\u0119-ucs2",
                                  "\U0001f600-ucs4", ""])
def test_equal_str_objects_are_found(text: str) -> None:
    c = OptimizedLRU(4)
    c[text] = 1
    other = fresh_str(text)
    assert other == text and (other is not text or len(text) <= 1)
    assert c[other] == 1 and c.get(fresh_str(text)) == 1
    c[fresh_str(text)] = 2
    assert len(c) == 1 and c[text] == 2 and c.access_count(text) == 4
    c._check()


def test_strings_of_one_length_and_other_kinds_differ() -> None:
    c = OptimizedLRU(8)
    keys = ["ab\u00e9", "ab\u0119", "ab\U0001f600", "abe"]
    for i, k in enumerate(keys):
        c[k] = i
    for i, k in enumerate(keys):
        assert c[fresh_str(k)] == i
    assert "ab\u00ea" not in c


def test_mixed_types_still_compare_by_eq() -> None:
    """1, 1.0 and True are one key (as in a dict): the pair is not two exact ints."""
    c = OptimizedLRU(4)
    c[fresh_int(1 << 40)] = "int"
    assert c[float(1 << 40)] == "int"
    c[1] = "one"
    assert c[True] == "one" and c[1.0] == "one"
    assert len(c) == 2


class CountingStr(str):
    calls = 0

    def __eq__(self, other: object) -> bool:
        CountingStr.calls += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_subclass_keys_run_their_eq() -> None:
    c = OptimizedLRU(4)
    c[CountingStr("key")] = 1
    CountingStr.calls = 0
    assert c[fresh_str("key")] == 1  # stored key is a subclass: == decides, its __eq__ runs
    assert CountingStr.calls == 1
    c2 = OptimizedLRU(4)
    c2["key"] = 2
    assert c2[CountingStr("key")] == 2
    assert CountingStr.calls == 2


# ------------------------------------------------------------------ the evicting write


@pytest.mark.parametrize("policy", OptimizedLRU.POLICIES)
def test_evicting_write_counts_and_orders(policy: str) -> None:
    """A write to a full cache with no expiry, on_evict or weight bound (one step in C)."""
    c = OptimizedLRU(3, policy=policy)
    for k in range(10):
        c[fresh_int(1000 + k)] = k
        assert len(c) == min(k + 1, 3)
        assert 1000 + k in c  # the key just written is never its own victim
        c._check()
    assert c.stats().evictions == 7
    if policy == "lru":
        assert c.keys() == [1009, 1008, 1007]


class Reentrant:
    """A value whose finalizer writes into (and reads) the cache that held it."""

    def __init__(self, cache: OptimizedLRU, tag: int) -> None:
        self.cache, self.tag = cache, tag

    def __del__(self) -> None:
        self.cache[("gone", self.tag)] = self.tag
        self.cache.get(("gone", self.tag))


def test_evicted_value_finalizer_reenters_a_consistent_cache() -> None:
    c = OptimizedLRU(4)
    for k in range(4):
        c[k] = Reentrant(c, k)  # each eviction below frees one of these
    for k in range(4, 12):
        c[k] = k
        c._check()
    assert len(c) == 4 and c.stats().evictions >= 8
    assert all(isinstance(v, int) for v in c.values())
