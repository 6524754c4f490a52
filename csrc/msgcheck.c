/* msgcheck.c -- see msgcheck.h. One loop: read a header, check its lengths against the bytes
 * the innermost frame may use, count it, and push a frame for what it holds. */
#include "msgcheck.h"

enum { FRAME_CONTAINER, FRAME_EXACT, FRAME_PREFIX };

static uint64_t be(const uint8_t *p, unsigned n) {
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* The whole size of a scalar whose size its first byte tells (0: any other object). */
static inline unsigned fixed_size(uint8_t b) {
    if (b <= 0x7f || b >= 0xe0) return 1;                /* fixint */
    if (b >= 0xa0 && b <= 0xbf) return 1u + (b & 0x1fu);  /* fixstr */
    switch (b) {
    case 0xc0: case 0xc2: case 0xc3: return 1;           /* nil, false, true */
    case 0xcc: case 0xd0: return 2;                      /* uint8, int8 */
    case 0xcd: case 0xd1: return 3;
    case 0xca: case 0xce: case 0xd2: return 5;           /* float32, uint32, int32 */
    case 0xcb: case 0xcf: case 0xd3: return 9;           /* float64, uint64, int64 */
    default: return 0;
    }
}

dp_msgcheck_result_t dp_msgcheck(const uint8_t *buf, size_t len, size_t max_depth,
                                 uint64_t max_items, uint32_t nested_mask, uint32_t prefix_mask,
                                 dp_msgcheck_frame_t *stack, size_t stack_frames,
                                 uint64_t *items_out) {
    dp_msgcheck_result_t result = DP_MSGCHECK_OK;
    size_t pos = 0, top = 0, depth = 0;  /* top: frames in use; depth: containers open */
    uint64_t items = 0;
    if (stack == NULL || (buf == NULL && len > 0) || max_depth > SIZE_MAX / 4 ||
        stack_frames < DP_MSGCHECK_FRAMES(max_depth)) {
        result = DP_MSGCHECK_EINVAL;
        goto done;
    }
    stack[top++] = (dp_msgcheck_frame_t){1, len, FRAME_EXACT, 0};
    while (top > 0) {
        dp_msgcheck_frame_t *f = &stack[top - 1];
        if (f->left == 0) {  /* the frame is complete */
            if (f->kind == FRAME_EXACT && pos != f->end) {
                result = top == 1 ? DP_MSGCHECK_TRAILING : DP_MSGCHECK_INVALID;
                goto done;
            }
            if (f->kind == FRAME_PREFIX) pos = f->end;
            depth -= (size_t)f->level;
            top--;
            continue;
        }
        /* fast path: a run of fixed-size scalars, the bulk of large values */
        while (f->left > 0 && pos < f->end) {
            unsigned fixed = fixed_size(buf[pos]);
            if (fixed == 0 || fixed > f->end - pos) break;
            if (++items > max_items) { result = DP_MSGCHECK_TOO_MANY; goto done; }
            pos += fixed;
            f->left--;
        }
        if (f->left == 0) continue;
        f->left--;
        size_t end = f->end, avail = end - pos;
        if (avail < 1) { result = DP_MSGCHECK_TRUNCATED; goto done; }
        if (++items > max_items) { result = DP_MSGCHECK_TOO_MANY; goto done; }
        uint8_t b = buf[pos++];
        avail--;
        uint64_t count = 0, size = 0;  /* a container's objects; a scalar's or ext's body bytes */
        unsigned hdr = 0;              /* bytes of length that follow b */
        int container = 0, ext = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            continue;  /* fixint, nil, false, true */
        } else if (b <= 0x8f) {
            count = 2u * (uint64_t)(b & 0x0f); container = 1;
        } else if (b <= 0x9f) {
            count = b & 0x0f; container = 1;
        } else if (b <= 0xbf) {
            size = b & 0x1f;
        } else if (b == 0xc1) {
            result = DP_MSGCHECK_INVALID; goto done;
        } else if (b >= 0xc4 && b <= 0xc6) {        /* bin 8/16/32 */
            hdr = 1u << (b - 0xc4);
        } else if (b >= 0xc7 && b <= 0xc9) {        /* ext 8/16/32: length, then the type */
            hdr = 1u << (b - 0xc7); ext = 1;
        } else if (b >= 0xca && b <= 0xd3) {        /* float 32/64, uint/int 8..64 */
            static const uint8_t sizes[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};
            size = sizes[b - 0xca];
        } else if (b >= 0xd4 && b <= 0xd8) {        /* fixext 1..16 */
            size = 1u << (b - 0xd4); ext = 1;
        } else if (b >= 0xd9 && b <= 0xdb) {        /* str 8/16/32 */
            hdr = 1u << (b - 0xd9);
        } else if (b == 0xdc || b == 0xdd) {        /* array 16/32 */
            hdr = b == 0xdc ? 2 : 4; container = 1;
        } else {                                    /* map 16/32 (0xde, 0xdf) */
            hdr = b == 0xde ? 2 : 4; container = 2;
        }
        if (hdr) {
            if (avail < hdr) { result = DP_MSGCHECK_TRUNCATED; goto done; }
            uint64_t n = be(buf + pos, hdr);
            pos += hdr; avail -= hdr;
            if (container) count = container == 2 ? 2 * n : n;
            else size = n;
        }
        if (container) {
            /* every object takes at least one byte: more than the bytes left is a truncation */
            if (count > avail) { result = DP_MSGCHECK_TRUNCATED; goto done; }
            /* the array an extension value holds is the extension's level, not one more */
            int level = !(top > 1 && f->kind != FRAME_CONTAINER);
            if (level && depth >= max_depth) { result = DP_MSGCHECK_TOO_DEEP; goto done; }
            depth += (size_t)level;
            stack[top++] = (dp_msgcheck_frame_t){count, end, FRAME_CONTAINER, level};
            continue;
        }
        if (ext) {
            if (avail < 1) { result = DP_MSGCHECK_TRUNCATED; goto done; }
            int8_t code = (int8_t)buf[pos++];
            avail--;
            if (size > avail) { result = DP_MSGCHECK_TRUNCATED; goto done; }
            uint32_t bit = code >= 0 && code < 32 ? (uint32_t)1 << code : 0;
            if (bit & (nested_mask | prefix_mask)) {
                if (size < 1) { result = DP_MSGCHECK_INVALID; goto done; }
                if (depth >= max_depth) { result = DP_MSGCHECK_TOO_DEEP; goto done; }
                depth++;
                stack[top++] = (dp_msgcheck_frame_t){1, pos + (size_t)size,
                                                     bit & nested_mask ? FRAME_EXACT : FRAME_PREFIX, 1};
                continue;
            }
        }
        if (size > avail) { result = DP_MSGCHECK_TRUNCATED; goto done; }
        pos += (size_t)size;
    }
done:
    if (items_out != NULL) *items_out = items;
    return result;
}
