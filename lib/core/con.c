/*
 * con.c -- connections: life cycle, the send queue a transport pulls from,
 * failure handling, connect (blocking, loop and on demand) and close.
 */
#include <config.h>

#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pscom_priv.h"

struct pscom_con *pscom_con_create(struct pscom_sock *sock)
{
    size_t size = sizeof(struct pscom_con) + sock->con_userdata_size;
    struct pscom_con *con = calloc(1, size);

    if (!con) {
        DPRINT(0, "pscom: out of memory allocating a connection");
        return NULL;
    }
    con->magic = PSCOM_MAGIC_CON;
    con->sock = sock;
    con->fd = -1;
    con->ctl_ufd.fd = -1;
    list_init(&con->sendq);
    pscom_susp_con_init(con);
    pscom_rx_init(con);
    con->pub.socket = &sock->pub;
    con->pub.state = PSCOM_CON_STATE_NO_RW;
    con->pub.type = PSCOM_CON_TYPE_NONE;
    con->pub.userdata_size = sock->con_userdata_size;
    list_add_tail(&con->next, &sock->cons);
    return con;
}

/* ---- services for transports (plugin.h) ---------------------------------- */

pscom_connection_t *pscom_con_pub(pscom_con_t *con)
{
    return &con->pub;
}

void pscom_con_set_priv(pscom_con_t *con, void *priv)
{
    con->plugin_priv = priv;
}

void *pscom_con_get_priv(pscom_con_t *con)
{
    return con->plugin_priv;
}

int pscom_con_get_fd(pscom_con_t *con)
{
    return con->fd;
}

size_t pscom_con_write_get_iov(pscom_con_t *con, struct iovec iov[2])
{
    struct pscom_req *req;

    /* Behind our SUSPEND, sends wait for the resume. */
    if (list_empty(&con->sendq) || pscom_susp_tx_blocked(con)) {
        return 0;
    }
    req = list_entry(con->sendq.next, struct pscom_req, next);
    iov[0] = req->iov[0];
    iov[1] = req->iov[1];
    return iov[0].iov_len + iov[1].iov_len;
}

void pscom_con_write_done(pscom_con_t *con, size_t len)
{
    while (len && !list_empty(&con->sendq)) {
        struct pscom_req *req = list_entry(con->sendq.next, struct pscom_req,
                                           next);

        req->pub.state |= PSCOM_REQ_STATE_IO_STARTED;
        for (int i = 0; i < 2 && len; i++) {
            size_t n = req->iov[i].iov_len < len ? req->iov[i].iov_len : len;
            req->iov[i].iov_base = (char *)req->iov[i].iov_base + n;
            req->iov[i].iov_len -= n;
            len -= n;
        }
        if (req->iov[0].iov_len || req->iov[1].iov_len) {
            break;
        }
        list_del(&req->next);
        con->msgs_sent++;
        pscom_susp_tx_done(con, req);
        pscom_req_complete(req);
        if (pscom_susp_tx_blocked(con)) {
            break;
        }
    }
    if (list_empty(&con->sendq) && con->plugin && con->plugin->write_stop) {
        con->plugin->write_stop(con);
    }
}

/* ---- sending ------------------------------------------------------------- */

/* The message (header h, xheader, data) goes to the transport whole,
 * now, or not at all (plugin.h, write_now): only where the queued path
 * would write it next and at once -- an established transport, an empty
 * queue, no SUSPEND of ours sent (pscom_con_write_get_iov()), not
 * closed. 1 written. */
static int con_write_now(struct pscom_con *con, const pscom_header_net_t *h,
                         const void *xheader, const void *data)
{
    if (!con->plugin || !con->plugin->write_now || !list_empty(&con->sendq) ||
        pscom_susp_tx_blocked(con) ||
        (con->pub.state & PSCOM_CON_STATE_CLOSED) ||
        con->plugin->write_now(con, h, xheader, data) != 1) {
        return 0;
    }
    con->msgs_sent++;
    return 1;
}

int pscom_con_send_now(struct pscom_con *con, unsigned int msg_type,
                       const void *xheader, size_t xheader_len,
                       const void *data, size_t data_len)
{
    pscom_header_net_t h;

    if (xheader_len > UINT16_MAX || data_len > UINT32_MAX) {
        return 0;
    }
    h.msg_type = (uint16_t)msg_type;
    h.xheader_len = (uint16_t)xheader_len;
    h.data_len = (uint32_t)data_len;
    return con_write_now(con, &h, xheader, data);
}

