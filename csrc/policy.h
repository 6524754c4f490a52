/* policy.h -- L1 eviction policy, apart from storage: which slot to evict; what a hit, miss,
 * write or insert changes. The table in policy.c lists them ("lru" there; "tinylfu", "sieve"
 * in csrc/policies/): a new policy is one new file in csrc/policies/ and one entry in the table.
 * Invariant: a policy orders live slots only through the segment lists, keeps every segment
 * but probation within seg_max after each insert, and its own data in `state` (NULL for LRU).
 * A NULL op does nothing (on_hit NULL: move to the front of its segment; victim NULL: the
 * window's tail); the dispatch below is inline, so an LRU get or set makes no policy call.
 * dp_policy_init allocates the state, dp_policy_free releases it (safe on a zeroed struct). */
#ifndef DP_POLICY_H
#define DP_POLICY_H

#include "dp_common.h"
#include "hash.h"
#include "sketch.h"
#include "slots.h"

typedef struct dp_policy dp_policy_t;

/* A hit whose policy work waits in the read buffer: the slot (a policy may mark it, negative,
 * once it saw the slot removed), and the hash it held then. */
typedef struct {
    uint64_t hash;
    int32_t slot;
} dp_policy_read_t;

#define DP_POLICY_PENDING_MAX 15 /* a slot's pending hits saturate here (a sketch counter's max) */

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
    /* A hit on a live slot, after its hit count. With a read buffer: the hit was appended to
     * it (its last read), and on_hit runs only when the buffer is full or the hit is sampled
     * (see below). */
    void (*on_hit)(dp_policy_t *p, dp_slots_t *s, int32_t slot);
    void (*on_miss)(dp_policy_t *p);
    void (*on_write)(dp_policy_t *p, uint64_t hash);
    /* The slot to evict to make room for one new key; -1 if empty. (Not const: a policy may
     * first apply work it deferred, or clear the slots' marks as it passes them, as SIEVE
     * does.) NULL: the window's least recent entry (LRU). */
    int32_t (*victim)(dp_policy_t *p, dp_slots_t *s);
    /* `slot` (a victim) is about to be evicted. */
    void (*on_evict)(dp_policy_t *p, const dp_slots_t *s, int32_t slot);
    /* `slot` is about to be freed (evicted, deleted or expired). */
    void (*on_remove)(dp_policy_t *p, const dp_slots_t *s, int32_t slot);
    /* Apply pending work before the order is read (iteration, popitem, copy). */
    void (*drain)(dp_policy_t *p, dp_slots_t *s);
    /* Restore the segment bounds after slots were placed by hand (copy). */
    void (*rebalance)(dp_policy_t *p, dp_slots_t *s);
    int (*check)(const dp_policy_t *p, const dp_slots_t *s);
    /* The cache holds at most `cap` (1 .. the slots' cap) entries for now, as a weight budget
     * binds below its max_size: size by it what is sized by the cache's entries. Cannot fail.
     * NULL: the policy sizes nothing by cap, which stays the slots' (dp_lru_follow_weight). */
    void (*recap)(dp_policy_t *p, dp_slots_t *s, size_t cap);
} dp_policy_ops_t;

