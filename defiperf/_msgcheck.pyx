# cython: language_level=3, embedsignature=True, binding=True, autotestdict=False
"""check_msgpack: a bounded pre-check of untrusted msgpack bytes (csrc/msgcheck.c), run before
they are decoded, so that decoding never recurses deeper, or builds more objects, than allowed.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef extern from "msgcheck.h" nogil:
    ctypedef struct dp_msgcheck_frame_t:
        pass
    ctypedef enum dp_msgcheck_result_t:
        DP_MSGCHECK_OK
        DP_MSGCHECK_TRUNCATED
        DP_MSGCHECK_TRAILING
        DP_MSGCHECK_INVALID
        DP_MSGCHECK_TOO_DEEP
        DP_MSGCHECK_TOO_MANY
        DP_MSGCHECK_EINVAL
    size_t DP_MSGCHECK_FRAMES(size_t max_depth)
    dp_msgcheck_result_t dp_msgcheck(const uint8_t *buf, size_t len, size_t max_depth,
                                     uint64_t max_items, uint32_t nested_mask,
                                     uint32_t prefix_mask, dp_msgcheck_frame_t *stack,
                                     size_t stack_frames, uint64_t *items_out)

MAX_DEPTH_LIMIT = 100_000
cdef enum:
    _LOCAL_FRAMES = 130  # the frames of max_depth=64 live on the C stack, no allocation


def check_msgpack(const uint8_t[::1] data not None, Py_ssize_t max_depth, unsigned long long max_items,
                  unsigned int nested_mask=0, unsigned int prefix_mask=0):
    """Raise ValueError unless ``data`` is exactly one msgpack object nested at most
    ``max_depth`` levels and made of at most ``max_items`` objects. Extension codes (below 32)
    set in ``nested_mask`` hold one msgpack object, those in ``prefix_mask`` start with one;
    both are walked as part of the value (an extension and its array are one level)."""
    if max_depth < 0 or max_depth > MAX_DEPTH_LIMIT:
        raise ValueError(f"max_depth must be between 0 and {MAX_DEPTH_LIMIT}, not {max_depth}")
    cdef dp_msgcheck_frame_t local[_LOCAL_FRAMES]
    cdef size_t frames = DP_MSGCHECK_FRAMES(<size_t>max_depth)
    cdef dp_msgcheck_frame_t *stack = local
    cdef uint64_t items = 0
    cdef dp_msgcheck_result_t result
    cdef size_t n = <size_t>data.shape[0]
    cdef const uint8_t *buf = &data[0] if n > 0 else NULL
    if frames > _LOCAL_FRAMES:
        stack = <dp_msgcheck_frame_t *>PyMem_Malloc(frames * sizeof(dp_msgcheck_frame_t))
        if stack == NULL:
            raise MemoryError()
    try:
        result = dp_msgcheck(buf, n, <size_t>max_depth, max_items, nested_mask, prefix_mask,
                             stack, frames, &items)
    finally:
        if stack != local:
            PyMem_Free(stack)
    if result == DP_MSGCHECK_OK:
        return
    if result == DP_MSGCHECK_TRUNCATED:
        raise ValueError("msgpack payload is truncated")
    if result == DP_MSGCHECK_TRAILING:
        raise ValueError("msgpack payload has bytes after its value")
    if result == DP_MSGCHECK_TOO_DEEP:
        raise ValueError(f"msgpack payload nests deeper than {max_depth} levels")
    if result == DP_MSGCHECK_TOO_MANY:
        raise ValueError(f"msgpack payload holds more than {max_items} objects")
    if result == DP_MSGCHECK_INVALID:
        raise ValueError("msgpack payload is malformed")
    raise ValueError("msgpack check called with invalid arguments")