void pscom_con_send_req(struct pscom_con *con, struct pscom_req *req)
{
    int was_empty = list_empty(&con->sendq);

    req->con = con;
    if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
        req->pub.state |= PSCOM_REQ_STATE_ERROR;
        pscom_req_complete(req);
        return;
    }
    if (con_write_now(con, &req->pub.header,
                      (const char *)req->iov[0].iov_base +
                          sizeof(req->pub.header),
                      req->iov[1].iov_base)) {
        /* Written whole at once: what pscom_con_write_done() would do
         * for it, without the queue. */
        req->pub.state |= PSCOM_REQ_STATE_IO_STARTED;
        pscom_susp_tx_done(con, req);
        pscom_req_complete(req);
        return;
    }
    req->flags |= PSCOM_REQ_F_QUEUED;
    list_add_tail(&req->next, &con->sendq);
    if (con->plugin) {
        if (was_empty) {
            con->plugin->write_start(con);
        }
    } else if (con->ondemand && !con->od_started) {
        pscom_con_ondemand_start(con);
    }
}

/* ---- failure ------------------------------------------------------------- */

static void fail_req(struct pscom_req *req)
{
    list_del(&req->next);
    req->pub.state |= PSCOM_REQ_STATE_ERROR;
    pscom_req_complete(req);
}

/* Fail every request that can only complete through con. */
static void con_fail_requests(struct pscom_con *con)
{
    struct list_head *pos, *n;
    struct pscom_sock *sock = con->sock;

    list_for_each_safe(pos, n, &con->sendq)
    {
        fail_req(list_entry(pos, struct pscom_req, next));
    }
    if (con->rx_req) {
        struct pscom_req *req = con->rx_req;
        con->rx_req = NULL;
        fail_req(req);
    }
    if (con->rx_unexp) {
        struct pscom_unexp *ux = con->rx_unexp;
        con->rx_unexp = NULL;
        if (ux->req) {
            fail_req(ux->req);
        }
        pscom_unexp_free(ux);
    }
    con->rx_state = PSCOM_RX_HEADER;
    con->rx_have = 0;
    list_for_each_safe(pos, n, &sock->recvq)
    {
        struct pscom_req *req = list_entry(pos, struct pscom_req, next);
        if (req->pub.connection == &con->pub) {
            fail_req(req);
        }
    }
}

void pscom_con_transport_close(struct pscom_con *con)
{
    if (con->precon) {
        pscom_precon_destroy(con->precon);
        con->precon = NULL;
    }
    if (con->ctl_ufd.registered) {
        pscom_ufd_del(&con->ctl_ufd);
    }
    if (con->plugin) {
        const pscom_plugin_t *p = con->plugin;
        con->plugin = NULL;
        if (p->close) {
            p->close(con);
        }
        if (p->flags & PSCOM_PLUGIN_F_OWNS_FD) {
            con->fd = -1;
        }
    }
    if (con->fd >= 0) {
        close(con->fd);
        con->fd = -1;
    }
}

void pscom_con_fail(struct pscom_con *con, pscom_op_t op, pscom_err_t err)
{
    pscom_socket_t *sock = &con->sock->pub;

    /* The peer's end of the suspend exchange is no failure. */
    if (err == PSCOM_ERR_EOF && pscom_susp_eof(con)) {
        return;
    }
    if (con->error_reported) {
        return;
    }
    con->error_reported = 1;
    con->last_err = err;
    con->pub.state = PSCOM_CON_STATE_CLOSED;
    pscom_con_transport_close(con);
    con_fail_requests(con);
    DPRINT(err == PSCOM_ERR_EOF || con->blocking_connect ? 2 : 1,
           "pscom: %s: %s (%s)", pscom_con_str(&con->pub), pscom_err_str(err),
           op == PSCOM_OP_CONNECT ? "connect"
           : op == PSCOM_OP_WRITE ? "write"
                                  : "read");
    /* A blocking pscom_connect() reports through its return value. */
    if (sock->ops.con_error && !con->blocking_connect) {
        sock->ops.con_error(&con->pub, op, err);
    }
}

void pscom_con_error(pscom_con_t *con, pscom_op_t op, pscom_err_t err)
{
    pscom_con_fail(con, op, err);
}

/* ---- established --------------------------------------------------------- */

static void ctl_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    struct pscom_con *con = ufd->priv;
    char c;
    ssize_t n = recv(ufd->fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        pscom_con_fail(con, PSCOM_OP_READ,
                       n == 0 ? PSCOM_ERR_EOF : PSCOM_ERR_IOERROR);
    } else if (n > 0) {
        /* No byte is sent on the control channel (the suspend protocol
         * goes through the transport and ends here with EOF): a byte here
         * is a protocol error. */
        DPRINT(1, "pscom: %s: unexpected data on the control channel",
               pscom_con_str(&con->pub));
        pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_IOERROR);
    }
}

