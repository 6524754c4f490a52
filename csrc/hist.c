/* hist.c -- log-linear histogram and windowed series; see hist.h for the bucketing and invariants. */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KEY_SHIFT (52 - DP_HIST_SUB_BITS)
#define KEY_MAX ((int32_t)(0x7FF0000000000000ULL >> KEY_SHIFT)) /* the key of +inf */
#define GROW_MIN_BUCKETS (1u << DP_HIST_SUB_BITS)                /* one power of two */

/*** Keys ***/

DP_INLINE int32_t key_of(double a) { /* a >= DP_HIST_MIN_ABS and finite */
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    return (int32_t)(bits >> KEY_SHIFT);
}

void dp_hist_key_bounds(int32_t key, double *lower, double *upper) {
    uint64_t lo_bits = (uint64_t)key << KEY_SHIFT, hi_bits = (uint64_t)(key + 1) << KEY_SHIFT;
    memcpy(lower, &lo_bits, sizeof *lower);
    memcpy(upper, &hi_bits, sizeof *upper);
}

DP_INLINE double key_mid(int32_t key) {
    double lower, upper;
    dp_hist_key_bounds(key, &lower, &upper);
    return lower + (upper - lower) / 2;
}

/*** Stores ***/

/* Make room for key; the counts of every other key are kept. */
static int store_reserve(dp_store_t *s, int32_t key) {
    if (s->counts && (uint32_t)(key - s->lo) < s->n_buckets) return DP_OK;
    int32_t lo = s->counts ? s->lo : key, hi = s->counts ? s->lo + (int32_t)s->n_buckets : key + 1;
    int32_t slack = (int32_t)(s->n_buckets / 2 > GROW_MIN_BUCKETS ? s->n_buckets / 2 : GROW_MIN_BUCKETS);
    if (key < lo) lo = key - slack;
    if (key >= hi) hi = key + 1 + slack;
    if (lo < 0) lo = 0;
    if (hi > KEY_MAX) hi = KEY_MAX;
    uint32_t n = (uint32_t)(hi - lo);
    uint64_t *counts = calloc(n, sizeof *counts);
    if (!counts) return DP_ENOMEM;
    if (s->counts) memcpy(counts + (s->lo - lo), s->counts, s->n_buckets * sizeof *counts);
    free(s->counts);
    s->counts = counts;
    s->lo = lo;
    s->n_buckets = n;
    return DP_OK;
}

static void store_free(dp_store_t *s) {
    free(s->counts);
    s->counts = NULL;
    s->lo = 0;
    s->n_buckets = 0;
}

/*** Histogram ***/

void dp_hist_init(dp_hist_t *h) {
    memset(h, 0, sizeof *h);
    h->min = INFINITY;
    h->max = -INFINITY;
}

void dp_hist_free(dp_hist_t *h) {
    store_free(&h->pos);
    store_free(&h->neg);
    dp_hist_init(h);
}

void dp_hist_clear(dp_hist_t *h) {
    if (h->pos.counts) memset(h->pos.counts, 0, h->pos.n_buckets * sizeof *h->pos.counts);
    if (h->neg.counts) memset(h->neg.counts, 0, h->neg.n_buckets * sizeof *h->neg.counts);
    h->count = h->n_zero = 0;
    h->sum = 0;
    h->min = INFINITY;
    h->max = -INFINITY;
}

static int hist_reserve(dp_hist_t *h, double v) {
    double a = fabs(v);
    if (a < DP_HIST_MIN_ABS) return DP_OK;
    return store_reserve(v > 0 ? &h->pos : &h->neg, key_of(a));
}

