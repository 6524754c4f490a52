/* hash.c -- see hash.h. MurmurHash3 by Austin Appleby (public domain), x64-128 variant. */
#include "hash.h"

DP_INLINE uint64_t dp_rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* A little-endian 64-bit load from any alignment, the same on every platform. */
DP_INLINE uint64_t dp_load_le64(const uint8_t *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

#define DP_C1 0x87c37b91114253d5ULL
#define DP_C2 0x4cf5ad432745937fULL

DP_INLINE void dp_hash_finish(uint64_t h1, uint64_t h2, size_t n_bytes, uint64_t out[2]) {
    h1 ^= (uint64_t)n_bytes;
    h2 ^= (uint64_t)n_bytes;
    h1 += h2;
    h2 += h1;
    h1 = dp_fmix64(h1);
    h2 = dp_fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

void dp_hash128(const void *data, size_t n_bytes, uint64_t seed, uint64_t out[2]) {
    const uint8_t *p = (const uint8_t *)data;
    const size_t n_blocks = n_bytes / 16;
    uint64_t h1 = seed, h2 = seed;
    for (size_t i = 0; i < n_blocks; i++, p += 16) {
        uint64_t k1 = dp_load_le64(p), k2 = dp_load_le64(p + 8);
        k1 *= DP_C1; k1 = dp_rotl64(k1, 31); k1 *= DP_C2; h1 ^= k1;
        h1 = dp_rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
        k2 *= DP_C2; k2 = dp_rotl64(k2, 33); k2 *= DP_C1; h2 ^= k2;
        h2 = dp_rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
    }
    uint64_t k1 = 0, k2 = 0;
    const size_t tail = n_bytes & 15;
    for (size_t i = tail; i > 8; i--) k2 ^= (uint64_t)p[i - 1] << (8 * (i - 9));
    if (tail > 8) {
        k2 *= DP_C2; k2 = dp_rotl64(k2, 33); k2 *= DP_C1; h2 ^= k2;
    }
    for (size_t i = (tail < 8 ? tail : 8); i > 0; i--) k1 ^= (uint64_t)p[i - 1] << (8 * (i - 1));
    if (tail > 0) {
        k1 *= DP_C1; k1 = dp_rotl64(k1, 31); k1 *= DP_C2; h1 ^= k1;
    }
    dp_hash_finish(h1, h2, n_bytes, out);
}

void dp_hash128_u64(uint64_t value, uint64_t seed, uint64_t out[2]) {
    /* The tail step of an 8-byte input: k1 is the little-endian value itself. */
    uint64_t h1 = seed, h2 = seed, k1 = value;
    k1 *= DP_C1; k1 = dp_rotl64(k1, 31); k1 *= DP_C2; h1 ^= k1;
    dp_hash_finish(h1, h2, 8, out);
}
