# cython: language_level=3, embedsignature=True, binding=True
"""Metric recording in C: LogHistogram, Series (windowed histograms), Counter, Gauge, MetricStore.

A record is one dict lookup and one C call: no Python object is allocated per record once a
series exists. Percentiles come from a log-linear (HDR-style) histogram with 64 buckets per power
of two: any reported quantile is within 0.79% (``LogHistogram.relative_error``) of a value at that
rank. Every type here is atomic under the GIL (no method releases it or calls back into Python
half-way through an update), so threads may share them; free-threaded Python is not supported.
"""

cimport cython
from libc.math cimport INFINITY, isfinite, isnan, NAN
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from defiperf.structures._status cimport check_status
from defiperf.structures._clib cimport (
    DP_HIST_MIN_ABS,
    DP_HIST_REL_ERR,
    DP_SERIES_MAX_SLOTS,
    dp_clock_now_ns,
    dp_hist_clear,
    dp_hist_count_le,
    dp_hist_free,
    dp_hist_init,
    dp_hist_key_bounds,
    dp_hist_merge,
    dp_hist_quantile,
    dp_hist_record,
    dp_hist_t,
    dp_series_free,
    dp_series_init,
    dp_series_record,
    dp_series_t,
    dp_series_window,
    dp_store_t,
)

KINDS = ("metric", "request", "db", "cache", "chain", "timer", "system")
WINDOWS = ("current", "previous", "total")
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p999": 0.999}
OVERFLOW = "__overflow__"


cdef inline double _finite(object value, str what) except? -1.0:
    cdef double v
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a real number, not bool")
    if not isinstance(value, (int, float)):
        try:
            v = value  # numpy scalars, Decimal, ... through __float__
        except TypeError:
            raise TypeError(f"{what} must be a real number, not {type(value).__name__}") from None
    else:
        v = value
    if not isfinite(v):
        raise ValueError(f"{what} must be finite, got {v!r}")
    return v


cdef inline double _duration(object value, str what) except? -1.0:
    cdef double v = _finite(value, what)
    if v < 0:
        raise ValueError(f"{what} must be >= 0, got {v!r}")
    return v


cdef list _buckets(const dp_hist_t *h):
    """[(lower, upper, count)] of the nonzero buckets in value order."""
    cdef list out = []
    cdef double lower, upper
    cdef uint32_t i
    for i in reversed(range(h.neg.n_buckets)):
        if h.neg.counts[i]:
            dp_hist_key_bounds(h.neg.lo + <int32_t>i, &lower, &upper)
            out.append((-upper, -lower, h.neg.counts[i]))
    if h.n_zero:
        out.append((-DP_HIST_MIN_ABS, DP_HIST_MIN_ABS, h.n_zero))
    for i in range(h.pos.n_buckets):
        if h.pos.counts[i]:
            dp_hist_key_bounds(h.pos.lo + <int32_t>i, &lower, &upper)
            out.append((lower, upper, h.pos.counts[i]))
    return out


cdef dict _summary(const dp_hist_t *h):
    """count, sum, mean, min, max and the QUANTILES of h (NaN where h is empty)."""
    cdef dict out = {"count": h.count, "sum": h.sum}
    if h.count == 0:
        out.update(mean=NAN, min=NAN, max=NAN)
        for name in QUANTILES:
            out[name] = NAN
        return out
    out.update(mean=h.sum / h.count, min=h.min, max=h.max)
    for name, q in QUANTILES.items():
        out[name] = dp_hist_quantile(h, q)
    return out


