from libc.stdint cimport int64_t, uint32_t, uint64_t

from defiperf.structures._clib cimport dp_hist_t, dp_series_t


cdef class MetricStore


cdef class Series:
    cdef dp_series_t c
    cdef uint64_t *le_counts          # per bound of the store's buckets_s (NULL: not a duration)
    cdef readonly str kind, name, unit
    cdef readonly tuple labels
    cdef readonly int64_t created_ns
    cdef MetricStore store
    cdef uint32_t pending_id          # index in the store's _durations (duration series only)
    cdef int _window(self, str window, dp_hist_t *out, uint64_t *bad) except -1
    cdef void _count_le(self, double v_ms) noexcept


cdef class _Named:
    cdef readonly str name
    cdef readonly double value


cdef class Counter(_Named):
    pass


cdef class Gauge(_Named):
    pass


cdef class MetricStore:
    cdef dict _by_kind, _lookup, _metrics, _requests, _db, _cache, _chains, _timers, _system, _http
    cdef dict _counters, _gauges
    cdef object _timer
    cdef bint _initialised      # __init__ has run (it runs only once)
    cdef double *le_ms               # per bound: the largest ms value counted in it
    cdef double *bounds_s            # per bound: buckets_s as C doubles
    # Pending durations for a tap (the OTel bridge): NULL/0 when nothing taps the store.
    cdef uint32_t *pending_ids       # Series.pending_id of each pending value
    cdef double *pending_ms          # the pending values, in recording order
    cdef readonly uint32_t pending_cap, n_pending
    cdef readonly uint64_t pending_dropped
    cdef object _on_full             # called (no arguments) when the pending buffer is full
    cdef list _durations             # duration Series by pending_id
    cdef readonly uint32_t n_le
    cdef readonly tuple buckets_s
    cdef readonly double window_s
    cdef readonly uint32_t window_slots
    cdef readonly int64_t slot_ns, created_ns
    cdef readonly Py_ssize_t max_series, n_series
    cdef readonly uint64_t overflow_records
    cdef int64_t _now_ns(self) except? -1
    cdef double _span_s(self, str window, int64_t created_ns) except? -1.0
    cdef int _overflowed(self, str what) except -1
    cdef Series _make(self, str kind, tuple labels, str unit)
    cdef _Named _named(self, dict table, type cls, str what, object name)
    cdef Series _new_series(self, str kind, object key, str unit)
    cdef Series _register(self, dict lookup, dict by_name, object key, Series s)
    cdef int _pend(self, Series s, double v_ms) except -1
    cdef int _call_on_full(self) except -1
    cdef int _put(self, dict where, str kind, object key, object value, bint bad,
                  str unit) except -1
