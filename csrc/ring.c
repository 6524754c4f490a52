/* ring.c -- see ring.h for the layout, its invariants and who frees what. */
#include "ring.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DP_RING_RECOMPUTE_WINDOWS 4

/*** Compensated sums ***/

DP_INLINE void dp_ksum_add(dp_ksum_t *s, double x) {
    const double t = s->value + x;
    if (fabs(s->value) >= fabs(x)) s->comp += (s->value - t) + x;
    else s->comp += (x - t) + s->value;
    s->value = t;
}

DP_INLINE double dp_ksum_get(const dp_ksum_t *s) { return s->value + s->comp; }

/*** Allocation ***/

int dp_ring_init(dp_ring_t *r, size_t cap, size_t n_fields, int time_field, int price_field,
                 int volume_field) {
    memset(r, 0, sizeof(*r));
    if (cap == 0 || cap > DP_RING_MAX_CAP || n_fields == 0 || n_fields > DP_RING_MAX_FIELDS)
        return DP_EINVAL;
    r->cap = cap;
    r->n_fields = n_fields;
    r->time_field = time_field;
    r->price_field = price_field;
    r->volume_field = volume_field;
    r->buf = calloc(cap * n_fields, sizeof(double));
    r->shift = calloc(n_fields, sizeof(double));
    r->sum_d = calloc(n_fields, sizeof(dp_ksum_t));
    r->sq_d = calloc(n_fields, sizeof(dp_ksum_t));
    r->peak_d = calloc(n_fields, sizeof(double));
    r->min_q = calloc(n_fields, sizeof(dp_ring_deque_t));
    r->max_q = calloc(n_fields, sizeof(dp_ring_deque_t));
    if (!r->buf || !r->shift || !r->sum_d || !r->sq_d || !r->peak_d || !r->min_q || !r->max_q) {
        dp_ring_free(r);
        return DP_ENOMEM;
    }
    return DP_OK;
}

void dp_ring_free(dp_ring_t *r) {
    if (r->min_q)
        for (size_t f = 0; f < r->n_fields; f++) free(r->min_q[f].idx);
    if (r->max_q)
        for (size_t f = 0; f < r->n_fields; f++) free(r->max_q[f].idx);
    free(r->buf);
    free(r->shift);
    free(r->sum_d);
    free(r->sq_d);
    free(r->peak_d);
    free(r->min_q);
    free(r->max_q);
    memset(r, 0, sizeof(*r));
}

void dp_ring_clear(dp_ring_t *r) {
    r->len = r->head = 0;
    r->since_recompute = 0;
    memset(r->shift, 0, r->n_fields * sizeof(double));
    memset(r->sum_d, 0, r->n_fields * sizeof(dp_ksum_t));
    memset(r->sq_d, 0, r->n_fields * sizeof(dp_ksum_t));
    memset(r->peak_d, 0, r->n_fields * sizeof(double));
    memset(&r->pv, 0, sizeof(r->pv));
    r->peak_pv = 0.0;
    for (size_t f = 0; f < r->n_fields; f++) r->min_q[f].len = r->max_q[f].len = 0;
}

/*** Sums ***/

/* Recompute every window sum exactly from the stored rows, around a fresh shift (the mean). */
static void dp_ring_recompute(dp_ring_t *r) {
    for (size_t f = 0; f < r->n_fields; f++) {
        dp_ksum_t s = {0, 0};
        for (size_t i = 0; i < r->len; i++) dp_ksum_add(&s, dp_ring_get(r, f, i));
        const double shift = r->len ? dp_ksum_get(&s) / (double)r->len : 0.0;
        dp_ksum_t d = {0, 0}, q = {0, 0};
        double peak = 0.0;
        for (size_t i = 0; i < r->len; i++) {
            const double x = dp_ring_get(r, f, i) - shift;
            dp_ksum_add(&d, x);
            dp_ksum_add(&q, x * x);
            if (fabs(x) > peak) peak = fabs(x);
        }
        r->shift[f] = shift;
        r->sum_d[f] = d;
        r->sq_d[f] = q;
        r->peak_d[f] = peak;
    }
    if (r->price_field >= 0 && r->volume_field >= 0) {
        dp_ksum_t pv = {0, 0};
        double peak = 0.0;
        for (size_t i = 0; i < r->len; i++) {
            const double x = dp_ring_get(r, (size_t)r->price_field, i) *
                             dp_ring_get(r, (size_t)r->volume_field, i);
            dp_ksum_add(&pv, x);
            if (fabs(x) > peak) peak = fabs(x);
        }
        r->pv = pv;
        r->peak_pv = peak;
    }
    r->since_recompute = 0;
}

