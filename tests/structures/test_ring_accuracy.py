"""RingBuffer window statistics stay accurate whatever passed through the window, and batches
with a shape that does not map onto rows are refused (issue 14)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from defiperf import RingBuffer
from reference import ring_stats_match

pytestmark = pytest.mark.usefixtures("refcount_guard")


def close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-300)


def test_the_issue_window_after_a_huge_volume_left() -> None:
    buf = RingBuffer(2)
    buf.push(0.0, 3412.5, 1e15)
    buf.push(1.0, 2.0, 0.001)
    buf.push(2.0, 3412.5, 0.0)  # the 1e15 row leaves: window (2, 0.001), (3412.5, 0)
    assert close(buf.mean("volume"), 0.0005)
    assert close(buf.vwap(), 2.0)
    assert close(buf.var("volume"), 0.00000025)


def test_random_windows_with_huge_values_passing_through() -> None:
    rng = np.random.default_rng(14)
    for capacity in (1, 2, 3, 7, 32):
        buf = RingBuffer(capacity)
        rows: list[tuple[float, float, float]] = []
        for t in range(3000):
            kind = rng.random()
            if kind < 0.02:
                volume = float(10.0 ** rng.integers(10, 16))
            elif kind < 0.1:
                volume = 0.0
            else:
                volume = float(rng.choice([1e-3, 0.5, 2.0]) * rng.random())
            price = float(rng.choice([2.0, 3412.5, 1e6, 1e-4]))
            buf.push(float(t), price, volume)
            rows = (rows + [(float(t), price, volume)])[-capacity:]
            ring_stats_match(buf, rows)


def test_prices_far_from_the_first_row_keep_their_variance() -> None:
    buf = RingBuffer(4)
    buf.push(0.0, 1e12, 1.0)
    for t in range(1, 40):
        buf.push(float(t), 1.0 + (t % 2), 1.0)  # 1, 2, 1, 2: variance 0.25
    assert close(buf.var("price"), 0.25)
    assert close(buf.mean("price"), 1.5)


def test_push_many_refuses_sub_array_fields() -> None:
    buf = RingBuffer(8, ["a", "b"])
    arr = np.zeros(3, dtype=[("a", "f8", (2,)), ("b", "f8")])
    with pytest.raises(ValueError, match="sub-arrays"):
        buf.push_many(arr)
    assert len(buf) == 0


def test_push_many_refuses_two_dimensional_structured_arrays() -> None:
    buf = RingBuffer(8, ["a", "b"])
    arr = np.zeros((2, 3), dtype=[("a", "f8"), ("b", "f8")])
    arr["a"] = np.arange(6).reshape(2, 3)
    with pytest.raises(ValueError, match="1-D"):
        buf.push_many(arr)
    assert len(buf) == 0
    buf.push_many(arr[0])  # one row of records is fine
    assert [tuple(r) for r in buf] == [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0)]


def test_push_many_refuses_two_dimensional_dict_columns() -> None:
    buf = RingBuffer(8, ["a", "b"])
    with pytest.raises(ValueError, match="1-D"):
        buf.push_many({"a": np.zeros((2, 2)), "b": np.zeros(4)})
    assert len(buf) == 0
