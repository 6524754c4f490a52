/* slots.h -- L1 storage: slot arrays (only this file knows their layout), slot allocation, the
 * hash index, the segment lists. A slot lives in node[] (32 B: what a hit reads), hashes[] (its
 * full hash, never read by a hit) and cold[] (expiry, weight; from dp_slots_need_cold only).
 * Invariants: len <= n_slots <= cap, every array holds n_slots; a live slot is in one segment
 * list head[seg]..tail[seg] (prev/next, -1 ends; seg_len counts it) and one index bucket whose
 * tag with the node's rest is its hash; free slots (seg DP_SEG_FREE, cold reads never/0/untimed)
 * chain through next from free_head; Robin Hood index, n_buckets a power of two >= 1.5 n_slots;
 * total_weight sums live weights; no cold: every slot never expires, weighs 0, is untimed.
 * dp_slots_init allocates, dp_slots_free releases (safe zeroed); the caller owns struct, user[]. */
#ifndef DP_SLOTS_H
#define DP_SLOTS_H

#include "dp_common.h"

#define DP_SLOTS_MAX_CAP ((size_t)1 << 30)
#define DP_SLOTS_FIRST 4     /* slots allocated by dp_slots_init (fewer if cap is smaller) */
#define DP_SLOTS_NEVER INT64_MAX
#define DP_SLOTS_HITS_MAX 0x1FFFFFFFu /* n_hits saturates here (29 bits) */

/* Segment lists. A policy gives them meaning; LRU uses DP_SEG_WINDOW alone. Iteration walks
 * window, protected, probation: each list most recent first. */
#define DP_SEG_WINDOW 0
#define DP_SEG_PROBATION 1
#define DP_SEG_PROTECTED 2
#define DP_SEG_FREE 3

/* The expiry structure's links of one slot (expiry.c alone reads or writes them). */
typedef struct {
    int32_t heap_pos; /* heap position; -1: untimed; DP_EXPIRY_IN_FIFO: in the write-order list */
    int32_t eprev, enext;
} dp_slot_timing_t;

/* What a hit reads of a slot: 32 bytes, two to a 64-byte aligned line. The bucket's tag and
 * `rest` together are the full hash (see dp_slots_tag), so a probe never reads hashes[]. */
typedef struct {
    uint32_t rest;           /* the bits of the hash the tag does not hold (dp_slots_rest) */
    uint32_t n_hits : 29;    /* accesses since insertion, saturating at DP_SLOTS_HITS_MAX */
    uint32_t mark : 1;       /* one bit the policy may use (W-TinyLFU: came back to its ghost) */
    uint32_t seg : 2;        /* the segment list holding the slot, or DP_SEG_FREE */
    void *user[2];           /* the caller's words; never read or freed here */
    int32_t prev, next;      /* segment list links; next also chains the free list */
} dp_slot_t;

/* The part only expiry and weights need: absent until a slot first needs it. */
typedef struct {
    int64_t expires_ns;      /* DP_SLOTS_NEVER = no expiry */
    int64_t weight;          /* the caller's weight of the entry (0 when unweighted) */
    dp_slot_timing_t timing;
} dp_slot_cold_t;

typedef struct {
    uint32_t tag;  /* home bucket << (32 - log2_buckets) | a fragment of the mixed hash */
    int32_t slot;  /* -1 = empty bucket */
} dp_bucket_t;

typedef struct {
    size_t cap, len;
    size_t n_slots;            /* allocated: len <= n_slots <= cap */
    dp_slot_t *node;
    uint64_t *hashes;          /* the caller's 64-bit key hash of each slot */
    dp_slot_cold_t *cold;      /* NULL until dp_slots_need_cold */
    int32_t free_head;
    int32_t head[3], tail[3];  /* per segment */
    size_t seg_len[3];
    int64_t total_weight;
    dp_bucket_t *table;
    size_t n_buckets;
    unsigned log2_buckets;     /* 3 .. 31 */
    unsigned mixed;            /* 1: homes from the fully mixed hash (see dp_slots_tag) */
} dp_slots_t;

