/* Unit tests of the slots' cold array (expiry, weight and expiry links; csrc/slots.h): absent
 * until a slot first needs it, every slot reading "never expires, weight 0, untimed" meanwhile;
 * grown with the slots once present; and every first use that cannot allocate it returns
 * DP_ENOMEM with nothing changed, through the slots, the expiry and the composed core (lru.c).
 * Allocation failures are injected (DP_SLOTS_FAIL_ALLOCS). Built and run by test_l1_core.py. */
#include "l1_check.h"
#include "lru.h"

extern long dp_slots_allocs_until_failure;

/* The live slot holding `hash`, or -1. */
static int32_t lookup(const dp_slots_t *s, uint64_t hash) {
    size_t pos = dp_slots_probe_begin(s, hash);
    return dp_slots_probe_next(s, hash, &pos);
}

/* Every slot reads as untimed and unweighted. */
static int all_plain(const dp_slots_t *s) {
    for (size_t i = 0; i < s->n_slots; i++)
        if (dp_slots_weight(s, (int32_t)i) != 0 || dp_slots_expires(s, (int32_t)i) != DP_SLOTS_NEVER ||
            dp_slots_timing_c(s, (int32_t)i)->heap_pos != -1)
            return 0;
    return 1;
}

static void test_absent_then_present(void) {
    dp_slots_t s;
    CHECK(dp_slots_init(&s, 100) == DP_OK);
    int32_t slot[20];
    for (int i = 0; i < 4; i++) slot[i] = dp_slots_alloc(&s, 500 + i, 0, DP_SEG_WINDOW);
    CHECK(dp_slots_set_weight(&s, slot[1], 0) == DP_OK); /* a zero weight needs no array */
    CHECK(s.cold == NULL && all_plain(&s) && dp_slots_check(&s) == DP_OK);
    /* Growth without it. */
    CHECK(dp_slots_reserve(&s, 5) == DP_OK && s.n_slots == 11 && s.cold == NULL);
    for (int i = 4; i < 8; i++) slot[i] = dp_slots_alloc(&s, 500 + i, 0, DP_SEG_WINDOW);
    CHECK(all_plain(&s) && dp_slots_check(&s) == DP_OK);
    /* The first non-zero weight brings it; every other slot reads as before. */
    CHECK(dp_slots_set_weight(&s, slot[2], 7) == DP_OK && s.cold != NULL);
    CHECK(dp_slots_weight(&s, slot[2]) == 7 && s.total_weight == 7);
    for (int i = 0; i < 8; i++) {
        if (i != 2) CHECK(dp_slots_weight(&s, slot[i]) == 0);
        CHECK(dp_slots_expires(&s, slot[i]) == DP_SLOTS_NEVER);
        CHECK(dp_slots_timing_c(&s, slot[i])->heap_pos == -1);
    }
    CHECK(dp_slots_check(&s) == DP_OK);
    /* Growth with it: weights kept, new slots plain. */
    for (int i = 8; i < 11; i++) slot[i] = dp_slots_alloc(&s, 500 + i, i, DP_SEG_WINDOW);
    CHECK(dp_slots_reserve(&s, 12) == DP_OK && s.n_slots == 21 && s.cold != NULL);
    CHECK(dp_slots_weight(&s, slot[2]) == 7 && dp_slots_check(&s) == DP_OK);
    for (int i = 11; i < 16; i++) slot[i] = dp_slots_alloc(&s, 500 + i, i, DP_SEG_WINDOW);
    CHECK(s.total_weight == 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 + 15);
    for (int i = 0; i < 16; i++) CHECK(lookup(&s, 500 + i) == slot[i]);
    /* A released slot gives its weight back and reads plain again. */
    dp_slots_release(&s, slot[15]);
    CHECK(s.total_weight == 7 + 8 + 9 + 10 + 11 + 12 + 13 + 14 && dp_slots_weight(&s, slot[15]) == 0);
    CHECK(dp_slots_check(&s) == DP_OK);
    /* clear keeps the array, with every slot plain. */
    dp_slots_clear(&s);
    CHECK(s.cold != NULL && s.total_weight == 0 && all_plain(&s) && dp_slots_check(&s) == DP_OK);
    dp_slots_free(&s);
}

/* The check sees a cold part that a free slot should not have, and weights the sum misses. */
static void test_check_catches(void) {
    dp_slots_t s;
    CHECK(dp_slots_init(&s, 8) == DP_OK);
    const int32_t a = dp_slots_alloc(&s, 1, 3, DP_SEG_WINDOW);
    CHECK(s.cold != NULL && dp_slots_check(&s) == DP_OK);
    const int32_t free_slot = s.free_head;
    s.cold[free_slot].expires_ns = 5;
    CHECK(dp_slots_check(&s) == DP_ECORRUPT);
    s.cold[free_slot].expires_ns = DP_SLOTS_NEVER;
    s.cold[free_slot].weight = 1;
    CHECK(dp_slots_check(&s) == DP_ECORRUPT);
    s.cold[free_slot].weight = 0;
    s.cold[a].weight = 4;
    CHECK(dp_slots_check(&s) == DP_ECORRUPT);
    s.cold[a].weight = 3;
    CHECK(dp_slots_check(&s) == DP_OK);
    dp_slots_free(&s);
}

