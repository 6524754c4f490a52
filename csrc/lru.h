/* lru.h -- the L1 cache core: storage (slots.h), expiry (expiry.h) and an eviction policy
 * (policy.h: "lru" or "tinylfu") composed behind one API for the Cython shell.
 * The core never interprets keys or values: each slot carries two opaque caller words (where
 * the shell keeps its key and value references), and the caller compares keys itself when
 * dp_lru_probe_next() reports a slot whose hash matches.
 * Invariant: each part's own (dp_slots_check, dp_expiry_check, dp_policy_check), over the same
 * slots: expiry files exactly the live slots with a finite expiry; the policy orders exactly
 * the live slots; storage grows with the entries (len <= n_slots <= cap, doubling), and every
 * part is sized for n_slots. dp_lru_init allocates every array, dp_lru_free releases them (safe
 * on a zeroed struct); the caller owns the struct. */
#ifndef DP_LRU_H
#define DP_LRU_H

#include "dp_common.h"
#include "expiry.h"
#include "policy.h"
#include "slots.h"

#define DP_LRU_MAX_CAP DP_SLOTS_MAX_CAP
#define DP_LRU_NEVER DP_SLOTS_NEVER

typedef struct {
    dp_slots_t slots;
    dp_expiry_t expiry;
    dp_policy_t policy;
} dp_lru_t;

int dp_lru_init(dp_lru_t *lru, size_t cap, int policy_kind);
void dp_lru_free(dp_lru_t *lru);
/* Forget every entry (arrays kept). */
void dp_lru_clear(dp_lru_t *lru);
/* Make room for n entries (n <= cap) without further allocation: DP_OK, DP_EINVAL if n > cap,
 * DP_ENOMEM (no entry changed) if the grown arrays cannot be allocated. */
int dp_lru_reserve(dp_lru_t *lru, size_t n);
/* The victim when the policy's own is `keep` (see dp_lru_victim_except). */
int32_t dp_lru_victim_instead(dp_lru_t *lru, int32_t keep);
/* Make room in `dst` for a copy of n of src's entries (with the slots' cold array if src's
 * entries need it): DP_OK, DP_EINVAL if n > dst's cap, DP_ENOMEM (no entry changed). */
int dp_lru_reserve_copy(dp_lru_t *dst, const dp_lru_t *src, size_t n);
/* Copy every live entry into `dst` (freshly initialised, dst->cap >= src->len), keeping the
 * order; remap[old_slot] (src n_slots entries) receives the new slot (or -1 for free slots).
 * Cannot fail once dp_lru_reserve_copy(dst, src, src->len) succeeded; else it may return
 * DP_ENOMEM. */
int dp_lru_copy_into(const dp_lru_t *src, dp_lru_t *dst, int32_t *remap);
/* After a write into a cache with a weight budget of max_weight (0: none, a no-op): the policy
 * sizes its shares for the entries the budget holds at the entries' mean weight (holds = len x
 * max_weight / total_weight, within len .. cap; dp_policy_recap), as Caffeine's window is 1% of
 * the weight, not of the entries. From the first write on, so that hot keys read while the cache
 * fills are promoted as in a cache of that size. Moved to holds once holds is 1/8 (at least 4)
 * away from it, so that a budget holding a steady count does not resize it on every write (len may
 * then pass it by that much, in probation). A no-op for a policy that sizes nothing by cap (plain
 * LRU). Cannot fail. */
void dp_lru_follow_weight(dp_lru_t *lru, int64_t max_weight);
/* DP_OK if every part's invariant holds, else DP_ECORRUPT. O(n_slots + n_buckets). */
int dp_lru_check(const dp_lru_t *lru);

/*** Inline hot path ***/

/* Before a write of `weight` and `expires_ns` that must not fail halfway: the slots' cold array
 * if they need it (dp_slots_need_cold). DP_OK, or DP_ENOMEM with nothing changed. */
DP_INLINE int dp_lru_need_cold(dp_lru_t *lru, int64_t weight, int64_t expires_ns) {
    if (DP_LIKELY(weight == 0 && expires_ns == DP_LRU_NEVER)) return DP_OK;
    return dp_slots_need_cold(&lru->slots);
}

/* Insert a new entry as most recent; needs len < cap. Returns its slot, DP_EFULL, or DP_ENOMEM
 * if the storage had to grow and could not (dp_lru_reserve first to rule that out). Inline, as
 * the two below: each is once on every write into a full cache. */
DP_INLINE int32_t dp_lru_insert(dp_lru_t *lru, uint64_t hash, int64_t weight, int64_t expires_ns) {
    if (lru->slots.len >= lru->slots.cap) return DP_EFULL;
    if (dp_lru_need_cold(lru, weight, expires_ns) != DP_OK) return DP_ENOMEM;
    if (lru->slots.len >= lru->slots.n_slots) {
        const int rc = dp_lru_reserve(lru, lru->slots.len + 1);
        if (rc != DP_OK) return rc;
    }
    const int32_t slot = dp_slots_alloc(&lru->slots, hash, weight, DP_SEG_WINDOW);
    dp_policy_on_insert(&lru->policy, &lru->slots, slot);
    if (expires_ns != DP_LRU_NEVER) dp_expiry_set(&lru->expiry, &lru->slots, slot, expires_ns);
    return slot;
}

/* Remove a live slot from every part and free it. */
DP_INLINE void dp_lru_remove(dp_lru_t *lru, int32_t slot) {
    dp_policy_on_remove(&lru->policy, &lru->slots, slot);
    dp_expiry_untime(&lru->expiry, &lru->slots, slot);
    dp_slots_release(&lru->slots, slot);
}

/* Like dp_policy_victim, but never `keep` (a key just written, or -1): the next entry up keep's
 * own list, else the oldest of another segment; -1 if `keep` is the only live entry. */
DP_INLINE int32_t dp_lru_victim_except(dp_lru_t *lru, int32_t keep) {
    const int32_t victim = dp_policy_victim(&lru->policy, &lru->slots);
    return DP_LIKELY(victim != keep) ? victim : dp_lru_victim_instead(lru, keep);
}

/* A read hit on a live slot: count it and let the policy reorder. */
DP_INLINE void dp_lru_touch(dp_lru_t *lru, int32_t slot) {
    /* Only a policy with a read buffer needs the hash: read it for that one alone. */
    const uint64_t hash = lru->policy.reads ? dp_slots_hash(&lru->slots, slot) : 0;
    dp_policy_on_hit(&lru->policy, &lru->slots, slot, hash);
}

/* The same, for a caller that found the slot by its key's `hash` (the lookup's): no read of
 * the slots' hash array. */
DP_INLINE void dp_lru_touch_hash(dp_lru_t *lru, int32_t slot, uint64_t hash) {
    dp_policy_on_hit(&lru->policy, &lru->slots, slot, hash);
}

DP_INLINE int dp_lru_is_expired(const dp_lru_t *lru, int32_t slot, int64_t now_ns) {
    return dp_slots_expires(&lru->slots, slot) <= now_ns;
}

#endif /* DP_LRU_H */
