/* Unit tests of csrc/policy.c and csrc/tinylfu.c through the composed core (lru.c): the policy
 * table, LRU order and victims, and W-TinyLFU's window, admission by frequency, promotion on a
 * (buffered) hit, pending hits, ghosts, the sampled shadows (LRU, W-TinyLFU) and their switches,
 * copy and clear; dp_lru_check after every step and catching a broken policy bound. Built and
 * run by test_l1_core.py. */
#include <string.h>

#include "hash.h"
#include "l1_check.h"
#include "lru.h"
#include "tinylfu.h"

static int32_t insert(dp_lru_t *c, uint64_t hash) {
    if (c->slots.len == c->slots.cap) {
        const int32_t v = dp_policy_victim(&c->policy, &c->slots);
        dp_policy_on_evict(&c->policy, &c->slots, v);
        dp_lru_remove(c, v);
    }
    dp_policy_on_write(&c->policy, hash);
    return dp_lru_insert(c, hash, 0, DP_LRU_NEVER);
}

/* The live slot holding `hash`, or -1. */
static int32_t lookup(const dp_lru_t *c, uint64_t hash) {
    size_t pos = dp_slots_probe_begin(&c->slots, hash);
    return dp_slots_probe_next(&c->slots, hash, &pos);
}

static void test_table(void) {
    CHECK(dp_policy_count() == 3);
    CHECK(strcmp(dp_policy_name(DP_POLICY_LRU), "lru") == 0);
    CHECK(strcmp(dp_policy_name(DP_POLICY_TINYLFU), "tinylfu") == 0);
    CHECK(strcmp(dp_policy_name(2), "sieve") == 0);
    CHECK(dp_policy_name(3) == NULL && dp_policy_name(-1) == NULL);
    CHECK(dp_policy_find("tinylfu") == DP_POLICY_TINYLFU && dp_policy_find("fifo") == -1);
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 10, 7) == DP_EINVAL);
    CHECK(dp_lru_init(&c, 0, DP_POLICY_LRU) == DP_EINVAL);
    dp_lru_free(&c); /* safe after a failed init */
}

static void test_lru(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 3, DP_POLICY_LRU) == DP_OK);
    CHECK(c.policy.sketch == NULL && c.policy.state == NULL);
    const int32_t a = insert(&c, 1), b = insert(&c, 2);
    insert(&c, 3);
    CHECK(dp_policy_victim(&c.policy, &c.slots) == a);
    dp_lru_touch(&c, a); /* a hit moves a to the front at once */
    CHECK(dp_policy_victim(&c.policy, &c.slots) == b && dp_slots_hits(&c.slots, a) == 1);
    CHECK(dp_lru_victim_except(&c, b) == dp_slots_prev(&c.slots, b));
    insert(&c, 4); /* evicts b */
    CHECK(lookup(&c, 2) == -1 && lookup(&c, 1) == a && c.slots.len == 3);
    CHECK(dp_lru_check(&c) == DP_OK);
    /* LRU keeps every entry in the window: anything else is corrupt. */
    dp_slots_move_head(&c.slots, DP_SEG_PROBATION, a);
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    dp_lru_free(&c);
}

/* The write path's edges: an empty cache has no victim under any policy (the "victim is keep"
 * fallback must not read a node for keep -1), and W-TinyLFU exposes its ghost table for the
 * write's prefetch, which dp_lru_check holds to the policy's own table. */
static void test_write_path_edges(void) {
    for (int kind = 0; kind < dp_policy_count(); kind++) {
        dp_lru_t c;
        CHECK(dp_lru_init(&c, 4, kind) == DP_OK);
        CHECK(dp_lru_victim_except(&c, -1) == -1);
        const int32_t a = insert(&c, 1);
        CHECK(dp_lru_victim_except(&c, a) == -1 && dp_lru_victim_except(&c, -1) == a);
        dp_lru_free(&c);
    }
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 1000, DP_POLICY_TINYLFU) == DP_OK);
    const dp_tinylfu_t *const t = c.policy.state;
    CHECK(c.policy.key_words == t->ghost && c.policy.key_mask == t->ghost_mask);
    c.policy.key_mask >>= 1;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    c.policy.key_mask = t->ghost_mask;
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

static void test_tinylfu_segments(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 100, DP_POLICY_TINYLFU) == DP_OK);
    CHECK(c.policy.sketch != NULL);
    /* The read buffer (policy.h): DP_TINYLFU_READS_MAX entries (one per key in a smaller cache). */
    CHECK(c.policy.reads != NULL && c.policy.reads_cap == DP_TINYLFU_READS_MAX &&
          c.policy.n_reads == 0);
    CHECK(c.policy.seg_max[DP_SEG_WINDOW] == 1 && c.policy.seg_max[DP_SEG_PROTECTED] == 74);
    for (uint64_t h = 1; h <= 50; h++) insert(&c, h * 0x10001);
    /* The window holds one entry; the rest overflowed into probation. */
    CHECK(c.slots.seg_len[DP_SEG_WINDOW] == 1 && c.slots.seg_len[DP_SEG_PROBATION] == 49);
    const int32_t p = lookup(&c, 7 * 0x10001);
    CHECK(p >= 0 && dp_slots_seg(&c.slots, p) == DP_SEG_PROBATION);
    dp_lru_touch(&c, p);
    CHECK(c.policy.n_reads == 1 && dp_slots_seg(&c.slots, p) == DP_SEG_PROBATION); /* buffered */
    dp_policy_drain(&c.policy, &c.slots);
    CHECK(c.policy.n_reads == 0 && dp_slots_seg(&c.slots, p) == DP_SEG_PROTECTED); /* promoted */
    CHECK(dp_lru_check(&c) == DP_OK);
    /* A buffered hit on a slot freed and reused meanwhile moves nothing. */
    const int32_t q = lookup(&c, 9 * 0x10001);
    dp_lru_touch(&c, q);
    dp_lru_remove(&c, q);
    const int32_t r = insert(&c, 12345);
    CHECK(r == q); /* the free list hands the same slot back */
    dp_policy_drain(&c.policy, &c.slots);
    CHECK(dp_slots_seg(&c.slots, r) != DP_SEG_PROTECTED);
    CHECK(dp_lru_check(&c) == DP_OK);
    /* The read buffer drains by itself when full. */
    for (int i = 0; i < 300; i++) dp_lru_touch(&c, p);
    CHECK(c.policy.n_reads == 300 % DP_TINYLFU_READS_MAX && dp_lru_check(&c) == DP_OK);
    dp_policy_drain(&c.policy, &c.slots);
    /* The buffer must sample as the shadows do, or a sampled hit would reach them late. */
    c.policy.sample_mask ^= 1;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    c.policy.sample_mask ^= 1;
    CHECK(dp_lru_check(&c) == DP_OK);
    /* An unsampled hit only waits in the buffer; a sampled one is counted at once, with every
     * hit before it. */
    const dp_tinylfu_t *const t = c.policy.state;
    int32_t plain = -1, sampled = -1;
    for (int32_t x = dp_slots_first(&c.slots); x >= 0; x = dp_slots_next(&c.slots, x)) {
        const int is = (dp_fmix64(dp_slots_hash(&c.slots, x)) & c.policy.sample_mask) ==
                       c.policy.sample_match;
        if (is && sampled < 0) sampled = x;
        if (!is && plain < 0) plain = x;
    }
    CHECK(plain >= 0 && sampled >= 0 && c.policy.n_reads == 0);
    const uint64_t clock = t->shadow.clock;
    dp_lru_touch(&c, plain);
    CHECK(c.policy.n_reads == 1 && t->n_counted == 0 && t->shadow.clock == clock);
    dp_lru_touch(&c, sampled);
    CHECK(c.policy.n_reads == 2 && t->n_counted == 2 && t->shadow.clock == clock + 1);
    /* A policy bound broken by hand is caught. */
    c.policy.seg_max[DP_SEG_PROTECTED] += 1;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    dp_lru_free(&c);
}

