/*
 * test_ring_basic.c -- lib/ring behaviour with an honest peer: sizes,
 * empty and full, wrap-around at every offset, iovec gather, partial
 * consumption, long streams, batching and the armed flag; whole writes
 * (ring_write_whole(): one chunk or nothing) at every offset, refused
 * (also when only the padding does not fit), and into a broken ring.
 */
#include "ring_layout.h"
#include "ring_test_util.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* One ring with both sides attached in this process. */
struct fix {
    void *base;
    size_t len;
    struct ring_producer p;
    struct ring_consumer c;
    uint64_t seed;
    uint64_t wpos; /* stream bytes written */
    uint64_t rpos; /* stream bytes consumed and verified */
    uint64_t rng;
    unsigned char *stage;
    size_t stage_len;
};

static void fix_open(struct fix *f, size_t data_bytes)
{
    memset(f, 0, sizeof(*f));
    f->len = ring_region_size(data_bytes);
    assert_true(f->len > 0);
    f->base = rt_alloc(f->len);
    assert_int_equal(ring_init(f->base, f->len), 0);
    assert_int_equal(ring_attach_producer(&f->p, f->base, f->len), 0);
    assert_int_equal(ring_attach_consumer(&f->c, f->base, f->len), 0);
    f->seed = data_bytes * 7919 + 1;
    f->rng = 0x1234567ULL + data_bytes;
}

static void fix_close(struct fix *f)
{
    free(f->stage);
    free(f->base);
}

static unsigned char *stage(struct fix *f, size_t n)
{
    if (n > f->stage_len) {
        free(f->stage);
        f->stage = malloc(n ? n : 1);
        assert_non_null(f->stage);
        f->stage_len = n;
    }
    return f->stage;
}

/* The next n stream bytes in niov random pieces (at most 64); with holes
 * every odd iovec but the last is empty, and with null_base an empty
 * second iovec has a NULL base (as a caller without an xheader passes
 * it). */
static void split(struct fix *f, size_t n, struct iovec *iov, int niov,
                  int holes, int null_base)
{
    unsigned char *buf = stage(f, n);
    assert_true(niov > 0 && niov <= 64);
    rt_stream_fill(f->seed, buf, f->wpos, n);
    size_t at = 0;
    for (int i = 0; i < niov; i++) {
        size_t piece = n - at;
        if (holes && i % 2 == 1 && i < niov - 1) {
            piece = 0;
        } else if (i < niov - 1 && piece > 0) {
            piece = rt_rand(&f->rng) % (piece + 1);
        }
        iov[i].iov_base = null_base && piece == 0 && i == 1 ? NULL : buf + at;
        iov[i].iov_len = piece;
        at += piece;
    }
}

/* Offer the next n stream bytes in niov random pieces; returns what the
 * ring took. */
static size_t put(struct fix *f, size_t n, int niov)
{
    struct iovec iov[64];
    split(f, n, iov, niov, 0, 0);
    ssize_t w = ring_write(&f->p, iov, niov);
    assert_true(w >= 0);
    assert_true((size_t)w <= n);
    f->wpos += (uint64_t)w;
    return (size_t)w;
}

/* Check that a run lies in the data area. */
static void assert_in_ring(const struct fix *f, const void *ptr, size_t len)
{
    const unsigned char *lo = (const unsigned char *)f->base + RING_HDR_SIZE;
    const unsigned char *hi = (const unsigned char *)f->base + f->len;
    assert_true((const unsigned char *)ptr >= lo);
    assert_true(len <= (size_t)(hi - (const unsigned char *)ptr));
}

/* Consume up to max bytes (in steps of at most step, 0: whole runs),
 * verifying each against the stream. Returns the bytes consumed. */
static size_t get(struct fix *f, size_t max, size_t step)
{
    size_t got = 0;
    while (got < max) {
        const void *ptr;
        size_t len;
        int rc = ring_peek(&f->c, &ptr, &len);
        assert_true(rc >= 0);
        if (rc == 0) {
            break;
        }
        assert_true(len > 0);
        assert_in_ring(f, ptr, len);
        if (step != 0 && len > step) {
            len = step;
        }
        if (len > max - got) {
            len = max - got;
        }
        assert_int_equal(rt_stream_check(f->seed, ptr, f->rpos, len), -1);
        assert_int_equal(ring_consume(&f->c, len), 0);
        f->rpos += len;
        got += len;
    }
    return got;
}

