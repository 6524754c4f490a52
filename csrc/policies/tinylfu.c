/* tinylfu.c -- see tinylfu.h for the policy, its invariants and who frees what. */
#include "tinylfu.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* The climber turns round on a drop of its sample's hit rate by more than this many standard
 * errors (see dp_tinylfu_climb). theine turns on any drop (0); 1.0 kept a direction through
 * real drops on loops (loop at 256 entries: 23.1%, now 24.5%; loop at 7-50% of its keys
 * +0.3..+0.8 points). 0.25 and 0.75 miss the same rows (0.25 lost web07 at 1% a point); 0 lost
 * web07 at 1% 0.4 and moving_hot at 1% 0.5. */
#define DP_TINYLFU_CLIMB_Z 0.5
#define DP_TINYLFU_FIRST_STEP 0.03
/* The shadows' verdicts (see dp_tinylfu_lead and dp_tinylfu_shadow_count). */
#define DP_TINYLFU_SHADOW_Z 3.0
#define DP_TINYLFU_WARM_Z 2.0
#define DP_TINYLFU_SHADOW_WARM 4
#define DP_TINYLFU_VERSUS_Z 2.0
#define DP_TINYLFU_SHADOW_MIN_LEAD 8.0
#define DP_TINYLFU_SHADOW_MIN_GAIN 0.01
#define DP_TINYLFU_SHADOW_PERIOD 16
#define DP_TINYLFU_SHADOW_HOLD 4

DP_INLINE dp_tinylfu_t *dp_tinylfu(const dp_policy_t *p) { return (dp_tinylfu_t *)p->state; }

/* Whether recency rules by the shadows' verdict: plain LRU (the window is the whole cache) or
 * half-way there (the main region frozen). Then the window's own sizing (climber, doubling)
 * and its ghosts rest: only a verdict changes the window. */
DP_INLINE int dp_tinylfu_recency_rules(const dp_policy_t *p) {
    return p->seg_max[DP_SEG_WINDOW] >= p->cap || dp_tinylfu(p)->shadow.frozen;
}

static void dp_tinylfu_count_reads(dp_policy_t *p, uint64_t n, uint64_t hit);

/* dp_tinylfu_count_reads, inline where no check falls due within the n reads (usually: a hit or
 * a few since the last write, or one miss): then they are one run of it. */
DP_INLINE void dp_tinylfu_count(dp_policy_t *p, uint64_t n, uint64_t hit) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    if (DP_LIKELY(t->quick_reads + n < t->quick_period_reads &&
                  t->sample_reads + n < t->sample_size)) {
        t->read_clock += n;
        t->sample_hits += hit * n;
        t->quick_hits += hit * n;
        t->quick_reads += n;
        t->sample_reads += n;
        return;
    }
    dp_tinylfu_count_reads(p, n, hit);
}

/* Count the buffered hits not counted yet. Inline, and a call only if there are any: a write
 * settles up to four times (on_write, victim, on_evict, on_insert), and after the first there
 * is nothing left to count. */
DP_INLINE void dp_tinylfu_count_pending(dp_policy_t *p) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    /* The hits' frequency waits in their slots' pending bytes, but counts towards the sketch's
     * next halving now, so that a cache that only hits still ages: as a sketch increment
     * counts only if it raised a counter, a hit counts only if it raised its pending byte. */
    t->sketch.additions += p->n_pending_added;
    p->n_pending_added = 0;
    if (p->n_reads != t->n_counted) {
        dp_tinylfu_count(p, p->n_reads - t->n_counted, 1);
        t->n_counted = p->n_reads;
    }
}

/*** Shares and sizing ***/

/* Window 1% of the cache at first (the climber moves it), protected 75% of the main region
 * (Caffeine keeps 80%; 75% measured better on the short traces of the simulator). */
static void dp_tinylfu_set_shares(dp_policy_t *p, size_t window_max) {
    if (window_max < 1) window_max = 1;
    if (window_max > p->cap) window_max = p->cap;
    p->seg_max[DP_SEG_WINDOW] = window_max;
    p->seg_max[DP_SEG_PROTECTED] = (p->cap - window_max) * 3 / 4;
    p->seg_max[DP_SEG_PROBATION] = p->cap;
}

/* How many keys the sketch and ghosts are sized for when n_slots are allocated. */
static size_t dp_tinylfu_sketch_keys(const dp_policy_t *p, size_t n_slots) {
    const size_t cap = dp_tinylfu(p)->size_cap;
    const size_t first = cap < DP_TINYLFU_FIRST_SKETCH_KEYS ? cap : DP_TINYLFU_FIRST_SKETCH_KEYS;
    return n_slots > first ? n_slots : first;
}

/* The sketch's words for `keys` (dp_tinylfu_sketch_keys), a power of two (see tinylfu.h):
 * - `full` (the cache holds what it can: the slots reached cap, or a weight budget binds,
 *   see dp_tinylfu_size_frequency): two words per key in caches of up to
 *   DP_TINYLFU_TWO_WORD_KEYS entries, twice Caffeine's: fewer collisions between the keys of a
 *   block (one word scored 0.09 points lower on average over the simulator's table); in larger
 *   ones Caffeine's one, so that a million entries pay 8 B each, not 16;
 * - before: 1/DP_TINYLFU_FILL_DIV of that, but never under the first sketch's
 *   2 x DP_TINYLFU_FIRST_SKETCH_KEYS words. */
static size_t dp_tinylfu_sketch_words(const dp_policy_t *p, size_t keys, int full) {
    const uint64_t per_key = dp_tinylfu(p)->size_cap > DP_TINYLFU_TWO_WORD_KEYS ? 1 : 2;
    uint64_t want = (uint64_t)keys * per_key;
    if (!full) {
        want /= DP_TINYLFU_FILL_DIV;
        if (want < 2 * DP_TINYLFU_FIRST_SKETCH_KEYS) want = 2 * DP_TINYLFU_FIRST_SKETCH_KEYS;
    }
    if (want > DP_SKETCH_MAX_CAP) want = DP_SKETCH_MAX_CAP;
    size_t n_words = 8; /* dp_sketch_init's rounding */
    while (n_words < want) n_words <<= 1;
    return n_words;
}

/* The ghost table's words for `keys`: one per two keys, a power of two. */
static size_t dp_tinylfu_ghost_words(size_t keys) {
    size_t n_ghosts = 8;
    while (n_ghosts < keys / 2) n_ghosts <<= 1;
    return n_ghosts;
}

/* A sample of 10 x cap reads or counts, but never under `n_min` (see tinylfu.h). */
static uint64_t dp_tinylfu_sample_floor(uint64_t n, uint64_t n_min) { return n > n_min ? n : n_min; }

/* The sketch's halving period: 10 x the cache's counts, as a sketch sized for p->cap would
 * age (a small early sketch halving every 10 x n_slots counts would forget what the filling
 * cache learnt). */
static uint64_t dp_tinylfu_sketch_sample(const dp_policy_t *p) {
    return dp_tinylfu_sample_floor(10 * (uint64_t)p->cap, DP_TINYLFU_MIN_SKETCH_SAMPLE);
}

#define DP_TINYLFU_GHOST_CHUNK 512 /* words: one 4 KiB page */

/* Tile the old ghost table `from` (n_from words) over `to` (n_to, a multiple), copying only the
 * chunks that hold a ghost: `to` is fresh zeroed memory, and a page never written costs nothing
 * (a cache that filled without an eviction has no ghosts yet). */
static void dp_tinylfu_tile_ghosts(uint64_t *to, size_t n_to, const uint64_t *from, size_t n_from) {
    for (size_t j = 0; j < n_from; j += DP_TINYLFU_GHOST_CHUNK) {
        const size_t n = n_from - j < DP_TINYLFU_GHOST_CHUNK ? n_from - j : DP_TINYLFU_GHOST_CHUNK;
        uint64_t any = 0;
        for (size_t k = 0; k < n; k++) any |= from[j + k];
        if (!any) continue;
        for (size_t i = 0; i < n_to; i += n_from) memcpy(to + i + j, from + j, n * sizeof(uint64_t));
    }
}

