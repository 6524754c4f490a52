/* lru.c -- see lru.h for the structure, its invariants and who frees what. */
#include "lru.h"

#include <stdlib.h>
#include <string.h>

/*** Allocation ***/

_Static_assert(sizeof(dp_lru_node_t) == 64, "a node must fill exactly one cache line");

int dp_lru_init(dp_lru_t *lru, size_t cap) {
    memset(lru, 0, sizeof(*lru));
    if (cap == 0 || cap > DP_LRU_MAX_CAP) return DP_EINVAL;
    size_t n_buckets = 8;
    unsigned log2_buckets = 3;
    while (n_buckets < cap + cap / 2) {
        n_buckets <<= 1;
        log2_buckets++;
    }
    lru->cap = cap;
    lru->n_buckets = n_buckets;
    lru->shift = 64u - log2_buckets;
    lru->node = aligned_alloc(64, cap * sizeof(dp_lru_node_t));
    lru->heap = malloc(cap * sizeof(int32_t));
    lru->table = malloc(n_buckets * sizeof(dp_lru_bucket_t));
    if (!lru->node || !lru->heap || !lru->table) {
        dp_lru_free(lru);
        return DP_ENOMEM;
    }
    dp_lru_clear(lru);
    return DP_OK;
}

void dp_lru_free(dp_lru_t *lru) {
    free(lru->node);
    free(lru->heap);
    free(lru->table);
    memset(lru, 0, sizeof(*lru));
}

void dp_lru_clear(dp_lru_t *lru) {
    lru->len = 0;
    lru->head = lru->tail = -1;
    lru->total_weight = 0;
    lru->heap_len = 0;
    lru->n_timed = 0;
    lru->fifo_head = lru->fifo_tail = -1;
    for (size_t i = 0; i < lru->cap; i++) {
        lru->node[i].next = (int32_t)i + 1;
        lru->node[i].prev = -1;
        lru->node[i].heap_pos = -1;
        lru->node[i].expires_ns = DP_LRU_NEVER;
    }
    lru->node[lru->cap - 1].next = -1;
    lru->free_head = 0;
    for (size_t i = 0; i < lru->n_buckets; i++) lru->table[i].slot = -1;
}

/*** Expiry heap (min-heap on expires_ns; node[].heap_pos tracks each slot's position) ***/

#define DP_LRU_EXPIRES(lru, i) ((lru)->node[(lru)->heap[i]].expires_ns)

static void dp_lru_heap_place(dp_lru_t *lru, size_t i, int32_t slot) {
    lru->heap[i] = slot;
    lru->node[slot].heap_pos = (int32_t)i;
}

static void dp_lru_heap_up(dp_lru_t *lru, size_t i) {
    const int32_t slot = lru->heap[i];
    const int64_t key = lru->node[slot].expires_ns;
    while (i > 0) {
        const size_t parent = (i - 1) / 2;
        if (DP_LRU_EXPIRES(lru, parent) <= key) break;
        dp_lru_heap_place(lru, i, lru->heap[parent]);
        i = parent;
    }
    dp_lru_heap_place(lru, i, slot);
}

static void dp_lru_heap_down(dp_lru_t *lru, size_t i) {
    const int32_t slot = lru->heap[i];
    const int64_t key = lru->node[slot].expires_ns;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= lru->heap_len) break;
        if (child + 1 < lru->heap_len && DP_LRU_EXPIRES(lru, child + 1) < DP_LRU_EXPIRES(lru, child))
            child++;
        if (DP_LRU_EXPIRES(lru, child) >= key) break;
        dp_lru_heap_place(lru, i, lru->heap[child]);
        i = child;
    }
    dp_lru_heap_place(lru, i, slot);
}