/* Both sums are compensated: a value added and later removed is the same double both times, so
 * it cancels whatever its size, up to the bound of dp_ring_sum_error. */
static void dp_ring_account(dp_ring_t *r, size_t f, double x, double sign) {
    const double d = x - r->shift[f];
    dp_ksum_add(&r->sum_d[f], sign * d);
    dp_ksum_add(&r->sq_d[f], sign * d * d);
    if (fabs(d) > r->peak_d[f]) r->peak_d[f] = fabs(d);
}

/* A bound on the error of a compensated running sum `s` of terms no larger than `peak` in
 * magnitude, each itself rounded once (u = 2**-53): the live terms' own rounding (len u peak),
 * the compensated sum's (2 u |s| + 2 n^2 u^2 peak, n terms since the rebuild). */
static double dp_ring_sum_error(const dp_ring_t *r, const dp_ksum_t *s, double peak) {
    const double u = 0x1p-53;
    const double n = 2.0 * (double)r->since_recompute + (double)r->len;
    return (double)r->len * u * peak + 2.0 * u * fabs(dp_ksum_get(s)) + 2.0 * n * n * u * u * peak;
}

/*** Extrema queues (monotonic deques of absolute indices) ***/

DP_INLINE double dp_ring_abs_value(const dp_ring_t *r, size_t f, uint64_t abs_idx) {
    return dp_ring_get(r, f, (size_t)(abs_idx - (r->n_pushed - r->len)));
}

static void dp_ring_deque_push(dp_ring_t *r, dp_ring_deque_t *q, size_t f, uint64_t abs_idx,
                               int is_max) {
    const double x = dp_ring_abs_value(r, f, abs_idx);
    while (q->len) {
        const size_t back = (q->head + q->len - 1) % r->cap;
        const double y = dp_ring_abs_value(r, f, q->idx[back]);
        if (is_max ? y > x : y < x) break;
        q->len--;
    }
    q->idx[(q->head + q->len) % r->cap] = abs_idx;
    q->len++;
}

static void dp_ring_deque_expire(dp_ring_t *r, dp_ring_deque_t *q) {
    const uint64_t oldest = r->n_pushed - r->len;
    while (q->len && q->idx[q->head] < oldest) {
        q->head = (q->head + 1) % r->cap;
        q->len--;
    }
}

int dp_ring_enable_extrema(dp_ring_t *r, size_t f) {
    if (r->min_q[f].idx) return DP_OK;
    uint64_t *lo = malloc(r->cap * sizeof(uint64_t)), *hi = malloc(r->cap * sizeof(uint64_t));
    if (!lo || !hi) {
        free(lo);
        free(hi);
        return DP_ENOMEM;
    }
    r->min_q[f] = (dp_ring_deque_t){lo, 0, 0};
    r->max_q[f] = (dp_ring_deque_t){hi, 0, 0};
    for (uint64_t a = r->n_pushed - r->len; a < r->n_pushed; a++) {
        dp_ring_deque_push(r, &r->min_q[f], f, a, 0);
        dp_ring_deque_push(r, &r->max_q[f], f, a, 1);
    }
    return DP_OK;
}

double dp_ring_min(const dp_ring_t *r, size_t f) {
    return dp_ring_abs_value(r, f, r->min_q[f].idx[r->min_q[f].head]);
}

double dp_ring_max(const dp_ring_t *r, size_t f) {
    return dp_ring_abs_value(r, f, r->max_q[f].idx[r->max_q[f].head]);
}

/*** Push ***/

int dp_ring_check_row(const dp_ring_t *r, const double *row, double last_time) {
    for (size_t f = 0; f < r->n_fields; f++)
        if (!isfinite(row[f])) return DP_EINVAL;
    if (r->time_field >= 0 && row[r->time_field] < last_time) return DP_EINVAL;
    return DP_OK;
}

