/* expiry.c -- see expiry.h for the structure, its invariants and who frees what. */
#include "expiry.h"

#include <stdlib.h>
#include <string.h>

int dp_expiry_init(dp_expiry_t *e, size_t n_slots) {
    memset(e, 0, sizeof(*e));
    dp_expiry_clear(e);
    return dp_expiry_reserve(e, n_slots);
}

void dp_expiry_free(dp_expiry_t *e) {
    dp_big_free(e->heap, e->n_heap * sizeof(int32_t));
    memset(e, 0, sizeof(*e));
}

void dp_expiry_clear(dp_expiry_t *e) {
    e->heap_len = 0;
    e->n_timed = 0;
    e->fifo_head = e->fifo_tail = -1;
}

int dp_expiry_reserve(dp_expiry_t *e, size_t n_slots) {
    if (n_slots <= e->n_heap) return DP_OK;
    int32_t *heap = dp_big_alloc(n_slots * sizeof(int32_t));
    if (!heap) return DP_ENOMEM;
    if (e->heap_len) memcpy(heap, e->heap, e->heap_len * sizeof(int32_t));
    dp_big_free(e->heap, e->n_heap * sizeof(int32_t));
    e->heap = heap;
    e->n_heap = n_slots;
    return DP_OK;
}

/*** Min-heap on expires_ns (timing.heap_pos tracks each slot's position) ***/

static void dp_expiry_place(dp_expiry_t *e, dp_slots_t *s, size_t i, int32_t slot) {
    e->heap[i] = slot;
    dp_slots_timing(s, slot)->heap_pos = (int32_t)i;
}

static void dp_expiry_up(dp_expiry_t *e, dp_slots_t *s, size_t i) {
    const int32_t slot = e->heap[i];
    const int64_t key = dp_slots_expires(s, slot);
    while (i > 0) {
        const size_t parent = (i - 1) / 2;
        if (dp_slots_expires(s, e->heap[parent]) <= key) break;
        dp_expiry_place(e, s, i, e->heap[parent]);
        i = parent;
    }
    dp_expiry_place(e, s, i, slot);
}

static void dp_expiry_down(dp_expiry_t *e, dp_slots_t *s, size_t i) {
    const int32_t slot = e->heap[i];
    const int64_t key = dp_slots_expires(s, slot);
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= e->heap_len) break;
        if (child + 1 < e->heap_len &&
            dp_slots_expires(s, e->heap[child + 1]) < dp_slots_expires(s, e->heap[child]))
            child++;
        if (dp_slots_expires(s, e->heap[child]) >= key) break;
        dp_expiry_place(e, s, i, e->heap[child]);
        i = child;
    }
    dp_expiry_place(e, s, i, slot);
}

static void dp_expiry_heap_remove(dp_expiry_t *e, dp_slots_t *s, int32_t slot) {
    const int32_t pos = dp_slots_timing(s, slot)->heap_pos;
    dp_slots_timing(s, slot)->heap_pos = -1;
    const int32_t last = e->heap[--e->heap_len];
    if (last == slot) return;
    dp_expiry_place(e, s, (size_t)pos, last);
    dp_expiry_up(e, s, (size_t)pos);
    dp_expiry_down(e, s, (size_t)dp_slots_timing(s, last)->heap_pos);
}

/*** Write-order list ***/

static void dp_expiry_fifo_unlink(dp_expiry_t *e, dp_slots_t *s, int32_t slot) {
    dp_slot_timing_t *const t = dp_slots_timing(s, slot);
    if (t->eprev >= 0) dp_slots_timing(s, t->eprev)->enext = t->enext; else e->fifo_head = t->enext;
    if (t->enext >= 0) dp_slots_timing(s, t->enext)->eprev = t->eprev; else e->fifo_tail = t->eprev;
    t->heap_pos = -1;
}

static void dp_expiry_fifo_append(dp_expiry_t *e, dp_slots_t *s, int32_t slot) {
    dp_slot_timing_t *const t = dp_slots_timing(s, slot);
    t->heap_pos = DP_EXPIRY_IN_FIFO;
    t->enext = -1;
    t->eprev = e->fifo_tail;
    if (e->fifo_tail >= 0) dp_slots_timing(s, e->fifo_tail)->enext = slot; else e->fifo_head = slot;
    e->fifo_tail = slot;
}

/*** API ***/