/* The sketch and ghost table for n_slots entries, keeping what t's hold: both are indexed by
 * a hash's low bits, so the old tables tile the new ones. Full density once the cache holds
 * what it can (its keys reach p->cap: the slots' cap, or what a binding weight budget holds,
 * see dp_tinylfu_recap), from then on; never smaller than it was. DP_ENOMEM leaves t unchanged. */
static int dp_tinylfu_size_frequency(dp_policy_t *p, size_t n_slots) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    const size_t keys = dp_tinylfu_sketch_keys(p, n_slots);
    const int full = t->sketch_full || keys >= p->cap;
    if (keys == t->sketch_keys && full == t->sketch_full) return DP_OK;
    size_t n_words = dp_tinylfu_sketch_words(p, keys, full);
    if (t->ghost && n_words < t->sketch.n_words) n_words = t->sketch.n_words;
    const size_t n_ghosts = dp_tinylfu_ghost_words(keys);
    if (t->ghost && n_words == t->sketch.n_words && n_ghosts == t->ghost_mask + 1) {
        t->sketch_keys = keys; /* the same tables: nothing to copy */
        t->sketch_full = full;
        return DP_OK;
    }
    uint64_t *ghost = dp_big_alloc(n_ghosts * sizeof(uint64_t));
    dp_sketch_t sketch;
    /* n_words keys at one word each: dp_sketch_init rounds nothing further. */
    if (!ghost || dp_sketch_init_grown(&sketch, &t->sketch, n_words, 1) != DP_OK) {
        dp_big_free(ghost, n_ghosts * sizeof(uint64_t));
        return DP_ENOMEM;
    }
    sketch.sample_size = dp_tinylfu_sketch_sample(p);
    const size_t n_old = t->ghost ? t->ghost_mask + 1 : 0;
    if (n_old && n_old <= n_ghosts) dp_tinylfu_tile_ghosts(ghost, n_ghosts, t->ghost, n_old);
    dp_sketch_free(&t->sketch);
    dp_big_free(t->ghost, n_old * sizeof(uint64_t));
    t->sketch = sketch;
    if (t->halved_at > sketch.additions) t->halved_at = sketch.additions; /* nothing kept */
    t->ghost = ghost;
    t->ghost_mask = n_ghosts - 1;
    p->key_words = ghost; /* a write prefetches the new key's ghost word (policy.h) */
    p->key_mask = t->ghost_mask;
    t->sketch_keys = keys;
    t->sketch_full = full;
    return DP_OK;
}

/*** Pending hits (policy.h): a hit bumps its slot's byte instead of four sketch counters ***/

/* Move `slot`'s pending hits into the sketch (when the slot is compared by hash alone, or
 * freed). They were counted towards the halving when they happened (dp_tinylfu_count_pending). */
static void dp_tinylfu_fold(dp_policy_t *p, const dp_slots_t *s, int32_t slot) {
    uint8_t *const k = &p->pending[slot];
    if (*k == 0) return;
    dp_sketch_add(&dp_tinylfu(p)->sketch, dp_slots_hash(s, slot), *k);
    *k = 0;
}

/* Halve the sketch, when due (dp_tinylfu_age tests it): 10 x cap counts since the last halving
 * (its sample), or the window check asked for it (halve_due). The halving waits for the next
 * event that has the slots at hand (a buffer flush, an insert, a victim), a few reads at most:
 * the sketch does not halve by itself here (counts are added uncounted, dp_sketch_add).
 * - Up to DP_TINYLFU_FOLD_MAX_SLOTS slots, every live slot's pending hits join the sketch first,
 *   so each key's count halves whole, as if every hit had been counted at once.
 * - Beyond, the pending bytes halve in place (one sequential pass): a key whose counters and
 *   pending hits are both odd ends one count lower. Folding there would write the sketch at
 *   random once per slot: 7 ms for 100,000 entries and 200 ms for a million, a stall of one
 *   call, where a halving takes 0.1-0.6 ms.
 * On the simulator's grid the in-place halving alone scored 0.03 points lower on the real
 * traces (sprite at 2%: 1 point), and with the bound every row scores as with folding. */
static void dp_tinylfu_halve(dp_policy_t *p, const dp_slots_t *s) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    t->halve_due = 0;
    if (s->n_slots <= DP_TINYLFU_FOLD_MAX_SLOTS) {
        for (size_t i = 0; i < s->n_slots; i++)
            if (p->pending[i]) dp_tinylfu_fold(p, s, (int32_t)i); /* 0 on free slots */
    } else {
        for (size_t i = 0; i < s->n_slots; i++) p->pending[i] = (uint8_t)(p->pending[i] >> 1);
    }
    dp_sketch_halve(&t->sketch);
    t->halved_at = t->sketch.additions;
}

/* The test inline, the halving (rare) a call: a write tests it twice (victim, on_insert). */
DP_INLINE void dp_tinylfu_age(dp_policy_t *p, const dp_slots_t *s) {
    const dp_tinylfu_t *const t = dp_tinylfu(p);
    if (DP_UNLIKELY(t->halve_due || t->sketch.additions >= t->sketch.sample_size))
        dp_tinylfu_halve(p, s);
}

/* A live slot's frequency: the sketch's estimate plus its pending hits (at most 15). Inline:
 * every write into a full cache compares two. */
DP_INLINE unsigned dp_tinylfu_estimate(const dp_policy_t *p, const dp_slots_t *s, int32_t slot) {
    const unsigned e =
        dp_sketch_estimate_mixed(&dp_tinylfu(p)->sketch, dp_fmix64(dp_slots_hash(s, slot))) +
        p->pending[slot];
    return e < 15 ? e : 15;
}

/* The pending bytes for n_slots slots (new ones 0): DP_OK or DP_ENOMEM (nothing changed). */
static int dp_tinylfu_size_pending(dp_policy_t *p, size_t n_slots) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    if (n_slots <= t->n_pending) return DP_OK;
    uint8_t *const a = realloc(p->pending, n_slots);
    if (!a) return DP_ENOMEM;
    memset(a + t->n_pending, 0, n_slots - t->n_pending);
    p->pending = a;
    t->n_pending = n_slots;
    return DP_OK;
}

/*** The shadows (see tinylfu.h): would plain LRU, or W-TinyLFU at a 1% window, do better now? ***/

/* Sampled keys are 1 in 2**shift: the smallest shift for which a shadow holds at most
 * DP_TINYLFU_SHADOW_MAX entries, raised towards DP_TINYLFU_SHADOW_MIN_SHIFT while the shadows
 * keep DP_TINYLFU_SHADOW_SMALL entries or more: a shadow of a few entries approximates LRU at
 * `cap` poorly, so a cache under 128 entries samples more keys, and one under 32 every key (the
 * shadows then are exact; a recency-heavy trace at 16-50 entries trailed LRU by 4 points with
 * none). No shadows if they would hold fewer than DP_TINYLFU_SHADOW_MIN. */
