"""RingBuffer: deque-like behaviour, batches, views, statistics against numpy, errors."""

from __future__ import annotations

import doctest
import math
from collections import deque

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import defiperf.structures.ring as ring_module
from defiperf import BufferFull, RingBuffer, create_price_buffer

pytestmark = pytest.mark.usefixtures("refcount_guard")


def filled(n: int, capacity: int, **kwargs: object) -> RingBuffer:
    buf = RingBuffer(capacity, **kwargs)  # type: ignore[arg-type]
    for t in range(n):
        buf.push(float(t), 100.0 + t, 1.0 + t % 3)
    return buf


def test_behaves_like_a_bounded_deque() -> None:
    buf, model = RingBuffer(4), deque(maxlen=4)
    for t in range(10):
        row = (float(t), 2.0 * t, 1.0)
        buf.push(*row)
        model.append(row)
        assert list(buf) == list(model) and len(buf) == len(model)
    assert buf[0] == model[0] and buf[-1] == model[-1] and buf[-4] == model[0]
    last = buf[-1]
    assert (last.price, last["price"], last[1], last["timestamp"]) == (18.0, 18.0, 18.0, 9.0)
    with pytest.raises(KeyError):
        last["bid"]
    with pytest.raises(IndexError):
        buf[4]
    with pytest.raises(IndexError):
        buf[-5]
    with pytest.raises(TypeError):
        buf["0"]  # type: ignore[index]
    assert buf.is_full and buf.capacity == 4
    buf.clear()
    assert len(buf) == 0 and list(buf) == [] and not buf.is_full


def test_push_forms_and_bad_rows_store_nothing() -> None:
    buf = RingBuffer(5)
    buf.push(1.0, 10.0, 2.0)
    buf.push({"price": 11.0, "volume": 3.0, "timestamp": 2})
    buf.push((2.5, 12.0, 1.0))
    buf.push(np.array([3.0, 13.0, 1.0]))
    assert list(buf) == [(1.0, 10.0, 2.0), (2.0, 11.0, 3.0), (2.5, 12.0, 1.0), (3.0, 13.0, 1.0)]
    buf.clear()
    buf.push(1.0, 10.0, 2.0)
    buf.push(2.0, 11.0, 3.0)
    with pytest.raises(TypeError, match="3 values"):
        buf.push(1.0, 2.0)
    with pytest.raises(TypeError):
        buf.push(3.0, "x", 1.0)
    with pytest.raises(ValueError, match="exactly the fields"):
        buf.push({"timestamp": 3.0, "price": 1.0})
    for bad in ((3.0, math.nan, 1.0), (3.0, 1.0, math.inf), (1.5, 1.0, 1.0)):  # last: time back
        with pytest.raises(ValueError, match="nothing was stored"):
            buf.push(*bad)
    assert len(buf) == 2


def test_full_without_overwrite_raises_bufferfull_and_keeps_rows() -> None:
    buf = filled(3, 3, overwrite_on_full=False)
    with pytest.raises(BufferFull) as err:
        buf.push(9.0, 1.0, 1.0)
    assert isinstance(err.value, OverflowError)
    with pytest.raises(BufferFull):
        buf.push_many(np.zeros((1, 3)) + 10)
    assert [r[0] for r in buf] == [0.0, 1.0, 2.0]


def test_push_many_forms_all_or_nothing() -> None:
    buf = RingBuffer(5)
    buf.push_many(np.array([[0, 1, 1], [1, 2, 2]]))
    buf.push_many({"timestamp": [2, 3], "price": [3, 4], "volume": [3, 4]})
    buf.push_many(np.array([(4.0, 5.0, 5.0)], dtype=buf.get_latest(1).dtype))  # structured
    assert [r[0] for r in buf] == [0.0, 1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="nothing was stored"):
        buf.push_many(np.array([[5, 1, 1], [4, 1, 1]]))  # second row goes back in time
    with pytest.raises(ValueError, match="shape"):
        buf.push_many(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="differ in length"):
        buf.push_many({"timestamp": [9, 10], "price": [1], "volume": [1, 2]})
    assert len(buf) == 5 and buf[-1][0] == 4.0
    buf.push_many(np.column_stack([np.arange(10, 30), np.ones(20), np.ones(20)]))
    assert [r[0] for r in buf] == [25.0, 26.0, 27.0, 28.0, 29.0]  # the last `capacity` rows
    buf.push_many(np.zeros((0, 3)))
    assert len(buf) == 5


