cimport cython

from libc.stdint cimport uint64_t

from defiperf.structures._clib cimport dp_bloom_t


@cython.final
cdef class BloomFilter:
    cdef dp_bloom_t c
    cdef readonly object capacity      # the number of items the filter was sized for
    cdef readonly double error_rate    # the false-positive rate at capacity it was sized for
    cdef bint _initialised            # set up (by __init__, copy or load): never again
    cdef object _backing               # the mmap whose memory `c.words` borrows, or None
    cdef object __weakref__

    cdef int _mapped_ok(self, int rc) except -1
    cdef int _probe(self, const uint64_t *h) except -1
    cdef int _writable(self) except -1
    cdef int _hash_key(self, object key, uint64_t *h) except -1
