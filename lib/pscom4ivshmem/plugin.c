/*
 * plugin.c -- pscom_plugin_ivshmem: connections between processes that
 * see the same ivshmem segment (different VMs on one host, or host
 * processes mapping the server's object). The hand-shake exchanges each
 * side's receive area; the data path is the core's ring link (shm.h),
 * the same one the built-in shm transport uses.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ivshmem.h"

struct ivshmem_con {
    struct pscom_shm_link link; /* first: the pscom_shm_op_* use it */
    uint64_t rx_off;            /* our area (allocated by us) */
    uint64_t rx_len;
    uint32_t peer_owner;
    unsigned epoch;               /* our membership that owns rx_off */
    struct ivshmem_ctl *peer_ctl; /* the peer's area, validated */
    int linked;                   /* link_init done: the peer may write */
    unsigned polls;               /* paces the peer liveness check */
    uint64_t bulk_seen;           /* the peer's bulk area whose every frame
                               word was checked (0: none) */
    struct ivshmem_ctl *rx_ctl;   /* our area's control line */
    unsigned bell_gen;            /* our doorbell the peer rings (0: none) */
    int can_ring;                 /* we ring the peer's doorbell: */
    uint16_t bell_peer;           /*   its peer id */
    uint16_t bell_vec;            /*   and vector */
};

/* Polls between two looks at our own and the peer's membership. */
#define PEER_CHECK_EVERY 256u

static int ivshmem_init(char *reason)
{
    (void)reason;
    /* Discovery waits for the first connection: processes that never
     * connect never touch the segment. */
    return 0;
}

static void ivshmem_destroy(void)
{
    ivshmem_seg_shutdown();
}

/* Resume after a migration: the device may be gone or another segment.
 * Leave, and discover again on the next offer/accept -- once no
 * connection uses the segment any more (a suspend that did not drain
 * leaves connections running: they keep it mapped). */
static void ivshmem_reprobe(void)
{
    ivshmem_seg_reprobe();
}

/* Allocate our receive area and describe it in *m. */
static int area_alloc(pscom_con_t *con, struct shmseg *seg,
                      struct ivshmem_msg *m, char *reason)
{
    struct ivshmem_con *ic = calloc(1, sizeof(*ic));
    struct shmseg_member *me = ivshmem_seg_member();
    uint64_t len = ivshmem_area_len(seg);
    uint64_t off;
    int rc;

    if (!ic) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "out of memory");
        return -1;
    }
    rc = shmseg_alloc(me, shmseg_frames_for(seg, len), SHMSEG_TAG_RING, &off);
    if (rc < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "no receive ring in segment %s: %s", seg->name,
                 shmseg_strerror(rc));
        free(ic);
        return -1;
    }
    memset(shmseg_ptr(seg, off), 0, sizeof(struct ivshmem_ctl));
    /* The ring is laid out before the peer learns where it is. */
    ring_init((char *)shmseg_ptr(seg, off) + sizeof(struct ivshmem_ctl),
              len - sizeof(struct ivshmem_ctl));
    ic->rx_off = off;
    ic->rx_len = len;
    ic->rx_ctl = shmseg_ptr(seg, off);
    ic->epoch = ivshmem_seg_epoch();
    ivshmem_seg_hold();
    *m = (struct ivshmem_msg){
        .magic = IVSHMEM_MSG_MAGIC,
        .version = IVSHMEM_MSG_VERSION,
        .ring_version = RING_VERSION,
        .owner = shmseg_member_owner(me),
        .flags = pscom_shm_checksum_wanted() ? IVSHMEM_MSG_F_CHECKSUM : 0,
        .off = off,
        .len = len,
    };
    memcpy(m->uuid, seg->uuid, sizeof(m->uuid));
    pscom_con_set_priv(con, ic);
    return 0;
}

/* Free our area right away: the peer never wrote into it. */
static void ivshmem_abort(pscom_con_t *con)
{
    struct ivshmem_con *ic = pscom_con_get_priv(con);

    if (!ic) {
        return;
    }
    ivshmem_seg_free(ic->epoch, ic->rx_off);
    free(ic);
    pscom_con_set_priv(con, NULL);
    ivshmem_seg_put();
}