def test_get_latest_and_time_queries() -> None:
    buf = filled(10, 6)  # rows t = 4..9
    latest = buf.get_latest(3)
    assert latest.dtype.names == ("timestamp", "price", "volume")
    assert latest["timestamp"].tolist() == [7.0, 8.0, 9.0]
    assert len(buf.get_latest(100)) == 6 and len(buf.get_latest(0)) == 0
    assert buf.between(5, 7)["timestamp"].tolist() == [5.0, 6.0, 7.0]
    assert buf.between(7, 5).tolist() == []
    assert buf.since(8.5)["timestamp"].tolist() == [9.0]
    assert buf.since(-1)["timestamp"].tolist() == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    with pytest.raises(ValueError, match="n must"):
        buf.get_latest(-1)
    with pytest.raises(ValueError, match="NaN"):
        buf.since(math.nan)
    with pytest.raises(ValueError, match="timestamp"):
        RingBuffer(3, fields=("a", "b")).since(0)


def test_view_is_zero_copy_and_read_only() -> None:
    buf = filled(7, 5)  # wraps: storage holds 5,6,2,3,4
    parts = buf.view()
    assert len(parts) == 2
    joined = np.concatenate(parts, axis=1)
    assert joined.shape == (3, 5)
    assert joined[0].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]
    assert not parts[0].flags.writeable
    with pytest.raises(ValueError):
        parts[0][0, 0] = 1.0
    first_ts = parts[0][0, 0]
    buf.push(7.0, 1.0, 1.0)  # overwrites the oldest row in place: the view sees it
    assert parts[0][0, 0] != first_ts and parts[0][0, 0] == 7.0
    assert RingBuffer(3).view() == []
    assert len(filled(2, 5).view()) == 1
    with pytest.raises(RuntimeError):
        buf.__init__(10)  # never re-initialised: it would free the storage under the views
    del parts, joined
    with pytest.raises(RuntimeError):
        buf.__init__(10)  # not even without views: a running method may hold its shape
    assert len(buf) == 5 and buf.capacity == 5


@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(0, 1e3)), min_size=1, max_size=80),
       st.integers(1, 30))
