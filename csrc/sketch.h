/* sketch.h -- a 4-bit count-min frequency sketch with periodic halving (TinyLFU's "freshness").
 * Invariant: n_counters = 16 * n_words, n_words a power of two >= max(capacity, 8); counter c is the 4-bit nibble c % 16 of
 * table[c / 16]; every counter is <= 15. Each key has DP_SKETCH_DEPTH counters, one per row,
 * chosen from its 64-bit hash; its estimate is their minimum, never below its true count since
 * the last halving (until a counter saturates at 15). A key's counters share one 64-byte block. After sample_size increments every
 * counter is halved, so old popularity fades.
 * Ownership: dp_sketch_init allocates `table`, dp_sketch_free releases it (safe on a zeroed
 * struct); the caller owns the struct itself. */
#ifndef DP_SKETCH_H
#define DP_SKETCH_H

#include "dp_common.h"

#define DP_SKETCH_DEPTH 4
#define DP_SKETCH_MAX_CAP ((size_t)1 << 30) /* 8 GiB of counters */

typedef struct {
    uint64_t *table;
    size_t n_words;
    uint64_t n_counters;
    uint64_t sample_size;   /* increments between halvings: 10 x capacity */
    uint64_t additions;     /* increments since the last halving */
    uint64_t n_resets;
} dp_sketch_t;

int dp_sketch_init(dp_sketch_t *s, size_t capacity);
void dp_sketch_free(dp_sketch_t *s);
void dp_sketch_clear(dp_sketch_t *s);
/* Count one occurrence of the key with this hash; may trigger a halving. */
void dp_sketch_increment(dp_sketch_t *s, uint64_t hash);
/* The key's estimated count, 0..15. */
unsigned dp_sketch_estimate(const dp_sketch_t *s, uint64_t hash);
/* Halve every counter now. */
void dp_sketch_halve(dp_sketch_t *s);

#endif /* DP_SKETCH_H */
