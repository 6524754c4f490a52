"""MetricStore and Series: windows on a fake clock, cardinality guard, bad input, threads, and a
stateful comparison against a plain-Python model."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from defiperf.monitor import LogHistogram
from defiperf.monitor import MetricStore, Series
from defiperf.monitor._store import DEFAULT_BUCKETS_S
from conftest import FakeTimer

REL = LogHistogram.relative_error


def store(timer: FakeTimer, **kw: Any) -> MetricStore:
    return MetricStore(window_s=60.0, window_slots=4, timer=timer, **kw)


def test_current_previous_and_total_windows(fake_timer: FakeTimer) -> None:
    m = store(fake_timer)
    m.record_request("/a", 10.0)          # slot 0
    fake_timer.tick(60.0)                 # four 15 s slots later
    m.record_request("/a", 20.0, False)
    s = m.get_series("request:/a")
    cur, prev, total = s.stats("current"), s.stats("previous"), s.stats("total")
    assert (cur["count"], cur["sum"], cur["bad"]) == (1, 20.0, 1)
    assert (prev["count"], prev["sum"], prev["bad"]) == (1, 10.0, 0)
    assert (total["count"], total["sum"], total["bad"]) == (2, 30.0, 1)
    fake_timer.tick(120.0)                # both out of the windows, still in total
    assert s.stats("current")["count"] == 0 and s.stats("previous")["count"] == 0
    assert s.stats("total")["count"] == 2 and math.isnan(s.stats("current")["p99"])


def test_rate_is_per_second_over_the_window(fake_timer: FakeTimer) -> None:
    m = store(fake_timer)
    m.record_request("/a", 1.0)           # creates the series at t0
    for _ in range(30):
        fake_timer.tick(1.0)
        m.record_request("/a", 1.0)
    st_ = m.get_series("/a").stats("current")
    assert st_["rate"] == pytest.approx(31 / 30)


def test_every_kind_has_its_series(fake_timer: FakeTimer) -> None:
    m = store(fake_timer)
    m.record_metric("price_updates_per_second", 1500, "ops/sec")
    m.record_request("/api/portfolio", 45, True)
    m.record_db_query("positions", 3.5, False)
    m.record_cache("l1", False, 0.01)
    m.record_chain_call("ethereum", "eth_call", 120.0)
    m.record_timing("validate", 2.0)
    m.record_system("rss_bytes", 1e8, "bytes")
    keys = sorted(s.key for s in m.series())
    assert keys == ["cache:l1", "chain:ethereum.eth_call", "db:positions",
                    "metric:price_updates_per_second", "request:/api/portfolio",
                    "system:rss_bytes", "timer:validate"]
    assert m.get_series("price_updates_per_second").unit == "ops/sec"
    assert m.get_series("db:positions").stats()["bad"] == 1
    assert m.get_series("cache:l1").stats()["bad_rate"] == 1.0
    assert [(c, meth, s.key) for c, meth, s in m.chain_series()] == [
        ("ethereum", "eth_call", "chain:ethereum.eth_call")]


def test_ambiguous_and_missing_names(fake_timer: FakeTimer) -> None:
    m = store(fake_timer)
    m.record_request("x", 1.0)
    m.record_db_query("x", 1.0)
    with pytest.raises(KeyError, match="2 series"):
        m.get_series("x")
    with pytest.raises(KeyError):
        m.get_series("nope")
    assert m.get_series("db:x").kind == "db"


def test_cardinality_guard_sends_new_names_to_overflow(fake_timer: FakeTimer) -> None:
    m = store(fake_timer, max_series=3)
    for i in range(10):
        m.record_request(f"/user/{i}", float(i))
    names = [s.name for s in m.series("request")]
    assert names == ["/user/0", "/user/1", "/user/2", "__overflow__"]
    assert m.overflow_records == 7 and m.n_series == 3
    assert m.get_series("request:__overflow__").stats()["count"] == 7
    m.record_request("/user/1", 1.0)       # known names still record normally
    assert m.get_series("/user/1").count == 2
    c = m.counter("c")                     # past the cap: the overflow counter, no error
    assert c.name == "__overflow__" and m.counter("d") is c and m.n_series == 3


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda m: m.record_request("/a", -1.0), ValueError, "duration_ms"),
        (lambda m: m.record_request("/a", math.nan), ValueError, "finite"),
        (lambda m: m.record_request("/a", "5"), TypeError, "duration_ms"),
        (lambda m: m.record_request(42, 5.0), TypeError, "str"),
        (lambda m: m.record_metric("m", math.inf), ValueError, "finite"),
        (lambda m: m.record_metric(("a",), 1.0), TypeError, "str"),
        (lambda m: m.record_chain_call("eth", 1, 1.0), TypeError, "str"),
        (lambda m: m.counter("c").inc(-1), ValueError, "amount"),
        (lambda m: m.gauge("g").set(math.nan), ValueError, "finite"),
        (lambda m: m.get_series("request:/a").stats("yesterday"), ValueError, "window"),
    ],
)
def test_bad_input_is_refused_and_corrupts_nothing(fake_timer: FakeTimer, call: Any,
                                                   error: type[Exception], match: str) -> None:
    m = store(fake_timer)
    m.record_request("/a", 1.0)
    with pytest.raises(error, match=match):
        call(m)
    s = m.get_series("request:/a").stats("total")
    assert s["count"] == 1 and s["max"] == 1.0


def test_a_unit_change_is_refused(fake_timer: FakeTimer) -> None:
    m = store(fake_timer)
    m.record_metric("tvl", 1.0, "usd")
    m.record_metric("tvl", 2.0)            # no unit: keeps "usd"
    with pytest.raises(ValueError, match="usd"):
        m.record_metric("tvl", 3.0, "eth")


@pytest.mark.parametrize(
    ("kw", "error"),
    [({"window_s": 0}, ValueError), ({"window_slots": 0}, ValueError),
     ({"window_slots": 1.5}, TypeError), ({"max_series": 0}, ValueError),
     ({"timer": 3}, TypeError), ({"window_s": math.inf}, ValueError)],
)
def test_bad_construction(kw: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        MetricStore(**kw)


def test_series_cannot_be_made_directly() -> None:
    with pytest.raises(TypeError, match="MetricStore"):
        Series()


def test_counters_and_gauges(fake_timer: FakeTimer) -> None:
    m = store(fake_timer)
    m.counter("orders").inc()
    m.counter("orders").inc(2.5)
    g = m.gauge("queue_depth")
    g.set(10)
    g.inc(5)
    g.dec(2)
    assert m.counter("orders").value == 3.5 and g.value == 13.0
    assert [c.name for c in m.counters()] == ["orders"]


def test_default_clock_needs_no_timer() -> None:
    m = MetricStore()
    m.record_request("/a", 1.0)
    assert m.get_series("/a").stats()["count"] == 1 and m.now() > 0


def test_threads_recording_together_lose_nothing() -> None:
    m = MetricStore()
    n, per = 4, 50_000

    def work(i: int) -> None:
        for j in range(per):
            m.record_request(f"/e{j % 8}", float(j % 100))
            m.counter("n").inc()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(s.count for s in m.series("request")) == n * per
    assert m.counter("n").value == n * per


class SeriesMachine(RuleBasedStateMachine):
    """A Series against the list of (time, value, bad) it was given."""

    @initialize(slots=st.integers(1, 6))
    def setup(self, slots: int) -> None:
        self.timer = FakeTimer(1000.0)
        self.m = MetricStore(window_s=float(slots * 10), window_slots=slots, timer=self.timer)
        self.slot_s = 10.0
        self.slots = slots
        self.log: list[tuple[float, float, bool]] = []

    @rule(v=st.one_of(st.floats(0, 1e6, allow_nan=False),
                      st.sampled_from([b * 1000.0 for b in DEFAULT_BUCKETS_S])), bad=st.booleans())
    def record(self, v: float, bad: bool) -> None:
        self.m.record_db_query("q", v, not bad)
        self.log.append((self.timer(), v, bad))

    @rule(dt=st.sampled_from([0.0, 1.0, 9.99, 10.0, 25.0, 61.0]))
    def tick(self, dt: float) -> None:
        self.timer.tick(dt)

    def expected(self, window: str) -> list[tuple[float, float, bool]]:
        epoch = int(self.timer() // self.slot_s)
        first = 0 if window == "current" else self.slots
        if window == "total":
            return self.log
        return [e for e in self.log
                if first <= epoch - int(e[0] // self.slot_s) < first + self.slots]

    @invariant()
    def windows_match_the_model(self) -> None:
        if not self.log:
            return
        s = self.m.get_series("db:q")
        for window in ("current", "previous", "total"):
            want = self.expected(window)
            got = s.stats(window)
            assert got["count"] == len(want)
            assert got["bad"] == sum(b for _, _, b in want)
            if want:
                values = [v for _, v, _ in want]
                assert got["min"] == min(values) and got["max"] == max(values)
                assert math.isclose(got["sum"], math.fsum(values), rel_tol=1e-9, abs_tol=1e-6)
                p99 = float(np.percentile(values, 99, method="inverted_cdf"))
                assert abs(got["p99"] - p99) <= REL * p99 + 1e-12
        all_values = [v for _, v, _ in self.log]
        assert s.bucket_counts() == [sum(v / 1000.0 <= b for v in all_values)
                                     for b in self.m.buckets_s]


TestSeriesMachine = SeriesMachine.TestCase


def test_record_is_the_one_path_behind_every_record_method(fake_timer: FakeTimer) -> None:
    a, b = store(fake_timer), store(fake_timer)
    a.record_chain_call("ethereum", "eth_call", 5.0, False)
    b.record("chain", ("ethereum", "eth_call"), 5.0, success=False)
    a.record_metric("fill", 80.0, "%")
    b.record("metric", "fill", 80.0, unit="%")
    a.record_http("GET", "/x/{id}", 502, 7.0)
    b.record("http", ("GET", "/x/{id}", "502"), 7.0, success=False)
    for sa, sb in zip(a.series(), b.series()):
        assert (sa.key, sa.labels, sa.unit, sa.count, sa.bad, sa.sum) == \
            (sb.key, sb.labels, sb.unit, sb.count, sb.bad, sb.sum)
    assert len(a.series()) == len(b.series()) == 3
