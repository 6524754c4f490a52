/* tinylfu.h -- W-TinyLFU (Einziger et al.; Caffeine) as a policy (dp_tinylfu_ops): a window
 * LRU in front of probation and protected; the window's overflow enters probation only if the
 * sketch rates it above the main victim (or it came back to its ghost within `cap` reads); a
 * probation hit is promoted; a hill climber and the ghost table size the window. A hit waits in
 * the read buffer: its counts until the next event that is not a hit (so counts land in the
 * same order as if made at once), its list move until the buffer fills or the order is read.
 * Invariant: n_counted <= n_reads < reads_cap; protected within seg_max after each insert;
 * sketch and ghosts sized for >= n_slots keys. init allocates the state, free releases it. */
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