static int dp_tinylfu_shadow_init(dp_tinylfu_shadow_t *sh, size_t cap) {
    unsigned shift = 0;
    while ((cap >> shift) > DP_TINYLFU_SHADOW_MAX) shift++;
    while (shift < DP_TINYLFU_SHADOW_MIN_SHIFT && (cap >> (shift + 1)) >= DP_TINYLFU_SHADOW_SMALL)
        shift++;
    sh->mask = 0;
    sh->match = 1;
    sh->window_before = cap / 100;
    if ((cap >> shift) < DP_TINYLFU_SHADOW_MIN) return DP_OK;
    sh->cap = (uint32_t)(cap >> shift);
    sh->wcap = sh->cap / DP_TINYLFU_SHADOW_WINDOW_DIV ? sh->cap / DP_TINYLFU_SHADOW_WINDOW_DIV : 1;
    uint64_t *const words = calloc(2 * DP_TINYLFU_SHADOWS * (size_t)sh->cap, sizeof(uint64_t));
    if (!words) return DP_ENOMEM;
    for (int k = 0; k < DP_TINYLFU_SHADOWS; k++) {
        sh->tag[k] = words + 2 * (size_t)k * sh->cap;
        sh->used[k] = sh->tag[k] + sh->cap;
    }
    sh->mask = shift ? ~(uint64_t)0 << (64 - shift) : 0;
    sh->match = 0;
    return DP_OK;
}

static void dp_tinylfu_shadow_clear(dp_tinylfu_shadow_t *sh) {
    sh->clock = sh->n_sampled = sh->hold = 0;
    sh->switched = 0;
    sh->back_pending = 0;
    sh->frozen = 0;
    sh->frozen_periods = 0;
    sh->frozen_main_hits = sh->frozen_hits = 0;
    sh->hit_used = 0;
    sh->lead_depth = 0;
    sh->n_counted = sh->lru_only = sh->ours_only = 0;
    sh->n_versus = sh->lfu_wins = sh->lru_wins = 0;
    for (int k = 0; k < DP_TINYLFU_SHADOWS; k++) sh->n[k] = 0;
}

DP_INLINE int dp_tinylfu_sampled(const dp_tinylfu_t *t, uint64_t hash) {
    return (dp_fmix64(hash) & t->shadow.mask) == t->shadow.match;
}

#define DP_TINYLFU_NOT_FOUND UINT32_MAX

/* The entry of tag[from..to) holding `hash`, or DP_TINYLFU_NOT_FOUND with *oldest the one of
 * them used least recently (`from` if there are none). A shadow is an array of entries ordered
 * by last-use clock, not a list: a linear scan, of at most DP_TINYLFU_SHADOW_MAX words. */
DP_INLINE uint32_t dp_tinylfu_shadow_find(const uint64_t *tag, const uint64_t *used,
                                          uint32_t from, uint32_t to, uint64_t hash,
                                          uint32_t *oldest) {
    uint32_t o = from;
    for (uint32_t i = from; i < to; i++) {
        if (tag[i] == hash) return i;
        if (used[i] < used[o]) o = i;
    }
    *oldest = o;
    return DP_TINYLFU_NOT_FOUND;
}

/* One read of a sampled key through the LRU shadow: 1 if it hit there. An exact LRU by last-use
 * clock (on 1 read in 2**shift). */
static int dp_tinylfu_shadow_lru_read(dp_tinylfu_shadow_t *sh, uint64_t hash) {
    uint64_t *const tag = sh->tag[DP_TINYLFU_SHADOW_LRU];
    uint64_t *const used = sh->used[DP_TINYLFU_SHADOW_LRU];
    uint32_t oldest = 0; /* set by the scan whenever n > 0 (gcc -O1 cannot tell) */
    const uint32_t hit = dp_tinylfu_shadow_find(tag, used, 0, sh->n[DP_TINYLFU_SHADOW_LRU], hash,
                                                &oldest);
    if (hit != DP_TINYLFU_NOT_FOUND) {
        sh->hit_used = used[hit]; /* see dp_tinylfu_lead_depth */
        used[hit] = sh->clock;
        return 1;
    }
    uint32_t i = oldest;
    if (sh->n[DP_TINYLFU_SHADOW_LRU] < sh->cap) i = sh->n[DP_TINYLFU_SHADOW_LRU]++;
    tag[i] = hash;
    used[i] = sh->clock;
    return 0;
}

/* The same through the W-TinyLFU shadow: its first wcap entries are the window (an LRU of the
 * most recent new keys), the rest the main region, an LRU that admits the window's oldest only
 * if the sketch rates it above the main region's oldest. A hit stays in its part. The scan of
 * the main region costs what the plain TinyLFU shadow's did; the window's is a word or two. */
static int dp_tinylfu_shadow_wtinylfu_read(dp_tinylfu_t *t, uint64_t hash) {
    dp_tinylfu_shadow_t *const sh = &t->shadow;
    uint64_t *const tag = sh->tag[DP_TINYLFU_SHADOW_WTINYLFU];
    uint64_t *const used = sh->used[DP_TINYLFU_SHADOW_WTINYLFU];
    const uint32_t n = sh->n[DP_TINYLFU_SHADOW_WTINYLFU];
    const uint32_t n_window = n < sh->wcap ? n : sh->wcap;
    uint32_t oldest_window = 0, oldest_main = 0; /* (as above) */
    uint32_t hit = dp_tinylfu_shadow_find(tag, used, 0, n_window, hash, &oldest_window);
    if (hit == DP_TINYLFU_NOT_FOUND)
        hit = dp_tinylfu_shadow_find(tag, used, sh->wcap, n, hash, &oldest_main);
    if (hit != DP_TINYLFU_NOT_FOUND) {
        used[hit] = sh->clock;
        return 1;
    }
    uint32_t i = n; /* where the new key goes: the window, while it fills */
    if (n >= sh->wcap) {
        i = oldest_window; /* the window's oldest makes room, and is the candidate: */
        if (n < sh->cap) { /* room in the main region: it moves there */
            tag[n] = tag[i];
            used[n] = used[i];
        } else if (dp_sketch_estimate(&t->sketch, tag[i]) >
                   dp_sketch_estimate(&t->sketch, tag[oldest_main])) {
            tag[oldest_main] = tag[i]; /* admitted over the main region's oldest */
            used[oldest_main] = used[i];
        } /* else turned away */
    }
    if (n < sh->cap) sh->n[DP_TINYLFU_SHADOW_WTINYLFU]++;
    tag[i] = hash;
    used[i] = sh->clock;
    return 0;
}

/* Does a beat b, on the n reads counted of which a hit and b missed `a` and the reverse `b`
 * (McNemar's paired test)? Three bars: the lead is at least DP_TINYLFU_SHADOW_MIN_LEAD reads; it
 * exceeds z standard deviations of "no difference" (the square root of a + b); and it is at
 * least min_gain of the n reads. Returns the lead, or 0. */
static double dp_tinylfu_lead(uint64_t a, uint64_t b, uint64_t n, double z, double min_gain) {
    const double lead = (double)a - (double)b;
    if (lead < DP_TINYLFU_SHADOW_MIN_LEAD || lead < min_gain * (double)n ||
        lead * lead <= z * z * (double)(a + b))
        return 0.0;
    return lead;
}

/* The window becomes the whole cache: the main region's entries join it behind the window's
 * own, protected ahead of probation, each in its own order, so the cache is plain LRU at once
 * (left in place, the main region's entries would be evicted before any window entry, however
 * often they were read). O(cap) list moves, once per switch. */
static void dp_tinylfu_absorb_main(dp_slots_t *s) {
    const size_t n_window = s->seg_len[DP_SEG_WINDOW];
    while (s->tail[DP_SEG_PROBATION] >= 0)
        dp_slots_move_head(s, DP_SEG_WINDOW, s->tail[DP_SEG_PROBATION]);
    while (s->tail[DP_SEG_PROTECTED] >= 0)
        dp_slots_move_head(s, DP_SEG_WINDOW, s->tail[DP_SEG_PROTECTED]);
    for (size_t i = 0; i < n_window; i++)
        dp_slots_move_head(s, DP_SEG_WINDOW, s->tail[DP_SEG_WINDOW]);
}

/* The depth of the LRU shadow's last hit: its entries used more recently than that hit's
 * previous use, the hit itself included (1 for a re-read of the most recent key). A second
 * linear scan of the LRU shadow (see dp_tinylfu_shadow_count for when it runs). */
