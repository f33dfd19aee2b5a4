/*
 * precon.c -- connection set-up over TCP ("precon"): the HELLO exchange,
 * on-demand matching by socket name, and the transport negotiation
 * described in plugin.h. Both sides are non-blocking state machines driven
 * by the progress engine, so two sockets of one process (or two processes
 * writing at once) can connect to each other.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pscom_priv.h"

#define PRECON_MAGIC 0x5043u /* "PC" */
#define PRECON_VERSION 1u

enum precon_type {
    PF_HELLO = 1,
    PF_OFFER = 2,
    PF_ACCEPT = 3,
    PF_REFUSE = 4,
    PF_ABORT = 5,
    PF_GO = 6,
    PF_TCP = 7,
};

struct precon_frame {
    uint16_t magic;
    uint16_t type;
    uint32_t len;
};

struct precon_hello {
    uint32_t version;
    uint32_t flags;
    int32_t node_id;
    int32_t pid;
    uint64_t id;
    char name[8];
    int32_t listen_port;
    uint32_t pad;
};

struct precon_offer {
    char name[PSCOM_PLUGIN_NAME_MAX + 1];
    char blob[PSCOM_PLUGIN_BLOB_MAX];
};

#define PAYLOAD_MAX (sizeof(struct precon_offer))
_Static_assert(PSCOM_PLUGIN_REASON_MAX <= PAYLOAD_MAX, "reason fits");

enum precon_state {
    PRE_CONNECTING, /* TCP connect in progress */
    PRE_RETRY,      /* waiting to retry a refused connect */
    PRE_HANDSHAKE,
    PRE_PARKED,     /* acceptor: on-demand peer, no connection yet */
};

struct pscom_precon {
    struct list_head next; /* sock->precons or retry list */
    struct list_head timed; /* timed_list while its deadline runs */
    uint64_t deadline_ms;
    int counted; /* in sock->handshakes */
    unsigned int frames; /* frames received and handled */
    struct pscom_sock *sock;
    struct pscom_con *con;
    int fd;
    pscom_ufd_t ufd;
    int connector;
    unsigned int flags;
    enum precon_state state;
    int got_hello;
    struct precon_hello remote;
    /* receive: one frame at a time, exact reads so that nothing after
     * the hand-shake is consumed */
    struct precon_frame rxh;
    size_t rx_have;
    char rx_payload[PAYLOAD_MAX];
    /* send */
    char tx[2 * (sizeof(struct precon_frame) + PAYLOAD_MAX)];
    size_t tx_len;
    size_t tx_off;
    /* negotiation */
    const pscom_plugin_t *cands[PSCOM_PLUGINS_MAX + 1];
    int ncands;
    int cand;
    const pscom_plugin_t *trying; /* offered / accepted, awaiting answer */
    const pscom_plugin_t *chosen; /* agreed: start once tx is flushed */
    int backconnect_done;
    /* connect */
    int nodeid;
    int portno;
    int retries;
    uint64_t retry_at_ms;
};

static struct list_head retry_list = LIST_HEAD_INIT(retry_list);

/* Accepted hand-shakes with a deadline, oldest first: every deadline is
 * its start plus the same PSP_HANDSHAKE_TIMEOUT, so the list is sorted
 * and the timer looks at its head only. */
static struct list_head timed_list = LIST_HEAD_INIT(timed_list);

/* Anyone who can reach the port can make the acceptor talk: its messages
 * are rate limited. */
static struct pscom_ratelimit acceptor_rl;

#define PRE_DPRINT(pre, level, ...)                                         \
    do {                                                                    \
        if ((pre)->connector) {                                             \
            DPRINT((level), __VA_ARGS__);                                   \
        } else {                                                            \
            pscom_debug_rl(&acceptor_rl, (level), __VA_ARGS__);             \
        }                                                                   \
    } while (0)

static void precon_cb(pscom_ufd_t *ufd, uint32_t revents);
static int precon_step(struct pscom_precon *pre, uint32_t revents);
static void precon_fail(struct pscom_precon *pre, pscom_op_t op,
                        pscom_err_t err, const char *why);

void pscom_tcp_configure(int fd)
{
    int one = 1;

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (pscom_env.tcp_nodelay) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (pscom_env.so_sndbuf) {
        int v = (int)pscom_env.so_sndbuf;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    }
    if (pscom_env.so_rcvbuf) {
        int v = (int)pscom_env.so_rcvbuf;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    }
}