/* A struct's visible state, to compare before and after a failed call. */
typedef struct {
    size_t len, n_slots, n_buckets;
    int64_t total_weight;
    const void *node, *hashes, *cold, *table;
} view_t;

static view_t view(const dp_slots_t *s) {
    return (view_t){s->len, s->n_slots, s->n_buckets, s->total_weight, s->node, s->hashes, s->cold,
                    s->table};
}

static int same(view_t a, view_t b) {
    return a.len == b.len && a.n_slots == b.n_slots && a.n_buckets == b.n_buckets &&
           a.total_weight == b.total_weight && a.node == b.node && a.hashes == b.hashes &&
           a.cold == b.cold && a.table == b.table;
}

static void test_enomem_slots(void) {
    dp_slots_t s;
    for (long k = 0; k < 3; k++) { /* node, hashes or table */
        dp_slots_allocs_until_failure = k;
        CHECK(dp_slots_init(&s, 100) == DP_ENOMEM && s.node == NULL && s.n_slots == 0);
        dp_slots_free(&s);
    }
    dp_slots_allocs_until_failure = -1;
    CHECK(dp_slots_init(&s, 100) == DP_OK);
    int32_t slot[4];
    for (int i = 0; i < 4; i++) slot[i] = dp_slots_alloc(&s, 700 + i, 0, DP_SEG_WINDOW);
    view_t before = view(&s);
    /* First uses of the cold array that cannot allocate it. */
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_slots_set_weight(&s, slot[0], 5) == DP_ENOMEM);
    CHECK(same(view(&s), before) && all_plain(&s) && dp_slots_check(&s) == DP_OK);
    dp_slots_release(&s, slot[3]);
    before = view(&s);
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_slots_alloc(&s, 703, 5, DP_SEG_WINDOW) == DP_ENOMEM);
    CHECK(same(view(&s), before) && lookup(&s, 703) == -1 && dp_slots_check(&s) == DP_OK);
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_slots_need_cold(&s) == DP_ENOMEM && same(view(&s), before));
    slot[3] = dp_slots_alloc(&s, 703, 0, DP_SEG_WINDOW); /* a zero weight still fits */
    CHECK(slot[3] >= 0 && s.cold == NULL);
    dp_slots_allocs_until_failure = -1;
    CHECK(dp_slots_set_weight(&s, slot[0], 5) == DP_OK && s.cold != NULL);
    /* Growth with the cold array: any one of its four allocations failing changes nothing. */
    for (long k = 0; k < 4; k++) {
        before = view(&s);
        dp_slots_allocs_until_failure = k;
        CHECK(dp_slots_reserve(&s, 5) == DP_ENOMEM);
        CHECK(same(view(&s), before) && dp_slots_check(&s) == DP_OK);
        for (int i = 0; i < 4; i++) CHECK(lookup(&s, 700 + i) == slot[i]);
        CHECK(dp_slots_weight(&s, slot[0]) == 5);
    }
    dp_slots_allocs_until_failure = -1;
    CHECK(dp_slots_reserve(&s, 5) == DP_OK && s.n_slots == 11 && dp_slots_check(&s) == DP_OK);
    CHECK(dp_slots_weight(&s, slot[0]) == 5 && s.total_weight == 5);
    dp_slots_free(&s);
}

static void test_enomem_expiry(void) {
    dp_slots_t s;
    dp_expiry_t e;
    CHECK(dp_slots_init(&s, 16) == DP_OK && dp_expiry_init(&e, s.n_slots) == DP_OK);
    const int32_t a = dp_slots_alloc(&s, 1, 0, DP_SEG_WINDOW);
    CHECK(dp_expiry_set(&e, &s, a, DP_SLOTS_NEVER) == DP_OK && s.cold == NULL); /* no need */
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_expiry_set(&e, &s, a, 100) == DP_ENOMEM);
    CHECK(s.cold == NULL && e.n_timed == 0 && dp_slots_expires(&s, a) == DP_SLOTS_NEVER);
    CHECK(dp_expiry_check(&e, &s) == DP_OK && dp_slots_check(&s) == DP_OK);
    dp_slots_allocs_until_failure = -1;
    CHECK(dp_expiry_set(&e, &s, a, 100) == DP_OK && s.cold != NULL && e.n_timed == 1);
    CHECK(dp_expiry_top(&e, &s, 100) == a && dp_expiry_check(&e, &s) == DP_OK);
    dp_expiry_free(&e);
    dp_slots_free(&s);
}

