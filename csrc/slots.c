/* slots.c -- see slots.h for the structure, its invariants and who frees what. */
#include "slots.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(dp_slot_t) == 32, "two nodes must fill exactly one cache line");
_Static_assert(sizeof(dp_slot_cold_t) == 32, "two cold parts to a cache line");

const dp_slot_timing_t dp_slots_untimed = {-1, -1, -1};

#ifdef DP_SLOTS_FAIL_ALLOCS /* the C tests: the allocation after this many more fails (-1: none) */
long dp_slots_allocs_until_failure = -1;
static void *dp_slots_big_alloc(size_t n_bytes) {
    if (dp_slots_allocs_until_failure >= 0 && dp_slots_allocs_until_failure-- == 0) return NULL;
    return dp_big_alloc(n_bytes);
}
#else
#define dp_slots_big_alloc dp_big_alloc
#endif

/*** Allocation ***/

/* The index's load bound: a table of n_buckets indexes n_slots if it has 1.5 buckets per slot. */
DP_INLINE int dp_slots_table_holds(size_t n_buckets, size_t n_slots) {
    return n_slots + n_slots / 2 <= n_buckets;
}

/* n_buckets and its log2 for a table of n_slots entries: the smallest power of two (>= 8)
 * that holds them. */
static void dp_slots_size_table(size_t n_slots, size_t *n_buckets, unsigned *log2_buckets) {
    size_t n = 8;
    unsigned log2_n = 3;
    while (!dp_slots_table_holds(n, n_slots)) {
        n <<= 1;
        log2_n++;
    }
    *n_buckets = n;
    *log2_buckets = log2_n;
}

/* What a slot's cold part holds while it is free or untimed and unweighted. */
static void dp_slots_cold_reset(dp_slot_cold_t *c) {
    c->expires_ns = DP_SLOTS_NEVER;
    c->weight = 0;
    c->timing = dp_slots_untimed;
}

/* Slots [from, to) as free slots, chained in order in front of the current free list. */
static void dp_slots_chain_free(dp_slots_t *s, size_t from, size_t to) {
    for (size_t i = from; i < to; i++) {
        dp_slot_t *const nd = &s->node[i];
        s->node[i].next = i + 1 < to ? (int32_t)i + 1 : s->free_head;
        s->node[i].prev = -1;
        nd->n_hits = 0;
        nd->mark = 0;
        nd->seg = DP_SEG_FREE;
        if (s->cold) dp_slots_cold_reset(&s->cold[i]);
    }
    if (to > from) s->free_head = (int32_t)from;
}

/* How far bucket i's entry sits from its home. */
DP_INLINE size_t dp_slots_distance(const dp_slots_t *s, size_t i) {
    return (i - dp_slots_tag_home(s, s->table[i].tag)) & (s->n_buckets - 1);
}

#ifdef DP_SLOTS_COUNT_WALKS /* the C tests: every bucket an index insert walked, summed */
size_t dp_slots_walks = 0;
#define DP_SLOTS_WALKED(n) (dp_slots_walks += (n))
#else
#define DP_SLOTS_WALKED(n) ((void)0)
#endif

/* Robin Hood insertion: an entry nearer its home than the one being placed gives way. Returns
 * how many buckets it walked. */
static size_t dp_slots_index_add(dp_slots_t *s, int32_t slot) {
    const size_t mask = s->n_buckets - 1;
    dp_bucket_t cur = {dp_slots_tag(s, s->hashes[slot]), slot};
    size_t i = dp_slots_tag_home(s, cur.tag), dist = 0, walked = 0;
    for (;; walked++) {
        if (s->table[i].slot < 0) {
            s->table[i] = cur;
            DP_SLOTS_WALKED(walked);
            return walked;
        }
        const size_t theirs = dp_slots_distance(s, i);
        if (theirs < dist) {
            const dp_bucket_t held = s->table[i];
            s->table[i] = cur;
            cur = held;
            dist = theirs;
        }
        i = (i + 1) & mask;
        dist++;
    }
}

