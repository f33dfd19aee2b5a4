/*
 * shm_link.c -- the data path of the memory transports: a poller that
 * moves the connection's bytes between the request buffers and two rings,
 * and the control socket that tells us when the peer is gone.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bulk.h"
#include "pscom_priv.h"
#include "ring_copy.h"
#include "ring_crc.h"
#include "shm.h"

/* The connection outlives the link: after a close the link is freed but
 * the connection's state may still be read (plugin.h). */
static int con_closed(pscom_con_t *con)
{
    return (pscom_con_pub(con)->state & PSCOM_CON_STATE_CLOSED) != 0;
}

/* Log once and fail the connection; the link is freed on return. */
static void link_fail(struct pscom_shm_link *link, pscom_op_t op,
                      const char *what, const char *why)
{
    pscom_con_t *con = link->con;

    DPRINT(1, "pscom: %s: %s: %s", pscom_con_str(pscom_con_pub(con)), what,
           why ? why : "unknown error");
    pscom_con_error(con, op, PSCOM_ERR_IOERROR);
}

/* The lines of a run up to LINK_PREFETCH_MAX sit in the peer's cache:
 * ask for all of them at once, so they cross while the header is parsed
 * instead of one after the other as the copy reaches them. Longer runs
 * are streamed and the hardware prefetcher is ahead of us there. */
#define LINK_PREFETCH_MAX 2048u
static inline void link_prefetch(const void *run, size_t len)
{
    const char *p = run;

    if (len > LINK_PREFETCH_MAX) {
        len = LINK_PREFETCH_MAX;
    }
    for (size_t off = 64; off < len; off += 64) {
        __builtin_prefetch(p + off);
    }
}

/* Deliver what the ring holds. 1: progress, 0: none, -1: the connection
 * closed (the link may be freed: do not touch it). */
static int link_read(struct pscom_shm_link *link)
{
    pscom_con_t *con = link->con;
    int progress = 0;

    if (link->reading && pscom_shm_bulk_reading(link)) {
        /* A large message's data come before anything behind it. */
        int rc = pscom_shm_bulk_read_data(link);
        if (rc < 0) {
            return -1;
        }
        if (pscom_shm_bulk_reading(link)) {
            return rc;
        }
        progress = rc;
    }
    /* After a message, only look whether another one is there: the
     * ring's housekeeping waits for the next poll (ring_consumer_empty()). */
    while (link->reading && !(progress ? ring_consumer_empty(&link->rx)
                                       : ring_consumer_idle(&link->rx))) {
        const void *run;
        size_t len;
        int rc = ring_peek(&link->rx, &run, &len);

        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            link_fail(link, PSCOM_OP_READ, "receive ring",
                      ring_consumer_reason(&link->rx));
            return -1;
        }
        if (pscom_shm_bulk_wants_run(link, run, len)) {
            /* A large message's announcement or header: what it
             * takes is consumed here, its data follow from the area. */
            long taken = pscom_shm_bulk_read_run(link, run, len);
            if (taken < 0) {
                return -1;
            }
            if (taken > 0) {
                if (ring_consume(&link->rx, (size_t)taken) < 0) {
                    link_fail(link, PSCOM_OP_READ, "receive ring",
                              ring_consumer_reason(&link->rx));
                    return -1;
                }
                progress = 1;
                if (pscom_shm_bulk_reading(link)) {
                    if (pscom_shm_bulk_read_data(link) < 0) {
                        return -1;
                    }
                    if (pscom_shm_bulk_reading(link)) {
                        return progress;
                    }
                }
                continue;
            }
        }
        /* The core copies straight into the posted buffer (or parses the
         * header from a private copy); the run stays ours until consumed,
         * the producer cannot overwrite it meanwhile. */
        link_prefetch(run, len);
        pscom_con_read_feed(con, run, len);
        if (con_closed(con)) {
            return -1;
        }
        rc = ring_consume(&link->rx, len);
        if (rc < 0) {
            link_fail(link, PSCOM_OP_READ, "receive ring",
                      ring_consumer_reason(&link->rx));
            return -1;
        }
        progress = 1;
    }
    return progress;
}

/* The bulk area's turn at the head of the send queue: LINK_BULK_AGAIN
 * (bytes moved: ask for the iovecs again), LINK_BULK_RING (the ring
 * takes the message), or what the send loop returns (-1: closed; when
 * blocked *progress: the poller retries). */
