/* expiry.h -- which live slots expire when: a write-order list and a min-heap over the slots'
 * expires_ns, behind one small API.
 * Invariant: a live slot with a finite expiry sits either in the write-order list (fifo_head ..
 * fifo_tail through timing.eprev/enext, expiries non-decreasing, heap_pos == DP_EXPIRY_IN_FIFO)
 * or in the min-heap at heap[timing.heap_pos]; an untimed slot has heap_pos -1; n_timed counts
 * both. A uniform TTL keeps every timed entry in the list (O(1) per write); only an expiry
 * earlier than the list's last one goes to the heap. The heap holds room for n_heap slots (the
 * slots' n_slots). dp_expiry_reserve allocates, dp_expiry_free releases (safe on a zeroed
 * struct); the caller owns the struct, and must dp_expiry_untime a slot before releasing it. */
#ifndef DP_EXPIRY_H
#define DP_EXPIRY_H

#include "dp_common.h"
#include "slots.h"

#define DP_EXPIRY_IN_FIFO (-2)

typedef struct {
    int32_t *heap;   /* min-heap of slots on expires_ns */
    size_t heap_len, n_heap;
    int32_t fifo_head, fifo_tail;
    size_t n_timed;  /* entries with a finite expiry (list + heap) */
} dp_expiry_t;

/* Empty, with room for n_slots heap entries. */
int dp_expiry_init(dp_expiry_t *e, size_t n_slots);
void dp_expiry_free(dp_expiry_t *e);
void dp_expiry_clear(dp_expiry_t *e);
/* Room for n_slots heap entries: DP_OK or DP_ENOMEM (nothing changed). */
int dp_expiry_reserve(dp_expiry_t *e, size_t n_slots);
/* File a live slot under its new expiry (DP_SLOTS_NEVER: untimed): DP_OK, or DP_ENOMEM (nothing
 * changed) if a finite one needs the slots' cold array and it cannot be allocated. */
int dp_expiry_set(dp_expiry_t *e, dp_slots_t *s, int32_t slot, int64_t expires_ns);
/* Take a slot out of whichever structure holds it (no-op if untimed). */
void dp_expiry_untime(dp_expiry_t *e, dp_slots_t *s, int32_t slot);
/* Number of slots with expires_ns <= now_ns (walks only the expired part). */
size_t dp_expiry_count(const dp_expiry_t *e, const dp_slots_t *s, int64_t now_ns);
/* Every invariant above against the slots' live entries, else DP_ECORRUPT. */
int dp_expiry_check(const dp_expiry_t *e, const dp_slots_t *s);

/* The slot whose expiry is soonest if it is at or before now_ns, else -1. */
DP_INLINE int32_t dp_expiry_top(const dp_expiry_t *e, const dp_slots_t *s, int64_t now_ns) {
    int32_t best = e->fifo_head;
    if (e->heap_len > 0 &&
        (best < 0 || dp_slots_expires(s, e->heap[0]) < dp_slots_expires(s, best)))
        best = e->heap[0];
    return (best >= 0 && dp_slots_expires(s, best) <= now_ns) ? best : -1;
}

#endif /* DP_EXPIRY_H */
