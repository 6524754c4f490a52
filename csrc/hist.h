/* hist.h -- a log-linear (HDR-style) histogram of doubles, and a time-windowed series of them.
 * Bucketing: a nonzero |v| >= DP_HIST_MIN_ABS falls in bucket key = (IEEE-754 bits of |v|) >>
 * (52 - DP_HIST_SUB_BITS): 2^DP_HIST_SUB_BITS equal-width buckets per power of two, each at
 * most 1/64 of its lower bound wide, so a bucket's midpoint is within DP_HIST_REL_ERR (0.79%) of
 * any value in it. Smaller |v| count as zero. Negative values go to a mirrored store.
 * Invariants: a store holds counts[k - lo] for keys lo <= k < lo + n_buckets (counts outside are
 * zero); count == n_zero + the sum of both stores; min <= max whenever count > 0.
 * A series keeps a since-start histogram plus n_slots time slots of slot_ns each; slot i holds the
 * values recorded while now_ns / slot_ns == slot_epoch[i] (stale slots are cleared on reuse).
 * Ownership: init allocates nothing that free cannot release; dp_hist_free / dp_series_free are
 * safe on zeroed structs; the caller owns the structs themselves. */
#ifndef DP_HIST_H
#define DP_HIST_H

#include "dp_common.h"

#define DP_HIST_SUB_BITS 6
#define DP_HIST_REL_ERR (1.0 / 128.0)
#define DP_HIST_MIN_ABS 1e-12
#define DP_SERIES_MAX_SLOTS 1024u

typedef struct {
    uint64_t *counts;
    int32_t lo;
    uint32_t n_buckets;
} dp_store_t;

typedef struct {
    uint64_t count, n_zero;
    double sum, min, max;
    dp_store_t pos, neg;
} dp_hist_t;

void dp_hist_init(dp_hist_t *h);
void dp_hist_free(dp_hist_t *h);
/* Forget every value but keep the bucket memory for reuse. */
void dp_hist_clear(dp_hist_t *h);
/* Record a finite value (the caller checks); DP_ENOMEM leaves the histogram unchanged. */
int dp_hist_record(dp_hist_t *h, double v);
/* Add every value of src to dst; DP_ENOMEM leaves dst unchanged. */
int dp_hist_merge(dp_hist_t *dst, const dp_hist_t *src);
/* The value at rank ceil(q * count) (q in [0, 1]), as its bucket's midpoint clamped to
 * [min, max]; q == 0 gives min and q == 1 max. The caller checks count > 0. */
double dp_hist_quantile(const dp_hist_t *h, double q);
/* How many values lie in buckets whose midpoint is <= x (exact up to one bucket's width). */
uint64_t dp_hist_count_le(const dp_hist_t *h, double x);
/* The bounds [lower, upper) of the values of |v| whose bucket key is `key`. */
void dp_hist_key_bounds(int32_t key, double *lower, double *upper);

typedef struct {
    dp_hist_t total;
    dp_hist_t *slots;
    int64_t *slot_epoch;
    uint64_t *slot_bad;
    uint64_t n_bad;       /* failures, misses: whatever the owner counts as bad */
    double last;
    int64_t slot_ns;
    uint32_t n_slots;
} dp_series_t;

int dp_series_init(dp_series_t *s, uint32_t n_slots, int64_t slot_ns);
void dp_series_free(dp_series_t *s);
/* Record a finite value at now_ns >= 0; bad counts it as a failure too. */
int dp_series_record(dp_series_t *s, double v, int bad, int64_t now_ns);
/* Merge the slots whose age (in slots, 0 = the one now_ns falls in) is in
 * [first_age, first_age + n_ages) into out (cleared first); *bad gets their failures. */
int dp_series_window(const dp_series_t *s, int64_t now_ns, uint32_t first_age, uint32_t n_ages,
                     dp_hist_t *out, uint64_t *bad);

#endif /* DP_HIST_H */