static void test_sizes(void **state)
{
    (void)state;
    /* Both directions of a default connection fit in 64 KiB. */
    assert_int_equal(ring_region_size(RING_DEFAULT_DATA), RING_DEFAULT_REGION);
    assert_true(2 * RING_DEFAULT_REGION <= 64 * 1024);
    assert_int_equal(ring_data_size(RING_DEFAULT_REGION), RING_DEFAULT_DATA);
    assert_int_equal(RING_DEFAULT_DATA % RING_ALIGN, 0);
    assert_int_equal(ring_region_size(1000), RING_HDR_SIZE + 1024);
    assert_int_equal(ring_data_size(RING_HDR_SIZE + 1024 + 63), 1024);
    assert_int_equal(ring_region_size(RING_MIN_DATA - 1), 0);
    assert_int_equal(ring_region_size(RING_MAX_DATA + 1), 0);
    assert_int_equal(ring_data_size(RING_HDR_SIZE + RING_MIN_DATA - 1), 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    size_t len = ring_region_size(1024);
    unsigned char *base = rt_alloc(len + RING_ALIGN);
    struct ring_producer p;
    struct ring_consumer c;
    assert_int_equal(ring_init(base + 8, len), -EINVAL);
    assert_int_equal(ring_init(NULL, len), -EINVAL);
    assert_int_equal(ring_init(base, RING_HDR_SIZE + RING_MIN_DATA - 1),
                     -EINVAL);
    assert_int_equal(ring_init(base, len), 0);
    assert_int_equal(ring_attach_producer(&p, base + 32, len), -EINVAL);
    assert_int_equal(ring_attach_consumer(&c, base + 8, len), -EINVAL);
    assert_int_equal(ring_attach_consumer(&c, base, 100), -EINVAL);
    assert_int_equal(ring_attach_producer(&p, base, len), 0);
    assert_int_equal(ring_attach_consumer(&c, base, len), 0);
    assert_int_equal(ring_write(&p, NULL, 1), -EINVAL);
    struct iovec bad = {.iov_base = NULL, .iov_len = 5};
    assert_int_equal(ring_write(&p, &bad, 1), -EINVAL);
    struct iovec neg = {.iov_base = base, .iov_len = 1};
    assert_int_equal(ring_write(&p, &neg, -1), -EINVAL);
    const void *ptr;
    size_t run;
    assert_int_equal(ring_peek(&c, NULL, &run), -EINVAL);
    assert_int_equal(ring_peek(&c, &ptr, NULL), -EINVAL);
    assert_int_equal(ring_consume(&c, 1), -EINVAL); /* nothing peeked */
    /* Argument errors do not break the ring. */
    assert_null(ring_consumer_reason(&c));
    assert_null(ring_producer_reason(&p));
    free(base);
}

static void test_empty_and_zero_bytes(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    const void *ptr;
    size_t len;
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 0);
    assert_int_equal(ring_write(&f.p, NULL, 0), 0);
    struct iovec z[3] = {{f.base, 0}, {NULL, 0}, {f.base, 0}};
    assert_int_equal(ring_write(&f.p, z, 3), 0);
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 0);
    assert_int_equal(ring_consume(&f.c, 0), 0);
    assert_int_equal(ring_consumer_flush(&f.c), 0);
    fix_close(&f);
}

/* A pscom-like small message (8-byte header, xheader, payload) arrives as
 * one run sharing the cache line of its chunk header. */
static void test_small_message_one_line(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    assert_int_equal(put(&f, 48, 3), 48);
    const void *ptr;
    size_t len;
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 1);
    assert_int_equal(len, 48);
    uintptr_t hdr = (uintptr_t)ptr - RING_HDR_BYTES;
    assert_int_equal(hdr % RING_ALIGN, 0);
    assert_true(((uintptr_t)ptr + len - 1) / RING_ALIGN == hdr / RING_ALIGN);
    assert_int_equal(get(&f, 48, 0), 48);
    /* The next small message takes the next line. */
    assert_int_equal(put(&f, 56, 2), 56);
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 1);
    assert_int_equal((uintptr_t)ptr - RING_HDR_BYTES, hdr + RING_ALIGN);
    assert_int_equal(get(&f, 56, 0), 56);
    fix_close(&f);
}

/* Filling from empty takes at least the capacity less one batch, one
 * line and the headers; a full ring takes 0; draining frees it again. */
static void test_full(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    size_t total = 0;
    for (;;) {
        size_t w = put(&f, 1000, 4);
        total += w;
        if (w == 0) {
            break;
        }
    }
    /* Large writes stop before tiny chunks; small ones fill the rest. */
    while (put(&f, 1, 1) == 1) {
        total++;
    }
    assert_true(total + RING_ALIGN * 40 >= f.c.cap - RING_ALIGN);
    assert_true(total <= f.c.cap);
    assert_int_equal(put(&f, 1, 1), 0);
    assert_int_equal(put(&f, 100000, 8), 0);
    assert_int_equal(get(&f, total, 0), total);
    const void *ptr;
    size_t len;
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 0);
    /* Without an explicit flush: the idle poll gives the space back. */
    assert_int_equal(ring_consumer_idle(&f.c), 1);
    size_t again = 0;
    for (int i = 0; i < 1000; i++) {
        size_t w = put(&f, 777, 3);
        if (w == 0) {
            break;
        }
        again += w;
    }
    assert_true(again >= f.c.cap / 2);
    assert_int_equal(get(&f, again, 0), again);
    fix_close(&f);
}

/* Put the ring's positions at every line offset, then send messages of
 * sizes around every boundary: each comes out intact and in order. */