/* Index every live slot anew (the table's size kept). */
static void dp_slots_reindex(dp_slots_t *s) {
    for (size_t i = 0; i < s->n_buckets; i++) s->table[i].slot = -1;
    for (size_t i = 0; i < s->n_slots; i++)
        if (s->node[i].seg != DP_SEG_FREE) dp_slots_index_add(s, (int32_t)i);
}

/* Whether a walk of `walked` buckets ends the consecutive-key layout (see dp_slots_tag). */
static int dp_slots_walk_too_long(const dp_slots_t *s, size_t walked) {
    return DP_UNLIKELY(walked > DP_SLOTS_LONG_WALK) && !s->mixed;
}

/* Leave the consecutive-key layout for good: mixed homes, every live slot indexed anew. */
static void dp_slots_go_mixed(dp_slots_t *s) {
    s->mixed = 1;
    for (size_t i = 0; i < s->n_slots; i++) s->node[i].rest = dp_slots_rest(s, s->hashes[i]);
    dp_slots_reindex(s);
}

static void dp_slots_index_del(dp_slots_t *s, int32_t slot) {
    const size_t mask = s->n_buckets - 1;
    size_t i = dp_slots_tag_home(s, dp_slots_tag(s, s->hashes[slot]));
    while (s->table[i].slot != slot) i = (i + 1) & mask;
    /* Shift the displaced entries after it back by one, up to an empty bucket or an entry at
     * its home: every distance stays within one of its predecessor's. */
    for (size_t j = (i + 1) & mask; s->table[j].slot >= 0 && dp_slots_distance(s, j) > 0;
         j = (j + 1) & mask) {
        s->table[i] = s->table[j];
        i = j;
    }
    s->table[i].slot = -1;
}

/* The most slots a table of n_buckets indexes (the inverse of dp_slots_size_table). */
static size_t dp_slots_fit(size_t n_buckets) {
    size_t m = n_buckets / 3 * 2;
    while (dp_slots_table_holds(n_buckets, m + 1)) m++;
    return m;
}

/* Growth fills the index to its bound: as many slots as the current table indexes, or if that
 * is under 1.5 x as many as now, as many as a table twice as large does (about doubling).
 * Doubling a power of two instead gave 2 buckets per slot after each growth (16 B per slot
 * where 12 do): 10,000 entries in a cache made for 1M took 92 B each, now 61. */
size_t dp_slots_grown(const dp_slots_t *s, size_t n) {
    if (n <= s->n_slots) return s->n_slots;
    size_t n_slots = dp_slots_fit(s->n_buckets);
    if (n_slots < s->n_slots + s->n_slots / 2) n_slots = dp_slots_fit(2 * s->n_buckets);
    if (n_slots < n) n_slots = n;
    if (n_slots > s->cap) n_slots = s->cap;
    return n_slots;
}

/* `fresh` (a grown array) with the n_old elements of `size` bytes of `old`, which is freed. */
static void *dp_slots_moved(void *fresh, void *old, size_t n_old, size_t size) {
    memcpy(fresh, old, n_old * size);
    dp_big_free(old, n_old * size);
    return fresh;
}

