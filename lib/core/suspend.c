/*
 * suspend.c -- the suspend protocol of one connection and its resume
 * (see suspend.h for the protocol), and the public calls
 * pscom_shutdown_connection() / pscom_resume_connection().
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pscom_priv.h"

#define RETRY_FIRST_MS 10u
#define RETRY_MAX_MS 1000u
/* A peer that refuses our reconnect for PSP_RESUME_TIMEOUT ms is gone
 * (nobody listens at its address any more): the connection fails then. */

/* Connections with work for pscom_susp_run(), and reconnect timers
 * (suspend.h: the progress engine reads both inline). */
unsigned int pscom_susp_pending;
unsigned int pscom_susp_timers;

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void pscom_susp_con_init(struct pscom_con *con)
{
    memset(&con->susp, 0, sizeof(con->susp));
    con->susp.eof_ufd.fd = -1;
}

static void mark_pending(struct pscom_con *con)
{
    if (!con->susp.pending) {
        con->susp.pending = 1;
        pscom_susp_pending++;
        /* A sleeping progress thread must run the step end. */
        pscom_wakeup();
    }
}

static void set_state(struct pscom_con *con)
{
    const struct pscom_con_susp *s = &con->susp;

    DPRINT(4, "pscom: %s: suspend tx %d rx %d shut %d peer_eof %d closed %d",
           pscom_con_str(&con->pub), s->tx_done, s->rx_done, s->wr_shut,
           s->peer_eof, s->closed);

    if (s->closed) {
        con->pub.state = PSCOM_CON_STATE_SUSPENDED;
    } else if (s->tx_done) {
        con->pub.state = PSCOM_CON_STATE_SUSPEND_SENT;
    } else if (s->rx_done) {
        con->pub.state = PSCOM_CON_STATE_SUSPEND_RECEIVED;
    } else {
        con->pub.state = PSCOM_CON_STATE_SUSPENDING;
    }
    pscom_susp_proc_changed();
}

/* Queue our SUSPEND behind everything queued so far. */
static int queue_suspend(struct pscom_con *con)
{
    struct pscom_req *req = pscom_req_alloc(0, 0);

    if (!req) {
        DPRINT(0, "pscom: %s: out of memory for the suspend message",
               pscom_con_str(&con->pub));
        return PSCOM_ERR_STDERROR;
    }
    req->flags |= PSCOM_REQ_F_FREE_ON_DONE;
    req->pub.connection = &con->pub;
    req->pub.xheader_len = 0;
    req->pub.data_len = 0;
    req->pub.data = NULL;
    con->susp.req = req;
    pscom_post_send_internal(req, con, PSCOM_MSGTYPE_SUSPEND);
    return PSCOM_SUCCESS;
}

static int start_protocol(struct pscom_con *con)
{
    int rc;

    con->susp.active = 1;
    set_state(con);
    DPRINT(2, "pscom: %s: suspending (%s)", pscom_con_str(&con->pub),
           con->susp.local ? "asked here" : "asked by the peer");
    rc = queue_suspend(con);
    if (rc) {
        pscom_con_fail(con, PSCOM_OP_WRITE, PSCOM_ERR_STDERROR);
    }
    return rc;
}

/* ---- end of the exchange: watch for the peer's shutdown ------------------- */

static void peer_done(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;

    s->peer_eof = 1;
    if (con->ctl_ufd.registered) {
        pscom_ufd_del(&con->ctl_ufd);
    }
    if (s->eof_ufd.registered) {
        pscom_ufd_del(&s->eof_ufd);
    }
    if (s->wr_shut) {
        mark_pending(con);
    }
}

static void eof_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    struct pscom_con *con = ufd->priv;
    char c;
    ssize_t n = recv(ufd->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

    (void)revents;
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        peer_done(con);
    } else if (n > 0) {
        DPRINT(1, "pscom: %s: data on the control socket while suspending",
               pscom_con_str(&con->pub));
        pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_IOERROR);
    }
}

