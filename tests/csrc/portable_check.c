/* Built twice by test_portable.py: with the compiler's builtins and with DP_GENERIC_C (the
 * fallbacks of platforms without them). Prints one line per check; exits 1 on any mismatch. */
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "dp_clock.h"
#include "dp_common.h"

static int reference_popcount(uint64_t x) {
    int n = 0;
    for (; x; x >>= 1) n += (int)(x & 1);
    return n;
}

int main(void) {
    int bad = 0;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        uint64_t w = i < 64 ? (1ULL << i) : (i < 128 ? ~0ULL >> (i - 64) : x);
        if (dp_popcount64(w) != reference_popcount(w)) bad++;
    }
    printf("popcount mismatches: %d\n", bad);
    size_t sizes[] = {1, 8, 63, 64, 65, 4096, 100000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char *p = dp_aligned_alloc(sizes[i]);
        if (!p || ((uintptr_t)p % DP_CACHE_LINE) != 0) bad++;
        if (p) p[sizes[i] - 1] = 1; /* the whole size is usable */
        dp_aligned_free(p);
    }
    if (dp_aligned_alloc(SIZE_MAX - 3) != NULL) bad++;
    /* dp_big_alloc: zeroed and aligned below and above DP_BIG_BYTES (mapped there). */
    size_t big[] = {1, 4096, DP_BIG_BYTES - 8, DP_BIG_BYTES, (size_t)1 << 20};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        unsigned char *p = dp_big_alloc(big[i]);
        if (!p || ((uintptr_t)p % DP_CACHE_LINE) != 0) {
            bad++;
            continue;
        }
        for (size_t j = 0; j < big[i]; j += 509) bad += p[j] != 0;
        bad += p[big[i] - 1] != 0;
        memset(p, 0xAB, big[i]);
        dp_big_free(p, big[i]);
    }
    dp_big_free(NULL, (size_t)1 << 20); /* a no-op */ /* rounding up overflows: refused */
    int64_t t0 = dp_clock_now_ns(), t1 = dp_clock_now_ns();
    if (t0 <= 0 || t1 < t0) bad++;
    printf("total failures: %d\n", bad);
    return bad != 0;
}
