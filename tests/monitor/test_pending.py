"""MetricStore's pending durations (what the OpenTelemetry bridge drains): against a list model
under random records, takes and capacities; an on_full that fails, that re-enters the store or
that stops the tap; nothing is kept without a tap."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from defiperf.monitor import MetricStore

ops = st.lists(st.one_of(
    st.tuples(st.just("record"), st.sampled_from(["a", "b", "c"]),
              st.floats(0, 20_000, allow_nan=False)),
    st.tuples(st.just("metric"), st.just("m"), st.floats(-5, 5)),
    st.tuples(st.just("take"), st.just(""), st.just(0.0)),
), max_size=80)


def flatten(batches: list[list[tuple[Any, list[float]]]]) -> list[tuple[str, float]]:
    return [(s.name, v) for batch in batches for s, values in batch for v in values]


@given(st.integers(1, 6), ops)
def test_every_duration_is_taken_once_in_order(capacity: int,
                                               steps: list[tuple[str, str, float]]) -> None:
    store = MetricStore(buckets_s=(0.001, 0.1, 1.0))
    taken: list[list[tuple[Any, list[float]]]] = []
    store.start_pending(capacity, lambda: taken.append(store.take_pending()))
    model: list[tuple[str, float]] = []
    for op, name, value in steps:
        if op == "record":
            store.record_request(name, value)
            model.append((name, value / 1000.0))
        elif op == "metric":
            store.record_metric(name, value)                 # not a duration: never pending
        else:
            taken.append(store.take_pending())
        assert 0 <= store.n_pending < capacity
    taken.append(store.stop_pending())
    # take_pending groups one batch by series (first appearance), in recording order within it
    got = flatten(taken)
    assert sorted(got) == sorted(model)
    for name in "abc":
        assert [v for n, v in got if n == name] == [v for n, v in model if n == name]
    assert store.pending_dropped == 0 and store.pending_cap == 0


def test_without_a_tap_nothing_is_kept() -> None:
    store = MetricStore()
    store.record_timing("t", 1.0)
    assert (store.pending_cap, store.n_pending, store.take_pending(), store.stop_pending()) == \
        (0, 0, [], [])


def test_arguments_are_checked_before_anything_changes() -> None:
    store = MetricStore()
    with pytest.raises(ValueError, match="capacity"):
        store.start_pending(0, lambda: None)
    with pytest.raises(TypeError, match="capacity"):
        store.start_pending(True, lambda: None)
    with pytest.raises(TypeError, match="on_full"):
        store.start_pending(4, None)  # type: ignore[arg-type]
    store.start_pending(4, lambda: None)
    for v in (1.0, 2.0, 3.0):
        store.record_cache("l1", True, v)
    with pytest.raises(ValueError, match="below"):
        store.start_pending(2, lambda: None)               # would not hold what is pending
    store.start_pending(8, lambda: None)                   # grows, keeps the pending values
    assert [v for _, values in store.stop_pending() for v in values] == [0.001, 0.002, 0.003]


def test_a_failing_on_full_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """The record is made; a value that finds the buffer still full is dropped and counted,
    never written past it."""
    store = MetricStore()

    def broken() -> None:
        raise RuntimeError("exporter gone")

    store.start_pending(4, broken)
    with caplog.at_level(logging.WARNING, logger="defiperf.monitor"):
        for v in range(10):
            store.record_db_query("q", float(v))
    assert store.get_series("db:q").count == 10
    assert (store.n_pending, store.pending_dropped) == (4, 6)
    assert "exporter gone" in caplog.text
    assert [(s.key, values) for s, values in store.stop_pending()] == \
        [("db:q", [0.0, 0.001, 0.002, 0.003])]


def test_on_full_may_re_enter_or_stop_the_tap() -> None:
    store = MetricStore()
    taken: list[list[tuple[Any, list[float]]]] = []
    pending_after: list[int] = []           # (an on_full that raises would only be logged)

    def reentrant() -> None:
        batch = store.take_pending()
        store.record_request("inner", 5.0)                  # lands in the fresh buffer
        taken.append(batch)
        pending_after.append(store.n_pending)

    store.start_pending(2, reentrant)
    for v in (1.0, 2.0, 3.0):
        store.record_request("outer", v)
    taken.append(store.take_pending())
    assert pending_after == [1, 1]
    got = flatten(taken)
    assert sorted(got) == sorted([("outer", 0.001), ("outer", 0.002), ("outer", 0.003),
                                  ("inner", 0.005), ("inner", 0.005)])   # two on_full calls
    assert store.pending_dropped == 0

    def stopping() -> None:
        taken.append(store.stop_pending())

    taken.clear()
    store.start_pending(2, stopping)
    for v in (1.0, 2.0, 3.0):
        store.record_request("outer", v)                    # the third finds no tap: not kept
    assert flatten(taken) == [("outer", 0.001), ("outer", 0.002)]
    assert (store.pending_cap, store.n_pending, store.pending_dropped) == (0, 0, 0)


def test_on_full_is_called_again_while_the_buffer_stays_full() -> None:
    """Other threads may refill the buffer while on_full waits for a lock: the record calls it
    again (up to 8 times) before it drops its value."""
    store = MetricStore()
    taken: list[list[tuple[Any, list[float]]]] = []
    calls = [0]

    def slow() -> None:                     # takes only on every third call
        calls[0] += 1
        if calls[0] % 3 == 0:
            taken.append(store.take_pending())

    store.start_pending(2, slow)
    for v in range(7):
        store.record_request("r", float(v))
    taken.append(store.stop_pending())
    assert [v for _, v in flatten(taken)] == [v / 1000 for v in range(7)]
    assert store.pending_dropped == 0 and calls[0] == 9

    def never() -> None:
        calls[0] += 1

    store.start_pending(1, never)
    calls[0] = 0
    store.record_request("r", 1.0)                              # fills: one call
    store.record_request("r", 2.0)                              # still full: 8 more, dropped
    assert (calls[0], store.pending_dropped, store.n_pending) == (9, 1, 1)


def test_a_taken_batch_is_read_later_and_outlives_the_store() -> None:
    """take_pending_batch swaps the buffer (what is recorded after goes to the next take); its
    items() are read later, any number of times, even when nothing else holds the store."""
    import gc

    store = MetricStore(buckets_s=(0.001, 0.5))
    store.start_pending(8, lambda: None)
    for v in (1.0, 0.5, 2.0):
        store.record_request("a", v)
    store.record_db_query("q", 500.0)
    batch = store.take_pending_batch()
    store.record_request("a", 7.0)                              # after the take: not in batch
    assert (len(batch), store.n_pending) == (4, 1)
    assert [(s.key, values) for s, values in store.take_pending()] == [("request:a", [0.007])]
    del store
    gc.collect()
    want = [("request:a", [0.001, 0.0005, 0.002]), ("db:q", [0.5])]
    assert [(s.key, values) for s, values in batch.items()] == want
    assert [(s.key, values) for s, values in batch.items()] == want
    empty = MetricStore().take_pending_batch()
    assert (len(empty), empty.items()) == (0, [])
