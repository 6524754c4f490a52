/* bloom.h -- a Bloom filter over one array of 64-bit words, probed from a 128-bit key hash.
 * Invariant: bit i (0 <= i < n_bits) is (words[i / 64] >> (i % 64)) & 1; bits at and past n_bits
 * in the last word stay 0; n_set is the exact number of set bits. A key's n_hashes bit indices
 * come from its hash (h1, h2) by enhanced double hashing, each reduced to [0, n_bits) with a
 * 64x64->128 multiply-high, so the same key sets the same bits on every platform.
 * Borrowed words may be a file mapping that vanishes if the file is truncated (SIGBUS on the
 * next read): the dp_bloom_safe_* reads turn that fault into DP_EFAULT.
 * Ownership: dp_bloom_init allocates `words` (owns_words = 1) and dp_bloom_free releases it;
 * dp_bloom_init_view borrows caller memory (owns_words = 0, read-only by contract). dp_bloom_free
 * is safe on a zeroed struct; the caller owns the struct itself. */
#ifndef DP_BLOOM_H
#define DP_BLOOM_H

#include "dp_common.h"

#define DP_BLOOM_MAX_HASHES 64u
#define DP_BLOOM_MAX_BITS ((uint64_t)1 << 40)

typedef struct {
    uint64_t *words;
    size_t n_words;
    uint64_t n_bits;
    uint32_t n_hashes;
    uint64_t seed;
    uint64_t n_set;
    int owns_words;
} dp_bloom_t;

int dp_bloom_init(dp_bloom_t *bf, uint64_t n_bits, uint32_t n_hashes, uint64_t seed);
/* Borrow `words` (n_words = ceil(n_bits / 64), host order); counts the set bits. */
int dp_bloom_init_view(dp_bloom_t *bf, uint64_t *words, uint64_t n_bits, uint32_t n_hashes,
                       uint64_t seed);
void dp_bloom_free(dp_bloom_t *bf);
void dp_bloom_clear(dp_bloom_t *bf);
/* 1 if the key set at least one new bit (it was probably not present), else 0. */
int dp_bloom_add_hash(dp_bloom_t *bf, const uint64_t h[2]);
int dp_bloom_contains_hash(const dp_bloom_t *bf, const uint64_t h[2]);
/* Hash one key: bytes, or a 64-bit integer's 8 little-endian bytes (negative: seed tweaked). */
void dp_bloom_hash_bytes(const dp_bloom_t *bf, const void *data, size_t n_bytes, uint64_t h[2]);
void dp_bloom_hash_u64(const dp_bloom_t *bf, uint64_t value, int negative, uint64_t h[2]);
/* Bulk forms: out[i] = 1/0 as add_hash / contains_hash of key i. Integers: `is_signed` reads
 * the words as int64 (negatives hashed as dp_bloom_hash_u64 with negative = 1). Fixed-width
 * bytes: n keys of `width` bytes each, back to back. */
void dp_bloom_add_ints(dp_bloom_t *bf, const uint64_t *keys, size_t n, int is_signed,
                       uint8_t *out);
void dp_bloom_contains_ints(const dp_bloom_t *bf, const uint64_t *keys, size_t n, int is_signed,
                            uint8_t *out);
void dp_bloom_add_fixed(dp_bloom_t *bf, const uint8_t *data, size_t n, size_t width,
                        uint8_t *out);
void dp_bloom_contains_fixed(const dp_bloom_t *bf, const uint8_t *data, size_t n, size_t width,
                             uint8_t *out);
/* dst |= src (or &= with op_and); both must have equal n_bits, n_hashes and seed. */
int dp_bloom_merge(dp_bloom_t *dst, const dp_bloom_t *src, int op_and);
/* Recount n_set from the words. */
void dp_bloom_recount(dp_bloom_t *bf);
/* Little-endian (de)serialisation of the words, whatever the host order. */
void dp_bloom_words_to_le(const dp_bloom_t *bf, uint8_t *out);
void dp_bloom_words_from_le(dp_bloom_t *bf, const uint8_t *in);

/* Reads that survive borrowed words vanishing: a SIGBUS raised while one runs (a mapped file
 * truncated under a view) makes it return DP_EFAULT, its output unfinished, instead of killing
 * the process. The first call installs a SIGBUS handler that hands every other SIGBUS to the
 * handler it replaced. Otherwise as contains_hash, contains_ints, contains_fixed, a copy of
 * the n_words words, and words_to_le. */
int dp_bloom_safe_contains(const dp_bloom_t *bf, const uint64_t h[2], int *found);
int dp_bloom_safe_contains_ints(const dp_bloom_t *bf, const uint64_t *keys, size_t n,
                                int is_signed, uint8_t *out);
int dp_bloom_safe_contains_fixed(const dp_bloom_t *bf, const uint8_t *data, size_t n,
                                 size_t width, uint8_t *out);
int dp_bloom_safe_copy_words(const dp_bloom_t *bf, uint64_t *out);
int dp_bloom_safe_words_to_le(const dp_bloom_t *bf, uint8_t *out);

#endif /* DP_BLOOM_H */
