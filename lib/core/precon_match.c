/*
 * precon_match.c -- the HELLO, and which connection a hand-shake belongs
 * to. The connector learns its peer. The acceptor matches by the peer's
 * flags: a plain connect gets a new connection; an on-demand one the
 * application's connection to that socket name (parked until
 * pscom_connect_ondemand() creates it); a back-connect request starts
 * our connect to the peer (remembered until the application names it);
 * a resume the suspended connection (parked until it may resume here).
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "precon.h"

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
        pscom_debug_rl(&pscom_precon_rl, 1,
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

void pscom_precon_od_requests_drop(struct pscom_sock *sock)
{
    struct list_head *pos, *n;

    list_for_each_safe(pos, n, &od_requests)
    {
        struct od_request *r = list_entry(pos, struct od_request, next);

        if (r->sock == sock) {
            od_request_free(r);
        }
    }
}

/* ---- hand-shakes waiting for the application ----------------------------- */

/* The hand-shake waits (parked) for the application: it no longer counts
 * as one in progress and has no deadline, but its peer's close ends it. */
static void park(struct pscom_precon *pre, const char *what)
{
    pre->state = PRE_PARKED;
    pscom_precon_handshake_end(pre);
    pscom_precon_update_events(pre);
    DPRINT(3, "pscom: parked %s %s", what, pscom_precon_peer_str(pre));
}

static struct pscom_precon *find_parked(struct pscom_sock *sock,
                                        const char name[8])
{
    struct list_head *pos;

    list_for_each(pos, &sock->precons)
    {
        struct pscom_precon *pre = list_entry(pos, struct pscom_precon, next);
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

static void set_remote_info(struct pscom_con *con,
                            const struct precon_hello *remote)
{
    con->pub.remote_con_info.node_id = remote->node_id;
    con->pub.remote_con_info.pid = remote->pid;
    con->pub.remote_con_info.id = (void *)(uintptr_t)remote->id;
    memcpy(con->pub.remote_con_info.name, remote->name, 8);
}

/* The acceptor found the connection of pre: answer the HELLO. */
static void bind_con(struct pscom_precon *pre, struct pscom_con *con)
{
    pre->con = con;
    con->precon = pre;
    set_remote_info(con, &pre->remote);
    pre->state = PRE_HANDSHAKE;
    pscom_precon_handshake_begin(pre);
    pscom_precon_queue_hello(pre);
}

/* A parked pre gets its connection outside its own event: bind it and
 * send our HELLO now. */
static void adopt_parked(struct pscom_precon *pre, struct pscom_con *con)
{
    bind_con(pre, con);
    if (pscom_precon_flush(pre) < 0) {
        pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR, "send");
        return;
    }
    pscom_precon_update_events(pre);
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
    adopt_parked(pre, con);
}

static int parked_resume_of(const struct pscom_precon *pre,
                            const struct pscom_con *con)
{
    return pre->state == PRE_PARKED && pre->fd >= 0 &&
           (pre->remote.flags & PRECON_F_RESUME) &&
           pre->remote.pid == con->pub.remote_con_info.pid &&
           pre->remote.id == (uint64_t)(uintptr_t)con->pub.remote_con_info.id;
}

void pscom_precon_resume_check(struct pscom_con *con)
{
    struct list_head *pos;

    list_for_each(pos, &con->sock->precons)
    {
        struct pscom_precon *pre = list_entry(pos, struct pscom_precon, next);

        if (parked_resume_of(pre, con)) {
            adopt_parked(pre, con);
            return;
        }
    }
}

/* ---- the acceptor's HELLO ------------------------------------------------ */

/* The peer reconnects a suspended connection. 1 if pre was freed. */
static int acceptor_resume(struct pscom_precon *pre)
{
    int ready = 0;
    struct pscom_con *con = pscom_susp_find(pre->sock, pre->remote.pid,
                                            pre->remote.id, &ready);

    if (!con) {
        pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_IOERROR,
                          "no suspended connection to resume");
        return 1;
    }
    if (!ready) {
        /* Still suspended here: keep the peer waiting. */
        park(pre, "the resume of");
        return 0;
    }
    bind_con(pre, con);
    return 0;
}

/* The peer asks us to connect to it; its socket closes in any case (the
 * peer sees our close as "request taken"). Always 1: pre is freed. */
static int acceptor_backconnect(struct pscom_precon *pre)
{
    struct pscom_con *con = find_ondemand(pre->sock, pre->remote.name, 1);

    if (con && !con->od_started) {
        DPRINT(2, "pscom: back-connect request from %s",
               pscom_precon_peer_str(pre));
        pscom_precon_destroy(pre);
        pscom_con_ondemand_start(con);
        return 1;
    }
    if (!con) {
        /* Remember the request until connect_ondemand() names it. */
        od_request_add(pre->sock, pre->remote.name);
    }
    /* else: already connecting to it, nothing to do. */
    pscom_precon_destroy(pre);
    return 1;
}

/* The peer connects on demand. */
static int acceptor_ondemand(struct pscom_precon *pre)
{
    struct pscom_con *con = find_ondemand(pre->sock, pre->remote.name, 0);

    if (!con) {
        /* The application has not created its on-demand connection
         * yet: keep the peer waiting (nothing more is read). */
        park(pre, "on-demand connection from");
        return 0;
    }
    con->od_started = 1;
    con->pub.state = PSCOM_CON_STATE_ACCEPTING_ONDEMAND;
    bind_con(pre, con);
    return 0;
}

/* 1 if pre was freed. */
static int acceptor_hello(struct pscom_precon *pre)
{
    struct pscom_con *con;

    if (pre->remote.flags & PRECON_F_RESUME) {
        return acceptor_resume(pre);
    }
    if (pre->remote.flags & PRECON_F_BACKCONNECT) {
        return acceptor_backconnect(pre);
    }
    if (pre->remote.flags & PRECON_F_ONDEMAND) {
        return acceptor_ondemand(pre);
    }
    con = pscom_con_create(pre->sock);
    if (!con) {
        pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_STDERROR,
                          "out of memory");
        return 1;
    }
    con->pub.state = PSCOM_CON_STATE_ACCEPTING;
    bind_con(pre, con);
    return 0;
}

/* The connector learns its peer; a resume offers only now that the peer
 * answered (see pscom_precon_connector_connected()). */
static int connector_hello(struct pscom_precon *pre)
{
    set_remote_info(pre->con, &pre->remote);
    if ((pre->flags & PRECON_F_RESUME) && !pre->trying && !pre->chosen) {
        return pscom_precon_offer_first(pre);
    }
    return 0;
}

int pscom_precon_on_hello(struct pscom_precon *pre, size_t len)
{
    if (len != sizeof(pre->remote) || pre->got_hello) {
        return -1;
    }
    memcpy(&pre->remote, pre->rx_payload, sizeof(pre->remote));
    if (pre->remote.version != PRECON_VERSION) {
        PRE_DPRINT(pre, 1, "pscom: peer speaks hand-shake version %u, we %u",
                   pre->remote.version, PRECON_VERSION);
        return -1;
    }
    pre->got_hello = 1;
    return pre->connector ? connector_hello(pre) : acceptor_hello(pre);
}