static void test_wrap_every_offset(void **state)
{
    (void)state;
    static const size_t sizes[] = {1,   7,   8,    55,   56,   57,   63,
                                   64,  65,  100,  447,  448,  449,  504,
                                   505, 760, 1000, 1016, 2000, 5000, 20000};
    const size_t data = 4096;
    for (size_t k = 0; k < data / RING_ALIGN; k++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            struct fix f;
            fix_open(&f, data);
            /* k one-line chunks move both sides to offset k * 64. */
            for (size_t i = 0; i < k; i++) {
                assert_int_equal(put(&f, 56, 1), 56);
                assert_int_equal(get(&f, 56, 0), 56);
            }
            assert_int_equal(f.p.off, k * RING_ALIGN);
            size_t n = sizes[s];
            size_t sent = 0;
            size_t recvd = 0;
            for (int guard = 0; recvd < n; guard++) {
                assert_true(guard < 10000);
                sent += put(&f, n - sent, 1 + (int)(guard % 5));
                recvd += get(&f, n - recvd, 0);
            }
            assert_int_equal(sent, n);
            /* A small message near the end arrives whole, not split. */
            if (n <= f.p.chunk_max && k * RING_ALIGN + n + 8 > data &&
                data - k * RING_ALIGN < RING_PAD_MAX) {
                assert_int_equal(f.c.lap, 1);
            }
            fix_close(&f);
        }
    }
}

/* A small message that does not fit before the end is padded over and
 * delivered as one run at the start. */
static void test_pad_keeps_message_whole(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, 4096);
    /* One-line chunks up to two lines before the end. */
    for (size_t i = 0; i < (4096 - 128) / RING_ALIGN; i++) {
        assert_int_equal(put(&f, 56, 2), 56);
        assert_int_equal(get(&f, 56, 0), 56);
    }
    assert_int_equal(f.p.off, 4096 - 128);
    assert_int_equal(put(&f, 200, 3), 200);
    const void *ptr;
    size_t len;
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 1);
    assert_int_equal(len, 200);
    assert_ptr_equal(ptr, (const unsigned char *)f.base + RING_HDR_SIZE +
                              RING_HDR_BYTES);
    assert_int_equal(get(&f, 200, 0), 200);
    fix_close(&f);
}

/* Many iovecs, many of them empty, gathered into the stream in order. */
static void test_gather_many_iovecs(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    for (int round = 0; round < 200; round++) {
        size_t n = rt_rand(&f.rng) % 70000;
        size_t sent = 0;
        while (sent < n) {
            sent += put(&f, n - sent, 1 + (int)(rt_rand(&f.rng) % 64));
            get(&f, SIZE_MAX, 1 + rt_rand(&f.rng) % 5000);
        }
    }
    while (get(&f, SIZE_MAX, 0) > 0) {
    }
    assert_int_equal(f.rpos, f.wpos);
    fix_close(&f);
}

/* Peek returns the same run until consumed; consuming byte by byte,
 * and more than the run, behave. */
static void test_partial_consume(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    assert_int_equal(put(&f, 300, 2), 300);
    const void *p1;
    const void *p2;
    size_t l1;
    size_t l2;
    assert_int_equal(ring_peek(&f.c, &p1, &l1), 1);
    assert_int_equal(ring_peek(&f.c, &p2, &l2), 1);
    assert_ptr_equal(p1, p2);
    assert_int_equal(l1, l2);
    assert_int_equal(ring_consume(&f.c, l1 + 1), -EINVAL);
    assert_null(ring_consumer_reason(&f.c));
    for (size_t i = 0; i < 300; i++) {
        assert_int_equal(ring_peek(&f.c, &p2, &l2), 1);
        assert_int_equal(l2, 300 - i);
        assert_ptr_equal(p2, (const unsigned char *)p1 + i);
        assert_int_equal(rt_stream_check(f.seed, p2, i, 1), -1);
        assert_int_equal(ring_consume(&f.c, 1), 0);
    }
    assert_int_equal(ring_peek(&f.c, &p2, &l2), 0);
    fix_close(&f);
}

/* A long stream (64 MiB) through the default ring, one process. */
static void test_huge_stream(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    const uint64_t total = 64ULL << 20;
    while (f.rpos < total) {
        uint64_t left = total - f.wpos;
        size_t n = left > (1 << 20) ? (1 << 20) : (size_t)left;
        if (n > 0) {
            put(&f, n, 1 + (int)(rt_rand(&f.rng) % 4));
        }
        get(&f, SIZE_MAX, 0);
    }
    assert_int_equal(f.wpos, total);
    fix_close(&f);
}

