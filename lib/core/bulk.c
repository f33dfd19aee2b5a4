/*
 * bulk.c -- large messages of the memory transports (shm and ivshmem, one
 * implementation): the sender announces the message in the small ring,
 * sends its header and xheader through the ring, and moves the data
 * through a bulk area it owns (lib/ring/ring_bulk.h), straight from the
 * send buffer; the receiver copies them straight into the posted receive
 * buffer (or the unexpected-message buffer) with pscom_con_read_feed().
 * Both copy at the same time: the sender fills slot k + 1 while the
 * receiver drains slot k.
 *
 * Geometry (not tuned to one host; doc/ivshmem.md, "Large messages"):
 *  - slot size: PSP_SHM_BULK_SLOT, or 64 KiB: eight times what a core
 *    copies during one hand-off (a cache line to the other core and
 *    back, BULK_HANDOFF_BYTES), so hand-offs cost an eighth at most;
 *  - slots: PSP_SHM_BULK_SLOTS, or as many as fill this core's L2 cache
 *    (sysconf(_SC_LEVEL2_CACHE_SIZE), else sysfs, else 1 MiB; 256 KiB to
 *    4 MiB), 4 to 64: what is in flight is what the sender may run
 *    ahead of the receiver, and the receiver still finds it in a cache.
 *    The bytes in flight matter, not the slot size (doc/performance.md,
 *    "The bulk area's geometry");
 *  - a message goes in chunks of sqrt(length * 8 KiB) (chunk_for():
 *    pipeline start against hand-offs), in pages, at most a slot: even a
 *    message just over the threshold is pipelined;
 *  - threshold: PSP_SHM_BULK_THRESHOLD, or a quarter of what the area
 *    holds in flight (256 KiB with a 1 MiB L2): a message that fills
 *    less of the pipeline gains less from it than its fixed costs (the
 *    announcement and header through the ring, the first chunk copied
 *    before the receiver starts); measured ring against area in
 *    doc/performance.md.
 * The sender's area is taken on its first large message and given back
 * after PSP_SHM_BULK_IDLE_MS without one (or at close): an idle
 * connection keeps only its rings.
 *
 * With the per-message checksum (PSP_IVSHMEM_CHECKSUM) large messages
 * take the area too: the sender adds each chunk to the message's CRC32C
 * right after copying it into its slot (the bytes are still in its
 * cache: no pass over the whole message before the first chunk), and
 * writes the CRC into the ring behind the message as the ring path does
 * (RING_BULK_F_TRAILER); the receiver's parser adds what it copied out
 * of the slots and checks the trailer before the message completes.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bulk.h"
#include "pscom_priv.h"
#include "ring_bulk.h"
#include "ring_copy.h"
#include "ring_crc.h"
#include "shm.h"

/* Bytes one core copies while a cache line crosses to the other core and
 * back (a chunk's hand-off; the range it spans: doc/performance.md). */
#define BULK_HANDOFF_BYTES 8192u

struct bulk_geometry {
    uint32_t nslots;
    uint32_t slot;
    uint64_t threshold;
    uint64_t area_len;
};

/* This core's L2 cache in bytes, or 0. */
static uint64_t l2_size(void)
{
    long v = -1;
    char buf[32];
    FILE *f;

#ifdef _SC_LEVEL2_CACHE_SIZE
    v = sysconf(_SC_LEVEL2_CACHE_SIZE);
#endif
    if (v > 0) {
        return (uint64_t)v;
    }
    f = fopen("/sys/devices/system/cpu/cpu0/cache/index2/size", "r");
    if (!f) {
        return 0;
    }
    if (fgets(buf, sizeof(buf), f)) {
        char *end;
        unsigned long long n = strtoull(buf, &end, 10);

        v = (long)(n * (*end == 'K' ? 1024 : *end == 'M' ? 1048576 : 1));
    }
    fclose(f);
    return v > 0 ? (uint64_t)v : 0;
}

/* The default slot: a hand-off (BULK_HANDOFF_BYTES of copy time) costs
 * an eighth of a slot's copy at most. */
#define BULK_SLOT_DEFAULT (8u * BULK_HANDOFF_BYTES)

static uint32_t clamp_u32(uint64_t x, uint32_t lo, uint32_t hi)
{
    return x < lo ? lo : x > hi ? hi : (uint32_t)x;
}

