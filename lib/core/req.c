/*
 * req.c -- requests: allocation (with a small free list), posting, the
 * unexpected queue, the convenience send/receive calls, probe and cancel.
 */
#include <config.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pscom_priv.h"

/* Free list per size class so the send/receive fast path does not call
 * malloc for every message (pscom_send, pscom_recv). */
#define CACHE_CLASSES 4
#define CACHE_DEPTH 32
static const size_t cache_size[CACHE_CLASSES] = {256, 1024, 4096, 16384};
static struct pscom_req *cache[CACHE_CLASSES][CACHE_DEPTH];
static unsigned int cache_len[CACHE_CLASSES];

static size_t xheader_capacity(unsigned int max_xheader_len)
{
    size_t cap = ((size_t)max_xheader_len + 7u) & ~(size_t)7u;

    return cap < sizeof(pscom_xheader_t) ? sizeof(pscom_xheader_t) : cap;
}

struct pscom_req *pscom_req_alloc(unsigned int max_xheader_len,
                                  unsigned int user_size)
{
    size_t xcap = xheader_capacity(max_xheader_len);
    size_t size = offsetof(struct pscom_req, pub) +
                  offsetof(pscom_request_t, xheader) + xcap + user_size;
    struct pscom_req *req = NULL;
    int cls = -1;

    if (size < sizeof(struct pscom_req)) {
        size = sizeof(struct pscom_req);
    }
    for (int i = 0; i < CACHE_CLASSES; i++) {
        if (size <= cache_size[i]) {
            cls = i;
            size = cache_size[i];
            break;
        }
    }
    if (cls >= 0 && cache_len[cls]) {
        req = cache[cls][--cache_len[cls]];
        memset(req, 0,
               offsetof(struct pscom_req, pub) + sizeof(pscom_request_t));
    } else {
        req = calloc(1, size);
        if (!req) {
            DPRINT(0,
                   "pscom: out of memory allocating a request of %zu "
                   "bytes",
                   size);
            return NULL;
        }
    }
    req->magic = PSCOM_MAGIC_REQ;
    req->alloc_size = size;
    list_init(&req->next);
    req->pub.state = PSCOM_REQ_STATE_DONE;
    req->pub.max_xheader_len = max_xheader_len;
    /* 0x0200: a new request takes a full xheader (pscom_dispatch posts
     * receives without setting xheader_len). */
    req->pub.xheader_len = max_xheader_len;
    req->pub.user_size = user_size;
    req->pub.user =
        user_size
            ? (struct PSCOM_req_user *)(void *)((char *)&req->pub.xheader +
                                                xcap)
            : NULL;
    pscom_g.stat_reqs++;
    return req;
}

void pscom_req_release(struct pscom_req *req)
{
    if (!req) {
        return;
    }
    if (req->flags & PSCOM_REQ_F_QUEUED) {
        DPRINT(0,
               "pscom: pscom_request_free() of a request still in use "
               "(state %s): not freed",
               pscom_req_state_str(req->pub.state));
        return;
    }
    pscom_g.stat_reqs--;
    req->magic = PSCOM_MAGIC_DEAD;
    for (int i = 0; i < CACHE_CLASSES; i++) {
        if (req->alloc_size == cache_size[i] && cache_len[i] < CACHE_DEPTH) {
            cache[i][cache_len[i]++] = req;
            return;
        }
    }
    free(req);
}

pscom_request_t *pscom_request_create(unsigned int max_xheader_len,
                                      unsigned int user_size)
{
    struct pscom_req *req;

    pscom_lock();
    req = pscom_req_alloc(max_xheader_len, user_size);
    pscom_unlock();
    return req ? &req->pub : NULL;
}

void pscom_request_free(pscom_request_t *request)
{
    if (!request) {
        return;
    }
    pscom_lock();
    pscom_req_release(pscom_req_of(request));
    pscom_unlock();
}

/* ---- sending ------------------------------------------------------------- */

static void req_fail_now(struct pscom_req *req, pscom_req_state_t bits)
{
    req->pub.state |= bits;
    pscom_req_complete(req);
}