static const char *peer_str(struct pscom_precon *pre)
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

/* ---- frames -------------------------------------------------------------- */

static void queue_frame(struct pscom_precon *pre, uint16_t type,
                        const void *payload, size_t len)
{
    struct precon_frame f = {PRECON_MAGIC, type, (uint32_t)len};

    if (pre->tx_len + sizeof(f) + len > sizeof(pre->tx)) {
        /* Cannot happen: at most two frames are ever queued. */
        DPRINT(0, "pscom: internal: precon tx buffer full");
        return;
    }
    memcpy(pre->tx + pre->tx_len, &f, sizeof(f));
    if (len) {
        memcpy(pre->tx + pre->tx_len + sizeof(f), payload, len);
    }
    pre->tx_len += sizeof(f) + len;
}

/* Write what is queued; 0 when everything is out, 1 if some is left,
 * negative on error. */
static int flush_tx(struct pscom_precon *pre)
{
    while (pre->tx_off < pre->tx_len) {
        ssize_t n = send(pre->fd, pre->tx + pre->tx_off,
                         pre->tx_len - pre->tx_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return 1;
            }
            return -errno;
        }
        pre->tx_off += (size_t)n;
    }
    pre->tx_off = pre->tx_len = 0;
    return 0;
}

static void queue_hello(struct pscom_precon *pre)
{
    struct precon_hello h;
    pscom_socket_t *s = &pre->sock->pub;

    memset(&h, 0, sizeof(h));
    h.version = PRECON_VERSION;
    h.flags = pre->connector ? pre->flags : 0;
    h.node_id = pscom_g.nodeid;
    h.pid = (int32_t)getpid();
    h.id = (uint64_t)(uintptr_t)pre->con;
    memcpy(h.name, s->local_con_info.name, 8);
    h.listen_port = s->listen_portno;
    queue_frame(pre, PF_HELLO, &h, sizeof(h));
}

static void update_events(struct pscom_precon *pre)
{
    uint32_t ev = 0;

    /* A parked hand-shake reads nothing more (what follows the HELLO is
     * for the connection that adopts it), but must see the peer's close:
     * EPOLLHUP comes only when both directions are shut. */
    ev |= pre->state == PRE_PARKED ? EPOLLRDHUP : EPOLLIN;
    if (pre->tx_len || pre->state == PRE_CONNECTING) {
        ev |= EPOLLOUT;
    }
    if (pre->fd >= 0) {
        pscom_ufd_mod(&pre->ufd, ev);
    }
}

/* ---- life cycle ---------------------------------------------------------- */

