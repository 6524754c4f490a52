"""Batch sizing from the processor's own cost model, and the load probe of this process.

Why batches exist: a processor call has a fixed cost ``a`` (a round trip, a syscall, an
interpreter entry) and a per-item cost ``b``, so a batch of n items takes ``t(n) = a + b*n``
and throughput is ``n / t(n)``, which only grows with n. The size is therefore the largest n
(up to the processor's ``max_batch_size``) whose predicted latency meets the latency target;
when no size can meet it (``a`` alone is over the target) or latency does not grow with size
(``b <= 0``), shrinking would only lose throughput, so the size stays at the maximum.

What does *not* change the size: the CPU load of other processes (a busy neighbour makes every
call slower whatever its size: smaller batches would only raise our CPU cost per item), nor the
CPU saturation of this process (the engine lowers its concurrency instead). Memory pressure may
cap sizes (``BatchSizer.limit``), because a batch's items and results are held in memory.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

from defiperf._validate import check_int, check_number
from defiperf.batch.hooks import warn_rate_limited

_BUCKETS = 32          # log2 size classes: 1, 2-3, 4-7, ...
_ALPHA = 0.25          # weight of a new observation in its size class's running means
_FRESH_OBS = 64        # a size class not observed in the last this many batches is ignored
_MIN_OBS = 2           # observations a size class needs before it counts
_ITEM_DECAY = 0.9995   # per item: the failure rate looks at roughly the last 2,000 items


def _effective_cores() -> float:
    """CPUs this process may use: the cgroup v2 quota if one is set, else its affinity mask."""
    try:
        n = float(len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        n = float(os.cpu_count() or 1)
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            n = min(n, max(float(quota) / float(period), 0.01))
    except (OSError, ValueError):
        pass
    return max(n, 0.01)


def _thread_demand_s() -> float:
    """Seconds the calling thread has run *or waited to run* (Linux schedstat: CPU time plus
    run-queue wait), so a thread that always has work reads as saturated even when other
    processes take the CPU from it; elsewhere its CPU time."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            run_ns, wait_ns = f.read().split()[:2]
        return (int(run_ns) + int(wait_ns)) / 1e9
    except (OSError, ValueError):
        return time.thread_time()


class LoadProbe:
    """Pressure readings for the engine: system memory % and *this process's* CPU use.

    ``cpu_percent`` is this process's CPU time over wall time since the previous reading, as a
    percentage of the CPUs it may use (cgroup quota or affinity), or the share of that time the
    calling thread (the event loop's) was running or runnable, whichever is higher: it measures
    this process's demand, so other processes' load never counts. The
    first reading is real: the baseline is taken when the probe is made. Readings are taken at
    most every ``interval_s`` (a reading costs a few µs plus psutil's memory call), so asking
    per batch is cheap. ``read`` can be injected: it returns ``(memory_percent, cpu_percent)``.
    """

    def __init__(self, memory_pct: float = 90.0, cpu_pct: float = 95.0, interval_s: float = 0.5,
                 timer: Callable[[], float] = time.monotonic,
                 read: Callable[[], tuple[float, float]] | None = None) -> None:
        check_number("memory_pct", memory_pct, high=100.0)
        check_number("cpu_pct", cpu_pct, high=100.0)
        check_number("interval_s", interval_s)
        if not callable(timer):
            raise TypeError("timer must be callable")
        if read is not None and not callable(read):
            raise TypeError("read must be callable")
        self.memory_pct = memory_pct
        self.cpu_pct = cpu_pct
        self.interval_s = interval_s
        self._timer = timer
        self._read = read or self._process_reading
        self._next = timer() + interval_s if read is None else float("-inf")
        self._memory_pressure = False
        self._cpu_saturated = False
        self._cores = _effective_cores()
        self._last = (time.monotonic(), time.process_time(), _thread_demand_s())
        self.reading: tuple[float, float] = (0.0, 0.0)

    def _process_reading(self) -> tuple[float, float]:
        import psutil

        wall, proc, thread = time.monotonic(), time.process_time(), _thread_demand_s()
        last_wall, last_proc, last_thread = self._last
        self._last = (wall, proc, thread)
        span = wall - last_wall
        if span <= 0:
            return psutil.virtual_memory().percent, self.reading[1]
        cpu = max((proc - last_proc) / span / self._cores, (thread - last_thread) / span) * 100.0
        return psutil.virtual_memory().percent, min(cpu, 100.0)

    def _refresh(self) -> None:
        now = self._timer()
        if now >= self._next:
            self._next = now + self.interval_s
            try:
                memory, cpu = self._read()
                memory, cpu = float(memory), float(cpu)
            except Exception as exc:  # noqa: BLE001 - a failing reading is no pressure, not a crash
                warn_rate_limited("load-probe", "load probe reading failed (%s: %s); taken as "
                                  "no pressure", type(exc).__name__, exc)
                memory, cpu = 0.0, 0.0
            self.reading = (memory, cpu)
            self._memory_pressure = memory >= self.memory_pct
            self._cpu_saturated = cpu >= self.cpu_pct

    def memory_pressure(self) -> bool:
        """System memory use at or above ``memory_pct``."""
        self._refresh()
        return self._memory_pressure

    def cpu_saturated(self) -> bool:
        """This process (or its event-loop thread) at or above ``cpu_pct`` of what it may use."""
        self._refresh()
        return self._cpu_saturated

    def pressure(self) -> bool:
        """Either of the two (kept for callers of the earlier API)."""
        self._refresh()
        return self._memory_pressure or self._cpu_saturated