int dp_slots_reserve(dp_slots_t *s, size_t n) {
    if (n <= s->n_slots) return DP_OK;
    if (n > s->cap) return DP_EINVAL;
    const size_t n_slots = dp_slots_grown(s, n);
    size_t n_buckets;
    unsigned log2_buckets;
    dp_slots_size_table(n_slots, &n_buckets, &log2_buckets);
    /* Every array or none: a failure leaves the struct as it was. */
    dp_slot_t *node = dp_slots_big_alloc(n_slots * sizeof(dp_slot_t));
    uint64_t *hashes = dp_slots_big_alloc(n_slots * sizeof(uint64_t));
    dp_slot_cold_t *cold = s->cold ? dp_slots_big_alloc(n_slots * sizeof(dp_slot_cold_t)) : NULL;
    dp_bucket_t *table = n_buckets != s->n_buckets
                             ? dp_slots_big_alloc(n_buckets * sizeof(dp_bucket_t))
                             : s->table;
    if (!node || !hashes || (s->cold && !cold) || !table) {
        dp_big_free(node, n_slots * sizeof(dp_slot_t));
        dp_big_free(hashes, n_slots * sizeof(uint64_t));
        dp_big_free(cold, n_slots * sizeof(dp_slot_cold_t));
        if (table != s->table) dp_big_free(table, n_buckets * sizeof(dp_bucket_t));
        return DP_ENOMEM;
    }
    s->node = dp_slots_moved(node, s->node, s->n_slots, sizeof(dp_slot_t));
    s->hashes = dp_slots_moved(hashes, s->hashes, s->n_slots, sizeof(uint64_t));
    if (cold) s->cold = dp_slots_moved(cold, s->cold, s->n_slots, sizeof(dp_slot_cold_t));
    dp_slots_chain_free(s, s->n_slots, n_slots);
    s->n_slots = n_slots;
    if (table != s->table) {
        /* Rehash: every live slot into the larger table (slots keep their numbers). */
        dp_big_free(s->table, s->n_buckets * sizeof(dp_bucket_t));
        s->table = table;
        s->n_buckets = n_buckets;
        s->log2_buckets = log2_buckets;
        /* A long walk here switches to mixed homes at once (dp_slots_reindex then adds every
         * live slot): finishing the rehash in the old layout first could be quadratic. */
        for (size_t i = 0; i < n_buckets; i++) s->table[i].slot = -1;
        for (size_t i = 0; i < n_slots; i++) {
            if (s->node[i].seg == DP_SEG_FREE) continue;
            if (dp_slots_walk_too_long(s, dp_slots_index_add(s, (int32_t)i))) {
                dp_slots_go_mixed(s);
                break;
            }
        }
    }
    return DP_OK;
}

int dp_slots_init(dp_slots_t *s, size_t cap) {
    memset(s, 0, sizeof(*s));
    if (cap == 0 || cap > DP_SLOTS_MAX_CAP) return DP_EINVAL;
    s->cap = cap;
    s->n_slots = cap < DP_SLOTS_FIRST ? cap : DP_SLOTS_FIRST;
    dp_slots_size_table(s->n_slots, &s->n_buckets, &s->log2_buckets);
    s->node = dp_slots_big_alloc(s->n_slots * sizeof(dp_slot_t));
    s->hashes = dp_slots_big_alloc(s->n_slots * sizeof(uint64_t));
    s->table = dp_slots_big_alloc(s->n_buckets * sizeof(dp_bucket_t));
    if (!s->node || !s->hashes || !s->table) {
        dp_slots_free(s);
        return DP_ENOMEM;
    }
    dp_slots_clear(s);
    return DP_OK;
}

int dp_slots_add_cold(dp_slots_t *s) {
    if (s->cold) return DP_OK;
    dp_slot_cold_t *const cold = dp_slots_big_alloc(s->n_slots * sizeof(dp_slot_cold_t));
    if (!cold) return DP_ENOMEM;
    /* Every slot reads as it did without the array: never expires, weight 0, untimed. */
    for (size_t i = 0; i < s->n_slots; i++) dp_slots_cold_reset(&cold[i]);
    s->cold = cold;
    return DP_OK;
}

void dp_slots_free(dp_slots_t *s) {
    dp_big_free(s->node, s->n_slots * sizeof(dp_slot_t));
    dp_big_free(s->hashes, s->n_slots * sizeof(uint64_t));
    dp_big_free(s->cold, s->n_slots * sizeof(dp_slot_cold_t));
    dp_big_free(s->table, s->n_buckets * sizeof(dp_bucket_t));
    memset(s, 0, sizeof(*s));
}

void dp_slots_clear(dp_slots_t *s) {
    s->len = 0;
    for (int seg = 0; seg < 3; seg++) {
        s->head[seg] = s->tail[seg] = -1;
        s->seg_len[seg] = 0;
    }
    s->total_weight = 0;
    s->free_head = -1;
    dp_slots_chain_free(s, 0, s->n_slots);
    for (size_t i = 0; i < s->n_buckets; i++) s->table[i].slot = -1;
}

/*** Segment lists ***/