enum { LINK_BULK_RING = 2, LINK_BULK_AGAIN = 3 };
static int link_write_bulk(struct pscom_shm_link *link, struct iovec iov[2],
                           int *progress)
{
    switch (pscom_shm_bulk_write(link, iov)) {
    case PSCOM_BULK_CLOSED:
        return -1;
    case PSCOM_BULK_BLOCKED:
        return *progress;
    case PSCOM_BULK_PROGRESS:
        *progress = 1;
        return LINK_BULK_AGAIN;
    default:
        return LINK_BULK_RING;
    }
}

/* link_write() with checksums on: every message goes out followed by
 * the CRC32C of its header, xheader and data, computed from the send
 * buffers when the message starts (what the receiver compares with what
 * it copied out of the ring, parser.c). The trailer rides with the
 * message's last bytes; when the ring is short it goes first next time.
 * A large message's data go through the bulk area, its CRC is summed
 * chunk by chunk there (bulk.c), its trailer follows in the ring. */
static int link_write_csum(struct pscom_shm_link *link)
{
    pscom_con_t *con = link->con;
    int progress = 0;
    struct iovec iov[3];
    size_t len;
    ssize_t n;

    for (;;) {
        size_t msg;

        if (link->tx_msg_left == 0 && link->tx_tail_left) {
            iov[0].iov_base = link->tx_trailer + sizeof(link->tx_trailer) -
                              link->tx_tail_left;
            iov[0].iov_len = link->tx_tail_left;
            n = ring_write(&link->tx, iov, 1);
            if (n <= 0) {
                break;
            }
            link->tx_tail_left -= (size_t)n;
            progress = 1;
            continue;
        }
        len = pscom_con_write_get_iov(con, iov);
        if (len == 0) {
            link->writing = 0;
            return progress;
        }
        /* A large message (or the rest of one) through the bulk area;
         * its trailer is set when its last chunk is in (bulk.c). */
        if (link->tx_msg_left == 0 && pscom_shm_bulk_wants(link, iov)) {
            int rc = link_write_bulk(link, iov, &progress);

            if (rc == LINK_BULK_AGAIN) {
                continue;
            }
            if (rc != LINK_BULK_RING) {
                return rc;
            }
        }
        if (link->tx_msg_left == 0) {
            uint32_t crc = ring_crc32c(0, iov[0].iov_base, iov[0].iov_len);

            crc = ring_crc32c(crc, iov[1].iov_base, iov[1].iov_len);
            memcpy(link->tx_trailer, &crc, sizeof(crc));
            link->tx_msg_left = len;
            link->tx_tail_left = sizeof(link->tx_trailer);
        } else if (len != link->tx_msg_left) {
            /* The CRC covers the message as it started. */
            link_fail(link, PSCOM_OP_WRITE, "send ring",
                      "message changed while it was being sent");
            return -1;
        }
        iov[2].iov_base = link->tx_trailer;
        iov[2].iov_len = sizeof(link->tx_trailer);
        n = ring_write(&link->tx, iov, 3);
        if (n <= 0) {
            break;
        }
        msg = (size_t)n < len ? (size_t)n : len;
        link->tx_msg_left -= msg;
        link->tx_tail_left -= (size_t)n - msg;
        pscom_con_write_done(con, msg);
        if (con_closed(con)) {
            return -1;
        }
        progress = 1;
    }
    if (n < 0) {
        link_fail(link, PSCOM_OP_WRITE, "send ring",
                  ring_producer_reason(&link->tx));
        return -1;
    }
    return progress; /* full: the poller retries */
}

/* Put queued sends into the peer's ring. Return values as link_read. */
static int link_write(struct pscom_shm_link *link)
{
    pscom_con_t *con = link->con;
    int progress = 0;
    struct iovec iov[2];
    size_t len;

    if (link->csum) {
        return link_write_csum(link);
    }
    while ((len = pscom_con_write_get_iov(con, iov)) > 0) {
        ssize_t n;

        if (pscom_shm_bulk_wants(link, iov)) {
            int rc = link_write_bulk(link, iov, &progress);

            if (rc == LINK_BULK_AGAIN) {
                continue;
            }
            if (rc != LINK_BULK_RING) {
                return rc;
            }
        }
        n = ring_write(&link->tx, iov, 2);

        if (n < 0) {
            link_fail(link, PSCOM_OP_WRITE, "send ring",
                      ring_producer_reason(&link->tx));
            return -1;
        }
        if (n == 0) {
            return progress; /* full: the poller retries */
        }
        pscom_con_write_done(con, (size_t)n);
        if (con_closed(con)) {
            return -1;
        }
        progress = 1;
    }
    link->writing = 0;
    return progress;
}