def test_statistics_match_numpy(rows: list[tuple[float, float]], capacity: int) -> None:
    buf = RingBuffer(capacity)
    for t, (price, volume) in enumerate(rows):
        buf.push(float(t), price, volume)
    live = np.array(rows[-capacity:])
    prices, volumes = live[:, 0], live[:, 1]
    assert buf.mean("price") == pytest.approx(prices.mean(), rel=1e-9, abs=1e-6)
    assert buf.var("price") == pytest.approx(prices.var(), rel=1e-6, abs=1e-3)
    assert buf.min("price") == prices.min() and buf.max(1) == prices.max()
    k = max(1, len(prices) // 2)
    assert buf.mean("price", last=k) == pytest.approx(prices[-k:].mean(), rel=1e-9, abs=1e-6)
    assert buf.var("price", last=k) == pytest.approx(prices[-k:].var(), rel=1e-6, abs=1e-3)
    if volumes.sum() > 0:
        assert buf.vwap() == pytest.approx((prices * volumes).sum() / volumes.sum(),
                                           rel=1e-6, abs=1e-6)


def test_vwap_after_large_rows_leave_the_window() -> None:
    # Found by hypothesis: a plain running sum of price * volume kept 2e-8 of rounding from the
    # large rows, which a window of tiny volumes turned into a vwap of -1.4e-6 instead of 0.
    buf = RingBuffer(2)
    for price, volume in [(262939.0, 1000.0), (610718.0406225811, 9.0), (0.0, 0.0),
                          (0.0, 0.015625)]:
        buf.push(0.0, price, volume)
    assert buf.vwap() == 0.0
    buf.push(0.0, 3.0, 0.5)
    assert buf.vwap() == pytest.approx(3.0 * 0.5 / (0.015625 + 0.5), rel=1e-15)


def test_no_drift_over_many_windows() -> None:
    # 2,000,000 pushes through a 1,000-row window: the running sums are rebuilt once per
    # window turnover, so rounding cannot accumulate (1e8 pushes behave the same way).
    rng = np.random.default_rng(7)
    n, cap = 2_000_000, 1000
    price = 3000.0 + np.cumsum(rng.normal(0, 0.5, n))
    volume = rng.uniform(0.1, 10.0, n)
    buf = RingBuffer(cap)
    buf.push_many(np.column_stack([np.arange(n, dtype=np.float64), price, volume]))
    p, v = price[-cap:], volume[-cap:]
    assert buf.mean("price") == pytest.approx(p.mean(), rel=1e-12)
    assert buf.var("price") == pytest.approx(p.var(), rel=1e-9)
    assert buf.vwap() == pytest.approx((p * v).sum() / v.sum(), rel=1e-12)
    assert buf.min("volume") == v.min() and buf.max("price") == p.max()


def test_statistics_errors() -> None:
    buf = RingBuffer(3)
    for stat in (buf.mean, buf.var, buf.min, buf.max):
        with pytest.raises(ValueError, match="empty"):
            stat("price")
    buf.push(1.0, 2.0, 0.0)
    with pytest.raises(ValueError, match="volume sums to 0"):
        buf.vwap()
    with pytest.raises(ValueError, match="unknown field"):
        buf.mean("bid")
    with pytest.raises(ValueError, match="out of range"):
        buf.mean(5)
    with pytest.raises(ValueError, match="last"):
        buf.mean("price", last=0)
    with pytest.raises(ValueError, match="vwap needs"):
        RingBuffer(3, fields=("timestamp", "bid")).vwap()


def test_constructor_validation_and_custom_fields() -> None:
    for cap, exc in [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)]:
        with pytest.raises(exc, match="capacity"):
            RingBuffer(cap)
    for fields in [(), ("a", "a"), ("a b",), (1,)]:
        with pytest.raises(ValueError, match="field"):
            RingBuffer(3, fields=fields)
    with pytest.raises(TypeError, match="fields"):
        RingBuffer(3, fields="price")
    buf = RingBuffer(2, fields=("bid", "ask"))
    buf.push(2.0, 1.0)
    buf.push(1.0, 3.0)  # no timestamp field: any order
    assert buf.mean("ask") == 2.0 and buf.fields == ("bid", "ask")
    assert "RingBuffer(capacity=2" in repr(buf)


def test_factory_and_doctests() -> None:
    prices = create_price_buffer()
    assert prices.capacity == 10_000 and prices.fields == ("timestamp", "price", "volume")
    result = doctest.testmod(ring_module)
    assert result.failed == 0 and result.attempted > 0


def test_create_and_drop_releases_c_memory() -> None:
    from defiperf.bench._memory import rss_bytes

    def churn() -> None:
        rows = np.column_stack([np.arange(20_000.0), np.ones(20_000), np.ones(20_000)])
        for _ in range(200):
            buf = RingBuffer(20_000)  # 480 kB of C storage each, all of it written below
            buf.push_many(rows)
            buf.min("price")  # allocates (and fills) the extrema queues too
            del buf

    churn()
    before = rss_bytes()
    churn()  # 200 x 800 kB through the allocator: a leak would show as 100+ MB
    assert rss_bytes() - before < 50 * 2**20
