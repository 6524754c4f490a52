/* tinylfu.h -- W-TinyLFU (Einziger et al.; Caffeine) as a dp_policy_ops_t (dp_tinylfu_ops):
 * a small window LRU in front of a main region split into probation and protected. A new key
 * enters the window; the window's overflow is admitted to probation only if the frequency sketch
 * rates it above the main region's victim; a probation hit is promoted to protected; a hill
 * climber resizes the window (seg_max[DP_SEG_WINDOW]) from the sampled hit rate; a ghost table
 * of window entries that lost admission doubles the window, and admits a key that returns
 * within `cap` reads, when the climber is too slow. A hit waits in the read buffer (reads[0 ..
 * n_reads)): its count (sketch and climber) until the next other event (miss, write, insert,
 * victim choice, eviction, drain), so that every count lands in the same order as if made at
 * once, with the buffer's sketch blocks fetched together; its list move until the buffer
 * fills or the order is read (skipped if the slot was freed or reused by another hash since).
 * Invariant: n_counted <= n_reads < reads_cap; protected <= seg_max[DP_SEG_PROTECTED] after
 * each insert. The policy's init allocates, free releases. */
#ifndef DP_TINYLFU_H
#define DP_TINYLFU_H

#include "policy.h"

#define DP_TINYLFU_READS_MAX 128         /* read buffer entries; fewer for caches under 128 */
#define DP_TINYLFU_FIRST_SKETCH_KEYS 65536 /* sketch and ghosts: sized for this many keys (or
                                            * cap) at once, then grown with the slots (1 MiB) */

/* A hit whose list move is pending: the slot, and the hash it held then. */
typedef struct {
    uint64_t hash;
    int32_t slot;
} dp_tinylfu_read_t;

typedef struct {
    dp_sketch_t sketch;
    size_t sketch_keys;        /* keys the sketch and ghost table are sized for */
    uint64_t sample_size, sample_reads, sample_hits;  /* hill climber */
    double prev_hit_rate, step;
    uint64_t read_clock;       /* hits + misses so far: the ghosts' clock */
    uint64_t *ghost;           /* ghost_mask + 1 words: low 32 bits of a rejected key's hash
                                * << 32 | low 32 bits of read_clock at its eviction; 0 = empty */
    size_t ghost_mask;
    uint64_t quick_period_reads, quick_reads, quick_hits, quick_ghost_hits; /* window doubling */
    dp_tinylfu_read_t *reads;
    size_t n_reads, reads_cap;
    size_t n_counted;          /* reads[0 .. n_counted) are counted already */
} dp_tinylfu_t;

extern const dp_policy_ops_t dp_tinylfu_ops;

#endif /* DP_TINYLFU_H */
