/* hash.h -- MurmurHash3 x64-128 over bytes: stable across processes, machines and endianness.
 * Invariant: dp_hash128(p, n, seed) depends only on the n bytes at p and on seed (blocks are read
 * as little-endian words on every platform); for seed < 2**32 it equals the reference
 * MurmurHash3_x64_128 (h1 in out[0], h2 in out[1]). No state, no allocation. */
#ifndef DP_HASH_H
#define DP_HASH_H

#include "dp_common.h"

void dp_hash128(const void *data, size_t n_bytes, uint64_t seed, uint64_t out[2]);

/* MurmurHash3's 64-bit finaliser: a bijection that spreads every input bit over the output. */
DP_INLINE uint64_t dp_fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* The same hash of one 64-bit integer's 8 little-endian bytes, without a buffer. */
void dp_hash128_u64(uint64_t value, uint64_t seed, uint64_t out[2]);

#endif /* DP_HASH_H */
