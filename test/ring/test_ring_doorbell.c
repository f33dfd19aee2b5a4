/*
 * test_ring_doorbell.c -- the model test of the wake-up protocol: two
 * threads hand millions of messages through one ring; the consumer,
 * whenever the ring is empty, polls for a random while (PSP_SPIN_US),
 * arms (ring_consumer_arm) and sleeps on an eventfd, the fake doorbell;
 * the producer rings it when ring_producer_doorbell_needed() says so,
 * and after random bursts waits for the consumer to take them all.
 * Random delays on both sides move the producer's publish across every
 * point of the consumer's arm. A lost wake-up leaves the consumer asleep
 * with a message in the ring and the producer waiting for it: the
 * consumer's generous timeout expiring is the failure. No storm: the
 * producer rings at most once per sleep.
 */
#include "config.h"

#include "ring.h"
#include "ring_test_util.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

/* Hand-offs; enough that every interleaving of arm and publish occurs
 * many times, few enough for seconds on a shared 2-core machine. */
#define MODEL_MSGS 2000000u
/* A sleep that lasts this long lost its wake-up (never a timing
 * assertion: a live doorbell wakes within microseconds). */
#define MODEL_TIMEOUT_MS 10000

struct model {
    size_t len;
    unsigned char *base;
    int bell;                  /* eventfd: the consumer's doorbell */
    _Atomic unsigned rings;    /* doorbells rung by the producer */
    _Atomic uint64_t consumed; /* messages the consumer took (the ack) */
    const char *fail;          /* the producer's failure, or NULL */
};

/* A delay of a random number of iterations below 2^bits. */
static void model_delay(uint64_t *rng, unsigned bits)
{
    for (volatile uint64_t k = rt_rand(rng) & ((1u << bits) - 1); k > 0; k--) {
    }
}

static void *model_producer(void *arg)
{
    struct model *m = arg;
    struct ring_producer p;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;

    if (ring_attach_producer(&p, m->base, m->len) != 0) {
        m->fail = "attach producer";
        return NULL;
    }
    for (uint64_t i = 0; i < MODEL_MSGS; i++) {
        struct iovec v = {&i, sizeof(i)};
        ssize_t n;

        while ((n = ring_write(&p, &v, 1)) == 0) {
            sched_yield(); /* full: the consumer drains */
        }
        if (n != (ssize_t)sizeof(i)) {
            m->fail = "ring_write";
            return NULL;
        }
        int want = ring_producer_doorbell_needed(&p);
        if (want < 0) {
            m->fail = "ring_producer_doorbell_needed";
            return NULL;
        }
        if (want > 0) {
            uint64_t one = 1;
            if (write(m->bell, &one, sizeof(one)) != sizeof(one)) {
                m->fail = "write eventfd";
                return NULL;
            }
            atomic_fetch_add(&m->rings, 1);
        }
        /* Bursts of random length, then wait until the consumer took
         * all of it (a request waiting for its answer): a message whose
         * wake-up was lost would never be taken, and the consumer's
         * timeout reports it. Now and then a pause long enough for the
         * consumer to give up polling and arm. */
        uint64_t r = rt_rand(&rng);
        if ((r & 127) == 0) {
            while (atomic_load_explicit(&m->consumed, memory_order_acquire) <
                   i + 1) {
                sched_yield();
            }
        }
        if ((r & 0xf80) == 0) {
            model_delay(&rng, (r >> 12) & 1 ? 14 : 9);
        }
    }
    return NULL;
}

static void test_model_no_lost_wakeup(void **state)
{
    (void)state;
    struct model m = {.len = ring_region_size(4096)};
    m.base = rt_alloc(m.len);
    assert_non_null(m.base);
    assert_int_equal(ring_init(m.base, m.len), 0);
    m.bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    assert_true(m.bell >= 0);
    struct ring_consumer c;
    assert_int_equal(ring_attach_consumer(&c, m.base, m.len), 0);

    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, model_producer, &m), 0);
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    uint64_t next = 0;
    unsigned arms = 0, sleeps = 0;
    while (next < MODEL_MSGS) {
        const void *ptr;
        size_t run;
        int rc = ring_peek(&c, &ptr, &run);
        assert_true(rc >= 0);
        if (rc == 1) {
            /* Whole 8-byte messages, in order. */
            assert_int_equal(run % sizeof(uint64_t), 0);
            for (size_t k = 0; k < run; k += sizeof(uint64_t)) {
                uint64_t v;
                memcpy(&v, (const unsigned char *)ptr + k, sizeof(v));
                if (v != next) {
                    fail_msg("message %llu where %llu was due",
                             (unsigned long long)v, (unsigned long long)next);
                }
                next++;
            }
            assert_int_equal(ring_consume(&c, run), 0);
            atomic_store_explicit(&m.consumed, next, memory_order_release);
            continue;
        }
        /* Empty: poll a random while (the spin before sleeping), with
         * the producer's next publish landing anywhere around the arm. */
        model_delay(&rng, 4 + rt_rand(&rng) % 10);
        if (!ring_consumer_idle(&c)) {
            continue;
        }
        /* Other work between the last look and the arm (a progress
         * engine's other transports): a message published here is what
         * the arm's own look must catch. */
        model_delay(&rng, rt_rand(&rng) % 10);
        arms++;
        rc = ring_consumer_arm(&c);
        assert_true(rc >= 0);
        if (rc == 0) {
            struct pollfd pfd = {.fd = m.bell, .events = POLLIN};
            sleeps++;
            if (poll(&pfd, 1, MODEL_TIMEOUT_MS) == 0) {
                fail_msg("lost wake-up: asleep with message %llu due",
                         (unsigned long long)next);
            }
            uint64_t cnt;
            /* A doorbell for a sleep that found data itself may still
             * be pending: the counter absorbs it (a spurious wake-up). */
            if (read(m.bell, &cnt, sizeof(cnt)) < 0) {
                assert_int_equal(errno, EAGAIN);
            }
        }
        ring_consumer_disarm(&c);
    }
    assert_int_equal(pthread_join(t, NULL), 0);
    if (m.fail) {
        fail_msg("producer: %s", m.fail);
    }
    unsigned rings = atomic_load(&m.rings);
    print_message("# %u messages, %u arms, %u sleeps, %u doorbells\n",
                  MODEL_MSGS, arms, sleeps, rings);
    /* No storm: at most one doorbell per arm (a sleep, or an arm that
     * found data after the producer had already seen it). */
    assert_true(rings <= arms);
    assert_true(sleeps > 0); /* the test did exercise sleeping */
    close(m.bell);
    free(m.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_no_lost_wakeup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