/* A probation hit's promotion waits in its own queue of cap / DP_TINYLFU_PROMOTION_DIV
 * entries, after the read buffer's flush: the key stays where it was in probation (still the
 * victim if it was the tail, its hit counted) until the queue fills or the order is read. */
static void flush_with_window_hits(dp_lru_t *c) {
    while (c->policy.n_reads) dp_lru_touch(c, c->slots.head[DP_SEG_WINDOW]);
}

static void test_tinylfu_promotion_queue(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 100, DP_POLICY_TINYLFU) == DP_OK);
    dp_tinylfu_t *const t = c.policy.state;
    CHECK(t->promo_cap == 100 / DP_TINYLFU_PROMOTION_DIV && t->n_promo == 0);
    for (uint64_t h = 1; h <= 50; h++) insert(&c, h * 0x10001);
    CHECK(c.slots.seg_len[DP_SEG_WINDOW] == 1 && c.slots.seg_len[DP_SEG_PROBATION] == 49);
    const int32_t tail = c.slots.tail[DP_SEG_PROBATION];
    CHECK(tail == lookup(&c, 1 * 0x10001));
    /* 11 probation hits (keys 1..11, the oldest: the probation tail first), then window hits
     * up to a full read buffer: the window hits are applied, the 11 promotions queued. */
    int32_t hit[12];
    for (uint64_t k = 1; k <= 12; k++) hit[k - 1] = lookup(&c, k * 0x10001);
    for (int i = 0; i < 11; i++) dp_lru_touch(&c, hit[i]);
    flush_with_window_hits(&c);
    CHECK(t->n_promo == 11 && dp_lru_check(&c) == DP_OK);
    for (int i = 0; i < 11; i++) CHECK(dp_slots_seg(&c.slots, hit[i]) == DP_SEG_PROBATION);
    CHECK(c.slots.tail[DP_SEG_PROBATION] == tail && c.policy.pending[tail] == 1);
    /* The 12th fills the queue: all 12 promoted, oldest first (the first hit is protected's
     * least recent). */
    dp_lru_touch(&c, hit[11]);
    flush_with_window_hits(&c);
    CHECK(t->n_promo == 0 && dp_lru_check(&c) == DP_OK);
    for (int i = 0; i < 12; i++) CHECK(dp_slots_seg(&c.slots, hit[i]) == DP_SEG_PROTECTED);
    CHECK(c.slots.tail[DP_SEG_PROTECTED] == hit[0] && c.slots.head[DP_SEG_PROTECTED] == hit[11]);
    /* A queued promotion of a slot freed and reused by another key moves nothing; reading the
     * order (drain) applies the rest of the queue. */
    const int32_t q = lookup(&c, 20 * 0x10001), r = lookup(&c, 21 * 0x10001);
    CHECK(dp_slots_seg(&c.slots, q) == DP_SEG_PROBATION && dp_slots_seg(&c.slots, r) == DP_SEG_PROBATION);
    dp_lru_touch(&c, q);
    dp_lru_touch(&c, r);
    flush_with_window_hits(&c);
    CHECK(t->n_promo == 2);
    dp_lru_remove(&c, q);
    const int32_t reused = insert(&c, 777);
    CHECK(reused == q);
    dp_policy_drain(&c.policy, &c.slots);
    CHECK(t->n_promo == 0 && dp_slots_seg(&c.slots, reused) != DP_SEG_PROTECTED &&
          dp_slots_seg(&c.slots, r) == DP_SEG_PROTECTED && dp_lru_check(&c) == DP_OK);
    /* A full queue, or a queued slot out of range, is corrupt. */
    t->n_promo = t->promo_cap;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    t->n_promo = 1;
    t->promo[0].slot = (int32_t)c.slots.n_slots;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    t->n_promo = 0;
    CHECK(dp_lru_check(&c) == DP_OK);
    /* clear empties the queue. */
    dp_lru_touch(&c, lookup(&c, 30 * 0x10001));
    flush_with_window_hits(&c);
    CHECK(t->n_promo == 1);
    dp_lru_clear(&c);
    CHECK(t->n_promo == 0 && dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
    /* A cache under 2 x DP_TINYLFU_PROMOTION_DIV entries promotes at the buffer's flush. */
    CHECK(dp_lru_init(&c, 10, DP_POLICY_TINYLFU) == DP_OK);
    CHECK(((dp_tinylfu_t *)c.policy.state)->promo_cap == 1);
    dp_lru_free(&c);
}

/* Sketch and ghost table grow with the slots, keeping counts and ghosts; in a cache of over
 * DP_TINYLFU_TWO_WORD_KEYS entries the sketch has one word per key once the slots reach cap
 * (two would take 2**19 words here), half that before (see DP_TINYLFU_FILL_DIV). */
