/*
 * test_ring_stream.c -- two processes over one MAP_SHARED mapping: the
 * child streams a few hundred MiB of a position-dependent pattern in
 * random-sized iovecs, the parent verifies every byte and the order while
 * consuming in random-sized pieces (polling through ring_consumer_idle()
 * or ring_peek() at random). Both copy at the same time.
 * A second test sleeps the consumer on a pipe "doorbell" whenever the
 * ring is empty: a lost wake-up in the armed-flag protocol hangs it.
 */
#include "config.h"

#include "ring.h"
#include "ring_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
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

#define STREAM_SEED 0x5eed5eedULL

/* Stream `total` bytes into the ring; exit status 0 on success. */
static int produce(void *base, size_t len, uint64_t total, uint64_t rng)
{
    struct ring_producer p;
    if (ring_attach_producer(&p, base, len) != 0) {
        return 2;
    }
    size_t buf_len = 1 << 20;
    unsigned char *buf = malloc(buf_len);
    if (buf == NULL) {
        return 3;
    }
    uint64_t pos = 0;
    while (pos < total) {
        /* A "message" of random size, from a few bytes to ~1 MiB. */
        size_t limit = rt_rand(&rng) & 1 ? 200 : buf_len;
        size_t n = (size_t)(rt_rand(&rng) % limit);
        if (n > total - pos) {
            n = (size_t)(total - pos);
        }
        rt_stream_fill(STREAM_SEED, buf, pos, n);
        size_t done = 0;
        while (done < n) {
            struct iovec iov[8];
            int cnt = 1 + (int)(rt_rand(&rng) % 8);
            size_t at = done;
            for (int i = 0; i < cnt; i++) {
                size_t piece = n - at;
                if (i < cnt - 1 && piece > 0) {
                    piece = rt_rand(&rng) % (piece + 1);
                }
                iov[i].iov_base = buf + at;
                iov[i].iov_len = piece;
                at += piece;
            }
            ssize_t w = ring_write(&p, iov, cnt);
            if (w < 0) {
                return 4;
            }
            if (w == 0) {
                sched_yield(); /* full; 2 cores are shared with others */
            }
            done += (size_t)w;
        }
        pos += n;
    }
    free(buf);
    return 0;
}

static void test_two_process_stream(void **state)
{
    (void)state;
    const uint64_t total = 384ULL << 20;
    size_t len = RING_DEFAULT_REGION;
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    assert_int_equal(ring_init(base, len), 0);
    struct ring_consumer c;
    assert_int_equal(ring_attach_consumer(&c, base, len), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        _exit(produce(base, len, total, 0x9876543ULL));
    }

    uint64_t rng = 0xabcdefULL;
    uint64_t pos = 0;
    long bad = -1;
    unsigned spins = 0;
    int status = 0;
    int child_done = 0;
    while (pos < total) {
        const void *ptr;
        size_t run;
        /* Half the polls as transports poll: the cheap idle test first
         * (it also does the deferred zeroing of consumed lines). */
        int rc = (rt_rand(&rng) & 1) && ring_consumer_idle(&c)
                     ? 0
                     : ring_peek(&c, &ptr, &run);
        if (rc < 0) {
            fail_msg("ring_peek: %d (%s)", rc, ring_consumer_reason(&c));
        }
        if (rc == 0) {
            /* Do not spin forever on a dead producer. */
            if (++spins % 1024 == 0 && !child_done &&
                waitpid(pid, &status, WNOHANG) == pid) {
                child_done = 1;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                    fail_msg("producer failed: status %d", status);
                }
            } else if (child_done) {
                fail_msg("producer exited at %llu of %llu bytes",
                         (unsigned long long)pos, (unsigned long long)total);
            }
            sched_yield();
            continue;
        }
        size_t k = run;
        if (rt_rand(&rng) & 1) {
            k = 1 + rt_rand(&rng) % run;
        }
        bad = rt_stream_check(STREAM_SEED, ptr, pos, k);
        if (bad >= 0) {
            fail_msg("byte %llu of the stream is wrong",
                     (unsigned long long)(pos + (uint64_t)bad));
        }
        assert_int_equal(ring_consume(&c, k), 0);
        pos += k;
    }
    if (!child_done) {
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    const void *ptr;
    size_t run;
    assert_int_equal(ring_peek(&c, &ptr, &run), 0); /* nothing extra */
    munmap(base, len);
}