static void test_enomem_lru(void) {
    dp_lru_t c, d;
    CHECK(dp_lru_init(&c, 64, DP_POLICY_LRU) == DP_OK);
    for (uint64_t h = 0; h < 4; h++) CHECK(dp_lru_insert(&c, h, 0, DP_LRU_NEVER) >= 0);
    CHECK(c.slots.cold == NULL);
    /* An insert with an expiry or a weight that cannot have the cold array: nothing changes. */
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_lru_insert(&c, 10, 0, 500) == DP_ENOMEM);
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_lru_insert(&c, 11, 2, DP_LRU_NEVER) == DP_ENOMEM);
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_lru_need_cold(&c, 0, DP_LRU_NEVER) == DP_OK); /* nothing needed, nothing tried */
    CHECK(dp_slots_allocs_until_failure == 0);
    dp_slots_allocs_until_failure = -1;
    CHECK(c.slots.len == 4 && c.slots.cold == NULL && c.expiry.n_timed == 0);
    CHECK(lookup(&c.slots, 10) == -1 && lookup(&c.slots, 11) == -1 && dp_lru_check(&c) == DP_OK);
    const int32_t timed = dp_lru_insert(&c, 10, 0, 500);
    CHECK(timed >= 0 && c.slots.cold != NULL && dp_lru_check(&c) == DP_OK);
    /* A copy of timed entries needs the array in dst too. */
    int32_t remap[64];
    CHECK(dp_lru_init(&d, 64, DP_POLICY_LRU) == DP_OK && dp_lru_reserve(&d, c.slots.len) == DP_OK);
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_lru_reserve_copy(&d, &c, c.slots.len) == DP_ENOMEM);
    dp_slots_allocs_until_failure = 0;
    CHECK(dp_lru_copy_into(&c, &d, remap) == DP_ENOMEM);
    CHECK(d.slots.len == 0 && d.slots.cold == NULL && dp_lru_check(&d) == DP_OK);
    dp_slots_allocs_until_failure = -1;
    CHECK(dp_lru_copy_into(&c, &d, remap) == DP_OK && d.slots.cold != NULL);
    CHECK(dp_slots_expires(&d.slots, remap[timed]) == 500 && d.expiry.n_timed == 1);
    CHECK(dp_lru_check(&d) == DP_OK);
    dp_lru_free(&d);
    /* Once nothing is timed or weighted, a copy sheds it. */
    dp_expiry_set(&c.expiry, &c.slots, timed, DP_LRU_NEVER);
    CHECK(dp_lru_init(&d, 64, DP_POLICY_LRU) == DP_OK);
    CHECK(dp_lru_copy_into(&c, &d, remap) == DP_OK && d.slots.cold == NULL && d.slots.len == 5);
    CHECK(dp_lru_check(&d) == DP_OK);
    dp_lru_free(&d);
    dp_lru_free(&c);
}

/* Random inserts (a few weighted or timed), removals and growth, with allocations failing at
 * random: every DP_ENOMEM leaves the entries as they were; every slot reads what was stored. */
static void test_random_failures(void) {
    enum { CAP = 300, STEPS = 6000 };
    dp_lru_t c;
    int64_t weight[CAP], expires[CAP];
    int32_t live[CAP];
    size_t n_live = 0, n_failed = 0;
    CHECK(dp_lru_init(&c, CAP, DP_POLICY_LRU) == DP_OK);
    for (int step = 0; step < STEPS; step++) {
        const uint64_t r = l1_rand();
        if ((r & 7) == 0) dp_slots_allocs_until_failure = (long)((r >> 40) % 3);
        if (n_live < CAP && (r & 48) != 0) {
            const int64_t w = step > 1000 && (r >> 8) % 16 == 0 ? (int64_t)((r >> 12) % 5) : 0;
            const int64_t e = step > 2000 && (r >> 16) % 16 == 0 ? step : DP_LRU_NEVER;
            const size_t len = c.slots.len;
            const int32_t i = dp_lru_insert(&c, (uint64_t)step, w, e);
            if (i == DP_ENOMEM) {
                n_failed++;
                CHECK(c.slots.len == len && lookup(&c.slots, (uint64_t)step) == -1);
            } else {
                CHECK(i >= 0);
                weight[i] = w;
                expires[i] = e;
                live[n_live++] = i;
            }
        } else if (n_live) {
            const size_t k = (r >> 24) % n_live;
            dp_lru_remove(&c, live[k]);
            live[k] = live[--n_live];
        }
        dp_slots_allocs_until_failure = -1;
        if (step % 50 == 0) {
            CHECK(dp_lru_check(&c) == DP_OK && c.slots.len == n_live);
            for (size_t k = 0; k < n_live; k++) {
                CHECK(dp_slots_weight(&c.slots, live[k]) == weight[live[k]]);
                CHECK(dp_slots_expires(&c.slots, live[k]) == expires[live[k]]);
            }
        }
    }
    CHECK(n_failed > 0 && c.slots.cold != NULL);
    dp_lru_free(&c);
}

int main(void) {
    test_absent_then_present();
    test_check_catches();
    test_enomem_slots();
    test_enomem_expiry();
    test_enomem_lru();
    test_random_failures();
    L1_DONE();
}