/* The consumer gives space back in batches, not per chunk. */
static void test_batching(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    struct ring_shared *sh = f.base;
    assert_int_equal(put(&f, 56, 1), 56);
    assert_int_equal(get(&f, 56, 0), 56);
    assert_int_equal(ring_consumer_idle(&f.c), 1);
    assert_int_equal(atomic_load(&sh->cons.pos), 0); /* under a batch */
    /* Answered messages: a batch waits for the idle poll, so no store of
     * ours delays the answer. */
    while (f.c.total < f.c.batch) {
        assert_int_equal(put(&f, 56, 1), 56);
        assert_int_equal(get(&f, 56, 0), 56);
    }
    assert_int_equal(atomic_load(&sh->cons.pos), 0);
    assert_int_equal(ring_consumer_idle(&f.c), 1);
    uint64_t pos = atomic_load(&sh->cons.pos);
    assert_int_equal(pos, f.c.total);
    /* A stream: the batch goes back as soon as it is full, while the
     * next chunk is already waiting. */
    size_t k = f.c.batch / RING_ALIGN + 2;
    for (size_t i = 0; i < k; i++) {
        assert_int_equal(put(&f, 56, 1), 56);
    }
    assert_int_equal(get(&f, 56 * (k - 1), 0), 56 * (k - 1));
    assert_int_equal(atomic_load(&sh->cons.pos), pos + f.c.batch);
    assert_int_equal(atomic_load(&sh->cons.pos), f.c.total - RING_ALIGN);
    assert_int_equal(get(&f, 56, 0), 56);
    assert_int_equal(ring_consumer_idle(&f.c), 1); /* two lines: kept */
    assert_int_equal(atomic_load(&sh->cons.pos), f.c.total - 2 * RING_ALIGN);
    /* Never half the ring held back, idle poll or not. */
    pos = atomic_load(&sh->cons.pos);
    int moved = 0;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(put(&f, 56, 1), 56);
        assert_int_equal(get(&f, 56, 0), 56);
        uint64_t now = atomic_load(&sh->cons.pos);
        assert_true(f.c.total - now < f.c.cap / 2);
        moved |= now != pos;
    }
    assert_true(moved);
    assert_int_equal(put(&f, 56, 1), 56);
    assert_int_equal(get(&f, 56, 0), 56);
    assert_true(atomic_load(&sh->cons.pos) < f.c.total);
    assert_int_equal(ring_consumer_flush(&f.c), 0);
    assert_int_equal(atomic_load(&sh->cons.pos), f.c.total);
    fix_close(&f);
}

/* Whatever happened before, once the consumer has drained the ring and
 * polled it empty a whole chunk fits without an explicit flush: batching
 * never stalls a producer whose consumer is waiting for data. */
static void test_drained_never_stalls(void **state)
{
    (void)state;
    static const size_t datas[] = {RING_MIN_DATA, 448, 1024, 4096,
                                   RING_DEFAULT_DATA};
    for (size_t d = 0; d < sizeof(datas) / sizeof(datas[0]); d++) {
        struct fix f;
        fix_open(&f, datas[d]);
        for (int round = 0; round < 3000; round++) {
            put(&f, rt_rand(&f.rng) % (f.c.cap / 2), 2);
            get(&f, rt_rand(&f.rng) % f.c.cap, 0);
            if (rt_rand(&f.rng) % 3 == 0) {
                get(&f, SIZE_MAX, 0);
                assert_int_equal(f.rpos, f.wpos);
                assert_int_equal(ring_consumer_idle(&f.c), 1);
                assert_int_equal(put(&f, f.p.chunk_max, 3), f.p.chunk_max);
            }
        }
        fix_close(&f);
    }
}

static void test_armed_flag(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    assert_int_equal(ring_producer_doorbell_needed(&f.p), 0);
    assert_int_equal(ring_consumer_arm(&f.c), 0); /* empty: sleep */
    assert_int_equal(put(&f, 10, 1), 10);
    assert_int_equal(ring_producer_doorbell_needed(&f.p), 1);
    struct ring_shared *sh = f.base;
    assert_int_equal(atomic_load(&sh->prod.announced), f.p.total);
    assert_int_equal(get(&f, 10, 0), 10);
    ring_consumer_disarm(&f.c);
    assert_int_equal(put(&f, 10, 1), 10);
    assert_int_equal(ring_producer_doorbell_needed(&f.p), 0);
    /* Data already there: arming says "do not sleep" and stays down. */
    assert_int_equal(ring_consumer_arm(&f.c), 1);
    assert_int_equal(ring_producer_doorbell_needed(&f.p), 0);
    const void *ptr;
    size_t len;
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 1);
    assert_int_equal(ring_consumer_arm(&f.c), 1); /* run still waiting */
    assert_int_equal(get(&f, 10, 0), 10);
    /* Once per sleep (version 4): a second message into the same sleep
     * does not ring again; the next sleep is rung again. */
    assert_int_equal(ring_consumer_arm(&f.c), 0);
    assert_int_equal(put(&f, 10, 1), 10);
    assert_int_equal(ring_producer_doorbell_needed(&f.p), 1);
    assert_int_equal(put(&f, 10, 1), 10);
    assert_int_equal(ring_producer_doorbell_needed(&f.p), 0);
    ring_consumer_disarm(&f.c);
    assert_int_equal(get(&f, 20, 0), 20);
    assert_int_equal(ring_consumer_arm(&f.c), 0);
    assert_int_equal(put(&f, 10, 1), 10);
    assert_int_equal(ring_producer_doorbell_needed(&f.p), 1);
    ring_consumer_disarm(&f.c);
    assert_int_equal(get(&f, 10, 0), 10);
    fix_close(&f);
}

/* Version 2 keeps line starts at 0 with two rules (ring_layout.h): the
 * consumer zeroes small chunks, the producer puts a terminator behind a
 * chunk when the next line lies in the previous lap's large chunks. Here
 * the large chunks are all-ones (a stale word that is not a valid
 * header), then small messages cross that span for two laps, then large
 * ones follow small ones again: any line start left stale breaks the
 * ring. The consumer alternates polling through ring_consumer_idle()
 * (deferred zeroing when idle) and plain ring_peek(). */