/* A broken segment membership fails every connection through it: ours
 * (we own no frames any more) or the peer's (its receive area was
 * reclaimed and may be handed to someone else: stop writing into it). */
static int check_member(struct pscom_shm_link *link, const char **why)
{
    struct ivshmem_con *ic = (struct ivshmem_con *)link;

    /* Called from every poll of the connection: check every
     * PEER_CHECK_EVERY polls only. A check cannot close the window
     * between itself and the next ring access anyway (the owner timeout
     * is seconds, far longer than these polls), and on the fast path it
     * cost a tenth of an empty poll. */
    if (++ic->polls % PEER_CHECK_EVERY) {
        return 0;
    }
    /* A later membership of ours does not bring this one's frames back:
     * the server reclaimed them, and with a re-initialised segment our
     * ring offsets mean nothing any more. */
    if (!ivshmem_seg_member_ok(ic->epoch, why)) {
        return -1;
    }
    if (!ivshmem_seg_peer_live(ic->peer_owner)) {
        *why = "the peer lost its segment membership (evicted or dead)";
        return -1;
    }
    return 0;
}

/* ---- bulk areas (shm.h, struct pscom_shm_bulk_ops) ---------------------- */

/* Our bulk area: frames of the segment, tagged and owned by us, so the
 * server reclaims them if we die in the middle of a message. */
static int bulk_acquire(struct pscom_shm_link *link, uint64_t len,
                        uint64_t *off, void **ptr, const char **why)
{
    struct ivshmem_con *ic = (struct ivshmem_con *)link;
    char reason[PSCOM_PLUGIN_REASON_MAX];
    struct shmseg *seg;
    int rc;

    if (!ivshmem_seg_member_ok(ic->epoch, why) ||
        !(seg = ivshmem_seg_get(reason))) {
        *why = "no segment membership";
        return -1;
    }
    rc = shmseg_alloc(ivshmem_seg_member(), shmseg_frames_for(seg, len),
                      SHMSEG_TAG_BULK, off);
    if (rc < 0) {
        *why = rc == -SHMSEG_ENOSPC ? "segment full" : shmseg_strerror(rc);
        return -1;
    }
    *ptr = shmseg_ptr(seg, *off);
    return 0;
}

static void bulk_release(struct pscom_shm_link *link, uint64_t off, void *ptr,
                         int drained, uint32_t nslots, uint64_t seq)
{
    struct ivshmem_con *ic = (struct ivshmem_con *)link;

    (void)ptr;
    if (drained) {
        ivshmem_seg_free(ic->epoch, off);
    } else {
        ivshmem_seg_release_bulk(ic->epoch, off, ic->peer_owner, nslots, seq);
    }
}

/* The announced area must be a run the allocator records as the peer's
 * bulk area, at least len bytes: a forged head word cannot make us
 * read or write frames of others (every word is checked the first time
 * an area is seen, the head on every announcement). */
static void *bulk_resolve(struct pscom_shm_link *link, uint64_t off,
                          uint64_t len, const char **why)
{
    struct ivshmem_con *ic = (struct ivshmem_con *)link;
    char reason[PSCOM_PLUGIN_REASON_MAX];
    struct shmseg_alloc_info ai;
    struct shmseg *seg;

    /* Membership first: with it valid, getting the segment is a load. */
    if (!ivshmem_seg_member_ok(ic->epoch, why) ||
        !(seg = ivshmem_seg_get(reason))) {
        *why = "no segment membership";
        return NULL;
    }
    if (shmseg_alloc_get(seg, off, off != ic->bulk_seen, &ai) < 0) {
        *why = "announced area is no allocation of the segment";
        return NULL;
    }
    if (ai.owner != ic->peer_owner || ai.tag != SHMSEG_TAG_BULK ||
        !ai.owner_live || len > (uint64_t)ai.nframes * seg->frame_size) {
        *why = "announced area is not the peer's bulk area";
        return NULL;
    }
    ic->bulk_seen = off;
    return shmseg_ptr(seg, off);
}