class BatchSizer:
    """The batch size of one processor, from its measured cost model ``t(n) = a + b*n``.

    Each batch's ``(n, latency)`` updates running means of its log2 size class; ``a`` and ``b``
    are a least-squares line through the recently observed classes. With two or more classes:
    size = the largest n <= cap with ``a + b*n <= latency_target_s``, or cap when ``b <= 0``,
    ``a >= latency_target_s`` (no size meets the target, so the biggest is the most efficient) or
    no observed size class missed the target (a line fitted to noise never shrinks batches).
    With one class only (every batch the same size) the sizer explores: over the target, the next
    size is half (to learn whether latency falls with size); well under it, double (up to cap).
    When items fail (``observe_items``), a failed batch re-runs all of its items, so the size
    is the one with the least expected time per item given the failure rate (1% poison items
    and 1 ms calls of 1.8 ms/item: ~6 items, not 100). Memory pressure from the probe halves
    the cap while it lasts; ``limit()`` caps it from
    outside (the suite's memory budget). Starts at ``max_size``.
    """

    def __init__(self, max_size: int, latency_target_s: float, probe: LoadProbe | None = None) -> None:
        check_int("max_size", max_size)
        check_number("latency_target_s", latency_target_s)
        self.max_size = max_size
        self.latency_target_s = latency_target_s
        self.size = max_size
        self._cap = max_size
        self._limit = max_size
        self._probe = probe
        self.shrinks = 0
        self._n_obs = 0
        # per size class: mean n, mean latency, observation count, index of the last observation
        self._mean_n = [0.0] * _BUCKETS
        self._mean_t = [0.0] * _BUCKETS
        self._count = [0] * _BUCKETS
        self._seen = [0] * _BUCKETS
        self.per_call_s = 0.0
        self.per_item_s = 0.0
        self.item_failure_rate = 0.0
        self._ok_items = 0.0
        self._failed_items = 0.0

    @property
    def cap(self) -> int:
        """The largest size allowed now: max_size, or less while a limit or memory pressure holds."""
        return self._cap

    def limit(self, cap: int | None) -> None:
        """Cap the size (memory pressure from outside, e.g. the suite's budget); None lifts it."""
        self._limit = self.max_size if cap is None else max(1, min(cap, self.max_size))
        self._set_cap(self._limit)

    def _set_cap(self, cap: int) -> None:
        self._cap = cap
        if self.size > cap:
            self.shrinks += 1
            self.size = cap

    def observe(self, latency_s: float, ok: bool = True, n: int | None = None) -> None:
        """A batch of ``n`` items (default: the current size) took ``latency_s``. ``ok=False``
        marks a timed-out batch: its latency is a lower bound, used as it is."""
        n = self.size if n is None else n
        if n < 1 or not math.isfinite(latency_s):
            return
        self._n_obs += 1
        k = min(n.bit_length() - 1, _BUCKETS - 1)
        if self._count[k] == 0 or self._n_obs - self._seen[k] > _FRESH_OBS:
            self._mean_n[k], self._mean_t[k], self._count[k] = float(n), latency_s, 1
        else:
            self._mean_n[k] += _ALPHA * (n - self._mean_n[k])
            self._mean_t[k] += _ALPHA * (latency_s - self._mean_t[k])
            self._count[k] += 1
        self._seen[k] = self._n_obs
        if self._probe is not None and self._probe.memory_pressure():
            self._set_cap(max(1, self._limit // 2))
        elif self._cap != self._limit:
            self._cap = self._limit
        # Re-fit every 8th batch, or at once when a batch missed the target or a size class
        # just became usable: a fit costs ~10 us, a batch of a no-op processor ~5 us.
        if latency_s > self.latency_target_s or self._count[k] == _MIN_OBS or not self._n_obs & 7:
            self._choose(k)

    def _choose(self, last: int) -> None:
        fresh = [k for k in range(_BUCKETS)
                 if self._count[k] >= _MIN_OBS and self._n_obs - self._seen[k] <= _FRESH_OBS]
        target = self.latency_target_s
        if len(fresh) >= 2:
            w = [min(self._count[k], 16) for k in fresh]
            sw = sum(w)
            mn = sum(wi * self._mean_n[k] for wi, k in zip(w, fresh)) / sw
            mt = sum(wi * self._mean_t[k] for wi, k in zip(w, fresh)) / sw
            var = sum(wi * (self._mean_n[k] - mn) ** 2 for wi, k in zip(w, fresh))
            cov = sum(wi * (self._mean_n[k] - mn) * (self._mean_t[k] - mt) for wi, k in zip(w, fresh))
            b = cov / var if var > 0 else 0.0
            a = mt - b * mn
            self.per_call_s, self.per_item_s = max(a, 0.0), max(b, 0.0)
            if b <= 0 or a >= target or all(self._mean_t[k] <= target for k in fresh):
                new = self._cap  # no size meets the target, or no observed size missed it
            else:
                new = int((target - a) / b)
            if self.item_failure_rate > 0 and b > 0:
                new = self._cheapest_with_failures(max(a, 0.0), b, max(1, min(new, self._cap)))
        elif self._count[last] >= _MIN_OBS:
            mean_t, mean_n = self._mean_t[last], int(self._mean_n[last])
            if mean_t > target or self.item_failure_rate > 0.001:
                new = min(self.size, mean_n // 2)  # explore: does latency fall with size?
            elif mean_t < target / 2:     # explore upwards
                new = max(self.size, mean_n * 2)
            else:
                new = self.size
        else:
            return
        new = max(1, min(new, self._cap))
        self.shrinks += new < self.size
        self.size = new

    def observe_items(self, ok: int, failed: int) -> None:
        """Items that succeeded and items that failed for good (dead letters): the failure
        rate that makes big batches costly (a failed batch re-runs all of its items)."""
        total = ok + failed
        if total <= 0:
            return
        self._ok_items = self._ok_items * _ITEM_DECAY ** total + ok
        self._failed_items = self._failed_items * _ITEM_DECAY ** total + failed
        self.item_failure_rate = self._failed_items / max(self._ok_items + self._failed_items, 1.0)

    def _cheapest_with_failures(self, a: float, b: float, largest: int) -> int:
        """The size up to ``largest`` with the least expected time per item when a fraction
        ``p`` of items fail: a batch of n fails with probability ``1 - (1 - p)**n`` and then
        re-runs its n items (plus ~15% to isolate the failing one)."""
        p = self.item_failure_rate
        best_n, best_cost = largest, float("inf")
        n = largest
        while n >= 1:
            cost = (a + b * n) * (1.0 + (1.0 - (1.0 - p) ** n) * 1.15) / n
            if cost < best_cost:
                best_n, best_cost = n, cost
            n = n * 4 // 5 if n > 5 else n - 1
        return best_n
