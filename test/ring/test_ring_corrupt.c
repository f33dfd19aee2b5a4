/*
 * test_ring_corrupt.c -- lib/ring against a buggy or hostile peer: garbage
 * in every header field and chunk header, positions out of range, lengths
 * beyond capacity. Each gives its own error and reason, the ring stays
 * broken, and nothing is read outside the region (run under ASan too).
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

#define DATA 4096

static void *fresh(size_t *len)
{
    *len = ring_region_size(DATA);
    void *base = rt_alloc(*len);
    assert_int_equal(ring_init(base, *len), 0);
    return base;
}

/* Corrupt one metadata field; both sides must refuse to attach with the
 * expected error and reason. */
static void expect_attach(void *base, size_t len, int err, const char *why)
{
    struct ring_producer p;
    struct ring_consumer c;
    assert_int_equal(ring_attach_producer(&p, base, len), err);
    assert_string_equal(ring_producer_reason(&p), why);
    assert_int_equal(ring_attach_consumer(&c, base, len), err);
    assert_string_equal(ring_consumer_reason(&c), why);
    /* A failed attach leaves a side that only returns the error. */
    const void *ptr;
    size_t run;
    struct iovec v = {base, 1};
    assert_int_equal(ring_peek(&c, &ptr, &run), err);
    assert_int_equal(ring_consume(&c, 0), err);
    assert_int_equal(ring_write(&p, &v, 1), err);
    assert_int_equal(ring_consumer_arm(&c), err);
    ring_consumer_disarm(&c);
    assert_int_equal(ring_producer_doorbell_needed(&p), err);
}

static void test_header_fields(void **state)
{
    (void)state;
    size_t len;
    struct ring_shared *sh = fresh(&len);
    struct ring_meta good = sh->meta;

    sh->meta.magic ^= 1;
    expect_attach(sh, len, -EPROTO, "bad magic");
    sh->meta = good;
    sh->meta.version = RING_VERSION + 1;
    expect_attach(sh, len, -EPROTONOSUPPORT, "unsupported version");
    sh->meta = good;
    sh->meta.hdr_size = 128;
    expect_attach(sh, len, -EPROTO, "bad header size");

    static const uint32_t bad_sizes[] = {0,        64,          DATA + 64,
                                         DATA - 1, 0x80000000u, 0xffffffc0u};
    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        sh->meta = good;
        sh->meta.data_size = bad_sizes[i];
        expect_attach(sh, len, -EPROTO, "bad data size");
    }
    /* A smaller data area than the region is fine, if consistent. */
    sh->meta = good;
    sh->meta.data_size = DATA / 2;
    sh->meta.chunk_max = DATA / 4 - RING_HDR_BYTES; /* half of DATA / 2 */
    sh->meta.batch = DATA / 16;
    struct ring_consumer c;
    assert_int_equal(ring_attach_consumer(&c, sh, len), 0);
    assert_int_equal(c.cap, DATA / 2);

    sh->meta = good;
    sh->meta.chunk_max = DATA;
    expect_attach(sh, len, -EPROTO, "bad chunk size");
    sh->meta = good;
    sh->meta.batch = DATA * 2;
    expect_attach(sh, len, -EPROTO, "bad batch size");
    /* The region given at attach is what counts, not the header's. */
    sh->meta = good;
    expect_attach(sh, len - RING_ALIGN, -EPROTO, "bad data size");
    free(sh);
}

/* A fresh ring, both sides attached and moved to offset `at` with
 * one-line chunks, then n bytes written. Returns the header word at `at`. */
struct bad {
    size_t len;
    struct ring_shared *sh;
    struct ring_producer p;
    struct ring_consumer c;
};

static _Atomic uint64_t *setup_at(struct bad *b, size_t at, size_t n)
{
    unsigned char buf[DATA];
    memset(buf, 7, sizeof(buf));
    b->sh = fresh(&b->len);
    assert_int_equal(ring_attach_producer(&b->p, b->sh, b->len), 0);
    assert_int_equal(ring_attach_consumer(&b->c, b->sh, b->len), 0);
    for (size_t i = 0; i < at / RING_ALIGN; i++) {
        struct iovec v = {buf, 56};
        assert_int_equal(ring_write(&b->p, &v, 1), 56);
        const void *ptr;
        size_t run;
        assert_int_equal(ring_peek(&b->c, &ptr, &run), 1);
        assert_int_equal(ring_consume(&b->c, run), 0);
    }
    assert_int_equal(b->c.off, at);
    if (n > 0) {
        struct iovec v = {buf, n};
        assert_int_equal(ring_write(&b->p, &v, 1), (ssize_t)n);
    }
    return ring_hdr_at((unsigned char *)b->sh + RING_HDR_SIZE, at);
}

