/*
 * parser.c -- the receive side: one parser per connection turns the byte
 * stream of any transport into messages, matches them and places the data
 * straight into the posted receive buffer (or one unexpected buffer).
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pscom_priv.h"
#include "ring_copy.h"
#include "ring_crc.h"

#define HBUF_INLINE (sizeof(pscom_header_net_t) + 64)

/* Truncated data is read here and dropped; contents never matter. */
static char discard_buf[16384];

void pscom_rx_init(struct pscom_con *con)
{
    con->rx_state = PSCOM_RX_HEADER;
    con->rx_have = 0;
    con->rx_req = NULL;
    con->rx_unexp = NULL;
    con->rx_crc = 0;
    con->rx_csum_susp = 0;
    if (!con->rx_hbuf) {
        con->rx_hbuf = malloc(HBUF_INLINE);
        con->rx_hbuf_size = con->rx_hbuf ? HBUF_INLINE : 0;
    }
}

void pscom_rx_cleanup(struct pscom_con *con)
{
    free(con->rx_hbuf);
    con->rx_hbuf = NULL;
    con->rx_hbuf_size = 0;
}

int pscom_header_check(const pscom_header_net_t *h)
{
    switch (h->msg_type) {
    case PSCOM_MSGTYPE_USER:
        return 0;
    case PSCOM_MSGTYPE_BCAST:
    case PSCOM_MSGTYPE_BARRIER:
        if (h->xheader_len < sizeof(pscom_xheader_bcast_t)) {
            DPRINT(1,
                   "pscom: protocol error: group message with a %u byte "
                   "xheader",
                   (unsigned)h->xheader_len);
            return -EPROTO;
        }
        return 0;
    case PSCOM_MSGTYPE_RMA_WRITE:
    case PSCOM_MSGTYPE_RMA_READ_ANSWER:
        /* Both carry a pointer-sized member first (dest, id). */
        if (h->xheader_len < sizeof(void *)) {
            DPRINT(1,
                   "pscom: protocol error: RMA message with a %u byte "
                   "xheader",
                   (unsigned)h->xheader_len);
            return -EPROTO;
        }
        return 0;
    case PSCOM_MSGTYPE_RMA_READ:
        if (h->xheader_len < sizeof(pscom_xheader_rma_read_t) || h->data_len) {
            DPRINT(1, "pscom: protocol error: bad RMA read request");
            return -EPROTO;
        }
        return 0;
    case PSCOM_MSGTYPE_EOF:
    case PSCOM_MSGTYPE_SUSPEND:
        if (h->xheader_len || h->data_len) {
            DPRINT(1, "pscom: protocol error: EOF message with payload");
            return -EPROTO;
        }
        return 0;
    default:
        DPRINT(1,
               "pscom: protocol error: unknown message type %u "
               "(xheader %u, data %u bytes)",
               (unsigned)h->msg_type, (unsigned)h->xheader_len,
               (unsigned)h->data_len);
        return -EPROTO;
    }
}

/* pscom_req_prepare_recv(), inline in the parser's path of a whole
 * small message (msg_whole_to_req()). */
static inline void prepare_recv(struct pscom_req *req, struct pscom_con *con,
                                const pscom_header_net_t *h)
{
    size_t xl = h->xheader_len;
    size_t dl = h->data_len;

    req->pub.connection = &con->pub;
    req->pub.socket = &con->sock->pub;
    req->pub.header = *h;
    if (xl > req->pub.xheader_len) {
        xl = req->pub.xheader_len;
        req->pub.state |= PSCOM_REQ_STATE_TRUNCATED;
    }
    ring_copy(&req->pub.xheader, h->xheader, xl);
    /* 0x0200: xheader_len and data_len stay as posted (programs check a
     * guard at data[data_len]); the sent lengths are in pub.header. */
    if (dl > req->pub.data_len) {
        req->skip = dl - req->pub.data_len;
        dl = req->pub.data_len;
        req->pub.state |= PSCOM_REQ_STATE_TRUNCATED;
    } else {
        req->skip = 0;
    }
    req->rx_data = (unsigned int)dl;
    req->pub.state |= PSCOM_REQ_STATE_IO_STARTED;
}

void pscom_req_prepare_recv(struct pscom_req *req, struct pscom_con *con,
                            const pscom_header_net_t *h)
{
    prepare_recv(req, con, h);
}

