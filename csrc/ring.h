/* ring.h -- fixed-capacity FIFO of rows of n_fields doubles, stored by column, with O(1) moving
 * sums for the whole window.
 * Invariants: 0 <= len <= cap; row i (0 = oldest) of field f lives at buf[f * cap + (head + i) %
 * cap]; n_pushed counts every row ever pushed, so the oldest live row has absolute index
 * n_pushed - len. Per field, sum_d and sq_d are compensated sums of (x - shift) and (x - shift)^2
 * over the live rows (pv: of price * volume), updated per push and rebuilt exactly around a fresh
 * shift every 4 * cap pushes. peak_d / peak_pv bound every |x - shift| / |price * volume| added
 * since that rebuild: a query whose error bound, from them, exceeds DP_RING_REL_TOL of its answer
 * rebuilds first, so a huge value that has left the window cannot spoil later answers. If
 * time_field >= 0 its column is non-decreasing; every stored value is finite. An extrema queue,
 * once enabled for a field, holds absolute indices of live rows with strictly monotonic values.
 * Ownership: dp_ring_init allocates everything, dp_ring_free releases it (safe on a zeroed
 * struct); the caller owns the struct itself. */
#ifndef DP_RING_H
#define DP_RING_H

#include "dp_common.h"

#define DP_RING_MAX_FIELDS 64u
#define DP_RING_MAX_CAP ((size_t)1 << 40)

typedef struct {
    double value, comp;  /* Neumaier: the true sum is value + comp */
} dp_ksum_t;

typedef struct {
    uint64_t *idx;       /* absolute row indices; a ring of cap slots */
    size_t head, len;
} dp_ring_deque_t;

typedef struct {
    double *buf;
    size_t cap, len, head, n_fields;
    uint64_t n_pushed, since_recompute;
    int time_field, price_field, volume_field;  /* -1: none */
    double *shift;                   /* per field */
    dp_ksum_t *sum_d, *sq_d;         /* per field */
    dp_ksum_t pv;                    /* sum of price * volume, for vwap */
    double *peak_d;                  /* per field: max |x - shift| added since the rebuild */
    double peak_pv;                  /* max |price * volume| added since the rebuild */
    dp_ring_deque_t *min_q, *max_q;  /* per field; idx == NULL until enabled */
} dp_ring_t;

int dp_ring_init(dp_ring_t *r, size_t cap, size_t n_fields, int time_field, int price_field,
                 int volume_field);
void dp_ring_free(dp_ring_t *r);
void dp_ring_clear(dp_ring_t *r);
/* Check a row before pushing it: DP_EINVAL if a value is not finite or the time goes back. */
int dp_ring_check_row(const dp_ring_t *r, const double *row, double last_time);
/* Push one row (n_fields values); DP_EFULL if full and !overwrite, DP_EINVAL as above. */
int dp_ring_push(dp_ring_t *r, const double *row, int overwrite);
/* Push n rows (row-major, n x n_fields) all or nothing: every row is checked first. */
int dp_ring_push_many(dp_ring_t *r, const double *rows, size_t n, int overwrite);
/* Field f of logical row i (0 = oldest); the caller checks i < len and f < n_fields. */
DP_INLINE double dp_ring_get(const dp_ring_t *r, size_t f, size_t i) {
    size_t j = r->head + i;
    if (j >= r->cap) j -= r->cap;
    return r->buf[f * r->cap + j];
}
/* Copy logical rows [start, start + n) into out, row-major (n x n_fields). */
void dp_ring_copy_rows(const dp_ring_t *r, size_t start, size_t n, double *out);
/* Window statistics; the caller checks len > 0 (and last <= len). Not const: when the running
 * sums cannot guarantee a relative error of DP_RING_REL_TOL they are rebuilt first (O(len)). */
#define DP_RING_REL_TOL 1e-10
double dp_ring_mean(dp_ring_t *r, size_t f);
double dp_ring_var(dp_ring_t *r, size_t f);
/* sum(price * volume) / sum(volume) over the window; DP_EINVAL if the volumes sum to 0. */
int dp_ring_vwap(dp_ring_t *r, double *out);
double dp_ring_sum_last(const dp_ring_t *r, size_t f, size_t last);
double dp_ring_sumsq_dev_last(const dp_ring_t *r, size_t f, size_t last, double mean);
int dp_ring_enable_extrema(dp_ring_t *r, size_t f);
double dp_ring_min(const dp_ring_t *r, size_t f);
double dp_ring_max(const dp_ring_t *r, size_t f);
/* The first logical row whose time is >= t (lower) or > t (upper); len if none. */
size_t dp_ring_time_lower(const dp_ring_t *r, double t);
size_t dp_ring_time_upper(const dp_ring_t *r, double t);

#endif /* DP_RING_H */
