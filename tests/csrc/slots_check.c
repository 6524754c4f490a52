/* Unit tests of csrc/slots.c: allocation, growth, the index (probe, collisions, backward-shift
 * delete), segment lists and iteration, hit counts and ranking; dp_slots_check must hold after
 * every step and must catch a broken link. Built and run by test_l1_core.py. */
#include <stdlib.h>

#include "l1_check.h"
#include "slots.h"

/* Every slot reachable through the index holding `hash`, until `want` is met. Both probe
 * forms walk it in step and must report the same slots. */
static int found(const dp_slots_t *s, uint64_t hash, int32_t want) {
    size_t pos = dp_slots_probe_begin(s, hash);
    dp_probe_t probe;
    dp_slots_probe_start(s, hash, &probe);
    CHECK(probe.pos == pos && probe.tag == dp_slots_tag(s, hash) &&
          probe.rest == dp_slots_rest(s, hash));
    for (;;) {
        const int32_t i = dp_slots_probe_next(s, hash, &pos), j = dp_slots_probe_step(s, &probe);
        CHECK(i == j && pos == probe.pos);
        if (i < 0) return 0;
        if (i == want) return 1;
    }
}

static void test_init_and_growth(void) {
    dp_slots_t s;
    CHECK(dp_slots_init(&s, 0) == DP_EINVAL);
    CHECK(dp_slots_init(&s, DP_SLOTS_MAX_CAP + 1) == DP_EINVAL);
    CHECK(dp_slots_init(&s, 10) == DP_OK);
    CHECK(s.n_slots == DP_SLOTS_FIRST && s.len == 0 && dp_slots_check(&s) == DP_OK);
    int32_t slot[10];
    for (int i = 0; i < 4; i++) slot[i] = dp_slots_alloc(&s, 1000 + i, i, DP_SEG_WINDOW);
    CHECK(dp_slots_alloc(&s, 99, 0, DP_SEG_WINDOW) == DP_EFULL); /* needs a reserve first */
    CHECK(dp_slots_reserve(&s, 11) == DP_EINVAL);
    CHECK(dp_slots_grown(&s, 5) == 10); /* 11 fit the next table (16 buckets): capped at 10 */
    CHECK(dp_slots_reserve(&s, 5) == DP_OK && s.n_slots == 10);
    for (int i = 4; i < 10; i++) {
        if (s.len == s.n_slots) CHECK(dp_slots_reserve(&s, s.len + 1) == DP_OK);
        slot[i] = dp_slots_alloc(&s, 1000 + i, i, DP_SEG_WINDOW);
    }
    CHECK(s.n_slots == 10 && s.len == 10); /* growth stops at cap */
    CHECK(s.total_weight == 45);
    for (int i = 0; i < 10; i++) CHECK(found(&s, 1000 + i, slot[i])); /* numbers kept */
    CHECK(!found(&s, 999, -2));
    CHECK(dp_slots_check(&s) == DP_OK);
    dp_slots_clear(&s);
    CHECK(s.len == 0 && s.total_weight == 0 && dp_slots_first(&s) == -1);
    CHECK(dp_slots_check(&s) == DP_OK);
    dp_slots_free(&s);
    dp_slots_free(&s); /* safe on a zeroed struct */
}

static void test_collisions_and_delete(void) {
    dp_slots_t s;
    CHECK(dp_slots_init(&s, 64) == DP_OK);
    CHECK(dp_slots_reserve(&s, 64) == DP_OK);
    /* Equal hashes share a home bucket: one long cluster, then holes punched in it. */
    int32_t slot[40];
    for (int i = 0; i < 40; i++) slot[i] = dp_slots_alloc(&s, i < 20 ? 7 : 7 + (uint64_t)i * 64, 0, DP_SEG_WINDOW);
    for (int i = 0; i < 20; i++) CHECK(found(&s, 7, slot[i]));
    for (int i = 0; i < 20; i += 3) dp_slots_release(&s, slot[i]);
    CHECK(dp_slots_check(&s) == DP_OK);
    for (int i = 0; i < 20; i++) CHECK(found(&s, 7, slot[i]) == (i % 3 != 0));
    for (int i = 20; i < 40; i++) CHECK(found(&s, 7 + (uint64_t)i * 64, slot[i]));
    dp_slots_free(&s);
}

