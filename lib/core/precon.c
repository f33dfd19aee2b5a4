/*
 * precon.c -- connection set-up over TCP ("precon"): the life of one
 * hand-shake, from accept or connect to pscom_con_established() or its
 * one failure path, and the event step that reads frames and hands each
 * to the handler of its type. Both sides are non-blocking state machines
 * driven by the progress engine, so two sockets of one process (or two
 * processes writing at once) can connect to each other. The jobs of the
 * other precon_*.c files are listed in precon.h.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "precon.h"

struct pscom_ratelimit pscom_precon_rl;

/* Accepted hand-shakes with a deadline, oldest first: every deadline is
 * its start plus the same PSP_HANDSHAKE_TIMEOUT, so the list is sorted
 * and the timer looks at its head only. */
static struct list_head timed_list = LIST_HEAD_INIT(timed_list);

static void precon_cb(pscom_ufd_t *ufd, uint32_t revents);

const char *pscom_precon_peer_str(struct pscom_precon *pre)
{
    static __thread char buf[64];
    char ip[16];

    if (pre->got_hello) {
        pscom_inet_str(ip, sizeof(ip), pre->remote.node_id);
        snprintf(buf, sizeof(buf), "%s/%d(%.8s)", ip, pre->remote.pid,
                 pre->remote.name);
    } else if (pre->connector) {
        pscom_inet_str(ip, sizeof(ip), pre->nodeid);
        snprintf(buf, sizeof(buf), "%s:%d", ip, pre->portno);
    } else {
        snprintf(buf, sizeof(buf), "fd %d", pre->fd);
    }
    return buf;
}

/* ---- life cycle ---------------------------------------------------------- */

struct pscom_precon *pscom_precon_new(struct pscom_sock *sock, int fd,
                                      int connector)
{
    struct pscom_precon *pre = calloc(1, sizeof(*pre));

    if (!pre) {
        DPRINT(0, "pscom: out of memory (precon)");
        return NULL;
    }
    pre->sock = sock;
    pre->fd = fd;
    pre->connector = connector;
    pre->ufd.fd = fd;
    pre->ufd.cb = precon_cb;
    pre->ufd.priv = pre;
    list_init(&pre->timed);
    list_add_tail(&pre->next, &sock->precons);
    return pre;
}

/* It counts against PSP_HANDSHAKE_MAX and has PSP_HANDSHAKE_TIMEOUT. */
void pscom_precon_handshake_begin(struct pscom_precon *pre)
{
    if (!pre->counted) {
        pre->counted = 1;
        pre->sock->handshakes++;
    }
    if (pscom_env.handshake_timeout && list_empty(&pre->timed)) {
        pre->deadline_ms = pscom_now_ms() + pscom_env.handshake_timeout;
        list_add_tail(&pre->timed, &timed_list);
    }
}

void pscom_precon_handshake_end(struct pscom_precon *pre)
{
    list_del(&pre->timed);
    if (pre->counted) {
        pre->counted = 0;
        pre->sock->handshakes--;
        pscom_listen_update(pre->sock);
    }
}

void pscom_precon_destroy(struct pscom_precon *pre)
{
    pscom_precon_drop_trying(pre);
    pscom_precon_handshake_end(pre);
    pscom_ufd_del(&pre->ufd);
    if (pre->fd >= 0) {
        close(pre->fd);
        if (!pre->connector) {
            pscom_listen_fd_released(pre->sock);
        }
    }
    if (pre->con) {
        pre->con->precon = NULL;
    }
    list_del(&pre->next);
    free(pre);
}

/* The transport agreed on takes over con; a failed start fails con. */
static void start_transport(struct pscom_con *con, const pscom_plugin_t *plugin,
                            int connector, int accepted)
{
    int rc = plugin->start ? plugin->start(con) : 0;

    if (rc) {
        DPRINT(1, "pscom: %s: starting transport %s failed",
               pscom_con_str(&con->pub), plugin->name);
        if (plugin->close) {
            plugin->close(con);
        }
        pscom_con_fail(con, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR);
        return;
    }
    pscom_susp_reset(con, connector);
    pscom_con_established(con, plugin);
    pscom_susp_established(con);
    if (accepted && con->sock->pub.ops.con_accept) {
        con->sock->pub.ops.con_accept(&con->pub);
    }
}