DP_INLINE double dp_ring_last_time(const dp_ring_t *r) {
    return (r->time_field >= 0 && r->len) ? dp_ring_get(r, (size_t)r->time_field, r->len - 1)
                                          : -INFINITY;
}

/* Store a checked row, evicting the oldest if full (the caller checked overwrite). */
static void dp_ring_store(dp_ring_t *r, const double *row) {
    const int has_pv = r->price_field >= 0 && r->volume_field >= 0;
    if (r->len == 0) {
        /* An empty window: centre the sums on this row, so that variances of large values
         * (prices, ns timestamps) lose no precision to cancellation. */
        for (size_t f = 0; f < r->n_fields; f++) r->shift[f] = row[f];
        memset(r->sum_d, 0, r->n_fields * sizeof(dp_ksum_t));
        memset(r->sq_d, 0, r->n_fields * sizeof(dp_ksum_t));
        memset(&r->pv, 0, sizeof(r->pv));
        memset(r->peak_d, 0, r->n_fields * sizeof(double));
        r->peak_pv = 0.0;
        r->since_recompute = 0;
    }
    if (r->len == r->cap) {
        for (size_t f = 0; f < r->n_fields; f++)
            dp_ring_account(r, f, r->buf[f * r->cap + r->head], -1.0);
        /* price * volume cannot be centred like the fields: keep it compensated, so that a
         * window of small volumes after large ones does not keep the large ones' rounding. */
        if (has_pv)
            dp_ksum_add(&r->pv, -(r->buf[(size_t)r->price_field * r->cap + r->head] *
                                  r->buf[(size_t)r->volume_field * r->cap + r->head]));
        r->head = r->head + 1 == r->cap ? 0 : r->head + 1;
        r->len--;
    }
    size_t j = r->head + r->len;
    if (j >= r->cap) j -= r->cap;
    for (size_t f = 0; f < r->n_fields; f++) {
        r->buf[f * r->cap + j] = row[f];
        dp_ring_account(r, f, row[f], 1.0);
    }
    if (has_pv) {
        const double x = row[r->price_field] * row[r->volume_field];
        dp_ksum_add(&r->pv, x);
        if (fabs(x) > r->peak_pv) r->peak_pv = fabs(x);
    }
    r->len++;
    r->n_pushed++;
    for (size_t f = 0; f < r->n_fields; f++) {
        if (!r->min_q[f].idx) continue;
        dp_ring_deque_expire(r, &r->min_q[f]);
        dp_ring_deque_expire(r, &r->max_q[f]);
        dp_ring_deque_push(r, &r->min_q[f], f, r->n_pushed - 1, 0);
        dp_ring_deque_push(r, &r->max_q[f], f, r->n_pushed - 1, 1);
    }
    if (++r->since_recompute >= DP_RING_RECOMPUTE_WINDOWS * r->cap) dp_ring_recompute(r);
}

int dp_ring_push(dp_ring_t *r, const double *row, int overwrite) {
    const int rc = dp_ring_check_row(r, row, dp_ring_last_time(r));
    if (rc != DP_OK) return rc;
    if (r->len == r->cap && !overwrite) return DP_EFULL;
    dp_ring_store(r, row);
    return DP_OK;
}

int dp_ring_push_many(dp_ring_t *r, const double *rows, size_t n, int overwrite) {
    double last = dp_ring_last_time(r);
    for (size_t i = 0; i < n; i++) {
        const int rc = dp_ring_check_row(r, rows + i * r->n_fields, last);
        if (rc != DP_OK) return rc;
        if (r->time_field >= 0) last = rows[i * r->n_fields + (size_t)r->time_field];
    }
    if (!overwrite && r->len + n > r->cap) return DP_EFULL;
    for (size_t i = 0; i < n; i++) dp_ring_store(r, rows + i * r->n_fields);
    return DP_OK;
}

/*** Reads ***/

void dp_ring_copy_rows(const dp_ring_t *r, size_t start, size_t n, double *out) {
    for (size_t f = 0; f < r->n_fields; f++) {
        const double *col = r->buf + f * r->cap;
        size_t j = r->head + start;
        if (j >= r->cap) j -= r->cap;
        for (size_t i = 0; i < n; i++) {
            out[i * r->n_fields + f] = col[j];
            if (++j == r->cap) j = 0;
        }
    }
}