static uint32_t dp_tinylfu_lead_depth(const dp_tinylfu_shadow_t *sh) {
    const uint64_t *const used = sh->used[DP_TINYLFU_SHADOW_LRU];
    uint32_t d = 0;
    for (uint32_t i = 0; i < sh->n[DP_TINYLFU_SHADOW_LRU]; i++) d += (uint32_t)(used[i] > sh->hit_used);
    return d;
}

/* A read of a sampled key that hit (ours = 1) or missed (0) the cache. The counts halve every
 * DP_TINYLFU_SHADOW_PERIOD x cap sampled reads, so the verdicts follow the workload's phase.
 * - To plain LRU: the LRU shadow beats us (Z = 3, and by DP_TINYLFU_SHADOW_MIN_GAIN of the
 *   reads: a switch costs a turnover of the content) while the W-TinyLFU shadow does not beat
 *   the LRU shadow; or, in W-TinyLFU mode and not frozen, the LRU shadow beats the W-TinyLFU
 *   shadow by far (Z = 4) and us on a lower bar (Z = 2, no minimum gain; tinylfu.h,
 *   DP_TINYLFU_AGREE_VERSUS_Z, says why). The first verdict, while no switch was made and the
 *   shadows have seen fewer than DP_TINYLFU_SHADOW_WARM x cap sampled reads, needs Z = 2 (for
 *   the lead over us): a recency-heavy trace loses every read until it (reuse_twice at 50% of
 *   its keys: 1.2 points behind LRU, now 0.5), and with little in the cache yet a wrong switch
 *   costs little. Later, Z = 2 let noise switch (drift at 25%, seed 2: -3.1 points, its first
 *   switch at 8 x cap sampled reads). The
 *   window grows to DP_TINYLFU_REACH_MARGIN x the depth of the LRU shadow's lead and the main
 *   region freezes (tinylfu.h says why); if that reach is the whole cache, or the main region
 *   is frozen already (then the lead must be DP_TINYLFU_FROZEN_MIN_GAIN of the reads), the
 *   window becomes the whole cache and absorbs the main region. The window it had is
 *   remembered. (Already LRU: our content is still turning over; gather fresh evidence.)
 * - Back to W-TinyLFU: the W-TinyLFU shadow beats the LRU shadow (Z = 2, no minimum gain) while
 *   the window holds half the cache or more, or the main region is frozen, and again after the
 *   first firing dropped a part of the counts (DP_TINYLFU_BACK_CONFIRM); the window goes back
 *   to what it was before, the main region unfrozen. A freeze that lasted
 *   DP_TINYLFU_FROZEN_PERIODS counting periods thaws the same way, unconfirmed; one whose
 *   main region earned under 1/DP_TINYLFU_FROZEN_IDLE_DIV of a period's hits goes plain LRU. The two
 *   shadows are equally warm whatever we did, so theirs is a fair comparison, where ours against
 *   a shadow right after a switch is not (when the back switch compared the TinyLFU shadow with
 *   us, zigzag at 50% flip-flopped and trailed LRU by 4.7 points; now 1.9). Z = 3 here left
 *   scan_loop at 20% in LRU mode after a loop phase (-7.5 points against theine, now -2.0) for
 *   one point on zigzag at 25%.
 * After a switch the climber restarts from there (in LRU mode it waits, see dp_tinylfu_climb),
 * and the verdicts wait DP_TINYLFU_SHADOW_HOLD x cap sampled reads (a few turnovers) before the
 * next: just after a switch the comparison with us favours the LRU shadow, whose content did
 * not have to turn over. */
static void dp_tinylfu_shadow_count(dp_policy_t *p, dp_slots_t *s, uint64_t hash, int ours) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    dp_tinylfu_shadow_t *const sh = &t->shadow;
    int thaw = 0; /* the main region was frozen for DP_TINYLFU_FROZEN_PERIODS periods */
    int idle = 0; /* the frozen main region earned too little in the period just ended */
    sh->clock++;
    const int lru = dp_tinylfu_shadow_lru_read(sh, hash);
    const int lfu = dp_tinylfu_shadow_wtinylfu_read(t, hash);
    sh->n_counted++;
    sh->lru_only += (uint64_t)(lru && !ours);
    /* The reach, in W-TinyLFU mode. The scan is skipped where it cannot raise the deepest hit:
     * one at most clock - hit_used deep (each sampled read since that entry's last use moved at
     * most one entry ahead of it), or a reach that is the whole cache already. */
    if (lru && !sh->frozen && p->seg_max[DP_SEG_WINDOW] < p->cap &&
        sh->clock - sh->hit_used > sh->lead_depth &&
        DP_TINYLFU_REACH_MARGIN * (double)sh->lead_depth < (double)sh->cap) {
        const uint32_t d = dp_tinylfu_lead_depth(sh);
        if (d > sh->lead_depth) sh->lead_depth = d;
    }
    sh->ours_only += (uint64_t)(ours && !lru);
    sh->n_versus++;
    sh->lfu_wins += (uint64_t)(lfu && !lru);
    sh->lru_wins += (uint64_t)(lru && !lfu);
    if (++sh->n_sampled >= DP_TINYLFU_SHADOW_PERIOD * (uint64_t)sh->cap) {
        sh->n_counted /= 2, sh->lru_only /= 2, sh->ours_only /= 2;
        sh->n_versus /= 2, sh->lfu_wins /= 2, sh->lru_wins /= 2;
        sh->n_sampled = 0;
        sh->back_pending = 0; /* a confirmation comes within one period (see below) */
        /* A frozen main region that earned under 1/DP_TINYLFU_FROZEN_IDLE_DIV of the period's
         * hits holds nothing worth keeping: plain LRU. One frozen for DP_TINYLFU_FROZEN_PERIODS
         * periods thaws back to W-TinyLFU, whatever it earned. */
        if (sh->frozen) {
            idle = DP_TINYLFU_FROZEN_IDLE_DIV * sh->frozen_main_hits < sh->frozen_hits;
            thaw = !idle && ++sh->frozen_periods >= DP_TINYLFU_FROZEN_PERIODS;
        }
        sh->frozen_main_hits = sh->frozen_hits = 0;
    }
    if (!thaw && !idle && sh->hold && --sh->hold) return;
    const size_t w = p->seg_max[DP_SEG_WINDOW];
    const int lfu_ahead =
        dp_tinylfu_lead(sh->lfu_wins, sh->lru_wins, sh->n_versus, DP_TINYLFU_VERSUS_Z, 0.0) > 0.0;
    const int warm = !sh->switched && sh->clock < DP_TINYLFU_SHADOW_WARM * (uint64_t)sh->cap;
    /* Both comparisons agree that recency rules (see DP_TINYLFU_AGREE_VERSUS_Z in tinylfu.h). */
    const int agree = !sh->frozen && w < p->cap &&
                      dp_tinylfu_lead(sh->lru_wins, sh->lfu_wins, sh->n_versus,
                                      DP_TINYLFU_AGREE_VERSUS_Z, 0.0) > 0.0 &&
                      dp_tinylfu_lead(sh->lru_only, sh->ours_only, sh->n_counted,
                                      DP_TINYLFU_AGREE_LEAD_Z, 0.0) > 0.0;
    const int to_lru = idle || (!thaw && agree) ||
        (!thaw && !lfu_ahead && dp_tinylfu_lead(sh->lru_only, sh->ours_only, sh->n_counted,
                                      warm ? DP_TINYLFU_WARM_Z : DP_TINYLFU_SHADOW_Z,
                                      sh->frozen ? DP_TINYLFU_FROZEN_MIN_GAIN
                                                 : DP_TINYLFU_SHADOW_MIN_GAIN) > 0.0);
    const int back = !idle && (thaw || (lfu_ahead && (w >= p->cap / 2 || sh->frozen)));
    if (!to_lru && !back) return;
    if (back && !thaw && !sh->back_pending) { /* the first firing: drop part of the evidence, wait */
        sh->back_pending = 1;
        sh->n_versus = sh->n_versus * (DP_TINYLFU_BACK_CONFIRM - 1) / DP_TINYLFU_BACK_CONFIRM;
        sh->lfu_wins = sh->lfu_wins * (DP_TINYLFU_BACK_CONFIRM - 1) / DP_TINYLFU_BACK_CONFIRM;
        sh->lru_wins = sh->lru_wins * (DP_TINYLFU_BACK_CONFIRM - 1) / DP_TINYLFU_BACK_CONFIRM;
        return;
    }
    sh->back_pending = 0;
    sh->frozen_periods = 0;
    sh->frozen_main_hits = sh->frozen_hits = 0;
    const uint32_t depth = sh->lead_depth;
    sh->n_counted = sh->lru_only = sh->ours_only = 0;
    sh->lead_depth = 0;
    sh->hold = DP_TINYLFU_SHADOW_HOLD * (uint64_t)sh->cap;
    sh->switched = 1;
    if (to_lru) {
        if (w >= p->cap) return;
        /* The window that would have caught the LRU shadow's lead, with a margin. */
        const double reach = DP_TINYLFU_REACH_MARGIN * (double)depth * (double)p->cap / (double)sh->cap;
        if (!sh->frozen) sh->window_before = w;
        if (!sh->frozen && reach < (double)p->cap) {
            sh->frozen = 1;
            if (reach > (double)w) dp_tinylfu_set_shares(p, (size_t)reach);
        } else {
            sh->frozen = 0;
            dp_tinylfu_set_shares(p, p->cap);
            dp_tinylfu_absorb_main(s);
        }
    } else {
        sh->frozen = 0;
        dp_tinylfu_set_shares(p, sh->window_before);
    }
    t->step = -DP_TINYLFU_FIRST_STEP;
    t->prev_hit_rate = 0.0;
    t->sample_reads = t->sample_hits = 0;
}

