cimport cython

from defiperf.structures._clib cimport dp_sketch_t


@cython.final
cdef class FrequencySketch:
    cdef dp_sketch_t c