void pscom_con_established(struct pscom_con *con, const pscom_plugin_t *plugin)
{
    con->plugin = plugin;
    con->pub.type = plugin->con_type;
    con->pub.state = PSCOM_CON_STATE_RW;
    con->ondemand = 0;
    if (plugin != &pscom_plugin_tcp_builtin &&
        plugin != &pscom_plugin_loop_builtin && con->fd >= 0 &&
        !(plugin->flags & PSCOM_PLUGIN_F_OWNS_FD) && pscom_env.guard) {
        con->ctl_ufd.fd = con->fd;
        con->ctl_ufd.events = EPOLLIN;
        con->ctl_ufd.cb = ctl_cb;
        con->ctl_ufd.priv = con;
        pscom_ufd_add(&con->ctl_ufd);
    }
    DPRINT(2, "pscom: %s: connected via %s", pscom_con_str(&con->pub),
           plugin->name);
    if (!list_empty(&con->sendq)) {
        plugin->write_start(con);
    }
}

/* ---- free ---------------------------------------------------------------- */

void pscom_con_free(struct pscom_con *con)
{
    list_del(&con->next);
    con->magic = PSCOM_MAGIC_DEAD;
    if (pscom_g.in_progress) {
        /* A transport callback up the stack may still hold con. */
        list_add_tail(&con->next, &pscom_g.zombies);
        return;
    }
    pscom_rx_cleanup(con);
    free(con);
}

void pscom_con_reap(void)
{
    while (!list_empty(&pscom_g.zombies)) {
        struct pscom_con *con = list_entry(pscom_g.zombies.next,
                                           struct pscom_con, next);
        list_del(&con->next);
        pscom_rx_cleanup(con);
        free(con);
    }
}

/* ---- public API ---------------------------------------------------------- */

pscom_connection_t *pscom_open_connection(pscom_socket_t *socket)
{
    struct pscom_con *con;

    pscom_lock();
    con = pscom_con_create(pscom_sock_of(socket));
    pscom_unlock();
    return con ? &con->pub : NULL;
}

static int is_own_node(int nodeid)
{
    return nodeid == pscom_g.nodeid || ((unsigned)nodeid >> 24) == 127;
}

static int is_loop_target(struct pscom_con *con, int nodeid, int portno)
{
    if (nodeid == -1 && portno == -1) {
        return 1;
    }
    return con->sock->pub.listen_portno >= 0 &&
           portno == con->sock->pub.listen_portno && is_own_node(nodeid) &&
           pscom_sock_type_allowed(con->sock, PSCOM_CON_TYPE_LOOP);
}

/* What every connect does first: refuse a used connection, make a loop
 * connection to ourselves. 1 if that settled it (*rc is the result). */
static int connect_prologue(struct pscom_con *con, int nodeid, int portno,
                            pscom_err_t *rc)
{
    if (con->pub.state != PSCOM_CON_STATE_NO_RW) {
        *rc = PSCOM_ERR_ALREADY;
        return 1;
    }
    if (is_loop_target(con, nodeid, portno)) {
        pscom_loop_connect(con);
        *rc = PSCOM_SUCCESS;
        return 1;
    }
    return 0;
}

pscom_err_t pscom_connect(pscom_connection_t *connection, int nodeid,
                          int portno)
{
    struct pscom_con *con = pscom_con_of(connection);
    pscom_err_t rc;

    pscom_lock();
    if (connect_prologue(con, nodeid, portno, &rc)) {
        pscom_unlock();
        return rc;
    }
    connection->state = PSCOM_CON_STATE_CONNECTING;
    con->error_reported = 0;
    con->blocking_connect = 1;
    if (pscom_precon_connect(con, nodeid, portno, 0)) {
        connection->state = PSCOM_CON_STATE_NO_RW;
        pscom_unlock();
        return PSCOM_ERR_STDERROR;
    }
    while (connection->state == PSCOM_CON_STATE_CONNECTING) {
        if (!pscom_progress(0)) {
            pscom_progress(-1);
        }
    }
    con->blocking_connect = 0;
    if (connection->state == PSCOM_CON_STATE_RW) {
        rc = PSCOM_SUCCESS;
    } else {
        rc = con->last_err == PSCOM_ERR_CONNECTION_REFUSED
                 ? PSCOM_ERR_CONNECTION_REFUSED
                 : PSCOM_ERR_IOERROR;
        /* A failed connect leaves a fresh connection to retry with. */
        connection->state = PSCOM_CON_STATE_NO_RW;
        con->error_reported = 0;
    }
    pscom_unlock();
    return rc;
}

