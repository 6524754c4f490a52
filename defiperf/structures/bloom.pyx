# cython: language_level=3, embedsignature=True, binding=True
"""BloomFilter: a set-like probabilistic filter over one C bit array, with a stable hash.

Keys are hashed with MurmurHash3 x64-128 over their bytes (``csrc/hash.c``), never with
Python's randomized ``hash()``, so a filter saved on one machine answers the same on another.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.math cimport exp, isnan, log, round
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

from defiperf.structures._status cimport check_status
from defiperf.structures._clib cimport (
    DP_BLOOM_MAX_BITS,
    DP_EFAULT,
    DP_OK,
    DP_BLOOM_MAX_HASHES,
    dp_bloom_add_fixed,
    dp_bloom_add_hash,
    dp_bloom_add_ints,
    dp_bloom_clear,
    dp_bloom_contains_fixed,
    dp_bloom_contains_hash,
    dp_bloom_contains_ints,
    dp_bloom_free,
    dp_bloom_hash_bytes,
    dp_bloom_hash_u64,
    dp_bloom_init,
    dp_bloom_init_view,
    dp_bloom_merge,
    dp_bloom_safe_contains,
    dp_bloom_safe_contains_fixed,
    dp_bloom_safe_contains_ints,
    dp_bloom_safe_copy_words,
    dp_bloom_safe_words_to_le,
    dp_bloom_t,
    dp_bloom_words_from_le,
    dp_bloom_words_to_le,
    dp_hash128,
)

import mmap as _mmap
import operator
import os
import struct
import sys

import numpy as np


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object, Py_ssize_t *) except NULL
    long long PyLong_AsLongLongAndOverflow(object, int *) except? -1
    unsigned long long PyLong_AsUnsignedLongLong(object) except? -1
    char *PyByteArray_AS_STRING(object)
    bint PyIndex_Check(object)
    Py_ssize_t PyByteArray_GET_SIZE(object)


# File format, little-endian: header, the bit words, then a 16-byte MurmurHash3 of all before.
MAGIC = b"DPBLOOM1"
# Version 2: a seed equal to a key's length (at most 8 bytes) no longer links the probes. A
# version-1 file hashes identically unless its seed is one of those (_V1_CHANGED_SEEDS).
FORMAT_VERSION = 2
_V1_CHANGED_SEEDS = frozenset(range(1, 9)) | {8 ^ 0x9E3779B97F4A7C15}
_HEADER = struct.Struct("<8sIIQQQdQ")  # magic, version, k, m, seed, capacity, error_rate, words
_CHECKSUM_SEED = 0x64656669706572  # "defiper"
_CHECKSUM_BYTES = 16
cdef size_t HEADER_BYTES = _HEADER.size  # 56: the words start 8-byte aligned


def hash128(data, seed=0):
    """MurmurHash3 x64-128 of ``data`` (bytes-like) as ``(h1, h2)``: the stable hash the
    filters use, equal to the reference implementation for seeds below 2**32.

    >>> hash128(b"hello world", 42)
    (13858300319256836288, 9637047198292480789)
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
    cdef const uint8_t[::1] view = memoryview(data).cast("B")
    cdef uint64_t h[2]
    dp_hash128(&view[0] if view.shape[0] else NULL, view.shape[0], seed, h)
    return h[0], h[1]


def optimal_shape(capacity, error_rate):
    """``(bit_count, hash_count)`` minimising bits for ``capacity`` items at ``error_rate``:
    m = ceil(-n ln p / (ln 2)^2), k = round(m / n * ln 2).

    >>> optimal_shape(1_000_000, 0.01)
    (9585059, 7)
    """
    _check_sizing(capacity, error_rate)
    cdef double n = capacity, p = error_rate
    cdef double m = -n * log(p) / (log(2.0) * log(2.0))
    cdef uint64_t n_bits = <uint64_t>m
    if n_bits < m:
        n_bits += 1
    cdef double k = round(n_bits / n * log(2.0))
    return int(n_bits), int(min(max(k, 1.0), DP_BLOOM_MAX_HASHES))