static void test_stale_lines_between_laps(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, 4096);
    unsigned char big[512 + 200];
    unsigned char small[3] = {0xff, 0xff, 0xff};
    struct iovec iov;
    memset(big, 0xff, sizeof(big));
    for (int round = 0; round < 6; round++) {
        int use_big = round % 2 == 0;
        size_t n = use_big ? sizeof(big) - (size_t)round * 8 : sizeof(small);
        /* Two laps' worth of ring bytes, consumed message by message. */
        for (uint64_t done = 0; done < 2 * 4096;) {
            iov.iov_base = use_big ? big : small;
            iov.iov_len = n;
            assert_int_equal(ring_write(&f.p, &iov, 1), (ssize_t)n);
            done += (n + RING_HDR_BYTES + RING_ALIGN - 1) & ~(size_t)63;
            if (done & 64) {
                assert_int_equal(ring_consumer_idle(&f.c), 0);
            }
            size_t got = 0;
            while (got < n) {
                const void *ptr;
                size_t len;
                assert_int_equal(ring_peek(&f.c, &ptr, &len), 1);
                assert_true(len <= n - got);
                assert_int_equal(memcmp(ptr, big, len), 0);
                assert_int_equal(ring_consume(&f.c, len), 0);
                got += len;
            }
            /* Empty now: the idle test says so (and tidies) or peek. */
            if (done & 128) {
                assert_int_equal(ring_consumer_idle(&f.c), 1);
            } else {
                const void *ptr;
                size_t len;
                assert_int_equal(ring_peek(&f.c, &ptr, &len), 0);
            }
        }
    }
    assert_null(ring_consumer_reason(&f.c));
    assert_null(ring_producer_reason(&f.p));
    fix_close(&f);
}

/* ring_write_whole() of the next n stream bytes in niov pieces; with
 * holes every odd iovec but the last is empty (the first of them with a
 * NULL base, as a caller without an xheader passes it). Checks that the
 * call took all or nothing, and wrote nothing when it took nothing.
 * Returns what it returned. */
static ssize_t put_whole(struct fix *f, size_t n, int niov, int holes)
{
    struct iovec iov[8];
    assert_true(niov <= 8);
    split(f, n, iov, niov, holes, 1);
    uint64_t total = f->p.total;
    uint64_t off = f->p.off;
    ssize_t w = ring_write_whole(&f->p, iov, niov);
    assert_true(w <= 0 || w == (ssize_t)n);
    if (w <= 0) {
        assert_int_equal(f->p.total, total);
        assert_int_equal(f->p.off, off);
        return w;
    }
    f->wpos += (uint64_t)w;
    return w;
}

/* The next run is exactly the n stream bytes of one whole write:
 * verify and consume it. Returns where it was. */
static const void *get_one_run(struct fix *f, size_t n)
{
    const void *ptr;
    size_t len;
    assert_int_equal(ring_peek(&f->c, &ptr, &len), 1);
    assert_int_equal(len, n);
    assert_in_ring(f, ptr, len);
    assert_int_equal(rt_stream_check(f->seed, ptr, f->rpos, len), -1);
    assert_int_equal(ring_consume(&f->c, len), 0);
    f->rpos += len;
    return ptr;
}

/* Would a whole write of n bytes at the producer's offset have to be
 * split (too long for the end, and the end too long for a padding
 * chunk)? Then ring_write_whole() must refuse it, whatever the space. */
static int whole_would_split(const struct fix *f, size_t n)
{
    uint64_t end = f->p.cap - f->p.off;
    return ring_align_up(n + RING_HDR_BYTES) > end && end >= RING_PAD_MAX;
}

/* Whole writes of sizes around the line, padding and chunk limits, in
 * one to three iovecs (some empty), between ring_write() messages: each
 * arrives as exactly one run of its length, in stream order. With the
 * ring drained before each round the space always suffices, so the only
 * refusal allowed is a message that would be split at the end. */
static void test_whole_basic(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    const size_t sizes[] = {1, 7, 8, 56, 57, 504, 505, 1000, f.p.chunk_max};
    const int nsizes = (int)(sizeof(sizes) / sizeof(sizes[0]));
    int taken[sizeof(sizes) / sizeof(sizes[0])] = {0};
    for (int round = 0; round < 600; round++) {
        size_t n = sizes[round % nsizes];
        int niov = 1 + (round / nsizes) % 3;
        int holes = (round / (3 * nsizes)) % 2;
        size_t a = rt_rand(&f.rng) % 300;
        assert_int_equal(put(&f, a, 1 + round % 3), a);
        int split = whole_would_split(&f, n);
        ssize_t w = put_whole(&f, n, niov, holes);
        assert_int_equal(w, split ? 0 : (ssize_t)n);
        if (w == 0) {
            /* What the caller does then: ring_write() takes it split. */
            assert_int_equal(put(&f, n, niov), n);
        } else {
            taken[round % nsizes]++;
        }
        size_t c = rt_rand(&f.rng) % 300;
        assert_int_equal(put(&f, c, 2), c);
        assert_int_equal(get(&f, a, 0), a);
        if (w > 0) {
            get_one_run(&f, n);
        } else {
            assert_int_equal(get(&f, n, 0), n);
        }
        assert_int_equal(get(&f, c, 0), c);
        assert_int_equal(ring_consumer_idle(&f.c), 1);
    }
    assert_int_equal(f.rpos, f.wpos);
    for (int s = 0; s < nsizes; s++) {
        assert_true(taken[s] > 0); /* every size went whole somewhere */
    }
    assert_null(ring_producer_reason(&f.p));
    assert_null(ring_consumer_reason(&f.c));
    fix_close(&f);
}