/* The hand-shake is over: the socket now belongs to the connection. */
static void precon_finish(struct pscom_precon *pre,
                          const pscom_plugin_t *plugin)
{
    struct pscom_con *con = pre->con;
    int connector = pre->connector;
    /* A resumed connection is no new one for con_accept. */
    int accepted = !pre->connector && !con->ondemand && !con->susp.active;

    pscom_precon_handshake_end(pre);
    pscom_ufd_del(&pre->ufd);
    con->fd = pre->fd;
    pre->fd = -1;
    con->precon = NULL;
    pre->con = NULL;
    pre->trying = NULL; /* agreed: chosen, nothing to abort */
    list_del(&pre->next);
    free(pre);
    start_transport(con, plugin, connector, accepted);
}

/* 1 if the hand-shake ended (pre is freed). */
static int maybe_finish(struct pscom_precon *pre)
{
    if (pre->chosen && pre->got_hello && pre->tx_len == 0 && pre->con) {
        precon_finish(pre, pre->chosen);
        return 1;
    }
    return 0;
}

void pscom_precon_fail(struct pscom_precon *pre, pscom_op_t op, pscom_err_t err,
                       const char *why)
{
    struct pscom_con *con = pre->con;
    int connector = pre->connector;

    /* A blocking pscom_connect() reports through its return value. */
    PRE_DPRINT(pre, con && con->blocking_connect ? 2 : 1,
               "pscom: connection set-up with %s failed: %s",
               pscom_precon_peer_str(pre), why);
    pscom_precon_destroy(pre);
    if (!con) {
        return;
    }
    if (pscom_susp_precon_failed(con)) {
        return; /* retried */
    }
    if (!connector && !con->ondemand &&
        con->pub.state == PSCOM_CON_STATE_ACCEPTING) {
        /* The application never saw this connection. */
        con->pub.state = PSCOM_CON_STATE_CLOSED;
        con->error_reported = 1;
        pscom_con_free(con);
        return;
    }
    pscom_con_fail(con, op, err);
}

/* ---- timers -------------------------------------------------------------- */

/* Close accepted hand-shakes past their deadline; ms until the next
 * deadline, or -1. Timers run before the events of a progress step, so
 * a deadline may pass while a frame waits unread (the application did
 * not call pscom for a while): what arrived is read first, and a
 * hand-shake that got a frame further gets a new deadline. (A peer that
 * times its frames to such pauses can stretch its hand-shake; it still
 * counts against PSP_HANDSHAKE_MAX.) */
static int run_handshake_deadlines(uint64_t now)
{
    while (!list_empty(&timed_list)) {
        struct pscom_precon *pre = list_entry(timed_list.next,
                                              struct pscom_precon, timed);
        unsigned int frames = pre->frames;
        char why[80];

        if (pre->deadline_ms > now) {
            uint64_t t = pre->deadline_ms - now;
            return t > INT_MAX ? INT_MAX : (int)t;
        }
        if (pscom_precon_step(pre, EPOLLIN) || list_empty(&pre->timed)) {
            continue; /* finished, failed or parked */
        }
        if (pre->frames != frames) {
            list_del(&pre->timed);
            pre->deadline_ms = now + pscom_env.handshake_timeout;
            list_add_tail(&pre->timed, &timed_list);
            continue;
        }
        snprintf(why, sizeof(why),
                 "no hand-shake within %u ms (PSP_HANDSHAKE_TIMEOUT)",
                 pscom_env.handshake_timeout);
        pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR, why);
    }
    return -1;
}

static int min_timeout(int a, int b)
{
    return a < 0 || (b >= 0 && b < a) ? b : a;
}

int pscom_precon_run_timers(void)
{
    uint64_t now;
    int next;

    if (!pscom_precon_retrying() && list_empty(&timed_list) &&
        list_empty(&pscom_g.sockets)) {
        return -1;
    }
    now = pscom_now_ms();
    next = pscom_precon_run_retries(now);
    next = min_timeout(next, run_handshake_deadlines(now));
    return min_timeout(next, pscom_listen_run_backoffs(now));
}

/* ---- acceptor ------------------------------------------------------------ */

void pscom_precon_accepted(struct pscom_sock *sock, int fd)
{
    struct pscom_precon *pre;

    pscom_tcp_configure(fd);
    pre = pscom_precon_new(sock, fd, 0);
    if (!pre) {
        close(fd);
        return;
    }
    pre->state = PRE_HANDSHAKE;
    pscom_precon_handshake_begin(pre);
    pre->ufd.events = EPOLLIN;
    if (pscom_ufd_add(&pre->ufd)) {
        pscom_precon_destroy(pre);
    }
}