static void test_segments(void) {
    dp_slots_t s;
    CHECK(dp_slots_init(&s, 8) == DP_OK);
    CHECK(dp_slots_reserve(&s, 8) == DP_OK);
    int32_t a = dp_slots_alloc(&s, 1, 0, DP_SEG_WINDOW), b = dp_slots_alloc(&s, 2, 0, DP_SEG_WINDOW);
    int32_t c = dp_slots_alloc(&s, 3, 0, DP_SEG_PROBATION), d = dp_slots_alloc(&s, 4, 0, DP_SEG_PROTECTED);
    /* Window (b, a), then protected (d), then probation (c). */
    int32_t want[] = {b, a, d, c}, i = dp_slots_first(&s);
    for (int k = 0; k < 4; k++, i = dp_slots_next(&s, i)) CHECK(i == want[k]);
    CHECK(i == -1);
    dp_slots_to_front(&s, a);
    CHECK(s.head[DP_SEG_WINDOW] == a && s.tail[DP_SEG_WINDOW] == b);
    dp_slots_move_head(&s, DP_SEG_PROTECTED, a);
    CHECK(s.seg_len[DP_SEG_WINDOW] == 1 && s.seg_len[DP_SEG_PROTECTED] == 2);
    CHECK(dp_slots_seg(&s, a) == DP_SEG_PROTECTED && s.head[DP_SEG_PROTECTED] == a);
    CHECK(dp_slots_check(&s) == DP_OK);
    /* Hit counts: saturating, ranked. */
    dp_slots_count_hit(&s, c);
    dp_slots_count_hit(&s, c);
    dp_slots_count_hit(&s, d);
    s.node[b].n_hits = DP_SLOTS_HITS_MAX - 1;
    dp_slots_count_hit(&s, b);
    dp_slots_count_hit(&s, b);
    CHECK(dp_slots_hits(&s, b) == DP_SLOTS_HITS_MAX);
    CHECK(dp_slots_seg(&s, b) == DP_SEG_WINDOW && dp_slots_mark(&s, b) == 0); /* no spill */
    int32_t top[4];
    CHECK(dp_slots_top_hits(&s, top, 3) == 3);
    CHECK(top[0] == b && top[1] == c && top[2] == d);
    /* The check must notice a broken link. */
    s.node[c].prev = a;
    CHECK(dp_slots_check(&s) == DP_ECORRUPT);
    s.node[c].prev = -1;
    CHECK(dp_slots_check(&s) == DP_OK);
    s.seg_len[DP_SEG_WINDOW]++;
    CHECK(dp_slots_check(&s) == DP_ECORRUPT);
    dp_slots_free(&s);
}

/* Consecutive integer hashes get consecutive home buckets; keys that differ only in high bits
 * spread; random hashes mixed in keep every key reachable through inserts and deletes. */
static void test_locality(void) {
    dp_slots_t s;
    CHECK(dp_slots_init(&s, 4096) == DP_OK && dp_slots_reserve(&s, 4096) == DP_OK);
    int32_t seq[1000], rnd[1000];
    for (uint64_t h = 0; h < 1000; h++) seq[h] = dp_slots_alloc(&s, h, 0, DP_SEG_WINDOW);
    for (uint64_t h = 0; h < 1000; h++) CHECK(dp_slots_probe_begin(&s, h) == h);
    size_t homes[64];
    for (uint64_t k = 0; k < 64; k++) homes[k] = dp_slots_probe_begin(&s, k << 40);
    size_t distinct = 0;
    for (int a = 0; a < 64; a++) {
        int seen = 0;
        for (int b = 0; b < a; b++) seen |= homes[b] == homes[a];
        distinct += !seen;
    }
    CHECK(distinct > 48);
    uint64_t rhash[1000];
    for (int i = 0; i < 1000; i++) rnd[i] = dp_slots_alloc(&s, rhash[i] = l1_rand(), 0, DP_SEG_WINDOW);
    CHECK(dp_slots_check(&s) == DP_OK);
    for (int i = 0; i < 1000; i += 2) {
        dp_slots_release(&s, seq[i]);
        dp_slots_release(&s, rnd[i]);
    }
    CHECK(dp_slots_check(&s) == DP_OK);
    for (int i = 0; i < 1000; i++) {
        CHECK(found(&s, (uint64_t)i, seq[i]) == (i % 2));
        CHECK(found(&s, rhash[i], rnd[i]) == (i % 2));
    }
    dp_slots_free(&s);
}

