from libc.stdint cimport int64_t, uint32_t, uint64_t

from defiperf.structures._clib cimport dp_hist_t, dp_series_t


cdef class LogHistogram:
    cdef dp_hist_t c


cdef class MetricStore


cdef class Series:
    cdef dp_series_t c
    cdef readonly str kind, name, unit
    cdef readonly int64_t created_ns
    cdef MetricStore store
    cdef int _window(self, str window, dp_hist_t *out, uint64_t *bad) except -1


cdef class Counter:
    cdef readonly str name
    cdef readonly double value


cdef class Gauge:
    cdef readonly str name
    cdef readonly double value


cdef class MetricStore:
    cdef dict _by_kind, _metrics, _requests, _db, _cache, _chain_series, _timers
    cdef dict _chains, _counters, _gauges
    cdef object _timer
    cdef bint _initialised      # __init__ has run (it runs only once)
    cdef readonly double window_s
    cdef readonly uint32_t window_slots
    cdef readonly int64_t slot_ns, created_ns
    cdef readonly Py_ssize_t max_series, n_series
    cdef readonly uint64_t overflow_records
    cdef int64_t _now_ns(self) except? -1
    cdef double _span_s(self, str window, int64_t created_ns) except? -1.0
    cdef Series _new_series(self, str kind, dict where, object name, str unit, object lookup_key)
    cdef int _record(self, Series s, double v, bint bad) except -1
    cdef _count_new(self, str name)