/* link_write(), then, with doorbells, ring the peer if it sleeps on
 * what we wrote. Return values as link_write. */
static int link_write_bell(struct pscom_shm_link *link)
{
    int rc = link_write(link);

    if (rc > 0 && link->bell && ring_producer_doorbell_needed(&link->tx) > 0) {
        link->bell->ring(link);
    }
    return rc;
}

static int link_poll(pscom_poller_t *poller)
{
    struct pscom_shm_link *link = poller->priv;
    int progress = 0;
    int rc;

    if (link->check) {
        const char *why = NULL;
        if (link->check(link, &why) < 0) {
            link_fail(link, PSCOM_OP_READ, "shared memory", why);
            return 1;
        }
    }
    /* The empty poll, what a waiter does over and over: the steps below
     * for an idle link (nothing to read or write, no large message on
     * its way), without link_read()'s frame. */
    if (link->reading && !link->writing && !pscom_shm_bulk_reading(link) &&
        !pscom_shm_bulk_holds(link) && ring_consumer_idle(&link->rx)) {
        if (ring_producer_idle(&link->tx) < 0) {
            link_fail(link, PSCOM_OP_WRITE, "send ring",
                      ring_producer_reason(&link->tx));
            return 1;
        }
        return 0;
    }
    rc = link_read(link);
    if (rc < 0) {
        return 1;
    }
    if (rc == 0 && ring_producer_idle(&link->tx) < 0) {
        /* Idle: learn the space given back now, not when the next
         * message finds the ring short (ring_producer_idle()). */
        link_fail(link, PSCOM_OP_WRITE, "send ring",
                  ring_producer_reason(&link->tx));
        return 1;
    }
    if (rc == 0 && !link->writing && pscom_shm_bulk_holds(link)) {
        pscom_shm_bulk_idle(link);
    }
    progress |= rc;
    if (link->writing) {
        rc = link_write_bell(link);
        if (rc < 0) {
            return 1;
        }
        progress |= rc;
    }
    return progress;
}

/* Before a sleep (pscom_poller_t.arm): only an idle link sleeps -- one
 * that writes waits for ring space and one in a large message waits for
 * bulk chunks, which no doorbell announces -- and only when the peer
 * rings us. */
static int link_arm(pscom_poller_t *poller)
{
    struct pscom_shm_link *link = poller->priv;

    if (!link->bell || link->writing || !link->reading ||
        pscom_shm_bulk_reading(link) || !link->bell->can_sleep(link)) {
        return -1;
    }
    return ring_consumer_arm(&link->rx) == 0 ? 0 : 1;
}

static void link_disarm(pscom_poller_t *poller)
{
    struct pscom_shm_link *link = poller->priv;

    ring_consumer_disarm(&link->rx);
}

void pscom_shm_link_set_bell(struct pscom_shm_link *link,
                             const struct pscom_shm_bell_ops *ops)
{
    link->bell = ops;
}

/* The control socket is readable: EOF (peer closed or died) or a
 * protocol error. Drain the ring first: the peer wrote everything it
 * sent before it closed the socket. */
static void link_ctl_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    struct pscom_shm_link *link = ufd->priv;
    char c;
    ssize_t n;

    (void)revents;
    if (link_read(link) < 0) {
        return;
    }
    n = recv(ufd->fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n > 0) {
        /* No byte travels on the control channel: even the suspend
         * protocol goes through the ring and ends here with EOF. */
        link_fail(link, PSCOM_OP_READ, "control socket", "unexpected data");
        return;
    }
    /* In a large message whose chunks stopped: the peer is gone with
     * them, and what waits behind it in the ring is unreachable. */
    if (n == 0 && link->reading && !pscom_shm_bulk_reading(link) &&
        ring_peek(&link->rx, &(const void *){0}, &(size_t){0}) > 0) {
        /* Flow control holds bytes back; EOF once they are read. */
        return;
    }
    pscom_con_error(link->con, PSCOM_OP_READ,
                    n == 0 ? PSCOM_ERR_EOF : PSCOM_ERR_IOERROR);
}

int pscom_shm_link_init(struct pscom_shm_link *link, pscom_con_t *con, void *tx,
                        size_t tx_len, void *rx, size_t rx_len,
                        pscom_shm_check_fn check, const char **why)
{
    int rc;

    memset(link, 0, sizeof(*link));
    link->con = con;
    link->check = check;
    link->reading = 1;
    link->ctl.fd = -1;
    rc = ring_attach_producer(&link->tx, tx, tx_len);
    if (rc < 0) {
        *why = ring_producer_reason(&link->tx);
        return rc;
    }
    rc = ring_attach_consumer(&link->rx, rx, rx_len);
    if (rc < 0) {
        *why = ring_consumer_reason(&link->rx);
        return rc;
    }
    ring_consumer_set_stall_ms(&link->rx, pscom_env.shm_stall_ms);
    return 0;
}