/* Both SUSPENDs are through: tell the peer, then wait for it to. */
static void check_exchange(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;
    const pscom_plugin_t *p = con->plugin;

    if (!s->tx_done || !s->rx_done || s->wr_shut) {
        return;
    }
    s->wr_shut = 1;
    set_state(con);
    if (con->fd >= 0 && shutdown(con->fd, SHUT_WR) && errno != ENOTCONN) {
        DPRINT(1, "pscom: %s: shutdown: %s", pscom_con_str(&con->pub),
               strerror(errno));
    }
    if (s->peer_eof) {
        mark_pending(con);
        return;
    }
    /* tcp (and plugins owning the socket) read the socket themselves and
     * report its end-of-file through pscom_con_error(). */
    if (p && p != &pscom_plugin_tcp_builtin &&
        !(p->flags & PSCOM_PLUGIN_F_OWNS_FD) && con->fd >= 0) {
        if (con->ctl_ufd.registered) {
            pscom_ufd_del(&con->ctl_ufd);
        }
        s->eof_ufd.fd = con->fd;
        s->eof_ufd.events = EPOLLIN;
        s->eof_ufd.cb = eof_cb;
        s->eof_ufd.priv = con;
        if (pscom_ufd_add(&s->eof_ufd)) {
            pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_STDERROR);
        }
    }
}

/* ---- hooks ------------------------------------------------------------------ */

void pscom_susp_tx_end(struct pscom_con *con)
{
    con->susp.req = NULL;
    con->susp.tx_done = 1;
    set_state(con);
    check_exchange(con);
}

void pscom_susp_rx(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;

    if (s->rx_done) {
        DPRINT(1, "pscom: %s: protocol error: second SUSPEND",
               pscom_con_str(&con->pub));
        pscom_con_fail(con, PSCOM_OP_READ, PSCOM_ERR_IOERROR);
        return;
    }
    s->rx_done = 1;
    if (!s->active) {
        /* Passive: the peer suspends. Our SUSPEND is queued at the end of
         * the step, not from inside the transport's receive callback. */
        s->active = 1;
        DPRINT(2, "pscom: %s: suspending (asked by the peer)",
               pscom_con_str(&con->pub));
        mark_pending(con);
    }
    set_state(con);
    check_exchange(con);
}

int pscom_susp_eof(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;

    /* Without the peer's SUSPEND first, the end-of-file is a real one. */
    if (!s->active || !s->rx_done || s->closed) {
        return 0;
    }
    peer_done(con);
    return 1;
}

void pscom_susp_reset(struct pscom_con *con, int connector)
{
    struct pscom_con_susp *s = &con->susp;

    s->connector = connector ? 1 : 0;
    if (!s->active) {
        return;
    }
    /* Resumed: a fresh exchange next time; the queued sends go out when
     * the transport starts. */
    s->active = s->tx_done = s->rx_done = 0;
    s->wr_shut = s->peer_eof = s->closed = s->resuming = 0;
    s->resumed_here = 0;
    if (s->retry_at_ms) {
        pscom_susp_timers--;
    }
    s->retry_at_ms = 0;
    s->retry_ms = 0;
    s->fail_since_ms = 0;
    s->req = NULL;
}

void pscom_susp_established(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;

    if (s->by_proc && !pscom_susp_proc_wants(con->plugin)) {
        /* Suspended while being set up, and it came up over a transport
         * that migrates. */
        s->local = s->by_proc = 0;
    }
    if (!s->local && pscom_susp_proc_suspended() &&
        pscom_susp_proc_wants(con->plugin)) {
        s->local = s->by_proc = 1;
    }
    pscom_susp_proc_changed();
    if (s->local && con->plugin != &pscom_plugin_loop_builtin) {
        DPRINT(2, "pscom: %s: up, suspending at once",
               pscom_con_str(&con->pub));
        start_protocol(con);
    }
}

/* ---- close and reconnect ------------------------------------------------ */

static void schedule_retry(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;

    s->retry_ms = s->retry_ms ? s->retry_ms * 2 : RETRY_FIRST_MS;
    if (s->retry_ms > RETRY_MAX_MS) {
        s->retry_ms = RETRY_MAX_MS;
    }
    if (!s->retry_at_ms) {
        pscom_susp_timers++;
    }
    s->retry_at_ms = now_ms() + s->retry_ms;
    con->pub.state = PSCOM_CON_STATE_SUSPENDED;
    pscom_wakeup();
}

