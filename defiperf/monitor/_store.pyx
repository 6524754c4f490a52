# cython: language_level=3, embedsignature=True, binding=True
"""MetricStore: the monitor's recording core in C -- Series (windowed histograms), Counter, Gauge.

A record is one dict lookup and one C call: no Python object is allocated per record once a
series exists. Every record goes through one path (``MetricStore._put``); what differs between
kinds (unit, which argument is checked, label names) is data in ``KIND_SPECS``. While a tap (the
OpenTelemetry bridge) is attached with ``start_pending``, each recorded duration is also
appended to a bounded C buffer for it; an untapped store appends nothing. The number of
series, counters and gauges is capped by ``max_series``: records for new names past the cap go
to one ``"__overflow__"`` series, counter or gauge per kind, so memory stays flat whatever names
callers invent, and nothing raises for it. Every type here is atomic under the GIL (no method
releases it or calls back into Python half-way through an update: a tap's ``on_full`` is called
once a record is complete), so threads may share them; free-threaded Python is not supported.
"""

import logging
import math
from decimal import Decimal

cimport cython
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc
from libc.math cimport isfinite, NAN
from libc.stdint cimport int64_t, uint32_t, uint64_t

from defiperf._ratelimit import RateLimitedLog
from defiperf.structures._status cimport check_status
from defiperf.structures._clib cimport (
    DP_SERIES_MAX_SLOTS,
    dp_clock_now_ns,
    dp_hist_clear,
    dp_hist_free,
    dp_hist_init,
    dp_hist_merge,
    dp_hist_t,
    dp_series_free,
    dp_series_init,
    dp_series_record,
    dp_series_window,
)
from defiperf.structures.histogram cimport LogHistogram, _finite, _summary
from defiperf.structures.histogram import QUANTILES

#: kind -> (unit, the checked argument's name, label names). A "duration_ms" kind takes values
#: >= 0 in milliseconds and keeps exact counts at the store's ``buckets_s`` bounds; the others
#: take any finite value in the unit given on first record.
KIND_SPECS = {
    "metric": ("", "value", ("name",)),
    "request": ("ms", "duration_ms", ("endpoint",)),
    "db": ("ms", "duration_ms", ("query",)),
    "cache": ("ms", "duration_ms", ("tier",)),
    "chain": ("ms", "duration_ms", ("chain", "method")),
    "timer": ("ms", "duration_ms", ("operation",)),
    "system": ("", "value", ("name",)),
    "http": ("ms", "duration_ms", ("method", "route", "status")),
}
KINDS = tuple(KIND_SPECS)
WINDOWS = ("current", "previous", "total")
OVERFLOW = "__overflow__"

# calls of a tap's on_full for one record before its duration is dropped (see _pend)
cdef enum:
    _ON_FULL_TRIES = 8
#: Prometheus' default latency buckets plus the finer ones a fast service needs (seconds).
DEFAULT_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
)

_log = RateLimitedLog(logging.getLogger("defiperf.monitor"), interval_s=60.0)


cdef inline double _duration(object value, str what) except? -1.0:
    cdef double v = _finite(value, what)
    if v < 0:
        raise ValueError(f"{what} must be >= 0, got {v!r}")
    return v


cdef inline int _flag(object value, str what) except -1:
    """``value`` as 0/1 when it is a bool (or numpy's bool_); a TypeError naming ``what``
    otherwise: ``success="False"`` is truthy and would be recorded as a success."""
    if value is True:
        return 1
    if value is False:
        return 0
    if type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"):
        return 1 if value else 0
    raise TypeError(f"{what} must be a bool, not {type(value).__name__}")


def _le_threshold_ms(double bound_s):
    """The largest duration in ms counted as ``<= bound_s`` seconds. A value on the bound is
    counted in it however it was computed: as the decimal the bound was written as, times 1000
    (``0.3`` ms for ``0.0003``), as ``bound_s * 1000.0``, or as any ms value whose ``/ 1000.0``
    prometheus_client would count (``observe(ms / 1000) <= bound``). Each of the three is
    monotone in the bound, so the cumulative counts stay monotone."""
    cdef double x = bound_s * 1000.0
    while x / 1000.0 > bound_s:
        x = math.nextafter(x, -math.inf)
    while math.nextafter(x, math.inf) / 1000.0 <= bound_s:
        x = math.nextafter(x, math.inf)
    return max(x, bound_s * 1000.0, float(Decimal(repr(bound_s)) * 1000))