static void test_tinylfu_sizing(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 200000, DP_POLICY_TINYLFU) == DP_OK);
    dp_tinylfu_t *const t = c.policy.state;
    CHECK(t->sketch_keys == DP_TINYLFU_FIRST_SKETCH_KEYS);
    CHECK(t->sketch.n_words == 2 * DP_TINYLFU_FIRST_SKETCH_KEYS);
    CHECK(t->ghost_mask + 1 == DP_TINYLFU_FIRST_SKETCH_KEYS / 2);
    const uint64_t key = 0xABCDEF12345ULL, ghost = key << 32 | 77;
    for (int i = 0; i < 3; i++) dp_policy_on_write(&c.policy, key);
    t->ghost[dp_fmix64(key) & t->ghost_mask] = ghost;
    CHECK(dp_lru_reserve(&c, 150000) == DP_OK && dp_lru_check(&c) == DP_OK);
    /* 150,000 to 200,000 slots, under cap: half a word per key, 2**17 words. */
    CHECK(t->sketch_keys == c.slots.n_slots && c.slots.n_slots >= 150000 &&
          c.slots.n_slots < 200000);
    CHECK(t->sketch.n_words == 131072);
    CHECK(dp_sketch_estimate(&t->sketch, key) == 3);
    CHECK(t->ghost_mask + 1 == 131072 && t->ghost[dp_fmix64(key) & t->ghost_mask] == ghost);
    /* The ghost is tiled, once per copy of the old table, and nothing else appears. */
    size_t live = 0;
    for (size_t i = 0; i <= t->ghost_mask; i++) live += t->ghost[i] != 0;
    CHECK(live == 131072 / (DP_TINYLFU_FIRST_SKETCH_KEYS / 2));
    /* The slots reach cap: one word per key, 2**18 words, the counts kept. */
    CHECK(dp_lru_reserve(&c, 200000) == DP_OK && dp_lru_check(&c) == DP_OK);
    CHECK(c.slots.n_slots == 200000 && t->sketch_keys == 200000);
    CHECK(t->sketch.n_words == 262144);
    CHECK(dp_sketch_estimate(&t->sketch, key) == 3);
    dp_lru_free(&c);
}

/* The sizes along a fill, by insertion as a user fills a cache: in a cache of up to
 * DP_TINYLFU_TWO_WORD_KEYS entries two words per key once full and one before (never under the
 * first sketch); no growth step ever shrinks a table (the counts tile forward). The sketch of
 * 10,000 entries in a cache made for 1M takes 64 KiB, 6.6 B/entry (it took 256 KiB, 26 B/entry:
 * the row of the `lru` bench where W-TinyLFU cost more than lru-dict). */
static void test_tinylfu_fill_sizes(void) {
    static const size_t caps[] = {100, 4096, 4097, 50000, 65536, 65537, 1000000};
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        const size_t cap = caps[k], n_fill = cap < 120000 ? cap : 120000;
        const size_t per_key = cap > DP_TINYLFU_TWO_WORD_KEYS ? 1 : 2;
        dp_lru_t c;
        CHECK(dp_lru_init(&c, cap, DP_POLICY_TINYLFU) == DP_OK);
        const dp_tinylfu_t *const t = c.policy.state;
        size_t words = t->sketch.n_words, ghosts = t->ghost_mask + 1, growths = 0;
        for (size_t i = 0; i < n_fill; i++) {
            CHECK(dp_lru_insert(&c, dp_fmix64(i + 1), 0, DP_LRU_NEVER) >= 0);
            if (t->sketch.n_words == words && t->ghost_mask + 1 == ghosts) continue;
            CHECK(t->sketch.n_words > words || t->ghost_mask + 1 > ghosts);
            CHECK(t->sketch.n_words >= words && t->ghost_mask + 1 >= ghosts);
            words = t->sketch.n_words;
            ghosts = t->ghost_mask + 1;
            growths++;
            /* At least the words per key the fill allows, at most twice (a power of two). */
            const size_t keys = t->sketch_keys, first = 2 * DP_TINYLFU_FIRST_SKETCH_KEYS;
            const size_t want = c.slots.n_slots == cap ? keys * per_key
                                                       : keys * per_key / DP_TINYLFU_FILL_DIV;
            CHECK(words >= want && (words < 2 * want || words == first || words == 8));
        }
        if (cap == 1000000) {
            /* 120,000 entries of 1M: the fill-time size of 2**17 words (1 MiB). */
            CHECK(t->sketch.n_words == 131072 && growths > 0);
        } else {
            CHECK(c.slots.n_slots == cap && t->sketch_keys == cap);
            size_t full = 8;
            while (full < cap * per_key) full <<= 1;
            CHECK(t->sketch.n_words == full);
        }
        CHECK(dp_lru_check(&c) == DP_OK);
        dp_lru_free(&c);
    }
    /* The bench's row: 10,000 entries in a cache made for 1M. */
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 1000000, DP_POLICY_TINYLFU) == DP_OK);
    for (size_t i = 0; i < 10000; i++) CHECK(dp_lru_insert(&c, dp_fmix64(i + 1), 0, DP_LRU_NEVER) >= 0);
    const dp_tinylfu_t *const t = c.policy.state;
    CHECK(t->sketch.n_words * sizeof(uint64_t) == 65536);
    CHECK(t->sketch.n_words * sizeof(uint64_t) <= 7 * c.slots.len); /* B/entry */
    /* _check sees a sketch of the wrong size for its keys (here: as if the slots were full). */
    dp_tinylfu_t *const tm = c.policy.state;
    const size_t keys = tm->sketch_keys;
    tm->sketch_keys = 1000000;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    tm->sketch_keys = keys;
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

/* A hit's frequency waits in its slot's pending byte: the sketch sees it when the slot is
 * compared (estimate + pending), freed (folded in), sampled (at once) or the sketch halves
 * (all folded first); the bytes saturate at 15, start at 0 for new slots, and a stale one is
 * caught. */
