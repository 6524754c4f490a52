cimport cython

from defiperf.structures._clib cimport dp_ring_t


@cython.final
cdef class RingBuffer:
    cdef dp_ring_t c
    cdef readonly tuple fields
    cdef readonly bint overwrite_on_full
    cdef dict _index            # field name -> column
    cdef object _dtype          # the structured dtype of returned rows
    cdef object _row            # the namedtuple type of one row ([i] and iteration)
    cdef Py_ssize_t _shape[2]   # for the buffer protocol: (n_fields, capacity)
    cdef Py_ssize_t _strides[2]
    cdef bint _initialised      # __init__ has run (it runs only once)
    cdef Py_ssize_t _exports    # live buffer exports (views): the storage must not move
    cdef object __weakref__

    cdef size_t _field(self, object field) except? 0xFFFF
    cdef object _rows(self, size_t start, size_t n)
    cdef int _raise_for(self, int rc, str what) except -1