static const struct pscom_shm_bulk_ops ivshmem_bulk_ops = {
    .acquire = bulk_acquire,
    .release = bulk_release,
    .resolve = bulk_resolve,
};

/* ---- doorbells (shm.h, struct pscom_shm_bell_ops) ----------------------- */

/* The peer sleeps on its ring and asked for a doorbell. */
static void bell_ring_peer(struct pscom_shm_link *link)
{
    struct ivshmem_con *ic = (struct ivshmem_con *)link;

    if (ic->can_ring && ivshmem_bell_ring(ic->bell_peer, ic->bell_vec) < 0) {
        /* Its eventfd is gone: the peer left the server (died). Its
         * control socket tells us; until then the ring is polled. */
        ic->can_ring = 0;
    }
}

/* We may sleep on our ring once the peer promised to ring us. */
static int bell_can_sleep(struct pscom_shm_link *link)
{
    struct ivshmem_con *ic = (struct ivshmem_con *)link;

    /* Our doorbell must still be the one the peer learnt of: after a
     * reprobe it is gone or another (we would sleep unheard). */
    return ic->bell_gen != 0 && ic->bell_gen == ivshmem_bell_gen() &&
           atomic_load_explicit(&ic->rx_ctl->bell, memory_order_acquire) == 1;
}

static const struct pscom_shm_bell_ops ivshmem_bell_ops = {
    .ring = bell_ring_peer,
    .can_sleep = bell_can_sleep,
};

/* With a doorbell of our own: ring the peer's when its participant slot
 * names one the server gave us an eventfd for, and promise it so in its
 * control line (then it may sleep on the ring we write). */
static void link_bell(struct ivshmem_con *ic, const struct shmseg *seg,
                      struct ivshmem_ctl *peer_ctl)
{
    uint16_t peer, vec;

    if (ivshmem_bell_id() < 0) {
        return;
    }
    pscom_shm_link_set_bell(&ic->link, &ivshmem_bell_ops);
    ic->bell_gen = ivshmem_bell_gen();
    if (shmseg_owner_doorbell(seg, ic->peer_owner, &peer, &vec) < 0 ||
        !ivshmem_bell_reachable(peer, vec)) {
        pscom_debug(2,
                    "ivshmem: peer owner %#x has no doorbell we can "
                    "ring: it polls for our messages",
                    (unsigned)ic->peer_owner);
        return;
    }
    ic->bell_peer = peer;
    ic->bell_vec = vec;
    ic->can_ring = 1;
    atomic_store_explicit(&peer_ctl->bell, 1, memory_order_release);
}

/* Validate the peer's message (its OFFER, or with is_reply its ACCEPT)
 * and join both areas to the link. The checksum is on when either side
 * asked: the accepting side ORs the offer's flag into its reply, so a
 * reply without it to our asking is a peer that cannot. */
static int link_peer(pscom_con_t *con, struct shmseg *seg, const void *blob,
                     size_t len, int is_reply, char *reason)
{
    int csum;
    struct ivshmem_con *ic = pscom_con_get_priv(con);
    struct ivshmem_msg m;
    const char *why = NULL;
    char *peer;

    if (ivshmem_msg_parse(blob, len, &m, reason, PSCOM_PLUGIN_REASON_MAX) ||
        ivshmem_msg_check(seg, &m, reason, PSCOM_PLUGIN_REASON_MAX)) {
        return -1;
    }
    csum = (m.flags & IVSHMEM_MSG_F_CHECKSUM) != 0;
    if (is_reply && pscom_shm_checksum_wanted() && !csum) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "peer refused the per-message checksum we asked for");
        return -1;
    }
    csum |= pscom_shm_checksum_wanted();
    peer = shmseg_ptr(seg, m.off);
    if (pscom_shm_link_init(&ic->link, con, peer + sizeof(struct ivshmem_ctl),
                            m.len - sizeof(struct ivshmem_ctl),
                            (char *)shmseg_ptr(seg, ic->rx_off) +
                                sizeof(struct ivshmem_ctl),
                            ic->rx_len - sizeof(struct ivshmem_ctl),
                            check_member, &why) < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "peer's ring: %s",
                 why ? why : "invalid");
        return -1;
    }
    pscom_shm_link_checksum(&ic->link, csum);
    /* With the checksum too: it covers the bulk data (bulk.c). */
    if (pscom_shm_link_set_bulk(&ic->link, &ivshmem_bulk_ops) < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "out of memory");
        return -1;
    }
    ic->peer_owner = m.owner;
    ic->peer_ctl = (struct ivshmem_ctl *)peer;
    ic->linked = 1;
    link_bell(ic, seg, ic->peer_ctl);
    return 0;
}

