/*
 * test_ring_stream.c -- two processes over one MAP_SHARED mapping: the
 * child streams a few hundred MiB of a position-dependent pattern in
 * random-sized iovecs, the parent verifies every byte and the order while
 * consuming in random-sized pieces. Both copy at the same time.
 */
#include "ring.h"
#include "ring_test_util.h"

#include <errno.h>
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
        size_t n = (size_t)(rt_rand(&rng) % (rt_rand(&rng) & 1 ? 200 : buf_len));
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
        int rc = ring_peek(&c, &ptr, &run);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_process_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
