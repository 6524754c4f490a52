/* sieve.c -- SIEVE (Zhang et al., NSDI '24) as a policy (dp_sieve_ops), for comparison in the
 * simulator and for read-heavy caches: one FIFO list (the window segment, newest at the head); a
 * hit only sets the entry's visited bit (no list move); the hand walks from the tail towards the
 * head, clearing visited bits, and evicts the first entry it finds unvisited, then rests on the
 * next newer entry. Invariant: every live slot is in the window segment (seg_max = cap);
 * visited[] covers >= n_slots slots (a free slot's bit means nothing: an insert clears it); hand
 * is -1 or a slot number < n_slots (a hand whose entry was deleted since, its slot free or
 * holding another key, restarts from the tail). init allocates the state, free releases it. */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t *visited; /* one bit per slot */
    size_t n_words;
    int32_t hand;      /* where the next search starts; -1: the tail */
    uint64_t hand_hash; /* the hash its entry had: a slot freed and reused since is not it */
} dp_sieve_t;

static inline dp_sieve_t *dp_sieve(const dp_policy_t *p) { return (dp_sieve_t *)p->state; }

static inline int dp_sieve_test(const dp_sieve_t *v, int32_t slot) {
    return (int)((v->visited[(size_t)slot >> 6] >> ((unsigned)slot & 63)) & 1u);
}

static inline void dp_sieve_put(dp_sieve_t *v, int32_t slot, int on) {
    const uint64_t bit = (uint64_t)1 << ((unsigned)slot & 63);
    if (on) v->visited[(size_t)slot >> 6] |= bit; else v->visited[(size_t)slot >> 6] &= ~bit;
}

static int dp_sieve_reserve(dp_policy_t *p, size_t n_slots) {
    dp_sieve_t *const v = dp_sieve(p);
    const size_t n_words = (n_slots + 63) / 64;
    if (n_words <= v->n_words) return DP_OK;
    uint64_t *const grown = realloc(v->visited, n_words * sizeof(uint64_t));
    if (!grown) return DP_ENOMEM;
    memset(grown + v->n_words, 0, (n_words - v->n_words) * sizeof(uint64_t));
    v->visited = grown;
    v->n_words = n_words;
    return DP_OK;
}

static void dp_sieve_free(dp_policy_t *p) {
    dp_sieve_t *const v = dp_sieve(p);
    if (!v) return;
    free(v->visited);
    free(v);
    p->state = NULL;
}

static int dp_sieve_init(dp_policy_t *p, size_t n_slots) {
    dp_sieve_t *const v = calloc(1, sizeof(dp_sieve_t));
    if (!v) return DP_ENOMEM;
    p->state = v;
    v->hand = -1;
    p->seg_max[DP_SEG_WINDOW] = p->cap;
    return dp_sieve_reserve(p, n_slots);
}

static void dp_sieve_clear(dp_policy_t *p) {
    dp_sieve_t *const v = dp_sieve(p);
    memset(v->visited, 0, v->n_words * sizeof(uint64_t));
    v->hand = -1;
}

static void dp_sieve_on_insert(dp_policy_t *p, dp_slots_t *s, int32_t slot) {
    (void)s;
    dp_sieve_put(dp_sieve(p), slot, 0);
}

static void dp_sieve_on_hit(dp_policy_t *p, dp_slots_t *s, int32_t slot) {
    (void)s;
    dp_sieve_put(dp_sieve(p), slot, 1);
}

static int32_t dp_sieve_victim(dp_policy_t *p, const dp_slots_t *s) {
    dp_sieve_t *const v = dp_sieve(p);
    const int32_t tail = s->tail[DP_SEG_WINDOW];
    if (tail < 0) return -1;
    int32_t o = v->hand;
    if (o < 0 || (size_t)o >= s->n_slots || dp_slots_seg(s, o) != DP_SEG_WINDOW ||
        dp_slots_hash(s, o) != v->hand_hash)
        o = tail;
    /* At most one lap clears every bit, so this ends within len + 1 steps. */
    while (dp_sieve_test(v, o)) {
        dp_sieve_put(v, o, 0);
        o = dp_slots_prev(s, o);
        if (o < 0) o = tail;
    }
    v->hand = dp_slots_prev(s, o);
    if (v->hand >= 0) v->hand_hash = dp_slots_hash(s, v->hand);
    return o;
}

static int dp_sieve_check(const dp_policy_t *p, const dp_slots_t *s) {
    const dp_sieve_t *const v = dp_sieve(p);
    if (!v || s->seg_len[DP_SEG_WINDOW] != s->len || v->n_words * 64 < s->n_slots) return DP_ECORRUPT;
    if (v->hand < -1 || (v->hand >= 0 && (size_t)v->hand >= s->n_slots)) return DP_ECORRUPT;
    return DP_OK;
}

const dp_policy_ops_t dp_sieve_ops = {
    .name = "sieve",
    .init = dp_sieve_init,
    .free = dp_sieve_free,
    .clear = dp_sieve_clear,
    .reserve = dp_sieve_reserve,
    .on_insert = dp_sieve_on_insert,
    .on_hit = dp_sieve_on_hit,
    .victim = dp_sieve_victim,
    .check = dp_sieve_check,
};
