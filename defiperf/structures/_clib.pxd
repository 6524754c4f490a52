# Declarations of the C cores in csrc/, one block per header, no logic (style rule 3).
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t


cdef extern from "dp_common.h" nogil:
    enum:
        DP_OK
        DP_ENOMEM
        DP_EINVAL
        DP_EEMPTY
        DP_EFULL
        DP_ECORRUPT


cdef extern from "dp_clock.h" nogil:
    int64_t dp_clock_now_ns()


cdef extern from "lru.h" nogil:
    size_t DP_LRU_MAX_CAP
    int64_t DP_LRU_NEVER

    ctypedef struct dp_lru_node_t:
        uint64_t hash
        int64_t expires_ns
        int64_t weight
        void *user[2]
        int32_t prev, next
        uint32_t n_hits
        int32_t heap_pos
        int32_t eprev, enext

    ctypedef struct dp_lru_t:
        size_t cap, len
        int32_t head, tail, free_head
        dp_lru_node_t *node
        int64_t total_weight
        size_t heap_len
        size_t n_timed

    int dp_lru_init(dp_lru_t *lru, size_t cap)
    void dp_lru_free(dp_lru_t *lru)
    void dp_lru_clear(dp_lru_t *lru)
    int32_t dp_lru_insert(dp_lru_t *lru, uint64_t hash, int64_t weight, int64_t expires_ns)
    void dp_lru_set_weight(dp_lru_t *lru, int32_t slot, int64_t weight)
    void dp_lru_remove(dp_lru_t *lru, int32_t slot)
    void dp_lru_set_expiry(dp_lru_t *lru, int32_t slot, int64_t expires_ns)
    size_t dp_lru_count_expired(const dp_lru_t *lru, int64_t now_ns)
    int dp_lru_copy_into(const dp_lru_t *src, dp_lru_t *dst, int32_t *remap)
    size_t dp_lru_top_hits(const dp_lru_t *lru, int32_t *out, size_t n)
    int dp_lru_check(const dp_lru_t *lru)
    size_t dp_lru_probe_begin(const dp_lru_t *lru, uint64_t hash)
    int32_t dp_lru_probe_next(const dp_lru_t *lru, uint64_t hash, size_t *pos)
    void dp_lru_touch(dp_lru_t *lru, int32_t slot)
    int32_t dp_lru_expired_top(const dp_lru_t *lru, int64_t now_ns)
    int dp_lru_is_expired(const dp_lru_t *lru, int32_t slot, int64_t now_ns)
