/* Unit tests of a weight budget's sizing (dp_lru_follow_weight, dp_policy_recap, W-TinyLFU's
 * recap): the policy's cap follows the entries the budget holds, within 1/8, never over the
 * slots' cap; the shares, periods and buffers follow; the shadows are
 * rebuilt only on a factor-2 move; a frozen window stays short of the cache; plain LRU is left
 * alone; dp_lru_check holds after every step. Built and run by test_l1_core.py. */
#include <string.h>

#include "hash.h"
#include "l1_check.h"
#include "lru.h"
#include "tinylfu.h"

/* A weighted write as the Cython shell makes it: evict while over max_weight, insert, follow. */
static int32_t put(dp_lru_t *c, uint64_t hash, int64_t weight, int64_t max_weight) {
    while (c->slots.len == c->slots.cap ||
           (c->slots.len && c->slots.total_weight + weight > max_weight)) {
        const int32_t v = dp_policy_victim(&c->policy, &c->slots);
        dp_policy_on_evict(&c->policy, &c->slots, v);
        dp_lru_remove(c, v);
    }
    dp_policy_on_write(&c->policy, hash);
    CHECK(dp_lru_reserve(c, c->slots.len + 1) == DP_OK);
    const int32_t slot = dp_lru_insert(c, hash, weight, DP_LRU_NEVER);
    dp_lru_follow_weight(c, max_weight);
    return slot;
}

static const dp_tinylfu_t *state(const dp_lru_t *c) { return (const dp_tinylfu_t *)c->policy.state; }

static void test_follows_the_budget(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 100000, DP_POLICY_TINYLFU) == DP_OK);
    /* 10 per entry, a budget of 10,000: about 1,000 entries, however large max_size. */
    for (uint64_t k = 1; k <= 5000; k++) {
        put(&c, dp_fmix64(k), 10, 10000);
        CHECK(c.slots.len <= c.policy.cap + (c.policy.cap / 8 > 4 ? c.policy.cap / 8 : 4) &&
              c.policy.cap <= c.slots.cap);
        if (k % 97 == 0) CHECK(dp_lru_check(&c) == DP_OK);
    }
    CHECK(c.slots.len == 1000);
    CHECK(c.policy.cap == 1000); /* exactly what it holds: its shadows simulate that */
    CHECK(c.policy.seg_max[DP_SEG_WINDOW] >= 1 && c.policy.seg_max[DP_SEG_WINDOW] <= 20);
    CHECK(c.policy.seg_max[DP_SEG_PROTECTED] ==
          (c.policy.cap - c.policy.seg_max[DP_SEG_WINDOW]) * 3 / 4);
    CHECK(state(&c)->sample_size == 10 * (uint64_t)c.policy.cap);
    CHECK(2 * state(&c)->shadow_cap_for > c.policy.cap && state(&c)->shadow_cap_for < 2 * c.policy.cap);
    CHECK(state(&c)->sketch.sample_size < 10 * (uint64_t)c.policy.cap + 1 + 7500);
    /* Lighter entries: the budget holds more, and the cap follows up, within its band. */
    const size_t before = c.policy.cap;
    for (uint64_t k = 10001; k <= 30000; k++) {
        put(&c, dp_fmix64(k), 2, 10000);
        const double holds = (double)c.slots.len * 10000.0 / (double)c.slots.total_weight;
        CHECK((double)c.policy.cap <= 1.125 * holds + 4 && holds <= 1.125 * (double)c.policy.cap + 4);
    }
    CHECK(c.slots.len > 2000 && c.policy.cap > before && dp_lru_check(&c) == DP_OK);
    /* A budget far over what max_size holds: the slots' cap. */
    for (uint64_t k = 40001; k <= 40100; k++) put(&c, dp_fmix64(k), 1, (int64_t)1 << 40);
    CHECK(c.policy.cap == c.slots.cap && dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

static void test_steady_budget_does_not_churn(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 50000, DP_POLICY_TINYLFU) == DP_OK);
    for (uint64_t k = 1; k <= 3000; k++) put(&c, dp_fmix64(k), 8 + (int64_t)(k % 5), 8000);
    const size_t cap = c.policy.cap;
    const dp_tinylfu_shadow_t sh = state(&c)->shadow;
    /* Weights 8-12 at random: the estimate wanders a few percent, inside the bands. */
    for (uint64_t k = 3001; k <= 20000; k++) put(&c, dp_fmix64(k), 8 + (int64_t)(l1_rand() % 5), 8000);
    CHECK(c.policy.cap == cap);
    CHECK(state(&c)->shadow.tag[0] == sh.tag[0]); /* not rebuilt */
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