static struct pscom_precon *precon_new(struct pscom_sock *sock, int fd,
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

/* An accepted pre starts (or, unparked, resumes) its hand-shake: it
 * counts against PSP_HANDSHAKE_MAX and has PSP_HANDSHAKE_TIMEOUT. */
static void handshake_begin(struct pscom_precon *pre)
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

/* pre leaves the hand-shake: parked, finished or destroyed. */
static void handshake_end(struct pscom_precon *pre)
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
    if (pre->trying && pre->con && pre->trying->abort) {
        pre->trying->abort(pre->con);
    }
    pre->trying = NULL;
    handshake_end(pre);
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

/* The hand-shake is over: the socket now belongs to the connection. */
static void precon_finish(struct pscom_precon *pre,
                          const pscom_plugin_t *plugin)
{
    struct pscom_con *con = pre->con;
    int connector = pre->connector;
    /* A resumed connection is no new one for con_accept. */
    int accepted = !pre->connector && !con->ondemand && !con->susp.active;
    int rc;

    handshake_end(pre);
    pscom_ufd_del(&pre->ufd);
    con->fd = pre->fd;
    pre->fd = -1;
    con->precon = NULL;
    pre->con = NULL;
    pre->trying = NULL;
    list_del(&pre->next);
    free(pre);

    rc = plugin->start ? plugin->start(con) : 0;
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

/* 1 if the hand-shake ended (pre is freed). */
static int maybe_finish(struct pscom_precon *pre)
{
    if (pre->chosen && pre->got_hello && pre->tx_len == 0 && pre->con) {
        precon_finish(pre, pre->chosen);
        return 1;
    }
    return 0;
}

static void precon_fail(struct pscom_precon *pre, pscom_op_t op,
                        pscom_err_t err, const char *why)
{
    struct pscom_con *con = pre->con;
    int connector = pre->connector;

    /* A blocking pscom_connect() reports through its return value. */
    PRE_DPRINT(pre, con && con->blocking_connect ? 2 : 1,
               "pscom: connection set-up with %s failed: %s", peer_str(pre),
               why);
    pscom_precon_destroy(pre);
    if (!con) {
        return;
    }
    if (pscom_susp_precon_failed(con)) {
        return; /* retried */
    }
    if (!connector && !con->ondemand && con->pub.state ==
                                                  PSCOM_CON_STATE_ACCEPTING) {
        /* The application never saw this connection. */
        con->pub.state = PSCOM_CON_STATE_CLOSED;
        con->error_reported = 1;
        pscom_con_free(con);
        return;
    }
    pscom_con_fail(con, op, err);
}

/* ---- connector ----------------------------------------------------------- */

/* Offer the next candidate, or tcp. 1 if pre was freed (failure). */
static int next_offer(struct pscom_precon *pre)
{
    char reason[PSCOM_PLUGIN_REASON_MAX];
    struct precon_offer offer;

    while (pre->cand < pre->ncands) {
        const pscom_plugin_t *p = pre->cands[pre->cand++];
        size_t len = 0;

        reason[0] = '\0';
        if (!p->offer) {
            continue;
        }
        if (p->offer(pre->con, offer.blob, &len, reason)) {
            DPRINT(2, "pscom: %s: %s not offered: %s", peer_str(pre),
                   p->name, reason[0] ? reason : "refused");
            continue;
        }
        if (len > sizeof(offer.blob)) {
            DPRINT(1, "pscom: plugin %s: offer blob too long (%zu)",
                   p->name, len);
            if (p->abort) {
                p->abort(pre->con);
            }
            continue;
        }
        memset(offer.name, 0, sizeof(offer.name));
        memcpy(offer.name, p->name, strnlen(p->name, PSCOM_PLUGIN_NAME_MAX));
        queue_frame(pre, PF_OFFER, &offer, sizeof(offer.name) + len);
        pre->trying = p;
        return 0;
    }
    if (pscom_plugins_tcp_priority() == 0) {
        precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_CONNECTION_REFUSED,
                    "no transport agreed and tcp is disabled (PSP_TCP=0)");
        return 1;
    }
    queue_frame(pre, PF_TCP, NULL, 0);
    pre->chosen = &pscom_plugin_tcp_builtin;
    return 0;
}

/* 1 if pre was freed. */
static int connector_connected(struct pscom_precon *pre)
{
    pre->state = PRE_HANDSHAKE;
    queue_hello(pre);
    if (pre->flags & PRECON_F_BACKCONNECT) {
        /* Only ask the peer to connect to us; this socket then closes. */
        return 0;
    }
    if (pre->flags & PRECON_F_RESUME) {
        /* Offer when the peer answers: it may still be suspended (its
         * device detached), and an offer holds transport resources. */
        return 0;
    }
    pre->ncands = pscom_plugins_candidates(pre->sock, pre->cands);
    pre->cand = 0;
    return next_offer(pre);
}

static int start_connect(struct pscom_precon *pre)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0) {
        DPRINT(0, "pscom: socket(): %s", strerror(errno));
        return -errno;
    }
    pscom_tcp_configure(fd);
    sa.sin_addr.s_addr = htonl((uint32_t)pre->nodeid);
    sa.sin_port = htons((uint16_t)pre->portno);
    pre->fd = fd;
    pre->ufd.fd = fd;
    pre->state = PRE_CONNECTING;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno !=
                                                                EINPROGRESS) {
        int err = errno;
        pre->ufd.events = EPOLLOUT;
        /* Report through the normal path (refused -> retry). */
        if (pscom_ufd_add(&pre->ufd)) {
            return -err;
        }
        return 0;
    }
    pre->ufd.events = EPOLLOUT;
    return pscom_ufd_add(&pre->ufd);
}

