"""Custom histogram bounds written as decimals: a duration on a bound is counted in that bound's
``le`` bucket, as prometheus_client counts ``observe(bound)``, however the ms value was made."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram

from defiperf.monitor import MetricStore

# decimal seconds from 1 us to 100 s with up to 7 significant digits (what configs contain)
decimal_bounds = st.lists(
    st.builds(lambda digits, scale: Decimal(digits).scaleb(-scale),
              st.integers(1, 9_999_999), st.integers(0, 12)),
    min_size=1, max_size=12, unique=True,
).map(lambda ds: sorted({d for d in ds if Decimal("1e-6") <= d <= 100 and float(d) > 0},
                        key=float)).filter(lambda ds: len({float(d) for d in ds}) == len(ds) > 0)


def ms_values_on(bound: Decimal) -> list[float]:
    """The ways a caller writes "exactly this bound, in ms"."""
    b = float(bound)
    return [float(bound * 1000), b * 1000.0, float(Decimal(repr(b)) * 1000)]


@given(decimal_bounds)
def test_a_value_on_a_decimal_bound_is_counted_in_it(bounds: list[Decimal]) -> None:
    bounds_s = tuple(float(d) for d in bounds)
    store = MetricStore(buckets_s=bounds_s)
    theirs = Histogram("h_seconds", "ref", buckets=bounds_s, registry=CollectorRegistry())
    for i, bound in enumerate(bounds):
        for ms in ms_values_on(bound):
            store.record_request(f"on {i}", ms)
            theirs.observe(float(bound))
        counts = store.get_series(f"request:on {i}").bucket_counts()
        # 0 below the bound, all 3 from the bound up
        assert counts == [0] * i + [3] * (len(bounds) - i), (bound, counts)
    merged = [0] * len(bounds)
    for s in store.series("request"):
        merged = [a + b for a, b in zip(merged, s.bucket_counts())]
    want = [v for v in _cumulative(theirs)]
    assert merged == want


@given(decimal_bounds, st.lists(st.floats(0, 200_000, allow_nan=False), max_size=50))
def test_values_off_the_bounds_are_counted_as_prometheus_client_counts_them(
        bounds: list[Decimal], values_ms: list[float]) -> None:
    bounds_s = tuple(float(d) for d in bounds)
    store = MetricStore(buckets_s=bounds_s)
    theirs = Histogram("h_seconds", "ref", buckets=bounds_s, registry=CollectorRegistry())
    for ms in values_ms:
        store.record_request("/x", ms)
        theirs.observe(ms / 1000.0)
    if values_ms:
        assert store.get_series("request:/x").bucket_counts() == _cumulative(theirs)


def _cumulative(hist: Histogram) -> list[int]:
    """prometheus_client's cumulative counts at the finite bounds."""
    out = []
    for metric in hist.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket") and sample.labels["le"] != "+Inf":
                out.append(int(sample.value))
    return out
