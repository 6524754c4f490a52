/* bloom.c -- see bloom.h for the layout, its invariants and who frees what. */
#include "bloom.h"

#ifndef _WIN32
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define DP_BLOOM_NEG_TWEAK 0x9E3779B97F4A7C15ULL /* keeps -1 apart from 2**64 - 1 */
#define DP_BLOOM_LEN_TWEAK 0x27D4EB4FULL /* see dp_bloom_seed (32 bits: mmh3 checks it) */

/*** Allocation ***/

static int dp_bloom_check_shape(uint64_t n_bits, uint32_t n_hashes) {
    return n_bits == 0 || n_bits > DP_BLOOM_MAX_BITS || n_hashes == 0 ||
           n_hashes > DP_BLOOM_MAX_HASHES;
}

int dp_bloom_init(dp_bloom_t *bf, uint64_t n_bits, uint32_t n_hashes, uint64_t seed) {
    memset(bf, 0, sizeof(*bf));
    if (dp_bloom_check_shape(n_bits, n_hashes)) return DP_EINVAL;
    bf->n_words = (size_t)((n_bits + 63) / 64);
    bf->words = calloc(bf->n_words, sizeof(uint64_t));
    if (!bf->words) return DP_ENOMEM;
    bf->n_bits = n_bits;
    bf->n_hashes = n_hashes;
    bf->seed = seed;
    bf->owns_words = 1;
    return DP_OK;
}

int dp_bloom_init_view(dp_bloom_t *bf, uint64_t *words, uint64_t n_bits, uint32_t n_hashes,
                       uint64_t seed) {
    memset(bf, 0, sizeof(*bf));
    if (dp_bloom_check_shape(n_bits, n_hashes) || words == NULL) return DP_EINVAL;
    bf->n_words = (size_t)((n_bits + 63) / 64);
    bf->words = words;
    bf->n_bits = n_bits;
    bf->n_hashes = n_hashes;
    bf->seed = seed;
    dp_bloom_recount(bf);
    return DP_OK;
}

void dp_bloom_free(dp_bloom_t *bf) {
    if (bf->owns_words) free(bf->words);
    memset(bf, 0, sizeof(*bf));
}

void dp_bloom_clear(dp_bloom_t *bf) {
    memset(bf->words, 0, bf->n_words * sizeof(uint64_t));
    bf->n_set = 0;
}

void dp_bloom_recount(dp_bloom_t *bf) {
    uint64_t n = 0;
    for (size_t i = 0; i < bf->n_words; i++) n += (uint64_t)dp_popcount64(bf->words[i]);
    bf->n_set = n;
}

/*** Hashing and probing ***/

DP_INLINE uint64_t dp_bloom_reduce(uint64_t x, uint64_t n_bits) {
#if defined(__SIZEOF_INT128__)
    return (uint64_t)(((unsigned __int128)x * n_bits) >> 64);
#else
    /* The same multiply-high from 32-bit halves, for compilers without 128-bit integers. */
    const uint64_t x_lo = (uint32_t)x, x_hi = x >> 32, m_lo = (uint32_t)n_bits, m_hi = n_bits >> 32;
    const uint64_t lo_lo = x_lo * m_lo, hi_lo = x_hi * m_lo, lo_hi = x_lo * m_hi;
    const uint64_t cross = (lo_lo >> 32) + (uint32_t)hi_lo + lo_hi;
    return x_hi * m_hi + (hi_lo >> 32) + (cross >> 32);
#endif
}

/* The MurmurHash3 seed for a key of n_bytes. A key of at most 8 bytes leaves h2 = seed until
 * the finalisation XORs in the length: a seed equal to the length zeroes h2, after which both
 * halves derive from one value and the probes are linked (2.7x the false-positive target).
 * Such a seed is swapped for another that cannot equal the length. */
DP_INLINE uint64_t dp_bloom_seed(uint64_t seed, size_t n_bytes) {
    return (n_bytes <= 8 && seed == (uint64_t)n_bytes) ? seed ^ DP_BLOOM_LEN_TWEAK : seed;
}

void dp_bloom_hash_bytes(const dp_bloom_t *bf, const void *data, size_t n_bytes, uint64_t h[2]) {
    dp_hash128(data, n_bytes, dp_bloom_seed(bf->seed, n_bytes), h);
}

void dp_bloom_hash_u64(const dp_bloom_t *bf, uint64_t value, int negative, uint64_t h[2]) {
    dp_hash128_u64(value, dp_bloom_seed(negative ? bf->seed ^ DP_BLOOM_NEG_TWEAK : bf->seed, 8), h);
}