cdef str _exportable(object given, str what):
    """``given`` (a str) as an exact str, refused (ValueError) if it cannot be encoded as UTF-8
    (a lone surrogate, e.g. from ``surrogateescape``): it would break every later scrape."""
    cdef str name = str.__str__(given)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} name {name!r} is not valid UTF-8 (a lone surrogate); it could "
                         "not be exported") from None
    return name


cdef tuple _label_values(str kind, object key, Py_ssize_t n_labels):
    """The label values of a new series' lookup key (a str, or a tuple of n_labels str), as
    exact str (a str subclass's __hash__/__eq__ never runs inside the store's tables), each
    encodable as UTF-8."""
    if n_labels == 1:
        if not isinstance(key, str):
            raise TypeError(f"{kind} name must be a str, not {type(key).__name__}")
        return (_exportable(key, kind),)
    if not (isinstance(key, tuple) and len(key) == n_labels
            and all(isinstance(part, str) for part in key)):
        raise TypeError(f"{kind} labels must be {n_labels} str, got {key!r}")
    return tuple([_exportable(part, kind) for part in key])


cdef int _alloc_pending(uint32_t cap, uint32_t **ids, double **values) except -1:
    """Both arrays of a pending buffer of ``cap`` values, or MemoryError (and neither)."""
    ids[0] = <uint32_t *>PyMem_Malloc(cap * sizeof(uint32_t))
    values[0] = <double *>PyMem_Malloc(cap * sizeof(double))
    if ids[0] == NULL or values[0] == NULL:
        PyMem_Free(ids[0])
        PyMem_Free(values[0])
        ids[0] = NULL
        values[0] = NULL
        raise MemoryError()
    return 0


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
        PyMem_Free(self.le_counts)

    cdef void _count_le(self, double v_ms) noexcept:
        """Count v_ms in the first bound >= it (the export cumulates); see _le_threshold_ms."""
        cdef uint32_t i, n = self.store.n_le
        cdef const double *le = self.store.le_ms
        for i in range(n):
            if v_ms <= le[i]:
                self.le_counts[i] += 1
                return

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
    def sum(self):
        """The sum of every value since creation."""
        return self.c.total.sum

    @property
    def bad(self):
        """Failures (misses for cache series) since creation."""
        return self.c.n_bad

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


    def snapshot(self):
        """``(count, sum, bad, min, buckets)`` since creation, read at one instant (a record
        from another thread lands wholly before or after it): ``buckets`` are the cumulative
        counts at the store's ``buckets_s`` (``[]`` for a kind that is not a duration), never
        above ``count``; ``min`` is NaN before any value."""
        cdef uint64_t local[64]   # buckets_s has at most 64 bounds
        cdef uint32_t i, n = self.store.n_le if self.le_counts != NULL else 0
        cdef uint64_t count = self.c.total.count, bad = self.c.n_bad, acc = 0
        cdef double total = self.c.total.sum, lowest = self.c.total.min
        for i in range(n):
            local[i] = self.le_counts[i]
        # Only C reads so far (no Python code could run): one instant. Now build the objects.
        cdef list out = []
        for i in range(n):
            acc += local[i]
            out.append(acc)
        return count, total, bad, (lowest if count else NAN), out

    def bucket_counts(self):
        """Cumulative counts of the values <= each of the store's ``buckets_s`` bounds (seconds;
        the values are recorded in ms), exact, since creation; ``[]`` for a kind that is not a
        duration. The ``+Inf`` bucket is ``count``."""
        cdef list out = []
        cdef uint64_t acc = 0
        cdef uint32_t i
        if self.le_counts == NULL:
            return out
        for i in range(self.store.n_le):
            acc += self.le_counts[i]
            out.append(acc)
        return out


cdef class _Named:
    """What Counter and Gauge share: a name and a value (made by the store only)."""


cdef class Counter(_Named):
    """A monotonically increasing total (``inc``); made by ``MetricStore.counter(name)``."""

    def __init__(self, *args, **kwargs):
        raise TypeError("use MetricStore.counter(name)")

    def inc(self, amount=1.0):
        """Add ``amount`` (finite, >= 0)."""
        self.value += _duration(amount, "amount")

    def __repr__(self):
        return f"Counter({self.name!r}, value={self.value!r})"