void pscom_post_send_internal(struct pscom_req *req, struct pscom_con *con,
                              unsigned int msg_type)
{
    size_t xcap = xheader_capacity(req->pub.max_xheader_len);

    req->pub.state = PSCOM_REQ_STATE_SEND_REQUEST | PSCOM_REQ_STATE_POSTED;
    req->pub.socket = con ? &con->sock->pub : NULL;
    /* data_len is an unsigned int like the wire's uint32_t: no check. */
    if (!con || req->pub.xheader_len > xcap ||
        req->pub.xheader_len > PSCOM_XHEADER_MAX) {
        DPRINT(1, "pscom: post_send: %s",
               !con ? "no connection" : "xheader or data too long");
        req_fail_now(req, PSCOM_REQ_STATE_ERROR);
        return;
    }
    req->pub.header.msg_type = (uint16_t)msg_type;
    req->pub.header.xheader_len = (uint16_t)req->pub.xheader_len;
    req->pub.header.data_len = (uint32_t)req->pub.data_len;
    req->iov[0].iov_base = &req->pub.header;
    req->iov[0].iov_len = sizeof(pscom_header_net_t) + req->pub.xheader_len;
    req->iov[1].iov_base = req->pub.data;
    req->iov[1].iov_len = req->pub.data_len;
    pscom_con_send_req(con, req);
}

void pscom_post_send(pscom_request_t *request)
{
    struct pscom_req *req = pscom_req_of(request);

    pscom_lock();
    req->done_hook = NULL;
    pscom_post_send_internal(req,
                             request->connection
                                 ? pscom_con_of(request->connection)
                                 : NULL,
                             PSCOM_MSGTYPE_USER);
    pscom_unlock();
}

void pscom_send_internal(struct pscom_con *con, unsigned int msg_type,
                         const void *xheader, size_t xheader_len,
                         const void *data, size_t data_len)
{
    struct pscom_req *req;

    /* Requests and the wire carry unsigned int / uint32_t lengths. */
    if (xheader_len > PSCOM_XHEADER_MAX || data_len > UINT_MAX) {
        DPRINT(0,
               "pscom: send of %zu bytes xheader, %zu bytes data: too "
               "long (at most %u and %u)",
               xheader_len, data_len, PSCOM_XHEADER_MAX, UINT_MAX);
        return;
    }
    req = pscom_req_alloc((unsigned)xheader_len, (unsigned)data_len);
    if (!req) {
        return;
    }
    req->flags |= PSCOM_REQ_F_FREE_ON_DONE;
    req->pub.connection = &con->pub;
    req->pub.xheader_len = (unsigned)xheader_len;
    req->pub.data_len = (unsigned)data_len;
    req->pub.data = req->pub.user;
    if (xheader_len) {
        memcpy(&req->pub.xheader, xheader, xheader_len);
    }
    if (data_len) {
        memcpy(req->pub.data, data, data_len);
    }
    pscom_post_send_internal(req, con, msg_type);
}

int pscom_send_try(pscom_connection_t *connection, void *xheader,
                   unsigned int xheader_len, void *data, unsigned int data_len)
{
    int rc;

    if (!connection) {
        return 0;
    }
    pscom_lock();
    rc = pscom_con_send_now(pscom_con_of(connection), PSCOM_MSGTYPE_USER,
                            xheader, xheader_len, data, data_len);
    pscom_unlock();
    return rc;
}

void pscom_send(pscom_connection_t *connection, void *xheader,
                unsigned int xheader_len, void *data, unsigned int data_len)
{
    struct pscom_con *con = pscom_con_of(connection);

    pscom_lock();
    /* Straight into the transport when it takes the whole message now:
     * no request, no copy, no completion. */
    if (!connection || !pscom_con_send_now(con, PSCOM_MSGTYPE_USER, xheader,
                                           xheader_len, data, data_len)) {
        pscom_send_internal(con, PSCOM_MSGTYPE_USER, xheader, xheader_len, data,
                            data_len);
    }
    pscom_unlock();
}

static void inplace_hook(struct pscom_req *req)
{
    if (req->inplace_done) {
        req->inplace_done(req->pub.state, req->inplace_priv);
    }
}

void pscom_send_inplace(pscom_connection_t *connection, void *xheader,
                        unsigned int xheader_len, void *data,
                        unsigned int data_len,
                        void (*io_done)(pscom_req_state_t state, void *priv),
                        void *priv)
{
    struct pscom_req *req;

    pscom_lock();
    req = pscom_req_alloc(xheader_len, 0);
    if (req) {
        req->flags |= PSCOM_REQ_F_FREE_ON_DONE;
        req->done_hook = inplace_hook;
        req->inplace_done = io_done;
        req->inplace_priv = priv;
        req->pub.connection = connection;
        req->pub.xheader_len = xheader_len;
        req->pub.data_len = data_len;
        req->pub.data = data;
        if (xheader_len) {
            memcpy(&req->pub.xheader, xheader, xheader_len);
        }
        pscom_post_send_internal(req, pscom_con_of(connection),
                                 PSCOM_MSGTYPE_USER);
    }
    pscom_unlock();
}