/* What ring_write_whole() refuses: nothing to write, more than a chunk,
 * bad arguments (without breaking the ring), and a ring too full (until
 * the consumer gives space back). */
static void test_whole_refuses(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, RING_DEFAULT_DATA);
    unsigned char *buf = malloc(f.p.chunk_max + 1);
    assert_non_null(buf);
    memset(buf, 0x5a, f.p.chunk_max + 1);
    const void *ptr;
    size_t len;

    /* Empty messages: 0, and nothing published. */
    assert_int_equal(ring_write_whole(&f.p, NULL, 0), 0);
    struct iovec z[3] = {{buf, 0}, {NULL, 0}, {buf, 0}};
    assert_int_equal(ring_write_whole(&f.p, z, 3), 0);
    assert_int_equal(f.p.total, 0);
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 0);

    /* Longer than a chunk, in one piece, two, or with a length that
     * would overflow a sum: 0, nothing published. */
    struct iovec big = {buf, f.p.chunk_max + 1};
    assert_int_equal(ring_write_whole(&f.p, &big, 1), 0);
    struct iovec two[2] = {{buf, f.p.chunk_max}, {buf, 1}};
    assert_int_equal(ring_write_whole(&f.p, two, 2), 0);
    struct iovec huge[2] = {{buf, 16}, {buf, SIZE_MAX}};
    assert_int_equal(ring_write_whole(&f.p, huge, 2), 0);
    assert_int_equal(f.p.total, 0);
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 0);

    /* Bad arguments. */
    struct iovec one = {buf, 1};
    assert_int_equal(ring_write_whole(NULL, &one, 1), -EINVAL);
    assert_int_equal(ring_write_whole(&f.p, &one, -1), -EINVAL);
    assert_int_equal(ring_write_whole(&f.p, NULL, 1), -EINVAL);
    struct iovec nob = {NULL, 5};
    assert_int_equal(ring_write_whole(&f.p, &nob, 1), -EINVAL);
    struct iovec nob2[2] = {{buf, 3}, {NULL, 5}};
    assert_int_equal(ring_write_whole(&f.p, nob2, 2), -EINVAL);
    /* Also behind a piece that is already too long (as ring_write()). */
    struct iovec nob3[2] = {{buf, f.p.chunk_max + 1}, {NULL, 5}};
    assert_int_equal(ring_write_whole(&f.p, nob3, 2), -EINVAL);
    assert_int_equal(f.p.total, 0);
    assert_null(ring_producer_reason(&f.p));

    /* Exactly a chunk goes, in two pieces, as one run. */
    assert_int_equal(put_whole(&f, f.p.chunk_max, 2, 0), f.p.chunk_max);
    get_one_run(&f, f.p.chunk_max);
    assert_int_equal(ring_consumer_idle(&f.c), 1);

    /* Full: filled with ring_write() down to the last line. */
    for (;;) {
        if (put(&f, 1000, 4) == 0) {
            break;
        }
    }
    while (put(&f, 1, 1) == 1) {
    }
    uint64_t total = f.p.total;
    assert_int_equal(put_whole(&f, 1, 1, 0), 0);
    assert_int_equal(put_whole(&f, RING_WHOLE_MAX, 3, 1), 0);
    assert_int_equal(f.p.total, total);
    /* Drained and polled idle: the space is back, the same call goes. */
    size_t held = (size_t)(f.wpos - f.rpos);
    assert_int_equal(get(&f, SIZE_MAX, 0), held);
    assert_int_equal(f.rpos, f.wpos);
    assert_int_equal(ring_consumer_idle(&f.c), 1);
    assert_int_equal(put_whole(&f, RING_WHOLE_MAX, 3, 1), RING_WHOLE_MAX);
    get_one_run(&f, RING_WHOLE_MAX);
    assert_null(ring_producer_reason(&f.p));
    assert_null(ring_consumer_reason(&f.c));
    free(buf);
    fix_close(&f);
}

/* A ring short by less than the padding: the message itself would fit
 * at the start, but the padding at the end counts too (and the line kept
 * free for the terminator), so it is refused until the consumer gives
 * back one more line; then it goes whole after the padding. */