int dp_slots_init(dp_slots_t *s, size_t cap);
void dp_slots_free(dp_slots_t *s);
/* Forget every entry (arrays kept). */
void dp_slots_clear(dp_slots_t *s);
/* How many slots dp_slots_reserve(s, n) allocates: the index table's bound, about doubling
 * (see slots.c), at least n, at most cap. */
size_t dp_slots_grown(const dp_slots_t *s, size_t n);
/* Room for n entries (n <= cap), every array grown together: DP_OK, DP_EINVAL if n > cap,
 * DP_ENOMEM (nothing changed). */
int dp_slots_reserve(dp_slots_t *s, size_t n);
/* Allocate the cold array (see dp_slots_need_cold): DP_OK or DP_ENOMEM (nothing changed). */
int dp_slots_add_cold(dp_slots_t *s);
/* Take a free slot for `hash` (needs len < n_slots), make it the head of segment `seg` with
 * no hits and no expiry, and index it. Returns the slot, DP_EFULL, or DP_ENOMEM if a non-zero
 * weight needs the cold array and it cannot be allocated (nothing changed on either). */
int32_t dp_slots_alloc(dp_slots_t *s, uint64_t hash, int64_t weight, int seg);
/* Unindex and unlink a live slot and return it to the free list. */
void dp_slots_release(dp_slots_t *s, int32_t slot);
/* DP_OK, or DP_ENOMEM (nothing changed) if a non-zero weight needs the cold array and it cannot
 * be allocated. */
int dp_slots_set_weight(dp_slots_t *s, int32_t slot, int64_t weight);
/* Segment list moves. */
void dp_slots_link_head(dp_slots_t *s, int seg, int32_t slot);
void dp_slots_unlink(dp_slots_t *s, int32_t slot);
void dp_slots_move_head(dp_slots_t *s, int seg, int32_t slot);
/* Iterate live slots: window, protected, then probation, each most recent first; -1 ends. */
int32_t dp_slots_first(const dp_slots_t *s);
int32_t dp_slots_next(const dp_slots_t *s, int32_t slot);
/* Up to `n` live slots with the most hits, most first; returns how many were written. */
size_t dp_slots_top_hits(const dp_slots_t *s, int32_t *out, size_t n);
/* DP_OK if every invariant in the banner holds, else DP_ECORRUPT. O(n_slots + n_buckets). */
int dp_slots_check(const dp_slots_t *s);

/*** Inline hot path and accessors ***/

/* The one gate of the cold array: every store of a finite expiry or a non-zero weight passes
 * here first (dp_slots_alloc, dp_slots_set_weight, dp_expiry_set, and callers that must not
 * fail halfway through a change call it up front). DP_OK, or DP_ENOMEM with nothing changed. */
DP_INLINE int dp_slots_need_cold(dp_slots_t *s) {
    return DP_LIKELY(s->cold != NULL) ? DP_OK : dp_slots_add_cold(s);
}

#define DP_SLOTS_PHI 0x9E3779B97F4A7C15ULL

/* A key's tag: its home bucket in the top log2_buckets bits, then more bits of the hash. The
 * home keeps the hash's low bits and XORs in a mix of the high ones: consecutive integer keys
 * (whose Python hash is the integer) get consecutive buckets, as in a dict, so reading them in
 * order walks the table in order; keys that differ only in high bits still spread. Robin Hood
 * placement keeps the long runs this makes cheap to miss in: a probe stops as soon as it is
 * farther from its home than the bucket's own entry is from its. Two blocks of consecutive keys
 * can overlap in that layout, and inserting into a dense run shifts the rest of it: once an
 * insert walks more than DP_SLOTS_LONG_WALK buckets, the table switches for good to homes from
 * the fully mixed hash (Fibonacci hashing) and is re-indexed in place, O(n) once.
 * The tag and the node's rest (dp_slots_rest) determine the hash, so equal tags and rests are
 * equal hashes: consecutive homes take the hash's bits b..31 as the fragment and bits 32..63 as
 * the rest (the home then gives bits 0..b-1); mixed homes split hash * PHI (a bijection) into
 * its high half (the tag) and its low half (the rest). */
