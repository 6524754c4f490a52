# cython: language_level=3, embedsignature=True, binding=True
"""LogHistogram: a log-linear (HDR-style) histogram of floats in C, and the number checks shared
with the monitor's store.

Percentiles come from 64 buckets per power of two: any reported quantile is within 0.79%
(``LogHistogram.relative_error``) of a value at that rank. Atomic under the GIL (no method
releases it or calls back into Python half-way through an update).
"""

cimport cython
from libc.math cimport isfinite, NAN
from libc.stdint cimport int32_t, uint32_t

from defiperf.structures._status cimport check_status
from defiperf.structures._clib cimport (
    DP_HIST_MIN_ABS,
    DP_HIST_REL_ERR,
    dp_hist_clear,
    dp_hist_count_le,
    dp_hist_free,
    dp_hist_init,
    dp_hist_key_bounds,
    dp_hist_merge,
    dp_hist_quantile,
    dp_hist_record,
    dp_hist_t,
)

QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "p999": 0.999}


cdef double _finite(object value, str what) except? -1.0:
    cdef double v
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a real number, not bool")
    if not isinstance(value, (int, float)):
        try:
            v = value  # numpy scalars, Decimal, ... through __float__
        except TypeError:
            raise TypeError(f"{what} must be a real number, not {type(value).__name__}") from None
    else:
        v = value
    if not isfinite(v):
        raise ValueError(f"{what} must be finite, got {v!r}")
    return v



cdef list _buckets(const dp_hist_t *h):
    """[(lower, upper, count)] of the nonzero buckets in value order."""
    cdef list out = []
    cdef double lower, upper
    cdef uint32_t i
    for i in reversed(range(h.neg.n_buckets)):
        if h.neg.counts[i]:
            dp_hist_key_bounds(h.neg.lo + <int32_t>i, &lower, &upper)
            out.append((-upper, -lower, h.neg.counts[i]))
    if h.n_zero:
        out.append((-DP_HIST_MIN_ABS, DP_HIST_MIN_ABS, h.n_zero))
    for i in range(h.pos.n_buckets):
        if h.pos.counts[i]:
            dp_hist_key_bounds(h.pos.lo + <int32_t>i, &lower, &upper)
            out.append((lower, upper, h.pos.counts[i]))
    return out


cdef dict _summary(const dp_hist_t *h):
    """count, sum, mean, min, max and the QUANTILES of h (NaN where h is empty)."""
    cdef dict out = {"count": h.count, "sum": h.sum}
    if h.count == 0:
        out.update(mean=NAN, min=NAN, max=NAN)
        for name in QUANTILES:
            out[name] = NAN
        return out
    out.update(mean=h.sum / h.count, min=h.min, max=h.max)
    for name, q in QUANTILES.items():
        out[name] = dp_hist_quantile(h, q)
    return out


@cython.embedsignature(False)  # one signature, from the docstring (__text_signature__)
cdef class LogHistogram:
    """LogHistogram()
--

    A log-linear histogram of finite floats (negative, zero and positive), HDR-style: 64 buckets
    per power of two, allocated as values arrive. ``quantile(q)`` returns the value at rank
    ``ceil(q * count)`` (numpy's ``method="inverted_cdf"``) within ``relative_error``; values with
    ``abs(v) < 1e-12`` count as zero.

    >>> h = LogHistogram()
    >>> for v in range(1, 101):
    ...     h.record(v)
    >>> h.count, h.min, h.max, round(h.quantile(0.5))
    (100, 1.0, 100.0, 50)
    """

    relative_error = DP_HIST_REL_ERR

    def __cinit__(self):
        dp_hist_init(&self.c)

    def __dealloc__(self):
        dp_hist_free(&self.c)

    def record(self, value):
        """Add one finite value."""
        check_status(dp_hist_record(&self.c, _finite(value, "value")), "LogHistogram.record")

    def record_many(self, values):
        """Add every value of an iterable (all are checked first: nothing is added on an error)."""
        # (The loop variables must not be C doubles: True would become 1.0 before the check.)
        cdef list checked = [_finite(item, "value") for item in values]
        for item in checked:
            check_status(dp_hist_record(&self.c, <double>item), "LogHistogram.record_many")

    def quantile(self, q):
        """The value at rank ``ceil(q * count)``, ``q`` in [0, 1]; ``ValueError`` when empty."""
        cdef double qq = _finite(q, "q")
        if not 0.0 <= qq <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {qq!r}")
        if self.c.count == 0:
            raise ValueError("quantile of an empty histogram")
        return dp_hist_quantile(&self.c, qq)

    def count_le(self, x):
        """How many values are <= x, up to one bucket's width (``relative_error`` x 2)."""
        return dp_hist_count_le(&self.c, _finite(x, "x"))

    def merge(self, LogHistogram other not None):
        """Add every value of ``other`` to this histogram."""
        check_status(dp_hist_merge(&self.c, &other.c), "LogHistogram.merge")

    def clear(self):
        """Forget every value."""
        dp_hist_clear(&self.c)

    def buckets(self):
        """The nonzero buckets as ``[(lower, upper, count)]`` in value order."""
        return _buckets(&self.c)

    def summary(self):
        """count, sum, mean, min, max, p50, p90, p95, p99 and p999 (NaN when empty)."""
        return _summary(&self.c)

    def __len__(self):
        return self.c.count

    @property
    def count(self):
        return self.c.count

    @property
    def sum(self):
        return self.c.sum

    @property
    def min(self):
        """The smallest value (``inf`` when empty)."""
        return self.c.min

    @property
    def max(self):
        """The largest value (``-inf`` when empty)."""
        return self.c.max

    @property
    def mean(self):
        """sum / count (NaN when empty)."""
        return self.c.sum / self.c.count if self.c.count else NAN