/* The whole message is in: complete whoever waits for it. */
static void msg_end(struct pscom_con *con)
{
    con->msgs_recvd++;
    if (con->rx_req) {
        struct pscom_req *req = con->rx_req;
        con->rx_req = NULL;
        req->flags &= ~PSCOM_REQ_F_QUEUED;
        pscom_req_complete(req);
    } else if (con->rx_unexp) {
        struct pscom_unexp *ux = con->rx_unexp;
        con->rx_unexp = NULL;
        ux->complete = 1;
        if (ux->req) {
            ux->req->flags &= ~(PSCOM_REQ_F_UNEXP | PSCOM_REQ_F_QUEUED);
            pscom_unexp_deliver(ux, ux->req);
        }
    }
    con->rx_state = PSCOM_RX_HEADER;
    con->rx_have = 0;
}

/* The message's last byte is in. With checksums on (con->csum) its
 * trailer decides first: nothing is delivered that did not arrive as it
 * was sent. */
static void msg_done(struct pscom_con *con)
{
    if (con->csum) {
        con->rx_state = PSCOM_RX_CSUM;
        con->rx_have = 0;
        return;
    }
    msg_end(con);
}

/* The trailer is in: compare, then finish the message (or the SUSPEND
 * it belongs to). A mismatch means the memory between the two copies
 * changed: fail this connection, with the values for the log. */
static void msg_checked(struct pscom_con *con)
{
    uint32_t sent;
    uint32_t got = con->rx_crc;

    memcpy(&sent, con->rx_trailer, sizeof(sent));
    con->rx_crc = 0;
    if (sent != got) {
        DPRINT(0,
               "pscom: %s: message checksum mismatch (CRC32C sent "
               "0x%08x, received 0x%08x): the shared memory was changed "
               "under the connection; closing it",
               pscom_con_str(&con->pub), (unsigned)sent, (unsigned)got);
        pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_IOERROR);
        return;
    }
    if (con->rx_csum_susp) {
        con->rx_csum_susp = 0;
        con->rx_state = PSCOM_RX_HEADER;
        con->rx_have = 0;
        pscom_susp_rx(con);
        return;
    }
    msg_end(con);
}

/* Inline: on the path of every message (feed_whole(), msg_begin()). */
static inline struct pscom_req *find_receiver(struct pscom_con *con,
                                              pscom_header_net_t *h)
{
    struct pscom_sock *sock = con->sock;
    struct list_head *pos;

    if (h->msg_type == PSCOM_MSGTYPE_RMA_WRITE ||
        h->msg_type == PSCOM_MSGTYPE_RMA_READ) {
        return pscom_rma_passive_req(con, h);
    }
    if (h->msg_type == PSCOM_MSGTYPE_USER && sock->pub.ops.default_recv) {
        pscom_request_t *r = sock->pub.ops.default_recv(&con->pub, h);
        if (r) {
            struct pscom_req *req = pscom_req_of(r);
            r->state = PSCOM_REQ_STATE_RECV_REQUEST | PSCOM_REQ_STATE_POSTED;
            return req;
        }
    }
    list_for_each(pos, &sock->recvq)
    {
        struct pscom_req *req = list_entry(pos, struct pscom_req, next);
        if (pscom_req_match(req, con, h)) {
            list_del(&req->next);
            return req;
        }
    }
    return NULL;
}

/* The message whose header is in con->rx_hbuf goes to req. */
static void msg_to_req(struct pscom_con *con, struct pscom_req *req)
{
    pscom_header_net_t *h = (pscom_header_net_t *)(void *)con->rx_hbuf;

    req->flags |= PSCOM_REQ_F_QUEUED;
    pscom_req_prepare_recv(req, con, h);
    con->rx_req = req;
    if (req->rx_data) {
        con->rx_state = PSCOM_RX_DATA;
        con->rx_dst = req->pub.data;
        con->rx_left = req->rx_data;
    } else if (req->skip) {
        con->rx_state = PSCOM_RX_SKIP;
        con->rx_left = req->skip;
    } else {
        msg_done(con);
    }
}

/* The message whose header is in con->rx_hbuf has no receiver: keep it.
 * One allocation holds header, xheader and data. */
