# cython: language_level=3, embedsignature=True, binding=True
"""RingBuffer: a fixed-capacity, overwrite-on-full FIFO of float64 rows stored by column in C,
with O(1) moving mean, variance and VWAP over the whole window, amortised O(1) min/max, and
binary-searched time queries.
"""

cimport cython
from cpython.buffer cimport PyBUF_WRITABLE
from libc.stdint cimport uint64_t

from defiperf.structures._status cimport check_status
from defiperf.structures._clib cimport (
    DP_EFULL,
    DP_EINVAL,
    DP_OK,
    DP_RING_MAX_CAP,
    DP_RING_MAX_FIELDS,
    dp_ring_check_row,
    dp_ring_clear,
    dp_ring_copy_rows,
    dp_ring_enable_extrema,
    dp_ring_free,
    dp_ring_get,
    dp_ring_init,
    dp_ring_max,
    dp_ring_mean,
    dp_ring_min,
    dp_ring_push,
    dp_ring_push_many,
    dp_ring_sum_last,
    dp_ring_sumsq_dev_last,
    dp_ring_t,
    dp_ring_time_lower,
    dp_ring_time_upper,
    dp_ring_var,
    dp_ring_vwap,
)

from collections import namedtuple
from collections.abc import Mapping

import numpy as np

DEFAULT_FIELDS = ("timestamp", "price", "volume")
cdef object _NO_VALUE = object()  # marks push() slots the caller did not fill


class BufferFull(OverflowError):
    """Raised by ``push`` on a full RingBuffer created with ``overwrite_on_full=False``."""


def _row_type(fields):
    """A namedtuple for one row that also accepts a field name as index: ``row[1]``,
    ``row.price`` and ``row["price"]`` all work, and it equals the plain tuple of its values."""
    base = namedtuple("Row", fields)

    def __getitem__(self, index):
        if isinstance(index, str):
            try:
                return getattr(self, index)
            except AttributeError:
                raise KeyError(index) from None
        return tuple.__getitem__(self, index)

    return type("Row", (base,), {"__slots__": (), "__getitem__": __getitem__})