/* Sizes are private copies: changing them after attach changes nothing. */
static void test_sizes_not_reread(void **state)
{
    (void)state;
    struct bad b;
    setup_at(&b, 0, 0);
    struct ring_shared *sh = b.sh;
    size_t len = b.len;
    struct ring_producer p = b.p;
    struct ring_consumer c = b.c;
    memset(&sh->meta, 0xff, sizeof(sh->meta));
    unsigned char buf[3000];
    memset(buf, 0x5a, sizeof(buf));
    uint64_t sent = 0;
    uint64_t got = 0;
    while (got < 100000) {
        struct iovec v = {buf, sizeof(buf)};
        ssize_t w = ring_write(&p, &v, 1);
        assert_true(w >= 0);
        sent += (uint64_t)w;
        const void *ptr;
        size_t run;
        while (ring_peek(&c, &ptr, &run) == 1) {
            assert_true((const unsigned char *)ptr + run <=
                        (const unsigned char *)sh + len);
            assert_int_equal(ring_consume(&c, run), 0);
            got += run;
        }
    }
    assert_int_equal(sent, got);
    free(sh);
}

/* Store w as the chunk header at `at`; the consumer must break with
 * reason why, and stay broken. */
static void expect_chunk(size_t at, uint64_t w, const char *why)
{
    struct bad b;
    _Atomic uint64_t *h = setup_at(&b, at, 0);
    atomic_store(h, w);
    const void *ptr = NULL;
    size_t run = 0;
    assert_int_equal(ring_peek(&b.c, &ptr, &run), -EPROTO);
    assert_string_equal(ring_consumer_reason(&b.c), why);
    assert_null(ptr);
    /* Broken for good, even if the header is repaired. */
    atomic_store(h, 0);
    assert_int_equal(ring_peek(&b.c, &ptr, &run), -EPROTO);
    assert_int_equal(ring_consume(&b.c, 0), -EPROTO);
    assert_int_equal(ring_consumer_flush(&b.c), -EPROTO);
    assert_int_equal(ring_consumer_arm(&b.c), -EPROTO);
    free(b.sh);
}

static void test_chunk_headers(void **state)
{
    (void)state;
    const uint64_t lap0 = 0;
    /* Garbage without the valid bit. */
    expect_chunk(0, 0x1234, "chunk header without valid bit");
    expect_chunk(0, ~RING_W_VALID, "chunk header without valid bit");
    /* Stale or future lap (the owner bit of a wrap). */
    expect_chunk(0, ring_word(10, 0, 1), "chunk header of another lap");
    expect_chunk(0, ring_word(10, 0, RING_W_LAP_MASK),
                 "chunk header of another lap");
    /* Lengths: zero, beyond the chunk limit, beyond the capacity, beyond
     * the end of the data area. */
    expect_chunk(0, ring_word(0, 0, lap0), "bad chunk length");
    expect_chunk(0, ring_word(DATA / 2, 0, lap0), "bad chunk length");
    expect_chunk(0, ring_word(DATA, 0, lap0), "bad chunk length");
    expect_chunk(0, ring_word(0xffffffffu, 0, lap0), "bad chunk length");
    expect_chunk(DATA - 128, ring_word(121, 0, lap0),
                 "chunk beyond the end of the ring");
    expect_chunk(DATA - 64, ring_word(57, 0, lap0),
                 "chunk beyond the end of the ring");
    /* Padding: wrong length, too far from the end, at the start. */
    expect_chunk(DATA - 128, ring_word(100, 1, lap0), "bad padding length");
    expect_chunk(DATA - 1024, ring_word(1024 - 8, 1, lap0),
                 "bad padding length");
    expect_chunk(0, ring_word(DATA - 8, 1, lap0), "bad padding length");
}

/* In the smallest ring the whole data area is shorter than the padding
 * limit: padding at offset 0 is still refused (it would be followed by
 * more padding at offset 0). */
static void test_padding_at_start_small_ring(void **state)
{
    (void)state;
    size_t len = ring_region_size(RING_MIN_DATA);
    struct ring_shared *sh = rt_alloc(len);
    assert_int_equal(ring_init(sh, len), 0);
    struct ring_consumer c;
    assert_int_equal(ring_attach_consumer(&c, sh, len), 0);
    unsigned char *data = (unsigned char *)sh + RING_HDR_SIZE;
    atomic_store(ring_hdr_at(data, 0), ring_word(RING_MIN_DATA - 8, 1, 0));
    const void *ptr;
    size_t run;
    assert_int_equal(ring_peek(&c, &ptr, &run), -EPROTO);
    assert_string_equal(ring_consumer_reason(&c), "bad padding length");
    free(sh);
}

