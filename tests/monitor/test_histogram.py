"""LogHistogram: quantiles against numpy within the stated relative error, edges, bad input."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import defiperf.structures.histogram as metrics_module
from defiperf.monitor import LogHistogram

REL = LogHistogram.relative_error
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
QS = (0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0)


def close(got: float, want: float) -> bool:
    """Within REL of want (values below 1e-12 count as zero)."""
    if abs(want) < 1e-12:
        return abs(got) < 1e-12
    return abs(got - want) <= REL * abs(want) * (1 + 1e-12)


def test_relative_error_is_below_one_percent() -> None:
    assert 0 < REL < 0.01


@given(st.lists(finite, min_size=1, max_size=300))
def test_quantiles_match_numpy_inverted_cdf(values: list[float]) -> None:
    h = LogHistogram()
    h.record_many(values)
    for q in QS:
        want = float(np.percentile(values, q * 100, method="inverted_cdf"))
        assert close(h.quantile(q), want), (q, h.quantile(q), want)
    assert h.count == len(values) == len(h)
    assert h.min == min(values) and h.max == max(values)
    assert math.isclose(h.sum, math.fsum(values), rel_tol=1e-9, abs_tol=1e-3)


@pytest.mark.parametrize("dist", ["lognormal", "exponential", "uniform"])
def test_large_random_samples(dist: str) -> None:
    rng = np.random.default_rng(7)
    x = {"lognormal": rng.lognormal(2, 2, 200_000), "exponential": rng.exponential(30, 200_000),
         "uniform": rng.uniform(-500, 500, 200_000)}[dist]
    h = LogHistogram()
    h.record_many(x.tolist())
    for q in (0.5, 0.9, 0.99, 0.999):
        want = float(np.percentile(x, q * 100, method="inverted_cdf"))
        assert close(h.quantile(q), want)


@given(st.lists(finite, max_size=100), st.lists(finite, max_size=100))
def test_merge_equals_recording_both(a: list[float], b: list[float]) -> None:
    ha, hb, both = LogHistogram(), LogHistogram(), LogHistogram()
    ha.record_many(a)
    hb.record_many(b)
    both.record_many(a + b)
    ha.merge(hb)
    assert ha.buckets() == both.buckets()
    assert ha.count == both.count and ha.min == both.min and ha.max == both.max


@given(st.lists(finite, min_size=1, max_size=200), finite)
def test_count_le_is_exact_up_to_one_bucket(values: list[float], x: float) -> None:
    h = LogHistogram()
    h.record_many(values)
    below = sum(v <= x * (1 - 2 * REL) - 1e-12 for v in values)
    above = sum(v <= x * (1 + 2 * REL) + 1e-12 for v in values)
    lo, hi = sorted((below, above))
    assert lo <= h.count_le(x) <= hi


def test_buckets_cover_their_values_and_are_ordered() -> None:
    h = LogHistogram()
    values = [-1000.0, -3.5, 0.0, 1e-13, 2.0, 2.01, 7e9]
    h.record_many(values)
    buckets = h.buckets()
    assert sum(c for _, _, c in buckets) == len(values)
    for (lo, hi, _), (lo2, _, _) in zip(buckets, buckets[1:]):
        assert lo < hi <= lo2
    for v in values:
        assert any(lo <= v <= hi for lo, hi, _ in buckets), v


def test_empty_histogram() -> None:
    h = LogHistogram()
    assert h.count == 0 and math.isnan(h.mean) and h.buckets() == []
    with pytest.raises(ValueError, match="empty"):
        h.quantile(0.5)
    assert all(math.isnan(h.summary()[k]) for k in ("p50", "p99", "min", "max", "mean"))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused_and_nothing_is_recorded(bad: float) -> None:
    h = LogHistogram()
    h.record(1.0)
    with pytest.raises(ValueError, match="finite"):
        h.record(bad)
    with pytest.raises(ValueError, match="finite"):
        h.record_many([2.0, bad])
    assert h.count == 1 and h.max == 1.0


@pytest.mark.parametrize("bad", ["1", None, [1.0], True])
def test_non_numbers_are_type_errors(bad: object) -> None:
    with pytest.raises(TypeError, match="value"):
        LogHistogram().record(bad)


@pytest.mark.parametrize("q", [-0.1, 1.5, math.nan])
def test_quantile_range(q: float) -> None:
    h = LogHistogram()
    h.record(1.0)
    with pytest.raises(ValueError, match="q"):
        h.quantile(q)


def test_numpy_scalars_and_decimals_are_accepted() -> None:
    from decimal import Decimal

    h = LogHistogram()
    h.record(np.float32(2.5))
    h.record(np.int64(3))
    h.record(Decimal("4.25"))
    assert h.count == 3 and h.max == 4.25


def test_clear_keeps_working() -> None:
    h = LogHistogram()
    h.record_many(range(1, 1000))
    h.clear()
    assert h.count == 0 and h.buckets() == []
    h.record(5.0)
    assert h.quantile(0.5) == 5.0


def test_doctests() -> None:
    result = doctest.testmod(metrics_module)
    assert result.failed == 0 and result.attempted > 0


def test_create_and_drop_releases_c_memory() -> None:
    from defiperf.bench._memory import rss_bytes
    from defiperf.monitor import MetricStore

    def churn() -> None:
        for _ in range(300):
            h = LogHistogram()
            h.record_many([1e-9, 1e9, -1e9, -1e-9])  # about 18k buckets: 150 kB
            h.merge(h)
            store = MetricStore(window_slots=8)
            for i in range(20):
                store.record_request(f"/e{i}", float(10**i % 1e12))
            del h, store

    churn()
    before = rss_bytes()
    churn()  # about 100 MB through the allocator
    assert rss_bytes() - before < 30 * 2**20
