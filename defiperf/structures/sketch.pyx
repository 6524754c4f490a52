# cython: language_level=3, embedsignature=True, binding=True
"""FrequencySketch: TinyLFU's 4-bit count-min sketch with periodic halving, over a C array.

It estimates how often each key was seen recently, in 0..15: 4-bit counters, four per key, in a
table of 16 counters (8 bytes) per expected key; it is the admission filter of a W-TinyLFU cache.
"""

cimport cython
from libc.stdint cimport uint64_t

from defiperf.structures._status cimport check_status
from defiperf.structures._clib cimport (
    DP_SKETCH_MAX_CAP,
    dp_sketch_clear,
    dp_sketch_estimate,
    dp_sketch_free,
    dp_sketch_halve,
    dp_sketch_increment,
    dp_sketch_init,
    dp_sketch_t,
)


cdef extern from "Python.h":
    Py_hash_t PyObject_Hash(object) except -1


@cython.embedsignature(False)  # one signature, from the docstring (__text_signature__)
cdef class FrequencySketch:
    """FrequencySketch(capacity)
--

    Sized for ``capacity`` distinct keys (the cache size); counters are halved after
    ``10 * capacity`` increments. Keys are hashed with Python's ``hash()``, so estimates are
    meaningful within one process only. Atomic under the GIL.

    >>> s = FrequencySketch(100)
    >>> for _ in range(3):
    ...     s.increment("ETH")
    >>> s.estimate("ETH"), s.estimate("never seen")
    (3, 0)
    """

    def __cinit__(self, *args, **kwargs):
        check_status(dp_sketch_init(&self.c, 1, 1), "FrequencySketch")

    def __init__(self, capacity):
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
        if not 0 < capacity <= DP_SKETCH_MAX_CAP:
            raise ValueError(f"capacity must be in 1..{DP_SKETCH_MAX_CAP}, got {capacity}")
        cdef dp_sketch_t fresh
        check_status(dp_sketch_init(&fresh, <size_t>capacity, 1), "FrequencySketch")
        dp_sketch_free(&self.c)
        self.c = fresh

    def __dealloc__(self):
        dp_sketch_free(&self.c)

    def increment(self, key):
        """Count one occurrence of ``key``."""
        dp_sketch_increment(&self.c, <uint64_t>PyObject_Hash(key))

    def estimate(self, key):
        """The estimated recent count of ``key``, 0..15 (never below the true count since the
        last halving, unless a counter saturated)."""
        return dp_sketch_estimate(&self.c, <uint64_t>PyObject_Hash(key))

    def halve(self):
        """Halve every counter now (it also happens by itself every ``sample_size`` counts)."""
        dp_sketch_halve(&self.c)

    def clear(self):
        """Forget every count."""
        dp_sketch_clear(&self.c)

    @property
    def width(self):
        """Counters per row (a power of two)."""
        return self.c.n_counters

    @property
    def sample_size(self):
        """Increments between automatic halvings."""
        return self.c.sample_size

    @property
    def resets(self):
        """How many halvings have happened."""
        return self.c.n_resets
