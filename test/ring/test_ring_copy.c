/*
 * test_ring_copy.c -- ring_copy() (ring_copy.h) copies exactly what
 * memcpy() would, at every relative offset, whichever path it takes
 * (inline, loop, "rep movsb", memcpy()), and takes the loop exactly in
 * the slow window; small copies are inline.
 */
#include "ring_copy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define GUARD 64u
/* Half the buffers; 2 * SPAN is a multiple of the alignment, as
 * aligned_alloc() wants (ASan checks it). */
#define SPAN (4u * RING_COPY_PAGE)

static unsigned char *src_buf, *dst_buf;

static int setup(void **state)
{
    (void)state;
    src_buf = aligned_alloc(RING_COPY_PAGE, 2 * SPAN);
    dst_buf = aligned_alloc(RING_COPY_PAGE, 2 * SPAN);
    if (!src_buf || !dst_buf) {
        return -1;
    }
    for (size_t i = 0; i < 2 * SPAN; i++) {
        src_buf[i] = (unsigned char)(i * 131u + 7u);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(src_buf);
    free(dst_buf);
    return 0;
}

/* Copy n bytes from src_buf + so to dst_buf + doff and check the bytes
 * copied and the guards on both sides. */
static void check_copy(size_t so, size_t doff, size_t n)
{
    unsigned char *d = dst_buf + doff;
    const unsigned char *s = src_buf + so;

    memset(dst_buf, 0xee, 2 * SPAN);
    ring_copy(d, s, n);
    assert_memory_equal(d, s, n);
    for (size_t i = 0; i < GUARD && i < doff; i++) {
        assert_int_equal(d[-1 - (ptrdiff_t)i], 0xee);
    }
    for (size_t i = 0; i < GUARD; i++) {
        assert_int_equal(d[n + i], 0xee);
    }
}

/* Every destination offset in and around the window, from every source
 * offset in a line, for sizes on both sides of RING_COPY_LOOP_MIN (and
 * of memcpy()'s own "rep movsb" from 2112) and with tails of every
 * length mod 64. */
static void test_copy_every_offset(void **state)
{
    static const size_t sizes[] = {0,         1,           63,   64,   65,
                                   1023,      1024,        1025, 1536, 2047,
                                   2048,      2049,        2111, 2112, 3000,
                                   4096 + 17, 3 * 4096 - 1};
    (void)state;
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        for (size_t so = GUARD; so < GUARD + 64; so += 8) {
            for (size_t delta = 0; delta < 2 * RING_COPY_WINDOW; delta++) {
                check_copy(so, so + delta, sizes[si]);
            }
            /* Destination before the source modulo a page (wraps). */
            check_copy(so + 2 * GUARD, so + GUARD, sizes[si]);
        }
    }
}

/* The loop exactly where memcpy would be slow, memcpy everywhere else. */
static void test_window(void **state)
{
    unsigned char *s = src_buf + 8;

    (void)state;
    for (size_t delta = 0; delta < RING_COPY_PAGE; delta++) {
        int want = delta > 0 && delta < RING_COPY_WINDOW;
        assert_int_equal(ring_copy_in_window(s + delta, s, 4096), want);
        /* Modulo a page: a whole page further is the same case. */
        assert_int_equal(ring_copy_in_window(s + delta + RING_COPY_PAGE, s,
                                             4096),
                         want);
    }
    assert_int_equal(ring_copy_in_window(s + 8, s, RING_COPY_LOOP_MIN - 1), 0);
    assert_int_equal(ring_copy_in_window(s + 8, s, RING_COPY_LOOP_MIN), 1);
    /* The destination below the source, 8 bytes: no trap there. */
    assert_int_equal(ring_copy_in_window(s, s + 8, 4096), 0);
}

/* One copy function alone, every length up to a few lines, every
 * misalignment of the source, nothing written outside the copy. */
static void check_lengths(void (*copy)(void *, const void *, size_t))
{
    for (size_t n = 0; n < 300; n++) {
        for (size_t so = GUARD; so < GUARD + 16; so++) {
            memset(dst_buf, 0xee, 2 * SPAN);
            copy(dst_buf + GUARD + 3, src_buf + so, n);
            assert_memory_equal(dst_buf + GUARD + 3, src_buf + so, n);
            assert_int_equal(dst_buf[GUARD + 2], 0xee);
            assert_int_equal(dst_buf[GUARD + 3 + n], 0xee);
        }
    }
}

/* The loop alone. */
static void test_loop(void **state)
{
    (void)state;
    check_lengths(ring_copy_loop);
}

/* "rep movsb" alone (memcpy() where there is none). */
static void test_rep(void **state)
{
    (void)state;
    check_lengths(ring_copy_rep);
}

/* Both sides of RING_COPY_REP_MAX ("rep movsb", then memcpy()), in and
 * out of the window. */
static void test_rep_max(void **state)
{
    static const size_t sizes[] = {RING_COPY_REP_MAX - 1, RING_COPY_REP_MAX,
                                   RING_COPY_REP_MAX + 1};
    static const size_t deltas[] = {0, 8, 100};
    size_t len = 2 * RING_COPY_REP_MAX + 2 * RING_COPY_PAGE;
    unsigned char *s = aligned_alloc(RING_COPY_PAGE, len);
    unsigned char *d = aligned_alloc(RING_COPY_PAGE, len);

    (void)state;
    assert_non_null(s);
    assert_non_null(d);
    for (size_t i = 0; i < len; i++) {
        s[i] = (unsigned char)(i * 17u + 3u);
    }
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        for (size_t di = 0; di < sizeof(deltas) / sizeof(deltas[0]); di++) {
            unsigned char *to = d + GUARD + deltas[di];

            memset(d, 0xee, len);
            ring_copy(to, s + GUARD, sizes[si]);
            assert_memory_equal(to, s + GUARD, sizes[si]);
            assert_int_equal(to[-1], 0xee);
            assert_int_equal(to[sizes[si]], 0xee);
        }
    }
    free(s);
    free(d);
}

/* The inline small copy: every length up to RING_COPY_SMALL_MAX, every
 * misalignment of both sides, nothing written outside [dst, dst + n). */
static void test_small(void **state)
{
    (void)state;
    for (size_t n = 0; n <= RING_COPY_SMALL_MAX; n++) {
        for (size_t so = GUARD; so < GUARD + 64; so++) {
            for (size_t doff = GUARD; doff < GUARD + 16; doff++) {
                memset(dst_buf, 0xee, 2 * GUARD + 128);
                ring_copy_small(dst_buf + doff, src_buf + so, n);
                assert_memory_equal(dst_buf + doff, src_buf + so, n);
                for (size_t i = 0; i < 2 * GUARD + 128; i++) {
                    if (i < doff || i >= doff + n) {
                        assert_int_equal(dst_buf[i], 0xee);
                    }
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_every_offset),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_loop),
        cmocka_unit_test(test_rep),
        cmocka_unit_test(test_rep_max),
        cmocka_unit_test(test_small),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
