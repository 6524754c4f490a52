/* sketch.c -- see sketch.h for the layout, its invariants and who frees what. */
#include "sketch.h"

#include <stdlib.h>
#include <string.h>

/* One odd multiplier per row, so that the rows pick independent-looking counters. */
static const uint64_t dp_sketch_seeds[DP_SKETCH_DEPTH] = {
    0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL, 0x165667B19E3779F9ULL, 0xD6E8FEB86659FD93ULL};

DP_INLINE uint64_t dp_sketch_index(const dp_sketch_t *s, uint64_t hash, int row) {
    uint64_t h = (hash + (uint64_t)row) * dp_sketch_seeds[row];
    h ^= h >> 32;
    return h & (s->n_counters - 1);
}

int dp_sketch_init(dp_sketch_t *s, size_t capacity) {
    memset(s, 0, sizeof(*s));
    if (capacity == 0 || capacity > DP_SKETCH_MAX_CAP) return DP_EINVAL;
    /* One 64-bit word (16 counters) per expected key, rounded up to a power of two, as in
     * Caffeine: with 4 counters per key the table stays sparse enough for few collisions. */
    uint64_t n_words = 4;
    while (n_words < (uint64_t)capacity) n_words <<= 1;
    s->n_counters = 16 * n_words;
    s->n_words = (size_t)n_words;
    s->table = calloc(s->n_words, sizeof(uint64_t));
    if (!s->table) return DP_ENOMEM;
    s->sample_size = 10 * (uint64_t)capacity;
    return DP_OK;
}

void dp_sketch_free(dp_sketch_t *s) {
    free(s->table);
    memset(s, 0, sizeof(*s));
}

void dp_sketch_clear(dp_sketch_t *s) {
    memset(s->table, 0, s->n_words * sizeof(uint64_t));
    s->additions = 0;
}

void dp_sketch_halve(dp_sketch_t *s) {
    /* Shift every nibble right by one: the bit that crosses into a neighbour is masked off. */
    for (size_t i = 0; i < s->n_words; i++) s->table[i] = (s->table[i] >> 1) & 0x7777777777777777ULL;
    s->additions /= 2;
    s->n_resets++;
}

void dp_sketch_increment(dp_sketch_t *s, uint64_t hash) {
    int added = 0;
    for (int row = 0; row < DP_SKETCH_DEPTH; row++) {
        const uint64_t c = dp_sketch_index(s, hash, row);
        uint64_t *const w = &s->table[c >> 4];
        const unsigned shift = (unsigned)(c & 15) * 4;
        if (((*w >> shift) & 15) != 15) {
            *w += (uint64_t)1 << shift;
            added = 1;
        }
    }
    if (added && ++s->additions >= s->sample_size) dp_sketch_halve(s);
}

unsigned dp_sketch_estimate(const dp_sketch_t *s, uint64_t hash) {
    unsigned best = 15;
    for (int row = 0; row < DP_SKETCH_DEPTH; row++) {
        const uint64_t c = dp_sketch_index(s, hash, row);
        const unsigned v = (unsigned)((s->table[c >> 4] >> ((c & 15) * 4)) & 15);
        if (v < best) best = v;
    }
    return best;
}