static const struct bulk_geometry *geometry(void)
{
    static struct bulk_geometry g;
    static int done;

    if (!done) {
        uint64_t l2 = l2_size();
        /* What may be in flight: one core's L2 (1 MiB if unknown), at
         * least 256 KiB, at most 4 MiB. */
        uint64_t flight = l2 < 262144    ? (l2 ? 262144 : 1048576)
                          : l2 > 4194304 ? 4194304
                                         : l2;

        g.slot = pscom_env.shm_bulk_slot
                     ? clamp_u32(((uint64_t)pscom_env.shm_bulk_slot +
                                  RING_BULK_PAGE - 1) &
                                     ~(uint64_t)(RING_BULK_PAGE - 1),
                                 RING_BULK_MIN_SLOT, RING_BULK_MAX_SLOT)
                     : BULK_SLOT_DEFAULT;
        g.nslots = clamp_u32(pscom_env.shm_bulk_slots ? pscom_env.shm_bulk_slots
                                                      : flight / g.slot,
                             4, RING_BULK_MAX_SLOTS);
        g.threshold = pscom_env.shm_bulk_threshold
                          ? pscom_env.shm_bulk_threshold
                          : (uint64_t)g.nslots * g.slot / 4;
        g.area_len = pscom_env.shm_bulk ? ring_bulk_area_size(g.nslots, g.slot)
                                        : 0;
        DPRINT(3,
               "pscom: bulk: L2 %llu bytes: %u slots of %u bytes, "
               "threshold %llu bytes",
               (unsigned long long)l2, g.nslots, g.slot,
               (unsigned long long)g.threshold);
        done = 1;
    }
    return &g;
}

uint64_t pscom_shm_bulk_area_len(void)
{
    return geometry()->area_len;
}

int pscom_shm_link_set_bulk(struct pscom_shm_link *link,
                            const struct pscom_shm_bulk_ops *ops)
{
    struct pscom_shm_bulk *bk = calloc(1, sizeof(*bk));

    if (!bk) {
        return -ENOMEM;
    }
    bk->ops = ops;
    /* Messages below it never look at the area (pscom_shm_bulk_wants). */
    bk->threshold = pscom_env.shm_bulk && geometry()->area_len
                        ? geometry()->threshold
                        : SIZE_MAX;
    link->bulk = bk;
    return 0;
}

/* Log once and fail the connection (the link is freed on return). */
static int bulk_fail(struct pscom_shm_link *link, pscom_op_t op,
                     const char *why)
{
    pscom_con_t *con = link->con;

    DPRINT(1, "pscom: %s: bulk area: %s", pscom_con_str(pscom_con_pub(con)),
           why ? why : "unknown error");
    pscom_con_error(con, op, PSCOM_ERR_IOERROR);
    return PSCOM_BULK_CLOSED;
}

static int con_closed(pscom_con_t *con)
{
    return (con->pub.state & PSCOM_CON_STATE_CLOSED) != 0;
}

_Static_assert(sizeof(((struct pscom_shm_link *)0)->tx_trailer) ==
                   sizeof(uint32_t),
               "the trailer is a CRC32C");

/* ---- sending ------------------------------------------------------------- */

/* Is the head of the send queue an untouched message worth the area? */
static int tx_eligible(pscom_con_t *con, struct pscom_req *req,
                       const struct iovec iov[2])
{
    pscom_header_net_t h;

    if (iov[1].iov_len > UINT32_MAX ||
        (req->pub.state & PSCOM_REQ_STATE_IO_STARTED) ||
        iov[0].iov_len < sizeof(h)) {
        return 0;
    }
    (void)con;
    memcpy(&h, iov[0].iov_base, sizeof(h));
    return h.data_len == iov[1].iov_len;
}

/* Take our area (first large message since it was given back). */
static int tx_acquire(struct pscom_shm_link *link)
{
    struct pscom_shm_bulk *bk = link->bulk;
    const struct bulk_geometry *g = geometry();
    const char *why = "no bulk area";
    int rc = -1;

    if (g->area_len) {
        rc = bk->ops->acquire(link, g->area_len, &bk->tx_off, &bk->tx_ptr,
                              &why);
    }
    if (rc == 0) {
        rc = ring_bulk_tx_init(&bk->tx, bk->tx_ptr, g->area_len, g->nslots,
                               g->slot);
        if (rc < 0) {
            bk->ops->release(link, bk->tx_off, bk->tx_ptr, 1, 0, 0);
            why = ring_bulk_tx_reason(&bk->tx);
        }
    }
    if (rc < 0) {
        if (!bk->fallback_said) {
            DPRINT(2,
                   "pscom: %s: large messages stream through the ring: "
                   "%s",
                   pscom_con_str(pscom_con_pub(link->con)), why);
            bk->fallback_said = 1;
        }
        return -1;
    }
    if (bk->fallback_said) {
        DPRINT(2, "pscom: %s: large messages go through a bulk area again",
               pscom_con_str(pscom_con_pub(link->con)));
        bk->fallback_said = 0;
    }
    bk->tx_have = 1;
    bk->tx_gen++;
    DPRINT(3, "pscom: %s: bulk area taken: %llu bytes at offset %llu",
           pscom_con_str(pscom_con_pub(link->con)),
           (unsigned long long)g->area_len, (unsigned long long)bk->tx_off);
    return 0;
}