/* Valid chunk headers at the boundaries are accepted. */
static void test_chunk_limits_accepted(void **state)
{
    (void)state;
    struct bad b;
    _Atomic uint64_t *h = setup_at(&b, DATA - 64, 0);
    atomic_store(h, ring_word(56, 0, 0));
    const void *ptr;
    size_t run;
    assert_int_equal(ring_peek(&b.c, &ptr, &run), 1);
    assert_int_equal(run, 56);
    assert_true((const unsigned char *)ptr + run ==
                (const unsigned char *)b.sh + b.len);
    free(b.sh);

    h = setup_at(&b, DATA - 128, 0);
    /* What the producer does: terminator at the start, then padding to
     * the end of the data area. */
    atomic_store(ring_hdr_at((unsigned char *)b.sh + RING_HDR_SIZE, 0), 0);
    atomic_store(h, ring_word(120, 1, 0));
    assert_int_equal(ring_peek(&b.c, &ptr, &run), 0); /* start reads 0 */
    assert_int_equal(b.c.lap, 1);
    free(b.sh);
}

/* The producer's announced position is a hint: a false one keeps the
 * consumer from sleeping and does nothing else. */
static void test_announced_position(void **state)
{
    (void)state;
    struct bad b;
    setup_at(&b, 0, 0);
    atomic_store(&b.sh->prod.announced, ~0ULL);
    assert_int_equal(ring_consumer_arm(&b.c), 1);
    assert_int_equal(atomic_load(&b.sh->cons.armed), 0);
    const void *ptr;
    size_t run;
    assert_int_equal(ring_peek(&b.c, &ptr, &run), 0);
    atomic_store(&b.sh->prod.announced, 0);
    assert_int_equal(ring_consumer_arm(&b.c), 0);
    assert_null(ring_consumer_reason(&b.c));
    free(b.sh);
}

/* A chunk header zeroed behind the producer's back (issue 21 item 10):
 * the producer announces its position on its idle poll, the consumer's
 * idle polls find our position still zero and, after the stall budget,
 * break the ring instead of waiting for ever. Without an announcement,
 * or with the header intact, nothing breaks. */
static void test_zeroed_header_stall(void **state)
{
    (void)state;
    struct bad b;
    _Atomic uint64_t *hdr = setup_at(&b, 2 * RING_ALIGN, 16);
    const void *ptr;
    size_t run;

    ring_consumer_set_stall_ms(&b.c, 1);
    atomic_store(hdr, 0); /* the hostile write, before the announcement */
    for (int i = 0; i < 4 * (int)RING_STALL_EVERY; i++) {
        assert_int_equal(ring_consumer_idle(&b.c), 1); /* not announced */
    }
    assert_int_equal(ring_producer_idle(&b.p), 0);
    assert_int_equal(atomic_load(&b.sh->prod.announced), b.p.total);
    /* Bounded: the budget is 1 ms, the loop ends long after it. */
    int idle = 1;
    for (long i = 0; i < 100000000L && idle; i++) {
        idle = ring_consumer_idle(&b.c);
    }
    assert_int_equal(idle, 0);
    assert_int_equal(ring_peek(&b.c, &ptr, &run), -EPROTO);
    assert_non_null(strstr(ring_consumer_reason(&b.c), "stalled"));
    free(b.sh);

    /* Intact header, the same announcement: the data is read. */
    setup_at(&b, 2 * RING_ALIGN, 16);
    ring_consumer_set_stall_ms(&b.c, 1);
    assert_int_equal(ring_producer_idle(&b.p), 0);
    assert_int_equal(ring_consumer_stall_check(&b.c), 0);
    assert_int_equal(ring_peek(&b.c, &ptr, &run), 1);
    assert_int_equal(run, 16);
    free(b.sh);
}

/* The consumer's published position, as the producer sees it when the
 * ring looks full: backwards, ahead of what was written, misaligned. */
static void expect_position(uint64_t pos_after_fill_delta, int backwards,
                            int misalign)
{
    size_t len;
    struct ring_shared *sh = fresh(&len);
    struct ring_producer p;
    assert_int_equal(ring_attach_producer(&p, sh, len), 0);
    unsigned char buf[DATA];
    memset(buf, 1, sizeof(buf));
    struct iovec v = {buf, sizeof(buf)};
    /* Let the producer see a legal position first. */
    ssize_t w = ring_write(&p, &v, 1);
    assert_true(w > 0);
    atomic_store(&sh->cons.pos, 1024);
    w = ring_write(&p, &v, 1);
    assert_true(w > 0);
    assert_int_equal(p.cons_cached, 1024);
    uint64_t pos = p.total + pos_after_fill_delta;
    if (backwards) {
        pos = 512;
    }
    if (misalign) {
        pos = 1024 + 8;
    }
    atomic_store(&sh->cons.pos, pos);
    assert_int_equal(ring_write(&p, &v, 1), -EPROTO);
    assert_string_equal(ring_producer_reason(&p),
                        "consumer position out of range");
    assert_int_equal(ring_write(&p, &v, 1), -EPROTO);
    assert_int_equal(ring_producer_doorbell_needed(&p), -EPROTO);
    free(sh);
}