@cython.embedsignature(False)  # one signature, from the docstring (__text_signature__)
cdef class RingBuffer:
    """RingBuffer(capacity, fields=("timestamp", "price", "volume"), *, overwrite_on_full=True)
--

    Like ``collections.deque(maxlen=capacity)`` of rows: ``len``, ``[i]`` (negative too),
    iteration oldest first; a row is a named tuple (``row[1]``, ``row.price``, ``row["price"]``)
    equal to the plain tuple of its values. Each row holds one float64 per field, stored by column.

    - ``push(*values)`` or ``push(mapping)``; ``push_many(rows)`` with a 2-D array (n x
      fields), a structured array or a dict of columns, all or nothing.
    - Reads return numpy structured arrays (one float64 field per column, oldest first):
      ``get_latest(n)``, ``between(t0, t1)``, ``since(t)``; ``view()`` gives up to two
      zero-copy read-only arrays of shape (fields, k) over the live rows.
    - Every value must be finite. If a field is named ``"timestamp"`` its values must not
      decrease (an out-of-order push raises ``ValueError`` and stores nothing). Timestamps may
      be float seconds or int nanoseconds; both are stored as float64, exact for ints below
      2**53 (use ns relative to a recent origin, or float seconds, for full precision).
    - Statistics over the live window: ``mean``, ``var`` (population, ddof=0), ``vwap``
      (needs "price" and "volume"), O(1) each from compensated running sums with an error
      bound: when the bound says a huge value that has left the window could spoil the answer
      beyond 1e-10 relative, the sums are first rebuilt exactly (O(len), once per such
      event); ``min``/``max`` amortised O(1) (a monotonic queue per field, built on first
      use); ``mean(field, last=n)`` and ``var(field, last=n)`` in O(n).
    - ``__init__`` runs once: calling it again raises ``RuntimeError`` (a value's
      ``__float__`` could otherwise change the shape a running ``push`` has read).

    Thread safety: every method is atomic under the GIL; arrays from ``view()`` see later
    pushes overwrite their rows.

    >>> buf = RingBuffer(3)
    >>> for t in range(5):
    ...     buf.push(t, 100.0 + t, 2.0)
    >>> len(buf), buf[-1]
    (3, Row(timestamp=4.0, price=104.0, volume=2.0))
    >>> buf[0] == (2.0, 102.0, 2.0), buf[0]["price"]
    (True, 102.0)
    >>> buf.mean("price"), buf.min("price"), buf.vwap()
    (103.0, 102.0, 103.0)
    >>> buf.get_latest(2)["price"].tolist()
    [103.0, 104.0]
    """

    def __cinit__(self, *args, **kwargs):
        dp_ring_init(&self.c, 1, 1, -1, -1, -1)  # valid even if __init__ never runs
        self.fields = ("value",)
        self._index = {"value": 0}
        self._dtype = np.dtype([("value", "f8")])
        self._row = _row_type(("value",))

    def __init__(self, capacity, fields=DEFAULT_FIELDS, *, overwrite_on_full=True):
        if isinstance(capacity, bool) or not isinstance(capacity, int):
            raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
        if not 0 < capacity <= DP_RING_MAX_CAP:
            raise ValueError(f"capacity must be in 1..{DP_RING_MAX_CAP}, got {capacity}")
        if not isinstance(overwrite_on_full, bool):
            raise TypeError(f"overwrite_on_full must be a bool, not {type(overwrite_on_full).__name__}")
        if isinstance(fields, str):
            raise TypeError("fields must be a sequence of names, not one str")
        fields = tuple(fields)
        if not 0 < len(fields) <= DP_RING_MAX_FIELDS:
            raise ValueError(f"fields must name 1..{DP_RING_MAX_FIELDS} columns, got {len(fields)}")
        for name in fields:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"field names must be identifiers, got {name!r}")
        if len(set(fields)) != len(fields):
            raise ValueError(f"field names must be unique, got {fields}")
        index = {name: i for i, name in enumerate(fields)}
        if self._initialised:
            raise RuntimeError("RingBuffer.__init__ cannot be called on an initialised buffer; "
                               "make a new RingBuffer (or clear() this one)")
        if self._exports:
            raise BufferError("cannot initialise a RingBuffer while views of it exist")
        cdef dp_ring_t fresh
        check_status(dp_ring_init(&fresh, <size_t>capacity, len(fields),
                                  index.get("timestamp", -1), index.get("price", -1),
                                  index.get("volume", -1)), "RingBuffer")
        # The one guard against re-initialisation (a running method has read the shape; code it
        # calls, such as a value's __float__ or a field name's __hash__, must not change it).
        self._initialised = True
        dp_ring_free(&self.c)
        self.c = fresh
        self.fields = fields
        self._index = index
        self._dtype = np.dtype([(name, "f8") for name in fields])
        self._row = _row_type(fields)
        self.overwrite_on_full = overwrite_on_full

    def __dealloc__(self):
        dp_ring_free(&self.c)

    # ----------------------------------------------------------------- internals

    cdef size_t _field(self, object field) except? 0xFFFF:
        """The column of a field name or index. A name's __hash__/__eq__ may run Python code:
        the index dict is held by a local reference, and the column re-checked after."""
        cdef dict index = self._index
        cdef Py_ssize_t n = len(self.fields), col
        if isinstance(field, str):
            found = index.get(field)
            if found is None:
                raise ValueError(f"unknown field {field!r}; fields are {self.fields}")
            col = found
        elif isinstance(field, int) and not isinstance(field, bool):
            if not -n <= field < n:
                raise ValueError(f"field index {field} out of range for {n} fields")
            col = field  # an int (subclass) converts without running Python code
            if not -n <= col < n:
                raise ValueError(f"field index {field} out of range for {n} fields")
            col %= n
        else:
            raise TypeError(f"field must be a name or an index, not {type(field).__name__}")
        if col >= <Py_ssize_t>self.c.n_fields:
            raise RuntimeError("RingBuffer fields changed during the call")
        return col

    cdef object _rows(self, size_t start, size_t n):
        out = np.empty(n, dtype=self._dtype)
        cdef double[:, ::1] rows
        if n:
            rows = out.view(np.float64).reshape(n, self.c.n_fields)
            dp_ring_copy_rows(&self.c, start, n, &rows[0, 0])
        return out

    cdef int _raise_for(self, int rc, str what) except -1:
        if rc == DP_EFULL:
            raise BufferFull(f"RingBuffer is full ({self.c.cap} rows) and overwrite_on_full "
                             f"is False: {what} not stored")
        if rc == DP_EINVAL:
            time_note = (" or a timestamp earlier than the last one"
                         if self.c.time_field >= 0 else "")
            raise ValueError(f"{what} rejected: a value that is not finite{time_note}; "
                             "nothing was stored")
        return check_status(rc, what)

    # ----------------------------------------------------------------- writes

    def push(self, v0=_NO_VALUE, v1=_NO_VALUE, v2=_NO_VALUE, *more):
        """push(*values) or push(mapping): append one row, e.g. ``push(t, price, volume)``,
        ``push((t, price, volume))`` or ``push({"timestamp": t, ...})``. When full, the oldest row is overwritten (or
        ``BufferFull`` is raised without overwrite). Three named slots keep the common
        three-field row free of an argument tuple."""
        cdef double row[64]
        cdef Py_ssize_t n, i
        if more:
            values = (v0, v1, v2) + more
        elif v2 is not _NO_VALUE:
            values = None
            n = 3
        elif v1 is not _NO_VALUE:
            values = (v0, v1)
        elif v0 is not _NO_VALUE:
            values = (v0,)
        else:
            values = ()
        if values is None:
            if self.c.n_fields != 3:
                raise TypeError(f"push takes {self.c.n_fields} values {self.fields}, got 3")
            row[0] = v0
            row[1] = v1
            row[2] = v2
        else:
            n = len(values)
            if n == 1 and isinstance(values[0], Mapping):
                mapping = values[0]
                if set(mapping) != set(self.fields):
                    raise ValueError(f"push(mapping) needs exactly the fields {self.fields}, "
                                     f"got {tuple(mapping)}")
                values = tuple(mapping[name] for name in self.fields)
                n = len(values)
            elif n == 1 and self.c.n_fields > 1 and isinstance(values[0], (tuple, list, np.ndarray)):
                values = tuple(values[0])  # one row given as a sequence
                n = len(values)
            if n != <Py_ssize_t>self.c.n_fields:
                raise TypeError(f"push takes {self.c.n_fields} values {self.fields}, got {n}")
            for i in range(n):
                row[i] = values[i]
        if n != <Py_ssize_t>self.c.n_fields:  # a value's __float__ ran Python code: re-check
            raise RuntimeError("RingBuffer fields changed during push")
        cdef int rc = dp_ring_push(&self.c, row, self.overwrite_on_full)
        if rc != DP_OK:
            self._raise_for(rc, "row")

    def push_many(self, rows):
        """Append many rows at once, all or nothing: a 2-D array (n x fields), a 1-D structured
        array with the same field names (each a scalar), or a dict of equal-length 1-D columns."""
        cdef Py_ssize_t nf = self.c.n_fields
        if isinstance(rows, Mapping):
            if set(rows) != set(self.fields):
                raise ValueError(f"push_many(dict) needs exactly the fields {self.fields}, "
                                 f"got {tuple(rows)}")
            cols = [np.asarray(rows[name], dtype=np.float64) for name in self.fields]
            if any(c.ndim != 1 for c in cols):
                raise ValueError("push_many(dict) needs 1-D columns, got shapes "
                                 f"{[c.shape for c in cols]}")
            if len({c.shape[0] for c in cols}) > 1:
                raise ValueError("push_many(dict): columns differ in length")
            data = np.ascontiguousarray(np.column_stack(cols))
        else:
            arr = np.asarray(rows)
            if arr.dtype.names is not None:
                if set(arr.dtype.names) != set(self.fields):
                    raise ValueError(f"structured rows need the fields {self.fields}, "
                                     f"got {arr.dtype.names}")
                if arr.ndim != 1:
                    raise ValueError(f"structured rows must be a 1-D array, got shape {arr.shape}")
                shaped = [name for name in self.fields if arr.dtype[name].shape != ()]
                if shaped:
                    raise ValueError(f"structured fields must be scalars; {shaped} are sub-arrays")
                data = np.ascontiguousarray(
                    np.column_stack([arr[name].astype(np.float64) for name in self.fields]))
            else:
                data = np.ascontiguousarray(arr, dtype=np.float64)
                if data.ndim == 1 and nf == 1:
                    data = data.reshape(-1, 1)
                if data.ndim != 2 or data.shape[1] != nf:
                    raise ValueError(f"push_many needs an array of shape (n, {nf}), "
                                     f"got {data.shape}")
        if nf != <Py_ssize_t>self.c.n_fields or data.ndim != 2 or data.shape[1] != nf:
            raise RuntimeError("RingBuffer fields changed during push_many")
        cdef double[:, ::1] view = data
        if view.shape[0] == 0:
            return
        cdef int rc = dp_ring_push_many(&self.c, &view[0, 0], view.shape[0], self.overwrite_on_full)
        if rc != DP_OK:
            self._raise_for(rc, f"batch of {view.shape[0]} rows")

    def clear(self):
        """Remove every row."""
        dp_ring_clear(&self.c)

    # ----------------------------------------------------------------- reads

    def __len__(self):
        return self.c.len

    @property
    def capacity(self):
        return self.c.cap

    @property
    def is_full(self):
        return self.c.len == self.c.cap

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"RingBuffer indices must be ints, not {type(index).__name__}")
        cdef Py_ssize_t n = self.c.len, k
        # Compared in C: an int subclass's __lt__ or __mod__ could change the buffer.
        if not -n <= index < n:  # an int too large for Py_ssize_t is out of range anyway
            raise IndexError(f"RingBuffer index {index} out of range for {n} rows")
        k = index
        if n != <Py_ssize_t>self.c.len or not -n <= k < n:
            raise IndexError(f"RingBuffer index {index} out of range for {self.c.len} rows")
        cdef size_t i = k + n if k < 0 else k
        return self._row._make([dp_ring_get(&self.c, f, i) for f in range(self.c.n_fields)])

    def __iter__(self):
        make = self._row._make
        return iter([make(row) for row in self._rows(0, self.c.len).tolist()])

    def get_latest(self, n):
        """The last ``n`` rows (all if fewer), oldest first, as a structured array (a copy)."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        cdef size_t k = min(<size_t>min(n, self.c.len), self.c.len)
        return self._rows(self.c.len - k, k)

    def _time_field(self, *times):
        if self.c.time_field < 0:
            raise ValueError(f"time queries need a 'timestamp' field; fields are {self.fields}")
        for t in times:
            if t != t:
                raise ValueError("time bounds must not be NaN")

    def between(self, t0, t1):
        """Rows with t0 <= timestamp <= t1, oldest first (binary search)."""
        self._time_field(t0, t1)
        cdef size_t lo = dp_ring_time_lower(&self.c, t0)
        cdef size_t hi = dp_ring_time_upper(&self.c, t1)
        return self._rows(lo, hi - lo if hi > lo else 0)

    def since(self, t):
        """Rows with timestamp >= t, oldest first (binary search)."""
        self._time_field(t)
        cdef size_t lo = dp_ring_time_lower(&self.c, t)
        return self._rows(lo, self.c.len - lo)

    def view(self):
        """Up to two zero-copy, read-only arrays of shape (fields, k) covering the live rows in
        order (two when the rows wrap around the end of the storage)."""
        if self.c.len == 0:
            return []
        full = np.asarray(self)
        cdef size_t first = min(self.c.len, self.c.cap - self.c.head)
        parts = [full[:, self.c.head:self.c.head + first]]
        if first < self.c.len:
            parts.append(full[:, :self.c.len - first])
        return parts

    def __getbuffer__(self, Py_buffer *buffer, int flags):
        if flags & PyBUF_WRITABLE:
            raise BufferError("RingBuffer storage is read-only from Python")
        self._shape[0] = self.c.n_fields
        self._shape[1] = self.c.cap
        self._strides[0] = self.c.cap * sizeof(double)
        self._strides[1] = sizeof(double)
        buffer.buf = self.c.buf
        buffer.format = "d"
        buffer.internal = NULL
        buffer.itemsize = sizeof(double)
        buffer.len = self.c.n_fields * self.c.cap * sizeof(double)
        buffer.ndim = 2
        buffer.obj = self
        buffer.readonly = 1
        buffer.shape = self._shape
        buffer.strides = self._strides
        buffer.suboffsets = NULL
        self._exports += 1

    def __releasebuffer__(self, Py_buffer *buffer):
        self._exports -= 1

    def __repr__(self):
        return (f"RingBuffer(capacity={self.c.cap}, fields={self.fields}, len={self.c.len}, "
                f"overwrite_on_full={bool(self.overwrite_on_full)})")

    # ----------------------------------------------------------------- statistics

    def _nonempty(self, str what):
        if self.c.len == 0:
            raise ValueError(f"{what} of an empty RingBuffer")

    def _last(self, last):
        if last is None:
            return self.c.len
        if isinstance(last, bool) or not isinstance(last, int):
            raise TypeError(f"last must be an int or None, not {type(last).__name__}")
        if last <= 0:
            raise ValueError(f"last must be > 0, got {last}")
        return min(last, self.c.len)

    def mean(self, field, last=None):
        """Mean of ``field`` over the window (O(1)) or over the ``last`` rows (O(last))."""
        cdef size_t f = self._field(field)
        self._nonempty("mean")
        cdef size_t k = self._last(last)
        if k == self.c.len:
            return dp_ring_mean(&self.c, f)
        return dp_ring_sum_last(&self.c, f, k) / k

    def var(self, field, last=None):
        """Population variance (ddof=0) of ``field`` over the window (O(1)) or the ``last``
        rows (O(last), two-pass)."""
        cdef size_t f = self._field(field)
        self._nonempty("var")
        cdef size_t k = self._last(last)
        if k == self.c.len:
            return dp_ring_var(&self.c, f)
        cdef double m = dp_ring_sum_last(&self.c, f, k) / k
        return dp_ring_sumsq_dev_last(&self.c, f, k, m) / k

    def vwap(self):
        """Volume-weighted average price over the window: sum(price*volume) / sum(volume)."""
        if self.c.price_field < 0 or self.c.volume_field < 0:
            raise ValueError(f"vwap needs 'price' and 'volume' fields; fields are {self.fields}")
        self._nonempty("vwap")
        cdef double out
        if dp_ring_vwap(&self.c, &out) != DP_OK:
            raise ValueError("vwap of a window whose volume sums to 0")
        return out

    def _extremum(self, field, bint largest):
        cdef size_t f = self._field(field)
        self._nonempty("max" if largest else "min")
        check_status(dp_ring_enable_extrema(&self.c, f), "extrema queue")
        return dp_ring_max(&self.c, f) if largest else dp_ring_min(&self.c, f)

    def min(self, field):
        """Smallest ``field`` value in the window (amortised O(1) after the first call)."""
        return self._extremum(field, False)

    def max(self, field):
        """Largest ``field`` value in the window (amortised O(1) after the first call)."""
        return self._extremum(field, True)


def create_price_buffer(capacity=10_000):
    """A RingBuffer of (timestamp, price, volume) rows for a price feed.

    >>> prices = create_price_buffer(100)
    >>> prices.push(1.0, 3412.5, 2.0); prices.push(2.0, 3413.5, 6.0)
    >>> prices.vwap()
    3413.25
    """
    return RingBuffer(capacity)
