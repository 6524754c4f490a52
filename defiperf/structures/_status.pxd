# The one mapping from the C cores' DP_* status codes to Python exceptions (style rule 4).
from defiperf.structures._clib cimport DP_ECORRUPT, DP_EEMPTY, DP_EFULL, DP_EINVAL, DP_ENOMEM, DP_OK


cdef inline int _raise_status(int rc, str what) except -1:
    """Raise the exception that the failed status `rc` stands for (large: the C compiler keeps
    it out of line, so that check_status below inlines)."""
    if rc == DP_ENOMEM:
        raise MemoryError(f"{what}: out of memory" if what else "out of memory")
    if rc == DP_EINVAL:
        raise ValueError(f"{what}: argument out of range" if what else "argument out of range")
    if rc == DP_EEMPTY:
        raise IndexError(f"{what}: empty" if what else "empty")
    if rc == DP_EFULL:
        raise OverflowError(f"{what}: full" if what else "full")
    raise RuntimeError(f"defiperf C core failed with status {rc} (corrupt: {rc == DP_ECORRUPT})")


cdef inline int check_status(int rc, str what="") except -1:
    """0 for DP_OK; otherwise raise what the status stands for (`what` names the operation).
    Only this test is inlined into the callers (hot paths check a status on every call); the
    raising part is a function of its own."""
    if rc >= DP_OK:
        return 0
    return _raise_status(rc, what)