/* ---- receiving ----------------------------------------------------------- */

void pscom_unexp_free(struct pscom_unexp *ux)
{
    list_del(&ux->next);
    pscom_g.stat_unexp--;
    free(ux);
}

void pscom_unexp_deliver(struct pscom_unexp *ux, struct pscom_req *req)
{
    size_t n = req->rx_data; /* min(posted, message) */

    if (n) {
        memcpy(req->pub.data, ux->data, n);
    }
    pscom_unexp_free(ux);
    pscom_req_complete(req);
}

int pscom_unexp_take(struct pscom_sock *sock, struct pscom_req *req)
{
    struct list_head *pos;

    list_for_each(pos, &sock->unexpq)
    {
        struct pscom_unexp *ux = list_entry(pos, struct pscom_unexp, next);

        if (ux->req || !pscom_req_match(req, ux->con, &ux->header)) {
            continue;
        }
        pscom_req_prepare_recv(req, ux->con, &ux->header);
        if (ux->complete) {
            pscom_unexp_deliver(ux, req);
        } else {
            /* The rest is still arriving into ux->data. */
            ux->req = req;
            req->flags |= PSCOM_REQ_F_UNEXP | PSCOM_REQ_F_QUEUED;
        }
        return 1;
    }
    return 0;
}

void pscom_post_recv_internal(struct pscom_req *req)
{
    struct pscom_sock *sock;
    struct pscom_con *con = req->pub.connection
                                ? pscom_con_of(req->pub.connection)
                                : NULL;

    req->pub.state = PSCOM_REQ_STATE_RECV_REQUEST | PSCOM_REQ_STATE_POSTED;
    if (con) {
        req->pub.socket = &con->sock->pub;
    }
    if (!req->pub.socket) {
        DPRINT(1, "pscom: post_recv without connection and socket");
        req_fail_now(req, PSCOM_REQ_STATE_ERROR);
        return;
    }
    sock = pscom_sock_of(req->pub.socket);
    /* Connections hold messages back only with PSP_UNEXPECTED_RECEIVES=0:
     * otherwise do not walk every connection of the socket per receive. */
    if (pscom_unexp_take(sock, req) ||
        (!pscom_env.unexpected_receives && pscom_rx_blocked_take(sock, req))) {
        return;
    }
    if (con && (con->pub.state & PSCOM_CON_STATE_CLOSED)) {
        req_fail_now(req, PSCOM_REQ_STATE_ERROR);
        return;
    }
    req->flags |= PSCOM_REQ_F_QUEUED;
    list_add_tail(&req->next, &sock->recvq);
}

void pscom_post_recv(pscom_request_t *request)
{
    struct pscom_req *req = pscom_req_of(request);

    pscom_lock();
    req->match = NULL;
    req->done_hook = NULL;
    pscom_post_recv_internal(req);
    pscom_unlock();
}

static pscom_err_t recv_common(pscom_connection_t *connection,
                               pscom_socket_t *socket,
                               pscom_connection_t **from, void *xheader,
                               unsigned int xheader_len, void *data,
                               unsigned int data_len)
{
    struct pscom_req *req;
    pscom_err_t rc;

    pscom_lock();
    req = pscom_req_alloc(xheader_len, 0);
    if (!req) {
        pscom_unlock();
        return PSCOM_ERR_STDERROR;
    }
    req->pub.connection = connection;
    req->pub.socket = socket;
    req->pub.xheader_len = xheader_len;
    req->pub.data = data;
    req->pub.data_len = data_len;
    pscom_post_recv_internal(req);
    pscom_progress_until(&req->pub.state, PSCOM_REQ_STATE_DONE);
    if (xheader_len) {
        memcpy(xheader, &req->pub.xheader, pscom_req_rx_xlen(req));
    }
    if (from) {
        *from = req->pub.connection;
    }
    if (pscom_req_successful(&req->pub)) {
        rc = PSCOM_SUCCESS;
    } else if (req->pub.state & PSCOM_REQ_STATE_TRUNCATED) {
        rc = PSCOM_ERR_INVALID;
    } else {
        rc = PSCOM_ERR_IOERROR;
    }
    pscom_req_release(req);
    pscom_unlock();
    return rc;
}

