/* sketch.h -- a 4-bit count-min frequency sketch with periodic halving (TinyLFU's "freshness").
 * Invariant: n_counters = 16 * n_words, n_words a power of two >= max(min(capacity *
 * words_per_key, DP_SKETCH_MAX_CAP), 8); counter c is the 4-bit nibble c % 16 of
 * table[c / 16]; every counter is <= 15. Each key has DP_SKETCH_DEPTH counters, one per row,
 * chosen from its 64-bit hash; its estimate is their minimum, never below its true count since
 * the last halving (until a counter saturates at 15).
 * A key's counters share one 64-byte block, one cache line (`table` is 64-byte aligned). After
 * sample_size increments every counter is halved, so old popularity fades.
 * Ownership: dp_sketch_init allocates `table`, dp_sketch_free releases it (safe on a zeroed
 * struct); the caller owns the struct itself. */
#ifndef DP_SKETCH_H
#define DP_SKETCH_H

#include "dp_common.h"
#include "hash.h"

#define DP_SKETCH_DEPTH 4
#define DP_SKETCH_MAX_CAP ((size_t)1 << 30) /* keys, and words: 8 GiB of counters */

typedef struct {
    uint64_t *table;
    size_t n_words;
    uint64_t n_counters;
    uint64_t sample_size;   /* increments between halvings: 10 x capacity */
    uint64_t additions;     /* increments since the last halving */
    uint64_t n_resets;
} dp_sketch_t;

/* Counters for `capacity` keys, words_per_key (1..8) words each; halved every 10 x capacity. */
int dp_sketch_init(dp_sketch_t *s, size_t capacity, unsigned words_per_key);
void dp_sketch_free(dp_sketch_t *s);
/* A larger sketch for `capacity` keys that keeps every estimate of `src` (at most as many
 * words): a block index is the hash's low bits, so the old table tiles the new one. */
int dp_sketch_init_grown(dp_sketch_t *s, const dp_sketch_t *src, size_t capacity,
                         unsigned words_per_key);
void dp_sketch_clear(dp_sketch_t *s);
/* The key's estimated count, 0..15. */
unsigned dp_sketch_estimate(const dp_sketch_t *s, uint64_t hash);
/* Halve every counter now. */
void dp_sketch_halve(dp_sketch_t *s);
/* Add k occurrences of the key to each of its counters at once (saturating at 15), without
 * counting them towards the next halving or halving (the caller keeps `additions` and calls
 * dp_sketch_halve): 1 if a counter rose, else 0. */
unsigned dp_sketch_add(dp_sketch_t *s, uint64_t hash, unsigned k);

/*** Inline helpers ***/

/* A key's four counters share one 64-byte block of 8 words (one cache miss per key, as in
 * Caffeine): row r uses word 2r or 2r + 1 of the block and one of its 16 nibbles. One mixed
 * hash serves all: its low bits pick the block (at most 2**27 blocks), its high 32 bits the
 * words and nibbles. */
DP_INLINE size_t dp_sketch_block(const dp_sketch_t *s, uint64_t mixed) {
    return (size_t)(mixed & (uint64_t)(s->n_words / 8 - 1)) * 8;
}

/* The word and bit shift of row `row`'s counter, from the key's second mixed hash. */
DP_INLINE size_t dp_sketch_word(size_t block, uint64_t mixed, int row) {
    return block + 2 * (size_t)row + (size_t)((mixed >> (32 + row)) & 1);
}

DP_INLINE unsigned dp_sketch_shift(uint64_t mixed, int row) {
    return (unsigned)((mixed >> (40 + 4 * row)) & 15) * 4;
}

/* dp_sketch_add(s, hash, 1) for the key whose mixed hash (dp_fmix64 of its hash) is `mixed`:
 * one occurrence added to each of its counters (saturating at 15), not counted towards the
 * halving; 1 if a counter rose, else 0. Inline: it is on every W-TinyLFU write. */
DP_INLINE unsigned dp_sketch_add_one_mixed(dp_sketch_t *s, uint64_t mixed) {
    const size_t block = dp_sketch_block(s, mixed);
    uint64_t added = 0;
    for (int row = 0; row < DP_SKETCH_DEPTH; row++) {
        uint64_t *const w = &s->table[dp_sketch_word(block, mixed, row)];
        const unsigned shift = dp_sketch_shift(mixed, row);
        const uint64_t room = ((*w >> shift) & 15) != 15; /* branch-free saturation */
        *w += room << shift;
        added |= room;
    }
    return (unsigned)added;
}

/* Count one occurrence of the key whose mixed hash is `mixed`; may trigger a halving. */
DP_INLINE void dp_sketch_increment_mixed(dp_sketch_t *s, uint64_t mixed) {
    if (dp_sketch_add_one_mixed(s, mixed) && ++s->additions >= s->sample_size) dp_sketch_halve(s);
}

/* dp_sketch_estimate for the key whose mixed hash is `mixed`. Inline: a W-TinyLFU write
 * compares two keys' estimates. */
DP_INLINE unsigned dp_sketch_estimate_mixed(const dp_sketch_t *s, uint64_t mixed) {
    const size_t block = dp_sketch_block(s, mixed);
    unsigned best = 15;
    for (int row = 0; row < DP_SKETCH_DEPTH; row++) {
        const unsigned v = (unsigned)((s->table[dp_sketch_word(block, mixed, row)] >>
                                       dp_sketch_shift(mixed, row)) & 15);
        if (v < best) best = v;
    }
    return best;
}

/* Count one occurrence of the key with this hash; may trigger a halving. */
DP_INLINE void dp_sketch_increment(dp_sketch_t *s, uint64_t hash) {
    dp_sketch_increment_mixed(s, dp_fmix64(hash));
}

/* Ask the CPU to fetch the key's block ahead of an increment or estimate. */
DP_INLINE void dp_sketch_prefetch_mixed(const dp_sketch_t *s, uint64_t mixed) {
    DP_PREFETCH(&s->table[dp_sketch_block(s, mixed)]);
}

#endif /* DP_SKETCH_H */