static void test_tinylfu_pending(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 1000, DP_POLICY_TINYLFU) == DP_OK);
    dp_tinylfu_t *const t = c.policy.state;
    const size_t first = t->n_pending;
    CHECK(first >= c.slots.n_slots && first < 1000);
    for (uint64_t h = 1; h <= 600; h++) insert(&c, h * 104729);
    /* The array grew with the slots, new bytes 0. */
    CHECK(t->n_pending >= c.slots.n_slots && c.slots.n_slots >= 600 && dp_lru_check(&c) == DP_OK);
    int32_t plain = -1, plain2 = -1, sampled = -1;
    for (int32_t x = dp_slots_first(&c.slots); x >= 0; x = dp_slots_next(&c.slots, x)) {
        CHECK(c.policy.pending[x] == 0);
        const int is = (dp_fmix64(dp_slots_hash(&c.slots, x)) & c.policy.sample_mask) ==
                       c.policy.sample_match;
        if (is && sampled < 0) sampled = x;
        if (!is && plain >= 0 && plain2 < 0) plain2 = x;
        if (!is && plain < 0) plain = x;
    }
    CHECK(plain >= 0 && plain2 >= 0 && sampled >= 0);
    const uint64_t hp = dp_slots_hash(&c.slots, plain), hs = dp_slots_hash(&c.slots, sampled);
    const unsigned ep = dp_sketch_estimate(&t->sketch, hp), es = dp_sketch_estimate(&t->sketch, hs);
    CHECK(ep >= 1 && es >= 1); /* the writes counted at once */
    for (int i = 0; i < 3; i++) dp_lru_touch(&c, plain);
    dp_lru_touch(&c, sampled);
    CHECK(c.policy.pending[plain] == 3 && dp_sketch_estimate(&t->sketch, hp) == ep);
    CHECK(c.policy.pending[sampled] == 0 && dp_sketch_estimate(&t->sketch, hs) == es + 1);
    CHECK(dp_lru_check(&c) == DP_OK);
    /* Freed: the pending hits join the sketch, the byte is 0 for the slot's next key. */
    dp_lru_remove(&c, plain);
    CHECK(c.policy.pending[plain] == 0 && dp_sketch_estimate(&t->sketch, hp) == ep + 3);
    CHECK(dp_lru_check(&c) == DP_OK);
    /* Saturation at 15, and aging: at a halving, every pending byte joins the sketch first, so
     * a key's whole count halves (15 -> 7). */
    for (int i = 0; i < 20; i++) dp_lru_touch(&c, plain2);
    CHECK(c.policy.pending[plain2] == DP_POLICY_PENDING_MAX);
    dp_policy_drain(&c.policy, &c.slots);
    const uint64_t resets = t->sketch.n_resets;
    t->sketch.additions = t->sketch.sample_size - 1;
    dp_lru_touch(&c, sampled); /* raised its byte (then folded): a count, the halving due */
    CHECK(t->sketch.n_resets == resets + 1 && c.policy.pending[plain2] == 0);
    CHECK(dp_sketch_estimate(&t->sketch, dp_slots_hash(&c.slots, plain2)) == 7);
    CHECK(dp_lru_check(&c) == DP_OK);
    /* A cache of more than DP_TINYLFU_FOLD_MAX_SLOTS slots halves the bytes in place. */
    {
        dp_lru_t big;
        CHECK(dp_lru_init(&big, 20000, DP_POLICY_TINYLFU) == DP_OK);
        dp_tinylfu_t *const tb = big.policy.state;
        for (uint64_t h = 1; h <= DP_TINYLFU_FOLD_MAX_SLOTS + 100; h++) insert(&big, h * 7919);
        CHECK(big.slots.n_slots > DP_TINYLFU_FOLD_MAX_SLOTS);
        int32_t x = -1;
        for (int32_t y = dp_slots_first(&big.slots); y >= 0 && x < 0; y = dp_slots_next(&big.slots, y))
            if ((dp_fmix64(dp_slots_hash(&big.slots, y)) & big.policy.sample_mask) !=
                big.policy.sample_match)
                x = y;
        CHECK(x >= 0);
        const unsigned before = dp_sketch_estimate(&tb->sketch, dp_slots_hash(&big.slots, x));
        for (int i = 0; i < 15; i++) dp_lru_touch(&big, x);
        dp_policy_drain(&big.policy, &big.slots);
        tb->sketch.additions = tb->sketch.sample_size;
        dp_policy_drain(&big.policy, &big.slots); /* settles: the halving */
        CHECK(big.policy.pending[x] == 7);
        CHECK(dp_sketch_estimate(&tb->sketch, dp_slots_hash(&big.slots, x)) == before / 2);
        CHECK(dp_lru_check(&big) == DP_OK);
        dp_lru_free(&big);
    }
    /* A buffered hit on a slot removed since is marked (negative), so the flush checks that
     * slot's hash alone; a bad mark is caught. */
    {
        const int32_t victim = plain2;
        const uint64_t hv = dp_slots_hash(&c.slots, victim);
        dp_policy_drain(&c.policy, &c.slots);
        dp_lru_touch(&c, victim);
        CHECK(c.policy.n_reads == 1 && c.policy.reads[0].slot == victim);
        dp_lru_remove(&c, victim);
        CHECK(c.policy.reads[0].slot < -1 && dp_lru_check(&c) == DP_OK);
        c.policy.reads[0].slot = -1;
        CHECK(dp_lru_check(&c) == DP_ECORRUPT);
        c.policy.reads[0].slot = -2 - victim;
        dp_policy_on_write(&c.policy, hv); /* the same key back, in the same slot */
        CHECK(dp_lru_insert(&c, hv, 0, DP_LRU_NEVER) == victim && dp_lru_check(&c) == DP_OK);
        dp_policy_drain(&c.policy, &c.slots);
        CHECK(c.policy.n_reads == 0 && dp_lru_check(&c) == DP_OK);
    }
    /* A stale byte on a free slot is caught. */
    c.policy.pending[plain] = 1;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    c.policy.pending[plain] = 0;
    CHECK(dp_lru_check(&c) == DP_OK);
    /* dp_sketch_add saturates each counter at 15, and says whether one rose. */
    CHECK(dp_sketch_add(&t->sketch, 42, 9) == 1 && dp_sketch_add(&t->sketch, 42, 9) == 1);
    CHECK(dp_sketch_estimate(&t->sketch, 42) == 15 && dp_sketch_add(&t->sketch, 42, 1) == 0);
    dp_lru_clear(&c);
    for (size_t i = 0; i < t->n_pending; i++) CHECK(c.policy.pending[i] == 0);
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