#define DP_SLOTS_LONG_WALK 64
DP_INLINE uint32_t dp_slots_tag(const dp_slots_t *s, uint64_t hash) {
    const unsigned b = s->log2_buckets;
    if (DP_UNLIKELY(s->mixed)) return (uint32_t)((hash * DP_SLOTS_PHI) >> 32);
    const uint64_t home =
        (hash ^ (((hash >> b) * DP_SLOTS_PHI) >> (64 - b))) & (((uint64_t)1 << b) - 1);
    const uint32_t fragment = (uint32_t)(hash >> b) & ((1u << (32 - b)) - 1);
    return (uint32_t)(home << (32 - b)) | fragment;
}

/* The bits of `hash` its tag does not hold (see dp_slots_tag): kept in the node. */
DP_INLINE uint32_t dp_slots_rest(const dp_slots_t *s, uint64_t hash) {
    return DP_UNLIKELY(s->mixed) ? (uint32_t)(hash * DP_SLOTS_PHI) : (uint32_t)(hash >> 32);
}

DP_INLINE size_t dp_slots_tag_home(const dp_slots_t *s, uint32_t tag) {
    return (size_t)(tag >> (32 - s->log2_buckets));
}

DP_INLINE size_t dp_slots_probe_begin(const dp_slots_t *s, uint64_t hash) {
    return dp_slots_tag_home(s, dp_slots_tag(s, hash));
}

/* One lookup's probe: the key's tag and rest (computed once) and the next bucket to read.
 * Valid while the index is unchanged (a caller that ran code which may change it restarts). */
typedef struct {
    uint32_t tag, rest;
    size_t pos;
} dp_probe_t;

DP_INLINE void dp_slots_probe_start(const dp_slots_t *s, uint64_t hash, dp_probe_t *p) {
    p->tag = dp_slots_tag(s, hash);
    p->rest = dp_slots_rest(s, hash);
    p->pos = dp_slots_tag_home(s, p->tag);
}

/* Next slot at or after bucket p->pos whose full hash matches (its tag and rest); -1 once the
 * key cannot be further on (an empty bucket, or one whose entry sits nearer its home than the
 * key would). The caller compares keys and, on a mismatch, calls again. */
DP_INLINE int32_t dp_slots_probe_step(const dp_slots_t *s, dp_probe_t *p) {
    const uint32_t tag = p->tag, rest = p->rest;
    const size_t mask = s->n_buckets - 1, home = dp_slots_tag_home(s, tag);
    size_t i = p->pos;
    for (;;) {
        const dp_bucket_t b = s->table[i];
        if (b.slot < 0 || ((i - dp_slots_tag_home(s, b.tag)) & mask) < ((i - home) & mask)) {
            p->pos = i;
            return -1;
        }
        i = (i + 1) & mask;
        if (b.tag == tag && s->node[b.slot].rest == rest) {
            p->pos = i;
            return b.slot;
        }
    }
}

/* The same probe with the position alone as its state (the tag is recomputed per call). */
DP_INLINE int32_t dp_slots_probe_next(const dp_slots_t *s, uint64_t hash, size_t *pos) {
    dp_probe_t p;
    dp_slots_probe_start(s, hash, &p);
    p.pos = *pos;
    const int32_t slot = dp_slots_probe_step(s, &p);
    *pos = p.pos;
    return slot;
}

/* Count an access (saturating). */
DP_INLINE void dp_slots_count_hit(dp_slots_t *s, int32_t slot) {
    dp_slot_t *const nd = &s->node[slot];
    if (DP_LIKELY(nd->n_hits != DP_SLOTS_HITS_MAX)) nd->n_hits++;
}