static void dp_lru_heap_remove(dp_lru_t *lru, int32_t slot) {
    const int32_t pos = lru->node[slot].heap_pos;
    lru->node[slot].heap_pos = -1;
    const int32_t last = lru->heap[--lru->heap_len];
    if (last == slot) return;
    dp_lru_heap_place(lru, (size_t)pos, last);
    dp_lru_heap_up(lru, (size_t)pos);
    dp_lru_heap_down(lru, (size_t)lru->node[last].heap_pos);
}

/*** Write-order expiry list ***/

static void dp_lru_fifo_unlink(dp_lru_t *lru, int32_t slot) {
    dp_lru_node_t *const nd = &lru->node[slot];
    if (nd->eprev >= 0) lru->node[nd->eprev].enext = nd->enext; else lru->fifo_head = nd->enext;
    if (nd->enext >= 0) lru->node[nd->enext].eprev = nd->eprev; else lru->fifo_tail = nd->eprev;
    nd->heap_pos = -1;
}

static void dp_lru_fifo_append(dp_lru_t *lru, int32_t slot) {
    dp_lru_node_t *const nd = &lru->node[slot];
    nd->heap_pos = DP_LRU_IN_FIFO;
    nd->enext = -1;
    nd->eprev = lru->fifo_tail;
    if (lru->fifo_tail >= 0) lru->node[lru->fifo_tail].enext = slot; else lru->fifo_head = slot;
    lru->fifo_tail = slot;
}

/* Take `slot` out of whichever expiry structure holds it. */
static void dp_lru_untime(dp_lru_t *lru, int32_t slot) {
    const int32_t pos = lru->node[slot].heap_pos;
    if (pos == -1) return;
    if (pos == DP_LRU_IN_FIFO) dp_lru_fifo_unlink(lru, slot); else dp_lru_heap_remove(lru, slot);
    lru->n_timed--;
}

void dp_lru_set_expiry(dp_lru_t *lru, int32_t slot, int64_t expires_ns) {
    dp_lru_untime(lru, slot);
    lru->node[slot].expires_ns = expires_ns;
    if (expires_ns == DP_LRU_NEVER) return;
    lru->n_timed++;
    if (lru->fifo_tail < 0 || lru->node[lru->fifo_tail].expires_ns <= expires_ns) {
        dp_lru_fifo_append(lru, slot);
    } else {
        dp_lru_heap_place(lru, lru->heap_len++, slot);
        dp_lru_heap_up(lru, lru->heap_len - 1);
    }
}

static size_t dp_lru_count_expired_from(const dp_lru_t *lru, size_t i, int64_t now_ns) {
    /* Recursion depth is the heap height, at most 31 for DP_LRU_MAX_CAP. */
    if (i >= lru->heap_len || DP_LRU_EXPIRES(lru, i) > now_ns) return 0;
    return 1 + dp_lru_count_expired_from(lru, 2 * i + 1, now_ns) +
           dp_lru_count_expired_from(lru, 2 * i + 2, now_ns);
}

size_t dp_lru_count_expired(const dp_lru_t *lru, int64_t now_ns) {
    size_t n = dp_lru_count_expired_from(lru, 0, now_ns);
    for (int32_t s = lru->fifo_head; s >= 0 && lru->node[s].expires_ns <= now_ns;
         s = lru->node[s].enext)
        n++;
    return n;
}

/*** Index (linear probing, backward-shift deletion) ***/

DP_INLINE size_t dp_lru_home(const dp_lru_t *lru, int32_t slot) {
    return (size_t)(dp_lru_mix(lru->node[slot].hash) >> lru->shift);
}

static void dp_lru_index_add(dp_lru_t *lru, int32_t slot) {
    const size_t mask = lru->n_buckets - 1;
    size_t i = dp_lru_home(lru, slot);
    while (lru->table[i].slot >= 0) i = (i + 1) & mask;
    lru->table[i].slot = slot;
    lru->table[i].tag = (uint32_t)dp_lru_mix(lru->node[slot].hash);
}

