/*
 * fuzz_bulk.c -- libFuzzer target for the bulk area (lib/ring/ring_bulk.h):
 * the announcement parser and both sides' reads of a hostile area.
 *
 * Input: a 64-byte announcement, then the area's bytes (copied into a
 * 64-byte aligned buffer; its length is what "the transport's record"
 * allows: the announced area must fit it, as bulk_resolve() demands).
 * The receiver drains the announced message, reading every chunk handed
 * out in full (ASan: never outside the area); the sender then lays out
 * its own area, the input's bytes overwrite the consumer's marks (a
 * hostile consumer), and it fills slots while they look free. Built and
 * run by fuzz-bulk.sh through fuzz-ring.sh.
 */
#include "ring_bulk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint8_t sink;

static void must(int cond)
{
    if (!cond) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size);

static void drain(unsigned char *area, size_t len,
                  const struct ring_bulk_announce *a)
{
    struct ring_bulk_rx rx;
    int steps = 0;

    memset(&rx, 0, sizeof(rx));
    if (ring_bulk_rx_begin(&rx, area, a) < 0) {
        must(ring_bulk_rx_reason(&rx) != NULL);
        return;
    }
    while (steps++ < 256 && ring_bulk_rx_left(&rx)) {
        const void *p;
        size_t l;
        int rc = ring_bulk_rx_peek(&rx, &p, &l);

        if (rc <= 0) {
            must(rc == 0 || ring_bulk_rx_reason(&rx) != NULL);
            break;
        }
        must(l > 0 && l <= a->chunk);
        must((const unsigned char *)p >= area &&
             (const unsigned char *)p + l <= area + len);
        for (size_t i = 0; i < l; i += 64) {
            sink ^= ((const unsigned char *)p)[i];
        }
        sink ^= ((const unsigned char *)p)[l - 1];
        ring_bulk_rx_consume(&rx);
    }
    /* A second message must continue the numbering. */
    struct ring_bulk_announce b = *a;
    b.seq0 = rx.seq + 1;
    must(ring_bulk_rx_begin(&rx, area, &b) < 0);
}

static void fill(unsigned char *area, size_t len, const uint8_t *marks,
                 size_t nmarks)
{
    struct ring_bulk_tx tx;
    uint32_t n = 2 + (uint32_t)(nmarks % 3);

    if (ring_bulk_tx_init(&tx, area, len, n, RING_BULK_MIN_SLOT) < 0) {
        return;
    }
    for (int steps = 0; steps < 16; steps++) {
        void *slot;
        int rc;

        /* The hostile consumer writes its marks between our calls. */
        if (nmarks >= 8 * (size_t)(steps + 1)) {
            memcpy(area + RING_ALIGN * (1 + n + (uint32_t)steps % n),
                   marks + 8 * steps, 8);
        }
        rc = ring_bulk_tx_slot(&tx, &slot);
        if (rc < 0) {
            must(ring_bulk_tx_reason(&tx) != NULL);
            return;
        }
        if (rc == 0) {
            continue;
        }
        must((unsigned char *)slot >= area &&
             (unsigned char *)slot + RING_BULK_MIN_SLOT <= area + len);
        memset(slot, 0x5a, RING_BULK_MIN_SLOT);
        ring_bulk_tx_publish(&tx, RING_BULK_MIN_SLOT);
    }
    (void)ring_bulk_tx_drained(&tx);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    struct ring_bulk_announce a;
    const char *why = NULL;
    unsigned char *area;
    size_t len;

    if (size < RING_BULK_ANNOUNCE_SIZE) {
        must(ring_bulk_parse(in, size, &a, &why) < 0 && why);
        return 0;
    }
    len = (size - RING_BULK_ANNOUNCE_SIZE) & ~(size_t)(RING_ALIGN - 1);
    /* Room for the sender's smallest area too. */
    if (len < ring_bulk_area_size(4, RING_BULK_MIN_SLOT)) {
        len = ring_bulk_area_size(4, RING_BULK_MIN_SLOT);
    }
    area = aligned_alloc(RING_BULK_PAGE, (len + RING_BULK_PAGE - 1) &
                                             ~(size_t)(RING_BULK_PAGE - 1));
    must(area != NULL);
    memset(area, 0, len);
    memcpy(area, in + RING_BULK_ANNOUNCE_SIZE,
           size - RING_BULK_ANNOUNCE_SIZE < len ? size - RING_BULK_ANNOUNCE_SIZE
                                                : len);
    if (ring_bulk_parse(in, size, &a, &why) == 0) {
        must(a.msg_len > 0 && a.chunk > 0 && a.chunk <= a.slot_size);
        /* The transport's record: the area starts at 0 and has len. */
        if (a.off == 0 && a.len <= len) {
            drain(area, len, &a);
        }
    } else {
        must(why != NULL);
    }
    fill(area, len, in + RING_BULK_ANNOUNCE_SIZE,
         size - RING_BULK_ANNOUNCE_SIZE);
    free(area);
    return 0;
}
