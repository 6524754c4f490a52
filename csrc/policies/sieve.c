/* sieve.c -- SIEVE (Zhang et al., NSDI '24) as a policy (dp_sieve_ops), for comparison in the
 * simulator and for read-heavy caches: one FIFO list (the window segment, newest at the head); a
 * hit only sets the entry's visited bit (the slot's mark, which resize and copy carry over; no
 * list move); the hand walks from the tail towards the head, clearing visited bits, and evicts
 * the first entry it finds unvisited, then rests on the next newer entry. Unlike the paper, a
 * delete of the hand's entry sends the hand back to the tail (the policy is not told of deletes:
 * a hand on a free slot, or on a slot an insert has reused, starts from the tail).
 * Invariant: every live slot is in the window segment (seg_max = cap); hand is -1 or a slot
 * number < n_slots. init allocates the state, free releases it. */
#include "policy.h"

#include <stdlib.h>

typedef struct {
    int32_t hand; /* where the next search starts; -1: the tail */
} dp_sieve_t;

static inline dp_sieve_t *dp_sieve(const dp_policy_t *p) { return (dp_sieve_t *)p->state; }

static void dp_sieve_free(dp_policy_t *p) {
    free(p->state);
    p->state = NULL;
}

static int dp_sieve_init(dp_policy_t *p, size_t n_slots) {
    (void)n_slots;
    dp_sieve_t *const v = calloc(1, sizeof(dp_sieve_t));
    if (!v) return DP_ENOMEM;
    p->state = v;
    v->hand = -1;
    p->seg_max[DP_SEG_WINDOW] = p->cap;
    return DP_OK;
}

static void dp_sieve_clear(dp_policy_t *p) { dp_sieve(p)->hand = -1; }

/* A new entry (its mark cleared by the allocation): if it took the hand's slot, the hand's own
 * entry is gone and the search starts from the tail. */
static void dp_sieve_on_insert(dp_policy_t *p, dp_slots_t *s, int32_t slot) {
    (void)s;
    dp_sieve_t *const v = dp_sieve(p);
    if (v->hand == slot) v->hand = -1;
}

static void dp_sieve_on_hit(dp_policy_t *p, dp_slots_t *s, int32_t slot) {
    (void)p;
    dp_slots_set_mark(s, slot, 1);
}

static int32_t dp_sieve_victim(dp_policy_t *p, dp_slots_t *s) {
    dp_sieve_t *const v = dp_sieve(p);
    const int32_t tail = s->tail[DP_SEG_WINDOW];
    if (tail < 0) return -1;
    int32_t o = v->hand;
    if (o < 0 || (size_t)o >= s->n_slots || dp_slots_seg(s, o) != DP_SEG_WINDOW) o = tail;
    /* At most one lap clears every mark, so this ends within len + 1 steps. */
    while (dp_slots_mark(s, o)) {
        dp_slots_set_mark(s, o, 0);
        o = dp_slots_prev(s, o);
        if (o < 0) o = tail;
    }
    v->hand = dp_slots_prev(s, o);
    return o;
}

static int dp_sieve_check(const dp_policy_t *p, const dp_slots_t *s) {
    const dp_sieve_t *const v = dp_sieve(p);
    if (!v || s->seg_len[DP_SEG_WINDOW] != s->len) return DP_ECORRUPT;
    if (v->hand < -1 || (v->hand >= 0 && (size_t)v->hand >= s->n_slots)) return DP_ECORRUPT;
    return DP_OK;
}

const dp_policy_ops_t dp_sieve_ops = {
    .name = "sieve",
    .init = dp_sieve_init,
    .free = dp_sieve_free,
    .clear = dp_sieve_clear,
    .on_insert = dp_sieve_on_insert,
    .on_hit = dp_sieve_on_hit,
    .victim = dp_sieve_victim,
    .check = dp_sieve_check,
};