static void dp_lru_index_del(dp_lru_t *lru, int32_t slot) {
    const size_t mask = lru->n_buckets - 1;
    size_t i = dp_lru_home(lru, slot);
    while (lru->table[i].slot != slot) i = (i + 1) & mask;
    /* Shift later members of the cluster back so that no probe meets a hole too early. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        const int32_t s = lru->table[j].slot;
        if (s < 0) break;
        const size_t home = dp_lru_home(lru, s);
        /* s may fill the hole at i unless its home lies cyclically in (i, j]. */
        const int home_after_hole = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
        if (!home_after_hole) {
            lru->table[i] = lru->table[j];
            i = j;
        }
    }
    lru->table[i].slot = -1;
}

/*** Entries ***/

int32_t dp_lru_insert(dp_lru_t *lru, uint64_t hash, int64_t weight, int64_t expires_ns) {
    if (lru->len >= lru->cap || lru->free_head < 0) return DP_EFULL;
    const int32_t slot = lru->free_head;
    dp_lru_node_t *const nd = &lru->node[slot];
    lru->free_head = nd->next;
    nd->hash = hash;
    nd->n_hits = 0;
    nd->prev = -1;
    nd->next = lru->head;
    nd->heap_pos = -1;
    nd->expires_ns = DP_LRU_NEVER;
    nd->weight = weight;
    nd->user[0] = nd->user[1] = NULL;
    lru->total_weight += weight;
    if (lru->head >= 0) lru->node[lru->head].prev = slot; else lru->tail = slot;
    lru->head = slot;
    lru->len++;
    dp_lru_index_add(lru, slot);
    if (expires_ns != DP_LRU_NEVER) dp_lru_set_expiry(lru, slot, expires_ns);
    return slot;
}

void dp_lru_remove(dp_lru_t *lru, int32_t slot) {
    dp_lru_node_t *const nd = &lru->node[slot];
    dp_lru_index_del(lru, slot);
    dp_lru_untime(lru, slot);
    lru->total_weight -= nd->weight;
    const int32_t p = nd->prev, n = nd->next;
    if (p >= 0) lru->node[p].next = n; else lru->head = n;
    if (n >= 0) lru->node[n].prev = p; else lru->tail = p;
    nd->next = lru->free_head;
    nd->prev = -1;
    nd->expires_ns = DP_LRU_NEVER;
    lru->free_head = slot;
    lru->len--;
}

int dp_lru_copy_into(const dp_lru_t *src, dp_lru_t *dst, int32_t *remap) {
    if (dst->cap < src->len || dst->len != 0) return DP_EINVAL;
    for (size_t i = 0; i < src->cap; i++) remap[i] = -1;
    /* Oldest first, so that each insert at the head rebuilds the same order. */
    for (int32_t s = src->tail; s >= 0; s = src->node[s].prev) {
        const dp_lru_node_t *const from = &src->node[s];
        const int32_t d = dp_lru_insert(dst, from->hash, from->weight, from->expires_ns);
        dst->node[d].n_hits = from->n_hits;
        dst->node[d].user[0] = from->user[0];
        dst->node[d].user[1] = from->user[1];
        remap[s] = d;
    }
    return DP_OK;
}

void dp_lru_set_weight(dp_lru_t *lru, int32_t slot, int64_t weight) {
    lru->total_weight += weight - lru->node[slot].weight;
    lru->node[slot].weight = weight;
}

/*** Access ranking ***/

/* Sift `slot` down from position i of a size-k min-heap (on n_hits) held in out[]. */
static void dp_lru_hits_down(const dp_lru_t *lru, int32_t *out, size_t k, size_t i, int32_t slot) {
    const uint32_t h = lru->node[slot].n_hits;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= k) break;
        if (c + 1 < k && lru->node[out[c + 1]].n_hits < lru->node[out[c]].n_hits) c++;
        if (lru->node[out[c]].n_hits >= h) break;
        out[i] = out[c];
        i = c;
    }
    out[i] = slot;
}