static void test_tinylfu_admission(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 50, DP_POLICY_TINYLFU) == DP_OK);
    /* Fill with keys written many times (popular), then a one-off key passes the window. */
    for (int round = 0; round < 5; round++)
        for (uint64_t h = 1; h <= 50; h++) {
            const int32_t s = lookup(&c, h * 977);
            if (s >= 0) dp_lru_touch(&c, s); else insert(&c, h * 977);
        }
    dp_policy_drain(&c.policy, &c.slots);
    insert(&c, 999999); /* enters the window */
    insert(&c, 888888); /* pushes 999999 out of a window of one: rejected, not admitted */
    CHECK(lookup(&c, 999999) == -1);
    size_t popular = 0;
    for (uint64_t h = 1; h <= 50; h++) popular += lookup(&c, h * 977) >= 0;
    CHECK(popular == 49); /* only the slot the newcomer holds was given up */
    /* 999999 lost admission from the window: back within cap reads, it is marked and admitted. */
    const int32_t back = insert(&c, 999999);
    CHECK(dp_slots_mark(&c.slots, back) == 1);
    insert(&c, 777777);
    CHECK(lookup(&c, 999999) >= 0);
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

static void test_copy_and_clear(void) {
    dp_lru_t c, d;
    int32_t remap[64];
    CHECK(dp_lru_init(&c, 64, DP_POLICY_TINYLFU) == DP_OK);
    for (uint64_t h = 1; h <= 64; h++) insert(&c, h * 31);
    for (uint64_t h = 1; h <= 64; h += 5) dp_lru_touch(&c, lookup(&c, h * 31));
    dp_policy_drain(&c.policy, &c.slots);
    CHECK(dp_lru_init(&d, 64, DP_POLICY_TINYLFU) == DP_OK);
    CHECK(dp_lru_copy_into(&c, &d, remap) == DP_OK);
    CHECK(dp_lru_check(&d) == DP_OK && d.slots.len == c.slots.len);
    int32_t i = dp_slots_first(&c.slots), j = dp_slots_first(&d.slots);
    for (; i >= 0 && j >= 0; i = dp_slots_next(&c.slots, i), j = dp_slots_next(&d.slots, j)) {
        CHECK(dp_slots_hash(&c.slots, i) == dp_slots_hash(&d.slots, j) && remap[i] == j);
        CHECK(dp_slots_hits(&c.slots, i) == dp_slots_hits(&d.slots, j));
    }
    CHECK(i == -1 && j == -1);
    dp_lru_clear(&c);
    CHECK(c.slots.len == 0 && dp_lru_check(&c) == DP_OK);
    for (uint64_t h = 1; h <= 10; h++) insert(&c, h);
    CHECK(c.slots.len == 10 && dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
    dp_lru_free(&d);
}

/* A read-through read: 1 if it hit. */
static int read_key(dp_lru_t *c, uint64_t key) {
    const int32_t s = lookup(c, key);
    if (s >= 0) {
        dp_lru_touch(c, s);
        return 1;
    }
    dp_policy_on_miss(&c->policy);
    insert(c, key);
    return 0;
}

/* The sampled shadows: sized 1 in 2**shift (more keys for small caches, none under 8 entries);
 * on a trace where LRU wins
 * (each key read twice, 300 new keys apart) the window becomes the whole cache and the cache
 * hits like LRU; when frequency then wins (a hot set of 900 keys among one-off reads, which
 * LRU cannot hold) the window goes back, on the verdict's second firing (the first drops a
 * quarter of the evidence and waits); dp_lru_check catches a broken shadow. */
static void test_tinylfu_shadows(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 7, DP_POLICY_TINYLFU) == DP_OK);
    const dp_tinylfu_shadow_t *sh = &((const dp_tinylfu_t *)c.policy.state)->shadow;
    CHECK(sh->cap == 0 && sh->mask == 0 && sh->match == 1); /* under 8 entries: no shadows */
    dp_lru_free(&c);
    /* Small caches sample more keys, so that a shadow keeps 16 entries or more: 1 in 2 at 50
     * entries, every key (exact shadows) under 32. */
    CHECK(dp_lru_init(&c, 50, DP_POLICY_TINYLFU) == DP_OK);
    sh = &((const dp_tinylfu_t *)c.policy.state)->shadow;
    CHECK(sh->cap == 25 && sh->mask == ~(uint64_t)0 << 63 && sh->match == 0);
    dp_lru_free(&c);
    CHECK(dp_lru_init(&c, 24, DP_POLICY_TINYLFU) == DP_OK);
    sh = &((const dp_tinylfu_t *)c.policy.state)->shadow;
    CHECK(sh->cap == 24 && sh->mask == 0 && sh->match == 0);
    size_t small_hits = 0;
    for (uint64_t k = 1; k <= 6000; k++) { /* each key read twice, 10 new keys apart */
        read_key(&c, k * 7919);
        const int hit = k > 10 ? read_key(&c, (k - 10) * 7919) : 0;
        if (k > 3000) small_hits += (size_t)hit;
    }
    /* The exact LRU shadow wins: plain LRU (window = cap), which holds every re-read (fewer
     * hit, as the read buffer of up to cap hits delays their moves to the front; a 1% window
     * would hold none of them). */
    CHECK(c.policy.seg_max[DP_SEG_WINDOW] == 24 && c.slots.seg_len[DP_SEG_WINDOW] == 24);
    CHECK(small_hits > 2000);
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
    CHECK(dp_lru_init(&c, 100000, DP_POLICY_TINYLFU) == DP_OK);
    sh = &((const dp_tinylfu_t *)c.policy.state)->shadow;
    CHECK(sh->cap == 100000 >> 9 && sh->mask == ~(uint64_t)0 << 55);
    dp_lru_free(&c);

    CHECK(dp_lru_init(&c, 1000, DP_POLICY_TINYLFU) == DP_OK);
    sh = &((const dp_tinylfu_t *)c.policy.state)->shadow;
    CHECK(sh->cap == 125 && c.policy.seg_max[DP_SEG_WINDOW] == 10);
    size_t hits = 0, main_at_switch = SIZE_MAX;
    for (uint64_t k = 1; k <= 30000; k++) {
        read_key(&c, k * 7919);
        const size_t hit = k > 300 ? (size_t)read_key(&c, (k - 300) * 7919) : 0;
        if (k > 20000) hits += hit;
        if (main_at_switch == SIZE_MAX && c.policy.seg_max[DP_SEG_WINDOW] == 1000)
            main_at_switch = c.slots.seg_len[DP_SEG_PROBATION] + c.slots.seg_len[DP_SEG_PROTECTED];
    }
    /* The shadow LRU made the switch, at once and whole: the main region was absorbed into the
     * window (the ghost check's doublings, the only other way up, leave it in place). */
    CHECK(main_at_switch == 0);
    /* Switched to the whole cache, and stays there (the climber waits in plain-LRU mode: only
     * the shadows leave it); LRU hits every re-read, and so do we. */
    CHECK(c.policy.seg_max[DP_SEG_WINDOW] == 1000 && hits > 9900);
    CHECK(dp_lru_check(&c) == DP_OK);
    size_t fresh = 1u << 30;
    hits = 0;
    int waited = 0; /* the verdict back fired once and the window stayed whole, awaiting a second */
    for (int step = 0; step < 200000; step++) {
        const uint64_t r = l1_rand();
        const int hit = (r & 1) ? read_key(&c, (r >> 8) % 900 + 1) : read_key(&c, fresh++);
        if (step >= 150000) hits += (size_t)hit;
        if (sh->back_pending && c.policy.seg_max[DP_SEG_WINDOW] == 1000) waited = 1;
    }
    CHECK(waited && !sh->back_pending);
    CHECK(c.policy.seg_max[DP_SEG_WINDOW] < 500 && hits > 20000); /* most hot-set reads hit */
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_tinylfu_shadow_t *const bad = &((dp_tinylfu_t *)c.policy.state)->shadow;
    bad->n[1] = bad->cap + 1;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    bad->n[1] = bad->cap;
    bad->used[0][0] = bad->clock + 1;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    bad->used[0][0] = bad->clock;
    bad->lfu_wins = bad->n_versus + 1; /* more discordant reads than reads */
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    bad->lfu_wins = 0;
    bad->ours_only = bad->n_counted + 1;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    bad->ours_only = 0;
    bad->back_pending = 2;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    bad->back_pending = 0;
    bad->used[0][0] = 0;
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_clear(&c);
    CHECK(bad->n[0] == 0 && bad->n[1] == 0 && dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

/* Half-way to LRU: when the LRU shadow's lead is over a short reach (each key re-read 30 new
 * keys later, a depth of about 60 where the cache holds 1,000), the verdict grows the window to
 * three times that depth and freezes the main region (it admits nothing) instead of turning it
 * over; we hit the re-reads as LRU does. The frozen main region earns nothing there (every
 * re-read hits the window), so at the end of a period the cache goes plain LRU
 * (DP_TINYLFU_FROZEN_IDLE_DIV), and a flat working set three times the cache then hits as LRU
 * does (frozen, the main region kept the old keys: about 2,000 of 20,000). Then a sweep
 * alternating direction (zigzag): frozen, the main region keeps the first sweep's keys, hit at
 * the end of each backward sweep (so it is not idle), where a whole-cache switch turned them
 * over (about 0 hits in the second sweep instead of half). */
static void test_tinylfu_half_way(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 1000, DP_POLICY_TINYLFU) == DP_OK);
    dp_tinylfu_shadow_t *const sh = &((dp_tinylfu_t *)c.policy.state)->shadow;
    size_t hits = 0, froze = 0;
    for (uint64_t k = 1; k <= 20000; k++) {
        read_key(&c, k * 7919);
        const size_t hit = k > 30 ? (size_t)read_key(&c, (k - 30) * 7919) : 0;
        if (k > 10000) hits += hit;
        if (sh->frozen) {
            const size_t w = c.policy.seg_max[DP_SEG_WINDOW];
            froze += w > 100 && w < 500 && sh->window_before == 10 &&
                     c.slots.seg_len[DP_SEG_PROBATION] + c.slots.seg_len[DP_SEG_PROTECTED] ==
                         1000 - w;
        }
    }
    CHECK(froze > 0 && sh->frozen == 0 && c.policy.seg_max[DP_SEG_WINDOW] == 1000);
    CHECK(hits > 9900); /* the window (3 x the re-reads' sampled depth), then LRU */
    CHECK(dp_lru_check(&c) == DP_OK);
    sh->frozen = 2;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    sh->frozen = 0;
    sh->lead_depth = sh->cap + 1;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    sh->lead_depth = 0;
    sh->frozen_periods = 1; /* counted while not frozen */
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    sh->frozen_periods = 0;
    sh->frozen_hits = 1; /* counted while not frozen */
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    sh->frozen_hits = 0;
    sh->frozen_main_hits = 1; /* more main-region hits than hits */
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    sh->frozen_main_hits = 0;
    CHECK(dp_lru_check(&c) == DP_OK);
    hits = 0;
    const size_t flat = 40000;
    for (size_t step = 0; step < flat; step++) {
        const size_t hit = (size_t)read_key(&c, (l1_rand() % 3000 + 100000) * 7919);
        if (step >= flat - 20000) hits += hit;
    }
    CHECK(sh->frozen == 0 && hits > 6000);
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_clear(&c);
    CHECK(sh->frozen == 0 && dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);

    CHECK(dp_lru_init(&c, 1000, DP_POLICY_TINYLFU) == DP_OK);
    const dp_tinylfu_shadow_t *const sh2 = &((dp_tinylfu_t *)c.policy.state)->shadow;
    size_t second = 0, later = 0;
    for (int sweep = 0; sweep < 20; sweep++) /* 40,000 reads: 2.5 counting periods */
        for (uint64_t i = 0; i <= 2000; i++) {
            const uint64_t key = (sweep % 2 ? 2000 - i : i) + 1;
            const size_t hit = (size_t)read_key(&c, key * 7919);
            if (sweep == 1) second += hit;
            if (sweep >= 2) later += hit;
        }
    /* LRU hits 999 of each sweep after the first; the main region earns its keep, so it
     * stays frozen. */
    CHECK(second > 500 && later > 18 * 950 && sh2->frozen == 1);
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

