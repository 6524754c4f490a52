/* l1_check.h -- a tiny assertion harness for the L1 core's C unit tests (the *_check.c files here):
 * CHECK counts and prints every failure with its line; main returns l1_failures != 0. */
#ifndef L1_CHECK_H
#define L1_CHECK_H

#include <stdint.h>
#include <stdio.h>

static int l1_failures = 0;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            l1_failures++;                                                     \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
        }                                                                      \
    } while (0)

/* xorshift64: the tests' only random source, seeded. */
static uint64_t l1_rng = 0x9E3779B97F4A7C15ULL;
static uint64_t l1_rand(void) {
    l1_rng ^= l1_rng << 13;
    l1_rng ^= l1_rng >> 7;
    l1_rng ^= l1_rng << 17;
    return l1_rng;
}

#define L1_DONE()                                                              \
    do {                                                                       \
        printf("total failures: %d\n", l1_failures);                          \
        return l1_failures != 0;                                               \
    } while (0)

#endif /* L1_CHECK_H */