@cython.embedsignature(False)  # one signature, from the docstring (__text_signature__)
cdef class LogHistogram:
    """LogHistogram()
--

    A log-linear histogram of finite floats (negative, zero and positive), HDR-style: 64 buckets
    per power of two, allocated as values arrive. ``quantile(q)`` returns the value at rank
    ``ceil(q * count)`` (numpy's ``method="inverted_cdf"``) within ``relative_error``; values with
    ``abs(v) < 1e-12`` count as zero.

    >>> h = LogHistogram()
    >>> for v in range(1, 101):
    ...     h.record(v)
    >>> h.count, h.min, h.max, round(h.quantile(0.5))
    (100, 1.0, 100.0, 50)
    """

    relative_error = DP_HIST_REL_ERR

    def __cinit__(self):
        dp_hist_init(&self.c)

    def __dealloc__(self):
        dp_hist_free(&self.c)

    def record(self, value):
        """Add one finite value."""
        check_status(dp_hist_record(&self.c, _finite(value, "value")), "LogHistogram.record")

    def record_many(self, values):
        """Add every value of an iterable (all are checked first: nothing is added on an error)."""
        # (The loop variables must not be C doubles: True would become 1.0 before the check.)
        cdef list checked = [_finite(item, "value") for item in values]
        for item in checked:
            check_status(dp_hist_record(&self.c, <double>item), "LogHistogram.record_many")

    def quantile(self, q):
        """The value at rank ``ceil(q * count)``, ``q`` in [0, 1]; ``ValueError`` when empty."""
        cdef double qq = _finite(q, "q")
        if not 0.0 <= qq <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {qq!r}")
        if self.c.count == 0:
            raise ValueError("quantile of an empty histogram")
        return dp_hist_quantile(&self.c, qq)

    def count_le(self, x):
        """How many values are <= x, up to one bucket's width (``relative_error`` x 2)."""
        return dp_hist_count_le(&self.c, _finite(x, "x"))

    def merge(self, LogHistogram other not None):
        """Add every value of ``other`` to this histogram."""
        check_status(dp_hist_merge(&self.c, &other.c), "LogHistogram.merge")

    def clear(self):
        """Forget every value."""
        dp_hist_clear(&self.c)

    def buckets(self):
        """The nonzero buckets as ``[(lower, upper, count)]`` in value order."""
        return _buckets(&self.c)

    def summary(self):
        """count, sum, mean, min, max, p50, p90, p95, p99 and p999 (NaN when empty)."""
        return _summary(&self.c)

    def __len__(self):
        return self.c.count

    @property
    def count(self):
        return self.c.count

    @property
    def sum(self):
        return self.c.sum

    @property
    def min(self):
        """The smallest value (``inf`` when empty)."""
        return self.c.min

    @property
    def max(self):
        """The largest value (``-inf`` when empty)."""
        return self.c.max

    @property
    def mean(self):
        """sum / count (NaN when empty)."""
        return self.c.sum / self.c.count if self.c.count else NAN


cdef class Series:
    """One named series of a MetricStore: since-start and windowed histograms, a bad count.

    Made by the store (never directly). ``bad`` counts failures for requests, database queries,
    chain calls and timers, and misses for cache series. ``stats(window)`` summarises it over
    ``"current"`` (the last ``window_s`` seconds), ``"previous"`` (the ``window_s`` before that)
    or ``"total"`` (since it was created).
    """

    def __cinit__(self):
        dp_hist_init(&self.c.total)

    def __dealloc__(self):
        dp_series_free(&self.c)

    def __init__(self, *args, **kwargs):
        raise TypeError("Series are made by MetricStore (record_* methods), not directly")

    @property
    def key(self):
        """``"kind:name"``: how alert rules and reports name this series."""
        return f"{self.kind}:{self.name}"

    @property
    def count(self):
        return self.c.total.count

    @property
    def last(self):
        """The last recorded value (NaN before any)."""
        return self.c.last if self.c.total.count else NAN

    def histogram(self, window="total"):
        """A LogHistogram copy of the values in ``window`` ("current", "previous" or "total")."""
        cdef LogHistogram h = LogHistogram()
        cdef uint64_t bad
        self._window(window, &h.c, &bad)
        return h

    cdef int _window(self, str window, dp_hist_t *out, uint64_t *bad) except -1:
        cdef uint32_t per = self.store.window_slots
        if window == "total":
            dp_hist_clear(out)
            check_status(dp_hist_merge(out, &self.c.total), "Series")
            bad[0] = self.c.n_bad
        elif window == "current" or window == "previous":
            check_status(dp_series_window(&self.c, self.store._now_ns(), 0 if window == "current"
                                          else per, per, out, bad), "Series")
        else:
            raise ValueError(f"window must be one of {WINDOWS}, got {window!r}")
        return 0

    def stats(self, window="current"):
        """A dict: count, sum, mean, min, max, p50..p999, last, bad, bad_rate and rate (values per
        second over the window; over the time since creation for "total")."""
        cdef dp_hist_t h
        cdef uint64_t bad = 0
        dp_hist_init(&h)
        try:
            self._window(window, &h, &bad)
            out = _summary(&h)
        finally:
            dp_hist_free(&h)
        out["last"] = self.last
        out["bad"] = bad
        out["bad_rate"] = bad / out["count"] if out["count"] else NAN
        out["rate"] = out["count"] / self.store._span_s(window, self.created_ns)
        return out


