/* lru.h -- recency lists, hash index and expiry structures for a cache of `cap` slots, with an
 * LRU or a W-TinyLFU eviction policy.
 * The C core never interprets keys or values: each node carries two opaque caller words
 * (`user`, where the Cython shell keeps its key and value references, so that one cache line
 * serves a whole lookup), and the caller compares keys itself when dp_lru_probe_next()
 * reports a slot whose hash tag matches.
 * Invariants: 0 <= len <= cap; every live slot is in exactly one segment list head[seg] (most
 * recent) .. tail[seg] (least recent), doubly linked through prev/next (-1 ends it), and the top
 * two bits of its n_hits name that segment; seg_len[seg] counts each list. The LRU policy uses
 * only the window segment. W-TinyLFU (Einziger et al.; Caffeine) keeps a small window LRU and a
 * main region split into probation and protected: a new key enters the window, the window's
 * overflow is admitted to probation only if the frequency sketch rates it above the main
 * region's victim, a probation hit is promoted to protected, and a hill climber resizes the
 * window from the sampled hit rate. Under W-TinyLFU a hit counts in the sketch at once but its
 * list move waits in the read buffer (reads[0 .. n_reads), at most reads_cap), applied in order
 * when the buffer fills or an order is observed (dp_lru_drain_reads): an entry whose slot was
 * freed or reused by another hash since is skipped. The climber alone crosses a recency-heavy
 * trace's plateau too slowly (a window smaller than the reuse distance hits nothing, and larger
 * ones do no better until they reach it), so a ghost table remembers the window entries that
 * lost admission: when, over a short period, more reads return to such a ghost within `cap`
 * reads than hit the cache, the window doubles; and a key that comes back to its ghost within
 * `cap` reads is marked DP_LRU_RETURNED and admitted when it next leaves the window, whatever
 * the sketch says (short reuse is evidence the sketch's stale counts miss, as when the hot set
 * moves; scans and loops longer than `cap` never return in time). Free slots carry segment
 * DP_LRU_FREE and form
 * a singly linked list through next; every live slot sits in exactly one bucket of the
 * linear-probing table (no tombstones: deletion shifts back); a live slot with a finite
 * expiry sits either in the write-order list (fifo_head .. fifo_tail through eprev/enext,
 * expiries non-decreasing, heap_pos == DP_LRU_IN_FIFO) or in the min-heap at heap_pos;
 * n_timed counts both. A uniform TTL keeps every timed entry in the list
 * (O(1) per write); only an expiry earlier than the list's last one goes to the heap.
 * Storage grows with the entries, as a dict's does: node and heap hold n_slots slots
 * (len <= n_slots <= cap), the table at least 1.5 * n_slots buckets; dp_lru_reserve doubles
 * them (amortised O(1) per insert), so an empty cache of a large cap costs little memory.
 * Slots keep their numbers when the arrays grow. The W-TinyLFU sketch and ghost table are
 * sized for min(cap, DP_LRU_FIRST_SKETCH_KEYS) keys at once (so a cache up to that size admits
 * exactly as with tables sized for cap) and grow with the slots past it, keeping their counts.
 * Ownership: dp_lru_init allocates every array, dp_lru_free releases them and is safe on a
 * zeroed struct; the caller owns the struct itself. */
#ifndef DP_LRU_H
#define DP_LRU_H

#include "dp_common.h"
#include "sketch.h"

#define DP_LRU_MAX_CAP ((size_t)1 << 30)
#define DP_LRU_NEVER INT64_MAX
#define DP_LRU_FIRST_SLOTS 4 /* slots allocated by dp_lru_init (fewer if cap is smaller) */
#define DP_LRU_FIRST_SKETCH_KEYS 65536 /* W-TinyLFU sketch and ghosts: sized for this many keys
                                        * (or cap) at once, then grown with the slots (1 MiB) */
#define DP_LRU_IN_FIFO (-2)

