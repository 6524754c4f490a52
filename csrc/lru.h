/* lru.h -- recency list, hash index and expiry structures for an LRU cache of `cap` slots.
 * The C core never interprets keys or values: each node carries two opaque caller words
 * (`user`, where the Cython shell keeps its key and value references, so that one cache line
 * serves a whole lookup), and the caller compares keys itself when dp_lru_probe_next()
 * reports a slot whose hash tag matches.
 * Invariants: 0 <= len <= cap; live slots form one doubly linked list head (MRU) .. tail (LRU)
 * through prev/next (-1 ends it); free slots form a singly linked list through next; every live
 * slot sits in exactly one bucket of the linear-probing table (no tombstones: deletion shifts
 * back); a live slot with a finite expiry sits either in the write-order list (fifo_head ..
 * fifo_tail through eprev/enext, expiries non-decreasing, heap_pos == DP_LRU_IN_FIFO) or in the
 * min-heap at heap_pos; n_timed counts both. A uniform TTL keeps every timed entry in the list
 * (O(1) per write); only an expiry earlier than the list's last one goes to the heap.
 * Ownership: dp_lru_init allocates every array, dp_lru_free releases them and is safe on a
 * zeroed struct; the caller owns the struct itself. */
#ifndef DP_LRU_H
#define DP_LRU_H

#include "dp_common.h"

#define DP_LRU_MAX_CAP ((size_t)1 << 30)
#define DP_LRU_NEVER INT64_MAX
#define DP_LRU_IN_FIFO (-2)

typedef struct {
    uint32_t tag;  /* low 32 bits of the mixed hash, to skip most key comparisons */
    int32_t slot;  /* -1 = empty bucket */
} dp_lru_bucket_t;

/* One slot's bookkeeping: exactly one 64-byte cache line, allocated 64-byte aligned. */
typedef struct {
    uint64_t hash;           /* the caller's 64-bit key hash */
    int64_t expires_ns;      /* DP_LRU_NEVER = no expiry */
    int64_t weight;          /* the caller's weight of the entry (0 when unweighted) */
    void *user[2];           /* the caller's words; never read or freed here */
    int32_t prev, next;      /* recency links; next also chains the free list */
    uint32_t n_hits;         /* accesses since insertion (saturating) */
    int32_t heap_pos;        /* heap position; -1: untimed; DP_LRU_IN_FIFO: in the list */
    int32_t eprev, enext;    /* write-order expiry list links */
} dp_lru_node_t;

typedef struct {
    size_t cap, len;
    int32_t head, tail, free_head;
    dp_lru_node_t *node;
    int64_t total_weight;    /* sum of node[].weight over live slots */
    int32_t *heap;           /* min-heap of slots on node[].expires_ns */
    size_t heap_len;
    int32_t fifo_head, fifo_tail;
    size_t n_timed;          /* entries with a finite expiry (list + heap) */
    dp_lru_bucket_t *table;
    size_t n_buckets;        /* a power of two, at least 1.5 * cap */
    unsigned shift;          /* 64 - log2(n_buckets) */
} dp_lru_t;

int dp_lru_init(dp_lru_t *lru, size_t cap);
void dp_lru_free(dp_lru_t *lru);
/* Forget every entry (arrays kept). */
void dp_lru_clear(dp_lru_t *lru);
/* Insert a new entry as MRU; needs len < cap. Returns its slot, or DP_EFULL. */
int32_t dp_lru_insert(dp_lru_t *lru, uint64_t hash, int64_t weight, int64_t expires_ns);
/* Change a live slot's weight, keeping total_weight. */
void dp_lru_set_weight(dp_lru_t *lru, int32_t slot, int64_t weight);
/* Remove a live slot from list, index and heap, and return it to the free list. */
void dp_lru_remove(dp_lru_t *lru, int32_t slot);
void dp_lru_set_expiry(dp_lru_t *lru, int32_t slot, int64_t expires_ns);
/* Number of live entries with expires_ns <= now_ns (walks only the expired part of the heap). */
size_t dp_lru_count_expired(const dp_lru_t *lru, int64_t now_ns);
/* Copy every live entry into `dst` (freshly initialised, dst->cap >= src->len), keeping the
 * recency order; remap[old_slot] receives the new slot (or -1 for free slots). */
int dp_lru_copy_into(const dp_lru_t *src, dp_lru_t *dst, int32_t *remap);
/* Up to `n` live slots with the most hits, most first; returns how many were written. */
size_t dp_lru_top_hits(const dp_lru_t *lru, int32_t *out, size_t n);
/* DP_OK if every invariant in the banner holds, else DP_ECORRUPT. O(cap). */
int dp_lru_check(const dp_lru_t *lru);

/*** Inline hot path ***/

DP_INLINE uint64_t dp_lru_mix(uint64_t hash) { return hash * 0x9E3779B97F4A7C15ULL; }

/* Start a probe for `hash`: returns the first bucket to look at. */
DP_INLINE size_t dp_lru_probe_begin(const dp_lru_t *lru, uint64_t hash) {
    return (size_t)(dp_lru_mix(hash) >> lru->shift);
}

/* Next slot at or after bucket *pos whose tag and full hash match; -1 at the first empty
 * bucket (the key is absent). The caller compares keys and, on a mismatch, calls again. */
DP_INLINE int32_t dp_lru_probe_next(const dp_lru_t *lru, uint64_t hash, size_t *pos) {
    const uint32_t tag = (uint32_t)dp_lru_mix(hash);
    const size_t mask = lru->n_buckets - 1;
    size_t i = *pos;
    for (;;) {
        const dp_lru_bucket_t b = lru->table[i];
        if (b.slot < 0) {
            *pos = i;
            return -1;
        }
        i = (i + 1) & mask;
        if (b.tag == tag && lru->node[b.slot].hash == hash) {
            *pos = i;
            return b.slot;
        }
    }
}

/* Make `slot` the most recent entry and count the access. */
DP_INLINE void dp_lru_touch(dp_lru_t *lru, int32_t slot) {
    dp_lru_node_t *const nd = lru->node;
    if (DP_LIKELY(nd[slot].n_hits != UINT32_MAX)) nd[slot].n_hits++;
    if (lru->head == slot) return;
    const int32_t p = nd[slot].prev, n = nd[slot].next;
    nd[p].next = n; /* slot is not head, so p >= 0 */
    if (n >= 0) nd[n].prev = p; else lru->tail = p;
    nd[slot].prev = -1;
    nd[slot].next = lru->head;
    nd[lru->head].prev = slot;
    lru->head = slot;
}

/* The slot whose expiry is soonest if it is at or before now_ns, else -1. */
DP_INLINE int32_t dp_lru_expired_top(const dp_lru_t *lru, int64_t now_ns) {
    int32_t best = lru->fifo_head;
    if (lru->heap_len > 0 &&
        (best < 0 || lru->node[lru->heap[0]].expires_ns < lru->node[best].expires_ns))
        best = lru->heap[0];
    return (best >= 0 && lru->node[best].expires_ns <= now_ns) ? best : -1;
}

DP_INLINE int dp_lru_is_expired(const dp_lru_t *lru, int32_t slot, int64_t now_ns) {
    return lru->node[slot].expires_ns <= now_ns;
}

#endif /* DP_LRU_H */