/* Make a live slot the most recent of its own segment. */
DP_INLINE void dp_slots_to_front(dp_slots_t *s, int32_t slot) {
    dp_slot_t *const ln = s->node;
    const int seg = ln[slot].seg;
    const int32_t head = s->head[seg];
    if (head == slot) return;
    const int32_t p = ln[slot].prev, n = ln[slot].next;
    ln[p].next = n; /* slot is not head, so p >= 0 */
    if (n >= 0) ln[n].prev = p; else s->tail[seg] = p;
    ln[slot].prev = -1;
    ln[slot].next = head;
    ln[head].prev = slot;
    s->head[seg] = slot;
}

/* The full hash: its own array, which a hit never reads. */
DP_INLINE uint64_t dp_slots_hash(const dp_slots_t *s, int32_t slot) { return s->hashes[slot]; }
DP_INLINE uint32_t dp_slots_hits(const dp_slots_t *s, int32_t slot) { return s->node[slot].n_hits; }
DP_INLINE int dp_slots_seg(const dp_slots_t *s, int32_t slot) { return s->node[slot].seg; }
DP_INLINE int dp_slots_mark(const dp_slots_t *s, int32_t slot) { return s->node[slot].mark; }
DP_INLINE void dp_slots_set_mark(dp_slots_t *s, int32_t slot, int on) { s->node[slot].mark = on ? 1u : 0u; }
DP_INLINE int32_t dp_slots_prev(const dp_slots_t *s, int32_t slot) { return s->node[slot].prev; }
DP_INLINE int64_t dp_slots_weight(const dp_slots_t *s, int32_t slot) {
    return s->cold ? s->cold[slot].weight : 0;
}
DP_INLINE int64_t dp_slots_expires(const dp_slots_t *s, int32_t slot) {
    return s->cold ? s->cold[slot].expires_ns : DP_SLOTS_NEVER;
}
DP_INLINE void **dp_slots_user(dp_slots_t *s, int32_t slot) { return s->node[slot].user; }
DP_INLINE void *const *dp_slots_user_c(const dp_slots_t *s, int32_t slot) { return s->node[slot].user; }
/* Expiry links: writable only with the cold array present (only a timed slot's are written). */
extern const dp_slot_timing_t dp_slots_untimed; /* what every slot reads without it */
DP_INLINE dp_slot_timing_t *dp_slots_timing(dp_slots_t *s, int32_t slot) { return &s->cold[slot].timing; }
DP_INLINE const dp_slot_timing_t *dp_slots_timing_c(const dp_slots_t *s, int32_t slot) {
    return s->cold ? &s->cold[slot].timing : &dp_slots_untimed;
}
/* Only expiry.c writes the expiry time (it files the slot by it), after dp_slots_need_cold for
 * a finite one; without the cold array every slot already reads DP_SLOTS_NEVER. */
DP_INLINE void dp_slots_set_expires(dp_slots_t *s, int32_t slot, int64_t expires_ns) {
    if (s->cold) s->cold[slot].expires_ns = expires_ns;
}
/* Copy what the slot remembers of its accesses (count and policy mark). */
DP_INLINE void dp_slots_copy_history(dp_slots_t *dst, int32_t d, const dp_slots_t *src, int32_t s) {
    dst->node[d].n_hits = src->node[s].n_hits;
    dst->node[d].mark = src->node[s].mark;
}
/* Fetch the list neighbours a move of `slot` will write. */
DP_INLINE void dp_slots_prefetch_neighbours(const dp_slots_t *s, int32_t slot) {
    const dp_slot_t *const nd = &s->node[slot];
    if (nd->prev >= 0) DP_PREFETCH(&s->node[nd->prev]);
    if (nd->next >= 0) DP_PREFETCH(&s->node[nd->next]);
}

#endif /* DP_SLOTS_H */