/* Many reads back to recent ghosts age the sketch (the hot set moved) only in a cache under
 * DP_TINYLFU_STALE_MAX_CAP entries; in a larger one a loop's returns would halve a hot set's
 * counts in every pass, and its sketch ages every 10 x cap counts anyway. And only once the
 * sketch has counted DP_TINYLFU_STALE_MIN_COUNTS x cap since it last halved. One quick period
 * whose reads were half ghost returns, just below and at the size bound, first one count short
 * of that memory (no halving), then with it. */
static void stale_period(dp_lru_t *c) {
    dp_tinylfu_t *const t = c->policy.state;
    t->quick_reads = t->quick_period_reads - 1;
    t->quick_ghost_hits = t->quick_period_reads / 2;
    dp_policy_on_miss(&c->policy); /* the period's last read: the quick check runs */
    CHECK(t->quick_reads == 0 && t->quick_ghost_hits == 0);
}

/* The backstop: a frozen main region that keeps earning (it holds a third of a flat working
 * set, which it hits) while no verdict frees it (the window catches the re-reads, so the LRU
 * shadow's lead stays small; the TinyLFU shadow, which turns the new keys away, never beats the
 * LRU shadow) thaws after DP_TINYLFU_FROZEN_PERIODS counting periods, back to the window it had
 * before the freeze. */