static uint64_t isqrt(uint64_t x)
{
    uint64_t r = 0;

    for (uint64_t b = (uint64_t)1 << 62; b; b >>= 2) {
        if (x >= r + b) {
            x -= r + b;
            r = (r >> 1) + b;
        } else {
            r >>= 1;
        }
    }
    return r;
}

/* The chunk of a message: the receiver starts once the first chunk is
 * in (a chunk's copy of delay), and each chunk costs a hand-off; the sum
 * len / n + n * BULK_HANDOFF_BYTES is least at n = sqrt(len / handoff),
 * i.e. chunks of sqrt(len * handoff): 11 KiB at 16 KiB, 90 KiB at 1 MiB.
 * In pages (the copies keep their alignment), at most a slot. */
static uint32_t chunk_for(uint64_t msg_len)
{
    const struct bulk_geometry *g = geometry();
    uint64_t c = isqrt(msg_len * BULK_HANDOFF_BYTES);

    c = (c + RING_BULK_PAGE - 1) & ~(uint64_t)(RING_BULK_PAGE - 1);
    if (c < RING_BULK_PAGE) {
        c = RING_BULK_PAGE;
    }
    return c > g->slot ? g->slot : (uint32_t)c;
}

/* Announce req in the ring; a small header and xheader right behind in
 * the same chunk (one hand-off less before the receiver knows where the
 * data go). Larger ones follow in their own writes: a write of more than
 * RING_WHOLE_MAX bytes may be split anywhere, also inside the
 * announcement, which the receiver takes from one run. */
static int tx_begin(struct pscom_shm_link *link, struct pscom_req *req,
                    const struct iovec iov[2])
{
    struct pscom_shm_bulk *bk = link->bulk;
    const struct bulk_geometry *g = geometry();
    struct ring_bulk_announce a;
    struct iovec w[2];
    ssize_t n;

    if (!bk->tx_have && tx_acquire(link) < 0) {
        return PSCOM_BULK_NONE;
    }
    a = (struct ring_bulk_announce){
        .msg_type = RING_BULK_MSGTYPE,
        .xheader_len = sizeof(a) - 8,
        .magic = RING_BULK_MAGIC,
        .off = bk->tx_off,
        .len = g->area_len,
        .seq0 = bk->tx.seq,
        .gen = bk->tx_gen,
        .msg_len = (uint32_t)iov[1].iov_len,
        .chunk = chunk_for(iov[1].iov_len),
        .slot_size = g->slot,
        .nslots = g->nslots,
        .flags = link->csum ? RING_BULK_F_TRAILER : 0,
    };
    /* At most RING_WHOLE_MAX bytes: all of it or nothing. */
    w[0] = (struct iovec){&a, sizeof(a)};
    w[1] = iov[0];
    n = ring_write(&link->tx, w,
                   sizeof(a) + iov[0].iov_len <= RING_WHOLE_MAX ? 2 : 1);
    if (n < 0) {
        return bulk_fail(link, PSCOM_OP_WRITE, ring_producer_reason(&link->tx));
    }
    if (n == 0) {
        return PSCOM_BULK_BLOCKED;
    }
    if ((size_t)n < sizeof(a)) {
        return bulk_fail(link, PSCOM_OP_WRITE, "announcement split");
    }
    bk->tx_req = req;
    bk->tx_stage = (size_t)n - sizeof(a) == iov[0].iov_len
                       ? PSCOM_BULK_TX_DATA
                       : PSCOM_BULK_TX_HEADER;
    bk->tx_chunk = a.chunk;
    bk->tx_left = a.msg_len;
    /* The message as it starts (tx_eligible(): nothing of it written). */
    if (link->csum) {
        bk->tx_crc = ring_crc32c(0, iov[0].iov_base, iov[0].iov_len);
    }
    if ((size_t)n > sizeof(a)) {
        /* Never the whole request: its data are still to come. */
        pscom_con_write_done(link->con, (size_t)n - sizeof(a));
    }
    return PSCOM_BULK_PROGRESS;
}