static void test_whole_short_by_padding(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, 4096);
    struct ring_shared *sh = f.base;
    /* One-line chunks, unconsumed, up to two lines before the end. */
    const size_t lines = (4096 - 2 * RING_ALIGN) / RING_ALIGN;
    for (size_t i = 0; i < lines; i++) {
        assert_int_equal(put(&f, 56, 1), 56);
    }
    assert_int_equal(f.p.off, 4096 - 2 * RING_ALIGN);
    /* Four lines back: 320 bytes free less the terminator line, while
     * 128 of padding and 256 of message need 384. */
    assert_int_equal(get(&f, 4 * 56, 0), 4 * 56);
    assert_int_equal(ring_consumer_flush(&f.c), 0);
    uint64_t total = f.p.total;
    assert_int_equal(put_whole(&f, 200, 2, 0), 0);
    assert_int_equal(f.p.total, total);
    assert_int_equal(f.p.cons_cached, 4 * RING_ALIGN);
    /* Again, now that the cached position shows the message's 256 free:
     * the padding still counts. */
    assert_int_equal(put_whole(&f, 200, 1, 0), 0);
    assert_int_equal(f.p.total, total);
    /* One more line back: exactly enough. */
    assert_int_equal(get(&f, 56, 0), 56);
    assert_int_equal(ring_consumer_flush(&f.c), 0);
    assert_int_equal(put_whole(&f, 200, 2, 0), 200);
    assert_true(f.p.total - atomic_load(&sh->cons.pos) <= f.p.cap - RING_ALIGN);
    size_t rest = (lines - 5) * 56;
    assert_int_equal(get(&f, rest, 0), rest);
    const unsigned char *ptr = get_one_run(&f, 200);
    assert_ptr_equal(ptr, (const unsigned char *)f.base + RING_HDR_SIZE +
                              RING_HDR_BYTES);
    assert_int_equal(f.c.lap, 1);
    assert_null(ring_producer_reason(&f.p));
    assert_null(ring_consumer_reason(&f.c));
    fix_close(&f);
}

/* Both sides at every line offset of a 4 KiB ring, then one whole write
 * of a size around every boundary. Taken: one run of its length, where
 * the producer stood, or after a padding chunk at the start of the next
 * lap. Refused: only when it would be split at the end; nothing was
 * written, and ring_write() then takes it split. */
static void test_whole_at_every_offset(void **state)
{
    (void)state;
    static const size_t sizes[] = {1,   7,   8,   55,   56,   57,   63,  64,
                                   65,  100, 447, 448,  449,  503,  504, 505,
                                   511, 512, 760, 1000, 1016, 2000, 2040};
    const size_t data = 4096;
    for (size_t k = 0; k < data / RING_ALIGN; k++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            struct fix f;
            fix_open(&f, data);
            assert_int_equal(f.p.chunk_max, 2040);
            for (size_t i = 0; i < k; i++) {
                assert_int_equal(put(&f, 56, 1), 56);
                assert_int_equal(get(&f, 56, 0), 56);
            }
            assert_int_equal(f.p.off, k * RING_ALIGN);
            const unsigned char *data0 = (const unsigned char *)f.base +
                                         RING_HDR_SIZE;
            size_t n = sizes[s];
            uint64_t end = data - k * RING_ALIGN;
            int padded = ring_align_up(n + RING_HDR_BYTES) > end;
            int split = whole_would_split(&f, n);
            /* Polled idle, the consumer holds back less than an eighth
             * of the ring (ring_layout.h): padding and a whole chunk
             * still fit, so the split rule alone decides. Without the
             * poll it may hold back up to half, and a large message is
             * refused for space (ring_write() would take part of it). */
            assert_int_equal(ring_consumer_idle(&f.c), 1);
            ssize_t w = put_whole(&f, n, 1 + (int)((k + s) % 3), (int)k % 2);
            if (w > 0) {
                assert_false(split);
                assert_int_equal(w, n);
                const unsigned char *ptr = get_one_run(&f, n);
                if (padded) {
                    assert_ptr_equal(ptr, data0 + RING_HDR_BYTES);
                    assert_int_equal(f.c.lap, 1);
                } else {
                    assert_ptr_equal(ptr,
                                     data0 + k * RING_ALIGN + RING_HDR_BYTES);
                }
            } else {
                assert_true(split);
                assert_true(end >= RING_PAD_MAX);
                assert_true(n + RING_HDR_BYTES > end);
                const void *ptr;
                size_t len;
                assert_int_equal(ring_peek(&f.c, &ptr, &len), 0);
                /* ring_write() splits it: the first run fills the end. */
                assert_int_equal(put(&f, n, 2), n);
                assert_int_equal(ring_peek(&f.c, &ptr, &len), 1);
                assert_int_equal(len, end - RING_HDR_BYTES);
                assert_int_equal(get(&f, n, 0), n);
            }
            assert_int_equal(f.rpos, f.wpos);
            /* The stream goes on intact behind it. */
            assert_int_equal(put(&f, 100, 2), 100);
            assert_int_equal(get(&f, 100, 0), 100);
            assert_null(ring_producer_reason(&f.p));
            assert_null(ring_consumer_reason(&f.c));
            fix_close(&f);
        }
    }
}

/* ring_reserve_whole() and ring_commit_whole(): the sender writes the
 * message straight into the ring. At every line offset of a small ring
 * (padding at its end included) a reserved chunk arrives as one run of
 * exactly what was written there; what ring_write_whole() refuses the
 * reservation refuses too (NULL), without publishing anything: nothing,
 * more than a chunk, a ring too full, a broken ring (its consumer gave
 * an impossible position). */