#define DP_LRU_POLICY_LRU 0
#define DP_LRU_POLICY_TINYLFU 1
#define DP_LRU_WINDOW 0
#define DP_LRU_PROBATION 1
#define DP_LRU_PROTECTED 2
#define DP_LRU_FREE 3        /* the segment bits of a free slot */
#define DP_LRU_READS_MAX 128 /* read buffer entries; fewer for caches under 128 slots */
/* W-TinyLFU sample floors. The climber compares hit rates of successive samples: under ~5,000
 * reads the standard error (0.5 / sqrt(n)) exceeds the one-point differences it must resolve,
 * so a small cache's 10 x cap sample made it wander. The sketch halves after 10 x cap
 * counts: for a small cache that forgets every count within a few hundred reads, before a
 * popular key's count can outgrow a one-off's. (10,000 scored the same over the simulator's
 * table but put loop at 256 entries 1.3 points lower; 8,000-9,000 tip loop at 768 entries into
 * the ghost-doubling trap described in docs/hit-rate.md.) */
#define DP_LRU_MIN_SAMPLE_READS 5000
#define DP_LRU_MIN_SKETCH_SAMPLE 7500
#define DP_LRU_HITS_MASK 0x1FFFFFFFu /* n_hits: low 29 bits count, high 2 bits segment */
#define DP_LRU_RETURNED (1u << 29)    /* n_hits: came back to its ghost (W-TinyLFU) */
#define DP_LRU_SEG_SHIFT 30
#define DP_LRU_SEG_MASK (3u << DP_LRU_SEG_SHIFT)
#define DP_LRU_SEG_BITS(seg) ((uint32_t)(seg) << DP_LRU_SEG_SHIFT)

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
    uint32_t n_hits;         /* accesses since insertion (saturating, 29 bits) | DP_LRU_RETURNED
                              * | segment << 30 */
    int32_t heap_pos;        /* heap position; -1: untimed; DP_LRU_IN_FIFO: in the list */
    int32_t eprev, enext;    /* write-order expiry list links */
} dp_lru_node_t;

/* A hit whose list move is pending: the slot, and the hash it held then. */
typedef struct {
    uint64_t hash;
    int32_t slot;
} dp_lru_read_t;

typedef struct {
    size_t cap, len;
    size_t n_slots;            /* slots allocated in node and heap: len <= n_slots <= cap */
    int32_t head[3], tail[3];  /* per segment: window, probation, protected */
    size_t seg_len[3];
    int32_t free_head;
    int policy;
    size_t window_max, protected_max;
    dp_sketch_t sketch;        /* allocated for W-TinyLFU only */
    uint64_t sample_size, sample_reads, sample_hits;  /* hill climber */
    double prev_hit_rate, step;
    uint64_t read_clock;       /* hits + misses so far: the ghosts' clock */
    uint64_t *ghost;           /* ghost_mask + 1 words: low 32 bits of a rejected key's hash
                                * << 32 | low 32 bits of read_clock at its eviction; 0 = empty */
    size_t ghost_mask;
    uint64_t quick_period_reads, quick_reads, quick_hits, quick_ghost_hits; /* window doubling */
    dp_lru_read_t *reads;      /* read buffer, W-TinyLFU only (NULL under LRU) */
    size_t n_reads, reads_cap;
    dp_lru_node_t *node;
    int64_t total_weight;    /* sum of node[].weight over live slots */
    int32_t *heap;           /* min-heap of slots on node[].expires_ns */
    size_t heap_len;
    int32_t fifo_head, fifo_tail;
    size_t n_timed;          /* entries with a finite expiry (list + heap) */
    dp_lru_bucket_t *table;
    size_t n_buckets;        /* a power of two, at least 1.5 * n_slots */
    unsigned shift;          /* 64 - log2(n_buckets) */
} dp_lru_t;

int dp_lru_init(dp_lru_t *lru, size_t cap, int policy);
void dp_lru_free(dp_lru_t *lru);
/* Forget every entry (arrays kept). */
void dp_lru_clear(dp_lru_t *lru);
/* Make room for n entries (n <= cap) without further allocation: DP_OK, DP_EINVAL if n > cap,
 * DP_ENOMEM (nothing changed) if the grown arrays cannot be allocated. */
int dp_lru_reserve(dp_lru_t *lru, size_t n);
/* Insert a new entry as MRU; needs len < cap. Returns its slot, DP_EFULL, or DP_ENOMEM if the
 * storage had to grow and could not (dp_lru_reserve first to rule that out). */
int32_t dp_lru_insert(dp_lru_t *lru, uint64_t hash, int64_t weight, int64_t expires_ns);
/* Change a live slot's weight, keeping total_weight. */
void dp_lru_set_weight(dp_lru_t *lru, int32_t slot, int64_t weight);
/* The slot the policy evicts next to make room for one new key; -1 if empty. */
int32_t dp_lru_victim(const dp_lru_t *lru);
/* Like dp_lru_victim, but never `keep` (a key just written): the next least recent entry of
 * the policy's order instead; -1 if `keep` is the only live entry. */