void dp_slots_link_head(dp_slots_t *s, int seg, int32_t slot) {
    dp_slot_t *const ln = s->node;
    ln[slot].seg = (uint32_t)seg;
    ln[slot].prev = -1;
    ln[slot].next = s->head[seg];
    if (s->head[seg] >= 0) ln[s->head[seg]].prev = slot; else s->tail[seg] = slot;
    s->head[seg] = slot;
    s->seg_len[seg]++;
}

void dp_slots_unlink(dp_slots_t *s, int32_t slot) {
    dp_slot_t *const ln = s->node;
    const int seg = ln[slot].seg;
    const int32_t p = ln[slot].prev, n = ln[slot].next;
    if (p >= 0) ln[p].next = n; else s->head[seg] = n;
    if (n >= 0) ln[n].prev = p; else s->tail[seg] = p;
    s->seg_len[seg]--;
}

void dp_slots_move_head(dp_slots_t *s, int seg, int32_t slot) {
    dp_slots_unlink(s, slot);
    dp_slots_link_head(s, seg, slot);
}

int32_t dp_slots_first(const dp_slots_t *s) {
    if (s->head[DP_SEG_WINDOW] >= 0) return s->head[DP_SEG_WINDOW];
    if (s->head[DP_SEG_PROTECTED] >= 0) return s->head[DP_SEG_PROTECTED];
    return s->head[DP_SEG_PROBATION];
}

int32_t dp_slots_next(const dp_slots_t *s, int32_t slot) {
    if (s->node[slot].next >= 0) return s->node[slot].next;
    switch (s->node[slot].seg) {
        case DP_SEG_WINDOW:
            if (s->head[DP_SEG_PROTECTED] >= 0) return s->head[DP_SEG_PROTECTED];
            return s->head[DP_SEG_PROBATION];
        case DP_SEG_PROTECTED:
            return s->head[DP_SEG_PROBATION];
        default:
            return -1;
    }
}

/*** Entries ***/

int32_t dp_slots_alloc(dp_slots_t *s, uint64_t hash, int64_t weight, int seg) {
    if (s->len >= s->n_slots) return DP_EFULL;
    if (weight != 0 && dp_slots_need_cold(s) != DP_OK) return DP_ENOMEM;
    const int32_t slot = s->free_head;
    dp_slot_t *const nd = &s->node[slot];
    s->free_head = s->node[slot].next;
    s->hashes[slot] = hash;
    nd->rest = dp_slots_rest(s, hash);
    nd->n_hits = 0;
    nd->mark = 0;
    nd->user[0] = nd->user[1] = NULL;
    if (s->cold) { /* a free slot's cold part already reads never/untimed */
        s->cold[slot].weight = weight;
        s->total_weight += weight;
    }
    dp_slots_link_head(s, seg, slot);
    s->len++;
    if (dp_slots_walk_too_long(s, dp_slots_index_add(s, slot))) dp_slots_go_mixed(s);
    return slot;
}

void dp_slots_release(dp_slots_t *s, int32_t slot) {
    dp_slot_t *const nd = &s->node[slot];
    dp_slots_index_del(s, slot);
    dp_slots_unlink(s, slot);
    nd->seg = DP_SEG_FREE;
    nd->n_hits = 0;
    nd->mark = 0;
    s->node[slot].next = s->free_head;
    s->node[slot].prev = -1;
    if (s->cold) { /* the expiry links were reset when the slot was untimed */
        s->total_weight -= s->cold[slot].weight;
        s->cold[slot].weight = 0;
        s->cold[slot].expires_ns = DP_SLOTS_NEVER;
    }
    s->free_head = slot;
    s->len--;
}

int dp_slots_set_weight(dp_slots_t *s, int32_t slot, int64_t weight) {
    if (weight != 0 && dp_slots_need_cold(s) != DP_OK) return DP_ENOMEM;
    if (s->cold) {
        s->total_weight += weight - s->cold[slot].weight;
        s->cold[slot].weight = weight;
    }
    return DP_OK;
}

/*** Access ranking ***/