int pscom_precon_connect(struct pscom_con *con, int nodeid, int portno,
                         unsigned int flags)
{
    struct pscom_precon *pre = precon_new(con->sock, -1, 1);
    int rc;

    if (!pre) {
        return -ENOMEM;
    }
    pre->con = con;
    pre->flags = flags;
    pre->nodeid = nodeid;
    pre->portno = portno;
    pre->retries = pscom_env.retry;
    con->precon = pre;
    con->connect_nodeid = nodeid;
    con->connect_portno = portno;
    rc = start_connect(pre);
    if (rc) {
        pscom_precon_destroy(pre);
    }
    return rc;
}

/* 1 if pre was freed or moved to the retry list. */
static int connect_result(struct pscom_precon *pre)
{
    int err = 0;
    socklen_t len = sizeof(err);

    getsockopt(pre->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (!err) {
        return connector_connected(pre);
    }
    if (err == ECONNREFUSED && pre->retries > 0) {
        int attempt = pscom_env.retry - pre->retries;
        uint64_t delay = 10u << (attempt < 5 ? attempt : 5);

        pre->retries--;
        pscom_ufd_del(&pre->ufd);
        close(pre->fd);
        pre->fd = -1;
        pre->state = PRE_RETRY;
        pre->retry_at_ms = pscom_now_ms() + (delay > 200 ? 200 : delay);
        list_del(&pre->next);
        list_add_tail(&pre->next, &retry_list);
        DPRINT(3, "pscom: connect to %s refused, retrying", peer_str(pre));
        return 1;
    }
    precon_fail(pre, PSCOM_OP_CONNECT,
                err == ECONNREFUSED ? PSCOM_ERR_CONNECTION_REFUSED
                                    : PSCOM_ERR_IOERROR,
                strerror(err));
    return 1;
}

/* Start the due connect retries; ms until the next one, or -1. */
static int run_retries(uint64_t now)
{
    struct list_head *pos, *n;
    int next = -1;

    list_for_each_safe(pos, n, &retry_list)
    {
        struct pscom_precon *pre =
            list_entry(pos, struct pscom_precon, next);
        if (pre->retry_at_ms <= now) {
            list_del(&pre->next);
            list_add_tail(&pre->next, &pre->sock->precons);
            if (start_connect(pre)) {
                precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_STDERROR,
                            "connect retry failed");
            }
            next = 0;
        } else {
            int t = (int)(pre->retry_at_ms - now);
            if (next < 0 || t < next) {
                next = t;
            }
        }
    }
    return next;
}

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
        struct pscom_precon *pre =
            list_entry(timed_list.next, struct pscom_precon, timed);
        unsigned int frames = pre->frames;
        char why[80];

        if (pre->deadline_ms > now) {
            uint64_t t = pre->deadline_ms - now;
            return t > INT_MAX ? INT_MAX : (int)t;
        }
        if (precon_step(pre, EPOLLIN) || list_empty(&pre->timed)) {
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
        precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR, why);
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

    if (list_empty(&retry_list) && list_empty(&timed_list) &&
        list_empty(&pscom_g.sockets)) {
        return -1;
    }
    now = pscom_now_ms();
    next = run_retries(now);
    next = min_timeout(next, run_handshake_deadlines(now));
    return min_timeout(next, pscom_listen_run_backoffs(now));
}

/* ---- acceptor ------------------------------------------------------------ */

void pscom_precon_accepted(struct pscom_sock *sock, int fd)
{
    struct pscom_precon *pre;

    pscom_tcp_configure(fd);
    pre = precon_new(sock, fd, 0);
    if (!pre) {
        close(fd);
        return;
    }
    pre->state = PRE_HANDSHAKE;
    handshake_begin(pre);
    pre->ufd.events = EPOLLIN;
    if (pscom_ufd_add(&pre->ufd)) {
        pscom_precon_destroy(pre);
    }
}

/* ---- remembered back-connect requests ------------------------------------
 * A peer with the larger socket name asks us to connect to it (on
 * demand) before our application created its connection to that name:
 * the request is remembered until pscom_connect_ondemand() names it. The
 * name is all that is needed, so that is all that is kept; one request
 * per socket and name, at most OD_REQUESTS_MAX in all (the oldest is
 * dropped first), so that a flood of requests cannot grow the process.
 */
#define OD_REQUESTS_MAX 65536u

