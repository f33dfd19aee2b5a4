/*
 * battery_rma.c -- the RMA pair case: pscom_post_rma_write() and
 * pscom_post_rma_read() into and out of the peer's memory, on every
 * transport the battery runs on.
 *
 * Each end exposes a window: a "put" area the peer writes into and a
 * "get" area (filled with its pattern) the peer reads from. The ends
 * swap their addresses in an ordinary message; after its writes an end
 * sends a "written" message, which arrives after the writes (one
 * connection is ordered), so the window can be checked when it is in.
 */
#include "battery.h"

#include "pattern.h"

#include <stdlib.h>
#include <string.h>

enum { TAG_RMA_ADDR = 0xa00, TAG_RMA_DONE = 0xa01 };

static const size_t rma_len[] = {0, 1, 7, 4096, 65536 + 3, 1024 * 1024 + 5};
#define RMA_N (sizeof(rma_len) / sizeof(rma_len[0]))
#define RMA_SPAN (1024 * 1024 + 8) /* per size, >= the largest */

struct rma_addr {
    uint64_t put, get; /* the sender's window areas */
};

/* Swap the window addresses with the peer (itself on a loop). */
static int rma_swap(struct bt_ctx *c, uint32_t tag, const void *mine,
                    void *theirs, size_t len)
{
    pscom_request_t *r = bt_post_recv(c, tag, 0, 0, theirs, len);
    pscom_request_t *s = bt_post_send(c, tag, 0, mine, len);
    int rc = bt_wait_ok(c, s, "send of the window");

    if (bt_wait_ok(c, r, "receive of the window") < 0 || r->data_len != len) {
        rc = bt_fail(c, "window message: %s", c->why);
    }
    pscom_request_free(s);
    pscom_request_free(r);
    return rc;
}

static int rma_writes(struct bt_ctx *c, char *src, uint64_t peer_put)
{
    pscom_request_t *w[RMA_N];
    int rc = 0;

    for (size_t i = 0; i < RMA_N; i++) {
        char *from = src + i * RMA_SPAN;

        pattern_fill(from, rma_len[i],
                     bt_seed(TAG_RMA_ADDR, (uint32_t)i, c->role));
        w[i] = pscom_request_create(0, 0);
        w[i]->connection = c->con;
        w[i]->data = from;
        w[i]->data_len = (unsigned int)rma_len[i];
        w[i]->xheader.rma_write.dest = (char *)(uintptr_t)peer_put +
                                       i * RMA_SPAN;
        pscom_post_rma_write(w[i]);
    }
    for (size_t i = 0; i < RMA_N; i++) {
        if (rc == 0 && (bt_wait_ok(c, w[i], "rma_write") < 0 ||
                        !(w[i]->state & PSCOM_REQ_STATE_RMA_WRITE_REQUEST))) {
            rc = bt_fail(c, "rma_write %zu B: %s", rma_len[i], c->why);
        }
        pscom_wait(w[i]);
        pscom_request_free(w[i]);
    }
    return rc;
}

static int rma_reads(struct bt_ctx *c, uint64_t peer_get)
{
    char *dst = malloc(RMA_N * RMA_SPAN);
    pscom_request_t *r[RMA_N];
    int rc = 0;

    if (!dst) {
        return bt_fail(c, "out of memory");
    }
    for (size_t i = 0; i < RMA_N; i++) {
        r[i] = pscom_request_create(0, 0);
        r[i]->connection = c->con;
        r[i]->data = dst + i * RMA_SPAN;
        r[i]->data_len = (unsigned int)rma_len[i];
        r[i]->xheader.rma_read.src = (char *)(uintptr_t)peer_get + i * RMA_SPAN;
        pscom_post_rma_read(r[i]);
    }
    for (size_t i = 0; i < RMA_N; i++) {
        if (rc == 0 && bt_wait_ok(c, r[i], "rma_read") < 0) {
            rc = -1;
        } else if (rc == 0 && (r[i]->data_len != rma_len[i] ||
                               pattern_check(dst + i * RMA_SPAN, rma_len[i],
                                             bt_seed(TAG_RMA_DONE, (uint32_t)i,
                                                     bt_peer_side(c))) >= 0)) {
            rc = bt_fail(c, "rma_read of %zu B: wrong data", rma_len[i]);
        }
        pscom_wait(r[i]);
        pscom_request_free(r[i]);
    }
    free(dst);
    return rc;
}

int bt_case_rma(struct bt_ctx *c)
{
    char *put = calloc(RMA_N, RMA_SPAN), *get = malloc(RMA_N * RMA_SPAN);
    char *src = malloc(RMA_N * RMA_SPAN);
    struct rma_addr mine, theirs;
    int rc = -1;
    char done;

    if (!put || !get || !src) {
        rc = bt_fail(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < RMA_N; i++) {
        pattern_fill(get + i * RMA_SPAN, rma_len[i],
                     bt_seed(TAG_RMA_DONE, (uint32_t)i, c->role));
    }
    mine.put = (uint64_t)(uintptr_t)put;
    mine.get = (uint64_t)(uintptr_t)get;
    if (rma_swap(c, TAG_RMA_ADDR, &mine, &theirs, sizeof(mine)) < 0 ||
        rma_writes(c, src, theirs.put) < 0 || rma_reads(c, theirs.get) < 0 ||
        rma_swap(c, TAG_RMA_DONE, "w", &done, 1) < 0) {
        goto out;
    }
    /* The peer's "written" came after its writes: they are all in. */
    for (size_t i = 0; i < RMA_N; i++) {
        if (pattern_check(put + i * RMA_SPAN, rma_len[i],
                          bt_seed(TAG_RMA_ADDR, (uint32_t)i,
                                  bt_peer_side(c))) >= 0) {
            rc = bt_fail(c, "rma_write of %zu B: wrong data arrived",
                         rma_len[i]);
            goto out;
        }
    }
    rc = 0;
out:
    free(put);
    free(get);
    free(src);
    return rc;
}
