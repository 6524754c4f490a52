/* Unit tests of csrc/expiry.c: a uniform TTL stays in the write-order list, earlier expiries go
 * to the heap, the soonest expiry comes first, counts and removals are exact against a brute
 * force scan, and dp_expiry_check catches a broken heap. Built and run by test_l1_core.py. */
#include "expiry.h"
#include "l1_check.h"

static int32_t brute_top(const dp_slots_t *s, int64_t now) {
    int32_t best = -1;
    for (int32_t i = dp_slots_first(s); i >= 0; i = dp_slots_next(s, i))
        if (dp_slots_expires(s, i) <= now && (best < 0 || dp_slots_expires(s, i) < dp_slots_expires(s, best)))
            best = i;
    return best;
}

static size_t brute_count(const dp_slots_t *s, int64_t now) {
    size_t n = 0;
    for (int32_t i = dp_slots_first(s); i >= 0; i = dp_slots_next(s, i)) n += dp_slots_expires(s, i) <= now;
    return n;
}

static void test_list_and_heap(void) {
    dp_slots_t s;
    dp_expiry_t e;
    CHECK(dp_slots_init(&s, 16) == DP_OK && dp_slots_reserve(&s, 16) == DP_OK);
    CHECK(dp_expiry_init(&e, s.n_slots) == DP_OK);
    int32_t a = dp_slots_alloc(&s, 1, 0, 0), b = dp_slots_alloc(&s, 2, 0, 0), c = dp_slots_alloc(&s, 3, 0, 0);
    dp_expiry_set(&e, &s, a, 100);
    dp_expiry_set(&e, &s, b, 200); /* non-decreasing: both in the list */
    CHECK(e.heap_len == 0 && e.fifo_head == a && e.fifo_tail == b && e.n_timed == 2);
    dp_expiry_set(&e, &s, c, 50); /* earlier than the list's last: the heap */
    CHECK(e.heap_len == 1 && e.n_timed == 3);
    CHECK(dp_expiry_top(&e, &s, 40) == -1);
    CHECK(dp_expiry_top(&e, &s, 60) == c);
    CHECK(dp_expiry_count(&e, &s, 150) == 2);
    CHECK(dp_expiry_check(&e, &s) == DP_OK);
    dp_expiry_set(&e, &s, c, DP_SLOTS_NEVER); /* untimed again */
    CHECK(e.heap_len == 0 && e.n_timed == 2 && dp_expiry_top(&e, &s, 150) == a);
    dp_expiry_untime(&e, &s, a);
    dp_slots_release(&s, a);
    CHECK(e.fifo_head == b && dp_expiry_check(&e, &s) == DP_OK);
    dp_expiry_clear(&e);
    dp_slots_clear(&s);
    CHECK(e.n_timed == 0 && dp_expiry_top(&e, &s, INT64_MAX - 1) == -1);
    dp_expiry_free(&e);
    dp_expiry_free(&e); /* safe on a zeroed struct */
    dp_slots_free(&s);
}

static void test_random(void) {
    enum { CAP = 200, STEPS = 20000 };
    dp_slots_t s;
    dp_expiry_t e;
    int32_t live[CAP];
    size_t n_live = 0;
    CHECK(dp_slots_init(&s, CAP) == DP_OK && dp_expiry_init(&e, s.n_slots) == DP_OK);
    for (int step = 0; step < STEPS; step++) {
        const uint64_t r = l1_rand();
        const int64_t when = (r & 16) ? (int64_t)step : (int64_t)((r >> 20) % 5000); /* mostly in order */
        switch ((r >> 8) % 4) {
            case 0: case 1:
                if (n_live < CAP) {
                    if (s.len == s.n_slots) {
                        const size_t n = dp_slots_grown(&s, s.len + 1);
                        CHECK(dp_expiry_reserve(&e, n) == DP_OK && dp_slots_reserve(&s, n) == DP_OK);
                    }
                    const int32_t i = dp_slots_alloc(&s, r, 0, 0);
                    if (r & 32) dp_expiry_set(&e, &s, i, when);
                    live[n_live++] = i;
                }
                break;
            case 2:
                if (n_live) dp_expiry_set(&e, &s, live[(r >> 24) % n_live], (r & 64) ? DP_SLOTS_NEVER : when);
                break;
            default:
                if (n_live) {
                    const size_t k = (r >> 24) % n_live;
                    dp_expiry_untime(&e, &s, live[k]);
                    dp_slots_release(&s, live[k]);
                    live[k] = live[--n_live];
                }
        }
        if (step % 53 == 0) {
            const int64_t now = (int64_t)(l1_rand() % 6000);
            const int32_t top = dp_expiry_top(&e, &s, now), want = brute_top(&s, now);
            CHECK((top < 0) == (want < 0));
            if (top >= 0 && want >= 0) CHECK(dp_slots_expires(&s, top) == dp_slots_expires(&s, want));
            CHECK(dp_expiry_count(&e, &s, now) == brute_count(&s, now));
            CHECK(dp_expiry_check(&e, &s) == DP_OK);
        }
    }
    /* Drain everything in expiry order. */
    int64_t last = INT64_MIN;
    for (int32_t i; (i = dp_expiry_top(&e, &s, DP_SLOTS_NEVER - 1)) >= 0;) {
        CHECK(dp_slots_expires(&s, i) >= last);
        last = dp_slots_expires(&s, i);
        dp_expiry_untime(&e, &s, i);
        dp_slots_release(&s, i);
    }
    CHECK(e.n_timed == 0 && dp_expiry_check(&e, &s) == DP_OK);
    dp_expiry_free(&e);
    dp_slots_free(&s);
}

static void test_check_catches(void) {
    dp_slots_t s;
    dp_expiry_t e;
    CHECK(dp_slots_init(&s, 8) == DP_OK && dp_slots_reserve(&s, 8) == DP_OK);
    CHECK(dp_expiry_init(&e, s.n_slots) == DP_OK);
    int32_t a = dp_slots_alloc(&s, 1, 0, 0), b = dp_slots_alloc(&s, 2, 0, 0);
    dp_expiry_set(&e, &s, a, 500);
    dp_expiry_set(&e, &s, b, 100);
    dp_expiry_set(&e, &s, dp_slots_alloc(&s, 3, 0, 0), 50);
    CHECK(dp_expiry_check(&e, &s) == DP_OK);
    const int32_t tmp = e.heap[0];
    e.heap[0] = e.heap[1];
    e.heap[1] = tmp; /* heap order broken */
    CHECK(dp_expiry_check(&e, &s) == DP_ECORRUPT);
    dp_expiry_free(&e);
    dp_slots_free(&s);
}

int main(void) {
    test_list_and_heap();
    test_random();
    test_check_catches();
    L1_DONE();
}