struct od_request {
    struct list_head next; /* od_requests, oldest first */
    struct pscom_sock *sock;
    char name[8];
};

static struct list_head od_requests = LIST_HEAD_INIT(od_requests);
static unsigned int od_requests_n;

static struct od_request *od_request_find(struct pscom_sock *sock,
                                          const char name[8])
{
    struct list_head *pos;

    list_for_each(pos, &od_requests)
    {
        struct od_request *r = list_entry(pos, struct od_request, next);

        if (r->sock == sock && memcmp(r->name, name, 8) == 0) {
            return r;
        }
    }
    return NULL;
}

static void od_request_free(struct od_request *r)
{
    list_del(&r->next);
    od_requests_n--;
    free(r);
}

static void od_request_add(struct pscom_sock *sock, const char name[8])
{
    struct od_request *r = od_request_find(sock, name);

    if (r) {
        /* Asked again: the newest request of the list. */
        list_del(&r->next);
        list_add_tail(&r->next, &od_requests);
        return;
    }
    if (od_requests_n >= OD_REQUESTS_MAX) {
        r = list_entry(od_requests.next, struct od_request, next);
        pscom_debug_rl(&acceptor_rl, 1,
                       "pscom: %u back-connect requests wait for their "
                       "on-demand connections: dropping the oldest (%.8s)",
                       od_requests_n, r->name);
        od_request_free(r);
    }
    r = malloc(sizeof(*r));
    if (!r) {
        DPRINT(0, "pscom: out of memory (back-connect request)");
        return;
    }
    r->sock = sock;
    memcpy(r->name, name, 8);
    list_add_tail(&r->next, &od_requests);
    od_requests_n++;
}

/* 1 if a request for sock and name was remembered (it is dropped). */
static int od_request_take(struct pscom_sock *sock, const char name[8])
{
    struct od_request *r = od_request_find(sock, name);

    if (!r) {
        return 0;
    }
    od_request_free(r);
    return 1;
}

/* ---- hand-shakes waiting for the application ----------------------------- */

/* The hand-shake waits (parked) for the application: it no longer counts
 * as one in progress and has no deadline, but its peer's close ends it. */
static void park(struct pscom_precon *pre)
{
    pre->state = PRE_PARKED;
    handshake_end(pre);
    update_events(pre);
}

static struct pscom_precon *find_parked(struct pscom_sock *sock,
                                        const char name[8])
{
    struct list_head *pos;

    list_for_each(pos, &sock->precons)
    {
        struct pscom_precon *pre =
            list_entry(pos, struct pscom_precon, next);
        if (pre->state == PRE_PARKED &&
            !(pre->remote.flags & PRECON_F_RESUME) &&
            memcmp(pre->remote.name, name, 8) == 0) {
            return pre;
        }
    }
    return NULL;
}

/* The on-demand connection of sock for remote socket name. A connection
 * whose only hand-shake is our back-connect request counts as waiting (the
 * request is dropped); with any_state, also one already connecting. */
static struct pscom_con *find_ondemand(struct pscom_sock *sock,
                                       const char name[8], int any_state)
{
    struct list_head *pos;

    list_for_each(pos, &sock->cons)
    {
        struct pscom_con *con = list_entry(pos, struct pscom_con, next);
        struct pscom_precon *pre = con->precon;

        if (!con->ondemand || memcmp(con->od_name, name, 8) ||
            (con->pub.state & PSCOM_CON_STATE_CLOSED)) {
            continue;
        }
        if (any_state || !pre) {
            return con;
        }
        if (pre->connector && (pre->flags & PRECON_F_BACKCONNECT)) {
            pscom_precon_destroy(pre);
            return con;
        }
    }
    return NULL;
}

static void bind_con(struct pscom_precon *pre, struct pscom_con *con)
{
    pre->con = con;
    con->precon = pre;
    con->pub.remote_con_info.node_id = pre->remote.node_id;
    con->pub.remote_con_info.pid = pre->remote.pid;
    con->pub.remote_con_info.id = (void *)(uintptr_t)pre->remote.id;
    memcpy(con->pub.remote_con_info.name, pre->remote.name, 8);
    pre->state = PRE_HANDSHAKE;
    handshake_begin(pre);
    queue_hello(pre);
}

