/* sketch.c -- see sketch.h for the layout, its invariants and who frees what. */
#include "sketch.h"

#include <stdlib.h>
#include <string.h>

int dp_sketch_init(dp_sketch_t *s, size_t capacity, unsigned words_per_key) {
    memset(s, 0, sizeof(*s));
    if (capacity == 0 || capacity > DP_SKETCH_MAX_CAP || words_per_key == 0 || words_per_key > 8)
        return DP_EINVAL;
    /* words_per_key 64-bit words (16 counters each) per expected key, rounded up to a power of
     * two and capped at DP_SKETCH_MAX_CAP words. Caffeine uses one: with 4 counters per key the
     * table stays sparse enough for few collisions. */
    uint64_t want = (uint64_t)capacity * words_per_key;
    if (want > DP_SKETCH_MAX_CAP) want = DP_SKETCH_MAX_CAP;
    uint64_t n_words = 8; /* at least one block */
    while (n_words < want) n_words <<= 1;
    s->n_counters = 16 * n_words;
    s->n_words = (size_t)n_words;
    /* 64-byte aligned and zeroed, so that a key's block is one cache line (calloc aligns to 16
     * only); a large table is mapped from the OS, so its untouched pages cost nothing. */
    s->table = dp_big_alloc(s->n_words * sizeof(uint64_t));
    if (!s->table) return DP_ENOMEM;
    s->sample_size = 10 * (uint64_t)capacity;
    return DP_OK;
}

int dp_sketch_init_grown(dp_sketch_t *s, const dp_sketch_t *src, size_t capacity,
                         unsigned words_per_key) {
    const int rc = dp_sketch_init(s, capacity, words_per_key);
    if (rc != DP_OK) return rc;
    if (src->n_words == 0 || src->n_words > s->n_words) return DP_OK; /* nothing to keep */
    for (size_t i = 0; i < s->n_words; i += src->n_words)
        memcpy(s->table + i, src->table, src->n_words * sizeof(uint64_t));
    s->additions = src->additions;
    s->n_resets = src->n_resets;
    return DP_OK;
}

void dp_sketch_free(dp_sketch_t *s) {
    dp_big_free(s->table, s->n_words * sizeof(uint64_t));
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

unsigned dp_sketch_add(dp_sketch_t *s, uint64_t hash, unsigned k) {
    const uint64_t mixed = dp_fmix64(hash);
    const size_t block = dp_sketch_block(s, mixed);
    unsigned rose = 0;
    if (k > 15) k = 15;
    for (int row = 0; row < DP_SKETCH_DEPTH; row++) {
        uint64_t *const w = &s->table[dp_sketch_word(block, mixed, row)];
        const unsigned shift = dp_sketch_shift(mixed, row);
        const unsigned v = (unsigned)((*w >> shift) & 15), room = 15 - v, add = k < room ? k : room;
        *w += (uint64_t)add << shift;
        rose |= add;
    }
    return rose != 0;
}

unsigned dp_sketch_estimate(const dp_sketch_t *s, uint64_t hash) {
    return dp_sketch_estimate_mixed(s, dp_fmix64(hash));
}