int32_t dp_lru_victim_except(const dp_lru_t *lru, int32_t keep);
/* Tell the policy that `slot` (its victim) is about to be evicted: under W-TinyLFU a window
 * entry evicted lost admission and is remembered in the ghost table. */
void dp_lru_note_eviction(dp_lru_t *lru, int32_t slot);
/* Iterate live slots: window, protected, then probation, each most recent first; -1 ends. */
int32_t dp_lru_first(const dp_lru_t *lru);
int32_t dp_lru_next(const dp_lru_t *lru, int32_t slot);
/* W-TinyLFU bookkeeping (no-ops under LRU): a read that missed, a write of the key with this
 * hash. A hit is counted by dp_lru_touch. */
void dp_lru_record_miss(dp_lru_t *lru);
void dp_lru_record_write(dp_lru_t *lru, uint64_t hash);
/* W-TinyLFU's part of dp_lru_touch, after the access count. */
void dp_lru_touch_segmented(dp_lru_t *lru, int32_t slot);
/* Apply the buffered hits' list moves (no-op under LRU or when none are pending). Call it
 * before reading the recency order (iteration, popitem, copy). */
void dp_lru_drain_reads(dp_lru_t *lru);
/* Remove a live slot from list, index and heap, and return it to the free list. */
void dp_lru_remove(dp_lru_t *lru, int32_t slot);
void dp_lru_set_expiry(dp_lru_t *lru, int32_t slot, int64_t expires_ns);
/* Number of live entries with expires_ns <= now_ns (walks only the expired part of the heap). */
size_t dp_lru_count_expired(const dp_lru_t *lru, int64_t now_ns);
/* Copy every live entry into `dst` (freshly initialised, dst->cap >= src->len), keeping the
 * recency order; remap[old_slot] (src->n_slots entries) receives the new slot (or -1 for free
 * slots). Cannot fail once dst has reserved src->len entries; else it may return DP_ENOMEM. */
int dp_lru_copy_into(const dp_lru_t *src, dp_lru_t *dst, int32_t *remap);
/* Up to `n` live slots with the most hits, most first; returns how many were written. */
size_t dp_lru_top_hits(const dp_lru_t *lru, int32_t *out, size_t n);
/* DP_OK if every invariant in the banner holds, else DP_ECORRUPT. O(cap). */
int dp_lru_check(const dp_lru_t *lru);

/*** Inline hot path ***/

DP_INLINE uint64_t dp_lru_mix(uint64_t hash) { return hash * 0x9E3779B97F4A7C15ULL; }

/* Under W-TinyLFU a hit or a write of the key updates its sketch block: fetch it while the
 * probe runs. */
DP_INLINE void dp_lru_prefetch(const dp_lru_t *lru, uint64_t hash) {
    if (lru->policy != DP_LRU_POLICY_LRU) dp_sketch_prefetch(&lru->sketch, hash);
}

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

/* Count an access to `slot` and make it the most recent entry: at once under LRU; under
 * W-TinyLFU its move (within its segment, or probation -> protected) is buffered. */
DP_INLINE void dp_lru_touch(dp_lru_t *lru, int32_t slot) {
    dp_lru_node_t *const nd = lru->node;
    if (DP_LIKELY((nd[slot].n_hits & DP_LRU_HITS_MASK) != DP_LRU_HITS_MASK)) nd[slot].n_hits++;
    if (lru->policy != DP_LRU_POLICY_LRU) {
        dp_lru_touch_segmented(lru, slot);
        return;
    }
    if (lru->head[0] == slot) return;
    const int32_t p = nd[slot].prev, n = nd[slot].next;
    nd[p].next = n; /* slot is not head, so p >= 0 */
    if (n >= 0) nd[n].prev = p; else lru->tail[0] = p;
    nd[slot].prev = -1;
    nd[slot].next = lru->head[0];
    nd[lru->head[0]].prev = slot;
    lru->head[0] = slot;
}

/* Accesses to a live slot since its insertion (saturating at DP_LRU_HITS_MASK). */
DP_INLINE uint32_t dp_lru_hits(const dp_lru_t *lru, int32_t slot) {
    return lru->node[slot].n_hits & DP_LRU_HITS_MASK;
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