pscom_err_t pscom_connect_ondemand(pscom_connection_t *connection, int nodeid,
                                   int portno, const char name[8])
{
    struct pscom_con *con = pscom_con_of(connection);
    pscom_err_t rc;

    pscom_lock();
    if (connect_prologue(con, nodeid, portno, &rc)) {
        pscom_unlock();
        return rc;
    }
    con->ondemand = 1;
    con->od_nodeid = nodeid;
    con->od_portno = portno;
    memset(con->od_name, 0, sizeof(con->od_name));
    memcpy(con->od_name, name, strnlen(name, sizeof(con->od_name)));
    memcpy(connection->remote_con_info.name, con->od_name, 8);
    connection->remote_con_info.node_id = nodeid;
    connection->type = PSCOM_CON_TYPE_ONDEMAND;
    connection->state = PSCOM_CON_STATE_CONNECTING_ONDEMAND;
    /* The peer may have written first: take its parked hand-shake. */
    pscom_precon_ondemand_check(con);
    pscom_unlock();
    return PSCOM_SUCCESS;
}

pscom_err_t pscom_connect_socket_str(pscom_connection_t *connection,
                                     const char *socket_str)
{
    int nodeid, portno;
    char name[8];

    if (strchr(socket_str, '@')) {
        if (pscom_parse_socket_ondemand_str(socket_str, &nodeid, &portno,
                                            &name)) {
            return PSCOM_ERR_INVALID;
        }
        return pscom_connect_ondemand(connection, nodeid, portno, name);
    }
    if (pscom_parse_socket_str(socket_str, &nodeid, &portno)) {
        return PSCOM_ERR_INVALID;
    }
    return pscom_connect(connection, nodeid, portno);
}

void pscom_con_ondemand_start(struct pscom_con *con)
{
    int cmp = memcmp(con->sock->pub.local_con_info.name, con->od_name, 8);
    unsigned int flags;

    con->od_started = 1;
    con->pub.state = PSCOM_CON_STATE_CONNECTING;
    if (cmp == 0) {
        DPRINT(0,
               "pscom: on-demand connection to a socket with our own "
               "name '%.8s': cannot decide who connects "
               "(pscom_socket_set_name)",
               con->od_name);
        pscom_con_fail(con, PSCOM_OP_CONNECT, PSCOM_ERR_INVALID);
        return;
    }
    /* The smaller name connects; the other asks it to (back-connect). */
    flags = cmp < 0 ? PRECON_F_ONDEMAND : PRECON_F_BACKCONNECT;
    if (pscom_precon_connect(con, con->od_nodeid, con->od_portno, flags)) {
        pscom_con_fail(con, PSCOM_OP_CONNECT, PSCOM_ERR_STDERROR);
    }
}

static void con_drain_sends(struct pscom_con *con)
{
    while (!list_empty(&con->sendq) &&
           !(con->pub.state & PSCOM_CON_STATE_CLOSED) &&
           (con->plugin || con->precon || con->od_started)) {
        if (!pscom_progress(0)) {
            pscom_progress(-1);
        }
    }
}

void pscom_flush(pscom_connection_t *connection)
{
    pscom_lock();
    con_drain_sends(pscom_con_of(connection));
    pscom_unlock();
}

void pscom_con_close_internal(struct pscom_con *con)
{
    struct list_head *pos, *n;

    if (con->plugin && !(con->pub.state & PSCOM_CON_STATE_CLOSED)) {
        con_drain_sends(con);
        if (con->plugin && con->plugin != &pscom_plugin_loop_builtin) {
            pscom_send_internal(con, PSCOM_MSGTYPE_EOF, NULL, 0, NULL, 0);
            con_drain_sends(con);
        }
    }
    con->pub.state = PSCOM_CON_STATE_CLOSED;
    con->error_reported = 1;
    pscom_con_transport_close(con);
    con_fail_requests(con);
    list_for_each_safe(pos, n, &con->sock->unexpq)
    {
        struct pscom_unexp *ux = list_entry(pos, struct pscom_unexp, next);
        if (ux->con == con) {
            pscom_unexp_free(ux);
        }
    }
    /* io_done of the failed requests may still look at the connection. */
    pscom_run_done();
    pscom_con_free(con);
}

void pscom_close_connection(pscom_connection_t *connection)
{
    if (!connection) {
        return;
    }
    pscom_lock();
    pscom_con_close_internal(pscom_con_of(connection));
    pscom_unlock();
}

pscom_connection_t *pscom_get_next_connection(pscom_socket_t *socket,
                                              pscom_connection_t *prev)
{
    struct pscom_sock *sock = pscom_sock_of(socket);
    struct list_head *pos;
    pscom_connection_t *r = NULL;

    pscom_lock();
    pos = prev ? pscom_con_of(prev)->next.next : sock->cons.next;
    if (pos != &sock->cons) {
        r = &list_entry(pos, struct pscom_con, next)->pub;
    }
    pscom_unlock();
    return r;
}

/* pscom_shutdown_connection(), pscom_resume_connection(): suspend.c */