cdef _check_sizing(object capacity, object error_rate):
    if isinstance(capacity, bool) or not isinstance(capacity, int):
        raise TypeError(f"capacity must be an int, not {type(capacity).__name__}")
    if capacity <= 0:
        raise ValueError(f"capacity must be > 0, got {capacity}")
    if isinstance(error_rate, bool) or not isinstance(error_rate, (int, float)):
        raise TypeError(f"error_rate must be a float, not {type(error_rate).__name__}")
    if isnan(error_rate) or not 0.0 < error_rate < 1.0:
        raise ValueError(f"error_rate must be in (0, 1), got {error_rate!r}")
    if -capacity * log(error_rate) / (log(2.0) * log(2.0)) > DP_BLOOM_MAX_BITS:
        raise ValueError(f"capacity {capacity} at error_rate {error_rate} needs more than "
                         f"{DP_BLOOM_MAX_BITS} bits")


@cython.embedsignature(False)  # one signature, from the docstring (__text_signature__)
cdef class BloomFilter:
    """BloomFilter(capacity, error_rate=0.01, *, seed=0)
--

    A set-like filter with no false negatives and about ``error_rate`` false positives once
    ``capacity`` distinct keys are in. Keys: ``str`` (hashed as UTF-8), ``bytes``,
    ``bytearray``, ``memoryview`` (their bytes), ``int`` in [-2**63, 2**64) (8 little-endian
    bytes; negative ints are kept apart from their unsigned twins). Anything else is a
    ``TypeError``. ``"ab"`` and ``b"ab"`` are the same key; so are ``1`` and ``True``.

    Thread safety: every method is atomic under the GIL (bulk loops keep the GIL so that
    concurrent adds can never lose a bit). A filter loaded with ``mmap=True`` is read-only.

    >>> seen = BloomFilter(1000, 0.01)
    >>> seen.add("0xabc")
    True
    >>> seen.add("0xabc")
    False
    >>> "0xabc" in seen, "0xdef" in seen
    (True, False)
    >>> seen.bit_count, seen.hash_count
    (9586, 7)
    """

    def __cinit__(self, *args, **kwargs):
        check_status(dp_bloom_init(&self.c, 64, 1, 0))  # a valid filter even without __init__
        self.capacity = 1
        self.error_rate = 0.5

    def __init__(self, capacity, error_rate=0.01, *, seed=0):
        n_bits, n_hashes = optimal_shape(capacity, error_rate)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        if self._initialised:
            raise RuntimeError("BloomFilter.__init__ cannot be called on an initialised filter; "
                               "make a new BloomFilter (or clear() this one)")
        cdef dp_bloom_t fresh
        check_status(dp_bloom_init(&fresh, n_bits, n_hashes, seed),
                     f"BloomFilter: cannot allocate {n_bits} bits")
        self._initialised = True
        dp_bloom_free(&self.c)
        self.c = fresh
        self._backing = None
        self.capacity = capacity
        self.error_rate = error_rate

    def __dealloc__(self):
        dp_bloom_free(&self.c)

    # ----------------------------------------------------------------- keys

    cdef int _hash_key(self, object key, uint64_t *h) except -1:
        cdef Py_ssize_t n
        cdef const char *p
        cdef int overflow = 0
        cdef long long v
        cdef Py_buffer view
        if isinstance(key, str):
            p = PyUnicode_AsUTF8AndSize(key, &n)
            dp_bloom_hash_bytes(&self.c, p, <size_t>n, h)
        elif isinstance(key, int):
            v = PyLong_AsLongLongAndOverflow(key, &overflow)
            if overflow == 0:
                dp_bloom_hash_u64(&self.c, <uint64_t>v, v < 0, h)
            elif overflow > 0 and key < 2**64:
                dp_bloom_hash_u64(&self.c, PyLong_AsUnsignedLongLong(key), 0, h)
            else:
                raise ValueError(f"int keys must be in [-2**63, 2**64), got {key}")
        elif isinstance(key, bytes):
            dp_bloom_hash_bytes(&self.c, PyBytes_AS_STRING(key), <size_t>PyBytes_GET_SIZE(key), h)
        elif isinstance(key, bytearray):
            dp_bloom_hash_bytes(&self.c, PyByteArray_AS_STRING(key),
                                <size_t>PyByteArray_GET_SIZE(key), h)
        elif isinstance(key, memoryview):
            PyObject_GetBuffer(key, &view, PyBUF_SIMPLE)  # BufferError if not contiguous
            try:
                dp_bloom_hash_bytes(&self.c, view.buf, <size_t>view.len, h)
            finally:
                PyBuffer_Release(&view)
        elif PyIndex_Check(key):  # numpy integer scalars and other int-likes
            return self._hash_key(operator.index(key), h)
        else:
            raise TypeError("BloomFilter keys must be str, bytes, bytearray, memoryview or int, "
                            f"not {type(key).__name__}")
        return 0

    cdef int _mapped_ok(self, int rc) except -1:
        """Raise for DP_EFAULT: the file under a mapped filter shrank (SIGBUS caught in C)."""
        if rc == DP_EFAULT:
            raise OSError("this BloomFilter's file was truncated after load(mmap=True): its bits "
                          "are gone; load the file again (or load with mmap=False)")
        return check_status(rc)

    cdef int _probe(self, const uint64_t *h) except -1:
        """1 if every probe bit of hash h is set, else 0. The bits of a mapped filter are read
        so that a truncated file raises OSError instead of killing the process."""
        cdef int found = 0
        if self.c.owns_words:
            return dp_bloom_contains_hash(&self.c, h)
        self._mapped_ok(dp_bloom_safe_contains(&self.c, h, &found))
        return found

    cdef int _writable(self) except -1:
        if not self.c.owns_words:
            raise ValueError("this BloomFilter is read-only (loaded with mmap=True); "
                             "use copy() for a writable one")
        return 0

    def add(self, key):
        """Add ``key``; True if it was probably new (it set at least one bit)."""
        cdef uint64_t h[2]
        self._hash_key(key, h)
        self._writable()
        return dp_bloom_add_hash(&self.c, h) == 1

    def contains(self, key):
        """True if ``key`` was probably added (no false negatives)."""
        cdef uint64_t h[2]
        self._hash_key(key, h)
        return self._probe(h) == 1

    def __contains__(self, key):
        cdef uint64_t h[2]
        self._hash_key(key, h)
        return self._probe(h) == 1

    def _bulk(self, keys, bint add):
        """The shared body of add_many / contains_many; returns a numpy bool array."""
        cdef uint64_t h[2]
        cdef Py_ssize_t i, n
        cdef const uint64_t[::1] ints
        cdef const uint8_t[:, ::1] fixed
        cdef uint8_t[::1] out_view
        if add:
            self._writable()
        if not isinstance(keys, np.ndarray):
            keys = list(keys)
            out = np.zeros(len(keys), dtype=np.bool_)
            out_view = out.view(np.uint8)
            for i, key in enumerate(keys):
                self._hash_key(key, h)
                out_view[i] = dp_bloom_add_hash(&self.c, h) if add else self._probe(h)
            return out
        arr = keys.reshape(-1) if keys.ndim != 1 else keys
        kind = arr.dtype.kind
        out = np.zeros(arr.shape[0], dtype=np.bool_)
        out_view = out.view(np.uint8)
        n = arr.shape[0]
        if n == 0:
            return out
        if kind in "iu":
            is_signed = kind == "i"
            wide = np.ascontiguousarray(arr, dtype=np.int64 if is_signed else np.uint64)
            ints = wide.view(np.uint64)
            if add:
                dp_bloom_add_ints(&self.c, &ints[0], <size_t>n, is_signed, &out_view[0])
            elif self.c.owns_words:
                dp_bloom_contains_ints(&self.c, &ints[0], <size_t>n, is_signed, &out_view[0])
            else:
                self._mapped_ok(dp_bloom_safe_contains_ints(&self.c, &ints[0], <size_t>n,
                                                            is_signed, &out_view[0]))
        elif kind == "S":
            width = arr.dtype.itemsize
            if width == 0:
                raise ValueError("a zero-width bytes array holds no keys")
            fixed = np.ascontiguousarray(arr).view(np.uint8).reshape(n, width)
            if add:
                dp_bloom_add_fixed(&self.c, &fixed[0, 0], <size_t>n, <size_t>width, &out_view[0])
            elif self.c.owns_words:
                dp_bloom_contains_fixed(&self.c, &fixed[0, 0], <size_t>n, <size_t>width,
                                        &out_view[0])
            else:
                self._mapped_ok(dp_bloom_safe_contains_fixed(&self.c, &fixed[0, 0], <size_t>n,
                                                             <size_t>width, &out_view[0]))
        elif kind == "O" or kind == "U":
            for i in range(n):
                key = arr[i]
                self._hash_key(str(key) if kind == "U" else key, h)
                out_view[i] = dp_bloom_add_hash(&self.c, h) if add else self._probe(h)
        else:
            raise TypeError(f"arrays of dtype {arr.dtype} are not keys: use an integer dtype, "
                            "fixed-width bytes (e.g. 'S32'), str or object")
        return out

    def add_many(self, keys):
        """Add every key of an iterable or numpy array (integer dtypes, fixed-width bytes such
        as ``S32``, ``U`` or object); returns a numpy bool array: which keys were probably new.

        Integer and bytes arrays are hashed in one C loop, with no Python object per key. A
        bytes array's keys are its full fixed-width items (numpy drops trailing NUL bytes when
        you index an ``S`` array, so ``add(arr[i])`` may hash fewer bytes)."""
        return self._bulk(keys, True)

    def contains_many(self, keys):
        """``contains`` for every key of an iterable or numpy array; a numpy bool array."""
        return self._bulk(keys, False)

    # ----------------------------------------------------------------- set-like API

    @property
    def bit_count(self):
        """m, the number of bits."""
        return self.c.n_bits

    @property
    def hash_count(self):
        """k, the number of bit probes per key."""
        return self.c.n_hashes

    @property
    def seed(self):
        """The hash seed; filters combine only with equal seeds."""
        return self.c.seed

    @property
    def read_only(self):
        """True for a filter loaded with ``mmap=True``."""
        return not self.c.owns_words

    @property
    def fill_ratio(self):
        """The fraction of bits set."""
        return self.c.n_set / <double>self.c.n_bits

    @property
    def estimated_fpr(self):
        """The false-positive rate now: fill_ratio ** hash_count."""
        return self.fill_ratio ** self.c.n_hashes

    def __len__(self):
        """The estimated number of distinct keys added, from the set-bit count
        (Swamidass & Baldi: -m/k ln(1 - X/m))."""
        cdef double m = self.c.n_bits, x = self.c.n_set
        if self.c.n_set >= self.c.n_bits:
            return int(round(m * log(m) / self.c.n_hashes))  # saturated: a lower bound
        return int(round(-m / self.c.n_hashes * log(1.0 - x / m)))

    def _compatible(self, other):
        if not isinstance(other, BloomFilter):
            raise TypeError(f"expected a BloomFilter, not {type(other).__name__}")
        cdef BloomFilter o = other
        if (o.c.n_bits, o.c.n_hashes, o.c.seed) != (self.c.n_bits, self.c.n_hashes, self.c.seed):
            raise ValueError("BloomFilters combine only with equal bit_count, hash_count and seed "
                             f"({self.c.n_bits}, {self.c.n_hashes}, {self.c.seed}) != "
                             f"({o.c.n_bits}, {o.c.n_hashes}, {o.c.seed})")
        # A mapped filter's bits are read through a guarded copy: merges then read owned memory.
        return o if o.c.owns_words else o.copy()

    def union(self, other):
        """A new filter holding the keys of both (``|``)."""
        cdef BloomFilter o = self._compatible(other)
        cdef BloomFilter out = self.copy()
        check_status(dp_bloom_merge(&out.c, &o.c, 0))
        return out

    def intersection(self, other):
        """A new filter whose bits are set in both (``&``); its false-positive rate can exceed
        that of a filter built from the common keys alone."""
        cdef BloomFilter o = self._compatible(other)
        cdef BloomFilter out = self.copy()
        check_status(dp_bloom_merge(&out.c, &o.c, 1))
        return out

    def __or__(self, other):
        return self.union(other) if isinstance(other, BloomFilter) else NotImplemented

    def __and__(self, other):
        return self.intersection(other) if isinstance(other, BloomFilter) else NotImplemented

    def __ior__(self, other):
        cdef BloomFilter o = self._compatible(other)
        self._writable()
        check_status(dp_bloom_merge(&self.c, &o.c, 0))
        return self

    def __iand__(self, other):
        cdef BloomFilter o = self._compatible(other)
        self._writable()
        check_status(dp_bloom_merge(&self.c, &o.c, 1))
        return self

    def __eq__(self, other):
        if not isinstance(other, BloomFilter):
            return NotImplemented
        cdef BloomFilter o = other
        return ((o.c.n_bits, o.c.n_hashes, o.c.seed) == (self.c.n_bits, self.c.n_hashes, self.c.seed)
                and self.to_bytes()[_HEADER.size:-_CHECKSUM_BYTES]
                == o.to_bytes()[_HEADER.size:-_CHECKSUM_BYTES])

    __hash__ = None

    def copy(self):
        """An independent, writable copy."""
        cdef BloomFilter out = BloomFilter.__new__(BloomFilter)
        cdef dp_bloom_t fresh
        check_status(dp_bloom_init(&fresh, self.c.n_bits, self.c.n_hashes, self.c.seed),
                     f"BloomFilter.copy: cannot allocate {self.c.n_bits} bits")
        cdef int rc = DP_OK
        if self.c.owns_words:
            memcpy(fresh.words, self.c.words, self.c.n_words * sizeof(uint64_t))
        else:
            rc = dp_bloom_safe_copy_words(&self.c, fresh.words)
        if rc != DP_OK:
            dp_bloom_free(&fresh)
            self._mapped_ok(rc)
        fresh.n_set = self.c.n_set
        dp_bloom_free(&out.c)
        out.c = fresh
        out._initialised = True
        out.capacity = self.capacity
        out.error_rate = self.error_rate
        return out

    def clear(self):
        """Remove every key."""
        self._writable()
        dp_bloom_clear(&self.c)

    def __repr__(self):
        return (f"BloomFilter(capacity={self.capacity}, error_rate={self.error_rate}, "
                f"seed={self.c.seed}, bit_count={self.c.n_bits}, hash_count={self.c.n_hashes}, "
                f"approx_len={len(self)})")

    # ----------------------------------------------------------------- persistence

    def to_bytes(self):
        """The filter in the documented little-endian format (header, words, checksum)."""
        cdef bytearray out = bytearray(_HEADER.size + 8 * self.c.n_words + _CHECKSUM_BYTES)
        _HEADER.pack_into(out, 0, MAGIC, FORMAT_VERSION, self.c.n_hashes, self.c.n_bits,
                          self.c.seed, self.capacity, self.error_rate, self.c.n_words)
        cdef uint8_t *p = <uint8_t *>PyByteArray_AS_STRING(out)
        if self.c.owns_words:
            dp_bloom_words_to_le(&self.c, p + HEADER_BYTES)
        else:
            self._mapped_ok(dp_bloom_safe_words_to_le(&self.c, p + HEADER_BYTES))
        cdef size_t body = _HEADER.size + 8 * self.c.n_words
        cdef uint64_t digest[2]
        dp_hash128(p, body, _CHECKSUM_SEED, digest)
        struct.pack_into("<QQ", out, body, digest[0], digest[1])
        return bytes(out)

    @staticmethod
    def _parse_header(const uint8_t[::1] data):
        """Validate a serialized filter; returns the header fields. ValueError if anything is
        truncated, corrupted or of another version."""
        cdef Py_ssize_t size = data.shape[0]
        if size < _HEADER.size + _CHECKSUM_BYTES:
            raise ValueError(f"not a BloomFilter: {size} bytes is shorter than the header")
        magic, version, k, m, seed, capacity, error_rate, n_words = _HEADER.unpack_from(data, 0)
        if magic != MAGIC:
            raise ValueError("not a BloomFilter: bad magic bytes")
        if version == 1 and seed in _V1_CHANGED_SEEDS:
            raise ValueError(f"a version-1 BloomFilter with seed {seed} hashes short keys "
                             "differently from this version: rebuild it from its keys")
        if version not in (1, FORMAT_VERSION):
            raise ValueError(f"unsupported BloomFilter format version {version}")
        if not 0 < m <= DP_BLOOM_MAX_BITS or not 0 < k <= DP_BLOOM_MAX_HASHES:
            raise ValueError(f"corrupted BloomFilter header: bit_count={m}, hash_count={k}")
        if n_words != (m + 63) // 64 or size != _HEADER.size + 8 * n_words + _CHECKSUM_BYTES:
            raise ValueError(f"truncated or padded BloomFilter: {size} bytes for {m} bits")
        if not capacity > 0 or not 0.0 < error_rate < 1.0:
            raise ValueError("corrupted BloomFilter header: capacity or error_rate out of range")
        cdef uint64_t digest[2]
        cdef size_t body = size - _CHECKSUM_BYTES
        dp_hash128(&data[0], body, _CHECKSUM_SEED, digest)
        if struct.unpack_from("<QQ", data, body) != (digest[0], digest[1]):
            raise ValueError("corrupted BloomFilter: checksum mismatch")
        return k, m, seed, capacity, error_rate, n_words

    @staticmethod
    def from_bytes(data):
        """A filter from ``to_bytes()`` output; ValueError if truncated or corrupted."""
        cdef const uint8_t[::1] view = memoryview(data).cast("B")
        k, m, seed, capacity, error_rate, n_words = BloomFilter._parse_header(view)
        cdef BloomFilter out = BloomFilter.__new__(BloomFilter)
        cdef dp_bloom_t fresh
        check_status(dp_bloom_init(&fresh, m, k, seed))
        dp_bloom_words_from_le(&fresh, &view[HEADER_BYTES])
        if m % 64 and fresh.words[fresh.n_words - 1] >> (m % 64):
            dp_bloom_free(&fresh)
            raise ValueError("corrupted BloomFilter: bits set past bit_count")
        dp_bloom_free(&out.c)
        out.c = fresh
        out._initialised = True
        out.capacity = capacity
        out.error_rate = error_rate
        return out

    def save(self, path):
        """Write ``to_bytes()`` to ``path`` atomically (a temp file renamed over it)."""
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                f.write(self.to_bytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def load(path, mmap=False):
        """Read a saved filter. ``mmap=True`` maps the file read-only and uses its bits in
        place (zero copy; the filter is then read-only and the file must stay unchanged).

        With ``mmap=True`` the file should not be truncated or rewritten in place while the
        filter lives. The kernel turns a read of a mapped page past the new end of the file into
        SIGBUS; the filter catches it during its own reads (a SIGBUS handler that passes every
        other SIGBUS on to the handler before it) and raises ``OSError``, so a query after a
        truncation fails instead of killing the process. Bits rewritten in place are read as
        they are. Replacing the file is safe: ``save()`` (or any ``os.replace``) gives the path
        a new file and the mapping keeps the old one. Use ``mmap=False`` (a private copy) when
        other programs may modify the file."""
        if not mmap:
            with open(path, "rb") as f:
                return BloomFilter.from_bytes(f.read())
        if sys.byteorder != "little":
            raise ValueError("mmap=True needs a little-endian machine; use mmap=False")
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                raise ValueError("not a BloomFilter: the file is empty")
            mapped = _mmap.mmap(f.fileno(), 0, access=_mmap.ACCESS_READ)
        cdef const uint8_t[::1] view = mapped
        k, m, seed, capacity, error_rate, n_words = BloomFilter._parse_header(view)
        cdef uint64_t *words = <uint64_t *>&view[HEADER_BYTES]  # 8-aligned: page + 56
        if m % 64 and words[n_words - 1] >> (m % 64):
            raise ValueError("corrupted BloomFilter: bits set past bit_count")
        cdef BloomFilter out = BloomFilter.__new__(BloomFilter)
        cdef dp_bloom_t borrowed
        check_status(dp_bloom_init_view(&borrowed, words, m, k, seed))
        dp_bloom_free(&out.c)
        out.c = borrowed
        out._initialised = True
        out._backing = view  # keeps the mapping alive (and exported) as long as the filter
        out.capacity = capacity
        out.error_rate = error_rate
        return out

    def __reduce__(self):
        return (BloomFilter.from_bytes, (self.to_bytes(),))


def create_transaction_filter(expected_items=1_000_000, error_rate=0.001):
    """A BloomFilter sized for transaction-hash deduplication.

    >>> f = create_transaction_filter(10_000)
    >>> f.add(bytes.fromhex("ab" * 32)), f.hash_count
    (True, 10)
    """
    return BloomFilter(expected_items, error_rate)
