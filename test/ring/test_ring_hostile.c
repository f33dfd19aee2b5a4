/*
 * test_ring_hostile.c -- a buggy peer in another process, as another VM
 * would be: it uses its ends of two rings honestly most of the time and
 * stores garbage into both rings (headers, chunk headers, positions, the
 * armed flag) at random in between, while we use our ends. The rings sit
 * between PROT_NONE guard pages, so any access outside them kills the
 * process; every error must be -EPROTO (or -EPROTONOSUPPORT at attach)
 * and every run must lie inside the region. Both processes use lib/ring,
 * so neither may crash.
 */
#include "config.h"

#include "ring_layout.h"
#include "ring_test_util.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define LEN RING_DEFAULT_REGION

/* One end of each ring, re-attached whenever it breaks or attach fails. */
struct ends {
    unsigned char *rx_base; /* ring we consume */
    unsigned char *tx_base; /* ring we produce into */
    struct ring_consumer rx;
    struct ring_producer tx;
    int rx_ok;
    int tx_ok;
    unsigned breaks; /* rings found broken */
    unsigned runs;   /* runs read */
    unsigned writes; /* writes that took bytes */
};

static int is_ring_error(int rc)
{
    return rc == -EPROTO || rc == -EPROTONOSUPPORT;
}

/* Run one random operation on our ends; returns NULL or what went
 * wrong. */
static const char *step(struct ends *e, uint64_t *rng)
{
    static unsigned char src[3 * 4096];
    uint64_t r = rt_rand(rng);
    if (!e->rx_ok) {
        int rc = ring_attach_consumer(&e->rx, e->rx_base, LEN);
        if (rc < 0 && !is_ring_error(rc)) {
            return "consumer attach: unexpected error";
        }
        e->rx_ok = rc == 0;
    }
    if (!e->tx_ok) {
        int rc = ring_attach_producer(&e->tx, e->tx_base, LEN);
        if (rc < 0 && !is_ring_error(rc)) {
            return "producer attach: unexpected error";
        }
        e->tx_ok = rc == 0;
    }
    if (e->rx_ok && (r & 1)) {
        const void *ptr;
        size_t run;
        int rc = ring_peek(&e->rx, &ptr, &run);
        if (rc < 0) {
            if (rc != -EPROTO || ring_consumer_reason(&e->rx) == NULL) {
                return "peek: unexpected error";
            }
            e->rx_ok = 0;
            e->breaks++;
            return NULL;
        }
        if (rc == 0) {
            if ((r & 0x70) == 0 && ring_consumer_arm(&e->rx) >= 0) {
                ring_consumer_disarm(&e->rx);
            }
            return NULL;
        }
        e->runs++;
        const unsigned char *p = ptr;
        if (run == 0 || p < e->rx_base + RING_HDR_SIZE ||
            run > (size_t)(e->rx_base + LEN - p)) {
            return "peek: run outside the data area";
        }
        volatile unsigned char acc = 0;
        for (size_t i = 0; i < run; i++) {
            acc ^= p[i];
        }
        size_t k = (r >> 8) & 1 ? run : 1 + (r >> 16) % run;
        if (ring_consume(&e->rx, k) != 0) {
            return "consume failed";
        }
    } else if (e->tx_ok) {
        struct iovec v[2] = {{src, (r >> 8) % 4096},
                             {src + 4096, (r >> 24) % 8192}};
        ssize_t w = ring_write(&e->tx, v, 2);
        if (w < 0) {
            if (w != -EPROTO || ring_producer_reason(&e->tx) == NULL) {
                return "write: unexpected error";
            }
            e->tx_ok = 0;
            e->breaks++;
            return NULL;
        }
        e->writes += w > 0;
        if (w > 0 && ring_producer_doorbell_needed(&e->tx) < 0) {
            e->tx_ok = 0;
        }
    }
    return NULL;
}

