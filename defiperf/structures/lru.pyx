# cython: language_level=3, embedsignature=True, binding=True
"""OptimizedLRU: an LRU cache with TTL, weights and access counts over C arrays.

The slots, hash index, expiry list and heap, weights, access counts and the eviction policy
live in C (``csrc/lru.h``: slots.c, expiry.c, policy.c, policies/); this module keeps the keys
and values as owned references in each slot's two caller words, and does the key comparisons
the C core cannot.
"""

cimport cython
from cpython.object cimport PyObject, Py_EQ
from cpython.ref cimport Py_DECREF, Py_INCREF
from libc.math cimport INFINITY, isfinite, isnan
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy

from defiperf.structures._status cimport check_status
from defiperf.structures._clib cimport (
    DP_LRU_MAX_CAP,
    DP_LRU_NEVER,
    DP_OK,
    dp_clock_now_ns,
    dp_expiry_count,
    dp_expiry_set,
    dp_expiry_top,
    dp_lru_check,
    dp_lru_clear,
    dp_lru_copy_into,
    dp_lru_follow_weight,
    dp_lru_free,
    dp_lru_init,
    dp_lru_insert,
    dp_lru_is_expired,
    dp_lru_need_cold,
    dp_lru_remove,
    dp_lru_reserve,
    dp_lru_reserve_copy,
    dp_lru_t,
    dp_lru_touch,
    dp_lru_touch_hash,
    dp_lru_victim_except,
    dp_policy_count,
    dp_policy_drain,
    dp_policy_name,
    dp_policy_on_evict,
    dp_policy_on_miss,
    dp_policy_on_write,
    dp_policy_prefetch,
    dp_policy_victim,
    dp_slots_expires,
    dp_slots_first,
    dp_slots_hash,
    dp_slots_hits,
    dp_slots_next,
    dp_probe_t,
    dp_slots_probe_begin,
    dp_slots_probe_next,
    dp_slots_probe_start,
    dp_slots_probe_step,
    dp_slots_set_weight,
    dp_slots_weight,
    dp_slots_top_hits,
    dp_slots_user,
)

from collections.abc import Mapping, MutableMapping
from types import GenericAlias

from defiperf._stats import CacheStats


cdef extern from "Python.h":
    Py_hash_t PyObject_Hash(object) except -1
    # On borrowed pointers, for the key comparison that runs no Python code (_plain_eq).
    bint PyUnicode_CheckExact(PyObject *)
    bint PyLong_CheckExact(PyObject *)
    Py_ssize_t PyUnicode_GET_LENGTH(PyObject *)
    int PyUnicode_KIND(PyObject *)
    void *PyUnicode_DATA(PyObject *)
    long long PyLong_AsLongLongAndOverflow(PyObject *, int *) noexcept
    int PyObject_RichCompareBool(object, object, int) except -1
    ctypedef int (*visitproc)(PyObject *, void *)
    ctypedef int (*traverseproc)(PyObject *, visitproc, void *)
    ctypedef int (*inquiry)(PyObject *)
    void Py_INCREF_raw "Py_INCREF"(PyObject *)
    void Py_DECREF_raw "Py_DECREF"(PyObject *)
    ctypedef struct _TypeSlots "PyTypeObject":
        traverseproc tp_traverse
        inquiry tp_clear

cdef extern from *:
    """
    #if PY_VERSION_HEX < 0x030B0000
    #include "longintrepr.h"  /* 3.11+: included by Python.h */
    #endif
    /* Whether two exact ints are equal, read from their digits without a call: 1 equal, 0
       different, -1 undecided (3.12+ for an int that is not compact: the caller decides). An
       int's digits are normalised (no leading zero digit), so equal values have equal sizes
       and digits. The layout is CPython's and changed in 3.12, hence the two versions. */
    static inline int dp_exact_int_eq(PyObject *a, PyObject *b) {
    #if PY_VERSION_HEX >= 0x030C0000
        PyLongObject *x = (PyLongObject *)a, *y = (PyLongObject *)b;
        if (!PyUnstable_Long_IsCompact(x) || !PyUnstable_Long_IsCompact(y)) return -1;
        return PyUnstable_Long_CompactValue(x) == PyUnstable_Long_CompactValue(y);
    #else
        Py_ssize_t n = Py_SIZE(a);
        if (n != Py_SIZE(b)) return 0;
        if (n < 0) n = -n;
        const digit *x = ((PyLongObject *)a)->ob_digit, *y = ((PyLongObject *)b)->ob_digit;
        for (Py_ssize_t i = 0; i < n; i++)
            if (x[i] != y[i]) return 0;
        return 1;
    #endif
    }
    """
    int dp_exact_int_eq(PyObject *a, PyObject *b) noexcept


# Removal causes passed to on_evict.
cdef tuple _REASONS = ("size", "expired", "replaced", "deleted")
cdef enum:
    _SIZE = 0
    _EXPIRED = 1
    _REPLACED = 2
    _DELETED = 3


# _Victims (declared in lru.pxd) holds entries taken out during one operation; they are released
# (on_evict, then DECREF) only once the structure is consistent again, because freeing a value can
# run arbitrary code (__del__, a garbage collection).


cdef inline PyObject *_KEY(dp_lru_t *c, int32_t slot) noexcept:
    return <PyObject *>dp_slots_user(&c.slots, slot)[0]


cdef inline PyObject *_VALUE(dp_lru_t *c, int32_t slot) noexcept:
    return <PyObject *>dp_slots_user(&c.slots, slot)[1]


cdef inline void _victims_init(_Victims *v) noexcept:
    v.items = v.first
    v.n = 0
    v.cap = 2


cdef int _victims_reserve(_Victims *v, size_t more) except -1:
    """Room for `more` victims; grows with malloc, which never runs Python code."""
    if v.n + more <= v.cap:
        return 0
    cdef size_t cap = max(2 * v.cap, v.n + more)
    cdef _Victim *grown = <_Victim *>malloc(cap * sizeof(_Victim))
    if grown == NULL:
        raise MemoryError(f"OptimizedLRU: cannot allocate a list of {cap} evicted entries")
    memcpy(grown, v.items, v.n * sizeof(_Victim))
    if v.items != v.first:
        free(v.items)
    v.items = grown
    v.cap = cap
    return 0