static int ivshmem_offer(pscom_con_t *con, void *blob, size_t *blob_len,
                         char *reason)
{
    struct shmseg *seg = ivshmem_seg_get(reason);
    struct ivshmem_msg m;

    if (!seg || area_alloc(con, seg, &m, reason) < 0) {
        return -1;
    }
    memcpy(blob, &m, sizeof(m));
    *blob_len = sizeof(m);
    return 0;
}

static int ivshmem_accept(pscom_con_t *con, const void *offer, size_t offer_len,
                          void *reply, size_t *reply_len, char *reason)
{
    struct shmseg *seg = ivshmem_seg_get(reason);
    struct ivshmem_msg m;

    /* Check the offer before allocating anything. */
    if (!seg ||
        ivshmem_msg_parse(offer, offer_len, &m, reason,
                          PSCOM_PLUGIN_REASON_MAX) ||
        ivshmem_msg_check(seg, &m, reason, PSCOM_PLUGIN_REASON_MAX) ||
        area_alloc(con, seg, &m, reason) < 0) {
        return -1;
    }
    if (link_peer(con, seg, offer, offer_len, 0, reason) < 0) {
        ivshmem_abort(con);
        return -1;
    }
    if (((struct ivshmem_con *)pscom_con_get_priv(con))->link.csum) {
        m.flags |= IVSHMEM_MSG_F_CHECKSUM;
    }
    memcpy(reply, &m, sizeof(m));
    *reply_len = sizeof(m);
    return 0;
}

static int ivshmem_finish(pscom_con_t *con, const void *reply, size_t reply_len,
                          char *reason)
{
    struct shmseg *seg = ivshmem_seg_get(reason);

    return seg ? link_peer(con, seg, reply, reply_len, 1, reason) : -1;
}

static void ivshmem_close(pscom_con_t *con)
{
    struct ivshmem_con *ic = pscom_con_get_priv(con);
    const char *why;

    if (!ic) {
        return;
    }
    pscom_shm_link_stop(&ic->link);
    if (ivshmem_seg_member_ok(ic->epoch, &why)) {
        /* Release: our last write into the peer's ring happens before
         * the peer sees the flag and frees its area. A peer that lost
         * its membership lost its area too: do not write there. */
        if (ivshmem_seg_peer_live(ic->peer_owner)) {
            atomic_store_explicit(&ic->peer_ctl->detached, 1,
                                  memory_order_release);
        }
        ivshmem_seg_release(ic->epoch, ic->rx_off, ic->peer_owner);
    }
    free(ic);
    pscom_con_set_priv(con, NULL);
    /* Last: a deferred reprobe may unmap the segment now. */
    ivshmem_seg_put();
}

const pscom_plugin_t pscom_plugin_ivshmem = {
    .version = PSCOM_PLUGIN_VERSION,
    .name = "ivshmem",
    .con_type = PSCOM_CON_TYPE_IVSHMEM,
    .default_priority = 80,
    .flags = PSCOM_PLUGIN_F_OWNS_FD,
    .env_rows = ivshmem_env_rows,
    .env_rows_count = IVSHMEM_ENV_ROWS,
    .init = ivshmem_init,
    .destroy = ivshmem_destroy,
    .offer = ivshmem_offer,
    .accept = ivshmem_accept,
    .finish = ivshmem_finish,
    .abort = ivshmem_abort,
    .start = pscom_shm_op_start,
    .write_start = pscom_shm_op_write_start,
    .write_now = pscom_shm_op_write_now,
    .read_stop = pscom_shm_op_read_stop,
    .read_start = pscom_shm_op_read_start,
    .close = ivshmem_close,
    .reprobe = ivshmem_reprobe,
};