static void test_consumer_position(void **state)
{
    (void)state;
    expect_position(64, 0, 0); /* beyond what was written */
    expect_position(1ULL << 40, 0, 0);
    expect_position(0, 1, 0); /* went backwards */
    expect_position(0, 0, 1); /* not on a line */
}

/* ring_producer_idle(): below a quarter of the ring outstanding it does
 * not look at the consumer line at all; from a quarter on it takes a
 * legal position and breaks the ring on an impossible one, as
 * ring_write() does. */
static void test_idle_refresh(void **state)
{
    size_t len;
    struct ring_shared *sh = fresh(&len);
    struct ring_producer p;
    unsigned char buf[DATA / 8];

    (void)state;
    assert_int_equal(ring_attach_producer(&p, sh, len), 0);
    memset(buf, 1, sizeof(buf));
    struct iovec v = {buf, sizeof(buf)};
    assert_true(ring_write(&p, &v, 1) > 0);
    assert_true(p.total < p.cap / 4);
    atomic_store(&sh->cons.pos, 8); /* impossible, but not read */
    assert_int_equal(ring_producer_idle(&p), 0);
    assert_int_equal(p.cons_cached, 0);
    atomic_store(&sh->cons.pos, 0);
    while (p.total < p.cap / 4) {
        assert_true(ring_write(&p, &v, 1) > 0);
    }
    assert_int_equal(ring_producer_idle(&p), 0); /* nothing given back */
    assert_int_equal(p.cons_cached, 0);
    atomic_store(&sh->cons.pos, p.total - RING_ALIGN);
    assert_int_equal(ring_producer_idle(&p), 0);
    assert_int_equal(p.cons_cached, p.total - RING_ALIGN);
    assert_int_equal(ring_producer_idle(&p), 0); /* below a quarter now */
    while (p.total - p.cons_cached < p.cap / 4) {
        assert_true(ring_write(&p, &v, 1) > 0);
    }
    atomic_store(&sh->cons.pos, p.total + RING_ALIGN); /* ahead of us */
    assert_int_equal(ring_producer_idle(&p), -EPROTO);
    assert_string_equal(ring_producer_reason(&p),
                        "consumer position out of range");
    assert_int_equal(ring_write(&p, &v, 1), -EPROTO);
    assert_int_equal(ring_producer_idle(&p), -EPROTO);
    free(sh);
}

/* Random garbage in the whole data area (and the consumer line): every
 * call returns a run inside the region, "empty" or an error; a bounded
 * number of calls ends the loop. */
static void test_random_garbage(void **state)
{
    (void)state;
    uint64_t rng = 42;
    for (int round = 0; round < 3000; round++) {
        struct bad b;
        setup_at(&b, 0, 0);
        struct ring_shared *sh = b.sh;
        unsigned char *data = (unsigned char *)sh + RING_HDR_SIZE;
        /* Plausible headers (our lap, valid bit) make it past the first
         * check more often than pure noise. */
        for (size_t off = 0; off < DATA; off += 8) {
            uint64_t r = rt_rand(&rng);
            if (off % RING_ALIGN == 0 && (r & 3) != 0) {
                r = ring_word((r >> 8) % (DATA / 2), (r >> 4) & 1,
                              (r >> 5) & 1);
            }
            memcpy(data + off, &r, 8);
        }
        atomic_store(&sh->cons.pos, rt_rand(&rng) & 0x1fc0);
        for (int op = 0; op < 64; op++) {
            const void *ptr;
            size_t run;
            int rc = ring_peek(&b.c, &ptr, &run);
            if (rc <= 0) {
                break;
            }
            assert_true((const unsigned char *)ptr >= data);
            assert_true((const unsigned char *)ptr + run <= data + DATA);
            size_t k = 1 + rt_rand(&rng) % run;
            assert_int_equal(ring_consume(&b.c, k), 0);
        }
        unsigned char buf[512] = {0};
        struct iovec v = {buf, sizeof(buf)};
        for (int op = 0; op < 16; op++) {
            if (ring_write(&b.p, &v, 1) <= 0) {
                break;
            }
        }
        free(sh);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_fields),
        cmocka_unit_test(test_sizes_not_reread),
        cmocka_unit_test(test_chunk_headers),
        cmocka_unit_test(test_padding_at_start_small_ring),
        cmocka_unit_test(test_chunk_limits_accepted),
        cmocka_unit_test(test_consumer_position),
        cmocka_unit_test(test_idle_refresh),
        cmocka_unit_test(test_announced_position),
        cmocka_unit_test(test_zeroed_header_stall),
        cmocka_unit_test(test_random_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