/* Record v after hist_reserve(h, v) succeeded: cannot fail. */
static void hist_add(dp_hist_t *h, double v) {
    double a = fabs(v);
    if (a < DP_HIST_MIN_ABS) {
        h->n_zero++;
    } else {
        dp_store_t *s = v > 0 ? &h->pos : &h->neg;
        s->counts[key_of(a) - s->lo]++;
    }
    h->count++;
    h->sum += v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

int dp_hist_record(dp_hist_t *h, double v) {
    int rc = hist_reserve(h, v);
    if (rc) return rc;
    hist_add(h, v);
    return DP_OK;
}

static int store_merge_reserve(dp_store_t *dst, const dp_store_t *src) {
    if (!src->counts) return DP_OK;
    int rc = store_reserve(dst, src->lo);
    return rc ? rc : store_reserve(dst, src->lo + (int32_t)src->n_buckets - 1);
}

static void store_merge(dp_store_t *dst, const dp_store_t *src) {
    for (uint32_t i = 0; i < src->n_buckets; i++)
        dst->counts[src->lo + (int32_t)i - dst->lo] += src->counts[i];
}

int dp_hist_merge(dp_hist_t *dst, const dp_hist_t *src) {
    if (src->count == 0) return DP_OK;
    int rc = store_merge_reserve(&dst->pos, &src->pos);
    if (!rc) rc = store_merge_reserve(&dst->neg, &src->neg);
    if (rc) return rc;
    store_merge(&dst->pos, &src->pos);
    store_merge(&dst->neg, &src->neg);
    dst->count += src->count;
    dst->n_zero += src->n_zero;
    dst->sum += src->sum;
    if (src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    return DP_OK;
}

DP_INLINE double clamp(const dp_hist_t *h, double v) {
    return v < h->min ? h->min : v > h->max ? h->max : v;
}

double dp_hist_quantile(const dp_hist_t *h, double q) {
    if (!(q > 0)) return h->min;
    if (q >= 1) return h->max;
    double r = ceil(q * (double)h->count);
    uint64_t rank = r < 1 ? 1 : r > (double)h->count ? h->count : (uint64_t)r, seen = 0;
    for (uint32_t i = h->neg.n_buckets; i-- > 0;) { /* most negative first */
        seen += h->neg.counts[i];
        if (seen >= rank) return clamp(h, -key_mid(h->neg.lo + (int32_t)i));
    }
    seen += h->n_zero;
    if (seen >= rank) return clamp(h, 0.0);
    for (uint32_t i = 0; i < h->pos.n_buckets; i++) {
        seen += h->pos.counts[i];
        if (seen >= rank) return clamp(h, key_mid(h->pos.lo + (int32_t)i));
    }
    return h->max; /* unreachable while the invariant holds */
}

uint64_t dp_hist_count_le(const dp_hist_t *h, double x) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < h->neg.n_buckets; i++)
        if (-key_mid(h->neg.lo + (int32_t)i) <= x) n += h->neg.counts[i];
    if (x >= 0) n += h->n_zero;
    for (uint32_t i = 0; i < h->pos.n_buckets; i++)
        if (key_mid(h->pos.lo + (int32_t)i) <= x) n += h->pos.counts[i];
    return n;
}

/*** Series ***/

int dp_series_init(dp_series_t *s, uint32_t n_slots, int64_t slot_ns) {
    memset(s, 0, sizeof *s);
    dp_hist_init(&s->total);
    if (n_slots == 0 || n_slots > DP_SERIES_MAX_SLOTS || slot_ns <= 0) return DP_EINVAL;
    s->slots = malloc(n_slots * sizeof *s->slots);
    s->slot_epoch = malloc(n_slots * sizeof *s->slot_epoch);
    s->slot_bad = calloc(n_slots, sizeof *s->slot_bad);
    if (!s->slots || !s->slot_epoch || !s->slot_bad) {
        free(s->slots);
        free(s->slot_epoch);
        free(s->slot_bad);
        memset(s, 0, sizeof *s);
        return DP_ENOMEM;
    }
    for (uint32_t i = 0; i < n_slots; i++) {
        dp_hist_init(&s->slots[i]);
        s->slot_epoch[i] = INT64_MIN; /* matches no time */
    }
    s->n_slots = n_slots;
    s->slot_ns = slot_ns;
    return DP_OK;
}

void dp_series_free(dp_series_t *s) {
    dp_hist_free(&s->total);
    for (uint32_t i = 0; s->slots && i < s->n_slots; i++) dp_hist_free(&s->slots[i]);
    free(s->slots);
    free(s->slot_epoch);
    free(s->slot_bad);
    memset(s, 0, sizeof *s);
    dp_hist_init(&s->total);
}

int dp_series_record(dp_series_t *s, double v, int bad, int64_t now_ns) {
    if (now_ns < 0 || !s->slots) return DP_EINVAL;
    int64_t epoch = now_ns / s->slot_ns;
    dp_hist_t *slot = &s->slots[(uint64_t)epoch % s->n_slots];
    int rc = hist_reserve(&s->total, v);
    if (!rc) rc = hist_reserve(slot, v);
    if (rc) return rc;
    uint32_t i = (uint32_t)(slot - s->slots);
    if (s->slot_epoch[i] != epoch) {
        dp_hist_clear(slot);
        s->slot_bad[i] = 0;
        s->slot_epoch[i] = epoch;
    }
    hist_add(&s->total, v);
    hist_add(slot, v);
    if (bad) {
        s->n_bad++;
        s->slot_bad[i]++;
    }
    s->last = v;
    return DP_OK;
}

int dp_series_window(const dp_series_t *s, int64_t now_ns, uint32_t first_age, uint32_t n_ages,
                     dp_hist_t *out, uint64_t *bad) {
    dp_hist_clear(out);
    *bad = 0;
    if (now_ns < 0 || !s->slots) return DP_EINVAL;
    int64_t epoch = now_ns / s->slot_ns;
    for (uint32_t i = 0; i < s->n_slots; i++) {
        if (s->slot_epoch[i] == INT64_MIN) continue; /* never used */
        int64_t age = epoch - s->slot_epoch[i];
        if (age < first_age || age >= (int64_t)first_age + n_ages) continue;
        int rc = dp_hist_merge(out, &s->slots[i]);
        if (rc) return rc;
        *bad += s->slot_bad[i];
    }
    return DP_OK;
}