static void test_tinylfu_frozen_backstop(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 1000, DP_POLICY_TINYLFU) == DP_OK);
    dp_tinylfu_shadow_t *const sh = &((dp_tinylfu_t *)c.policy.state)->shadow;
    for (uint64_t k = 1; k <= 1000; k++) read_key(&c, k * 7919);
    /* Freeze by hand, as the verdict to LRU would over a reach of about 67. */
    sh->window_before = c.policy.seg_max[DP_SEG_WINDOW];
    c.policy.seg_max[DP_SEG_WINDOW] = 200;
    c.policy.seg_max[DP_SEG_PROTECTED] = (1000 - 200) * 3 / 4;
    sh->frozen = 1;
    CHECK(sh->window_before == 10 && dp_lru_check(&c) == DP_OK);
    uint32_t last_periods = 0;
    size_t n = 0;
    const size_t limit = (DP_TINYLFU_FROZEN_PERIODS + 4) * 16 * 1000u; /* periods: 16 x cap reads */
    uint64_t fresh = 100000;
    while (sh->frozen && n < limit) {
        last_periods = sh->frozen_periods;
        read_key(&c, (l1_rand() % 3000 + 1) * 7919);  /* flat: the main region's third */
        read_key(&c, ++fresh * 7919);                  /* new keys, each read again 30 later: */
        read_key(&c, (fresh - 30) * 7919);             /* the LRU shadow beats the TinyLFU one */
        n += 3;
    }
    CHECK(!sh->frozen && last_periods == DP_TINYLFU_FROZEN_PERIODS - 1);
    CHECK(c.policy.seg_max[DP_SEG_WINDOW] == 10 && sh->frozen_periods == 0);
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

static void test_tinylfu_stale_halving(void) {
    const size_t caps[2] = {DP_TINYLFU_STALE_MAX_CAP - 1, DP_TINYLFU_STALE_MAX_CAP};
    for (int i = 0; i < 2; i++) {
        dp_lru_t c;
        CHECK(dp_lru_init(&c, caps[i], DP_POLICY_TINYLFU) == DP_OK);
        dp_tinylfu_t *const t = c.policy.state;
        const uint64_t hot = 0x5EED5EEDULL, memory = DP_TINYLFU_STALE_MIN_COUNTS * (uint64_t)caps[i];
        for (int k = 0; k < 12; k++) dp_policy_on_write(&c.policy, hot);
        CHECK(dp_sketch_estimate(&t->sketch, hot) == 12 && t->sketch.additions == 12);
        CHECK(t->halved_at == 0 && memory < t->sketch.sample_size);
        t->sketch.additions = memory - 1; /* as if the cache had counted that many keys */
        stale_period(&c);
        CHECK(t->halve_due == 0);
        t->sketch.additions = memory;
        stale_period(&c);
        CHECK(t->halve_due == (i == 0));
        CHECK(dp_sketch_estimate(&t->sketch, hot) == 12); /* halved at the next settle: */
        dp_policy_drain(&c.policy, &c.slots);
        CHECK(dp_sketch_estimate(&t->sketch, hot) == (i == 0 ? 6u : 12u) && t->halve_due == 0);
        CHECK(t->halved_at == (i == 0 ? memory / 2 : 0) && dp_lru_check(&c) == DP_OK);
        if (i == 0) { /* the memory counts from the halving, not from the start */
            t->sketch.additions = memory / 2 + memory - 1;
            stale_period(&c);
            CHECK(t->halve_due == 0);
            t->sketch.additions++;
            stale_period(&c);
            CHECK(t->halve_due == 1);
            t->halved_at = t->sketch.additions + 1; /* a mark ahead of the counts is caught */
            CHECK(dp_lru_check(&c) == DP_ECORRUPT);
            t->halved_at = t->sketch.additions;
            CHECK(dp_lru_check(&c) == DP_OK);
        }
        dp_lru_free(&c);
    }
}

/* The hill climber turns round when its sample's hit rate drops by more than half a standard
 * error (sqrt(r (1 - r) / n)) and keeps its direction on a smaller drop: one sample ending with
 * a drop of 0.76 standard errors (turned round; the climber kept going up to 1.0), one of 0.25. */
static void test_tinylfu_climber_turns(void) {
    const uint64_t hits[2] = {2473, 2491}; /* of 5,000 reads, after a sample at 50% */
    for (int i = 0; i < 2; i++) {
        dp_lru_t c;
        CHECK(dp_lru_init(&c, 200, DP_POLICY_TINYLFU) == DP_OK);
        dp_tinylfu_t *const t = c.policy.state;
        CHECK(t->sample_size == DP_TINYLFU_MIN_SAMPLE_READS && t->sample_size == 5000);
        c.policy.seg_max[DP_SEG_WINDOW] = 100; /* mid-range: no bound bounces the step */
        c.policy.seg_max[DP_SEG_PROTECTED] = 75;
        t->prev_hit_rate = 0.5;
        t->step = 0.03;
        t->sample_reads = t->sample_size - 1;
        t->sample_hits = hits[i];
        t->quick_reads = 0;
        dp_policy_on_miss(&c.policy); /* the sample's last read: the climber runs */
        CHECK(t->sample_reads == 0 && t->prev_hit_rate == (double)hits[i] / 5000.0);
        CHECK(i == 0 ? t->step < 0 && c.policy.seg_max[DP_SEG_WINDOW] == 94
                     : t->step > 0 && c.policy.seg_max[DP_SEG_WINDOW] == 106);
        CHECK(dp_lru_check(&c) == DP_OK);
        dp_lru_free(&c);
    }
}