/* The longest distance from home in the table. */
static size_t longest_distance(const dp_slots_t *s) {
    size_t worst = 0;
    for (size_t i = 0; i < s->n_buckets; i++) {
        if (s->table[i].slot < 0) continue;
        const size_t d = (i - dp_slots_tag_home(s, s->table[i].tag)) & (s->n_buckets - 1);
        if (d > worst) worst = d;
    }
    return worst;
}

/* Two overlapping blocks of consecutive keys (a cache of ids 10**7.., then ids 2 * 10**7..,
 * evicting the oldest as it goes): in the consecutive-key layout every insert walked the rest
 * of a dense run (O(n) each); the first long walk switches the table to mixed homes. */
static void test_overlapping_blocks(void) {
    enum { N = 50000 };
    dp_slots_t s;
    CHECK(dp_slots_init(&s, N) == DP_OK && dp_slots_reserve(&s, N) == DP_OK);
    int32_t *slot_of = malloc(N * sizeof(int32_t));
    for (uint64_t i = 0; i < N; i++) slot_of[i] = dp_slots_alloc(&s, 10000000 + i, 0, DP_SEG_WINDOW);
    CHECK(!s.mixed); /* one block: the layout is kept */
    CHECK(longest_distance(&s) == 0);
    size_t worst = 0; /* the old layout reached distances over 11,000 midway */
    for (uint64_t i = 0; i < N; i++) {
        dp_slots_release(&s, slot_of[i]);
        slot_of[i] = dp_slots_alloc(&s, 20000000 + i, 0, DP_SEG_WINDOW);
        if (i % 1000 == 0 && longest_distance(&s) > worst) worst = longest_distance(&s);
    }
    CHECK(s.mixed);
    CHECK(worst <= DP_SLOTS_LONG_WALK);
    CHECK(dp_slots_check(&s) == DP_OK);
    for (uint64_t i = 0; i < N; i += 97) CHECK(found(&s, 20000000 + i, slot_of[i]));
    CHECK(dp_slots_reserve(&s, N) == DP_OK && dp_slots_check(&s) == DP_OK);
    free(slot_of);
    dp_slots_free(&s);
}

/* Two interleaved blocks of consecutive keys whose homes are apart in every smaller table and
 * coincide in a grown one (bases built from dp_slots_tag's formula): the growth rehash must
 * switch to mixed homes at its first long walk, not finish in the old layout (which walked
 * 6.7e7 buckets here: quadratic). Counted by the test build's dp_slots_walks. */
extern size_t dp_slots_walks;
static void test_rehash_switches_at_once(void) {
    enum { N = 1 << 14 }; /* per block */
    const uint64_t a = 683206749565288448ULL, b = 150460824472420352ULL;
    dp_slots_t s;
    CHECK(dp_slots_init(&s, 4 * N) == DP_OK);
    int32_t *slot_of = malloc(N * sizeof(int32_t));
    const size_t before = dp_slots_walks;
    for (uint64_t j = 0; j < N; j++) {
        CHECK(dp_slots_reserve(&s, s.len + 2) == DP_OK);
        slot_of[j] = dp_slots_alloc(&s, a + j, 0, DP_SEG_WINDOW);
        dp_slots_alloc(&s, b + j, 0, DP_SEG_WINDOW);
    }
    CHECK(s.mixed);
    CHECK(dp_slots_walks - before < 2000000);
    CHECK(dp_slots_check(&s) == DP_OK);
    for (uint64_t j = 0; j < N; j += 101) CHECK(found(&s, a + j, slot_of[j]));
    free(slot_of);
    dp_slots_free(&s);
}