/* Producer of the doorbell test: one small message at a time, then wait
 * for the consumer's 1-byte answer on the second ring. Every message is
 * thus the last one for a while: if the consumer slept through it, the
 * two would wait for each other. */
static int ring_the_bell(void *base, size_t len, void *back, int bell,
                         unsigned count)
{
    struct ring_producer p;
    struct ring_consumer ack;
    if (ring_attach_producer(&p, base, len) != 0 ||
        ring_attach_consumer(&ack, back, len) != 0) {
        return 2;
    }
    uint64_t rng = 0x77777ULL;
    uint64_t pos = 0;
    unsigned char buf[256];
    for (unsigned i = 0; i < count; i++) {
        size_t n = 1 + rt_rand(&rng) % sizeof(buf);
        rt_stream_fill(STREAM_SEED, buf, pos, n);
        struct iovec v = {buf, n};
        if (ring_write(&p, &v, 1) != (ssize_t)n) {
            return 3; /* the ring is empty: all of it fits */
        }
        int want = ring_producer_doorbell_needed(&p);
        if (want < 0) {
            return 4;
        }
        if (want > 0) {
            char one = 1;
            /* Non-blocking: a full pipe already wakes the consumer. */
            if (write(bell, &one, 1) < 0 && errno != EAGAIN) {
                return 5;
            }
        }
        pos += n;
        const void *ptr;
        size_t run;
        int rc;
        while ((rc = ring_peek(&ack, &ptr, &run)) == 0) {
            sched_yield();
        }
        if (rc < 0 || ring_consume(&ack, 1) != 0) {
            return 6;
        }
    }
    return 0;
}

static void test_doorbell_no_lost_wakeup(void **state)
{
    (void)state;
    const unsigned count = 50000;
    size_t len = ring_region_size(4096);
    unsigned char *base = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(base != MAP_FAILED);
    unsigned char *back = base + len;
    assert_int_equal(ring_init(base, len), 0);
    assert_int_equal(ring_init(back, len), 0);
    struct ring_consumer c;
    struct ring_producer ack;
    assert_int_equal(ring_attach_consumer(&c, base, len), 0);
    assert_int_equal(ring_attach_producer(&ack, back, len), 0);
    int fds[2];
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fds[0]);
        _exit(ring_the_bell(base, len, back, fds[1], count));
    }
    close(fds[1]);

    uint64_t rng = 0x77777ULL; /* replays the producer's sizes */
    uint64_t spin = 0x31337ULL;
    uint64_t pos = 0;
    unsigned sleeps = 0;
    for (unsigned i = 0; i < count; i++) {
        uint64_t end = pos + 1 + rt_rand(&rng) % 256;
        while (pos < end) {
            const void *ptr;
            size_t run;
            int rc = ring_peek(&c, &ptr, &run);
            assert_true(rc >= 0);
            if (rc == 1) {
                assert_true(run <= end - pos);
                assert_int_equal(rt_stream_check(STREAM_SEED, ptr, pos, run),
                                 -1);
                assert_int_equal(ring_consume(&c, run), 0);
                pos += run;
                continue;
            }
            /* Other work between the last look and arming (as a progress
             * engine has): the next message often lands right here, which
             * is what ring_consumer_arm() must catch. (Checked: an arm
             * that does not look again hangs this test at once.) */
            for (volatile unsigned k = rt_rand(&spin) % 65536; k > 0; k--) {
            }
            rc = ring_consumer_arm(&c);
            assert_true(rc >= 0);
            if (rc == 0) {
                /* Armed and empty: only the doorbell wakes us. The long
                 * timeout only turns a lost wake-up into a failure. */
                struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
                if (poll(&pfd, 1, 60000) == 0) {
                    fail_msg("lost wake-up at message %u", i);
                }
                char drain[64];
                while (read(fds[0], drain, sizeof(drain)) > 0) {
                }
                sleeps++;
            }
            ring_consumer_disarm(&c);
        }
        char one = 1;
        struct iovec v = {&one, 1};
        assert_int_equal(ring_write(&ack, &v, 1), 1);
    }
    print_message("# consumer slept %u times\n", sleeps);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(fds[0]);
    munmap(base, 2 * len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_process_stream),
        cmocka_unit_test(test_doorbell_no_lost_wakeup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