cdef class Counter:
    """A monotonically increasing total (``inc``); made by ``MetricStore.counter(name)``."""

    def __init__(self, *args, **kwargs):
        raise TypeError("use MetricStore.counter(name)")

    def inc(self, amount=1.0):
        """Add ``amount`` (finite, >= 0)."""
        self.value += _duration(amount, "amount")

    def __repr__(self):
        return f"Counter({self.name!r}, value={self.value!r})"


cdef class Gauge:
    """A value that goes up and down (``set``, ``inc``, ``dec``); made by ``MetricStore.gauge(name)``."""

    def __init__(self, *args, **kwargs):
        raise TypeError("use MetricStore.gauge(name)")

    def set(self, value):
        self.value = _finite(value, "value")

    def inc(self, amount=1.0):
        self.value += _finite(amount, "amount")

    def dec(self, amount=1.0):
        self.value -= _finite(amount, "amount")

    def __repr__(self):
        return f"Gauge({self.name!r}, value={self.value!r})"


@cython.embedsignature(False)  # one signature, from the docstring (__text_signature__)
cdef class MetricStore:
    """MetricStore(window_s=60.0, window_slots=4, max_series=1000, timer=None)
--

    The recording core of PerformanceMonitor. Each name gets a Series on first use, up to
    ``max_series`` series, counters and gauges in all; values for new names past the cap go to
    the ``"__overflow__"`` series of their kind and are counted in ``overflow_records`` (the cap
    bounds memory against unbounded label values such as raw URLs). Windows are ``window_slots``
    slots of ``window_s / window_slots`` seconds: "current" is the slot now filling plus the
    ``window_slots - 1`` before it. ``timer`` (monotonic seconds) is read per record when given;
    by default a C monotonic clock is read, with no Python call.

    >>> m = MetricStore()
    >>> m.record_request("/api/portfolio", 45.0)
    >>> m.record_request("/api/portfolio", 55.0, False)
    >>> s = m.get_series("request:/api/portfolio").stats()
    >>> s["count"], s["bad"], s["max"]
    (2, 1, 55.0)
    """

    def __cinit__(self, *args, **kwargs):
        self._by_kind = {kind: {} for kind in KINDS}
        self._metrics = self._by_kind["metric"]
        self._requests = self._by_kind["request"]
        self._db = self._by_kind["db"]
        self._cache = self._by_kind["cache"]
        self._chain_series = self._by_kind["chain"]
        self._timers = self._by_kind["timer"]
        self._chains = {}
        self._counters = {}
        self._gauges = {}

    def __init__(self, window_s=60.0, window_slots=4, max_series=1000, timer=None):
        cdef double w = _finite(window_s, "window_s")
        if w <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s!r}")
        if isinstance(window_slots, bool) or not isinstance(window_slots, int):
            raise TypeError(f"window_slots must be an int, not {type(window_slots).__name__}")
        if not 1 <= window_slots <= DP_SERIES_MAX_SLOTS // 2:
            raise ValueError(f"window_slots must be in 1..{DP_SERIES_MAX_SLOTS // 2}, got {window_slots}")
        if isinstance(max_series, bool) or not isinstance(max_series, int):
            raise TypeError(f"max_series must be an int, not {type(max_series).__name__}")
        if max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series}")
        if timer is not None and not callable(timer):
            raise TypeError("timer must be a callable returning monotonic seconds")
        if w * 1e9 / window_slots >= 9.2e18:
            raise ValueError(f"window_s must be below 9.2e9 seconds per slot, got {window_s!r}")
        if self._initialised:
            raise RuntimeError("MetricStore.__init__ cannot be called on an initialised store; "
                               "make a new MetricStore")
        self._initialised = True
        self.window_s = w
        self.window_slots = window_slots
        self.slot_ns = max(<int64_t>(w * 1e9 / window_slots), 1)
        self.max_series = max_series
        self._timer = timer
        self.created_ns = self._now_ns()

    cdef int64_t _now_ns(self) except? -1:
        if self._timer is None:
            return dp_clock_now_ns()
        cdef double t = _finite(self._timer(), "timer()")
        if t < 0 or t * 1e9 >= 9.2e18:
            raise ValueError(f"timer() must return seconds in [0, 9.2e9), got {t!r}")
        return <int64_t>(t * 1e9)

    cdef double _span_s(self, str window, int64_t created_ns) except? -1.0:
        """Seconds the window covers, cut at the series' creation; at least one second (so a
        series made a moment ago does not report an absurd rate)."""
        # Python ints: with long windows these spans overflow int64.
        cdef object now = int(self._now_ns()), slot = int(self.slot_ns)
        cdef object slots = int(self.window_slots), start, end = now
        cdef object slot_start = (now // slot) * slot
        if window == "total":
            start = int(created_ns)
        elif window == "current":
            start = slot_start - (slots - 1) * slot
        else:
            end = slot_start - (slots - 1) * slot
            start = end - slots * slot
        if created_ns > start:
            start = int(created_ns)
        return max((end - start) / 1e9, 1.0)

    def now(self):
        """The store's clock in seconds (the injected timer, or the C monotonic clock)."""
        return self._now_ns() / 1e9

    cdef Series _new_series(self, str kind, dict where, object name, str unit, object lookup_key):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, not {type(name).__name__}")
        cdef Series s
        if self.n_series >= self.max_series:
            self.overflow_records += 1
            where = self._by_kind[kind]
            s = where.get(OVERFLOW)
            if s is not None:
                return s
            name = lookup_key = OVERFLOW
        else:
            self.n_series += 1
        s = Series.__new__(Series)
        check_status(dp_series_init(&s.c, 2 * self.window_slots, self.slot_ns), "Series")
        s.kind = kind
        s.name = name
        s.unit = unit
        s.store = self
        s.created_ns = self._now_ns()
        where[lookup_key] = s
        if where is not self._by_kind[kind]:
            self._by_kind[kind][name] = s
        return s

    cdef int _record(self, Series s, double v, bint bad) except -1:
        check_status(dp_series_record(&s.c, v, bad, self._now_ns()), "record")
        return 0

    def record_metric(self, name, value, unit=""):
        """Record a custom metric (any finite value, e.g. ``1500, "ops/sec"``); a name keeps the
        unit it was first recorded with (another unit is a ``ValueError``)."""
        cdef double v = _finite(value, "value")
        cdef Series s = self._metrics.get(name)
        if s is None:
            if not isinstance(unit, str):
                raise TypeError(f"unit must be a str, not {type(unit).__name__}")
            s = self._new_series("metric", self._metrics, name, unit, name)
        elif unit and unit != s.unit and s.name != OVERFLOW:
            raise ValueError(f"metric {name!r} is recorded in {s.unit!r}, not {unit!r}")
        self._record(s, v, False)

    def record_request(self, endpoint, duration_ms, success=True):
        """Record one request to ``endpoint`` that took ``duration_ms`` (>= 0)."""
        cdef double v = _duration(duration_ms, "duration_ms")
        cdef Series s = self._requests.get(endpoint)
        if s is None:
            s = self._new_series("request", self._requests, endpoint, "ms", endpoint)
        self._record(s, v, not success)

    def record_db_query(self, name, duration_ms, success=True):
        """Record one database query ``name`` that took ``duration_ms`` (>= 0)."""
        cdef double v = _duration(duration_ms, "duration_ms")
        cdef Series s = self._db.get(name)
        if s is None:
            s = self._new_series("db", self._db, name, "ms", name)
        self._record(s, v, not success)

    def record_cache(self, tier, hit, duration_ms=0.0):
        """Record one cache lookup in ``tier`` ("l1", "l2", ...): a hit or a miss, and its time."""
        cdef double v = _duration(duration_ms, "duration_ms")
        cdef Series s = self._cache.get(tier)
        if s is None:
            s = self._new_series("cache", self._cache, tier, "ms", tier)
        self._record(s, v, not hit)

    def record_chain_call(self, chain, method, duration_ms, success=True):
        """Record one RPC call ``method`` to a blockchain node of ``chain`` (series ``chain.method``)."""
        cdef double v = _duration(duration_ms, "duration_ms")
        cdef dict methods = self._chains.get(chain)
        cdef Series s = None
        if methods is not None:
            s = methods.get(method)
        if s is None:
            if not isinstance(chain, str) or not isinstance(method, str):
                raise TypeError("chain and method must be str")
            if methods is None:
                methods = self._chains[chain] = {}
            s = self._new_series("chain", methods, f"{chain}.{method}", "ms", method)
        self._record(s, v, not success)

    def record_timing(self, name, duration_ms, success=True):
        """Record one timed operation ``name`` (what ``timer(name)`` records)."""
        cdef double v = _duration(duration_ms, "duration_ms")
        cdef Series s = self._timers.get(name)
        if s is None:
            s = self._new_series("timer", self._timers, name, "ms", name)
        self._record(s, v, not success)

    def record_system(self, name, value, unit=""):
        """Record a system metric (what the sampler records: CPU %, RSS, I/O rates, loop lag)."""
        cdef double v = _finite(value, "value")
        cdef dict where = self._by_kind["system"]
        cdef Series s = where.get(name)
        if s is None:
            s = self._new_series("system", where, name, unit, name)
        self._record(s, v, False)

    def counter(self, name):
        """The Counter called ``name`` (made on first use)."""
        cdef Counter c = self._counters.get(name)
        if c is None:
            if not isinstance(name, str):
                raise TypeError(f"counter name must be a str, not {type(name).__name__}")
            self._count_new(name)
            c = Counter.__new__(Counter)
            c.name = name
            self._counters[name] = c
        return c

    def gauge(self, name):
        """The Gauge called ``name`` (made on first use)."""
        cdef Gauge g = self._gauges.get(name)
        if g is None:
            if not isinstance(name, str):
                raise TypeError(f"gauge name must be a str, not {type(name).__name__}")
            self._count_new(name)
            g = Gauge.__new__(Gauge)
            g.name = name
            self._gauges[name] = g
        return g

    cdef _count_new(self, str name):
        if self.n_series >= self.max_series:
            self.overflow_records += 1
            raise OverflowError(f"max_series={self.max_series} reached; {name!r} not created")
        self.n_series += 1

    def series(self, kind=None):
        """Every Series (of one kind, if given), in creation order."""
        if kind is not None:
            if kind not in self._by_kind:
                raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
            return list(self._by_kind[kind].values())
        return [s for by_name in self._by_kind.values() for s in by_name.values()]

    def get_series(self, key):
        """The Series called ``"kind:name"``, or a bare name when exactly one kind has it; KeyError
        otherwise."""
        if not isinstance(key, str):
            raise TypeError(f"series key must be a str, not {type(key).__name__}")
        kind, sep, name = key.partition(":")
        if sep and kind in self._by_kind and name in self._by_kind[kind]:
            return self._by_kind[kind][name]
        found = [by_name[key] for by_name in self._by_kind.values() if key in by_name]
        if len(found) == 1:
            return found[0]
        if found:
            raise KeyError(f"{key!r} names {len(found)} series; say which: "
                           + ", ".join(s.key for s in found))
        raise KeyError(key)

    def chain_series(self):
        """``[(chain, method, Series)]`` for every chain-call series (not the overflow one)."""
        return [(chain, method, s) for chain, methods in self._chains.items()
                for method, s in methods.items()]

    def counters(self):
        return list(self._counters.values())

    def gauges(self):
        return list(self._gauges.values())