/* The window total of field f, shift * len + sum_d, and a bound on its error. */
static double dp_ring_total(const dp_ring_t *r, size_t f, double *err) {
    const double base = r->shift[f] * (double)r->len;
    *err = dp_ring_sum_error(r, &r->sum_d[f], r->peak_d[f]) + 0x1p-52 * fabs(base);
    return base + dp_ksum_get(&r->sum_d[f]);
}

/* True if the sums are not fresh from a rebuild and `err` may exceed the tolerance on `value`. */
DP_INLINE int dp_ring_unsure(const dp_ring_t *r, double value, double err) {
    return r->since_recompute > 0 && err > DP_RING_REL_TOL * fabs(value);
}

double dp_ring_mean(dp_ring_t *r, size_t f) {
    double err;
    const double total = dp_ring_total(r, f, &err);
    if (dp_ring_unsure(r, total, err)) dp_ring_recompute(r);
    return r->shift[f] + dp_ksum_get(&r->sum_d[f]) / (double)r->len;
}

double dp_ring_var(dp_ring_t *r, size_t f) {
    const double n = (double)r->len;
    double m = dp_ksum_get(&r->sum_d[f]) / n;
    double v = dp_ksum_get(&r->sq_d[f]) / n - m * m;
    /* The error of sq/n - m^2 from those of both sums, and the final subtraction's. */
    const double err_sq = dp_ring_sum_error(r, &r->sq_d[f], r->peak_d[f] * r->peak_d[f]);
    const double err_d = dp_ring_sum_error(r, &r->sum_d[f], r->peak_d[f]);
    const double err = err_sq / n + 2.0 * fabs(m) * err_d / n + err_d * err_d / (n * n) +
                       0x1p-52 * (fabs(dp_ksum_get(&r->sq_d[f])) / n + m * m);
    if (dp_ring_unsure(r, v, err)) {
        dp_ring_recompute(r);
        m = dp_ksum_get(&r->sum_d[f]) / n;
        v = dp_ksum_get(&r->sq_d[f]) / n - m * m;
    }
    return v > 0.0 ? v : 0.0;
}

int dp_ring_vwap(dp_ring_t *r, double *out) {
    const size_t v = (size_t)r->volume_field;
    double err_volume;
    double volume = dp_ring_total(r, v, &err_volume);
    double pv = dp_ksum_get(&r->pv);
    const double err_pv = dp_ring_sum_error(r, &r->pv, r->peak_pv);
    if (dp_ring_unsure(r, volume, err_volume) || dp_ring_unsure(r, pv, err_pv)) {
        dp_ring_recompute(r);
        volume = dp_ring_total(r, v, &err_volume);
        pv = dp_ksum_get(&r->pv);
    }
    if (volume == 0.0) return DP_EINVAL;
    *out = pv / volume;
    return DP_OK;
}

double dp_ring_sum_last(const dp_ring_t *r, size_t f, size_t last) {
    dp_ksum_t s = {0, 0};
    for (size_t i = r->len - last; i < r->len; i++) dp_ksum_add(&s, dp_ring_get(r, f, i));
    return dp_ksum_get(&s);
}

double dp_ring_sumsq_dev_last(const dp_ring_t *r, size_t f, size_t last, double mean) {
    dp_ksum_t s = {0, 0};
    for (size_t i = r->len - last; i < r->len; i++) {
        const double d = dp_ring_get(r, f, i) - mean;
        dp_ksum_add(&s, d * d);
    }
    return dp_ksum_get(&s);
}

size_t dp_ring_time_lower(const dp_ring_t *r, double t) {
    size_t lo = 0, hi = r->len;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (dp_ring_get(r, (size_t)r->time_field, mid) < t) lo = mid + 1; else hi = mid;
    }
    return lo;
}

size_t dp_ring_time_upper(const dp_ring_t *r, double t) {
    size_t lo = 0, hi = r->len;
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (dp_ring_get(r, (size_t)r->time_field, mid) <= t) lo = mid + 1; else hi = mid;
    }
    return lo;
}