void pscom_precon_ondemand_check(struct pscom_con *con)
{
    struct pscom_precon *pre = find_parked(con->sock, con->od_name);
    int asked = od_request_take(con->sock, con->od_name);

    if (!pre) {
        if (asked) {
            pscom_con_ondemand_start(con);
        }
        return;
    }
    con->od_started = 1;
    con->pub.state = PSCOM_CON_STATE_ACCEPTING_ONDEMAND;
    bind_con(pre, con);
    if (flush_tx(pre) < 0) {
        precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR, "send");
        return;
    }
    update_events(pre);
}

/* The peer reconnects a suspended connection. 1 if pre was freed. */
static int acceptor_resume(struct pscom_precon *pre)
{
    int ready = 0;
    struct pscom_con *con = pscom_susp_find(pre->sock, pre->remote.pid,
                                            pre->remote.id, &ready);

    if (!con) {
        precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR,
                    "no suspended connection to resume");
        return 1;
    }
    if (!ready) {
        /* Still suspended here: keep the peer waiting. */
        park(pre);
        DPRINT(3, "pscom: parked the resume of %s", peer_str(pre));
        return 0;
    }
    bind_con(pre, con);
    return 0;
}

void pscom_precon_resume_check(struct pscom_con *con)
{
    struct list_head *pos;

    list_for_each(pos, &con->sock->precons)
    {
        struct pscom_precon *pre =
            list_entry(pos, struct pscom_precon, next);

        if (pre->state == PRE_PARKED && pre->fd >= 0 &&
            (pre->remote.flags & PRECON_F_RESUME) &&
            pre->remote.pid == con->pub.remote_con_info.pid &&
            pre->remote.id ==
                (uint64_t)(uintptr_t)con->pub.remote_con_info.id) {
            bind_con(pre, con);
            if (flush_tx(pre) < 0) {
                precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR,
                            "send");
                return;
            }
            update_events(pre);
            return;
        }
    }
}

/* 1 if pre was freed. */
static int acceptor_hello(struct pscom_precon *pre)
{
    struct pscom_con *con;

    if (pre->remote.flags & PRECON_F_RESUME) {
        return acceptor_resume(pre);
    }
    if (pre->remote.flags & PRECON_F_BACKCONNECT) {
        con = find_ondemand(pre->sock, pre->remote.name, 1);
        if (con && !con->od_started) {
            DPRINT(2, "pscom: back-connect request from %s",
                   peer_str(pre));
            pscom_precon_destroy(pre);
            pscom_con_ondemand_start(con);
            return 1;
        } else if (con) {
            /* Already connecting to it: nothing to do. */
            pscom_precon_destroy(pre);
            return 1;
        }
        /* Remember the request until connect_ondemand() names it; the
         * peer sees our close as "request taken". */
        od_request_add(pre->sock, pre->remote.name);
        pscom_precon_destroy(pre);
        return 1;
    }
    if (pre->remote.flags & PRECON_F_ONDEMAND) {
        con = find_ondemand(pre->sock, pre->remote.name, 0);
        if (!con) {
            /* The application has not created its on-demand connection
             * yet: keep the peer waiting (nothing more is read). */
            park(pre);
            DPRINT(3, "pscom: parked on-demand connection from %s",
                   peer_str(pre));
            return 0;
        }
        con->od_started = 1;
        con->pub.state = PSCOM_CON_STATE_ACCEPTING_ONDEMAND;
    } else {
        con = pscom_con_create(pre->sock);
        if (!con) {
            precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_STDERROR,
                        "out of memory");
            return 1;
        }
        con->pub.state = PSCOM_CON_STATE_ACCEPTING;
    }
    bind_con(pre, con);
    return 0;
}

