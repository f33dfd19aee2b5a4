/*
 * tsan_ring.c -- producer and consumer in two threads of one process,
 * built with clang -fsanitize=thread by tsan-ring.sh. ThreadSanitizer
 * knows C11 atomics, so a payload byte read before the producer's release
 * store (or overwritten before the consumer's release of the space) is
 * reported as a data race: this checks the ring's memory ordering, which
 * the two-process tests can only check by their results.
 *
 *   tsan_ring <data bytes> <stream MiB>; prints TAP.
 */
#include "ring.h"
#include "ring_test_util.h"
#include "tap.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 0x7a5a7a5aULL

struct shared_args {
    void *base;
    size_t len;
    uint64_t total;
    int failed;
};

static void *producer(void *arg)
{
    struct shared_args *a = arg;
    struct ring_producer p;
    if (ring_attach_producer(&p, a->base, a->len) != 0) {
        a->failed = 1;
        return NULL;
    }
    static unsigned char buf[1 << 16];
    uint64_t rng = 0x1111ULL;
    uint64_t pos = 0;
    while (pos < a->total) {
        size_t n = 1 + rt_rand(&rng) % sizeof(buf);
        if (n > a->total - pos) {
            n = (size_t)(a->total - pos);
        }
        rt_stream_fill(SEED, buf, pos, n);
        size_t done = 0;
        while (done < n) {
            size_t cut = done + (n - done) / 2;
            struct iovec v[2] = {{buf + done, cut - done},
                                 {buf + cut, n - cut}};
            ssize_t w = ring_write(&p, v, 2);
            if (w < 0 || ring_producer_doorbell_needed(&p) < 0) {
                a->failed = 1;
                return NULL;
            }
            if (w == 0) {
                sched_yield();
            }
            done += (size_t)w;
        }
        pos += n;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <data bytes> <stream MiB>\n", argv[0]);
        return 2;
    }
    struct shared_args a;
    size_t data = strtoul(argv[1], NULL, 0);
    a.total = strtoull(argv[2], NULL, 0) << 20;
    a.len = ring_region_size(data);
    a.failed = 0;
    a.base = rt_alloc(a.len);
    tap_plan(1);
    if (a.len == 0 || ring_init(a.base, a.len) != 0) {
        tap_ok(0, "ring of %zu data bytes", data);
        return 1;
    }
    struct ring_consumer c;
    if (ring_attach_consumer(&c, a.base, a.len) != 0) {
        tap_ok(0, "attach");
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, producer, &a) != 0) {
        tap_ok(0, "pthread_create");
        return 1;
    }
    uint64_t rng = 0x2222ULL;
    uint64_t pos = 0;
    const char *bad = NULL;
    while (pos < a.total && bad == NULL) {
        const void *ptr;
        size_t run;
        int rc = ring_peek(&c, &ptr, &run);
        if (rc < 0) {
            bad = "ring_peek failed";
        } else if (rc == 0) {
            /* Exercise the armed flag too (nobody sleeps here). */
            if (ring_consumer_arm(&c) < 0) {
                bad = "ring_consumer_arm failed";
            }
            ring_consumer_disarm(&c);
            sched_yield();
        } else {
            size_t k = rt_rand(&rng) & 1 ? run : 1 + rt_rand(&rng) % run;
            if (rt_stream_check(SEED, ptr, pos, k) != -1) {
                bad = "wrong byte in the stream";
            } else if (ring_consume(&c, k) != 0) {
                bad = "ring_consume failed";
            }
            pos += k;
        }
    }
    pthread_join(t, NULL);
    if (bad == NULL && a.failed) {
        bad = "producer failed";
    }
    free(a.base);
    if (bad != NULL) {
        tap_ok(0, "%s at byte %llu", bad, (unsigned long long)pos);
        return 1;
    }
    tap_ok(1, "%llu bytes through a %zu-byte ring, two threads",
           (unsigned long long)a.total, data);
    return 0;
}