/* A reconnect failed: 1 if it is retried, 0 if PSP_RESUME_TIMEOUT ms
 * passed since the first failure in a row (the caller fails con). */
static int retry_or_give_up(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;
    uint64_t now = now_ms();

    if (!s->fail_since_ms) {
        s->fail_since_ms = now;
    }
    if (now - s->fail_since_ms >= pscom_env.resume_timeout) {
        DPRINT(1,
               "pscom: %s: the peer did not take the connection back "
               "within %u ms (PSP_RESUME_TIMEOUT): giving up",
               pscom_con_str(&con->pub), pscom_env.resume_timeout);
        return 0;
    }
    schedule_retry(con);
    return 1;
}

/* Accepting side of a connection resumed here: the peer reconnects to
 * us. One that has not within PSP_RESUME_TIMEOUT ms is dead (or still
 * suspended itself: the two cannot be told apart): con fails then. A
 * connection only the peer suspended waits without limit: its peer is
 * migrating, and comes back when it is resumed. */
static void await_peer(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;
    uint64_t now = now_ms();

    if (!s->resumed_here || con->precon) {
        return;
    }
    if (!s->fail_since_ms) {
        s->fail_since_ms = now;
    }
    if (now - s->fail_since_ms >= pscom_env.resume_timeout) {
        DPRINT(1,
               "pscom: %s: the peer did not reconnect within %u ms "
               "(PSP_RESUME_TIMEOUT): giving up",
               pscom_con_str(&con->pub), pscom_env.resume_timeout);
        pscom_con_fail(con, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR);
        return;
    }
    if (!s->retry_at_ms) {
        pscom_susp_timers++;
    }
    s->retry_at_ms = s->fail_since_ms + pscom_env.resume_timeout;
    pscom_wakeup();
}

static void reconnect(struct pscom_con *con)
{
    int rc;

    if (con->precon) {
        return;
    }
    if (!con->susp.connector) {
        /* The peer connects to us; it may be waiting already. */
        pscom_precon_resume_check(con);
        await_peer(con);
        return;
    }
    con->pub.state = PSCOM_CON_STATE_CONNECTING;
    pscom_susp_proc_changed();
    rc = pscom_precon_connect(con, con->connect_nodeid, con->connect_portno,
                              PRECON_F_RESUME);
    if (rc && !retry_or_give_up(con)) {
        pscom_con_fail(con, PSCOM_OP_CONNECT,
                       rc == -ECONNREFUSED ? PSCOM_ERR_CONNECTION_REFUSED
                                           : PSCOM_ERR_STDERROR);
    }
}

static void close_transport(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;

    if (s->eof_ufd.registered) {
        pscom_ufd_del(&s->eof_ufd);
    }
    pscom_con_transport_close(con);
    con->rx_state = PSCOM_RX_HEADER;
    con->rx_have = 0;
    s->closed = 1;
    con->pub.type = PSCOM_CON_TYPE_SUSPENDED;
    set_state(con);
    DPRINT(2, "pscom: %s: suspended", pscom_con_str(&con->pub));
    if (!s->local) {
        reconnect(con);
    }
}

static void run_one(struct pscom_con *con, uint64_t now)
{
    struct pscom_con_susp *s = &con->susp;

    if (s->pending) {
        s->pending = 0;
        pscom_susp_pending--;
        if (s->active && !s->tx_done && !s->req && !s->closed && con->plugin) {
            if (queue_suspend(con)) {
                pscom_con_fail(con, PSCOM_OP_WRITE, PSCOM_ERR_STDERROR);
                return;
            }
        }
        if (s->wr_shut && s->peer_eof && !s->closed) {
            close_transport(con);
        }
    }
    if (s->retry_at_ms && s->retry_at_ms <= now) {
        s->retry_at_ms = 0;
        pscom_susp_timers--;
        if (!s->local) {
            reconnect(con);
        }
    }
}