int dp_bloom_add_hash(dp_bloom_t *bf, const uint64_t h[2]) {
    uint64_t a = h[0], b = h[1];
    int fresh = 0;
    for (uint32_t i = 0; i < bf->n_hashes; i++) {
        const uint64_t bit = dp_bloom_reduce(a, bf->n_bits);
        const uint64_t mask = (uint64_t)1 << (bit & 63);
        uint64_t *const w = &bf->words[bit >> 6];
        if (!(*w & mask)) {
            *w |= mask;
            bf->n_set++;
            fresh = 1;
        }
        a += b;
        b += i;
    }
    return fresh;
}

int dp_bloom_contains_hash(const dp_bloom_t *bf, const uint64_t h[2]) {
    uint64_t a = h[0], b = h[1];
    for (uint32_t i = 0; i < bf->n_hashes; i++) {
        const uint64_t bit = dp_bloom_reduce(a, bf->n_bits);
        if (!((bf->words[bit >> 6] >> (bit & 63)) & 1)) return 0;
        a += b;
        b += i;
    }
    return 1;
}

/*** Bulk ***/

/* (Prefetching each batch's probe words was measured slower here: the probes of a filter up to
 * about 10 MB mostly hit L2/L3, and the extra index pass costs more than it hides.) */

/* One bulk pass: `key_hash` hashes key i, then each key is added or tested in order. */
typedef void (*dp_bloom_key_hash_fn)(const dp_bloom_t *bf, const void *keys, size_t i,
                                     size_t width, uint64_t h[2]);

static void dp_bloom_bulk(dp_bloom_t *bf, const void *keys, size_t n, size_t width,
                          dp_bloom_key_hash_fn key_hash, int add, uint8_t *out) {
    uint64_t h[2];
    for (size_t i = 0; i < n; i++) {
        key_hash(bf, keys, i, width, h);
        out[i] = (uint8_t)(add ? dp_bloom_add_hash(bf, h) : dp_bloom_contains_hash(bf, h));
    }
}

static void dp_bloom_hash_unsigned(const dp_bloom_t *bf, const void *keys, size_t i,
                                   size_t width, uint64_t h[2]) {
    (void)width;
    dp_bloom_hash_u64(bf, ((const uint64_t *)keys)[i], 0, h);
}

static void dp_bloom_hash_signed(const dp_bloom_t *bf, const void *keys, size_t i,
                                 size_t width, uint64_t h[2]) {
    (void)width;
    const uint64_t v = ((const uint64_t *)keys)[i];
    dp_bloom_hash_u64(bf, v, (int64_t)v < 0, h);
}

static void dp_bloom_hash_fixed(const dp_bloom_t *bf, const void *keys, size_t i, size_t width,
                                uint64_t h[2]) {
    dp_bloom_hash_bytes(bf, (const uint8_t *)keys + i * width, width, h);
}

void dp_bloom_add_ints(dp_bloom_t *bf, const uint64_t *keys, size_t n, int is_signed,
                       uint8_t *out) {
    dp_bloom_bulk(bf, keys, n, 8, is_signed ? dp_bloom_hash_signed : dp_bloom_hash_unsigned, 1,
                  out);
}

void dp_bloom_contains_ints(const dp_bloom_t *bf, const uint64_t *keys, size_t n, int is_signed,
                            uint8_t *out) {
    /* The bulk pass only writes when add is set, so the const cast is never written through. */
    dp_bloom_bulk((dp_bloom_t *)bf, keys, n, 8,
                  is_signed ? dp_bloom_hash_signed : dp_bloom_hash_unsigned, 0, out);
}

void dp_bloom_add_fixed(dp_bloom_t *bf, const uint8_t *data, size_t n, size_t width,
                        uint8_t *out) {
    dp_bloom_bulk(bf, data, n, width, dp_bloom_hash_fixed, 1, out);
}

void dp_bloom_contains_fixed(const dp_bloom_t *bf, const uint8_t *data, size_t n, size_t width,
                             uint8_t *out) {
    dp_bloom_bulk((dp_bloom_t *)bf, data, n, width, dp_bloom_hash_fixed, 0, out);
}

/*** Set operations and serialisation ***/

int dp_bloom_merge(dp_bloom_t *dst, const dp_bloom_t *src, int op_and) {
    if (dst->n_bits != src->n_bits || dst->n_hashes != src->n_hashes || dst->seed != src->seed)
        return DP_EINVAL;
    for (size_t i = 0; i < dst->n_words; i++)
        dst->words[i] = op_and ? dst->words[i] & src->words[i] : dst->words[i] | src->words[i];
    dp_bloom_recount(dst);
    return DP_OK;
}

void dp_bloom_words_to_le(const dp_bloom_t *bf, uint8_t *out) {
    for (size_t i = 0; i < bf->n_words; i++)
        for (int b = 0; b < 8; b++) out[8 * i + (size_t)b] = (uint8_t)(bf->words[i] >> (8 * b));
}

