# Declarations of the C cores in csrc/, one block per header, no logic (style rule 3).
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t


cdef extern from "dp_common.h" nogil:
    enum:
        DP_OK
        DP_ENOMEM
        DP_EINVAL
        DP_EEMPTY
        DP_EFULL
        DP_ECORRUPT
        DP_EFAULT


cdef extern from "dp_clock.h" nogil:
    int64_t dp_clock_now_ns()


cdef extern from "slots.h" nogil:
    size_t DP_SLOTS_MAX_CAP
    int64_t DP_SLOTS_NEVER

    ctypedef struct dp_slots_t:
        size_t cap, len
        size_t n_slots
        size_t seg_len[3]
        int64_t total_weight

    size_t dp_slots_probe_begin(const dp_slots_t *s, uint64_t hash)
    int32_t dp_slots_probe_next(const dp_slots_t *s, uint64_t hash, size_t *pos)
    ctypedef struct dp_probe_t:
        pass
    void dp_slots_probe_start(const dp_slots_t *s, uint64_t hash, dp_probe_t *p)
    int32_t dp_slots_probe_step(const dp_slots_t *s, dp_probe_t *p)
    int32_t dp_slots_first(const dp_slots_t *s)
    int32_t dp_slots_next(const dp_slots_t *s, int32_t slot)
    int dp_slots_set_weight(dp_slots_t *s, int32_t slot, int64_t weight)
    int64_t dp_slots_weight(const dp_slots_t *s, int32_t slot)
    size_t dp_slots_top_hits(const dp_slots_t *s, int32_t *out, size_t n)
    uint64_t dp_slots_hash(const dp_slots_t *s, int32_t slot)
    uint32_t dp_slots_hits(const dp_slots_t *s, int32_t slot)
    int64_t dp_slots_expires(const dp_slots_t *s, int32_t slot)
    void **dp_slots_user(dp_slots_t *s, int32_t slot)


cdef extern from "expiry.h" nogil:
    ctypedef struct dp_expiry_t:
        size_t n_timed

    int dp_expiry_set(dp_expiry_t *e, dp_slots_t *s, int32_t slot, int64_t expires_ns)
    size_t dp_expiry_count(const dp_expiry_t *e, const dp_slots_t *s, int64_t now_ns)
    int32_t dp_expiry_top(const dp_expiry_t *e, const dp_slots_t *s, int64_t now_ns)


cdef extern from "policy.h" nogil:
    ctypedef struct dp_policy_t:
        int kind
        size_t cap
        size_t seg_max[3]

    int dp_policy_count()
    const char *dp_policy_name(int kind)
    int32_t dp_policy_victim(dp_policy_t *p, dp_slots_t *s)
    void dp_policy_on_evict(dp_policy_t *p, const dp_slots_t *s, int32_t slot)
    void dp_policy_drain(dp_policy_t *p, dp_slots_t *s)
    void dp_policy_on_write(dp_policy_t *p, uint64_t hash)
    void dp_policy_on_miss(dp_policy_t *p)
    void dp_policy_prefetch(const dp_policy_t *p, uint64_t hash)


cdef extern from "lru.h" nogil:
    size_t DP_LRU_MAX_CAP
    int64_t DP_LRU_NEVER

    ctypedef struct dp_lru_t:
        dp_slots_t slots
        dp_expiry_t expiry
        dp_policy_t policy

    int dp_lru_init(dp_lru_t *lru, size_t cap, int policy_kind)
    void dp_lru_free(dp_lru_t *lru)
    void dp_lru_clear(dp_lru_t *lru)
    int dp_lru_reserve(dp_lru_t *lru, size_t n)
    int32_t dp_lru_insert(dp_lru_t *lru, uint64_t hash, int64_t weight, int64_t expires_ns)
    void dp_lru_remove(dp_lru_t *lru, int32_t slot)
    int32_t dp_lru_victim_except(dp_lru_t *lru, int32_t keep)
    int32_t dp_lru_victim_instead(dp_lru_t *lru, int32_t keep)
    int dp_lru_reserve_copy(dp_lru_t *dst, const dp_lru_t *src, size_t n)
    int dp_lru_copy_into(const dp_lru_t *src, dp_lru_t *dst, int32_t *remap)
    int dp_lru_check(const dp_lru_t *lru)
    void dp_lru_follow_weight(dp_lru_t *lru, int64_t max_weight)
    int dp_lru_need_cold(dp_lru_t *lru, int64_t weight, int64_t expires_ns)
    void dp_lru_touch(dp_lru_t *lru, int32_t slot)
    void dp_lru_touch_hash(dp_lru_t *lru, int32_t slot, uint64_t hash)
    int dp_lru_is_expired(const dp_lru_t *lru, int32_t slot, int64_t now_ns)