int pscom_susp_run(void)
{
    struct list_head *sp, *cp, *cn;
    uint64_t now;
    int next = -1;

    if (!pscom_susp_pending && !pscom_susp_timers) {
        return -1;
    }
    now = now_ms();
    list_for_each(sp, &pscom_g.sockets)
    {
        struct pscom_sock *sock = list_entry(sp, struct pscom_sock, next);

        list_for_each_safe(cp, cn, &sock->cons)
        {
            struct pscom_con *con = list_entry(cp, struct pscom_con, next);
            uint64_t at;

            run_one(con, now);
            at = con->susp.retry_at_ms;
            if (at && (next < 0 || at - now < (uint64_t)next)) {
                next = at > now ? (int)(at - now) : 0;
            }
        }
    }
    return next;
}

int pscom_susp_precon_failed(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;

    if (!s->active || !s->closed) {
        return 0;
    }
    if (!s->connector) {
        /* The peer retries (if it is still there). */
        con->pub.state = PSCOM_CON_STATE_SUSPENDED;
        await_peer(con);
        return !(con->pub.state & PSCOM_CON_STATE_CLOSED);
    }
    return retry_or_give_up(con);
}

struct pscom_con *pscom_susp_find(struct pscom_sock *sock, int32_t pid,
                                  uint64_t id, int *ready)
{
    struct list_head *pos;

    list_for_each(pos, &sock->cons)
    {
        struct pscom_con *con = list_entry(pos, struct pscom_con, next);
        const struct pscom_con_susp *s = &con->susp;

        if (s->active && con->pub.remote_con_info.pid == pid &&
            (uint64_t)(uintptr_t)con->pub.remote_con_info.id == id) {
            *ready = s->closed && !s->local && !con->precon;
            return con;
        }
    }
    return NULL;
}

/* ---- connection level --------------------------------------------------- */

int pscom_susp_con_busy(const struct pscom_con *con)
{
    return con->susp.active || con->susp.local;
}

int pscom_susp_con_suspend(struct pscom_con *con, int by_proc)
{
    struct pscom_con_susp *s = &con->susp;

    if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
        return PSCOM_ERR_INVALID;
    }
    if (con->plugin == &pscom_plugin_loop_builtin) {
        /* Nothing to drain or to migrate in a connection to ourselves. */
        return PSCOM_SUCCESS;
    }
    s->local = 1;
    s->by_proc = by_proc ? 1 : 0;
    if (s->active || !con->plugin) {
        /* Running already, or set-up in progress: established() starts
         * the exchange. */
        return PSCOM_SUCCESS;
    }
    return start_protocol(con);
}

int pscom_susp_con_resume(struct pscom_con *con)
{
    struct pscom_con_susp *s = &con->susp;

    if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
        return PSCOM_ERR_INVALID;
    }
    if (s->local && s->active) {
        s->resumed_here = 1;
        /* Each resume gives the peer the whole PSP_RESUME_TIMEOUT. */
        s->fail_since_ms = 0;
    }
    s->local = 0;
    s->by_proc = 0;
    if (s->active && s->closed && !con->precon && !s->retry_at_ms) {
        reconnect(con);
    }
    /* Still draining: close_transport() reconnects. */
    return PSCOM_SUCCESS;
}

/* ---- public API --------------------------------------------------------- */

pscom_err_t pscom_shutdown_connection(pscom_connection_t *connection)
{
    struct pscom_con *con = pscom_con_of(connection);
    int rc;

    pscom_lock();
    rc = pscom_susp_con_suspend(con, 0);
    /* Block until the transport is closed (the peer must make progress:
     * see doc/suspend.md). */
    while (!rc && con->susp.local && con->susp.active && !con->susp.closed &&
           !(con->pub.state & PSCOM_CON_STATE_CLOSED)) {
        if (!pscom_progress(0)) {
            pscom_progress(10);
        }
    }
    if (!rc && (con->pub.state & PSCOM_CON_STATE_CLOSED)) {
        rc = PSCOM_ERR_IOERROR;
    }
    pscom_unlock();
    return (pscom_err_t)rc;
}

pscom_err_t pscom_resume_connection(pscom_connection_t *connection)
{
    int rc;

    pscom_lock();
    rc = pscom_susp_con_resume(pscom_con_of(connection));
    pscom_unlock();
    return (pscom_err_t)rc;
}