static void dp_tinylfu_free(dp_policy_t *p) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    if (!t) return;
    dp_sketch_free(&t->sketch);
    free(p->reads);
    p->reads = NULL;
    free(p->pending);
    p->pending = NULL;
    free(t->promo);
    dp_big_free(t->ghost, t->ghost ? (t->ghost_mask + 1) * sizeof(uint64_t) : 0);
    free(t->shadow.tag[0]);
    free(t);
    p->state = NULL;
    p->sketch = NULL;
    p->key_words = NULL;
}

/* The promotion queue's length for a cache of `cap` entries (see DP_TINYLFU_PROMOTION_DIV). */
static size_t dp_tinylfu_promo_cap(size_t cap) {
    const size_t n = cap / DP_TINYLFU_PROMOTION_DIV;
    if (n > DP_TINYLFU_PROMOTIONS_MAX) return DP_TINYLFU_PROMOTIONS_MAX;
    return n < 1 ? 1 : n; /* under 16 entries: promoted with the other moves */
}

/* What follows p->cap, but the shares and shadows: the read buffer's and promotion queue's
 * lengths (within what is allocated), and the periods of the climber, the window doubling and
 * the sketch's ageing (a count already past its new period restarts). */
static void dp_tinylfu_size_periods(dp_policy_t *p) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    const size_t cap = p->cap;
    p->reads_cap = cap < DP_TINYLFU_READS_MAX ? cap : DP_TINYLFU_READS_MAX;
    const size_t promo = dp_tinylfu_promo_cap(cap);
    t->promo_cap = promo < t->promo_alloc ? promo : t->promo_alloc;
    t->quick_period_reads = cap / 2 > 64 ? cap / 2 : 64;
    if (t->quick_reads >= t->quick_period_reads) t->quick_reads = t->quick_hits = t->quick_ghost_hits = 0;
    t->sample_size = dp_tinylfu_sample_floor(10 * (uint64_t)cap, DP_TINYLFU_MIN_SAMPLE_READS);
    if (t->sample_reads >= t->sample_size) t->sample_reads = t->sample_hits = 0;
    t->sketch.sample_size = dp_tinylfu_sketch_sample(p);
}

static int dp_tinylfu_init(dp_policy_t *p, size_t n_slots) {
    dp_tinylfu_t *const t = calloc(1, sizeof(dp_tinylfu_t));
    if (!t) return DP_ENOMEM;
    p->state = t;
    p->sketch = &t->sketch;
    const size_t cap = p->cap;
    t->size_cap = cap;
    /* The read buffer at its largest (256 bytes): a weight budget may raise reads_cap later. */
    p->reads = malloc(DP_TINYLFU_READS_MAX * sizeof(dp_policy_read_t));
    t->promo_alloc = dp_tinylfu_promo_cap(cap);
    t->promo = malloc(t->promo_alloc * sizeof(dp_policy_read_t));
    if (!p->reads || !t->promo || dp_tinylfu_size_pending(p, n_slots) != DP_OK ||
        dp_tinylfu_size_frequency(p, n_slots) != DP_OK ||
        dp_tinylfu_shadow_init(&t->shadow, cap) != DP_OK)
        return DP_ENOMEM;
    t->shadow_cap_for = cap;
    p->sample_mask = t->shadow.mask; /* a sampled hit reaches on_hit at once */
    p->sample_match = t->shadow.match;
    dp_tinylfu_set_shares(p, cap / 100);
    dp_tinylfu_size_periods(p);
    /* First try a smaller window (by 3% of the cache; Caffeine's 6.25% overshoots on short
     * traces); the climber reverses if that hurts. */
    t->step = -DP_TINYLFU_FIRST_STEP;
    return DP_OK;
}

static void dp_tinylfu_clear(dp_policy_t *p) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    dp_tinylfu_count_pending(p); /* the counts stay, as a read-then-clear would leave them */
    p->n_reads = t->n_counted = t->n_promo = 0;
    memset(p->pending, 0, t->n_pending); /* the keys are gone, and their pending hits */
    dp_tinylfu_shadow_clear(&t->shadow);
    memset(t->ghost, 0, (t->ghost_mask + 1) * sizeof(uint64_t));
}

static int dp_tinylfu_reserve(dp_policy_t *p, size_t n_slots) {
    /* A larger pending array is harmless if the sketch then cannot grow. */
    const int rc = dp_tinylfu_size_pending(p, n_slots);
    return rc == DP_OK ? dp_tinylfu_size_frequency(p, n_slots) : rc;
}

/*** Segments ***/

/* Push window overflow into probation, and protected overflow back to probation. */
static void dp_tinylfu_rebalance(dp_policy_t *p, dp_slots_t *s) {
    while (s->seg_len[DP_SEG_WINDOW] > p->seg_max[DP_SEG_WINDOW])
        dp_slots_move_head(s, DP_SEG_PROBATION, s->tail[DP_SEG_WINDOW]);
    while (s->seg_len[DP_SEG_PROTECTED] > p->seg_max[DP_SEG_PROTECTED])
        dp_slots_move_head(s, DP_SEG_PROBATION, s->tail[DP_SEG_PROTECTED]);
}

/* Is the buffered read `r` still about a live slot holding the same key? (Its slot may have
 * been freed since, or reused by another key.) */
DP_INLINE int dp_tinylfu_read_live(const dp_slots_t *s, const dp_policy_read_t *r) {
    return (size_t)r->slot < s->n_slots && dp_slots_seg(s, r->slot) != DP_SEG_FREE &&
           dp_slots_hash(s, r->slot) == r->hash;
}

/* A buffered read whose slot was removed since holds DP_TINYLFU_REMOVED(slot) (<= -2), an
 * involution. Unmark it; 1 if the slot is live again with the same hash (then it moves, as it
 * would have if never removed), else 0. */