void dp_bloom_words_from_le(dp_bloom_t *bf, const uint8_t *in) {
    for (size_t i = 0; i < bf->n_words; i++) {
        uint64_t w = 0;
        for (int b = 0; b < 8; b++) w |= (uint64_t)in[8 * i + (size_t)b] << (8 * b);
        bf->words[i] = w;
    }
    dp_bloom_recount(bf);
}

/*** Reads of borrowed words that may vanish ***/

#ifdef _WIN32
/* No SIGBUS there (a mapped file cannot be truncated while mapped): plain reads. */
#define DP_BLOOM_GUARDED(body) \
    do {                       \
        body;                  \
    } while (0)
#else

/* Set while a guarded read runs on this thread; the SIGBUS handler jumps back through it.
 * volatile, and fenced by compiler barriers: the body's reads must happen between the stores,
 * which an optimiser would otherwise drop as dead once the body is inlined. */
static _Thread_local sigjmp_buf *volatile dp_bloom_fault_jump;

#if defined(__GNUC__) || defined(__clang__)
#define DP_BLOOM_BARRIER() __asm__ __volatile__("" ::: "memory")
#else
#define DP_BLOOM_BARRIER() ((void)0)
#endif
static struct sigaction dp_bloom_prev_sigbus;
static pthread_once_t dp_bloom_sigbus_once = PTHREAD_ONCE_INIT;

static void dp_bloom_on_sigbus(int sig, siginfo_t *info, void *context) {
    sigjmp_buf *const jump = dp_bloom_fault_jump;
    if (jump) {
        dp_bloom_fault_jump = NULL;
        siglongjmp(*jump, 1);
    }
    /* Not a guarded read: whoever handled SIGBUS before decides. */
    if (dp_bloom_prev_sigbus.sa_flags & SA_SIGINFO) {
        dp_bloom_prev_sigbus.sa_sigaction(sig, info, context);
    } else if (dp_bloom_prev_sigbus.sa_handler != SIG_DFL &&
               dp_bloom_prev_sigbus.sa_handler != SIG_IGN) {
        dp_bloom_prev_sigbus.sa_handler(sig);
    } else {
        /* Default action: restore it; the faulting access repeats on return and kills. */
        sigaction(SIGBUS, &dp_bloom_prev_sigbus, NULL);
    }
}

static void dp_bloom_install_sigbus(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = dp_bloom_on_sigbus;
    /* SA_NODEFER: leaving the handler by siglongjmp must not leave SIGBUS blocked. */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &dp_bloom_prev_sigbus);
}

/* Run `body`; DP_EFAULT from the enclosing function if it faults. No allocation or lock may be
 * held across `body`: a fault abandons it midway. */
#define DP_BLOOM_GUARDED(body)                                         \
    do {                                                               \
        sigjmp_buf jump_;                                              \
        pthread_once(&dp_bloom_sigbus_once, dp_bloom_install_sigbus); \
        if (sigsetjmp(jump_, 0)) return DP_EFAULT;                     \
        dp_bloom_fault_jump = &jump_;                                  \
        DP_BLOOM_BARRIER();                                            \
        body;                                                          \
        DP_BLOOM_BARRIER();                                            \
        dp_bloom_fault_jump = NULL;                                    \
    } while (0)
#endif /* _WIN32 */

int dp_bloom_safe_contains(const dp_bloom_t *bf, const uint64_t h[2], int *found) {
    DP_BLOOM_GUARDED(*found = dp_bloom_contains_hash(bf, h));
    return DP_OK;
}

int dp_bloom_safe_contains_ints(const dp_bloom_t *bf, const uint64_t *keys, size_t n,
                                int is_signed, uint8_t *out) {
    DP_BLOOM_GUARDED(dp_bloom_contains_ints(bf, keys, n, is_signed, out));
    return DP_OK;
}

int dp_bloom_safe_contains_fixed(const dp_bloom_t *bf, const uint8_t *data, size_t n,
                                 size_t width, uint8_t *out) {
    DP_BLOOM_GUARDED(dp_bloom_contains_fixed(bf, data, n, width, out));
    return DP_OK;
}

int dp_bloom_safe_copy_words(const dp_bloom_t *bf, uint64_t *out) {
    DP_BLOOM_GUARDED(memcpy(out, bf->words, bf->n_words * sizeof(uint64_t)));
    return DP_OK;
}

int dp_bloom_safe_words_to_le(const dp_bloom_t *bf, uint8_t *out) {
    DP_BLOOM_GUARDED(dp_bloom_words_to_le(bf, out));
    return DP_OK;
}
