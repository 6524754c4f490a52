/* policy.h -- the eviction policy of the L1 cache, apart from its storage: which slot to
 * evict, what a hit, a miss, a write or an insert changes. One table of dp_policy_ops_t
 * (policy.c) lists the implementations: "lru" (here) and "tinylfu" (tinylfu.c); adding a
 * policy is one new file and one line in that table.
 * Invariant: a policy orders the live slots only through the slots' segment lists, keeps
 * seg_len[seg] <= seg_max[seg] after every insert (the window may run over while hits are
 * buffered), and keeps its own state in `state` (NULL for LRU). A NULL op means "nothing to do"
 * (on_hit NULL: the hit slot moves to the front of its segment, inline).
 * dp_policy_init allocates the state, dp_policy_free releases it (safe on a zeroed struct). */
#ifndef DP_POLICY_H
#define DP_POLICY_H

#include "dp_common.h"
#include "sketch.h"
#include "slots.h"

typedef struct dp_policy dp_policy_t;

typedef struct {
    const char *name;
    /* State for a cache of `cap` entries whose slots hold n_slots now. */
    int (*init)(dp_policy_t *p, size_t n_slots);
    void (*free)(dp_policy_t *p);
    void (*clear)(dp_policy_t *p);
    /* Grow per-key state for n_slots slots: DP_OK or DP_ENOMEM (nothing changed). */
    int (*reserve)(dp_policy_t *p, size_t n_slots);
    /* A new slot was linked at the head of DP_SEG_WINDOW. */
    void (*on_insert)(dp_policy_t *p, dp_slots_t *s, int32_t slot);
    /* A hit on a live slot, after its hit count. */
    void (*on_hit)(dp_policy_t *p, dp_slots_t *s, int32_t slot);
    void (*on_miss)(dp_policy_t *p);
    void (*on_write)(dp_policy_t *p, uint64_t hash);
    /* The slot to evict to make room for one new key; -1 if empty. */
    int32_t (*victim)(const dp_policy_t *p, const dp_slots_t *s);
    /* `slot` (a victim) is about to be evicted. */
    void (*on_evict)(dp_policy_t *p, const dp_slots_t *s, int32_t slot);
    /* Apply pending work before the order is read (iteration, popitem, copy). */
    void (*drain)(dp_policy_t *p, dp_slots_t *s);
    /* Restore the segment bounds after slots were placed by hand (copy). */
    void (*rebalance)(dp_policy_t *p, dp_slots_t *s);
    int (*check)(const dp_policy_t *p, const dp_slots_t *s);
} dp_policy_ops_t;

struct dp_policy {
    const dp_policy_ops_t *ops;
    int kind;              /* index in the table */
    size_t cap;
    size_t seg_max[3];     /* bound of each segment list */
    dp_sketch_t *sketch;   /* the policy's frequency sketch if it keeps one (prefetched on the
                            * hot path), else NULL */
    void *state;           /* the policy's own */
};

#define DP_POLICY_LRU 0
#define DP_POLICY_TINYLFU 1

/* The table: how many policies, each one's name, and a name's kind (-1 if unknown). */
int dp_policy_count(void);
const char *dp_policy_name(int kind);
int dp_policy_find(const char *name);

int dp_policy_init(dp_policy_t *p, int kind, size_t cap, size_t n_slots);
void dp_policy_free(dp_policy_t *p);
void dp_policy_clear(dp_policy_t *p);
int dp_policy_reserve(dp_policy_t *p, size_t n_slots);
void dp_policy_on_insert(dp_policy_t *p, dp_slots_t *s, int32_t slot);
int32_t dp_policy_victim(const dp_policy_t *p, const dp_slots_t *s);
void dp_policy_on_evict(dp_policy_t *p, const dp_slots_t *s, int32_t slot);
void dp_policy_drain(dp_policy_t *p, dp_slots_t *s);
void dp_policy_rebalance(dp_policy_t *p, dp_slots_t *s);
void dp_policy_on_write(dp_policy_t *p, uint64_t hash);
/* The segment bounds and the policy's own invariants, else DP_ECORRUPT. */
int dp_policy_check(const dp_policy_t *p, const dp_slots_t *s);

/*** Inline hot path ***/

DP_INLINE void dp_policy_prefetch(const dp_policy_t *p, uint64_t hash) {
    if (p->sketch) dp_sketch_prefetch(p->sketch, hash);
}

/* Count a hit on a live slot and tell the policy. */
DP_INLINE void dp_policy_on_hit(dp_policy_t *p, dp_slots_t *s, int32_t slot) {
    dp_slots_count_hit(s, slot);
    if (p->ops->on_hit) p->ops->on_hit(p, s, slot); else dp_slots_to_front(s, slot);
}

DP_INLINE void dp_policy_on_miss(dp_policy_t *p) {
    if (p->ops->on_miss) p->ops->on_miss(p);
}

#endif /* DP_POLICY_H */