/* Random allocs and releases against a model of which hash each slot holds. */
static void test_random(void) {
    enum { CAP = 300, STEPS = 20000 };
    dp_slots_t s;
    uint64_t held[CAP];
    int32_t live[CAP];
    size_t n_live = 0;
    CHECK(dp_slots_init(&s, CAP) == DP_OK);
    for (int step = 0; step < STEPS; step++) {
        const uint64_t r = l1_rand();
        if (n_live < CAP && (r & 3) != 0) {
            if (s.len == s.n_slots) CHECK(dp_slots_reserve(&s, s.len + 1) == DP_OK);
            const uint64_t hash = (r >> 8) % 97; /* few hashes: collisions galore */
            const int32_t i = dp_slots_alloc(&s, hash, 1, (int)((r >> 4) % 3));
            held[i] = hash;
            live[n_live++] = i;
        } else if (n_live) {
            const size_t k = (r >> 8) % n_live;
            dp_slots_release(&s, live[k]);
            live[k] = live[--n_live];
        }
        if (step % 97 == 0) CHECK(dp_slots_check(&s) == DP_OK);
    }
    CHECK(s.len == n_live && s.total_weight == (int64_t)n_live);
    for (size_t k = 0; k < n_live; k++) CHECK(found(&s, held[live[k]], live[k]));
    CHECK(dp_slots_check(&s) == DP_OK);
    dp_slots_free(&s);
}

/* The hash back from a tag and a rest (the inverse of dp_slots_tag + dp_slots_rest). */
static uint64_t untag(const dp_slots_t *s, uint32_t tag, uint32_t rest) {
    uint64_t inv = DP_SLOTS_PHI; /* PHI's inverse mod 2**64 by Newton's iteration */
    for (int k = 0; k < 6; k++) inv *= 2 - DP_SLOTS_PHI * inv;
    if (s->mixed) return ((uint64_t)tag << 32 | rest) * inv;
    const unsigned b = s->log2_buckets;
    const uint64_t high = (uint64_t)rest << (32 - b) | (tag & ((1u << (32 - b)) - 1)); /* hash >> b */
    const uint64_t home = tag >> (32 - b);
    return high << b | ((home ^ ((high * DP_SLOTS_PHI) >> (64 - b))) & (((uint64_t)1 << b) - 1));
}

/* A probe compares tags and rests only: together they must be the whole hash, in both layouts
 * and at every table size (else two keys with different hashes would both match). */
static void test_tag_and_rest_are_the_hash(void) {
    dp_slots_t s = {0};
    uint64_t x = 12345;
    for (unsigned b = 3; b <= 31; b++) {
        s.log2_buckets = b;
        for (unsigned mixed = 0; mixed < 2; mixed++) {
            s.mixed = mixed;
            for (int k = 0; k < 3000; k++) {
                x += 0x9E3779B97F4A7C15ULL; /* splitmix64 */
                uint64_t h = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
                h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
                h ^= h >> 31;
                const uint64_t cases[4] = {h, (uint64_t)k, h << 32, ~(uint64_t)k};
                for (int c = 0; c < 4; c++)
                    CHECK(untag(&s, dp_slots_tag(&s, cases[c]), dp_slots_rest(&s, cases[c])) ==
                          cases[c]);
            }
        }
    }
    /* A node whose rest is not its hash's is caught by the check. */
    CHECK(dp_slots_init(&s, 64) == DP_OK && dp_slots_reserve(&s, 64) == DP_OK);
    const int32_t a = dp_slots_alloc(&s, 5, 0, DP_SEG_WINDOW);
    CHECK(dp_slots_check(&s) == DP_OK && found(&s, 5, a));
    s.node[a].rest ^= 1;
    CHECK(dp_slots_check(&s) == DP_ECORRUPT && !found(&s, 5, a));
    s.node[a].rest ^= 1;
    CHECK(dp_slots_check(&s) == DP_OK);
    dp_slots_free(&s);
}

/* Growth fills each index table to its bound (buckets >= 1.5 x slots) and about doubles: a
 * growth that would add under half the slots goes to the next table. */