cdef inline void _victims_push(_Victims *v, PyObject *key, PyObject *value, int reason) noexcept:
    """Append a victim (room reserved first); the list takes over the two references."""
    v.items[v.n].key = key
    v.items[v.n].value = value
    v.items[v.n].reason = reason
    v.n += 1


cdef inline void _victims_free(_Victims *v) noexcept:
    if v.items != v.first:
        free(v.items)
    _victims_init(v)

cdef object _MISSING = object()
# The bound on a weight, on max_weight, and on the total weight without a budget: int64 headroom
# (a total and one more weight never pass 2**63).
cdef int64_t _MAX_WEIGHT = 4_611_686_018_427_387_904  # 2**62


cdef inline int _refuse_reinit(bint initialised) except -1:
    """The one guard against re-initialisation: __init__ runs once per object. A second call
    (perhaps from a key's __eq__, a timer or size_of while a method of this very cache is
    running) would swap the arrays and bounds that method has already read."""
    if initialised:
        raise RuntimeError("OptimizedLRU.__init__ cannot be called on an initialised cache; "
                           "make a new OptimizedLRU (or clear() this one)")
    return 0
# Policy name -> kind, from the C table (policy.c): a new policy appears here by itself.
cdef dict _POLICIES = {dp_policy_name(k).decode(): k for k in range(dp_policy_count())}


cdef size_t _max_size(object n, str name) except 0:
    """The one check of a cache size, for __init__ and resize: an int in 1..DP_LRU_MAX_CAP."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{name} must be an int, not {type(n).__name__}")
    if n <= 0 or n > DP_LRU_MAX_CAP:
        raise ValueError(f"{name} must be in 1..{DP_LRU_MAX_CAP}, got {n}")
    return n


cdef int64_t _seconds_to_ns(object seconds, str name) except? -1:
    """A non-negative duration in seconds as ns; inf means never (DP_LRU_NEVER)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{name} must be a number of seconds or None, not {type(seconds).__name__}")
    cdef double s = seconds
    if isnan(s) or s < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {seconds!r}")
    if s * 1e9 >= 9.2e18:
        return DP_LRU_NEVER
    return <int64_t>(s * 1e9)


cdef inline object _callable_or_none(object fn, str name):
    if fn is not None and not callable(fn):
        raise TypeError(f"{name} must be callable or None, not {type(fn).__name__}")
    return fn


cdef int _lru_traverse(PyObject *o, visitproc visit, void *arg) noexcept:
    """tp_traverse: the generated one for the attributes, then every live key and value."""
    cdef int r = _base_traverse(o, visit, arg)
    if r:
        return r
    cdef OptimizedLRU self = <OptimizedLRU>o
    cdef int32_t s = dp_slots_first(&self.c.slots)
    while s >= 0:
        r = visit(_KEY(&self.c, s), arg)
        if r:
            return r
        r = visit(_VALUE(&self.c, s), arg)
        if r:
            return r
        s = dp_slots_next(&self.c.slots, s)
    return 0


cdef int _lru_clear(PyObject *o) noexcept:
    """tp_clear: drop every entry (no on_evict calls), then the generated attribute clear."""
    (<OptimizedLRU>o)._drop_all()
    return _base_clear(o)


cdef inline int _plain_eq(PyObject *stored, object key) noexcept:
    """Whether two keys with the same hash are equal, decided without running Python code: 1
    (the same object, or two exact str or two exact int of equal value), 0 (two exact str, or
    two exact int, that differ), -1 (anything else: only __eq__ can tell)."""
    cdef PyObject *k = <PyObject *>key
    cdef long long a, b
    cdef int over_a, over_b, eq
    if stored == k:
        return 1
    if PyUnicode_CheckExact(k) and PyUnicode_CheckExact(stored):
        # Both ready (each was hashed), so the length, kind and code units decide.
        if (PyUnicode_GET_LENGTH(k) != PyUnicode_GET_LENGTH(stored)
                or PyUnicode_KIND(k) != PyUnicode_KIND(stored)):
            return 0
        return memcmp(PyUnicode_DATA(k), PyUnicode_DATA(stored),
                      <size_t>PyUnicode_GET_LENGTH(k) * PyUnicode_KIND(k)) == 0
    if PyLong_CheckExact(k) and PyLong_CheckExact(stored):
        eq = dp_exact_int_eq(stored, k)
        if eq >= 0:
            return eq
        a = PyLong_AsLongLongAndOverflow(stored, &over_a)  # exact ints: cannot fail
        b = PyLong_AsLongLongAndOverflow(k, &over_b)
        if not over_a and not over_b:
            return a == b
    return -1


cdef inline int32_t _lru_find(OptimizedLRU self, object key, uint64_t h) except -2:
    """The slot holding `key`, or -1. Inline fast path: it probes while every candidate is
    decided by _plain_eq (no Python code runs, so nothing can change under the probe); the
    first candidate that needs __eq__ sends the lookup to the general OptimizedLRU._find."""
    cdef dp_probe_t probe
    cdef int32_t slot
    cdef int eq
    dp_slots_probe_start(&self.c.slots, h, &probe)
    while True:
        slot = dp_slots_probe_step(&self.c.slots, &probe)
        if slot < 0:
            return slot
        eq = _plain_eq(_KEY(&self.c, slot), key)
        if eq > 0:
            return slot
        if eq < 0:
            return self._find(key, h)


cdef inline int32_t _lru_live(OptimizedLRU self, object key, int32_t *expired,
                              uint64_t *hash_out) except -2:
    """The slot of a live entry for `key`, or -1; an expired entry found is only reported, in
    `expired` (else -1); the key's hash goes to `hash_out`. Hash, clock and __eq__ run here,
    before any change."""
    cdef uint64_t h = <uint64_t>PyObject_Hash(key)
    hash_out[0] = h
    cdef bint timed = self.c.expiry.n_timed > 0
    cdef int64_t now = self._now() if timed else 0
    cdef int32_t slot = _lru_find(self, key, h)
    expired[0] = -1
    if slot >= 0 and timed and dp_lru_is_expired(&self.c, slot, now):
        expired[0] = slot
        return -1
    return slot


cdef inline object _lru_lookup(OptimizedLRU self, object key, object default, bint count):
    """The live value for `key` (made most recent), else `default`."""
    cdef int32_t expired
    cdef uint64_t h
    cdef int32_t slot = _lru_live(self, key, &expired, &h)
    if slot >= 0:
        self.n_hits += count
        dp_lru_touch_hash(&self.c, slot, h)  # the probe matched h: no read of the hash array
        return <object>_VALUE(&self.c, slot)
    if expired >= 0:
        self._remove_expired(expired)
    self.n_misses += count
    dp_policy_on_miss(&self.c.policy)
    return default