/* Store garbage somewhere in one of the two rings. */
static void scribble(unsigned char *ring, uint64_t *rng)
{
    uint64_t r = rt_rand(rng);
    uint64_t v = rt_rand(rng);
    size_t off;
    switch (r & 7) {
    case 0: /* a plausible chunk header at a chunk boundary */
        off = RING_HDR_SIZE + ((r >> 8) % (LEN - RING_HDR_SIZE) & ~63u);
        v = ring_word(v % 9000, (r >> 40) & 1, (r >> 41) & 1);
        break;
    case 1: /* the consumer's position, near or far from the truth */
        off = offsetof(struct ring_shared, cons.pos);
        v = (r >> 8) & 1 ? v & 0xfffc0 : v;
        break;
    case 2: /* the armed flag */
        off = offsetof(struct ring_shared, cons.armed);
        break;
    case 3: /* the metadata line */
        off = (r >> 8) % RING_ALIGN & ~7u;
        break;
    default: /* anywhere */
        off = (r >> 8) % LEN & ~7u;
        break;
    }
    memcpy(ring + off, &v, 8);
}

/* The peer: our ends swapped, with garbage stores in between. When we
 * lay the rings out afresh (a new "connection", counted in *gen, which is
 * outside the rings) it attaches again. */
static void peer(unsigned char *a, unsigned char *b, _Atomic unsigned *gen)
{
    struct ends e = {.rx_base = b, .tx_base = a};
    uint64_t rng = 0xbadbadULL;
    unsigned seen = 0;
    for (;;) {
        if (atomic_load(gen) != seen) {
            seen = atomic_load(gen);
            e.rx_ok = e.tx_ok = 0;
        }
        if (step(&e, &rng) != NULL) {
            _exit(3);
        }
        if (rt_rand(&rng) % 1024 == 0) {
            scribble(rt_rand(&rng) & 1 ? a : b, &rng);
        }
    }
}

static void test_hostile_peer(void **state)
{
    (void)state;
    long page = sysconf(_SC_PAGESIZE);
    assert_true(page > 0 && LEN % (size_t)page == 0);
    size_t total = 2 * LEN + 2 * (size_t)page;
    unsigned char *mem = mmap(NULL, total, PROT_NONE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(mem != MAP_FAILED);
    unsigned char *a = mem + page; /* peer -> us */
    unsigned char *b = a + LEN;    /* us -> peer */
    assert_int_equal(mprotect(a, 2 * LEN, PROT_READ | PROT_WRITE), 0);
    assert_int_equal(ring_init(a, LEN), 0);
    assert_int_equal(ring_init(b, LEN), 0);
    _Atomic unsigned *gen = mmap(NULL, sizeof(*gen), PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(gen != MAP_FAILED);
    atomic_store(gen, 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        peer(a, b, gen);
    }
    struct ends e = {.rx_base = a, .tx_base = b};
    uint64_t rng = 0x600dULL;
    const char *bad = NULL;
    /* At least 400000 steps and until 100 runs came through (the peer
     * may get little CPU on a busy machine); the cap only ends a run
     * that makes no progress at all. */
    for (long i = 0;
         bad == NULL && (i < 400000 || e.runs < 100) && i < 200000000L; i++) {
        /* Garbage leaves rings stuck sooner or later (a consumer that
         * re-attaches waits at the start forever): start over now and
         * then, as a reconnect would. The peer may be mid-call. */
        if (i % 1000 == 999) {
            ring_init(a, LEN);
            ring_init(b, LEN);
            e.rx_ok = e.tx_ok = 0;
            atomic_fetch_add(gen, 1);
        }
        bad = step(&e, &rng);
    }
    int status;
    pid_t gone = waitpid(pid, &status, WNOHANG);
    kill(pid, SIGKILL);
    if (gone != pid) {
        assert_int_equal(waitpid(pid, &status, 0), pid);
    }
    if (bad != NULL) {
        fail_msg("%s", bad);
    }
    /* The peer ran until we killed it: it neither crashed nor failed. */
    assert_int_not_equal(gone, pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    print_message("# our side: %u runs read, %u writes, %u broken rings\n",
                  e.runs, e.writes, e.breaks);
    /* The test did exercise both directions. */
    assert_true(e.runs >= 100);
    assert_true(e.writes > 0);
    munmap(gen, sizeof(*gen));
    munmap(mem, total);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