static void msg_unexpected(struct pscom_con *con)
{
    pscom_header_net_t *h = (pscom_header_net_t *)(void *)con->rx_hbuf;
    struct pscom_unexp *ux;

    ux = malloc(sizeof(*ux) + h->xheader_len + (size_t)h->data_len);
    if (!ux) {
        DPRINT(0,
               "pscom: %s: out of memory for an unexpected message of "
               "%u bytes",
               pscom_con_str(&con->pub), (unsigned)h->data_len);
        pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_STDERROR);
        return;
    }
    memcpy(&ux->header, h, sizeof(*h) + h->xheader_len);
    ux->data = (char *)ux->header.xheader + h->xheader_len;
    ux->con = con;
    ux->req = NULL;
    ux->received = 0;
    ux->complete = 0;
    list_add_tail(&ux->next, &con->sock->unexpq);
    pscom_g.stat_unexp++;
    con->rx_unexp = ux;
    if (h->data_len) {
        con->rx_state = PSCOM_RX_DATA;
        con->rx_dst = ux->data;
        con->rx_left = h->data_len;
    } else {
        msg_done(con);
    }
}

/* 1 if a posted receive may take messages of con (its own or ANY). */
static int receive_waits_on(struct pscom_con *con)
{
    struct list_head *pos;

    list_for_each(pos, &con->sock->recvq)
    {
        struct pscom_req *req = list_entry(pos, struct pscom_req, next);

        if (!req->pub.connection || req->pub.connection == &con->pub) {
            return 1;
        }
    }
    return 0;
}

/* The message whose header is in con->rx_hbuf has no receiver: keep it
 * as unexpected, or hold it back (PSP_UNEXPECTED_RECEIVES=0). */
static void msg_no_receiver(struct pscom_con *con)
{
    pscom_header_net_t *h = (pscom_header_net_t *)(void *)con->rx_hbuf;

    if (!pscom_env.unexpected_receives && h->msg_type == PSCOM_MSGTYPE_USER &&
        !receive_waits_on(con)) {
        /* Nobody waits on this connection: leave the data where it is
         * (in the kernel, for tcp) until a receive for it is posted. */
        con->rx_state = PSCOM_RX_BLOCKED;
        if (con->plugin && con->plugin->read_stop) {
            con->plugin->read_stop(con);
        }
        return;
    }
    msg_unexpected(con);
}

/* Header and xheader are in con->rx_hbuf: decide where the data goes. */
static void msg_begin(struct pscom_con *con)
{
    pscom_header_net_t *h = (pscom_header_net_t *)(void *)con->rx_hbuf;
    struct pscom_req *req;

    if (h->msg_type == PSCOM_MSGTYPE_EOF) {
        DPRINT(2, "pscom: %s: EOF from peer", pscom_con_str(&con->pub));
        con->rx_state = PSCOM_RX_HEADER;
        con->rx_have = 0;
        pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_EOF);
        return;
    }
    if (h->msg_type == PSCOM_MSGTYPE_SUSPEND) {
        if (con->csum) {
            /* Its trailer first (msg_checked()). */
            con->rx_csum_susp = 1;
            con->rx_state = PSCOM_RX_CSUM;
            con->rx_have = 0;
            return;
        }
        /* Everything the peer sent before it is in. */
        con->rx_state = PSCOM_RX_HEADER;
        con->rx_have = 0;
        pscom_susp_rx(con);
        return;
    }
    req = find_receiver(con, h);
    if (req) {
        msg_to_req(con, req);
        return;
    }
    msg_no_receiver(con);
}

struct pscom_con *pscom_rx_blocked_find(struct pscom_sock *sock,
                                        struct pscom_req *req)
{
    struct list_head *pos;

    list_for_each(pos, &sock->cons)
    {
        struct pscom_con *con = list_entry(pos, struct pscom_con, next);

        if (con->rx_state == PSCOM_RX_BLOCKED &&
            pscom_req_match(req, con,
                            (pscom_header_net_t *)(void *)con->rx_hbuf)) {
            return con;
        }
    }
    return NULL;
}

int pscom_rx_blocked_take(struct pscom_sock *sock, struct pscom_req *req)
{
    struct pscom_con *con = pscom_rx_blocked_find(sock, req);
    struct list_head *pos, *n;

    if (con) {
        msg_to_req(con, req);
        if (con->plugin && con->plugin->read_start) {
            con->plugin->read_start(con);
        }
        return 1;
    }
    /* Somebody waits on these connections now: read them again, keeping
     * the held message (it is not for req) like any unexpected one, so
     * that what req wants, behind it in the stream, can arrive. */
    list_for_each_safe(pos, n, &sock->cons)
    {
        con = list_entry(pos, struct pscom_con, next);
        if (con->rx_state != PSCOM_RX_BLOCKED ||
            (req->pub.connection && req->pub.connection != &con->pub)) {
            continue;
        }
        msg_unexpected(con);
        if (con->plugin && con->plugin->read_start &&
            !(con->pub.state & PSCOM_CON_STATE_CLOSED)) {
            con->plugin->read_start(con);
        }
    }
    return 0;
}