/* The message's header and xheader go through the ring. */
static int tx_header(struct pscom_shm_link *link, const struct iovec iov[2])
{
    struct pscom_shm_bulk *bk = link->bulk;
    ssize_t n = ring_write(&link->tx, iov, 1);

    if (n < 0) {
        return bulk_fail(link, PSCOM_OP_WRITE, ring_producer_reason(&link->tx));
    }
    if (n == 0) {
        return PSCOM_BULK_BLOCKED;
    }
    if ((size_t)n == iov[0].iov_len) {
        bk->tx_stage = PSCOM_BULK_TX_DATA;
    }
    /* Never the whole request: its data are still to come. */
    pscom_con_write_done(link->con, (size_t)n);
    return PSCOM_BULK_PROGRESS;
}

/* One chunk from the send buffer into the next free slot. */
static int tx_data(struct pscom_shm_link *link, const struct iovec iov[2])
{
    struct pscom_shm_bulk *bk = link->bulk;
    pscom_con_t *con = link->con;
    void *slot;
    uint32_t c;
    int rc = ring_bulk_tx_slot(&bk->tx, &slot);

    if (rc < 0) {
        return bulk_fail(link, PSCOM_OP_WRITE, ring_bulk_tx_reason(&bk->tx));
    }
    if (rc == 0) {
        return PSCOM_BULK_BLOCKED;
    }
    c = bk->tx_left < bk->tx_chunk ? (uint32_t)bk->tx_left : bk->tx_chunk;
    ring_copy(slot, iov[1].iov_base, c);
    ring_bulk_tx_publish(&bk->tx, c);
    if (link->csum) {
        /* From the send buffer, not the slot (what we meant to send),
         * while the receiver copies the chunk out already. */
        bk->tx_crc = ring_crc32c(bk->tx_crc, iov[1].iov_base, c);
    }
    bk->tx_left -= c;
    if (bk->tx_left == 0) {
        if (link->csum) {
            /* The send loop writes it into the ring next. */
            memcpy(link->tx_trailer, &bk->tx_crc, sizeof(link->tx_trailer));
            link->tx_tail_left = sizeof(link->tx_trailer);
        }
        bk->tx_req = NULL;
        bk->tx_stage = PSCOM_BULK_TX_NONE;
        bk->tx_last_ms = pscom_now_ms();
    }
    /* The data are in the area: the request may complete (and its
     * completion may close the connection). */
    pscom_con_write_done(con, c);
    return con_closed(con) ? PSCOM_BULK_CLOSED : PSCOM_BULK_PROGRESS;
}

int pscom_shm_bulk_write(struct pscom_shm_link *link, struct iovec iov[2])
{
    struct pscom_shm_bulk *bk = link->bulk;
    pscom_con_t *con = link->con;
    struct pscom_req *req;

    req = list_entry(con->sendq.next, struct pscom_req, next);
    if (bk->tx_req != req) {
        if (!tx_eligible(con, req, iov)) {
            return PSCOM_BULK_NONE;
        }
        /* The iovecs moved on: the loop asks for them again. */
        return tx_begin(link, req, iov);
    }
    return bk->tx_stage == PSCOM_BULK_TX_HEADER ? tx_header(link, iov)
                                                : tx_data(link, iov);
}

void pscom_shm_bulk_idle(struct pscom_shm_link *link)
{
    struct pscom_shm_bulk *bk = link->bulk;
    uint64_t now;

    /* A clock read every 64 idle polls, only while an area is held. */
    if (++bk->idle_polls % 64) {
        return;
    }
    now = pscom_now_ms();
    if (now - bk->tx_last_ms < pscom_env.shm_bulk_idle_ms ||
        !ring_bulk_tx_drained(&bk->tx)) {
        return;
    }
    bk->ops->release(link, bk->tx_off, bk->tx_ptr, 1, 0, 0);
    bk->tx_have = 0;
    DPRINT(3, "pscom: %s: bulk area given back (idle)",
           pscom_con_str(pscom_con_pub(link->con)));
}

/* ---- receiving ----------------------------------------------------------- */

