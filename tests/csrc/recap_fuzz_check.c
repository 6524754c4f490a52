/* A random walk over W-TinyLFU's recap (review of the weight-budget sizing): weighted writes
 * under budgets that move the held count from 1 to the slots' cap, hits, removals, direct
 * recaps to any cap in 1 .. the slots' cap, and the shadows' verdict states forced at random
 * (frozen half-way to LRU, plain LRU, a confirmation pending) just before a recap. After every
 * step dp_lru_check holds, a frozen window stays short of the cache, and the policy's cap stays
 * within 1 .. the slots' cap. Built and run by test_l1_core.py. */
#include <string.h>

#include "hash.h"
#include "l1_check.h"
#include "lru.h"
#include "tinylfu.h"

static dp_tinylfu_t *state(dp_lru_t *c) { return (dp_tinylfu_t *)c->policy.state; }

static void evict_one(dp_lru_t *c) {
    const int32_t v = dp_policy_victim(&c->policy, &c->slots);
    CHECK(v >= 0);
    if (v < 0) return;
    dp_policy_on_evict(&c->policy, &c->slots, v);
    dp_lru_remove(c, v);
}

/* A weighted write of a new key as the Cython shell makes it (evict, insert, follow). */
static void put(dp_lru_t *c, uint64_t hash, int64_t weight, int64_t max_weight) {
    while (c->slots.len == c->slots.cap ||
           (c->slots.len && c->slots.total_weight + weight > max_weight))
        evict_one(c);
    dp_policy_on_write(&c->policy, hash);
    CHECK(dp_lru_reserve(c, c->slots.len + 1) == DP_OK);
    CHECK(dp_lru_insert(c, hash, weight, DP_LRU_NEVER) >= 0);
    dp_lru_follow_weight(c, max_weight);
}

static int32_t live_slot(const dp_lru_t *c) {
    if (!c->slots.len) return -1;
    for (int tries = 0; tries < 64; tries++) {
        const int32_t s = (int32_t)(l1_rand() % c->slots.n_slots);
        if (dp_slots_seg(&c->slots, s) != DP_SEG_FREE) return s;
    }
    return -1;
}

/* Put the shadows' verdict into one of its states, as a switch would (tinylfu.c). */
static void force_verdict(dp_lru_t *c) {
    dp_policy_t *const p = &c->policy;
    dp_tinylfu_shadow_t *const sh = &state(c)->shadow;
    const uint64_t r = l1_rand() % 4;
    sh->frozen = 0;
    sh->frozen_periods = 0;
    sh->frozen_hits = sh->frozen_main_hits = 0;
    sh->back_pending = 0;
    size_t window = p->seg_max[DP_SEG_WINDOW];
    if (r == 0 && p->cap >= 2) { /* frozen, the window anywhere short of the cache */
        sh->frozen = 1;
        sh->switched = 1;
        window = 1 + l1_rand() % (p->cap - 1);
    } else if (r == 1) { /* plain LRU: the window is the whole cache */
        sh->switched = 1;
        window = p->cap;
    } else if (r == 2) {
        sh->back_pending = 1;
    }
    p->seg_max[DP_SEG_WINDOW] = window;
    p->seg_max[DP_SEG_PROTECTED] = (p->cap - window) * 3 / 4;
    if (sh->window_before > p->cap) sh->window_before = p->cap;
    dp_policy_rebalance(p, &c->slots);
}

static void check_state(dp_lru_t *c) {
    const dp_policy_t *const p = &c->policy;
    CHECK(dp_lru_check(c) == DP_OK);
    CHECK(p->cap >= 1 && p->cap <= c->slots.cap);
    CHECK(!state(c)->shadow.frozen || p->seg_max[DP_SEG_WINDOW] < p->cap);
}

static void walk(size_t cap, uint64_t steps) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, cap, DP_POLICY_TINYLFU) == DP_OK);
    int64_t budget = 1000;
    int64_t wmax = 10;
    for (uint64_t step = 0; step < steps; step++) {
        const uint64_t r = l1_rand();
        const unsigned op = (unsigned)(r % 100);
        if (step % 500 == 0) { /* a new phase: the held count moves */
            budget = 1 + (int64_t)(l1_rand() % 5000);
            wmax = 1 + (int64_t)(l1_rand() % (uint64_t)budget);
        }
        if (op < 50) {
            put(&c, dp_fmix64(r >> 8 | 1), (int64_t)(l1_rand() % (uint64_t)(wmax + 1)), budget);
        } else if (op < 85) {
            const int32_t s = live_slot(&c);
            if (s >= 0) dp_lru_touch(&c, s);
        } else if (op < 92) {
            const int32_t s = live_slot(&c);
            if (s >= 0) {
                dp_policy_on_remove(&c.policy, &c.slots, s);
                dp_lru_remove(&c, s);
            }
        } else if (op < 96) {
            force_verdict(&c);
            check_state(&c);
            dp_policy_recap(&c.policy, &c.slots, 1 + l1_rand() % c.slots.cap);
        } else if (op < 99) {
            dp_policy_recap(&c.policy, &c.slots, 1 + l1_rand() % c.slots.cap);
        } else {
            dp_lru_clear(&c);
        }
        check_state(&c);
    }
    dp_lru_free(&c);
}

int main(void) {
    static const size_t caps[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 70,
                                  127, 128, 129, 255, 256, 257, 1000, 2048, 4097};
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) walk(caps[i], 4000);
    L1_DONE();
}
