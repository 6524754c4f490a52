"""The msgpack validator (defiperf._msgcheck) against the serializer and the decoders:
it accepts every payload the serializer writes, and for random or mutated bytes it never
crashes and either refuses them or lets them decode to what an independent msgpack parser reads.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import msgpack  # type: ignore[import-untyped]
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from defiperf.cache import SerializationError, Serializer
from defiperf.cache import serialization as ser
from defiperf._msgcheck import check_msgpack

scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
           | st.text(max_size=10) | st.binary(max_size=10)
           | st.decimals(allow_nan=False, allow_infinity=False) | st.datetimes() | st.dates()
           | st.times() | st.timedeltas() | st.uuids())
hashable = st.integers(-1000, 1000) | st.text(max_size=5)
arrays = st.builds(lambda n, dt: np.arange(n).astype(dt), st.integers(0, 6),
                   st.sampled_from(["<i4", "<f8", "|u1"]))
values = st.recursive(
    scalars | arrays,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    | st.tuples(inner, inner) | st.frozensets(hashable, max_size=4) | st.sets(hashable, max_size=4)
    | st.tuples(st.frozensets(hashable, max_size=2)),
    max_leaves=25,
)


def check(body: bytes) -> None:
    check_msgpack(body, ser.DEFAULT_MAX_DEPTH, ser.DEFAULT_MAX_ITEMS, ser._NESTED_MASK,
                  ser._PREFIX_MASK)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and a.tobytes() == b.tobytes())
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and (a == b or repr(a) == repr(b))


def reference(body: bytes) -> Any:
    """msgpack-python's reading of body, with our extension types (an independent parser)."""
    limit = len(body)

    def hook(code: int, data: bytes) -> Any:
        if code in ser._NESTING_EXTS:
            items = unpack(data)
            if not isinstance(items, list):
                raise ValueError("not an array")
            return ser._NESTING_EXTS[code](items)
        if code == ser._EXT_NDARRAY:
            return ser._decode_ndarray(data)
        return ser._LEAF_EXTS[code](data)

    def unpack(data: bytes) -> Any:
        return msgpack.unpackb(data, ext_hook=hook, raw=False, strict_map_key=False,
                               max_str_len=limit, max_bin_len=limit, max_array_len=limit,
                               max_map_len=limit, max_ext_len=limit)
    return unpack(body)


@given(values, st.sampled_from([None, 0, 64]))
def test_everything_the_serializer_writes_is_accepted_and_round_trips(
        value: Any, threshold: int | None) -> None:
    s = Serializer(threshold)
    try:
        payload = s.dumps(value)
    except SerializationError as exc:  # only a value nested beyond max_depth is refused
        assert "max_depth" in str(exc)
        return
    body = Serializer(None).dumps(value)[1:]
    check(body)
    assert same(s.loads(payload), value)
    assert same(reference(body), value)


STRUCTURAL = ("truncated", "after its value", "malformed")


def agree(body: bytes) -> None:
    """The validator refuses body, or the decoder and the reference parser read it alike."""
    try:
        check(body)
    except ValueError as exc:
        if any(word in str(exc) for word in STRUCTURAL):
            with pytest.raises(Exception):  # noqa: B017 - any error of the reference parser
                reference(body)
        return
    try:
        ours = Serializer().loads(b"M" + body)
    except Exception:
        return  # well-formed msgpack our types refuse (an unknown extension, a bad date)
    try:
        theirs = reference(body)
    except Exception:
        return  # msgspec is more lenient in a few places (e.g. a bin as a map key)
    assert same(ours, theirs)


@given(st.binary(max_size=200))
def test_random_bytes_never_crash_and_agree(body: bytes) -> None:
    agree(body)


@given(values, st.data())
def test_mutated_payloads_never_crash_and_agree(value: Any, data: st.DataObject) -> None:
    try:
        body = bytearray(Serializer(None).dumps(value)[1:])
    except SerializationError:
        assume(False)
        return
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, max(0, len(body) - 1)))
        if action == "flip" and body:
            body[at] = data.draw(st.integers(0, 255))
        elif action == "insert":
            body[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and body:
            del body[at]
        elif action == "truncate":
            del body[at:]
    agree(bytes(body))


def test_known_values_are_counted_and_nested_as_documented() -> None:
    def counts(value: Any, depth: int, items: int) -> bool:
        body = Serializer(None).dumps(value)[1:]
        try:
            check_msgpack(body, depth, items, ser._NESTED_MASK, ser._PREFIX_MASK)
        except ValueError:
            return False
        return True

    assert counts([], 1, 1) and not counts([], 0, 1) and not counts([1], 1, 1)
    assert counts({"a": 1}, 1, 3) and not counts({"a": 1}, 1, 2)  # the map, a key, a value
    assert counts((1, 2), 1, 4) and not counts((1, 2), 1, 3)  # the extension, its array, 2 items
    assert counts([(1,)], 2, 4) and not counts([(1,)], 1, 4)  # a tuple in a list: 2 levels
    assert counts(decimal.Decimal("1.5"), 0, 1) and counts(uuid.uuid4(), 0, 1)
    assert counts(datetime.timedelta(1), 1, 5)
    # the extension, its [dtype, shape] header, the shape list and 3: 5 objects, 2 levels
    assert counts(np.zeros(3), 2, 5) and not counts(np.zeros(3), 1, 5) and not counts(np.zeros(3), 2, 4)
    with pytest.raises(ValueError, match="max_depth"):
        check_msgpack(b"\xc0", -1, 1)
    with pytest.raises(TypeError):
        check_msgpack("text", 1, 1)  # type: ignore[arg-type]
