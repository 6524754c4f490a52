/* msgcheck.h -- a bounded, iterative pre-check of untrusted msgpack bytes before they are decoded.
 * dp_msgcheck walks exactly one msgpack object spanning all of buf[0..len) without recursion (an
 * explicit stack of frames the caller provides) and refuses, before anything is built from it:
 * truncated input, trailing bytes, the never-used byte 0xc1, containers nested deeper than
 * max_depth, and more than max_items decoded objects (every scalar, array, map, map key and
 * extension value counts one). Extension values whose code is set in nested_mask hold exactly one
 * msgpack object (walked, counted and nested like the rest); codes set in prefix_mask start with
 * one msgpack object followed by raw bytes; any other extension payload is opaque.
 * An extension wrapper and the array it holds count as one level of nesting; a frame is pushed
 * per level and per wrapper, so stack needs DP_MSGCHECK_FRAMES(max_depth) frames.
 * Ownership: nothing is allocated; buf and stack are borrowed for the call. */
#ifndef DP_MSGCHECK_H
#define DP_MSGCHECK_H

#include "dp_common.h"

typedef struct {
    uint64_t left;  /* objects still to read in this frame */
    size_t end;     /* the offset this frame's bytes must not pass */
    int kind;       /* what the frame reads: a container's objects, or an extension payload */
    int level;      /* 1 if the frame opened a level of nesting */
} dp_msgcheck_frame_t;

/* stack needs room for this many frames for a given max_depth */
#define DP_MSGCHECK_FRAMES(max_depth) (2u * (size_t)(max_depth) + 2u)

typedef enum {
    DP_MSGCHECK_OK = 0,
    DP_MSGCHECK_TRUNCATED = 1,
    DP_MSGCHECK_TRAILING = 2,
    DP_MSGCHECK_INVALID = 3,   /* the byte 0xc1, or an extension payload that does not hold one object */
    DP_MSGCHECK_TOO_DEEP = 4,
    DP_MSGCHECK_TOO_MANY = 5,
    DP_MSGCHECK_EINVAL = 6,    /* bad arguments (a NULL stack, too few frames) */
} dp_msgcheck_result_t;

/* Checks buf as described above; *items_out (if not NULL) receives the objects counted so far. */
dp_msgcheck_result_t dp_msgcheck(const uint8_t *buf, size_t len, size_t max_depth,
                                 uint64_t max_items, uint32_t nested_mask, uint32_t prefix_mask,
                                 dp_msgcheck_frame_t *stack, size_t stack_frames,
                                 uint64_t *items_out);

#endif
