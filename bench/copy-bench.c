/*
 * copy-bench.c -- memcpy() against ring_copy() (lib/ring/ring_copy.h) in
 * and out of the slow window: GB/s per destination offset after the
 * source (modulo 4 KiB) and block size, best of several rounds, one
 * core, data in cache (what a ring chunk is). Run it with
 * bench/copy-bench.sh; numbers only mean something on a quiet machine.
 *
 * copy-bench --limit N prints only the GB/s of one core's memcpy() of N
 * bytes between two page-aligned buffers (best of ROUNDS): the ceiling
 * bench/pp-table.sh compares the streaming bandwidth with.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ring/ring_copy.h"

#define AREA (256u * 1024u)
#define ROUNDS 7
#define PASSES 20

typedef void (*copy_fn)(void *restrict, const void *restrict, size_t);

static void libc_copy(void *restrict d, const void *restrict s, size_t n)
{
    memcpy(d, s, n);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* GB/s of copying AREA bytes in blocks of blk, dst = src + delta (mod
 * a page), best of ROUNDS. */
static double rate(copy_fn f, unsigned char *src, unsigned char *dst,
                   size_t delta, size_t blk)
{
    double best = 1e30;

    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s();
        for (int p = 0; p < PASSES; p++) {
            for (size_t o = 0; o + blk <= AREA; o += blk) {
                f(dst + delta + o, src + o, blk);
            }
            /* Keep the copies: the compiler must not drop them. */
            __asm__ __volatile__("" : : "r"(dst) : "memory");
        }
        double t = now_s() - t0;
        if (t < best) {
            best = t;
        }
    }
    return (double)PASSES * AREA / best / 1e9;
}

/* memcpy() GB/s of n bytes, buffers of their own, best of ROUNDS. */
static int limit(size_t n)
{
    unsigned char *s = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
    unsigned char *d = aligned_alloc(4096, (n + 4095) & ~(size_t)4095);
    size_t reps = n ? (size_t)(256u << 20) / n : 0;
    double best = 1e30;

    if (!s || !d || n == 0) {
        fprintf(stderr, "copy-bench: out of memory or size 0\n");
        return 1;
    }
    reps = reps < 4 ? 4 : reps;
    memset(s, 1, n);
    memset(d, 2, n);
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now_s(), t;

        for (size_t i = 0; i < reps; i++) {
            memcpy(d, s, n);
            __asm__ __volatile__("" : : "r"(d) : "memory");
        }
        t = now_s() - t0;
        best = t < best ? t : best;
    }
    printf("%.1f\n", (double)reps * n / best / 1e9);
    free(s);
    free(d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--limit") == 0) {
        return limit((size_t)strtoull(argv[2], NULL, 0));
    }
    static const size_t deltas[] = {0, 8, 16, 32, 48, 64, 1024, 2048};
    static const size_t blocks[] = {1024, 2048, 4096, 65536};
    /* Both 8 bytes into a page: like a ring payload after its header. */
    unsigned char *sbase = aligned_alloc(4096, AREA + 8192);
    unsigned char *dbase = aligned_alloc(4096, AREA + 8192);

    if (!sbase || !dbase) {
        fprintf(stderr, "copy-bench: out of memory\n");
        return 1;
    }
    memset(sbase, 1, AREA + 8192);
    memset(dbase, 2, AREA + 8192);
    printf("%10s %8s | %10s %10s\n", "dst-src", "block", "memcpy", "ring_copy");
    printf("---------------------------------------------\n");
    for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
        for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
            double m = rate(libc_copy, sbase + 8, dbase + 8, deltas[i],
                            blocks[b]);
            double r = rate(ring_copy, sbase + 8, dbase + 8, deltas[i],
                            blocks[b]);
            printf("%10zu %8zu | %10.1f %10.1f\n", deltas[i], blocks[b], m, r);
        }
    }
    printf("GB/s, best of %d rounds; dst-src is modulo 4096\n", ROUNDS);
    free(sbase);
    free(dbase);
    return 0;
}
