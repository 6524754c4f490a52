from defiperf.structures._clib cimport dp_hist_t


cdef double _finite(object value, str what) except? -1.0
cdef list _buckets(const dp_hist_t *h)
cdef dict _summary(const dp_hist_t *h)


cdef class LogHistogram:
    cdef dp_hist_t c
