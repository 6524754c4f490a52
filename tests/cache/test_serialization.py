"""Serializer: msgpack round trips (Decimal, numpy, datetime, tuple, set), compression, and no
unpickling unless opted in."""

from __future__ import annotations

import datetime
import pickle
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from defiperf.cache import SerializationError, Serializer

plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
    | st.text() | st.binary() | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    | st.tuples(inner, inner),
    max_leaves=20,
)


@given(plain, st.sampled_from([None, 0, 64]))
def test_round_trip(value: Any, threshold: int | None) -> None:
    s = Serializer(threshold)
    assert s.loads(s.dumps(value)) == value


def test_numpy_datetime_set_and_compression() -> None:
    s = Serializer(compress_threshold_bytes=100)
    arr = np.arange(1000, dtype=np.float32).reshape(10, 100)
    when = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.timezone.utc)
    data = s.dumps({"a": arr, "t": when, "s": {1, 2}, "amount": Decimal("1e-18")})
    assert data[:1] == b"Z" and len(data) < arr.nbytes
    back = s.loads(data)
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], arr)
    assert back["t"] == when and back["s"] == {1, 2} and back["amount"] == Decimal("1e-18")


@pytest.mark.parametrize("value", [object(), {"f": lambda: 1}, np.array([object()]), [complex(1, 2)]])
def test_unserializable_values_raise_a_clear_error(value: Any) -> None:
    with pytest.raises((SerializationError, TypeError)):
        Serializer().dumps(value)


def test_pickles_are_never_loaded_without_opt_in() -> None:
    evil = b"P" + pickle.dumps({"x": 1})
    with pytest.raises(SerializationError, match="unpickle"):
        Serializer().loads(evil)
    trusted = Serializer(allow_pickle=True, use_pickle=True)
    assert trusted.loads(trusted.dumps({"x": object.__name__})) == {"x": "object"}
    with pytest.raises(ValueError, match="allow_pickle"):
        Serializer(use_pickle=True)


def test_unknown_format_byte() -> None:
    with pytest.raises(SerializationError, match="format"):
        Serializer().loads(b"X123")


def test_doctest() -> None:
    import doctest

    import defiperf.cache.serialization as module

    assert doctest.testmod(module).failed == 0