cdef inline void _adopt(OptimizedLRU self, int32_t slot, object key, object value) noexcept:
    """A freshly inserted slot takes its own references to `key` and `value`."""
    Py_INCREF_raw(<PyObject *>key)
    Py_INCREF_raw(<PyObject *>value)
    dp_slots_user(&self.c.slots, slot)[0] = <void *>key
    dp_slots_user(&self.c.slots, slot)[1] = <void *>value
    self.version += 1


cdef inline int _lru_swap_victim(OptimizedLRU self, object key, object value, uint64_t h,
                                 int64_t weight) noexcept:
    """Insert `key` into a full cache in place of the policy's victim, for the common write (no
    expiry, no on_evict, no weight bound): 0 once done, -1 (nothing changed) if there is no
    victim. No Python code runs until the evicted key and value are released, last."""
    cdef int32_t victim = dp_lru_victim_except(&self.c, -1)
    if victim < 0:
        return -1
    dp_policy_on_evict(&self.c.policy, &self.c.slots, victim)
    cdef PyObject *old_key = _KEY(&self.c, victim)
    cdef PyObject *old_value = _VALUE(&self.c, victim)
    dp_lru_remove(&self.c, victim)
    self.n_evictions += 1
    # Cannot fail: one slot was just freed and every array is at full size (len == cap).
    cdef int32_t slot = dp_lru_insert(&self.c, h, weight, DP_LRU_NEVER)
    _adopt(self, slot, key, value)
    Py_DECREF_raw(old_key)
    Py_DECREF_raw(old_value)
    return 0


