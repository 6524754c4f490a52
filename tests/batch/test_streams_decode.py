"""Stream entries come from a shared Redis: decoding them is bounded before any object is made."""

from __future__ import annotations

import msgpack
import pytest

from defiperf.batch.streams import _pack, _unpack


def test_ordinary_items_round_trip() -> None:
    items = [{"tx": "0xab", "value": 3, "path": ["a", "b"]}, None, 1.5, b"raw"]
    assert _unpack(_pack(items)) == items


def test_nesting_past_the_bound_is_refused_before_decoding() -> None:
    deep = b"\x91" * 600 + b"\xc0"          # 600 nested one-element arrays
    with pytest.raises(ValueError, match="deeper"):
        _unpack(deep)


def test_a_few_bytes_cannot_ask_for_millions_of_objects() -> None:
    # An array32 header claiming 2**31 elements, each one byte: refused, not allocated.
    bomb = b"\xdd\x7f\xff\xff\xff" + b"\x80" * 64
    with pytest.raises(ValueError):
        _unpack(bomb)


def test_truncated_and_trailing_bytes_are_refused() -> None:
    good = msgpack.packb([1, 2, 3])
    for bad in (good[:-1], good + b"\x01"):
        with pytest.raises(ValueError):
            _unpack(bad)