cdef class Gauge(_Named):
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
    """MetricStore(window_s=60.0, window_slots=4, max_series=1000, timer=None, buckets_s=DEFAULT_BUCKETS_S)
--

    The recording core of PerformanceMonitor. Each name gets a Series on first use, up to
    ``max_series`` series, counters and gauges in all; past the cap, records for new names go to
    the ``"__overflow__"`` series (counter, gauge) of their kind and are counted in
    ``overflow_records`` -- never an error, and no memory per new name (the cap bounds memory
    against unbounded label values such as raw URLs; a rate-limited warning says it happened).
    Windows are ``window_slots`` slots of ``window_s / window_slots`` seconds: "current" is the
    slot now filling plus the ``window_slots - 1`` before it. ``timer`` (monotonic seconds) is
    read per record when given; by default a C monotonic clock is read, with no Python call.
    Duration series also count their values <= each bound of ``buckets_s`` (seconds) exactly,
    for histogram exports.

    >>> m = MetricStore()
    >>> m.record_request("/api/portfolio", 45.0)
    >>> m.record_request("/api/portfolio", 55.0, False)
    >>> s = m.get_series("request:/api/portfolio").stats()
    >>> s["count"], s["bad"], s["max"]
    (2, 1, 55.0)
    """

    def __cinit__(self, *args, **kwargs):
        self._by_kind = {kind: {} for kind in KINDS}
        self._lookup = {kind: self._by_kind[kind] if len(spec[2]) == 1 else {}
                        for kind, spec in KIND_SPECS.items()}
        self._metrics = self._lookup["metric"]
        self._requests = self._lookup["request"]
        self._db = self._lookup["db"]
        self._cache = self._lookup["cache"]
        self._chains = self._lookup["chain"]
        self._timers = self._lookup["timer"]
        self._system = self._lookup["system"]
        self._http = self._lookup["http"]
        self._counters = {}
        self._gauges = {}
        self._durations = []

    def __dealloc__(self):
        PyMem_Free(self.le_ms)
        PyMem_Free(self.bounds_s)
        PyMem_Free(self.pending_ids)
        PyMem_Free(self.pending_ms)

    def __init__(self, window_s=60.0, window_slots=4, max_series=1000, timer=None,
                 buckets_s=DEFAULT_BUCKETS_S):
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
        bounds = tuple(_finite(b, "buckets_s") for b in buckets_s)
        if not bounds or list(bounds) != sorted(set(bounds)) or bounds[0] <= 0 or len(bounds) > 64:
            raise ValueError("buckets_s must be 1..64 increasing, distinct bounds > 0 (seconds)")
        if w * 1e9 / window_slots >= 9.2e18:
            raise ValueError(f"window_s must be below 9.2e9 seconds per slot, got {window_s!r}")
        if self._initialised:
            raise RuntimeError("MetricStore.__init__ cannot be called on an initialised store; "
                               "make a new MetricStore")
        self._initialised = True
        thresholds = [_le_threshold_ms(b) for b in bounds]
        self.le_ms = <double *>PyMem_Malloc(len(bounds) * sizeof(double))
        self.bounds_s = <double *>PyMem_Malloc(len(bounds) * sizeof(double))
        if self.le_ms == NULL or self.bounds_s == NULL:
            raise MemoryError()
        for i, b in enumerate(thresholds):
            self.le_ms[i] = b
            self.bounds_s[i] = bounds[i]
        self.n_le = len(bounds)
        self.buckets_s = bounds
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

    cdef int _overflowed(self, str what) except -1:
        """Count (and warn, rate-limited) one record for a new name past max_series."""
        self.overflow_records += 1
        _log.warning(what, "max_series=%d reached: new %s names go to %r (%d records so far)",
                     self.max_series, what, OVERFLOW, self.overflow_records)
        return 0

    cdef Series _make(self, str kind, tuple labels, str unit):
        """A new, unregistered Series (allocating may run the GC, hence other threads)."""
        spec = KIND_SPECS[kind]
        cdef Series s = Series.__new__(Series)
        check_status(dp_series_init(&s.c, 2 * self.window_slots, self.slot_ns), "Series")
        if spec[1] == "duration_ms":
            s.le_counts = <uint64_t *>PyMem_Calloc(self.n_le, sizeof(uint64_t))
            if s.le_counts == NULL:
                raise MemoryError()
        s.kind = kind
        s.labels = labels
        s.name = (labels[0] if labels[0] == OVERFLOW or len(labels) == 1
                  else ".".join(labels) if kind == "chain" else " ".join(labels))
        s.unit = unit if unit else spec[0]
        s.store = self
        s.created_ns = self._now_ns()
        return s

    cdef Series _new_series(self, str kind, object key, str unit):
        """The series of a key not found: made and registered, or the kind's overflow series
        past max_series. Whatever ran during _make (GC, the timer: other threads) is
        re-checked before registering, so a name never gets two series nor a slot twice."""
        cdef tuple labels = _label_values(kind, key, len(KIND_SPECS[kind][2]))
        key = labels[0] if len(labels) == 1 else labels   # exact str from here on
        cdef dict lookup = self._lookup[kind]
        cdef dict by_name = self._by_kind[kind]
        cdef Series s = None
        if self.n_series < self.max_series:
            s = self._make(kind, labels, unit)
            found = lookup.get(key)
            if found is not None:
                return found
            if self.n_series < self.max_series:
                self.n_series += 1
                return self._register(lookup, by_name, key, s)
        self._overflowed(kind)
        found = by_name.get(OVERFLOW)
        if found is not None:
            return found
        s = self._make(kind, (OVERFLOW,) * len(labels), unit)
        found = by_name.get(OVERFLOW)
        if found is not None:
            return found
        return self._register(lookup, by_name, OVERFLOW, s)

    cdef Series _register(self, dict lookup, dict by_name, object key, Series s):
        """Make ``s`` findable (no Python code runs in between: the dicts hold exact str)."""
        if s.le_counts != NULL:
            s.pending_id = len(self._durations)
            self._durations.append(s)
        lookup[key] = s
        by_name[s.name] = s
        return s

    cdef int _put(self, dict where, str kind, object key, object value, bint bad,
                  str unit) except -1:
        """The one record path: find (or make) the series of ``key``, check ``value``, record."""
        cdef Series s = where.get(key)
        cdef double v
        if s is None:
            spec = KIND_SPECS[kind]
            v = _finite(value, spec[1])
            if v < 0 and spec[1] == "duration_ms":
                raise ValueError(f"duration_ms must be >= 0, got {v!r}")
            if unit is None or not isinstance(unit, str):
                raise TypeError(f"unit must be a str, not {type(unit).__name__}")
            s = self._new_series(kind, key, unit)
        elif s.le_counts != NULL:
            v = _duration(value, "duration_ms")
        else:
            v = _finite(value, "value")
            if unit and unit != s.unit and s.name != OVERFLOW:
                raise ValueError(f"{kind} {key!r} is recorded in {s.unit!r}, not {unit!r}")
        check_status(dp_series_record(&s.c, v, bad, self._now_ns()), "record")
        if s.le_counts != NULL:
            s._count_le(v)
            if self.pending_cap:
                self._pend(s, v)
        return 0

    # --- pending durations (what a tap such as the OpenTelemetry bridge drains) --------------

    cdef int _pend(self, Series s, double v_ms) except -1:
        """Append one recorded duration for the tap; when the buffer is full, call the tap's
        ``on_full`` (it drains with take_pending) on this thread. The record itself is done
        already: an ``on_full`` that fails is logged, never raised into the recording caller.
        Other threads may fill the buffer again while ``on_full`` waits for a lock, so it is
        called again while the buffer is full: only if it is still full after
        ``_ON_FULL_TRIES`` calls is a value dropped (counted)."""
        cdef int tries = 0
        while self.n_pending >= self.pending_cap:
            if tries == _ON_FULL_TRIES or not self.pending_cap:  # could not drain, or stopped
                if self.pending_cap:
                    self.pending_dropped += 1
                return 0
            self._call_on_full()
            tries += 1
        self.pending_ids[self.n_pending] = s.pending_id
        self.pending_ms[self.n_pending] = v_ms
        self.n_pending += 1
        if self.n_pending == self.pending_cap:
            self._call_on_full()
        return 0

    cdef int _call_on_full(self) except -1:
        on_full = self._on_full
        if on_full is None:
            return 0
        try:
            on_full()
        except Exception as exc:  # the record is done; the caller must not see the tap fail
            _log.warning("pending", "draining recorded durations failed: %s: %s",
                         type(exc).__name__, exc)
        return 0

    def start_pending(self, capacity, on_full):
        """Keep every duration recorded from now on (up to ``capacity`` at a time) until
        ``take_pending()`` takes them; ``on_full()`` is called on the recording thread when the
        buffer is full and must call ``take_pending()``. For one tap (the OpenTelemetry
        bridge); a store nothing taps appends nothing. Pending values are kept when a tap
        replaces another."""
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
        if not 1 <= capacity <= 1 << 24:
            raise ValueError(f"capacity must be in 1..{1 << 24}, got {capacity}")
        if not callable(on_full):
            raise TypeError("on_full must be callable")
        cdef uint32_t cap = capacity
        if cap < self.n_pending:
            raise ValueError(f"capacity {cap} is below the {self.n_pending} values pending; "
                             "take_pending() first")
        cdef uint32_t *ids
        cdef double *values
        _alloc_pending(cap, &ids, &values)
        cdef uint32_t i
        for i in range(self.n_pending):
            ids[i] = self.pending_ids[i]
            values[i] = self.pending_ms[i]
        PyMem_Free(self.pending_ids)
        PyMem_Free(self.pending_ms)
        self.pending_ids, self.pending_ms, self.pending_cap = ids, values, cap
        self._on_full = on_full

    def stop_pending(self):
        """Stop keeping durations; returns what was pending (as ``take_pending()``)."""
        self._on_full = None
        self.pending_cap = 0              # no appends from here, whatever runs below
        out = self.take_pending()
        PyMem_Free(self.pending_ids)
        PyMem_Free(self.pending_ms)
        self.pending_ids = NULL
        self.pending_ms = NULL
        self.n_pending = 0
        return out

    def take_pending(self):
        """The durations recorded since the last take, and empties the buffer: a list of
        ``(series, [seconds, ...])`` in order of first appearance, each series' values in
        recording order (``take_pending_batch().items()``: see there)."""
        return self.take_pending_batch().items()

    def take_pending_batch(self):
        """Empties the buffer and returns what it held as a ``PendingBatch``: a buffer swap,
        no Python object per value (the list of ``take_pending()`` is made by the batch's
        ``items()``, later and on any thread). Each value is taken once, whichever thread
        takes: the buffer is swapped for an empty one before any Python object is made."""
        cdef uint32_t n = self.n_pending, cap = self.pending_cap
        cdef PendingBatch batch = PendingBatch.__new__(PendingBatch)
        batch.store = self
        if n == 0:
            return batch
        cdef uint32_t *fresh_ids
        cdef double *fresh_values
        _alloc_pending(cap, &fresh_ids, &fresh_values)
        batch.ids, batch.values, batch.n = self.pending_ids, self.pending_ms, n
        self.pending_ids, self.pending_ms, self.n_pending = fresh_ids, fresh_values, 0
        return batch

    def record(self, kind, key, value, success=True, unit=""):
        """Record ``value`` into the series ``key`` of ``kind`` (one of ``KINDS``): ``key`` is a
        str, or a tuple of str for kinds with several labels (``"chain"``: chain, method;
        ``"http"``: method, route, status). Every ``record_*`` method is this with its kind."""
        where = self._lookup.get(kind)
        if where is None:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "http" and isinstance(key, tuple) and len(key) == 3:
            status = key[2]
            if not (isinstance(status, str) and status.isascii() and status.isdigit()
                    and 100 <= int(status) <= 599):
                raise ValueError(f"status (the third label of an http key) must be an HTTP "
                                 f"status code in 100..599, got {status!r}")
        self._put(where, kind, key, value, not _flag(success, "success"),
                  unit if unit is not None else "")

    def record_metric(self, name, value, unit=""):
        """Record a custom metric (any finite value, e.g. ``1500, "ops/sec"``); a name keeps the
        unit it was first recorded with (another unit is a ``ValueError``)."""
        self._put(self._metrics, "metric", name, value, False, unit)

    def record_request(self, endpoint, duration_ms, success=True):
        """Record one request to ``endpoint`` that took ``duration_ms`` (>= 0)."""
        self._put(self._requests, "request", endpoint, duration_ms, not _flag(success, "success"), "")

    def record_db_query(self, name, duration_ms, success=True):
        """Record one database query ``name`` that took ``duration_ms`` (>= 0)."""
        self._put(self._db, "db", name, duration_ms, not _flag(success, "success"), "")

    def record_cache(self, tier, hit, duration_ms=0.0):
        """Record one cache lookup in ``tier`` ("l1", "l2", ...): a hit or a miss, and its time."""
        self._put(self._cache, "cache", tier, duration_ms, not _flag(hit, "hit"), "")

    def record_chain_call(self, chain, method, duration_ms, success=True):
        """Record one RPC call ``method`` to a blockchain node of ``chain`` (series ``chain.method``)."""
        self._put(self._chains, "chain", (chain, method), duration_ms, not _flag(success, "success"), "")

    def record_timing(self, name, duration_ms, success=True):
        """Record one timed operation ``name`` (what ``timer(name)`` records)."""
        self._put(self._timers, "timer", name, duration_ms, not _flag(success, "success"), "")

    def record_system(self, name, value, unit=""):
        """Record a system metric (what the sampler records: CPU %, I/O, loop lag)."""
        self._put(self._system, "system", name, value, False, unit)

    def record_http(self, method, route, status, duration_ms):
        """Record one HTTP request: ``route`` is the route template (``"/items/{id}"``), never the
        raw path; ``status`` is an int in 100..599 (499: the client closed the connection); a
        status >= 500 counts as a failure."""
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"status must be an int, not {type(status).__name__}")
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status code in 100..599, got {status}")
        self._put(self._http, "http", (method, route, str(status)), duration_ms, status >= 500, "")

    def counter(self, name):
        """The Counter called ``name`` (made on first use; past ``max_series``, the shared
        ``"__overflow__"`` counter)."""
        return self._named(self._counters, Counter, "counter", name)

    def gauge(self, name):
        """The Gauge called ``name`` (made on first use; past ``max_series``, the shared
        ``"__overflow__"`` gauge)."""
        return self._named(self._gauges, Gauge, "gauge", name)

    cdef _Named _named(self, dict table, type cls, str what, object name):
        cdef _Named made = table.get(name)
        if made is not None:
            return made
        if not isinstance(name, str):
            raise TypeError(f"{what} name must be a str, not {type(name).__name__}")
        name = _exportable(name, what)
        if self.n_series >= self.max_series:
            self._overflowed(what)
            name = OVERFLOW
            made = table.get(name)
            if made is not None:
                return made
        made = cls.__new__(cls)
        made.name = name
        found = table.get(name)        # re-check: allocating may have let another thread in
        if found is not None:
            return found
        if name is not OVERFLOW:
            if self.n_series >= self.max_series:
                return self._named(table, cls, what, name)
            self.n_series += 1
        table[name] = made
        return made

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
        return [(s.labels[0], s.labels[1], s) for s in self._chains.values()
                if s.name != OVERFLOW]

    def counters(self):
        """Every counter, in the order they were created."""
        return list(self._counters.values())

    def gauges(self):
        """Every gauge, in the order they were created."""
        return list(self._gauges.values())