int pscom_shm_link_start(struct pscom_shm_link *link)
{
    int rc;

    link->ctl.fd = pscom_con_get_fd(link->con);
    link->ctl.events = EPOLLIN;
    link->ctl.cb = link_ctl_cb;
    link->ctl.priv = link;
    if (link->ctl.fd >= 0) {
        rc = pscom_ufd_add(&link->ctl);
        if (rc < 0) {
            /* The core closes the socket when start() fails. */
            link->ctl.fd = -1;
            return rc;
        }
    }
    link->poller.poll = link_poll;
    link->poller.priv = link;
    if (link->bell) {
        link->poller.arm = link_arm;
        link->poller.disarm = link_disarm;
    }
    /* The parser checks trailers from the first byte on this link. */
    link->con->csum = link->csum;
    link->con->rx_crc = 0;
    pscom_poller_start(&link->poller);
    return 0;
}

int pscom_shm_checksum_wanted(void)
{
    return pscom_env.mem_checksum != 0;
}

void pscom_shm_link_checksum(struct pscom_shm_link *link, int on)
{
    link->csum = on != 0;
}

void pscom_shm_link_write_start(struct pscom_shm_link *link)
{
    link->writing = 1;
    /* Write at once: latency. What does not fit goes from the poller. */
    link_write_bell(link);
}

int pscom_shm_link_write_now(struct pscom_shm_link *link,
                             const pscom_header_net_t *h, const void *xheader,
                             const void *data)
{
    /* Large messages are the bulk path's (pscom_shm_bulk_wants()), and
     * what is longer than a chunk of the ring ring_reserve_whole()
     * refuses. An error is left to the queued path, which logs it. */
    const struct pscom_shm_bulk *bk = link->bulk;
    size_t xl = h->xheader_len;
    size_t dl = h->data_len;
    size_t n = sizeof(*h) + xl + dl;
    unsigned char *dst;

    if (link->csum || (bk && dl >= bk->threshold) || (xl && !xheader) ||
        (dl && !data)) {
        return 0;
    }
    /* Straight into the ring, each part copied once (inline for the few
     * bytes of a small message). */
    dst = ring_reserve_whole(&link->tx, n);
    if (!dst) {
        return 0;
    }
    memcpy(dst, h, sizeof(*h));
    ring_copy(dst + sizeof(*h), xheader, xl);
    if (dl) {
        ring_copy(dst + sizeof(*h) + xl, data, dl);
    }
    ring_commit_whole(&link->tx, n);
    if (link->bell && ring_producer_doorbell_needed(&link->tx) > 0) {
        link->bell->ring(link);
    }
    return 1;
}

void pscom_shm_link_read_enable(struct pscom_shm_link *link, int on)
{
    link->reading = on;
}

void pscom_shm_link_stop(struct pscom_shm_link *link)
{
    /* The connection may go on over another transport (a resume). */
    if (link->con) {
        link->con->csum = 0;
    }
    pscom_poller_stop(&link->poller);
    pscom_shm_bulk_stop(link);
    if (link->ctl.registered) {
        pscom_ufd_del(&link->ctl);
    }
    if (link->ctl.fd >= 0) {
        /* Our sends are in the ring; the peer drains it on this EOF. */
        close(link->ctl.fd);
        link->ctl.fd = -1;
    }
}

int pscom_shm_op_start(pscom_con_t *con)
{
    return pscom_shm_link_start(pscom_con_get_priv(con));
}

void pscom_shm_op_write_start(pscom_con_t *con)
{
    pscom_shm_link_write_start(pscom_con_get_priv(con));
}

int pscom_shm_op_write_now(pscom_con_t *con, const pscom_header_net_t *h,
                           const void *xheader, const void *data)
{
    return pscom_shm_link_write_now(pscom_con_get_priv(con), h, xheader, data);
}

void pscom_shm_op_read_stop(pscom_con_t *con)
{
    pscom_shm_link_read_enable(pscom_con_get_priv(con), 0);
}

void pscom_shm_op_read_start(pscom_con_t *con)
{
    pscom_shm_link_read_enable(pscom_con_get_priv(con), 1);
}