/* ---- the event step ------------------------------------------------------ */

static pscom_precon_handler_t *const frame_handlers[PRECON_FRAME_TYPES] = {
    [PRECON_FRAME_HELLO] = pscom_precon_on_hello,
    [PRECON_FRAME_OFFER] = pscom_precon_on_offer,
    [PRECON_FRAME_ACCEPT] = pscom_precon_on_accept,
    [PRECON_FRAME_REFUSE] = pscom_precon_on_refuse,
    [PRECON_FRAME_ABORT] = pscom_precon_on_abort,
    [PRECON_FRAME_GO] = pscom_precon_on_go,
    [PRECON_FRAME_TCP] = pscom_precon_on_tcp,
};

/* The frame just read: 0 handled, 1 pre freed, -1 protocol error. Only
 * the HELLO may come before the HELLO and a connection. */
static int handle_frame(struct pscom_precon *pre)
{
    uint16_t type = pre->rxh.type;

    if (type >= PRECON_FRAME_TYPES || !frame_handlers[type]) {
        return -1;
    }
    if (type != PRECON_FRAME_HELLO && (!pre->got_hello || !pre->con)) {
        return -1;
    }
    return frame_handlers[type](pre, pre->rxh.len);
}

/* A read ended the hand-shake with rc (error or EOF). Always 1. */
static int read_failed(struct pscom_precon *pre, int rc)
{
    if (pre->connector && (pre->flags & PRECON_F_BACKCONNECT) && rc == -EPIPE) {
        /* The peer read our back-connect request and hung up: done. */
        pscom_precon_destroy(pre);
        return 1;
    }
    if (!pre->con && rc == -EPIPE && pre->rx_have == 0) {
        /* No connection was bound to this set-up yet, so nothing the
         * application holds is lost, and the peer hung up between
         * frames: typically its half of two connects that crossed,
         * withdrawn because ours won. Not worth a line at the default
         * level (a frame cut short is bad input and keeps level 1). */
        PRE_DPRINT(pre, 2,
                   "pscom: connection set-up with %s withdrawn by "
                   "the peer before it was bound",
                   pscom_precon_peer_str(pre));
        pscom_precon_destroy(pre);
        return 1;
    }
    pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR,
                      rc == -EPIPE ? "peer closed" : "bad frame or error");
    return 1;
}

/* Read and handle frames until none is waiting, both sides agreed, or
 * pre was parked. 1 if pre is gone. */
static int read_frames(struct pscom_precon *pre)
{
    while (pre->state == PRE_HANDSHAKE && !(pre->chosen && pre->got_hello)) {
        int rc = pscom_precon_read_frame(pre);

        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            return read_failed(pre, rc);
        }
        pre->rx_have = 0;
        rc = handle_frame(pre);
        if (rc < 0) {
            pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR,
                              "protocol error in hand-shake");
            return 1;
        }
        if (rc > 0) {
            return 1;
        }
        pre->frames++;
    }
    return 0;
}

/* Send what the handlers queued; finish once both sides agreed and all
 * is out. 1 if pre is gone. */
static int send_and_finish(struct pscom_precon *pre)
{
    if (pscom_precon_flush(pre) < 0) {
        pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR,
                          "send failed");
        return 1;
    }
    if (maybe_finish(pre)) {
        return 1;
    }
    pscom_precon_update_events(pre);
    return 0;
}

int pscom_precon_step(struct pscom_precon *pre, uint32_t revents)
{
    if (pre->state == PRE_PARKED &&
        (revents & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
        DPRINT(3, "pscom: parked connection from %s went away",
               pscom_precon_peer_str(pre));
        pscom_precon_destroy(pre);
        return 1;
    }
    if (pre->state == PRE_CONNECTING && pscom_precon_connect_result(pre)) {
        return 1;
    }
    if (read_frames(pre)) {
        return 1;
    }
    if (pre->fd < 0) {
        return 0;
    }
    return send_and_finish(pre);
}

static void precon_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    pscom_precon_step(ufd->priv, revents);
}

void pscom_precon_close_sock(struct pscom_sock *sock)
{
    while (!list_empty(&sock->precons)) {
        pscom_precon_destroy(
            list_entry(sock->precons.next, struct pscom_precon, next));
    }
    pscom_precon_od_requests_drop(sock);
    /* Retrying connects belong to connections, closed before this. */
}

int pscom_precon_holds_transport(const struct pscom_precon *pre)
{
    return pre->trying != NULL || pre->chosen != NULL;
}