#define DP_TINYLFU_REMOVED(slot) (-2 - (slot))
DP_INLINE int dp_tinylfu_unmark_live(const dp_slots_t *s, dp_policy_read_t *r) {
    r->slot = DP_TINYLFU_REMOVED(r->slot);
    return dp_tinylfu_read_live(s, r);
}

/* Promote the queued probation hits still in probation, oldest first. The protected segment
 * may outgrow its share until the next insert demotes its overflow: a demotion walks the
 * protected tail, a chain of dependent misses, which a write amortises better than a batch. */
static void dp_tinylfu_promote(dp_tinylfu_t *t, dp_slots_t *s) {
    const size_t n = t->n_promo;
    t->n_promo = 0;
    for (size_t i = 0; i < n; i++)
        if (dp_tinylfu_read_live(s, &t->promo[i]) &&
            dp_slots_seg(s, t->promo[i].slot) == DP_SEG_PROBATION)
            dp_slots_move_head(s, DP_SEG_PROTECTED, t->promo[i].slot);
}

/* The list move of the buffered hit `r`: most recent of its segment, or queued for promotion
 * from probation (DP_TINYLFU_PROMOTION_DIV in tinylfu.h says why it waits). */
DP_INLINE void dp_tinylfu_reorder(dp_tinylfu_t *t, dp_slots_t *s, const dp_policy_read_t *r) {
    const int seg = dp_slots_seg(s, r->slot);
    if (DP_UNLIKELY(t->shadow.frozen)) { /* what the frozen main region earns (see the thaw) */
        t->shadow.frozen_hits++;
        t->shadow.frozen_main_hits += (uint64_t)(seg != DP_SEG_WINDOW);
    }
    if (seg != DP_SEG_PROBATION) {
        dp_slots_to_front(s, r->slot); /* inline: the common case */
        return;
    }
    t->promo[t->n_promo] = *r;
    if (++t->n_promo == t->promo_cap) dp_tinylfu_promote(t, s);
}

static void dp_tinylfu_quick_check(dp_policy_t *p);
static void dp_tinylfu_climb(dp_policy_t *p);

/* Count n reads, all hits (hit = 1) or all misses (0), for the climber, the window-doubling
 * check and the ghosts' clock. Each check runs at the read where it falls due, and a read's
 * sample count comes after the window check (which may restart the sample): a run of reads up
 * to the next due check is counted in one addition, so buffered hits cost one step per run. */
static void dp_tinylfu_count_reads(dp_policy_t *p, uint64_t n, uint64_t hit) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    while (n > 0) {
        uint64_t run = n;
        const uint64_t to_quick = t->quick_period_reads - t->quick_reads;
        const uint64_t to_climb = t->sample_size - t->sample_reads;
        if (run > to_quick) run = to_quick;
        if (run > to_climb) run = to_climb;
        if (run == 0) run = 1; /* a check already due (never, as the checks reset their count) */
        n -= run;
        t->read_clock += run;
        t->sample_hits += hit * run;
        t->quick_hits += hit * run;
        t->quick_reads += run;
        t->sample_reads += run - 1; /* only the run's last read can find a check due */
        if (t->quick_reads >= t->quick_period_reads) dp_tinylfu_quick_check(p);
        if (++t->sample_reads >= t->sample_size) dp_tinylfu_climb(p);
    }
}

/* Count the buffered hits, then halve the sketch if due: before anything reads the sketch. */
DP_INLINE void dp_tinylfu_settle(dp_policy_t *p, const dp_slots_t *s) {
    dp_tinylfu_count_pending(p);
    dp_tinylfu_age(p, s);
}

/* Apply the read buffer's list moves (a promotion only queues, see dp_tinylfu_reorder). */
static void dp_tinylfu_flush(dp_policy_t *p, dp_slots_t *s) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    dp_tinylfu_settle(p, s);
    const size_t n = p->n_reads;
    p->n_reads = t->n_counted = 0;
    for (size_t i = 0; i < n; i++)
        if (p->reads[i].slot >= 0 || dp_tinylfu_unmark_live(s, &p->reads[i])) /* see on_remove */
            dp_tinylfu_reorder(t, s, &p->reads[i]);
}

/* Before the order is read: every buffered move, and every queued promotion. */
static void dp_tinylfu_drain(dp_policy_t *p, dp_slots_t *s) {
    dp_tinylfu_flush(p, s);
    dp_tinylfu_promote(dp_tinylfu(p), s);
}

/*** Frequency and hill climbing ***/

static void dp_tinylfu_climb(dp_policy_t *p) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    /* Plain LRU by the shadows' verdict: only they leave it (a climber stepping down on noise
     * from there cost zigzag a point per step, and a switch back that it cannot see). */
    if (t->shadow.cap && dp_tinylfu_recency_rules(p)) {
        t->sample_reads = t->sample_hits = 0;
        return;
    }
    const double rate = (double)t->sample_hits / (double)t->sample_reads;
    /* That way hurt: turn round. A drop within Z standard errors of the sampled rate is noise
     * and keeps the direction, so the climber crosses plateaus (e.g. a window still too small
     * to catch any reuse of a recency-heavy trace) instead of wandering. */
    const double prev = t->prev_hit_rate, n = (double)t->sample_reads, drop = prev - rate;
    if (drop > 0 && drop * drop > DP_TINYLFU_CLIMB_Z * DP_TINYLFU_CLIMB_Z * prev * (1.0 - prev) / n)
        t->step = -t->step;
    t->prev_hit_rate = rate;
    const double cap = (double)p->cap;
    double window = (double)p->seg_max[DP_SEG_WINDOW] + t->step * cap;
    /* A step past a bound bounces back inward: otherwise a climber pinned at a 1% window by a
     * falling hit rate (a recency-heavy trace warming up) would never try a larger one. */
    if (window < 1.0) {
        t->step = -t->step;
        window = 1.0 + t->step * cap;
    } else if (window > cap) {
        t->step = -t->step;
        window = cap + t->step * cap;
    }
    if (window < 1.0) window = 1.0;
    if (window > cap) window = cap;
    dp_tinylfu_set_shares(p, (size_t)window);
    t->step *= 0.98;
    const double min_step = 1.0 / cap;
    if (t->step > -min_step && t->step < min_step) t->step = t->step < 0 ? -min_step : min_step;
    t->sample_reads = t->sample_hits = 0;
}

/* A ghost word: the hash's low 32 bits over the read clock's (never 0 for a live ghost's
 * tag, unless the hash's low bits are 0: such keys are never remembered). */
DP_INLINE size_t dp_tinylfu_ghost_index(const dp_tinylfu_t *t, uint64_t hash) {
    return (size_t)(dp_fmix64(hash) & (uint64_t)t->ghost_mask);
}

static void dp_tinylfu_on_evict(dp_policy_t *p, const dp_slots_t *s, int32_t slot) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    dp_tinylfu_count_pending(p);
    /* A ghost is a window entry turned away at admission. When the window is the whole cache
     * (plain LRU), an eviction is no such verdict: counted as ghosts, a hot set's returns aged
     * the sketch every cap/2 reads (dp_tinylfu_quick_check), so the TinyLFU shadow could never
     * tell the hot keys from one-offs and prove that frequency pays again. */
    if (dp_slots_seg(s, slot) != DP_SEG_WINDOW || dp_tinylfu_recency_rules(p)) return;
    const uint64_t hash = dp_slots_hash(s, slot);
    t->ghost[dp_tinylfu_ghost_index(t, hash)] = (uint64_t)(uint32_t)hash << 32 | (uint32_t)t->read_clock;
}

/* A key inserted anew: was it turned away at admission within the last `cap` reads? Then a
 * larger window would have kept it; returns 1 if so. */