static void test_growth_fills_the_table(void) {
    dp_slots_t s;
    CHECK(dp_slots_init(&s, 1000) == DP_OK);
    static const size_t sizes[] = {DP_SLOTS_FIRST, 11, 21, 43, 85, 171, 341, 683, 1000};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        CHECK(s.n_slots == sizes[k]);
        if (sizes[k] < 1000) {
            /* the table indexes these slots and not one more */
            CHECK(s.n_buckets >= s.n_slots + s.n_slots / 2);
            if (k) CHECK(s.n_buckets < (s.n_slots + 1) + (s.n_slots + 1) / 2);
        }
        while (s.len < s.n_slots) dp_slots_alloc(&s, 0x9E3779B97F4A7C15ULL * (s.len + 1), 0,
                                                 DP_SEG_WINDOW);
        CHECK(dp_slots_check(&s) == DP_OK);
        if (s.len < 1000) CHECK(dp_slots_reserve(&s, s.len + 1) == DP_OK);
    }
    CHECK(s.n_slots == 1000 && s.len == 1000 && dp_slots_grown(&s, 1000) == 1000);
    /* A request past the next bound is met exactly. */
    dp_slots_t t;
    CHECK(dp_slots_init(&t, 1000) == DP_OK);
    CHECK(dp_slots_grown(&t, 500) == 500 && dp_slots_reserve(&t, 500) == DP_OK);
    CHECK(t.n_slots == 500 && t.n_buckets == 1024 && dp_slots_check(&t) == DP_OK);
    dp_slots_free(&t);
    dp_slots_free(&s);
}

/* The growth chain from DP_SLOTS_FIRST to cap, for every cap up to 2**17 and the caps around
 * DP_SLOTS_MAX_CAP, without allocating (dp_slots_grown reads n_slots, n_buckets and cap only):
 * each step grows, stays within cap, grows at least 1.5x until cap (amortised O(1)) and at most
 * about 3x, and is a fixed point (dp_lru_reserve asks dp_slots_grown, then dp_slots_reserve
 * asks it again with that answer). The table it implies indexes the slots at 1.5 buckets each. */
static size_t buckets_for(size_t n_slots) { /* dp_slots_size_table's answer */
    size_t n = 8;
    while (n < n_slots + n_slots / 2) n <<= 1;
    return n;
}

static int growth_chain_ok(size_t cap) {
    dp_slots_t s = {0};
    s.cap = cap;
    s.n_slots = cap < DP_SLOTS_FIRST ? cap : DP_SLOTS_FIRST;
    s.n_buckets = buckets_for(s.n_slots);
    for (int steps = 0; s.n_slots < cap; steps++) {
        const size_t g = dp_slots_grown(&s, s.n_slots + 1);
        if (steps > 64 || g <= s.n_slots || g > cap || dp_slots_grown(&s, g) != g) return 0;
        if (g < cap && (g < s.n_slots + s.n_slots / 2 || g > 3 * s.n_slots + 8)) return 0;
        s.n_slots = g;
        s.n_buckets = buckets_for(g);
    }
    return dp_slots_grown(&s, cap) == cap;
}

static void test_growth_chain_every_cap(void) {
    size_t bad = 0;
    for (size_t cap = 1; cap <= ((size_t)1 << 17); cap++) bad += !growth_chain_ok(cap);
    for (size_t cap = DP_SLOTS_MAX_CAP - 1000; cap <= DP_SLOTS_MAX_CAP; cap++)
        bad += !growth_chain_ok(cap);
    for (unsigned sh = 18; sh <= 30; sh++)
        for (size_t d = 0; d < 3; d++) bad += !growth_chain_ok(((size_t)1 << sh) - 1 + d);
    CHECK(bad == 0);
}

int main(void) {
    test_tag_and_rest_are_the_hash();
    test_init_and_growth();
    test_growth_fills_the_table();
    test_growth_chain_every_cap();
    test_collisions_and_delete();
    test_segments();
    test_locality();
    test_overlapping_blocks();
    test_rehash_switches_at_once();
    test_random();
    L1_DONE();
}