struct dp_policy {
    const dp_policy_ops_t *ops;
    int kind;              /* index in the table */
    size_t cap;            /* the entries it sizes for: the slots' cap, or less (recap) */
    size_t seg_max[3];     /* bound of each segment list */
    dp_sketch_t *sketch;   /* the policy's frequency sketch if it keeps one (a write
                            * prefetches its block), else NULL */
    /* With a sketch: a table of words, indexed by the key's mixed hash & key_mask, whose word
     * a write of a new key reads later (W-TinyLFU's ghosts), prefetched with the sketch block
     * while the caller's own work hides the miss; or NULL. The policy's own table. */
    const uint64_t *key_words;
    uint64_t key_mask;
    void *state;           /* the policy's own */
    /* The read buffer, if the policy defers its hits (else reads NULL): a hit only appends
     * here (inline, no call), and calls on_hit once n_reads reaches reads_cap or when its
     * mixed hash is sampled, (dp_fmix64(hash) & sample_mask) == sample_match (mask 0 and
     * match 1: never). The policy empties it. */
    dp_policy_read_t *reads;
    size_t n_reads, reads_cap;
    uint64_t sample_mask, sample_match;
    /* With a read buffer (and only then): per slot, the hits not yet added to the frequency
     * sketch (a hit only bumps its slot's byte here, saturating at DP_POLICY_PENDING_MAX); the
     * policy adds them when it compares or frees the slot, and sizes the array for every slot. */
    uint8_t *pending;
    uint64_t n_pending_added; /* hits that raised a pending byte since the policy last looked */
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
void dp_policy_rebalance(dp_policy_t *p, dp_slots_t *s);
/* Whether the policy sizes anything by cap (has a recap op), and the recap itself. */
DP_INLINE int dp_policy_can_recap(const dp_policy_t *p) { return p->ops->recap != NULL; }
void dp_policy_recap(dp_policy_t *p, dp_slots_t *s, size_t cap);
/* The segment bounds and the policy's own invariants, else DP_ECORRUPT. */
int dp_policy_check(const dp_policy_t *p, const dp_slots_t *s);

/*** Inline hot path ***/

/* A write of `hash` will come: fetch the lines the policy will read for it. */
DP_INLINE void dp_policy_prefetch(const dp_policy_t *p, uint64_t hash) {
    if (p->sketch) {
        const uint64_t mixed = dp_fmix64(hash);
        dp_sketch_prefetch_mixed(p->sketch, mixed);
        if (p->key_words) DP_PREFETCH(&p->key_words[mixed & p->key_mask]);
    }
}

/* Count a hit on a live slot and tell the policy (or buffer it for the policy). `hash` is the
 * slot's hash, as the caller's probe matched it: a hit never reads the slots' hash array. */
DP_INLINE void dp_policy_on_hit(dp_policy_t *p, dp_slots_t *s, int32_t slot, uint64_t hash) {
    dp_slots_count_hit(s, slot);
    if (p->reads) {
        /* The hit's frequency waits in its slot's pending byte (one byte, not four sketch
         * counters in a random block), its list move in the read buffer. */
        uint8_t *const pending = &p->pending[slot];
        const unsigned room = *pending < DP_POLICY_PENDING_MAX;
        *pending = (uint8_t)(*pending + room);
        p->n_pending_added += room;
        /* The deferred move will write both list neighbours: fetch them now, while the
         * caller's own work hides the misses, instead of in a batch that would stall on them
         * back to back. */
        dp_slots_prefetch_neighbours(s, slot);
        dp_policy_read_t *const r = &p->reads[p->n_reads];
        r->hash = hash;
        r->slot = slot;
        if (++p->n_reads == p->reads_cap ||
            DP_UNLIKELY((dp_fmix64(hash) & p->sample_mask) == p->sample_match))
            p->ops->on_hit(p, s, slot);
    } else if (p->ops->on_hit) {
        p->ops->on_hit(p, s, slot);
    } else {
        dp_slots_to_front(s, slot);
    }
}

DP_INLINE void dp_policy_on_miss(dp_policy_t *p) {
    if (p->ops->on_miss) p->ops->on_miss(p);
}

DP_INLINE void dp_policy_on_write(dp_policy_t *p, uint64_t hash) {
    if (p->ops->on_write) p->ops->on_write(p, hash);
}

DP_INLINE void dp_policy_on_insert(dp_policy_t *p, dp_slots_t *s, int32_t slot) {
    if (p->ops->on_insert) p->ops->on_insert(p, s, slot);
}

DP_INLINE int32_t dp_policy_victim(dp_policy_t *p, dp_slots_t *s) {
    return p->ops->victim ? p->ops->victim(p, s) : s->tail[DP_SEG_WINDOW];
}

/* `slot` (the victim) is about to be evicted. */
DP_INLINE void dp_policy_on_evict(dp_policy_t *p, const dp_slots_t *s, int32_t slot) {
    if (p->ops->on_evict && slot >= 0) p->ops->on_evict(p, s, slot);
}

/* `slot` is about to be freed. */
DP_INLINE void dp_policy_on_remove(dp_policy_t *p, const dp_slots_t *s, int32_t slot) {
    if (p->ops->on_remove) p->ops->on_remove(p, s, slot);
}

/* Apply pending work before the order is read (iteration, popitem, copy). */
DP_INLINE void dp_policy_drain(dp_policy_t *p, dp_slots_t *s) {
    if (p->ops->drain) p->ops->drain(p, s);
}

#endif /* DP_POLICY_H */
