"""Keys of decorated functions: signature-normalised, content keys for arrays/lists/dicts/sets,
equality keys in L1, a stable digest for the shared tiers, TypeError for identity-only
arguments, key= checked at decoration time; and the decorated function's helpers."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from defiperf.cache import CacheConfig, SyncCacheManager
from defiperf.cache.keys import FunctionKey, check_key, encode, escape_glob


@pytest.fixture
def cache(tmp_path: Path) -> Any:
    with SyncCacheManager(CacheConfig(disk_dir=str(tmp_path / "l3"))) as c:
        yield c


def counted(cache: Any, **kw: Any) -> Any:
    @cache.cached(ttl=60, **kw)
    def fn(*args: Any, **kwargs: Any) -> int:
        fn.calls += 1  # type: ignore[attr-defined]
        return fn.calls  # type: ignore[attr-defined, no-any-return]
    fn.calls = 0  # type: ignore[attr-defined]
    return fn


def test_long_numpy_arrays_differing_at_one_index_are_different_keys(cache: Any) -> None:
    @cache.cached(ttl=60)
    def total(prices: np.ndarray) -> float:
        return float(prices.sum())

    a = np.zeros(5000)
    b = a.copy()
    b[2500] = 1.0
    assert total(a) == 0.0 and total(b) == 1.0
    assert total(a.copy()) == 0.0 and total.cache_info().hits == 1  # by content


def test_positional_keyword_and_default_spellings_are_one_key(cache: Any) -> None:
    calls = 0

    @cache.cached(ttl=60)
    def price(pair: str, venue: str = "uni") -> int:
        nonlocal calls
        calls += 1
        return calls

    assert price("ETH") == price("ETH", "uni") == price(pair="ETH", venue="uni") == price(
        venue="uni", pair="ETH") == 1
    assert price("ETH", "curve") == 2
    assert price.key("ETH") == price.key(pair="ETH", venue="uni")


def test_dicts_and_sets_key_by_content_in_any_order(cache: Any) -> None:
    fn = counted(cache)
    assert fn({"a": 1, "b": 2}) == fn({"b": 2, "a": 1}) == 1
    assert fn({1, 2, 3}) == fn({3, 2, 1}) == 2
    assert fn([1, 2]) == 3 and fn((1, 2)) == 4  # list and tuple are different types
    assert fn(list(range(2000))) == 5 and fn(list(range(2000))) == 5  # long arguments work


def test_identity_only_arguments_are_a_type_error_naming_them(cache: Any) -> None:
    class Opaque:
        pass

    @cache.cached(ttl=60)
    def fn(pair: str, client: Any) -> int:
        return 1

    with pytest.raises(TypeError, match="'client'.*identity"):
        fn("ETH", Opaque())


def test_equality_only_arguments_key_in_l1_and_never_reach_shared_tiers(cache: Any) -> None:
    class Pair:
        def __init__(self, a: str, b: str) -> None:
            self.a, self.b = a, b

        def __eq__(self, other: object) -> bool:
            return isinstance(other, Pair) and (self.a, self.b) == (other.a, other.b)

        def __hash__(self) -> int:
            return hash((self.a, self.b))

    fn = counted(cache)
    assert fn(Pair("ETH", "USDC")) == fn(Pair("ETH", "USDC")) == 1
    key = fn.key(Pair("ETH", "USDC"))
    assert isinstance(key, tuple)  # L1 only
    assert cache.l3 is not None and list(cache.l3._cache.iterkeys()) == []


def test_cache_key_hook_gives_a_type_a_shared_key(cache: Any) -> None:
    class Token:
        def __init__(self, symbol: str) -> None:
            self.symbol = symbol

        def __cache_key__(self) -> str:
            return self.symbol

    fn = counted(cache)
    assert fn(Token("ETH")) == fn(Token("ETH")) == 1 and isinstance(fn.key(Token("ETH")), str)


def test_shared_keys_are_short_and_stable_across_processes(cache: Any, tmp_path: Path) -> None:
    fn = counted(cache)
    args = ({"b": [1.5, None], "a": {3, 1}}, decimal.Decimal("1.10"), uuid.UUID(int=7),
            datetime.date(2026, 12, 1), np.arange(3, dtype=np.int32))
    key = fn.key(*args)
    assert isinstance(key, str) and len(key) < 200
    code = (
        "import datetime, decimal, uuid, numpy as np\n"
        "from defiperf.cache.keys import FunctionKey\n"
        "def fn(*args, **kwargs): pass\n"
        f"fn.__module__, fn.__qualname__ = {fn.__module__!r}, {fn.__qualname__!r}\n"
        "args = ({'a': {1, 3}, 'b': [1.5, None]}, decimal.Decimal('1.1'), uuid.UUID(int=7), "
        "datetime.date(2026, 12, 1), np.arange(3, dtype=np.int32))\n"
        "print(FunctionKey(fn)(args, {}))\n")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}, check=True,
                             cwd=tmp_path)  # not the source tree: it would shadow the install
        assert out.stdout.strip() == key


def test_key_template_and_callable(cache: Any) -> None:
    @cache.cached(ttl=60, key="price:{pair}:{venue}")
    def price(pair: str, venue: str = "uni") -> str:
        return f"{pair}@{venue}"

    assert price("ETH") == "ETH@uni" and price.key("ETH") == "price:ETH:uni"
    assert cache.get("price:ETH:uni") == "ETH@uni"

    @cache.cached(ttl=60, key=lambda pair: f"p:{pair}")
    def other(pair: str) -> str:
        return pair

    assert other("BTC") == "BTC" and cache.get("p:BTC") == "BTC"


@pytest.mark.parametrize("template", ["price:{pai}", "price:{0}", "price:{"])
def test_a_bad_key_template_fails_at_decoration_time(cache: Any, template: str) -> None:
    with pytest.raises(ValueError, match="template"):
        @cache.cached(ttl=60, key=template)
        def price(pair: str) -> str:
            return pair


def test_methods_leave_self_out(cache: Any) -> None:
    class Feed:
        calls = 0

        @cache.cached(ttl=60)
        def price(self, pair: str) -> int:
            Feed.calls += 1
            return Feed.calls

    assert Feed().price("ETH") == Feed().price("ETH") == 1  # one key for every instance


def test_helpers(cache: Any) -> None:
    fn = counted(cache)
    assert fn(1) == 1 and fn(1) == 1 and fn(2) == 2
    assert fn.cache_info() == (1, 2)
    assert fn.invalidate(1) is True and fn(1) == 3
    assert fn.refresh(2) == 4 and fn(2) == 4
    fn.cache_clear()
    assert cache.l1 is not None
    cache.l1.clear()
    assert fn(1) == 5 and fn(2) == 6  # gone from L1 and disk
    assert fn.cache_info() == (0, 2)


def test_plain_keys() -> None:
    assert check_key(b"pair") == "pair"
    with pytest.raises(TypeError):
        check_key(("t",))
    with pytest.raises(ValueError):
        check_key("k" * 5000)
    assert escape_glob("prod*[a]?\\") == "prod\\*\\[a\\]\\?\\\\"


def test_encoding_is_type_tagged() -> None:
    assert encode(1) != encode(1.0) != encode("1") != encode(b"1") != encode(True)
    assert encode(["a", "b"]) != encode(["ab"])  # length-prefixed strings
    assert encode(0.0) == encode(-0.0)
    with pytest.raises(TypeError, match="objects"):
        encode(np.array([object()]))

    @dataclasses.dataclass(frozen=True)
    class P:
        x: int
    assert encode(P(1)) == encode(P(1)) != encode(P(2))


def test_function_key_rejects_bad_key_types() -> None:
    with pytest.raises(TypeError, match="key must be"):
        FunctionKey(lambda x: x, key=42)  # type: ignore[arg-type]


def test_arguments_whose_hash_or_eq_raise(cache: Any) -> None:
    class BadHash:
        def __eq__(self, other: object) -> bool:
            return True

        def __hash__(self) -> int:
            raise RuntimeError("no hash")

    class BadEq:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no eq")

        def __hash__(self) -> int:
            return 7

    fn = counted(cache)
    with pytest.raises(TypeError, match="'args'"):
        fn(BadHash())
    first = BadEq()
    assert fn(first) == 1 and fn(first) == 1  # identity short-cuts __eq__
    with pytest.raises(RuntimeError, match="no eq"):
        fn(BadEq())  # an equal hash: the comparison raises, as in functools.lru_cache
    assert fn("still", "works") == 2 and fn("still", "works") == 2
    assert cache.l1 is not None
    cache.l1.lru._check()  # the structure is consistent


_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=6)
            | st.binary(max_size=6) | st.floats(allow_nan=False))
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    | st.frozensets(st.integers() | st.text(max_size=4), max_size=4),
    max_leaves=12)


def _same_type_tree(a: Any, b: Any) -> bool:
    """a == b with the same types all the way down (what the encoding distinguishes)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_type_tree(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_type_tree(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b or (a == 0 and b == 0)
    return bool(a == b)


@given(_values, _values)
def test_encoding_is_equal_exactly_for_equal_typed_values(a: Any, b: Any) -> None:
    assert (encode(a) == encode(b)) == _same_type_tree(a, b)


@given(st.dictionaries(st.text(max_size=4), st.integers(), max_size=6), st.randoms())
def test_dict_and_set_keys_ignore_order(d: dict[str, int], rnd: Any) -> None:
    items = list(d.items())
    rnd.shuffle(items)
    assert encode(dict(items)) == encode(d)
    assert encode(set(d)) == encode(set(reversed(list(d))))