/* A bulk announcement at a message boundary: check it and its area. */
static long rx_announce(struct pscom_shm_link *link, const void *run,
                        size_t len)
{
    struct pscom_shm_bulk *bk = link->bulk;
    struct ring_bulk_announce a;
    const char *why = NULL;
    void *base;

    if (ring_bulk_parse(run, len, &a, &why) < 0) {
        return bulk_fail(link, PSCOM_OP_READ, why);
    }
    if (((a.flags & RING_BULK_F_TRAILER) != 0) != (link->csum != 0)) {
        return bulk_fail(link, PSCOM_OP_READ,
                         "bulk announcement: checksum trailer flag differs "
                         "from the hand-shake");
    }
    base = bk->ops->resolve(link, a.off, a.len, &why);
    if (!base) {
        return bulk_fail(link, PSCOM_OP_READ, why);
    }
    if (ring_bulk_rx_begin(&bk->rx, base, &a) < 0) {
        return bulk_fail(link, PSCOM_OP_READ, ring_bulk_rx_reason(&bk->rx));
    }
    bk->rx_stage = PSCOM_BULK_RX_HEADER;
    return (long)sizeof(a);
}

/* The announced message's header and xheader: feed them, nothing else. */
static long rx_header(struct pscom_shm_link *link, const void *run, size_t len)
{
    struct pscom_shm_bulk *bk = link->bulk;
    pscom_con_t *con = link->con;
    const pscom_header_net_t *h;
    void *buf;
    size_t n;

    if (con->rx_state != PSCOM_RX_HEADER && con->rx_state != PSCOM_RX_XHEADER) {
        return bulk_fail(link, PSCOM_OP_READ, "parser not at a header");
    }
    pscom_con_read_get_buf(con, &buf, &n);
    if (n > len) {
        n = len;
    }
    pscom_con_read_feed(con, run, n);
    if (con_closed(con)) {
        return PSCOM_BULK_CLOSED;
    }
    if (con->rx_state == PSCOM_RX_XHEADER ||
        (con->rx_state == PSCOM_RX_HEADER && con->rx_have)) {
        return (long)n; /* more of the header in the next run */
    }
    h = (const pscom_header_net_t *)(const void *)con->rx_hbuf;
    if (con->rx_state == PSCOM_RX_HEADER ||
        h->data_len != ring_bulk_rx_left(&bk->rx)) {
        return bulk_fail(link, PSCOM_OP_READ,
                         "message length differs from the announcement");
    }
    bk->rx_stage = PSCOM_BULK_RX_DATA;
    return (long)n;
}

long pscom_shm_bulk_read_run(struct pscom_shm_link *link, const void *run,
                             size_t len)
{
    struct pscom_shm_bulk *bk = link->bulk;
    pscom_con_t *con = link->con;

    (void)con;
    /* pscom_shm_bulk_wants_run() said: a header stage, or an
     * announcement at a message boundary. */
    return bk->rx_stage == PSCOM_BULK_RX_HEADER ? rx_header(link, run, len)
                                                : rx_announce(link, run, len);
}

int pscom_shm_bulk_read_data(struct pscom_shm_link *link)
{
    struct pscom_shm_bulk *bk = link->bulk;
    pscom_con_t *con = link->con;
    int progress = 0;

    while (bk->rx_stage == PSCOM_BULK_RX_DATA) {
        const void *p;
        size_t l;
        int rc = ring_bulk_rx_peek(&bk->rx, &p, &l);

        if (rc < 0) {
            return bulk_fail(link, PSCOM_OP_READ, ring_bulk_rx_reason(&bk->rx));
        }
        if (rc == 0) {
            break;
        }
        /* Straight into the posted buffer (or the unexpected one); a
         * truncated rest is skipped. The sender cannot rewrite the slot
         * before we give it back. */
        pscom_con_read_feed(con, p, l);
        if (con_closed(con)) {
            return PSCOM_BULK_CLOSED;
        }
        ring_bulk_rx_consume(&bk->rx);
        if (ring_bulk_rx_left(&bk->rx) == 0) {
            bk->rx_stage = PSCOM_BULK_RX_NONE;
        }
        progress = 1;
    }
    return progress;
}

void pscom_shm_bulk_stop(struct pscom_shm_link *link)
{
    struct pscom_shm_bulk *bk = link->bulk;
    const char *why;

    if (!bk) {
        return;
    }
    if (bk->tx_have) {
        bk->ops->release(link, bk->tx_off, bk->tx_ptr,
                         ring_bulk_tx_drained(&bk->tx), bk->tx.nslots,
                         bk->tx.seq);
    }
    /* In the middle of the peer's message: it may free its area now.
     * Only if the area is still the peer's (a dead peer's frames may
     * belong to someone else by now). */
    if (bk->rx_stage != PSCOM_BULK_RX_NONE &&
        bk->ops->resolve(link, bk->rx.off,
                         ring_bulk_area_size(bk->rx.nslots, bk->rx.slot_size),
                         &why)) {
        ring_bulk_rx_detach(&bk->rx);
    }
    free(bk);
    link->bulk = NULL;
}