cdef extern from "hash.h" nogil:
    void dp_hash128(const void *data, size_t n_bytes, uint64_t seed, uint64_t out[2])


cdef extern from "bloom.h" nogil:
    unsigned int DP_BLOOM_MAX_HASHES
    uint64_t DP_BLOOM_MAX_BITS

    ctypedef struct dp_bloom_t:
        uint64_t *words
        size_t n_words
        uint64_t n_bits
        uint32_t n_hashes
        uint64_t seed
        uint64_t n_set
        int owns_words

    int dp_bloom_init(dp_bloom_t *bf, uint64_t n_bits, uint32_t n_hashes, uint64_t seed)
    int dp_bloom_init_view(dp_bloom_t *bf, uint64_t *words, uint64_t n_bits, uint32_t n_hashes,
                           uint64_t seed)
    void dp_bloom_free(dp_bloom_t *bf)
    void dp_bloom_clear(dp_bloom_t *bf)
    int dp_bloom_add_hash(dp_bloom_t *bf, const uint64_t h[2])
    int dp_bloom_contains_hash(const dp_bloom_t *bf, const uint64_t h[2])
    void dp_bloom_hash_bytes(const dp_bloom_t *bf, const void *data, size_t n_bytes, uint64_t h[2])
    void dp_bloom_hash_u64(const dp_bloom_t *bf, uint64_t value, int negative, uint64_t h[2])
    void dp_bloom_add_ints(dp_bloom_t *bf, const uint64_t *keys, size_t n, int is_signed,
                           uint8_t *out)
    void dp_bloom_contains_ints(const dp_bloom_t *bf, const uint64_t *keys, size_t n,
                                int is_signed, uint8_t *out)
    void dp_bloom_add_fixed(dp_bloom_t *bf, const uint8_t *data, size_t n, size_t width,
                            uint8_t *out)
    void dp_bloom_contains_fixed(const dp_bloom_t *bf, const uint8_t *data, size_t n,
                                 size_t width, uint8_t *out)
    int dp_bloom_merge(dp_bloom_t *dst, const dp_bloom_t *src, int op_and)
    void dp_bloom_recount(dp_bloom_t *bf)
    void dp_bloom_words_to_le(const dp_bloom_t *bf, uint8_t *out)
    void dp_bloom_words_from_le(dp_bloom_t *bf, const uint8_t *in_)
    int dp_bloom_safe_contains(const dp_bloom_t *bf, const uint64_t h[2], int *found)
    int dp_bloom_safe_contains_ints(const dp_bloom_t *bf, const uint64_t *keys, size_t n,
                                    int is_signed, uint8_t *out)
    int dp_bloom_safe_contains_fixed(const dp_bloom_t *bf, const uint8_t *data, size_t n,
                                     size_t width, uint8_t *out)
    int dp_bloom_safe_copy_words(const dp_bloom_t *bf, uint64_t *out)
    int dp_bloom_safe_words_to_le(const dp_bloom_t *bf, uint8_t *out)