static void acceptor_offer(struct pscom_precon *pre, size_t len)
{
    struct precon_offer *offer = (struct precon_offer *)pre->rx_payload;
    char reason[PSCOM_PLUGIN_REASON_MAX] = "";
    char reply[PSCOM_PLUGIN_BLOB_MAX];
    size_t rlen = 0;
    const pscom_plugin_t *p;

    offer->name[PSCOM_PLUGIN_NAME_MAX] = '\0';
    p = pscom_plugins_find(pre->sock, offer->name, reason);
    if (p && p->accept &&
        p->accept(pre->con, offer->blob, len - sizeof(offer->name), reply,
                  &rlen, reason) == 0 &&
        rlen <= sizeof(reply)) {
        queue_frame(pre, PF_ACCEPT, reply, rlen);
        pre->trying = p;
        return;
    }
    if (!reason[0]) {
        snprintf(reason, sizeof(reason), "%.15s refused", offer->name);
    }
    reason[sizeof(reason) - 1] = '\0';
    PRE_DPRINT(pre, 2, "pscom: %s: refusing %s: %s", peer_str(pre),
               offer->name, reason);
    queue_frame(pre, PF_REFUSE, reason, strlen(reason) + 1);
}

/* ---- frame dispatch ------------------------------------------------------ */

static int handle_frame(struct pscom_precon *pre)
{
    uint16_t type = pre->rxh.type;
    size_t len = pre->rxh.len;
    char reason[PSCOM_PLUGIN_REASON_MAX];

    if (type == PF_HELLO) {
        if (len != sizeof(pre->remote) || pre->got_hello) {
            return -1;
        }
        memcpy(&pre->remote, pre->rx_payload, sizeof(pre->remote));
        if (pre->remote.version != PRECON_VERSION) {
            PRE_DPRINT(pre, 1,
                       "pscom: peer speaks hand-shake version %u, we %u",
                       pre->remote.version, PRECON_VERSION);
            return -1;
        }
        pre->got_hello = 1;
        if (pre->connector) {
            struct pscom_con *con = pre->con;
            con->pub.remote_con_info.node_id = pre->remote.node_id;
            con->pub.remote_con_info.pid = pre->remote.pid;
            con->pub.remote_con_info.id = (void *)(uintptr_t)pre->remote.id;
            memcpy(con->pub.remote_con_info.name, pre->remote.name, 8);
            if ((pre->flags & PRECON_F_RESUME) && !pre->trying &&
                !pre->chosen) {
                pre->ncands = pscom_plugins_candidates(pre->sock, pre->cands);
                pre->cand = 0;
                return next_offer(pre);
            }
            return 0;
        }
        return acceptor_hello(pre);
    }
    if (!pre->got_hello || !pre->con) {
        return -1;
    }
    switch (type) {
    case PF_OFFER:
        if (pre->connector || pre->trying || pre->chosen ||
            len < sizeof(((struct precon_offer *)0)->name)) {
            return -1;
        }
        acceptor_offer(pre, len);
        return 0;
    case PF_ACCEPT:
        if (!pre->connector || !pre->trying) {
            return -1;
        }
        reason[0] = '\0';
        if (pre->trying->finish &&
            pre->trying->finish(pre->con, pre->rx_payload, len, reason)) {
            DPRINT(2, "pscom: %s: %s failed after the peer accepted: %s",
                   peer_str(pre), pre->trying->name,
                   reason[0] ? reason : "?");
            queue_frame(pre, PF_ABORT, NULL, 0);
            if (pre->trying->abort) {
                pre->trying->abort(pre->con);
            }
            pre->trying = NULL;
            return next_offer(pre);
        }
        queue_frame(pre, PF_GO, NULL, 0);
        pre->chosen = pre->trying;
        pre->trying = NULL;
        return 0;
    case PF_REFUSE:
        if (!pre->connector || !pre->trying) {
            return -1;
        }
        pre->rx_payload[len ? len - 1 : 0] = '\0';
        DPRINT(2, "pscom: %s: peer refused %s: %s", peer_str(pre),
               pre->trying->name, pre->rx_payload);
        if (pre->trying->abort) {
            pre->trying->abort(pre->con);
        }
        pre->trying = NULL;
        return next_offer(pre);
    case PF_ABORT:
        if (pre->connector || !pre->trying) {
            return -1;
        }
        DPRINT(2, "pscom: %s: peer aborted %s", peer_str(pre),
               pre->trying->name);
        if (pre->trying->abort) {
            pre->trying->abort(pre->con);
        }
        pre->trying = NULL;
        return 0;
    case PF_GO:
        if (pre->connector || !pre->trying) {
            return -1;
        }
        pre->chosen = pre->trying;
        pre->trying = NULL;
        return 0;
    case PF_TCP:
        if (pre->connector || pre->trying) {
            return -1;
        }
        if (pscom_plugins_tcp_priority() == 0) {
            PRE_DPRINT(pre, 1, "pscom: %s: peer wants tcp but PSP_TCP=0",
                       peer_str(pre));
            return -1;
        }
        pre->chosen = &pscom_plugin_tcp_builtin;
        return 0;
    default:
        return -1;
    }
}