/* The W-TinyLFU shadow: a window of max(1, cap / DP_TINYLFU_SHADOW_WINDOW_DIV) entries before
 * a main LRU that admits the window's oldest by the sketch. After a hot set of 1,200 keys read
 * five times each (every shadow entry counted high), 2,000 new keys each re-read at once: the
 * LRU shadow hits every sampled re-read, and so does the W-TinyLFU shadow (the key is in its
 * window), so the LRU shadow wins none of them. A plain TinyLFU shadow (no window: the new key
 * must beat the victim's count at once) turned each one away and lost them all, and "the LRU
 * shadow beats it" was then no evidence against W-TinyLFU (docs/hit-rate.md, "Two comparisons
 * that agree"). dp_lru_check catches a broken window size. */
static void test_tinylfu_wtinylfu_shadow(void) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 1000, DP_POLICY_TINYLFU) == DP_OK);
    dp_tinylfu_shadow_t *const sh = &((dp_tinylfu_t *)c.policy.state)->shadow;
    CHECK(sh->cap == 125 && sh->wcap == 1);
    for (int pass = 0; pass < 5; pass++)
        for (uint64_t k = 1; k <= 1200; k++) read_key(&c, k * 7919);
    CHECK(sh->n[DP_TINYLFU_SHADOW_WTINYLFU] == sh->cap && dp_lru_check(&c) == DP_OK);
    const uint64_t lru_wins = sh->lru_wins, n_versus = sh->n_versus;
    uint64_t last = 0;
    size_t sampled = 0;
    for (uint64_t k = 1; k <= 2000; k++) {
        const uint64_t key = (100000 + k) * 7919;
        read_key(&c, key);
        read_key(&c, key);
        if ((dp_fmix64(key) & sh->mask) == sh->match) {
            sampled++;
            last = key;
        }
    }
    CHECK(sampled > 150 && sh->n_versus == n_versus + 2 * sampled); /* no halving in between */
    /* the last sampled key, just read twice, is the window's one entry */
    CHECK(sh->lru_wins == lru_wins && sh->tag[DP_TINYLFU_SHADOW_WTINYLFU][0] == last);
    CHECK(dp_lru_check(&c) == DP_OK);
    sh->wcap = 0;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    sh->wcap = sh->cap;
    CHECK(dp_lru_check(&c) == DP_ECORRUPT);
    sh->wcap = 1;
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

/* A second way to plain LRU: the LRU shadow beats the W-TinyLFU shadow by more than
 * DP_TINYLFU_AGREE_VERSUS_Z standard deviations and us by more than DP_TINYLFU_AGREE_LEAD_Z,
 * with no minimum gain. With a lead over us of 20 sampled reads of 5,000 (0.4%, under the usual
 * verdict's 1%) the verdict fires when the LRU shadow also won 30 of 30 discordant reads
 * against the W-TinyLFU shadow (5.5 standard deviations), not when it won 15 (3.9), nor while
 * the main region is frozen. One fresh sampled key's read (a miss everywhere) runs the verdict. */
static void test_tinylfu_agree(void) {
    const uint64_t versus[3] = {15, 30, 30};
    for (int i = 0; i < 3; i++) {
        dp_lru_t c;
        CHECK(dp_lru_init(&c, 1000, DP_POLICY_TINYLFU) == DP_OK);
        dp_tinylfu_shadow_t *const sh = &((dp_tinylfu_t *)c.policy.state)->shadow;
        for (uint64_t k = 1; k <= 3000; k++) read_key(&c, k % 700 * 7919 + 1); /* warm, no verdict */
        CHECK(c.policy.seg_max[DP_SEG_WINDOW] < 100 && !sh->frozen && sh->switched == 0);
        sh->switched = 1; /* past the quicker first verdict */
        sh->hold = 0;
        sh->n_sampled = 0;
        sh->n_counted = sh->n_versus = 5000;
        sh->lru_only = 20;
        sh->ours_only = sh->lfu_wins = 0;
        sh->lru_wins = versus[i];
        if (i == 2) {
            sh->frozen = 1; /* half-way to LRU already: then only a 30% lead goes on */
            sh->window_before = c.policy.seg_max[DP_SEG_WINDOW];
        }
        CHECK(dp_lru_check(&c) == DP_OK);
        const size_t window = c.policy.seg_max[DP_SEG_WINDOW];
        uint64_t key = 7;
        while ((dp_fmix64(key * 7919) & sh->mask) != sh->match) key++;
        read_key(&c, key * 7919);
        const int moved = c.policy.seg_max[DP_SEG_WINDOW] != window || sh->frozen != (i == 2);
        CHECK(moved == (i == 1));
        CHECK(i != 1 || (sh->n_counted == 0 && sh->hold > 0)); /* a verdict was taken */
        CHECK(dp_lru_check(&c) == DP_OK);
        dp_lru_free(&c);
    }
}

/* Random reads and writes over a skewed key space: every invariant holds throughout. */
static void test_random(int kind) {
    dp_lru_t c;
    CHECK(dp_lru_init(&c, 200, kind) == DP_OK);
    for (int step = 0; step < 30000; step++) {
        const uint64_t r = l1_rand();
        const uint64_t key = (r & 1) ? (r >> 8) % 64 + 1 : (r >> 8) % 2000 + 1;
        const int32_t s = lookup(&c, key);
        if (s >= 0) {
            dp_lru_touch(&c, s);
        } else {
            dp_policy_on_miss(&c.policy);
            insert(&c, key);
        }
        if ((r >> 40) % 50 == 0 && c.slots.len) dp_lru_remove(&c, dp_slots_first(&c.slots));
        if (step % 211 == 0) CHECK(dp_lru_check(&c) == DP_OK);
    }
    CHECK(dp_lru_check(&c) == DP_OK);
    dp_lru_free(&c);
}

int main(void) {
    test_table();
    test_lru();
    test_write_path_edges();
    test_tinylfu_segments();
    test_tinylfu_promotion_queue();
    test_tinylfu_sizing();
    test_tinylfu_fill_sizes();
    test_tinylfu_pending();
    test_tinylfu_admission();
    test_copy_and_clear();
    test_tinylfu_shadows();
    test_tinylfu_wtinylfu_shadow();
    test_tinylfu_agree();
    test_tinylfu_half_way();
    test_tinylfu_frozen_backstop();
    test_tinylfu_stale_halving();
    test_tinylfu_climber_turns();
    test_random(DP_POLICY_LRU);
    test_random(DP_POLICY_TINYLFU);
    L1_DONE();
}
