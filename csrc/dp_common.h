/* dp_common.h -- status codes and helpers shared by every defiperf C core.
 * Invariant: every dp_* function that can fail returns DP_OK (0) or a negative DP_E* code;
 * nothing here includes Python.h, and every struct is owned (allocated, freed) by its caller. */
#ifndef DP_COMMON_H
#define DP_COMMON_H

#include <stddef.h>
#include <stdint.h>

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

#endif /* DP_COMMON_H */