static void test_reserve_commit(void **state)
{
    (void)state;
    struct fix f;
    fix_open(&f, 4096);
    const size_t sizes[] = {1, 8, 40, 56, 57, 200};
    for (int round = 0; round < 3 * 4096 / RING_ALIGN; round++) {
        size_t n = sizes[round % 6];
        uint64_t total = f.p.total;
        unsigned char *dst = ring_reserve_whole(&f.p, n);
        if (whole_would_split(&f, n)) {
            assert_null(dst);
            assert_int_equal(f.p.total, total);
            assert_int_equal(put(&f, n, 1), n); /* ring_write() splits */
            assert_int_equal(get(&f, n, 0), n);
        } else {
            assert_non_null(dst);
            assert_in_ring(&f, dst, n);
            rt_stream_fill(f.seed, dst, f.wpos, n);
            ring_commit_whole(&f.p, n);
            f.wpos += n;
            get_one_run(&f, n);
        }
        /* One line more each round: every offset comes round. */
        assert_int_equal(put(&f, 1, 1), 1);
        assert_int_equal(get(&f, 1, 0), 1);
        assert_int_equal(ring_consumer_idle(&f.c), 1);
    }
    const void *ptr;
    size_t len;
    assert_null(ring_reserve_whole(NULL, 1));
    assert_null(ring_reserve_whole(&f.p, 0));
    assert_null(ring_reserve_whole(&f.p, f.p.chunk_max + 1));
    assert_int_equal(ring_peek(&f.c, &ptr, &len), 0);
    /* Full: refused until the consumer gives space back. */
    while (put(&f, 1, 1) == 1) {
    }
    uint64_t total = f.p.total;
    assert_null(ring_reserve_whole(&f.p, 1));
    assert_int_equal(f.p.total, total);
    assert_int_equal(get(&f, SIZE_MAX, 0), (size_t)(f.wpos - f.rpos));
    assert_int_equal(ring_consumer_idle(&f.c), 1);
    assert_non_null(ring_reserve_whole(&f.p, 1));
    /* Broken: the same full ring with an impossible consumer position. */
    fix_close(&f);
    fix_open(&f, 4096);
    while (put(&f, 1, 1) == 1) {
    }
    atomic_store(&((struct ring_shared *)f.base)->cons.pos,
                 f.p.total + RING_ALIGN);
    total = f.p.total;
    assert_null(ring_reserve_whole(&f.p, 1));
    assert_string_equal(ring_producer_reason(&f.p),
                        "consumer position out of range");
    atomic_store(&((struct ring_shared *)f.base)->cons.pos, f.p.total);
    assert_null(ring_reserve_whole(&f.p, 1));
    assert_int_equal(f.p.total, total);
    fix_close(&f);
}

/* A consumer that publishes an impossible position breaks the ring for
 * ring_write_whole() as for ring_write(), when it next has to look:
 * ahead of what was written, misaligned, or backwards. Every later call,
 * even an empty or oversized one, returns the same error. */
static void test_whole_broken(void **state)
{
    (void)state;
    for (int how = 0; how < 3; how++) {
        struct fix f;
        fix_open(&f, RING_DEFAULT_DATA);
        struct ring_shared *sh = f.base;
        if (how == 2) {
            /* Let the producer see a legal position past 0 first. */
            while (put(&f, 1000, 2) > 0) {
            }
            get(&f, 3000, 0);
            assert_int_equal(ring_consumer_flush(&f.c), 0);
        }
        /* Full, so the next whole write must re-read the position. */
        while (put(&f, 1000, 2) > 0) {
        }
        while (put(&f, 1, 1) > 0) {
        }
        uint64_t bad = how == 0   ? f.p.total + RING_ALIGN
                       : how == 1 ? f.p.cons_cached + 8
                                  : f.p.cons_cached - RING_ALIGN;
        if (how == 2) {
            assert_true(f.p.cons_cached >= RING_ALIGN);
        }
        atomic_store(&sh->cons.pos, bad);
        uint64_t total = f.p.total;
        assert_int_equal(put_whole(&f, 1, 1, 0), -EPROTO);
        assert_string_equal(ring_producer_reason(&f.p),
                            "consumer position out of range");
        /* Broken for good: a legal position does not mend it. */
        atomic_store(&sh->cons.pos, f.p.total);
        struct iovec one = {f.base, 1};
        assert_int_equal(ring_write_whole(&f.p, &one, 1), -EPROTO);
        assert_int_equal(ring_write_whole(&f.p, NULL, 0), -EPROTO);
        struct iovec big = {f.base, f.p.chunk_max + 1};
        assert_int_equal(ring_write_whole(&f.p, &big, 1), -EPROTO);
        assert_int_equal(ring_write(&f.p, &one, 1), -EPROTO);
        assert_int_equal(ring_producer_doorbell_needed(&f.p), -EPROTO);
        assert_int_equal(f.p.total, total);
        fix_close(&f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_empty_and_zero_bytes),
        cmocka_unit_test(test_small_message_one_line),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_wrap_every_offset),
        cmocka_unit_test(test_pad_keeps_message_whole),
        cmocka_unit_test(test_gather_many_iovecs),
        cmocka_unit_test(test_partial_consume),
        cmocka_unit_test(test_huge_stream),
        cmocka_unit_test(test_batching),
        cmocka_unit_test(test_drained_never_stalls),
        cmocka_unit_test(test_armed_flag),
        cmocka_unit_test(test_stale_lines_between_laps),
        cmocka_unit_test(test_whole_basic),
        cmocka_unit_test(test_whole_refuses),
        cmocka_unit_test(test_whole_short_by_padding),
        cmocka_unit_test(test_whole_at_every_offset),
        cmocka_unit_test(test_whole_broken),
        cmocka_unit_test(test_reserve_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
