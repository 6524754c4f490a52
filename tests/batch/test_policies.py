"""Retry callables, the circuit breaker's transitions, cost-model sizing and the aging queue."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import FakeTimer
from defiperf.batch import (
    BatchSizer,
    BreakerState,
    CircuitBreaker,
    LoadProbe,
    RetryPolicy,
    RetryState,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
    wait_full_jitter,
)
from defiperf.batch.queue import AgingQueue, Segment

# --- retry ---------------------------------------------------------------------------------


def test_stop_conditions_combine_with_or() -> None:
    stop = stop_after_attempt(3) | stop_after_delay(10)
    assert not stop(RetryState(2, 9.9))
    assert stop(RetryState(3, 0.0)) and stop(RetryState(1, 10.0))


def test_exponential_wait_is_capped_and_jitter_stays_under_it() -> None:
    exp = wait_exponential(0.1, 1.0)
    assert [exp(RetryState(a), random.Random(0)) for a in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    rng = random.Random(1)
    jitter = wait_full_jitter(0.1, 1.0)
    draws = [jitter(RetryState(4), rng) for _ in range(2000)]
    assert 0 <= min(draws) and max(draws) <= 0.8 and 0.3 < sum(draws) / len(draws) < 0.5
    assert (wait_fixed(1) + wait_fixed(0.5))(RetryState(1), rng) == 1.5


@pytest.mark.parametrize("make", [lambda: stop_after_attempt(0), lambda: stop_after_delay(-1),
                                  lambda: wait_exponential(-1), lambda: wait_exponential(1, 2, 0.5),
                                  lambda: RetryPolicy(stop=3), lambda: stop_after_attempt(2.5)])
def test_bad_retry_settings(make: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        make()


# --- breaker -------------------------------------------------------------------------------


def test_breaker_closed_open_half_open_closed(fake_timer: FakeTimer) -> None:
    seen: list[tuple[BreakerState, BreakerState]] = []
    b = CircuitBreaker(0.5, min_calls=4, window_calls=10, reset_timeout_s=5, timer=fake_timer,
                       on_transition=lambda old, new: seen.append((old, new)))
    for ok in (True, False, True):
        b.record(ok)
    assert b.state is BreakerState.CLOSED and b.allow()
    b.record(False)                                  # 2 of 4 failed: 50%
    assert b.state is BreakerState.OPEN and not b.allow()
    assert b.seconds_until_probe() == 5
    fake_timer.tick(5)
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow() and not b.allow()               # one probe at a time
    b.record(True)
    assert b.state is BreakerState.CLOSED and b.failure_rate == 0
    assert seen == [(BreakerState.CLOSED, BreakerState.OPEN),
                    (BreakerState.OPEN, BreakerState.HALF_OPEN),
                    (BreakerState.HALF_OPEN, BreakerState.CLOSED)]


def test_a_failed_probe_reopens(fake_timer: FakeTimer) -> None:
    b = CircuitBreaker(1.0, min_calls=1, window_calls=1, reset_timeout_s=2, timer=fake_timer)
    b.record(False)
    fake_timer.tick(2)
    assert b.allow()
    b.record(False)
    assert b.state is BreakerState.OPEN and b.seconds_until_probe() == 2


def test_failure_rate_is_over_the_sliding_window(fake_timer: FakeTimer) -> None:
    b = CircuitBreaker(0.5, min_calls=4, window_calls=4, timer=fake_timer)
    for ok in (False, True, True, True, True):
        b.record(ok)                                 # the failure slid out
    assert b.failure_rate == 0 and b.state is BreakerState.CLOSED


@pytest.mark.parametrize("kw", [{"failure_rate_threshold": 0}, {"min_calls": 0},
                                {"min_calls": 5, "window_calls": 4}, {"reset_timeout_s": -1}])
def test_bad_breaker_settings(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kw)


# --- sizing --------------------------------------------------------------------------------


def _drive(s: BatchSizer, latency: Callable[[int], float], rounds: int) -> list[int]:
    sizes = []
    for _ in range(rounds):
        n = s.size
        s.observe(latency(n), True, n)
        sizes.append(s.size)
    return sizes


def test_sizing_finds_the_largest_size_within_the_latency_target() -> None:
    s = BatchSizer(100, latency_target_s=0.1)
    sizes = _drive(s, lambda n: 0.001 + 0.002 * n, 40)   # t(n) = 1 ms + 2 ms/item -> n* = 49
    assert 40 <= sizes[-1] <= 49 and all(40 <= n <= 49 for n in sizes[-10:])
    assert s.per_item_s == pytest.approx(0.002, rel=0.05)
    assert s.per_call_s == pytest.approx(0.001, abs=0.002)


def test_a_fixed_cost_processor_is_not_shrunk() -> None:
    # 0.3 s whatever the size, target 0.25 s: no size meets it, so the biggest is the best
    s = BatchSizer(100, latency_target_s=0.25)
    sizes = _drive(s, lambda n: 0.3, 200)
    assert min(sizes) >= 50                       # at most one exploring step down
    assert sum(n == 100 for n in sizes) >= 180    # and almost always the full size


def test_noise_under_the_target_never_shrinks() -> None:
    rng = random.Random(3)
    s = BatchSizer(100, latency_target_s=0.005)
    sizes = _drive(s, lambda n: rng.uniform(0.0, 0.004), 300)
    assert set(sizes) == {100}


def test_cpu_saturation_never_changes_the_size_memory_pressure_halves_the_cap(
        fake_timer: FakeTimer) -> None:
    reading = {"v": (50.0, 100.0)}                  # this process at 100% CPU
    probe = LoadProbe(memory_pct=90, cpu_pct=95, interval_s=1.0, timer=fake_timer,
                      read=lambda: reading["v"])
    s = BatchSizer(100, latency_target_s=0.1, probe=probe)
    assert _drive(s, lambda n: 0.01, 10) == [100] * 10 and probe.cpu_saturated()
    reading["v"] = (95.0, 10.0)                     # memory pressure, seen at the next reading
    fake_timer.tick(1.0)
    assert _drive(s, lambda n: 0.01, 3) == [50] * 3 and s.cap == 50 and s.shrinks == 1
    reading["v"] = (50.0, 10.0)
    fake_timer.tick(1.0)
    assert _drive(s, lambda n: 0.01, 4)[-1] == 100   # the cap lifts; the size grows back
    s.limit(10)
    assert s.size == 10 and s.cap == 10
    s.limit(None)
    assert s.cap == 100


def test_the_load_probe_reads_this_process_not_the_host() -> None:
    import time as _time

    probe = LoadProbe(interval_s=0.05)
    _time.sleep(0.1)                                 # idle: this thread asked for no CPU
    assert not probe.cpu_saturated() and probe.reading[1] < 95
    probe = LoadProbe(interval_s=0.05)
    end = _time.monotonic() + 0.2
    while _time.monotonic() < end:                   # this thread busy: saturated
        pass
    assert probe.cpu_saturated() and probe.reading[1] >= 95


# --- queue ---------------------------------------------------------------------------------


def seg(job: str, n: int, t: float = 0.0) -> Segment:
    return Segment(job, 0, n, t)


def test_priority_then_fifo_and_splitting() -> None:
    q = AgingQueue(10, aging_interval_s=1e9)
    q.put(seg("low", 3), 1)
    q.put(seg("high-a", 2), 9)
    q.put(seg("high-b", 2), 9)
    taken = q.take(3, now=0.0)
    assert [(s.job, s.start, s.stop) for s in taken] == [("high-a", 0, 2), ("high-b", 0, 1)]
    assert [(s.job, s.start, s.stop) for s in q.take(10, 0.0)] == [("high-b", 1, 2), ("low", 0, 3)]
    assert q.n_items == 0 and q.take(5, 0.0) == []


def test_aging_lifts_a_starved_low_priority() -> None:
    q = AgingQueue(10, aging_interval_s=1.0)
    q.put(seg("old-low", 1, t=0.0), 0)
    for i in range(5):
        q.put(seg(f"new-high-{i}", 1, t=9.5), 9)
    assert q.take(1, now=9.5)[0].job == "old-low"   # 0 + 9.5 beats 9 + 0


@given(st.lists(st.tuples(st.integers(0, 10), st.integers(1, 50)), max_size=30),
       st.integers(1, 64))
def test_every_item_is_taken_exactly_once(puts: list[tuple[int, int]], batch: int) -> None:
    q = AgingQueue(10, aging_interval_s=0.5)
    for i, (prio, n) in enumerate(puts):
        q.put(Segment(i, 0, n, float(i)), prio)
    seen: dict[int, list[int]] = {}
    now = float(len(puts))
    while q.n_items:
        taken = q.take(batch, now)
        assert 0 < sum(len(s) for s in taken) <= batch
        for s in taken:
            seen.setdefault(s.job, []).extend(range(s.start, s.stop))
        now += 0.1
    assert {j: sorted(v) for j, v in seen.items()} == {i: list(range(n)) for i, (_, n) in enumerate(puts)}


def test_remove_if_takes_out_one_job() -> None:
    q = AgingQueue()
    q.put(seg("a", 3), 5)
    q.put(seg("b", 4), 5)
    q.put(seg("a", 2), 1)
    removed = q.remove_if(lambda job: job == "a")
    assert sorted(len(s) for s in removed) == [2, 3] and q.n_items == 4


def test_item_failures_make_big_batches_costly() -> None:
    s = BatchSizer(100, latency_target_s=0.25)
    _drive(s, lambda n: 0.001 + 0.0018 * n, 40)     # learns a = 1 ms, b = 1.8 ms/item
    assert s.size == 100                             # no failures: the biggest within target
    for _ in range(30):
        s.observe_items(99, 1)                       # 1% of items fail for good
    assert s.item_failure_rate == pytest.approx(0.01, rel=0.05)
    sizes = _drive(s, lambda n: 0.001 + 0.0018 * n, 16)
    assert 3 <= sizes[-1] <= 15                      # expected time per item is least there
    for _ in range(200):
        s.observe_items(100, 0)                      # failures stop: the rate decays
    assert s.item_failure_rate < 0.0001
    assert _drive(s, lambda n: 0.001 + 0.0018 * n, 64)[-1] >= 50


@given(st.lists(st.integers(1, 30), min_size=1, max_size=6), st.integers(1, 40))
def test_split_cuts_a_unit_into_contiguous_pieces(lengths: list[int], parts: int) -> None:
    from defiperf.batch.lane import Unit

    segments, start = [], 0
    for i, n in enumerate(lengths):
        segments.append(Segment(f"job{i}", start, start + n, 0.0))
        start += n + 3                               # gaps: segments of different ranges
    unit = Unit(segments)
    pieces = unit.split(parts)
    total = sum(lengths)
    assert len(pieces) == min(parts, total)
    sizes = [sum(s.stop - s.start for s in piece) for piece in pieces]
    assert sum(sizes) == total and max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    flat = [(s.job, i) for piece in pieces for s in piece for i in range(s.start, s.stop)]
    assert flat == [(s.job, i) for s in segments for i in range(s.start, s.stop)]
