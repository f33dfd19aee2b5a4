/*
 * fuzz_ring.c -- libFuzzer target: attach both sides to a ring whose
 * shared memory is the fuzzer input, then run a few consumer (and
 * producer) operations chosen by the input. Every run handed out must lie
 * inside the region and is read in full, so ASan catches any access
 * outside it; UBSan catches overflow; a hang is a libFuzzer timeout.
 * The producer's writes are ring_write() or ring_write_whole() (which
 * must take all of a write or nothing).
 *
 * Input: 16 operation bytes, then the region (its length rounded down to
 * a multiple of RING_ALIGN), then up to 5 "pokes" of 12 bytes (u32
 * offset, u64 value) in the bytes left over: a hostile peer storing into
 * the shared memory between our calls. Built by fuzz-ring.sh with clang
 * -fsanitize=fuzzer,address,undefined.
 */
#include "ring.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OPS 16
#define POKE 12

/* Apply the next poke, if any: 8 bytes at an 8-aligned offset. */
static void poke(unsigned char *base, size_t len, const uint8_t *tail,
                 size_t npokes, size_t *next)
{
    if (*next >= npokes) {
        return;
    }
    const uint8_t *p = tail + *next * POKE;
    uint32_t off;
    uint64_t val;
    memcpy(&off, p, sizeof(off));
    memcpy(&val, p + sizeof(off), sizeof(val));
    off = (uint32_t)((off % (len / 8)) * 8);
    memcpy(base + off, &val, sizeof(val));
    (*next)++;
}

static volatile uint8_t sink;

static void must(int cond)
{
    if (!cond) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < OPS) {
        return 0;
    }
    const uint8_t *ops = in;
    size_t len = (size - OPS) & ~(size_t)(RING_ALIGN - 1);
    if (len == 0) {
        return 0;
    }
    /* Exactly len bytes, so ASan flags the first byte past the region. */
    unsigned char *base = aligned_alloc(RING_ALIGN, len);
    must(base != NULL);
    memcpy(base, in + OPS, len);
    const uint8_t *tail = in + OPS + len;
    size_t npokes = (size - OPS - len) / POKE;
    size_t next_poke = 0;

    struct ring_consumer c;
    struct ring_producer p;
    int crc = ring_attach_consumer(&c, base, len);
    int prc = ring_attach_producer(&p, base, len);
    must(crc == prc);

    static unsigned char src[8192];
    for (int i = 0; i < 128; i++) {
        uint8_t op = ops[i % OPS] ^ (uint8_t)(i * 37);
        if ((op & 0xc0) == 0x80) {
            poke(base, len, tail, npokes, &next_poke);
        }
        if ((op & 0xc0) == 0xc0) {
            /* Producer: a write of a size the input picks; with bit 1 a
             * whole write, which takes all of it or nothing. */
            struct iovec v[2] = {{src, (size_t)(op & 0x3f) * 61},
                                 {src + 4096, (size_t)ops[(i + 1) % OPS] * 13}};
            if ((op & 2) != 0) {
                /* Smaller: 0 to 315 bytes, around the chunk limits of
                 * the seeds' rings (56 and 248), so some go in. */
                v[0].iov_len = op & 0x3c;
                v[1].iov_len = ops[(i + 1) % OPS];
            }
            ssize_t sum = (ssize_t)(v[0].iov_len + v[1].iov_len);
            ssize_t w;
            if ((op & 2) != 0) {
                w = ring_write_whole(&p, v, 2);
                must(w <= 0 || w == sum);
            } else {
                w = ring_write(&p, v, 2);
                must(w <= sum);
            }
            if ((op & 1) != 0) {
                (void)ring_producer_doorbell_needed(&p);
            }
            continue;
        }
        const void *ptr;
        size_t run;
        int rc = ring_peek(&c, &ptr, &run);
        if (rc < 0) {
            must(ring_consumer_reason(&c) != NULL);
            break;
        }
        if (rc == 0) {
            if ((op & 3) == 0) {
                (void)ring_consumer_arm(&c);
                ring_consumer_disarm(&c);
            }
            continue;
        }
        const unsigned char *r = ptr;
        must(run > 0);
        must(r >= base && run <= (size_t)(base + len - r));
        uint8_t acc = 0;
        for (size_t k = 0; k < run; k++) {
            acc ^= r[k];
        }
        sink = acc;
        /* Mostly whole runs, so the consumer walks far into the ring. */
        size_t take = (op & 0x30) != 0x30 ? run : 1 + ((op & 0xf) * 97) % run;
        must(ring_consume(&c, take) == 0);
        if ((op & 0x40) != 0) {
            must(ring_consumer_flush(&c) == 0);
        }
    }
    free(base);
    return 0;
}
