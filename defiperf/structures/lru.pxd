cimport cython
from cpython.object cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint64_t

from defiperf.structures._clib cimport dp_lru_t


ctypedef struct _Entry:
    PyObject *key
    PyObject *value


ctypedef struct _Victim:
    PyObject *key
    PyObject *value
    int reason


ctypedef struct _Victims:
    _Victim *items
    size_t n, cap
    _Victim first[2]


@cython.final
cdef class OptimizedLRU:
    cdef dp_lru_t c
    # Keys and values: owned references in each live node's user[0] and user[1].
    cdef object timer           # None: the C monotonic clock
    cdef object size_of
    cdef object on_evict
    cdef int64_t ttl_ns         # DP_LRU_NEVER: no default TTL
    cdef int64_t c_max_weight     # 0: no weight bound
    cdef bint _initialised      # __init__ has run (it runs only once)
    cdef uint64_t version       # bumped by every change of slots, so lookups can restart
    cdef uint64_t n_hits, n_misses, n_evictions, n_expirations
    cdef object __weakref__

    cdef void _drop_all(self) noexcept
    cdef int64_t _now(self) except? -1
    cdef bint _may_expire(self) noexcept
    cdef int32_t _find(self, object key, uint64_t h) except -2
    cdef int _take(self, _Victims *v, int32_t slot, int reason) except -1
    cdef int _evict_one(self, _Victims *v, int64_t now, int32_t keep) except -1
    cdef int _release(self, _Victims *v) except -1
    cdef int32_t _live_slot(self, object key, _Victims *v) except -2
    cdef int32_t _peek_slot(self, object key) except -2
    cdef int64_t _weigh(self, object key, object value) except -1
    cdef int _set(self, object key, object value, object ttl) except -1
    cdef int _set_reporting(self, object key, object value, uint64_t h, int32_t slot,
                            int64_t weight, int64_t expires, int64_t now, bint timed) except -1
    cdef int _replace(self, _Victims *v, int32_t slot, object value, int64_t weight,
                      int64_t expires, bint expired) except -1
    cdef int _remove_expired(self, int32_t slot) except -1
    cdef object _pop_entry(self, object key)
    cdef list _collect(self, int what, bint live_only)
