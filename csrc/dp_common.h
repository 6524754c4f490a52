/* dp_common.h -- status codes and helpers shared by every defiperf C core.
 * Invariant: every dp_* function that can fail returns DP_OK (0) or a negative DP_E* code;
 * nothing here includes Python.h, and every struct is owned (allocated, freed) by its caller. */
#ifndef DP_COMMON_H
#define DP_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#if defined(_MSC_VER)
#include <intrin.h>
#include <malloc.h>
#endif

#define DP_OK 0
#define DP_ENOMEM (-1)   /* an allocation failed; the struct is unchanged */
#define DP_EINVAL (-2)   /* an argument is out of range; the struct is unchanged */
#define DP_EEMPTY (-3)   /* the structure holds nothing to return */
#define DP_EFULL (-4)    /* the structure has no room left */
#define DP_ECORRUPT (-5) /* an internal invariant does not hold (debug checks only) */
#define DP_EFAULT (-6)   /* borrowed memory vanished under a read (a mapped file truncated) */

#if defined(__GNUC__) || defined(__clang__)
#define DP_INLINE static inline __attribute__((always_inline))
#define DP_LIKELY(x) __builtin_expect(!!(x), 1)
#define DP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define DP_PREFETCH(p) __builtin_prefetch((p), 1, 3)
#else
#define DP_INLINE static inline
#define DP_LIKELY(x) (x)
#define DP_UNLIKELY(x) (x)
#define DP_PREFETCH(p) ((void)(p))
#endif

/* DP_GENERIC_C (a test switch) takes the fallbacks below that other platforms take. */

/* Cache-line aligned memory. C11 aligned_alloc wants a size that is a multiple of the
 * alignment (and MSVC has no aligned_alloc at all): round up here, and free only through
 * dp_aligned_free, which MSVC needs to be _aligned_free. */
#define DP_CACHE_LINE 64
static inline void *dp_aligned_alloc(size_t size) {
    size_t rounded = (size + DP_CACHE_LINE - 1) & ~(size_t)(DP_CACHE_LINE - 1);
    if (rounded < size) return NULL; /* overflow */
    if (rounded == 0) rounded = DP_CACHE_LINE;
#if defined(_MSC_VER)
    return _aligned_malloc(rounded, DP_CACHE_LINE);
#elif defined(__APPLE__) || defined(DP_GENERIC_C) || !defined(__STDC_VERSION__) || \
    __STDC_VERSION__ < 201112L
    void *p = NULL; /* macOS < 10.15 lacks aligned_alloc; posix_memalign is everywhere */
    return posix_memalign(&p, DP_CACHE_LINE, rounded) == 0 ? p : NULL;
#else
    return aligned_alloc(DP_CACHE_LINE, rounded);
#endif
}
static inline void dp_aligned_free(void *p) {
#if defined(_MSC_VER)
    _aligned_free(p);
#else
    free(p);
#endif
}

/* Number of set bits in a 64-bit word. */
static inline int dp_popcount64(uint64_t x) {
#if (defined(__GNUC__) || defined(__clang__)) && !defined(DP_GENERIC_C)
    return __builtin_popcountll(x);
#elif defined(_MSC_VER) && defined(_M_X64) && !defined(DP_GENERIC_C)
    return (int)__popcnt64(x);
#else
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
#endif
}

#endif /* DP_COMMON_H */