void dp_expiry_untime(dp_expiry_t *e, dp_slots_t *s, int32_t slot) {
    const int32_t pos = dp_slots_timing_c(s, slot)->heap_pos; /* -1 without a cold array */
    if (pos == -1) return;
    if (pos == DP_EXPIRY_IN_FIFO) dp_expiry_fifo_unlink(e, s, slot); else dp_expiry_heap_remove(e, s, slot);
    e->n_timed--;
}

int dp_expiry_set(dp_expiry_t *e, dp_slots_t *s, int32_t slot, int64_t expires_ns) {
    if (expires_ns != DP_SLOTS_NEVER && dp_slots_need_cold(s) != DP_OK) return DP_ENOMEM;
    dp_expiry_untime(e, s, slot);
    dp_slots_set_expires(s, slot, expires_ns);
    if (expires_ns == DP_SLOTS_NEVER) return DP_OK;
    e->n_timed++;
    if (e->fifo_tail < 0 || dp_slots_expires(s, e->fifo_tail) <= expires_ns) {
        dp_expiry_fifo_append(e, s, slot);
    } else {
        dp_expiry_place(e, s, e->heap_len++, slot);
        dp_expiry_up(e, s, e->heap_len - 1);
    }
    return DP_OK;
}

static size_t dp_expiry_count_from(const dp_expiry_t *e, const dp_slots_t *s, size_t i,
                                   int64_t now_ns) {
    /* Recursion depth is the heap height, at most 31 for DP_SLOTS_MAX_CAP. */
    if (i >= e->heap_len || dp_slots_expires(s, e->heap[i]) > now_ns) return 0;
    return 1 + dp_expiry_count_from(e, s, 2 * i + 1, now_ns) +
           dp_expiry_count_from(e, s, 2 * i + 2, now_ns);
}

size_t dp_expiry_count(const dp_expiry_t *e, const dp_slots_t *s, int64_t now_ns) {
    size_t n = dp_expiry_count_from(e, s, 0, now_ns);
    for (int32_t i = e->fifo_head; i >= 0 && dp_slots_expires(s, i) <= now_ns;
         i = dp_slots_timing_c(s, i)->enext)
        n++;
    return n;
}

int dp_expiry_check(const dp_expiry_t *e, const dp_slots_t *s) {
    if (e->heap_len > e->n_heap || e->n_heap < s->n_slots || e->n_timed > s->len) return DP_ECORRUPT;
    size_t n_finite = 0;
    for (int32_t i = dp_slots_first(s); i >= 0; i = dp_slots_next(s, i)) {
        const int32_t pos = dp_slots_timing_c(s, i)->heap_pos;
        const int timed = dp_slots_expires(s, i) != DP_SLOTS_NEVER;
        if (timed != (pos != -1)) return DP_ECORRUPT;
        n_finite += (size_t)timed;
    }
    size_t n_fifo = 0;
    int32_t eprev = -1;
    for (int32_t i = e->fifo_head; i >= 0; i = dp_slots_timing_c(s, i)->enext) {
        const dp_slot_timing_t *const t = dp_slots_timing_c(s, i);
        if ((size_t)i >= s->n_slots || dp_slots_seg(s, i) == DP_SEG_FREE || t->eprev != eprev ||
            ++n_fifo > n_finite || t->heap_pos != DP_EXPIRY_IN_FIFO ||
            dp_slots_expires(s, i) == DP_SLOTS_NEVER ||
            (eprev >= 0 && dp_slots_expires(s, eprev) > dp_slots_expires(s, i)))
            return DP_ECORRUPT;
        eprev = i;
    }
    if (e->fifo_tail != eprev) return DP_ECORRUPT;
    if (e->heap_len + n_fifo != n_finite || e->n_timed != n_finite) return DP_ECORRUPT;
    for (size_t i = 0; i < e->heap_len; i++) {
        const int32_t h = e->heap[i];
        if (h < 0 || (size_t)h >= s->n_slots || dp_slots_seg(s, h) == DP_SEG_FREE ||
            dp_slots_timing_c(s, h)->heap_pos != (int32_t)i ||
            dp_slots_expires(s, h) == DP_SLOTS_NEVER)
            return DP_ECORRUPT;
        if (i > 0 && dp_slots_expires(s, e->heap[(i - 1) / 2]) > dp_slots_expires(s, h))
            return DP_ECORRUPT;
    }
    return DP_OK;
}