pscom_err_t pscom_recv(pscom_connection_t *connection, pscom_socket_t *socket,
                       void *xheader, unsigned int xheader_len, void *data,
                       unsigned int data_len)
{
    return recv_common(connection, socket, NULL, xheader, xheader_len, data,
                       data_len);
}

pscom_err_t pscom_recv_any_con(pscom_socket_t *socket,
                               pscom_connection_t **connection, void *xheader,
                               unsigned int xheader_len, void *data,
                               unsigned int data_len)
{
    return recv_common(NULL, socket, connection, xheader, xheader_len, data,
                       data_len);
}

/* ---- probe and cancel ---------------------------------------------------- */

/* Describe a message held back in a parser (PSP_UNEXPECTED_RECEIVES=0). */
static int probe_blocked(struct pscom_sock *sock, struct pscom_req *req)
{
    struct pscom_con *con = pscom_rx_blocked_find(sock, req);
    pscom_header_net_t *h;
    size_t xl;

    if (!con) {
        return 0;
    }
    h = (pscom_header_net_t *)(void *)con->rx_hbuf;
    xl = h->xheader_len < req->pub.xheader_len ? h->xheader_len
                                               : req->pub.xheader_len;
    req->pub.header = *h;
    memcpy(&req->pub.xheader, h->xheader, xl);
    req->pub.connection = &con->pub;
    return 1;
}

static int iprobe_locked(struct pscom_req *req)
{
    struct pscom_sock *sock;
    struct list_head *pos;

    if (req->pub.connection) {
        req->pub.socket = req->pub.connection->socket;
    }
    if (!req->pub.socket) {
        return 0;
    }
    sock = pscom_sock_of(req->pub.socket);
    list_for_each(pos, &sock->unexpq)
    {
        struct pscom_unexp *ux = list_entry(pos, struct pscom_unexp, next);
        size_t xl;

        if (ux->req || !pscom_req_match(req, ux->con, &ux->header)) {
            continue;
        }
        xl = ux->header.xheader_len;
        if (xl > req->pub.xheader_len) {
            xl = req->pub.xheader_len;
        }
        req->pub.header = ux->header;
        memcpy(&req->pub.xheader, ux->header.xheader, xl);
        req->pub.connection = &ux->con->pub;
        return 1;
    }
    return probe_blocked(sock, req);
}

int pscom_iprobe(pscom_request_t *request)
{
    int r;

    pscom_lock();
    pscom_progress(0);
    r = iprobe_locked(pscom_req_of(request));
    pscom_unlock();
    return r;
}

void pscom_probe(pscom_request_t *request)
{
    pscom_lock();
    while (!iprobe_locked(pscom_req_of(request))) {
        if (!pscom_progress(0)) {
            pscom_progress(pscom_g.pollers_active ? 0 : -1);
        }
    }
    pscom_unlock();
}

/* Cancel a request of kind (SEND/RECV bit) that still waits in a queue
 * and has not moved a byte; 1 on success. */
static int cancel_queued(pscom_request_t *request, pscom_req_state_t kind)
{
    struct pscom_req *req = pscom_req_of(request);
    int r = 0;

    pscom_lock();
    if ((request->state & kind) && (req->flags & PSCOM_REQ_F_QUEUED) &&
        !(req->flags & PSCOM_REQ_F_UNEXP) &&
        !(request->state &
          (PSCOM_REQ_STATE_IO_STARTED | PSCOM_REQ_STATE_IO_DONE))) {
        list_del(&req->next);
        req->flags &= ~PSCOM_REQ_F_QUEUED;
        request->state |= PSCOM_REQ_STATE_CANCELED;
        pscom_req_complete(req);
        r = 1;
    }
    pscom_unlock();
    return r;
}

int pscom_cancel_recv(pscom_request_t *request)
{
    return cancel_queued(request, PSCOM_REQ_STATE_RECV_REQUEST);
}

int pscom_cancel_send(pscom_request_t *request)
{
    return cancel_queued(request, PSCOM_REQ_STATE_SEND_REQUEST);
}

int pscom_cancel(pscom_request_t *request)
{
    if (request->state & PSCOM_REQ_STATE_SEND_REQUEST) {
        return pscom_cancel_send(request);
    }
    if (request->state & PSCOM_REQ_STATE_RECV_REQUEST) {
        return pscom_cancel_recv(request);
    }
    return 0;
}