size_t dp_lru_top_hits(const dp_lru_t *lru, int32_t *out, size_t n) {
    /* Keep the n best in a min-heap: O(len log n); then heap-sort it, most hits first. */
    size_t k = 0;
    if (n == 0) return 0;
    for (int32_t s = lru->head; s >= 0; s = lru->node[s].next) {
        const uint32_t h = lru->node[s].n_hits;
        if (k < n) {
            size_t i = k++;
            while (i > 0 && lru->node[out[(i - 1) / 2]].n_hits > h) {
                out[i] = out[(i - 1) / 2];
                i = (i - 1) / 2;
            }
            out[i] = s;
        } else if (h > lru->node[out[0]].n_hits) {
            dp_lru_hits_down(lru, out, k, 0, s);
        }
    }
    for (size_t end = k; end > 1; end--) {
        const int32_t min = out[0];
        dp_lru_hits_down(lru, out, end - 1, 0, out[end - 1]);
        out[end - 1] = min;
    }
    return k;
}

/*** Debug check ***/

int dp_lru_check(const dp_lru_t *lru) {
    if (lru->len > lru->cap) return DP_ECORRUPT;
    size_t n = 0, n_finite = 0;
    int64_t weight = 0;
    int32_t prev = -1;
    for (int32_t s = lru->head; s >= 0; s = lru->node[s].next) {
        if ((size_t)s >= lru->cap || lru->node[s].prev != prev || ++n > lru->len)
            return DP_ECORRUPT;
        weight += lru->node[s].weight;
        if (lru->node[s].expires_ns != DP_LRU_NEVER) n_finite++;
        prev = s;
    }
    if (n != lru->len || lru->tail != prev) return DP_ECORRUPT;
    if (weight != lru->total_weight) return DP_ECORRUPT;
    size_t n_free = 0;
    for (int32_t s = lru->free_head; s >= 0; s = lru->node[s].next)
        if ((size_t)s >= lru->cap || ++n_free > lru->cap - lru->len) return DP_ECORRUPT;
    if (n_free != lru->cap - lru->len) return DP_ECORRUPT;
    size_t n_indexed = 0;
    const size_t mask = lru->n_buckets - 1;
    for (size_t i = 0; i < lru->n_buckets; i++) {
        const int32_t s = lru->table[i].slot;
        if (s < 0) continue;
        n_indexed++;
        if ((size_t)s >= lru->cap || lru->table[i].tag != (uint32_t)dp_lru_mix(lru->node[s].hash))
            return DP_ECORRUPT;
        /* Every bucket from home to i must be occupied, or a probe would stop short. */
        for (size_t j = dp_lru_home(lru, s); j != i; j = (j + 1) & mask)
            if (lru->table[j].slot < 0) return DP_ECORRUPT;
    }
    if (n_indexed != lru->len) return DP_ECORRUPT;
    size_t n_fifo = 0;
    int32_t eprev = -1;
    for (int32_t s = lru->fifo_head; s >= 0; s = lru->node[s].enext) {
        if ((size_t)s >= lru->cap || lru->node[s].eprev != eprev || ++n_fifo > n_finite ||
            lru->node[s].heap_pos != DP_LRU_IN_FIFO || lru->node[s].expires_ns == DP_LRU_NEVER)
            return DP_ECORRUPT;
        eprev = s;
    }
    if (lru->fifo_tail != eprev) return DP_ECORRUPT;
    if (lru->heap_len + n_fifo != n_finite || lru->n_timed != n_finite) return DP_ECORRUPT;
    for (size_t i = 0; i < lru->heap_len; i++) {
        const int32_t s = lru->heap[i];
        if ((size_t)s >= lru->cap || lru->node[s].heap_pos != (int32_t)i ||
            lru->node[s].expires_ns == DP_LRU_NEVER)
            return DP_ECORRUPT;
        if (i > 0 && DP_LRU_EXPIRES(lru, (i - 1) / 2) > lru->node[s].expires_ns) return DP_ECORRUPT;
    }
    return DP_OK;
}