static int header_done(struct pscom_con *con)
{
    pscom_header_net_t *h = (pscom_header_net_t *)(void *)con->rx_hbuf;
    size_t need = sizeof(*h) + h->xheader_len;

    if (pscom_header_check(h)) {
        DPRINT(1, "pscom: %s: closing connection after a bad message header",
               pscom_con_str(&con->pub));
        pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_IOERROR);
        return -1;
    }
    if (need > con->rx_hbuf_size) {
        char *nb = realloc(con->rx_hbuf, need);
        if (!nb) {
            pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_STDERROR);
            return -1;
        }
        con->rx_hbuf = nb;
        con->rx_hbuf_size = need;
    }
    return 0;
}

void pscom_con_read_get_buf(pscom_con_t *con, void **buf, size_t *len)
{
    pscom_header_net_t *h = (pscom_header_net_t *)(void *)con->rx_hbuf;

    switch (con->rx_state) {
    case PSCOM_RX_HEADER:
        *buf = con->rx_hbuf + con->rx_have;
        *len = sizeof(*h) - con->rx_have;
        return;
    case PSCOM_RX_XHEADER:
        *buf = con->rx_hbuf + con->rx_have;
        *len = sizeof(*h) + h->xheader_len - con->rx_have;
        return;
    case PSCOM_RX_DATA:
        *buf = con->rx_dst;
        *len = con->rx_left;
        return;
    case PSCOM_RX_SKIP:
        *buf = discard_buf;
        *len = con->rx_left < sizeof(discard_buf) ? con->rx_left
                                                  : sizeof(discard_buf);
        return;
    case PSCOM_RX_BLOCKED:
        *buf = NULL;
        *len = 0;
        return;
    case PSCOM_RX_CSUM:
        *buf = con->rx_trailer + con->rx_have;
        *len = sizeof(con->rx_trailer) - con->rx_have;
        return;
    }
}

void pscom_con_read_done(pscom_con_t *con, size_t len)
{
    pscom_header_net_t *h = (pscom_header_net_t *)(void *)con->rx_hbuf;

    switch (con->rx_state) {
    case PSCOM_RX_HEADER:
        con->rx_have += len;
        if (con->rx_have < sizeof(*h)) {
            return;
        }
        if (header_done(con)) {
            return;
        }
        h = (pscom_header_net_t *)(void *)con->rx_hbuf;
        if (h->xheader_len) {
            con->rx_state = PSCOM_RX_XHEADER;
            return;
        }
        msg_begin(con);
        return;
    case PSCOM_RX_XHEADER:
        con->rx_have += len;
        if (con->rx_have == sizeof(*h) + h->xheader_len) {
            msg_begin(con);
        }
        return;
    case PSCOM_RX_DATA:
        con->rx_dst += len;
        con->rx_left -= len;
        if (con->rx_unexp) {
            con->rx_unexp->received += len;
        }
        if (con->rx_left) {
            return;
        }
        if (con->rx_req && con->rx_req->skip) {
            con->rx_state = PSCOM_RX_SKIP;
            con->rx_left = con->rx_req->skip;
            return;
        }
        msg_done(con);
        return;
    case PSCOM_RX_SKIP:
        con->rx_left -= len;
        if (!con->rx_left) {
            msg_done(con);
        }
        return;
    case PSCOM_RX_BLOCKED:
        return;
    case PSCOM_RX_CSUM:
        con->rx_have += len;
        if (con->rx_have == sizeof(con->rx_trailer)) {
            msg_checked(con);
        }
        return;
    }
}

/* A user message that lies whole in the run goes to req, found for its
 * header in con->rx_hbuf, without the parser's stages: the path of every
 * small message of an MPI program, between the poll that finds it and
 * the answer the program sends. The rest of a truncated message is
 * simply stepped over. */
static void msg_whole_to_req(struct pscom_con *con, struct pscom_req *req,
                             const char *data)
{
    prepare_recv(req, con, (pscom_header_net_t *)(void *)con->rx_hbuf);
    if (req->rx_data) {
        ring_copy(req->pub.data, data, req->rx_data);
    }
    req->flags &= ~PSCOM_REQ_F_QUEUED;
    con->msgs_recvd++;
    pscom_req_complete(req);
}

