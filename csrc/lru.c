/* lru.c -- see lru.h: the composition of slots, expiry and policy. */
#include "lru.h"

#include <string.h>

int dp_lru_init(dp_lru_t *lru, size_t cap, int policy_kind) {
    memset(lru, 0, sizeof(*lru));
    if (cap == 0 || cap > DP_LRU_MAX_CAP || policy_kind < 0 || policy_kind >= dp_policy_count())
        return DP_EINVAL;
    int rc = dp_slots_init(&lru->slots, cap);
    if (rc == DP_OK) rc = dp_expiry_init(&lru->expiry, lru->slots.n_slots);
    if (rc == DP_OK) rc = dp_policy_init(&lru->policy, policy_kind, cap, lru->slots.n_slots);
    if (rc != DP_OK) dp_lru_free(lru);
    return rc;
}

void dp_lru_free(dp_lru_t *lru) {
    dp_policy_free(&lru->policy);
    dp_expiry_free(&lru->expiry);
    dp_slots_free(&lru->slots);
}

void dp_lru_clear(dp_lru_t *lru) {
    dp_slots_clear(&lru->slots);
    dp_expiry_clear(&lru->expiry);
    dp_policy_clear(&lru->policy);
}

int dp_lru_reserve(dp_lru_t *lru, size_t n) {
    if (n <= lru->slots.n_slots) return DP_OK;
    if (n > lru->slots.cap) return DP_EINVAL;
    /* The expiry heap and the policy's tables first: larger ones are harmless if the slots
     * then cannot grow (each part stays consistent on its own). */
    const size_t n_slots = dp_slots_grown(&lru->slots, n);
    int rc = dp_expiry_reserve(&lru->expiry, n_slots);
    if (rc == DP_OK) rc = dp_policy_reserve(&lru->policy, n_slots);
    if (rc == DP_OK) rc = dp_slots_reserve(&lru->slots, n_slots);
    return rc;
}

/* How far the held estimate may move from the policy's cap before it follows: 1/8, and at
 * least 4 entries (a tiny cache's 1/8 rounds to 0: it re-sized on 40% of its writes). */
static size_t dp_lru_weight_slack(size_t n) { return n / 8 > 4 ? n / 8 : 4; }

void dp_lru_follow_weight(dp_lru_t *lru, int64_t max_weight) {
    dp_policy_t *const p = &lru->policy;
    const dp_slots_t *const s = &lru->slots;
    if (!dp_policy_can_recap(p) || max_weight <= 0) return;
    size_t holds = s->cap;
    if (s->total_weight > 0) {
        const double est = (double)s->len * (double)max_weight / (double)s->total_weight;
        if (est < (double)s->cap) holds = (size_t)est;
    }
    if (holds < s->len) holds = s->len; /* over the budget until the caller evicts */
    if (holds < 1) holds = 1;
    /* Exactly what it holds: the shadows simulate a cache of p->cap entries, and one even 1/8
     * larger than the real one fits a loop the real one cannot (its LRU shadow would win). */
    if (holds > p->cap + dp_lru_weight_slack(p->cap) || holds + dp_lru_weight_slack(holds) < p->cap)
        dp_policy_recap(p, &lru->slots, holds);
}

int32_t dp_lru_victim_instead(dp_lru_t *lru, int32_t keep) {
    const dp_slots_t *const s = &lru->slots;
    if (keep < 0) return -1; /* the policy had no victim */
    if (dp_slots_prev(s, keep) >= 0) return dp_slots_prev(s, keep);
    static const int order[3] = {DP_SEG_PROBATION, DP_SEG_WINDOW, DP_SEG_PROTECTED};
    for (int i = 0; i < 3; i++) {
        const int32_t tail = s->tail[order[i]];
        if (tail >= 0 && tail != keep) return tail;
    }
    return -1;
}

int dp_lru_reserve_copy(dp_lru_t *dst, const dp_lru_t *src, size_t n) {
    int rc = dp_lru_reserve(dst, n);
    /* Only entries with an expiry or a weight need the cold array: a copy may shed it. */
    if (rc == DP_OK && (src->expiry.n_timed > 0 || src->slots.total_weight != 0))
        rc = dp_slots_need_cold(&dst->slots);
    return rc;
}

int dp_lru_copy_into(const dp_lru_t *src, dp_lru_t *dst, int32_t *remap) {
    const dp_slots_t *const from = &src->slots;
    if (dst->slots.cap < from->len || dst->slots.len != 0) return DP_EINVAL;
    const int rc = dp_lru_reserve_copy(dst, src, from->len);
    if (rc != DP_OK) return rc;
    for (size_t i = 0; i < from->n_slots; i++) remap[i] = -1;
    /* Per segment, oldest first, each at the head of the same segment: the same order. The
     * policy sees no inserts (nothing is new to it); one rebalance at the end fits the
     * segments to dst's bounds. */
    for (int seg = 0; seg < 3; seg++) {
        for (int32_t s = from->tail[seg]; s >= 0; s = dp_slots_prev(from, s)) {
            const int32_t d = dp_slots_alloc(&dst->slots, dp_slots_hash(from, s),
                                             dp_slots_weight(from, s), seg);
            if (dp_slots_expires(from, s) != DP_LRU_NEVER)
                dp_expiry_set(&dst->expiry, &dst->slots, d, dp_slots_expires(from, s));
            dp_slots_copy_history(&dst->slots, d, from, s);
            void **const u = dp_slots_user(&dst->slots, d);
            void *const *const v = dp_slots_user_c(from, s);
            u[0] = v[0];
            u[1] = v[1];
            remap[s] = d;
        }
    }
    dp_policy_rebalance(&dst->policy, &dst->slots);
    return DP_OK;
}

int dp_lru_check(const dp_lru_t *lru) {
    if (dp_slots_check(&lru->slots) != DP_OK) return DP_ECORRUPT;
    if (dp_expiry_check(&lru->expiry, &lru->slots) != DP_OK) return DP_ECORRUPT;
    return dp_policy_check(&lru->policy, &lru->slots);
}