cdef extern from "ring.h" nogil:
    unsigned int DP_RING_MAX_FIELDS
    size_t DP_RING_MAX_CAP

    ctypedef struct dp_ring_t:
        double *buf
        size_t cap, len, head, n_fields
        uint64_t n_pushed
        int time_field, price_field, volume_field

    int dp_ring_init(dp_ring_t *r, size_t cap, size_t n_fields, int time_field, int price_field,
                     int volume_field)
    void dp_ring_free(dp_ring_t *r)
    void dp_ring_clear(dp_ring_t *r)
    int dp_ring_check_row(const dp_ring_t *r, const double *row, double last_time)
    int dp_ring_push(dp_ring_t *r, const double *row, int overwrite)
    int dp_ring_push_many(dp_ring_t *r, const double *rows, size_t n, int overwrite)
    double dp_ring_get(const dp_ring_t *r, size_t f, size_t i)
    void dp_ring_copy_rows(const dp_ring_t *r, size_t start, size_t n, double *out)
    double dp_ring_mean(dp_ring_t *r, size_t f)
    double dp_ring_var(dp_ring_t *r, size_t f)
    int dp_ring_vwap(dp_ring_t *r, double *out)
    double dp_ring_sum_last(const dp_ring_t *r, size_t f, size_t last)
    double dp_ring_sumsq_dev_last(const dp_ring_t *r, size_t f, size_t last, double mean)
    int dp_ring_enable_extrema(dp_ring_t *r, size_t f)
    double dp_ring_min(const dp_ring_t *r, size_t f)
    double dp_ring_max(const dp_ring_t *r, size_t f)
    size_t dp_ring_time_lower(const dp_ring_t *r, double t)
    size_t dp_ring_time_upper(const dp_ring_t *r, double t)


cdef extern from "sketch.h" nogil:
    size_t DP_SKETCH_MAX_CAP

    ctypedef struct dp_sketch_t:
        uint64_t *table
        size_t n_words
        uint64_t n_counters
        uint64_t sample_size
        uint64_t additions
        uint64_t n_resets

    int dp_sketch_init(dp_sketch_t *s, size_t capacity, unsigned words_per_key)
    void dp_sketch_free(dp_sketch_t *s)
    int dp_sketch_init_grown(dp_sketch_t *s, const dp_sketch_t *src, size_t capacity,
                             unsigned words_per_key)
    void dp_sketch_clear(dp_sketch_t *s)
    void dp_sketch_increment(dp_sketch_t *s, uint64_t hash)
    unsigned dp_sketch_estimate(const dp_sketch_t *s, uint64_t hash)
    void dp_sketch_halve(dp_sketch_t *s)


cdef extern from "hist.h" nogil:
    int DP_HIST_SUB_BITS
    double DP_HIST_REL_ERR
    double DP_HIST_MIN_ABS
    unsigned DP_SERIES_MAX_SLOTS

    ctypedef struct dp_store_t:
        uint64_t *counts
        int32_t lo
        uint32_t n_buckets

    ctypedef struct dp_hist_t:
        uint64_t count
        uint64_t n_zero
        double sum
        double min
        double max
        dp_store_t pos
        dp_store_t neg

    void dp_hist_init(dp_hist_t *h)
    void dp_hist_free(dp_hist_t *h)
    void dp_hist_clear(dp_hist_t *h)
    int dp_hist_record(dp_hist_t *h, double v)
    int dp_hist_merge(dp_hist_t *dst, const dp_hist_t *src)
    double dp_hist_quantile(const dp_hist_t *h, double q)
    uint64_t dp_hist_count_le(const dp_hist_t *h, double x)
    void dp_hist_key_bounds(int32_t key, double *lower, double *upper)

    ctypedef struct dp_series_t:
        dp_hist_t total
        dp_hist_t *slots
        int64_t *slot_epoch
        uint64_t *slot_bad
        uint64_t n_bad
        double last
        int64_t slot_ns
        uint32_t n_slots

    int dp_series_init(dp_series_t *s, uint32_t n_slots, int64_t slot_ns)
    void dp_series_free(dp_series_t *s)
    int dp_series_record(dp_series_t *s, double v, int bad, int64_t now_ns)
    int dp_series_window(const dp_series_t *s, int64_t now_ns, uint32_t first_age, uint32_t n_ages,
                         dp_hist_t *out, uint64_t *bad)