static int dp_tinylfu_check_ghost(dp_policy_t *p, uint64_t hash) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    uint64_t *const g = &t->ghost[dp_tinylfu_ghost_index(t, hash)];
    if ((uint32_t)(*g >> 32) != (uint32_t)hash || (uint32_t)hash == 0) return 0;
    const uint32_t age = (uint32_t)t->read_clock - (uint32_t)*g; /* modulo 2**32 */
    *g = 0;
    if (age >= p->cap) return 0;
    t->quick_ghost_hits++;
    return 1;
}

/* Every quick_period_reads reads: if more reads came back to a recent ghost than hit the
 * cache (and at least 1% did), the window is far too small for the reuse distance: double it and
 * let the climber go on upwards from there, with a fresh sample. A loop of L keys never
 * triggers it: it hits about cap/L of its reads, so ghost returns (at most its misses) exceed
 * its hits only if L > 2 cap, while a ghost counts only if it returns within `cap` reads of
 * leaving a window of w <= cap entries, i.e. if L < cap + w <= 2 cap. Frequency-skewed traces
 * hit more than they return to ghosts. (Half the hits as the bar broke loop 768.) */
static void dp_tinylfu_quick_check(dp_policy_t *p) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    const uint64_t reads = t->quick_reads, hits = t->quick_hits, ghosts = t->quick_ghost_hits;
    t->quick_reads = t->quick_hits = t->quick_ghost_hits = 0;
    /* At least 5% of reads came back to keys the sketch had just turned away: its counts are
     * stale (the hot set moved), so age them now rather than after 10 x cap more counts. On a
     * moving Zipf hot set this is worth 1-4 points; the simulator's traces do not trigger it,
     * but for loop 768 (0.8 lower). Only in caches under DP_TINYLFU_STALE_MAX_CAP entries, and
     * only once the sketch has counted DP_TINYLFU_STALE_MIN_COUNTS x cap since it last halved:
     * see there. The halving itself waits for the next dp_tinylfu_age. */
    if (20 * ghosts > reads && p->cap < DP_TINYLFU_STALE_MAX_CAP &&
        t->sketch.additions >= t->halved_at + DP_TINYLFU_STALE_MIN_COUNTS * (uint64_t)p->cap)
        t->halve_due = 1;
    if (ghosts <= hits || 100 * ghosts <= reads || dp_tinylfu_recency_rules(p)) return;
    /* With shadows, the doubling only lifts a window far too small (to 1/16 of the cache; web07
     * at 1% scores 2 points higher with it); beyond that the shadows decide when recency wins.
     * A doubling is a ratchet the climber undoes only slowly: on a Zipf hot set broken by loops
     * it doubled the window in every loop phase up to the whole cache (scan_loop at 15%: 60%
     * where theine hits 72%). */
    if (t->shadow.cap && 2 * p->seg_max[DP_SEG_WINDOW] > p->cap / 16) return;
    dp_tinylfu_set_shares(p, 2 * p->seg_max[DP_SEG_WINDOW]);
    if (t->step < 0) t->step = -t->step;
    t->prev_hit_rate = 0.0;
    t->sample_reads = t->sample_hits = 0;
}

/*** Ops ***/

/* The hit on `slot` is in the read buffer already (policy.h), which is full or the hit sampled.
 * A hit is a read of a present key: it counts towards frequency and the climber's sample
 * before anything else that reads them happens (see tinylfu.h); the list move waits longer.
 * Delaying the moves (as Caffeine's and theine's read buffers do) scored 0.5-1.5 points higher
 * on multi2 and loop in the simulator: a burst of hits no longer reshuffles the segments hit by
 * hit. */
static void dp_tinylfu_on_hit(dp_policy_t *p, dp_slots_t *s, int32_t slot) {
    /* The hit is the buffer's last read, with its slot's hash (no read of the hash array). */
    const uint64_t hash = p->reads[p->n_reads - 1].hash;
    if (dp_tinylfu_sampled(dp_tinylfu(p), hash)) {
        /* The shadows read the sketch by hash: count up to this hit first, and a sampled
         * key's hits go to the sketch at once. */
        dp_tinylfu_settle(p, s);
        dp_tinylfu_fold(p, s, slot);
        dp_tinylfu_shadow_count(p, s, hash, 1);
    }
    if (p->n_reads == p->reads_cap) dp_tinylfu_flush(p, s);
}

static void dp_tinylfu_on_miss(dp_policy_t *p) {
    /* As in Caffeine, a miss does not count towards the key's frequency: the write that follows
     * it (the load) counts it once. It does count in the climber's sample. */
    dp_tinylfu_count_pending(p);
    dp_tinylfu_count(p, 1, 0);
}

static void dp_tinylfu_on_write(dp_policy_t *p, uint64_t hash) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    dp_tinylfu_count_pending(p);
    /* halved by dp_tinylfu_age */
    t->sketch.additions += dp_sketch_add_one_mixed(&t->sketch, dp_fmix64(hash));
}

static void dp_tinylfu_on_remove(dp_policy_t *p, const dp_slots_t *s, int32_t slot) {
    dp_tinylfu_fold(p, s, slot);
    /* A buffered hit on the slot is marked (at most reads_cap to look at): the flush checks
     * only marked slots' hashes (the slot may hold the same key again) and trusts the others,
     * where checking every one read hashes[], one more cache line per hit. (The promotion
     * queue, rarer, checks each.) */
    for (size_t i = 0; i < p->n_reads; i++)
        if (p->reads[i].slot == slot) p->reads[i].slot = DP_TINYLFU_REMOVED(slot);
}

static void dp_tinylfu_on_insert(dp_policy_t *p, dp_slots_t *s, int32_t slot) {
    dp_tinylfu_settle(p, s);
    const uint64_t hash = dp_slots_hash(s, slot);
    /* A new key is a read that missed (read-through), or a write of a key we had not got. */
    if (dp_tinylfu_sampled(dp_tinylfu(p), hash)) dp_tinylfu_shadow_count(p, s, hash, 0);
    if (dp_tinylfu_check_ghost(p, hash)) dp_slots_set_mark(s, slot, 1);
    dp_tinylfu_rebalance(p, s);
}

static int32_t dp_tinylfu_victim(dp_policy_t *p, dp_slots_t *s) {
    dp_tinylfu_settle(p, s);
    const int32_t main_victim = s->tail[DP_SEG_PROBATION] >= 0 ? s->tail[DP_SEG_PROBATION]
                                                               : s->tail[DP_SEG_PROTECTED];
    const int32_t candidate = s->tail[DP_SEG_WINDOW];
    if (candidate >= 0 && s->seg_len[DP_SEG_WINDOW] >= p->seg_max[DP_SEG_WINDOW]) {
        /* The window will overflow: admit its oldest entry only if it is more popular. */
        if (main_victim < 0) return candidate;
        if (dp_tinylfu(p)->shadow.frozen) return candidate; /* half-way to LRU: see tinylfu.h */
        if (dp_slots_mark(s, candidate)) return main_victim; /* returned to its ghost */
        return dp_tinylfu_estimate(p, s, candidate) > dp_tinylfu_estimate(p, s, main_victim)
                   ? main_victim
                   : candidate;
    }
    return main_victim >= 0 ? main_victim : candidate;
}

/* The cache holds at most `cap` entries for now: a weight budget binds below max_size (see
 * dp_lru_follow_weight). Everything sized in entries follows: the shares (the window keeps its
 * fraction of the cache, or stays the whole of it), the periods (dp_tinylfu_size_periods), and
 * the shadows, rebuilt for `cap` once it moved by a factor 2 from the size they simulate (a
 * verdict's evidence is lost then: they restart, unfrozen). The sketch's counts and the ghosts
 * stay: they are by key, not by size. Cannot fail: without memory for new shadows the old ones
 * go on (simulating the old size) until a later call. O(entries moved between segments). */