@cython.embedsignature(False)  # one signature, from the docstring (__text_signature__)
cdef class OptimizedLRU:
    """OptimizedLRU(max_size, ttl=None, *, max_weight=None, size_of=None, on_evict=None, timer=None, policy='lru')
--

    A least-recently-used cache with O(1) get, set and delete, optional TTL, optional weights,
    and per-entry access counts. It behaves like a ``MutableMapping``.

    - ``ttl``: default time to live in seconds (None: entries never expire); ``set`` can
      override it per entry. TTL counts from the last ``set`` of the key; reads do not extend it.
    - ``max_weight`` with ``size_of(key, value) -> int``: a second bound on the total weight.
    - ``on_evict(key, value, reason)`` is called after the cache is consistent again, with
      ``reason`` one of ``"size"`` (evicted by ``max_size``/``max_weight`` or by ``resize``),
      ``"expired"`` (removed because its TTL passed: on access, on ``expire()``, or to make
      room), ``"replaced"`` (``set`` of a key that held a live value: the old value), and
      ``"deleted"`` (``delete``, ``pop``, ``popitem``, ``del``, ``clear``). If the callback
      raises, the operation has still completed; the first error is raised after all calls.
    - ``timer``: a callable returning monotonic seconds (for tests). By default the C monotonic
      clock is read directly, with no Python call on the hot path.
    - ``policy``: ``"lru"`` (evict the least recently used) or ``"tinylfu"`` (W-TinyLFU: a small
      window LRU in front of a segmented main region, with a frequency sketch deciding
      admission and a hill climber sizing the window; a key turned away at admission that is
      read again within ``max_size`` reads is admitted next time, and such returns grow the
      window and age the sketch). Under "tinylfu", ``keys()`` lists the
      window, then the protected, then the probation segment, each most recent first, and
      ``popitem`` pops the policy's next victim. A hit bumps a per-entry count that joins the
      frequency sketch when the entry is compared for admission or removed;
      its move within the segments waits in a read buffer of up to 16 hits (as in Caffeine),
      a promotion out of probation longer (up to ``max_size // 8`` promotions, at most 128),
      applied when full and before ``keys()``, ``items()``, ``popitem`` or ``resize``.
      ``"sieve"`` (SIEVE, NSDI '24: a FIFO list where a hit only marks the entry; a hand moving
      from the oldest entry up clears marks and evicts the first unmarked one; ``keys()`` lists
      entries newest first, hits do not reorder them). ``OptimizedLRU.POLICIES`` names them all.

    Thread safety: every method is atomic with respect to the others under the GIL (the
    structure is changed only in C, and Python callbacks run once it is consistent again).
    It is not safe on a free-threaded (no-GIL) build. ``__init__`` runs once: calling it again
    raises ``RuntimeError`` (a key's ``__eq__``, the timer or ``size_of`` could otherwise swap
    the arrays and bounds a running method has read).

    Storage grows with the entries, as a dict's does (an empty ``OptimizedLRU(10**7)`` takes a
    few hundred bytes); ``max_size`` only bounds it.

    >>> cache = OptimizedLRU(2)
    >>> cache["a"] = 1; cache["b"] = 2
    >>> cache.get("a")
    1
    >>> cache["c"] = 3          # evicts "b", the least recently used
    >>> cache.keys()
    ['c', 'a']
    >>> cache.stats().hits
    1
    """

    def __cinit__(self, *args, **kwargs):
        # A valid empty cache of one slot, so that even an instance whose __init__ never ran
        # (OptimizedLRU.__new__) is safe to use; __init__ then sizes it.
        check_status(dp_lru_init(&self.c, 1, _POLICIES["lru"]))
        self.ttl_ns = DP_LRU_NEVER

    def __init__(self, max_size, ttl=None, *, max_weight=None, size_of=None, on_evict=None,
                 timer=None, policy="lru"):
        # Validate everything before anything is allocated or changed.
        cdef size_t cap = _max_size(max_size, "max_size")
        cdef int64_t ttl_ns = DP_LRU_NEVER if ttl is None else _seconds_to_ns(ttl, "ttl")
        if policy not in _POLICIES:
            raise ValueError(f"policy must be one of {', '.join(_POLICIES)}, got {policy!r}")
        _callable_or_none(size_of, "size_of")
        _callable_or_none(on_evict, "on_evict")
        _callable_or_none(timer, "timer")
        if max_weight is not None:
            if isinstance(max_weight, bool) or not isinstance(max_weight, int):
                raise TypeError(f"max_weight must be an int, not {type(max_weight).__name__}")
            if max_weight <= 0 or max_weight > _MAX_WEIGHT:
                raise ValueError(f"max_weight must be in 1..2**62, got {max_weight}")
            if size_of is None:
                raise ValueError("max_weight needs size_of(key, value) to weigh entries")
        _refuse_reinit(self._initialised)
        cdef int policy_code = _POLICIES[policy]
        cdef dp_lru_t fresh
        check_status(dp_lru_init(&fresh, cap, policy_code),
                     f"OptimizedLRU(max_size={max_size}): cannot allocate its arrays")
        while self.c.slots.len:  # entries set on an instance made by __new__ before __init__ ran
            self._drop_all()
        if self._initialised:  # __init__ re-entered from code that ran above
            dp_lru_free(&fresh)
            _refuse_reinit(True)
        # From here on no Python code runs until the new struct is in place.
        self._initialised = True
        dp_lru_free(&self.c)
        self.c = fresh
        self.version += 1
        self.ttl_ns = ttl_ns
        self.c_max_weight = 0 if max_weight is None else max_weight
        self.size_of = size_of
        self.on_evict = on_evict
        self.timer = timer
        self.n_hits = self.n_misses = self.n_evictions = self.n_expirations = 0

    def __dealloc__(self):
        self._drop_all()
        dp_lru_free(&self.c)

    # ----------------------------------------------------------------- internals

    cdef void _drop_all(self) noexcept:
        """Forget every entry without callbacks; references are released once consistent."""
        cdef size_t n = self.c.slots.len, i = 0
        if n == 0:
            return
        cdef _Entry *dead = <_Entry *>malloc(n * sizeof(_Entry))
        if dead == NULL:
            return  # keep the entries: leaking on OOM beats freeing reachable objects
        cdef int32_t s = dp_slots_first(&self.c.slots)
        while s >= 0:
            dead[i].key = _KEY(&self.c, s)
            dead[i].value = _VALUE(&self.c, s)
            i += 1
            s = dp_slots_next(&self.c.slots, s)
        dp_lru_clear(&self.c)
        self.version += 1
        for i in range(n):
            Py_DECREF_raw(dead[i].key)
            Py_DECREF_raw(dead[i].value)
        free(dead)

    cdef int64_t _now(self) except? -1:
        if self.timer is None:
            return dp_clock_now_ns()
        t = self.timer()
        if isinstance(t, bool) or not isinstance(t, (int, float)):
            raise TypeError(f"timer must return a number of seconds, got {type(t).__name__}")
        cdef double s = t
        if not isfinite(s) or s * 1e9 >= 9.2e18 or s * 1e9 <= -9.2e18:
            raise ValueError(f"timer returned an unusable time: {t!r}")
        return <int64_t>(s * 1e9)

    cdef bint _may_expire(self) noexcept:
        return self.c.expiry.n_timed > 0

    cdef int32_t _find(self, object key, uint64_t h) except -2:
        """The slot holding `key`, or -1. Restarts if a key's __eq__ changed the cache."""
        cdef size_t pos
        cdef int32_t slot
        cdef uint64_t version
        cdef object stored
        cdef int eq
        while True:
            pos = dp_slots_probe_begin(&self.c.slots, h)
            version = self.version
            while True:
                slot = dp_slots_probe_next(&self.c.slots, h, &pos)
                if slot < 0:
                    return -1
                if _KEY(&self.c, slot) == <PyObject *>key:
                    return slot
                stored = <object>_KEY(&self.c, slot)
                eq = PyObject_RichCompareBool(stored, key, Py_EQ)
                if self.version != version:
                    break  # slots moved under us: start over
                if eq:
                    return slot

    cdef int _take(self, _Victims *v, int32_t slot, int reason) except -1:
        """Move `slot`'s references into `v` and remove it (no Python code runs)."""
        _victims_reserve(v, 1)
        _victims_push(v, _KEY(&self.c, slot), _VALUE(&self.c, slot), reason)
        dp_slots_user(&self.c.slots, slot)[0] = NULL
        dp_slots_user(&self.c.slots, slot)[1] = NULL
        dp_lru_remove(&self.c, slot)
        self.version += 1
        if reason == _SIZE:
            self.n_evictions += 1
        elif reason == _EXPIRED:
            self.n_expirations += 1
        return 0

    cdef int _evict_one(self, _Victims *v, int64_t now, int32_t keep) except -1:
        """Evict the soonest-expired entry if one has expired (even `keep`: written with ttl=0,
        it is dead on arrival), else the policy's victim, never `keep` (the slot just written,
        or -1), which a buffered W-TinyLFU move may still leave at the tail."""
        cdef int32_t slot = dp_expiry_top(&self.c.expiry, &self.c.slots, now) if self._may_expire() else -1
        if slot >= 0:
            return self._take(v, slot, _EXPIRED)
        slot = dp_lru_victim_except(&self.c, keep)
        if slot < 0:  # only if __init__ (on a bare instance) changed the bounds mid-call
            raise RuntimeError("OptimizedLRU changed during the call: nothing left to evict")
        dp_policy_on_evict(&self.c.policy, &self.c.slots, slot)
        return self._take(v, slot, _SIZE)

    cdef int _release(self, _Victims *v) except -1:
        """Run on_evict for each victim (all run; the first error is raised after), then drop
        the references. Called once the structure is consistent."""
        cdef size_t i
        if v.n == 0:
            _victims_free(v)
            return 0
        first_error = None
        try:
            for i in range(v.n):
                if self.on_evict is not None:
                    try:
                        self.on_evict(<object>v.items[i].key, <object>v.items[i].value,
                                      _REASONS[v.items[i].reason])
                    except BaseException as exc:
                        if first_error is None:
                            first_error = exc
        finally:
            n = v.n
            v.n = 0
            for i in range(n):
                Py_DECREF_raw(v.items[i].key)
                Py_DECREF_raw(v.items[i].value)
            _victims_free(v)
        if first_error is not None:
            raise first_error
        return 0

    cdef int32_t _live_slot(self, object key, _Victims *v) except -2:
        """The slot of a live entry for `key`, or -1; an expired entry found is moved to `v`."""
        cdef int32_t expired
        cdef uint64_t h
        cdef int32_t slot = _lru_live(self, key, &expired, &h)
        if expired >= 0:
            self._take(v, expired, _EXPIRED)
        return slot

    cdef int32_t _peek_slot(self, object key) except -2:
        """Like _live_slot, but an expired entry is only reported (-1), never removed."""
        cdef int32_t expired
        cdef uint64_t h
        return _lru_live(self, key, &expired, &h)

    cdef int64_t _weigh(self, object key, object value) except -1:
        if self.size_of is None:
            return 0
        w = self.size_of(key, value)
        if isinstance(w, bool) or not isinstance(w, int):
            raise TypeError(f"size_of must return an int, got {type(w).__name__}")
        if w < 0:
            raise ValueError(f"size_of returned a negative weight: {w}")
        if self.c_max_weight and w > self.c_max_weight:
            raise ValueError(f"entry weight {w} exceeds max_weight {self.c_max_weight}")
        if w > _MAX_WEIGHT:
            raise ValueError(f"size_of returned a weight above 2**62: {w}")
        return w

    cdef int _set(self, object key, object value, object ttl) except -1:
        # Everything that may run Python code (hash, size_of, timer, __eq__) runs first.
        cdef uint64_t h = <uint64_t>PyObject_Hash(key)
        dp_policy_prefetch(&self.c.policy, h)  # a write counts the key in the sketch
        cdef int64_t weight = 0 if self.size_of is None else self._weigh(key, value)
        cdef int64_t ttl_ns = self.ttl_ns if ttl is None else _seconds_to_ns(ttl, "ttl")
        cdef int64_t now = 0, expires = DP_LRU_NEVER
        cdef bint timed = ttl_ns != DP_LRU_NEVER or self._may_expire()
        if timed:
            now = self._now()
            if ttl_ns != DP_LRU_NEVER:
                expires = DP_LRU_NEVER if ttl_ns >= DP_LRU_NEVER - now else now + ttl_ns
        cdef int32_t slot = _lru_find(self, key, h)
        cdef PyObject *old
        # No Python code runs from here on: the one allocation a weight or an expiry may need
        # happens now, before anything changes, so that no step below can fail on it.
        check_status(dp_lru_need_cold(&self.c, weight, expires),
                     "OptimizedLRU: cannot allocate the slots' expiry and weight array")
        dp_policy_on_write(&self.c.policy, h)
        if slot >= 0 and self.on_evict is None and self.size_of is None:
            # Fast overwrite: nothing to report and no weight to rebalance.
            if timed and dp_lru_is_expired(&self.c, slot, now):
                self.n_expirations += 1
            old = _VALUE(&self.c, slot)
            Py_INCREF_raw(<PyObject *>value)
            dp_slots_user(&self.c.slots, slot)[1] = <void *>value
            if dp_slots_expires(&self.c.slots, slot) != expires:
                dp_expiry_set(&self.c.expiry, &self.c.slots, slot, expires)
            dp_lru_touch_hash(&self.c, slot, h)
            Py_DECREF_raw(old)  # last: freeing it may run code, and the cache is consistent
            return 0
        if (slot < 0 and not timed and self.on_evict is None and not self.c_max_weight
                and self.c.slots.len == self.c.slots.cap):
            if _lru_swap_victim(self, key, value, h, weight) == 0:
                return 0
        return self._set_reporting(key, value, h, slot, weight, expires, now, timed)

    cdef int _set_reporting(self, object key, object value, uint64_t h, int32_t slot,
                            int64_t weight, int64_t expires, int64_t now, bint timed) except -1:
        """The rest of _set (from the found `slot`, or -1): the writes that displace entries to
        report to on_evict, weigh, or grow the storage for. Kept out of _set, whose common
        paths stay small."""
        cdef int rc
        cdef _Victims v
        if (not self.c_max_weight and weight  # (a budget bounds the total itself)
                and weight > _MAX_WEIGHT - self.c.slots.total_weight
                + (dp_slots_weight(&self.c.slots, slot) if slot >= 0 else 0)):
            raise ValueError(f"the total weight would exceed 2**62 (size_of returned {weight})")
        _victims_init(&v)
        try:
            if slot >= 0:
                self._replace(&v, slot, value, weight, expires, timed and
                              dp_lru_is_expired(&self.c, slot, now))
            else:
                # Grow first (amortised O(1)): a MemoryError then leaves the cache unchanged.
                if self.c.slots.len >= self.c.slots.n_slots and self.c.slots.n_slots < self.c.slots.cap:
                    rc = dp_lru_reserve(&self.c, self.c.slots.len + 1)
                    if rc != DP_OK:
                        check_status(rc, f"OptimizedLRU: cannot grow past {self.c.slots.n_slots} entries")
                while self.c.slots.len >= self.c.slots.cap:
                    self._evict_one(&v, now, -1)
                # (as a difference: total_weight + weight may pass int64 at 2**62 each)
                while self.c_max_weight and weight > self.c_max_weight - self.c.slots.total_weight:
                    self._evict_one(&v, now, -1)
                slot = dp_lru_insert(&self.c, h, weight, expires)
                if slot < 0:  # cannot happen: room was reserved above
                    check_status(slot, "OptimizedLRU insert")
                _adopt(self, slot, key, value)
            while self.c_max_weight and self.c.slots.total_weight > self.c_max_weight:
                self._evict_one(&v, now, slot)  # the new value outweighs the old one
            if self.c_max_weight:  # (a TTL or on_evict write comes here too: no call for it)
                # W-TinyLFU's shares follow the entries the budget holds, not max_size.
                dp_lru_follow_weight(&self.c, self.c_max_weight)
        finally:
            self._release(&v)
        return 0

    cdef int _replace(self, _Victims *v, int32_t slot, object value, int64_t weight,
                      int64_t expires, bint expired) except -1:
        _victims_reserve(v, 1)
        Py_INCREF_raw(_KEY(&self.c, slot))
        _victims_push(v, _KEY(&self.c, slot), _VALUE(&self.c, slot),
                      _EXPIRED if expired else _REPLACED)
        Py_INCREF_raw(<PyObject *>value)
        dp_slots_user(&self.c.slots, slot)[1] = <void *>value
        dp_slots_set_weight(&self.c.slots, slot, weight)
        if dp_slots_expires(&self.c.slots, slot) != expires:
            dp_expiry_set(&self.c.expiry, &self.c.slots, slot, expires)
        dp_lru_touch(&self.c, slot)
        if expired:
            self.n_expirations += 1
        return 0

    cdef int _remove_expired(self, int32_t slot) except -1:
        cdef _Victims v
        _victims_init(&v)
        try:
            self._take(&v, slot, _EXPIRED)
        finally:
            self._release(&v)
        return 0

    cdef object _pop_entry(self, object key):
        """Remove `key`; returns the value, or _MISSING if no live entry held it."""
        cdef _Victims v
        _victims_init(&v)
        cdef int32_t slot
        value = _MISSING
        # No return inside the try: if on_evict raises in the finally clause, a pending return
        # value would never be released.
        try:
            slot = self._live_slot(key, &v)
            if slot >= 0:
                value = <object>_VALUE(&self.c, slot)
                self._take(&v, slot, _DELETED)
        finally:
            self._release(&v)
        return value

    # ----------------------------------------------------------------- mapping API

    def __getitem__(self, key):
        value = _lru_lookup(self, key, _MISSING, True)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key, default=None):
        """Return the value for ``key`` (and mark it most recent), else ``default``."""
        return _lru_lookup(self, key, default, True)

    def __setitem__(self, key, value):
        self._set(key, value, None)

    def set(self, key, value, ttl=None):
        """Store ``value`` under ``key`` as the most recent entry.

        ``ttl`` (seconds) overrides the cache's default TTL for this entry; ``math.inf`` means
        never expire. Raises ``ValueError`` (cache unchanged) if the entry alone is heavier than
        ``max_weight``.
        """
        self._set(key, value, ttl)

    def peek(self, key, default=None):
        """The value for ``key`` without changing recency, counts or stats; else ``default``."""
        cdef int32_t slot = self._peek_slot(key)
        return default if slot < 0 else <object>_VALUE(&self.c, slot)

    def __contains__(self, key):
        return self._peek_slot(key) >= 0

    def delete(self, key):
        """Remove ``key``; True if a live entry was removed."""
        return self._pop_entry(key) is not _MISSING

    def __delitem__(self, key):
        if self._pop_entry(key) is _MISSING:
            raise KeyError(key)

    def pop(self, key, default=_MISSING):
        """Remove ``key`` and return its value; ``default`` or ``KeyError`` if absent."""
        value = self._pop_entry(key)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        return value

    def popitem(self):
        """Remove and return the live ``(key, value)`` the policy would evict next (under LRU the
        least recently used); KeyError if empty."""
        cdef bint timed = self._may_expire()
        cdef int64_t now = self._now() if timed else 0
        cdef _Victims v
        _victims_init(&v)
        cdef int32_t slot
        item = None
        dp_policy_drain(&self.c.policy, &self.c.slots)  # the buffered hits decide the order too
        try:
            while self.c.slots.len:
                slot = dp_policy_victim(&self.c.policy, &self.c.slots)
                if timed and dp_lru_is_expired(&self.c, slot, now):
                    self._take(&v, slot, _EXPIRED)
                    continue
                # Take first: the victim list then owns the references, so a collection run
                # while the tuple is allocated (a finalizer clearing the cache) cannot free them.
                self._take(&v, slot, _DELETED)
                item = (<object>v.items[v.n - 1].key, <object>v.items[v.n - 1].value)
                break
        finally:
            self._release(&v)
        if item is None:
            raise KeyError("popitem(): cache is empty")
        return item

    def clear(self):
        """Remove every entry; on_evict (if any) is called with reason "deleted" for each."""
        if self.on_evict is None:
            self._drop_all()
            return
        cdef _Victims v
        _victims_init(&v)
        cdef int32_t s
        try:
            _victims_reserve(&v, self.c.slots.len)  # first: nothing below can fail or run code
            dp_policy_drain(&self.c.policy, &self.c.slots)  # report in the order keys() lists
            s = dp_slots_first(&self.c.slots)
            while s >= 0:
                _victims_push(&v, _KEY(&self.c, s), _VALUE(&self.c, s), _DELETED)
                s = dp_slots_next(&self.c.slots, s)
            dp_lru_clear(&self.c)  # the victim list now owns every reference
            self.version += 1
        finally:
            self._release(&v)

    def __len__(self):
        cdef int64_t now
        if self._may_expire():
            now = self._now()  # first: the timer may change the cache
            return self.c.slots.len - dp_expiry_count(&self.c.expiry, &self.c.slots, now)
        return self.c.slots.len

    def __iter__(self):
        return iter(self.keys())

    def __repr__(self):
        return (f"OptimizedLRU(max_size={self.c.slots.cap}, ttl={self.ttl}, "
                f"len={len(self)}, hit_rate={self.stats().hit_rate:.3f})")

    cdef list _collect(self, int what, bint live_only):
        """Keys (0), values (1) or items (2), most recent first.

        The references are first copied (and held) in one pass that runs no Python code, so a
        garbage collection triggered while the list is built cannot change what is walked."""
        cdef bint timed = live_only and self._may_expire()
        cdef int64_t now = self._now() if timed else 0
        cdef size_t n = 0, i
        cdef _Entry *snap = <_Entry *>malloc((self.c.slots.len or 1) * sizeof(_Entry))
        if snap == NULL:
            raise MemoryError(f"OptimizedLRU: cannot allocate a snapshot of {self.c.slots.len} entries")
        dp_policy_drain(&self.c.policy, &self.c.slots)  # list the order with every hit so far applied
        cdef int32_t s = dp_slots_first(&self.c.slots)
        while s >= 0:
            if not (timed and dp_lru_is_expired(&self.c, s, now)):
                snap[n].key = _KEY(&self.c, s)
                snap[n].value = _VALUE(&self.c, s)
                Py_INCREF_raw(snap[n].key)
                Py_INCREF_raw(snap[n].value)
                n += 1
            s = dp_slots_next(&self.c.slots, s)
        cdef list out = []
        try:
            for i in range(n):
                if what == 0:
                    out.append(<object>snap[i].key)
                elif what == 1:
                    out.append(<object>snap[i].value)
                else:
                    out.append((<object>snap[i].key, <object>snap[i].value))
        finally:
            for i in range(n):
                Py_DECREF_raw(snap[i].key)
                Py_DECREF_raw(snap[i].value)
            free(snap)
        return out

    def keys(self):
        """Live keys, most recently used first (a list snapshot)."""
        return self._collect(0, True)

    def values(self):
        """Live values, most recently used first (a list snapshot)."""
        return self._collect(1, True)

    def items(self):
        """Live ``(key, value)`` pairs, most recently used first (a list snapshot)."""
        return self._collect(2, True)

    # ----------------------------------------------------------------- MutableMapping API

    def update(self, other=(), /, **kwargs):
        """``set`` every pair of ``other`` (a mapping, an object with ``keys()`` and ``[]``, or
        an iterable of pairs) and then of ``kwargs``, in order, as ``dict.update`` does."""
        if hasattr(other, "keys"):
            for key in other.keys():
                self._set(key, other[key], None)
        else:
            for key, value in other:
                self._set(key, value, None)
        for key, value in kwargs.items():
            self._set(key, value, None)

    def setdefault(self, key, default=None):
        """The live value of ``key`` (counted as a get); else store ``default`` and return it."""
        value = _lru_lookup(self, key, _MISSING, True)
        if value is _MISSING:
            self._set(key, default, None)
            return default
        return value

    def copy(self):
        """A new cache with the same settings, entries, recency order, expiry times and access
        counts (keys and values are shared, not copied; stats and W-TinyLFU frequencies start
        afresh)."""
        cdef OptimizedLRU out = OptimizedLRU.__new__(OptimizedLRU)
        cdef dp_lru_t fresh
        check_status(dp_lru_init(&fresh, self.c.slots.cap, self.c.policy.kind),
                     f"OptimizedLRU.copy: cannot allocate arrays for max_size={self.c.slots.cap}")
        cdef int32_t *remap = <int32_t *>malloc(self.c.slots.n_slots * sizeof(int32_t))
        if remap == NULL:
            dp_lru_free(&fresh)
            raise MemoryError(f"OptimizedLRU.copy: cannot allocate {self.c.slots.n_slots} slot indices")
        dp_policy_drain(&self.c.policy, &self.c.slots)
        cdef int rc = dp_lru_copy_into(&self.c, &fresh, remap)  # no Python code runs
        free(remap)
        if rc != DP_OK:
            dp_lru_free(&fresh)
            check_status(rc, f"OptimizedLRU.copy of {self.c.slots.len} entries")
        cdef int32_t s = dp_slots_first(&fresh.slots)
        while s >= 0:  # no Python code runs in this loop
            Py_INCREF_raw(_KEY(&fresh, s))
            Py_INCREF_raw(_VALUE(&fresh, s))
            s = dp_slots_next(&fresh.slots, s)
        dp_lru_free(&out.c)  # the empty one-slot struct from __cinit__
        out.c = fresh
        out._initialised = True
        out.ttl_ns = self.ttl_ns
        out.c_max_weight = self.c_max_weight
        dp_lru_follow_weight(&out.c, out.c_max_weight)  # sized as the original's
        out.size_of = self.size_of
        out.on_evict = self.on_evict
        out.timer = self.timer
        return out

    __copy__ = copy

    def __eq__(self, other):
        """Equal to any mapping with the same live keys and values, in any order (as ``dict``
        compares); no hit or recency change is recorded."""
        if not isinstance(other, (OptimizedLRU, Mapping)):
            return NotImplemented
        mine = self._collect(2, True)
        theirs = ((<OptimizedLRU>other)._collect(2, True) if isinstance(other, OptimizedLRU)
                  else other.items())
        return dict(mine) == dict(theirs)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None

    __class_getitem__ = classmethod(GenericAlias)

    def __reduce__(self):
        """Pickles settings, entries (oldest first, with their remaining TTL) and stats; the
        callbacks and timer must be picklable themselves (e.g. module-level functions)."""
        cdef bint timed = self._may_expire()
        cdef int64_t now = self._now() if timed else 0
        cdef list entries = []
        cdef int32_t s
        cdef int64_t expires
        for key, value in reversed(self._collect(2, True)):
            s = self._peek_slot(key)
            if s < 0:
                continue  # expired (or removed by code run above) meanwhile
            expires = dp_slots_expires(&self.c.slots, s)
            entries.append((key, value, None if expires == DP_LRU_NEVER
                            else max(expires - now, 0) / 1e9))
        settings = {"max_size": self.c.slots.cap, "ttl": self.ttl, "max_weight": self.max_weight,
                    "size_of": self.size_of, "on_evict": self.on_evict, "timer": self.timer,
                    "policy": self.policy}
        stats = (self.n_hits, self.n_misses, self.n_evictions, self.n_expirations)
        return (_rebuild, (settings, entries, stats))

    # ----------------------------------------------------------------- bulk and maintenance

    def get_many(self, keys):
        """``{key: value}`` for the keys that hold live entries (each counts as a get)."""
        cdef dict out = {}
        for key in keys:
            value = _lru_lookup(self, key, _MISSING, True)
            if value is not _MISSING:
                out[key] = value
        return out

    def set_many(self, mapping, ttl=None):
        """``set`` every pair of a mapping (or iterable of pairs), in order, with one ``ttl``."""
        if ttl is not None:
            _seconds_to_ns(ttl, "ttl")
        pairs = mapping.items() if hasattr(mapping, "items") else mapping
        for key, value in pairs:
            self._set(key, value, ttl)

    def expire(self):
        """Remove every expired entry now (reason "expired"); returns how many were removed."""
        if not self._may_expire():
            return 0
        cdef int64_t now = self._now()
        cdef int32_t slot
        cdef _Victims v
        _victims_init(&v)
        cdef size_t n_removed = 0
        try:
            while True:
                slot = dp_expiry_top(&self.c.expiry, &self.c.slots, now)
                if slot < 0:
                    break
                self._take(&v, slot, _EXPIRED)
            n_removed = v.n
        finally:
            self._release(&v)
        return n_removed

    def resize(self, new_max_size):
        """Change ``max_size``; shrinking evicts least recent entries (reason "size")."""
        cdef size_t cap = _max_size(new_max_size, "new_max_size"), i
        cdef int64_t now = self._now() if self._may_expire() else 0
        cdef dp_lru_t fresh
        check_status(dp_lru_init(&fresh, cap, self.c.policy.kind),
                     f"OptimizedLRU.resize({new_max_size}): cannot allocate its arrays")
        cdef int rc = dp_lru_reserve_copy(&fresh, &self.c, min(self.c.slots.len, cap))  # so the copy cannot fail
        if rc != DP_OK:
            dp_lru_free(&fresh)
            check_status(rc, f"OptimizedLRU.resize({new_max_size}): cannot allocate its arrays")
        cdef int32_t *remap = <int32_t *>malloc(self.c.slots.n_slots * sizeof(int32_t))
        if remap == NULL:
            dp_lru_free(&fresh)
            raise MemoryError(f"OptimizedLRU.resize: cannot allocate {self.c.slots.n_slots} slot indices")
        cdef _Victims v
        _victims_init(&v)
        cdef bint done = False
        try:
            while self.c.slots.len > cap:
                self._evict_one(&v, now, -1)
            dp_policy_drain(&self.c.policy, &self.c.slots)
            dp_lru_copy_into(&self.c, &fresh, remap)  # cannot fail: fresh has room reserved
            dp_lru_free(&self.c)
            self.c = fresh
            dp_lru_follow_weight(&self.c, self.c_max_weight)  # a fresh policy: sized again
            self.version += 1
            done = True
        finally:
            free(remap)
            if not done:  # an eviction failed: the cache keeps its old arrays
                dp_lru_free(&fresh)
            self._release(&v)

    def hot_keys(self, n=10):
        """The ``n`` live keys accessed most often since they were inserted, most first."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"n must be an int, not {type(n).__name__}")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        n = min(n, self.c.slots.len)  # any n fits a size_t from here on (nothing allocated yet)
        cdef bint timed = self._may_expire()
        cdef int64_t now = self._now() if timed else 0
        cdef size_t want = min(n, self.c.slots.len), got, i
        if timed:
            want = min(want + dp_expiry_count(&self.c.expiry, &self.c.slots, now), self.c.slots.len)
        if want == 0:
            return []
        cdef int32_t *top = <int32_t *>malloc(want * sizeof(int32_t))
        if top == NULL:
            raise MemoryError(f"OptimizedLRU.hot_keys: cannot allocate {want} slot indices")
        got = dp_slots_top_hits(&self.c.slots, top, want)
        cdef list keys = []
        cdef size_t kept = 0
        cdef PyObject **held = <PyObject **>malloc(want * sizeof(PyObject *))
        if held == NULL:
            free(top)
            raise MemoryError(f"OptimizedLRU.hot_keys: cannot allocate {want} key references")
        for i in range(got):
            if kept < <size_t>n and not (timed and dp_lru_is_expired(&self.c, top[i], now)):
                held[kept] = _KEY(&self.c, top[i])
                Py_INCREF_raw(held[kept])
                kept += 1
        free(top)
        try:
            for i in range(kept):
                keys.append(<object>held[i])
        finally:
            for i in range(kept):
                Py_DECREF_raw(held[i])
            free(held)
        return keys

    def access_count(self, key):
        """How often ``key`` was read or set since insertion; 0 if absent. No side effects."""
        cdef int32_t slot = self._peek_slot(key)
        return 0 if slot < 0 else dp_slots_hits(&self.c.slots, slot)

    def stats(self):
        """A :class:`CacheStats` snapshot: hits, misses, evictions, expirations, hit_rate."""
        return CacheStats(hits=self.n_hits, misses=self.n_misses, evictions=self.n_evictions,
                          expirations=self.n_expirations)

    def reset_stats(self):
        """Zero the hit, miss, eviction and expiration counters."""
        self.n_hits = self.n_misses = self.n_evictions = self.n_expirations = 0

    #: The policy names, from the C table (csrc/policy.c): "lru", "tinylfu", "sieve".
    POLICIES = tuple(_POLICIES)

    @property
    def policy(self):
        """The eviction policy: one of ``OptimizedLRU.POLICIES``."""
        return dp_policy_name(self.c.policy.kind).decode()

    def _segments(self):
        """Debug view of the W-TinyLFU state: {window, probation, protected} lengths and the
        current window and protected bounds (under LRU everything is in the window), and the
        entries they are sized for (``max_size``, or what a binding ``max_weight`` holds)."""
        return {"window": self.c.slots.seg_len[0], "probation": self.c.slots.seg_len[1],
                "protected": self.c.slots.seg_len[2], "window_max": self.c.policy.seg_max[0],
                "protected_max": self.c.policy.seg_max[2], "policy_cap": self.c.policy.cap}

    @property
    def max_size(self):
        """The bound on the number of entries."""
        return self.c.slots.cap

    @property
    def ttl(self):
        """The default TTL in seconds, or None."""
        return None if self.ttl_ns == DP_LRU_NEVER else self.ttl_ns / 1e9

    @property
    def max_weight(self):
        """The bound on the total weight, or None."""
        return self.c_max_weight or None

    @property
    def total_weight(self):
        """The sum of ``size_of`` over the entries held (expired ones included until removed)."""
        return self.c.slots.total_weight

    def _check(self):
        """Validate the internal invariants (links, counts, index, heap); AssertionError if not."""
        if dp_lru_check(&self.c) != DP_OK:
            raise AssertionError("OptimizedLRU: C structure invariant violated")
        cdef int32_t s = dp_slots_first(&self.c.slots)
        cdef size_t pos
        cdef int32_t found
        while s >= 0:
            if _KEY(&self.c, s) == NULL or _VALUE(&self.c, s) == NULL:
                raise AssertionError(f"OptimizedLRU: live slot {s} has no key or value")
            pos = dp_slots_probe_begin(&self.c.slots, dp_slots_hash(&self.c.slots, s))
            found = dp_slots_probe_next(&self.c.slots, dp_slots_hash(&self.c.slots, s), &pos)
            while found >= 0 and found != s:
                found = dp_slots_probe_next(&self.c.slots, dp_slots_hash(&self.c.slots, s), &pos)
            if found != s:
                raise AssertionError(f"OptimizedLRU: live slot {s} is not reachable by its hash")
            s = dp_slots_next(&self.c.slots, s)


MutableMapping.register(OptimizedLRU)


def _rebuild(settings, entries, stats):
    """Unpickle an OptimizedLRU (see OptimizedLRU.__reduce__)."""
    cdef OptimizedLRU out = OptimizedLRU(**settings)
    for key, value, ttl in entries:
        out._set(key, value, INFINITY if ttl is None else ttl)
    out.n_hits, out.n_misses, out.n_evictions, out.n_expirations = stats
    return out

# Cython generates traverse/clear for the object attributes only; wrap them so the GC also
# sees the keys and values held in the C arrays (a value referencing the cache is collected).
cdef traverseproc _base_traverse = (<_TypeSlots *>OptimizedLRU).tp_traverse
cdef inquiry _base_clear = (<_TypeSlots *>OptimizedLRU).tp_clear
(<_TypeSlots *>OptimizedLRU).tp_traverse = _lru_traverse
(<_TypeSlots *>OptimizedLRU).tp_clear = _lru_clear