/* Read one frame without reading past it. 1: frame complete, 0: need
 * more, negative: error/EOF. */
static int read_frame(struct pscom_precon *pre)
{
    size_t hs = sizeof(pre->rxh);

    for (;;) {
        char *dst;
        size_t want;
        ssize_t n;

        if (pre->rx_have < hs) {
            dst = (char *)&pre->rxh + pre->rx_have;
            want = hs - pre->rx_have;
        } else {
            if (pre->rxh.magic != PRECON_MAGIC ||
                pre->rxh.len > PAYLOAD_MAX) {
                PRE_DPRINT(pre, 1,
                           "pscom: connection from %s: bad hand-shake frame "
                           "(magic 0x%04x, length %u): not a pscom peer?",
                           peer_str(pre), pre->rxh.magic,
                           (unsigned)pre->rxh.len);
                return -EPROTO;
            }
            if (pre->rx_have == hs + pre->rxh.len) {
                return 1;
            }
            dst = pre->rx_payload + (pre->rx_have - hs);
            want = hs + pre->rxh.len - pre->rx_have;
        }
        n = recv(pre->fd, dst, want, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -errno;
        }
        if (n == 0) {
            return -EPIPE;
        }
        pre->rx_have += (size_t)n;
    }
}

/* Handle revents of pre. 1 if pre may be gone (freed, or moved to the
 * retry list): the caller must not touch it. */
static int precon_step(struct pscom_precon *pre, uint32_t revents)
{
    int rc;

    if (pre->state == PRE_PARKED) {
        if (revents & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
            DPRINT(3, "pscom: parked connection from %s went away",
                   peer_str(pre));
            pscom_precon_destroy(pre);
            return 1;
        }
    }
    if (pre->state == PRE_CONNECTING) {
        if (connect_result(pre)) {
            return 1;
        }
    }
    while (pre->state == PRE_HANDSHAKE && !(pre->chosen && pre->got_hello)) {
        rc = read_frame(pre);
        if (rc == 0) {
            break;
        }
        if (rc < 0) {
            if (pre->connector && (pre->flags & PRECON_F_BACKCONNECT) &&
                rc == -EPIPE) {
                /* The peer read our request and hung up: done. */
                pscom_precon_destroy(pre);
                return 1;
            }
            precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR,
                        rc == -EPIPE ? "peer closed" : "bad frame or error");
            return 1;
        }
        pre->rx_have = 0;
        rc = handle_frame(pre);
        if (rc < 0) {
            precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR,
                        "protocol error in hand-shake");
            return 1;
        }
        if (rc > 0) {
            return 1; /* pre is gone */
        }
        pre->frames++;
        if (pre->state == PRE_PARKED) {
            break;
        }
    }
    if (pre->fd < 0) {
        return 0;
    }
    rc = flush_tx(pre);
    if (rc < 0) {
        precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR, "send failed");
        return 1;
    }
    if (pre->connector && (pre->flags & PRECON_F_BACKCONNECT) &&
        pre->tx_len == 0 && !pre->backconnect_done) {
        /* Request sent: wait for the peer to close (EOF above). */
        pre->backconnect_done = 1;
    }
    if (maybe_finish(pre)) {
        return 1;
    }
    update_events(pre);
    return 0;
}

static void precon_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    precon_step(ufd->priv, revents);
}

void pscom_precon_close_sock(struct pscom_sock *sock)
{
    struct list_head *pos, *n;

    while (!list_empty(&sock->precons)) {
        pscom_precon_destroy(
            list_entry(sock->precons.next, struct pscom_precon, next));
    }
    list_for_each_safe(pos, n, &od_requests)
    {
        struct od_request *r = list_entry(pos, struct od_request, next);

        if (r->sock == sock) {
            od_request_free(r);
        }
    }
    /* Retrying connects belong to connections, closed before this. */
}

int pscom_precon_holds_transport(const struct pscom_precon *pre)
{
    return pre->trying != NULL || pre->chosen != NULL;
}