static void dp_tinylfu_recap(dp_policy_t *p, dp_slots_t *s, size_t cap) {
    dp_tinylfu_t *const t = dp_tinylfu(p);
    const size_t old = p->cap;
    if (cap == old || cap == 0) return;
    dp_tinylfu_drain(p, s); /* the buffers may shrink below what they hold */
    dp_tinylfu_shadow_t *const sh = &t->shadow;
    int rebuilt = 0;
    if (cap < DP_TINYLFU_SHADOW_MIN || 2 * cap <= t->shadow_cap_for || cap >= 2 * t->shadow_cap_for) {
        dp_tinylfu_shadow_t fresh;
        memset(&fresh, 0, sizeof(fresh));
        rebuilt = dp_tinylfu_shadow_init(&fresh, cap) == DP_OK;
        if (rebuilt) {
            free(sh->tag[0]);
            *sh = fresh;
            t->shadow_cap_for = cap;
            p->sample_mask = sh->mask;
            p->sample_match = sh->match;
        }
    }
    const size_t w = p->seg_max[DP_SEG_WINDOW];
    if (!rebuilt) /* (fresh shadows have their own, 1% of cap) */
        sh->window_before = (size_t)((double)sh->window_before * (double)cap / (double)old);
    p->cap = cap;
    if (sh->lead_depth > sh->cap) sh->lead_depth = sh->cap;
    size_t window = w >= old ? cap : (size_t)((double)w * (double)cap / (double)old);
    if (sh->frozen && cap < 2) { /* no main region left to freeze */
        sh->frozen = 0;
        sh->frozen_periods = 0;
        sh->frozen_hits = sh->frozen_main_hits = 0;
    }
    if (sh->frozen && window >= cap) window = cap - 1; /* frozen => window < cap (tinylfu.h) */
    dp_tinylfu_set_shares(p, window);
    const size_t promo = dp_tinylfu_promo_cap(cap);
    if (t->promo_alloc < promo) { /* a longer queue, if memory allows (size_periods clamps) */
        dp_policy_read_t *const q = realloc(t->promo, promo * sizeof(*q));
        if (q) t->promo = q, t->promo_alloc = promo;
    }
    dp_tinylfu_size_periods(p);
    /* Full density once the budget holds what the sketch is sized for (if memory allows; else
     * at a later call): admissions read it now. */
    (void)dp_tinylfu_size_frequency(p, s->n_slots);
    dp_tinylfu_rebalance(p, s);
}

static int dp_tinylfu_check(const dp_policy_t *p, const dp_slots_t *s) {
    const dp_tinylfu_t *const t = dp_tinylfu(p);
    if (!t || p->sketch != &t->sketch || !p->reads || !t->ghost || p->key_words != t->ghost ||
        p->key_mask != t->ghost_mask)
        return DP_ECORRUPT;
    if (p->n_reads >= p->reads_cap || t->n_counted > p->n_reads || p->reads_cap == 0 ||
        p->reads_cap > DP_TINYLFU_READS_MAX || p->sample_mask != t->shadow.mask ||
        p->sample_match != t->shadow.match)
        return DP_ECORRUPT;
    if (p->seg_max[DP_SEG_WINDOW] < 1 || p->seg_max[DP_SEG_WINDOW] > p->cap ||
        p->seg_max[DP_SEG_PROTECTED] != (p->cap - p->seg_max[DP_SEG_WINDOW]) * 3 / 4)
        return DP_ECORRUPT;
    for (size_t i = 0; i < p->n_reads; i++)
        if (p->reads[i].slot >= 0 ? !dp_tinylfu_read_live(s, &p->reads[i])
                                  : p->reads[i].slot == -1 ||
                                        (size_t)DP_TINYLFU_REMOVED(p->reads[i].slot) >= s->n_slots)
            return DP_ECORRUPT;
    if (!t->promo || t->promo_cap < 1 || t->promo_cap > DP_TINYLFU_PROMOTIONS_MAX ||
        t->promo_cap > t->promo_alloc || t->n_promo >= t->promo_cap || t->shadow_cap_for < 1)
        return DP_ECORRUPT;
    for (size_t i = 0; i < t->n_promo; i++)
        if (t->promo[i].slot < 0 || (size_t)t->promo[i].slot >= s->n_slots) return DP_ECORRUPT;
    if (!p->pending || t->n_pending < s->n_slots || (unsigned)t->halve_due > 1 ||
        t->halved_at > t->sketch.additions)
        return DP_ECORRUPT;
    for (size_t i = 0; i < t->n_pending; i++)
        if (p->pending[i] > DP_POLICY_PENDING_MAX ||
            (p->pending[i] && (i >= s->n_slots || dp_slots_seg(s, (int32_t)i) == DP_SEG_FREE)))
            return DP_ECORRUPT;
    if (t->sketch_keys < s->n_slots ||
        t->sketch_keys != dp_tinylfu_sketch_keys(p, t->sketch_keys) ||
        t->sketch.n_words < dp_tinylfu_sketch_words(p, t->sketch_keys, t->sketch_full) ||
        (t->sketch.n_words > dp_tinylfu_sketch_words(p, t->sketch_keys, 0) &&
         t->sketch.n_words > dp_tinylfu_sketch_words(p, t->sketch_keys, 1)) ||
        (t->sketch.n_words & (t->sketch.n_words - 1)) || (unsigned)t->sketch_full > 1 ||
        t->size_cap < p->cap ||
        t->ghost_mask + 1 != dp_tinylfu_ghost_words(t->sketch_keys))
        return DP_ECORRUPT;
    const dp_tinylfu_shadow_t *const sh = &t->shadow;
    if (sh->cap > DP_TINYLFU_SHADOW_MAX || sh->window_before > p->cap ||
        (unsigned)sh->switched > 1 || (unsigned)sh->back_pending > 1 ||
        (unsigned)sh->frozen > 1 || (sh->frozen && p->seg_max[DP_SEG_WINDOW] >= p->cap) ||
        sh->frozen_periods >= DP_TINYLFU_FROZEN_PERIODS || (!sh->frozen && sh->frozen_periods) ||
        sh->frozen_main_hits > sh->frozen_hits || (!sh->frozen && sh->frozen_hits) ||
        sh->lead_depth > sh->cap ||
        sh->lru_only + sh->ours_only > sh->n_counted || sh->lfu_wins + sh->lru_wins > sh->n_versus ||
        (sh->cap ? sh->match != 0 || !sh->tag[0] : sh->mask != 0 || sh->match != 1))
        return DP_ECORRUPT;
    for (int k = 0; sh->cap && k < DP_TINYLFU_SHADOWS; k++) {
        if (sh->n[k] > sh->cap || sh->tag[k] != sh->tag[0] + 2 * (size_t)k * sh->cap ||
            sh->used[k] != sh->tag[k] + sh->cap)
            return DP_ECORRUPT;
        for (uint32_t i = 0; i < sh->n[k]; i++)
            if (sh->used[k][i] > sh->clock) return DP_ECORRUPT;
    }
    if (sh->cap && (sh->wcap < 1 || sh->wcap >= sh->cap)) return DP_ECORRUPT; /* the window */
    return DP_OK;
}

const dp_policy_ops_t dp_tinylfu_ops = {
    .name = "tinylfu",
    .init = dp_tinylfu_init,
    .free = dp_tinylfu_free,
    .clear = dp_tinylfu_clear,
    .reserve = dp_tinylfu_reserve,
    .on_insert = dp_tinylfu_on_insert,
    .on_hit = dp_tinylfu_on_hit,
    .on_miss = dp_tinylfu_on_miss,
    .on_write = dp_tinylfu_on_write,
    .victim = dp_tinylfu_victim,
    .on_evict = dp_tinylfu_on_evict,
    .on_remove = dp_tinylfu_on_remove,
    .drain = dp_tinylfu_drain,
    .rebalance = dp_tinylfu_rebalance,
    .recap = dp_tinylfu_recap,
    .check = dp_tinylfu_check,
};