/* The memory transports hand over runs that mostly hold whole messages.
 * Take one at the start of the run in one step instead of a dispatch and
 * a copy call per part (header, xheader, data): on this path that was a
 * third of a small message's receive cost. The 8-byte header is read
 * from the run once, into a private copy, so a peer rewriting its ring
 * meanwhile cannot change the lengths we decide on. Returns the bytes
 * taken (0: take the general path); the caller's loop does the rest. */
static size_t feed_whole(pscom_con_t *con, const char *p, size_t len)
{
    pscom_header_net_t h;
    size_t hl;

    memcpy(&h, p, sizeof(h));
    hl = sizeof(h) + h.xheader_len;
    if (hl > len || hl > con->rx_hbuf_size) {
        return 0;
    }
    memcpy(con->rx_hbuf, &h, sizeof(h));
    if (h.xheader_len) {
        ring_copy(con->rx_hbuf + sizeof(h), p + sizeof(h), h.xheader_len);
    }
    con->rx_have = hl;
    if (h.msg_type == PSCOM_MSGTYPE_USER && h.data_len <= len - hl) {
        /* A user message's header needs no check (header_done()). */
        struct pscom_req *req =
            find_receiver(con, (pscom_header_net_t *)(void *)con->rx_hbuf);

        if (req) {
            msg_whole_to_req(con, req, p + hl);
            con->rx_have = 0;
            return hl + h.data_len;
        }
        msg_no_receiver(con);
    } else {
        if (header_done(con)) {
            return hl; /* failed and closed: the caller stops */
        }
        msg_begin(con);
    }
    if (con->rx_state == PSCOM_RX_DATA && con->rx_left <= len - hl &&
        !(con->pub.state & PSCOM_CON_STATE_CLOSED)) {
        size_t n = con->rx_left;

        ring_copy(con->rx_dst, p + hl, n);
        pscom_con_read_done(con, n);
        return hl + n;
    }
    return hl;
}

/* Memory transports cannot keep bytes back: the message a blocked
 * parser holds is kept after all (as unexpected), and parsing goes on
 * (the caller's loop stops if that failed the connection). */
static void feed_unblock(pscom_con_t *con)
{
    msg_unexpected(con);
    if (!(con->pub.state & PSCOM_CON_STATE_CLOSED) && con->plugin &&
        con->plugin->read_start) {
        con->plugin->read_start(con);
    }
}

/* Copy what the parser's current stage takes of [p, p + len) to where
 * it goes; return the bytes copied, *buf where they went. */
static inline size_t feed_copy(pscom_con_t *con, const char *p, size_t len,
                               void **buf)
{
    size_t n;

    pscom_con_read_get_buf(con, buf, &n);
    if (n > len) {
        n = len;
    }
    /* Out of a ring or the loop transport's iovecs: ring_copy.h. */
    ring_copy(*buf, p, n);
    return n;
}

/* pscom_con_read_feed() with checksums on: every part takes the general
 * path, and what was copied is added to the message's CRC where it
 * landed (private memory: what the receiver got, not what the ring
 * holds by now); the trailer itself is not (msg_checked()). */
static void read_feed_csum(pscom_con_t *con, const char *p, size_t len)
{
    while (len && !(con->pub.state & PSCOM_CON_STATE_CLOSED)) {
        void *buf;
        size_t n;

        if (con->rx_state == PSCOM_RX_BLOCKED) {
            feed_unblock(con);
            continue;
        }
        n = feed_copy(con, p, len, &buf);
        if (con->rx_state != PSCOM_RX_CSUM) {
            con->rx_crc = ring_crc32c(con->rx_crc, buf, n);
        }
        p += n;
        len -= n;
        pscom_con_read_done(con, n);
    }
}

void pscom_con_read_feed(pscom_con_t *con, const void *data, size_t len)
{
    const char *p = data;

    if (con->csum) {
        read_feed_csum(con, p, len);
        return;
    }
    while (len && !(con->pub.state & PSCOM_CON_STATE_CLOSED)) {
        void *buf;
        size_t n;

        if (con->rx_state == PSCOM_RX_HEADER && con->rx_have == 0 &&
            len >= sizeof(pscom_header_net_t)) {
            n = feed_whole(con, p, len);
            if (n) {
                p += n;
                len -= n;
                continue;
            }
        }

        if (con->rx_state == PSCOM_RX_BLOCKED) {
            feed_unblock(con);
            continue;
        }
        n = feed_copy(con, p, len, &buf);
        p += n;
        len -= n;
        pscom_con_read_done(con, n);
    }
}