@cython.final
cdef class PendingBatch:
    """Durations taken from a store's pending buffer (``MetricStore.take_pending_batch``): its
    own C arrays, read by ``items()``. Immutable; ``items()`` may be called from any thread,
    any number of times."""

    cdef MetricStore store
    cdef uint32_t *ids
    cdef double *values
    cdef uint32_t n

    def __cinit__(self):
        self.ids = NULL
        self.values = NULL
        self.n = 0

    def __dealloc__(self):
        PyMem_Free(self.ids)
        PyMem_Free(self.values)

    def __len__(self):
        return self.n

    def items(self):
        """A list of ``(series, [seconds, ...])`` in order of first appearance, each series'
        values in recording order. A value is ``ms / 1000``, except that a value the store
        counts as ``<= buckets_s[i]`` whose quotient rounds above that bound is reported as the
        bound, so that every exporter bucketing at ``buckets_s`` counts exactly what the store
        counts."""
        cdef uint32_t i, j, nle
        cdef double v, sec
        cdef dict grouped = {}
        cdef list out = []
        if self.n == 0:
            return out
        # The arrays are this batch's own and never change; the store (kept alive by
        # self.store) never frees or changes le_ms, bounds_s or n_le, and only appends to
        # _durations, whatever Python code (the GC, other threads) runs below.
        nle = self.store.n_le
        for i in range(self.n):
            v = self.values[i]
            sec = v / 1000.0
            for j in range(nle):
                if v <= self.store.le_ms[j]:
                    if sec > self.store.bounds_s[j]:
                        sec = self.store.bounds_s[j]
                    break
            got = grouped.get(self.ids[i])
            if got is None:
                got = grouped[self.ids[i]] = []
                out.append((self.store._durations[self.ids[i]], got))
            got.append(sec)
        return out