/* Sift `slot` down from position i of a size-k min-heap (on hits) held in out[]. */
static void dp_slots_hits_down(const dp_slots_t *s, int32_t *out, size_t k, size_t i, int32_t slot) {
    const uint32_t h = dp_slots_hits(s, slot);
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= k) break;
        if (c + 1 < k && dp_slots_hits(s, out[c + 1]) < dp_slots_hits(s, out[c])) c++;
        if (dp_slots_hits(s, out[c]) >= h) break;
        out[i] = out[c];
        i = c;
    }
    out[i] = slot;
}

size_t dp_slots_top_hits(const dp_slots_t *s, int32_t *out, size_t n) {
    /* Keep the n best in a min-heap: O(len log n); then heap-sort it, most hits first. */
    size_t k = 0;
    if (n == 0) return 0;
    for (int32_t i = dp_slots_first(s); i >= 0; i = dp_slots_next(s, i)) {
        const uint32_t h = dp_slots_hits(s, i);
        if (k < n) {
            size_t j = k++;
            while (j > 0 && dp_slots_hits(s, out[(j - 1) / 2]) > h) {
                out[j] = out[(j - 1) / 2];
                j = (j - 1) / 2;
            }
            out[j] = i;
        } else if (h > dp_slots_hits(s, out[0])) {
            dp_slots_hits_down(s, out, k, 0, i);
        }
    }
    for (size_t end = k; end > 1; end--) {
        const int32_t min = out[0];
        dp_slots_hits_down(s, out, end - 1, 0, out[end - 1]);
        out[end - 1] = min;
    }
    return k;
}

/*** Debug check ***/

int dp_slots_check(const dp_slots_t *s) {
    if (s->len > s->n_slots || s->n_slots > s->cap) return DP_ECORRUPT;
    if (!dp_slots_table_holds(s->n_buckets, s->n_slots) || (s->n_buckets & (s->n_buckets - 1)))
        return DP_ECORRUPT;
    size_t n = 0;
    int64_t weight = 0;
    for (int seg = 0; seg < 3; seg++) {
        size_t n_seg = 0;
        int32_t prev = -1;
        for (int32_t i = s->head[seg]; i >= 0; i = s->node[i].next) {
            if ((size_t)i >= s->n_slots || s->node[i].prev != prev || ++n > s->len ||
                (int)s->node[i].seg != seg)
                return DP_ECORRUPT;
            weight += dp_slots_weight(s, i);
            n_seg++;
            prev = i;
        }
        if (s->tail[seg] != prev || s->seg_len[seg] != n_seg) return DP_ECORRUPT;
    }
    if (n != s->len || weight != s->total_weight) return DP_ECORRUPT;
    size_t n_free = 0;
    for (int32_t i = s->free_head; i >= 0; i = s->node[i].next) {
        if ((size_t)i >= s->n_slots || ++n_free > s->n_slots - s->len ||
            s->node[i].seg != DP_SEG_FREE)
            return DP_ECORRUPT;
        /* A free slot's cold part reads as no cold part at all. */
        const dp_slot_timing_t *const t = dp_slots_timing_c(s, i);
        if (dp_slots_weight(s, i) != 0 || dp_slots_expires(s, i) != DP_SLOTS_NEVER ||
            t->heap_pos != -1)
            return DP_ECORRUPT;
    }
    if (n_free != s->n_slots - s->len) return DP_ECORRUPT;
    size_t n_indexed = 0;
    const size_t mask = s->n_buckets - 1;
    for (size_t i = 0; i < s->n_buckets; i++) {
        const int32_t o = s->table[i].slot;
        if (o < 0) continue;
        n_indexed++;
        if ((size_t)o >= s->n_slots || s->node[o].seg == DP_SEG_FREE ||
            s->table[i].tag != dp_slots_tag(s, s->hashes[o]) ||
            s->node[o].rest != dp_slots_rest(s, s->hashes[o]))
            return DP_ECORRUPT;
        /* A distance at most one more than the previous bucket's (0 after an empty one):
         * then no probe stops short of its key. */
        const size_t prev = (i - 1) & mask;
        const size_t limit = s->table[prev].slot < 0 ? 0 : dp_slots_distance(s, prev) + 1;
        if (dp_slots_distance(s, i) > limit) return DP_ECORRUPT;
    }
    return n_indexed == s->len ? DP_OK : DP_ECORRUPT;
}
