/* dp_common.h -- status codes and helpers shared by every defiperf C core.
 * Invariant: every dp_* function that can fail returns DP_OK (0) or a negative DP_E* code;
 * nothing here includes Python.h, and every struct is owned (allocated, freed) by its caller. */
#ifndef DP_COMMON_H
#define DP_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(_MSC_VER)
#include <intrin.h>
#include <malloc.h>
#endif
#if !defined(_WIN32)
#include <sys/mman.h>
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

/* Arrays of DP_BIG_BYTES or more come straight from the OS (mmap) and go straight back
 * (munmap). malloc would keep an outgrown array's pages in its heap (glibc raises its mmap
 * threshold after a mapped chunk is freed), so a structure that grows by doubling would carry
 * about 16 B/entry of dead heap in the resident set. dp_big_alloc returns zeroed, cache-line
 * aligned memory; free it with dp_big_free and the same size (NULL is a no-op). Under
 * AddressSanitizer every size takes the malloc path, so the sanitizer sees every access. */
#define DP_BIG_BYTES ((size_t)1 << 16)
#if defined(__SANITIZE_ADDRESS__)
#define DP_BIG_USE_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DP_BIG_USE_MALLOC 1
#endif
#endif
#if defined(_WIN32) || defined(DP_GENERIC_C)
#define DP_BIG_USE_MALLOC 1
#endif
#if !defined(DP_BIG_USE_MALLOC) && !defined(MAP_ANONYMOUS)
#if defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#else /* strict ISO C (-std=c11 without _DEFAULT_SOURCE) hides both names: malloc instead */
#define DP_BIG_USE_MALLOC 1
#endif
#endif
static inline void *dp_big_alloc(size_t size) {
#if !defined(DP_BIG_USE_MALLOC)
    if (size >= DP_BIG_BYTES) {
        void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p; /* fresh anonymous pages read as zero */
    }
#endif
    void *p = dp_aligned_alloc(size);
    if (p) memset(p, 0, size);
    return p;
}
static inline void dp_big_free(void *p, size_t size) {
    if (!p) return;
#if !defined(DP_BIG_USE_MALLOC)
    if (size >= DP_BIG_BYTES) {
        munmap(p, size);
        return;
    }
#endif
    (void)size;
    dp_aligned_free(p);
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