static void test_recap_edges(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 4000, DP_POLICY_TINYLFU) == DP_OK);
    for (uint64_t k = 1; k <= 4000; k++) put(&c, dp_fmix64(k), 1, 1 << 30);
    CHECK(c.policy.cap == 4000);
    /* Out-of-range caps are ignored. */
    dp_policy_recap(&c.policy, &c.slots, 0);
    dp_policy_recap(&c.policy, &c.slots, 4001);
    CHECK(c.policy.cap == 4000 && dp_lru_check(&c) == DP_OK);
    /* Frozen half-way to LRU: the window stays short of the whole cache at every cap. */
    dp_tinylfu_t *const t = (dp_tinylfu_t *)c.policy.state;
    t->shadow.frozen = 1;
    c.policy.seg_max[DP_SEG_WINDOW] = 3999;
    c.policy.seg_max[DP_SEG_PROTECTED] = (4000 - 3999) * 3 / 4;
    CHECK(dp_lru_check(&c) == DP_OK);
    for (uint64_t k = 1; k <= 4000 - 900; k++) { /* a budget for 900: drop the rest first */
        const int32_t v = dp_policy_victim(&c.policy, &c.slots);
        dp_policy_on_evict(&c.policy, &c.slots, v);
        dp_lru_remove(&c, v);
    }
    dp_policy_recap(&c.policy, &c.slots, 1000);
    CHECK(c.policy.cap == 1000 && c.policy.seg_max[DP_SEG_WINDOW] < 1000);
    CHECK(t->shadow_cap_for == 1000 && !t->shadow.frozen); /* rebuilt: restarted, unfrozen */
    CHECK(dp_lru_check(&c) == DP_OK);
    /* Down to a handful, then 1 (buffers shorten, the shadows go), and back up. */
    while (c.slots.len > 1) {
        const int32_t v = dp_policy_victim(&c.policy, &c.slots);
        dp_policy_on_evict(&c.policy, &c.slots, v);
        dp_lru_remove(&c, v);
    }
    dp_policy_recap(&c.policy, &c.slots, 5);
    CHECK(c.policy.reads_cap == 5 && t->promo_cap == 1 && dp_lru_check(&c) == DP_OK);
    dp_policy_recap(&c.policy, &c.slots, 1);
    CHECK(c.policy.cap == 1 && c.policy.seg_max[DP_SEG_WINDOW] == 1 && dp_lru_check(&c) == DP_OK);
    dp_policy_recap(&c.policy, &c.slots, 4000);
    CHECK(c.policy.reads_cap == DP_TINYLFU_READS_MAX && t->promo_cap == DP_TINYLFU_PROMOTIONS_MAX &&
          t->promo_alloc >= t->promo_cap && t->shadow_cap_for == 4000);
    CHECK(dp_lru_check(&c) == DP_OK);
    for (uint64_t k = 9001; k <= 13000; k++) put(&c, dp_fmix64(k), 1, 1 << 30);
    CHECK(c.slots.len == 4000 && dp_lru_check(&c) == DP_OK);
    /* A cap the check refuses: over the slots' cap. */
    c.policy.cap = 4001;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    c.policy.cap = 4000;
    dp_lru_free(&c);
}

static void test_lru_sizes_nothing(void) {
    for (int kind = 0; kind < dp_policy_count(); kind++) {
        if (kind == DP_POLICY_TINYLFU) continue;
        dp_lru_t c;
        CHECK(dp_lru_init(&c, 10000, kind) == DP_OK);
        for (uint64_t k = 1; k <= 3000; k++) put(&c, dp_fmix64(k), 10, 10000);
        CHECK(c.slots.len == 1000 && c.policy.cap == 10000 && dp_lru_check(&c) == DP_OK);
        c.policy.cap = 5000; /* a policy without recap keeps the slots' cap */
        CHECK(dp_lru_check(&c) == DP_ECORRUPT);
        c.policy.cap = 10000;
        dp_lru_free(&c);
    }
}

int main(void) {
    test_follows_the_budget();
    test_steady_budget_does_not_churn();
    test_recap_edges();
    test_lru_sizes_nothing();
    L1_DONE();
}
