/*
 * battery_forked.c -- battery cases that need processes of their own.
 *
 * The parent never initialises pscom: each case forks fresh children
 * (bt_spawn), hands socket addresses between them through pipes and
 * reports one TAP line per child from its exit status; a child's output
 * becomes diagnostics when it fails. Every child has an alarm, so a hang
 * is a failure, never a stuck suite.
 */
#include "battery.h"

#include "pattern.h"
#include "tap.h"

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADDR_MAX 128
#define ANY_PER_SENDER 500
#define KILL_LEN (256UL * 1024 * 1024)
#define BLOCK_LEN (64UL * 1024 * 1024)
#define THREADS 2
#define THREAD_MSGS 2000

enum {
    TAG_OD = 0x1000,
    TAG_ANY = 0x1100,
    TAG_ACK = 0x1101,
    TAG_KILL = 0x1200,
    TAG_BIG = 0x1300,
    TAG_X = 0x1301,
    TAG_Y = 0x1302,
    TAG_NONE = 0x4e4f4e45,
    TAG_THREAD = 0x1400, /* + thread index */
    TAG_THREAD_ACK = 0x1410,
};

static const char *forked_expect;

/* Fail a child with a message on stderr (the parent shows it). */
static int child_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int child_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static int check_type(pscom_connection_t *con)
{
    const char *type = pscom_con_type_str(con->type);

    if (forked_expect && strcmp(type, forked_expect) != 0) {
        return child_fail("connection type is \"%s\", expected \"%s\"", type,
                          forked_expect);
    }
    return 0;
}

/* ---- connection refused ---------------------------------------------- */

/* A port that was free a moment ago: bind to 0, read it, close. */
static int unused_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        tap_bail("cannot find an unused port");
    }
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int refused_child(void *arg)
{
    int port = *(int *)arg;
    pscom_socket_t *sock = bt_open_socket(0, NULL);
    pscom_connection_t *con;
    pscom_err_t err;

    if (!sock) {
        return 1;
    }
    con = pscom_open_connection(sock);
    err = pscom_connect(con, (int)INADDR_LOOPBACK, port);
    if (err != PSCOM_ERR_CONNECTION_REFUSED && err != PSCOM_ERR_STDERROR) {
        return child_fail("connect to a closed port returned %s (%d)",
                          pscom_err_str(err), err);
    }
    pscom_close_connection(con);
    pscom_close_socket(sock);
    return 0;
}

static void case_refused(const char *expect)
{
    struct bt_child ch;
    int port = unused_port();

    bt_spawn(&ch, refused_child, &port);
    tap_ok(bt_reap(&ch, 0) == 0,
           "connect to a port where nothing listens: REFUSED, no hang");
}

/* ---- on demand -------------------------------------------------------- */

struct od_arg {
    const char *name;
    struct bt_line_pipe *out, *in;
    int writes_first; /* 1: send, then receive; 0: receive, then send */
    int waits_eof;    /* 1: leave after the peer hung up; 0: leave first */
    uint32_t seed;
    uint32_t peer_seed;
};

static int od_child(void *arg)
{
    struct od_arg *a = arg;
    pscom_socket_t *sock = bt_open_socket(1, a->name);
    unsigned char sbuf[4096], rbuf[4096];
    char peer[ADDR_MAX];
    pscom_connection_t *con;
    pscom_connection_t *from = NULL;
    pscom_err_t err;
    int rc = 0;

    if (!sock) {
        return 1;
    }
    bt_line_send(a->out, pscom_listen_socket_ondemand_str(sock));
    if (bt_line_recv(a->in, peer, sizeof(peer)) < 0) {
        return child_fail("no peer address");
    }
    con = pscom_open_connection(sock);
    err = pscom_connect_socket_str(con, peer);
    if (err != PSCOM_SUCCESS) {
        return child_fail("connect_socket_str(%s): %s", peer,
                          pscom_err_str(err));
    }
    pattern_fill(sbuf, sizeof(sbuf), a->seed);
    if (a->writes_first) {
        pscom_send(con, NULL, 0, sbuf, sizeof(sbuf));
    }
    err = pscom_recv_any_con(sock, &from, NULL, 0, rbuf, sizeof(rbuf));
    if (err != PSCOM_SUCCESS) {
        return child_fail("receive: %s", pscom_err_str(err));
    }
    if (pattern_check(rbuf, sizeof(rbuf), a->peer_seed) >= 0) {
        rc = child_fail("received content is wrong");
    }
    if (from != con) {
        /* The message must arrive on the connection we opened, not on a
         * second one: on-demand means exactly one connection per pair. */
        rc = child_fail("message came on another connection (%s), not on "
                        "the on-demand one (%s)",
                        from ? pscom_con_str(from) : "NULL",
                        pscom_con_str(con));
    }
    if (!a->writes_first) {
        pscom_send(con, NULL, 0, sbuf, sizeof(sbuf));
    }
    pscom_flush(con);
    rc |= check_type(con);
    /* One side waits for the other to hang up first so that the last
     * receive is not cut short by a close. */
    while (a->waits_eof && bt_errors.count == 0) {
        pscom_wait_any();
    }
    pscom_close_socket(sock);
    return rc;
}

static void ondemand_run(const char *what, int a_first, int b_first)
{
    struct bt_line_pipe ab, ba;
    struct bt_child ca, cb;
    struct od_arg a = {"bat-a", &ab, &ba, a_first, 1, 11, 22};
    struct od_arg b = {"bat-b", &ba, &ab, b_first, 0, 22, 11};
    int ra, rb;

    bt_line_pipe_open(&ab);
    bt_line_pipe_open(&ba);
    bt_spawn(&ca, od_child, &a);
    bt_spawn(&cb, od_child, &b);
    bt_line_pipe_close(&ab);
    bt_line_pipe_close(&ba);
    rb = bt_reap(&cb, 0);
    ra = bt_reap(&ca, 0);
    tap_ok(ra == 0, "on demand, %s: side a (name bat-a)", what);
    tap_ok(rb == 0, "on demand, %s: side b (name bat-b)", what);
}

static void case_ondemand(const char *expect)
{
    ondemand_run("lower name writes first", 1, 0);
    ondemand_run("higher name writes first", 0, 1);
    ondemand_run("both write first at once", 1, 1);
}

/* ---- ANY-source receives --------------------------------------------- */

struct any_arg {
    /* Receiver: one pipe per sender, senders: their own. Two readers of
     * one pipe could each take part of a line (bt_line_recv reads byte by
     * byte): CI once saw "92.0.2.2" and "1192.0.2.2". */
    struct bt_line_pipe *addr;
    int nsenders;
    uint32_t id; /* sender id 1.. */
};

static int any_sender(void *arg)
{
    struct any_arg *a = arg;
    pscom_socket_t *sock = bt_open_socket(0, NULL);
    struct bt_ctx c = {.role = (enum bt_role)a->id, .sock = sock};
    char addr[ADDR_MAX];
    unsigned char buf[256];
    pscom_request_t *ack;
    pscom_err_t err;
    int rc = 0;

    if (!sock || bt_line_recv(a->addr, addr, sizeof(addr)) < 0) {
        return child_fail("no receiver address");
    }
    c.con = pscom_open_connection(sock);
    err = pscom_connect_socket_str(c.con, addr);
    if (err != PSCOM_SUCCESS) {
        return child_fail("connect %s: %s", addr, pscom_err_str(err));
    }
    for (uint32_t i = 0; i < ANY_PER_SENDER; i++) {
        struct bt_xh xh = {TAG_ANY, i, a->id, 0};

        pattern_fill(buf, i % sizeof(buf), bt_seed(TAG_ANY, i, a->id));
        pscom_send(c.con, &xh, sizeof(xh), buf, i % sizeof(buf));
    }
    ack = bt_post_recv(&c, TAG_ACK, 0, 1, NULL, 0);
    pscom_wait(ack);
    if (!pscom_req_successful(ack)) {
        rc = child_fail("no ack from the receiver: %s",
                        pscom_req_state_str(ack->state));
    }
    rc |= check_type(c.con);
    pscom_request_free(ack);
    pscom_close_socket(sock);
    return rc;
}

/* Receive everything with connection == NULL, alternating posted ANY
 * requests and pscom_recv_any_con(); per sender in order and always from the
 * same connection. */
static int any_receiver(void *arg)
{
    struct any_arg *a = arg;
    pscom_socket_t *sock = bt_open_socket(1, NULL);
    pscom_connection_t *from[3] = {NULL, NULL, NULL};
    uint32_t next[3] = {0, 0, 0};
    unsigned char buf[256];
    int total = a->nsenders * ANY_PER_SENDER;

    if (!sock) {
        return 1;
    }
    for (int i = 0; i < a->nsenders; i++) {
        bt_line_send(&a->addr[i], pscom_listen_socket_str(sock));
    }
    for (int n = 0; n < total; n++) {
        pscom_connection_t *con = NULL;
        struct bt_xh xh;

        if (n % 2) {
            pscom_err_t err = pscom_recv_any_con(sock, &con, &xh, sizeof(xh),
                                                 buf, sizeof(buf));

            if (err != PSCOM_SUCCESS) {
                return child_fail("recv_any: %s", pscom_err_str(err));
            }
        } else {
            struct bt_ctx c = {.role = BT_SERVER, .sock = sock};
            pscom_request_t *r = bt_post_recv(&c, TAG_ANY, 0, 1, buf,
                                              sizeof(buf));

            pscom_wait(r);
            if (!pscom_req_successful(r)) {
                return child_fail("ANY receive: %s",
                                  pscom_req_state_str(r->state));
            }
            memcpy(&xh, &r->xheader, sizeof(xh));
            con = r->connection;
            pscom_request_free(r);
        }
        if (xh.tag != TAG_ANY || xh.side < 1 ||
            xh.side > (uint32_t)a->nsenders) {
            return child_fail("message %d: tag %#x side %u", n, xh.tag,
                              xh.side);
        }
        if (xh.seq != next[xh.side]) {
            return child_fail("sender %u: seq %u, want %u", xh.side, xh.seq,
                              next[xh.side]);
        }
        if (pattern_check(buf, xh.seq % sizeof(buf),
                          bt_seed(TAG_ANY, xh.seq, xh.side)) >= 0) {
            return child_fail("sender %u seq %u: content", xh.side, xh.seq);
        }
        if (!con || (from[xh.side] && from[xh.side] != con)) {
            return child_fail("sender %u: connection changed", xh.side);
        }
        from[xh.side] = con;
        next[xh.side]++;
    }
    if (from[1] == from[2]) {
        return child_fail("both senders on one connection");
    }
    for (int i = 1; i <= a->nsenders; i++) {
        struct bt_xh xh = {TAG_ACK, 0, BT_SERVER, 0};

        pscom_send(from[i], &xh, sizeof(xh), NULL, 0);
        pscom_flush(from[i]);
    }
    /* Leave only after both senders have hung up. */
    while (bt_errors.count < a->nsenders) {
        pscom_wait_any();
    }
    pscom_close_socket(sock);
    return 0;
}

static void case_any_source(const char *expect)
{
    struct bt_line_pipe addr[2];
    struct any_arg r = {addr, 2, 0}, s1 = {&addr[0], 2, 1},
                   s2 = {&addr[1], 2, 2};
    struct bt_child cr, c1, c2;
    int rr, r1, r2;

    bt_line_pipe_open(&addr[0]);
    bt_line_pipe_open(&addr[1]);
    bt_spawn(&cr, any_receiver, &r);
    bt_spawn(&c1, any_sender, &s1);
    bt_spawn(&c2, any_sender, &s2);
    bt_line_pipe_close(&addr[0]);
    bt_line_pipe_close(&addr[1]);
    r1 = bt_reap(&c1, 0);
    r2 = bt_reap(&c2, 0);
    rr = bt_reap(&cr, 0);
    tap_ok(rr == 0, "ANY-source receives from 2 connections: receiver");
    tap_ok(r1 == 0, "ANY-source receives from 2 connections: sender 1");
    tap_ok(r2 == 0, "ANY-source receives from 2 connections: sender 2");
}

/* ---- peer killed mid-message ----------------------------------------- */

static int kill_victim(void *arg)
{
    struct bt_line_pipe *addr = arg;
    pscom_socket_t *sock = bt_open_socket(0, NULL);
    struct bt_ctx c = {.role = BT_CLIENT, .sock = sock};
    char peer[ADDR_MAX];
    unsigned char *big = malloc(KILL_LEN);
    pscom_err_t err;

    if (!sock || !big || bt_line_recv(addr, peer, sizeof(peer)) < 0) {
        return child_fail("setup failed");
    }
    memset(big, 0x5a, KILL_LEN);
    c.con = pscom_open_connection(sock);
    err = pscom_connect_socket_str(c.con, peer);
    if (err != PSCOM_SUCCESS) {
        return child_fail("connect %s: %s", peer, pscom_err_str(err));
    }
    bt_post_send(&c, TAG_KILL, 0, big, KILL_LEN);
    /* A few progress steps put the header and some MB on the wire; the
     * message is far from complete when we die. */
    for (int i = 0; i < 3; i++) {
        pscom_test_any();
    }
    raise(SIGKILL);
    return child_fail("still alive after SIGKILL");
}

static int kill_survivor(void *arg)
{
    struct bt_line_pipe *addr = arg;
    pscom_socket_t *sock = bt_open_socket(1, NULL);
    struct bt_ctx c = {.role = BT_SERVER, .sock = sock};
    unsigned char *big = malloc(KILL_LEN), *out = malloc(BLOCK_LEN);
    pscom_request_t *rbig, *rnever, *sblock;
    int rc = 0;

    if (!sock || !big || !out) {
        return child_fail("setup failed");
    }
    /* Writing to the dead peer must not kill us: a library that lets
     * SIGPIPE through fails here. */
    bt_line_send(addr, pscom_listen_socket_str(sock));
    bt_wait_accept();
    c.con = bt_accepted;
    memset(out, 0x33, BLOCK_LEN);
    rbig = bt_post_recv(&c, TAG_KILL, 0, 0, big, KILL_LEN);
    rnever = bt_post_recv(&c, TAG_NONE, 0, 0, NULL, 0);
    sblock = bt_post_send(&c, TAG_BIG, 0, out, BLOCK_LEN);
    pscom_wait(rbig);
    pscom_wait(rnever);
    pscom_wait(sblock);
    if (!(rbig->state & PSCOM_REQ_STATE_ERROR)) {
        rc = child_fail("receive of the interrupted message: %s, want ERROR",
                        pscom_req_state_str(rbig->state));
    }
    if (!(rnever->state & PSCOM_REQ_STATE_ERROR)) {
        rc = child_fail("pending receive: %s, want ERROR",
                        pscom_req_state_str(rnever->state));
    }
    if (!(sblock->state & PSCOM_REQ_STATE_ERROR)) {
        rc = child_fail("pending send: %s, want ERROR",
                        pscom_req_state_str(sblock->state));
    }
    if (bt_errors.count < 1 || bt_errors.err == PSCOM_SUCCESS) {
        rc = child_fail("con_error was not called (count %d, err %d)",
                        bt_errors.count, bt_errors.err);
    }
    pscom_request_free(rbig);
    pscom_request_free(rnever);
    pscom_request_free(sblock);
    pscom_close_socket(sock);
    free(big);
    free(out);
    return rc;
}

static void case_killed(const char *expect)
{
    struct bt_line_pipe addr;
    struct bt_child cs, cv;
    int rv, rs;

    bt_line_pipe_open(&addr);
    bt_spawn(&cs, kill_survivor, &addr);
    bt_spawn(&cv, kill_victim, &addr);
    bt_line_pipe_close(&addr);
    rv = bt_reap(&cv, 0);
    rs = bt_reap(&cs, 0);
    tap_ok(rv == 128 + SIGKILL, "peer killed mid-message: victim died of "
                                "SIGKILL");
    tap_ok(rs == 0, "peer killed mid-message: survivor gets con_error, "
                    "pending requests fail, no hang");
}

/* ---- close with requests pending ------------------------------------- */

static int close_closer(void *arg)
{
    struct bt_line_pipe *addr = arg;
    pscom_socket_t *sock = bt_open_socket(0, NULL);
    struct bt_ctx c = {.role = BT_CLIENT, .sock = sock};
    pscom_request_t *r1, *r2;
    char peer[ADDR_MAX];
    unsigned char buf[64];
    int rc = 0;

    if (!sock || bt_line_recv(addr, peer, sizeof(peer)) < 0) {
        return child_fail("setup failed");
    }
    c.con = pscom_open_connection(sock);
    if (pscom_connect_socket_str(c.con, peer) != PSCOM_SUCCESS) {
        return child_fail("connect %s failed", peer);
    }
    r1 = bt_post_recv(&c, TAG_NONE, 0, 0, buf, sizeof(buf));
    r2 = bt_post_recv(&c, TAG_NONE, 1, 0, NULL, 0);
    pscom_close_connection(c.con);
    pscom_wait(r1);
    pscom_wait(r2);
    if (pscom_req_successful(r1) || pscom_req_successful(r2) ||
        !(r1->state & (PSCOM_REQ_STATE_ERROR | PSCOM_REQ_STATE_CANCELED))) {
        rc = child_fail("receives pending at close: %s and %s, want ERROR "
                        "or CANCELED",
                        pscom_req_state_str(r1->state),
                        pscom_req_state_str(r2->state));
    }
    pscom_request_free(r1);
    pscom_request_free(r2);
    pscom_close_socket(sock);
    return rc;
}

static int close_peer(void *arg)
{
    struct bt_line_pipe *addr = arg;
    pscom_socket_t *sock = bt_open_socket(1, NULL);
    struct bt_ctx c = {.role = BT_SERVER, .sock = sock};
    pscom_request_t *r;
    int rc = 0;

    if (!sock) {
        return 1;
    }
    bt_line_send(addr, pscom_listen_socket_str(sock));
    bt_wait_accept();
    c.con = bt_accepted;
    r = bt_post_recv(&c, TAG_NONE, 0, 0, NULL, 0);
    pscom_wait(r);
    if (pscom_req_successful(r)) {
        rc = child_fail("receive on a connection the peer closed "
                        "succeeded");
    }
    if (bt_errors.count < 1) {
        rc = child_fail("no con_error after the peer closed");
    }
    pscom_request_free(r);
    pscom_close_socket(sock);
    return rc;
}

static void case_close_pending(const char *expect)
{
    struct bt_line_pipe addr;
    struct bt_child cp, cc;
    int rp, rc;

    bt_line_pipe_open(&addr);
    bt_spawn(&cp, close_peer, &addr);
    bt_spawn(&cc, close_closer, &addr);
    bt_line_pipe_close(&addr);
    rc = bt_reap(&cc, 0);
    rp = bt_reap(&cp, 0);
    tap_ok(rc == 0, "close with receives pending: they fail, no hang");
    tap_ok(rp == 0, "close with receives pending: peer sees con_error");
}

/* ---- cancel of a queued send ----------------------------------------- */

struct cs_arg {
    struct bt_line_pipe addr;
    struct bt_line_pipe go; /* sender -> receiver: "cancelled, read now" */
};

/* The receiver does not progress until told: the 64 MiB message in front
 * cannot leave the sender, so the small send queued behind it has not
 * started and can be cancelled. */
static int cs_sender(void *arg)
{
    struct cs_arg *a = arg;
    pscom_socket_t *sock = bt_open_socket(0, NULL);
    struct bt_ctx c = {.role = BT_CLIENT, .sock = sock};
    unsigned char *big = malloc(BLOCK_LEN), small[16] = {0};
    pscom_request_t *sb, *sx, *sy;
    char peer[ADDR_MAX];
    int rc = 0;

    if (!sock || !big || bt_line_recv(&a->addr, peer, sizeof(peer)) < 0) {
        return child_fail("setup failed");
    }
    c.con = pscom_open_connection(sock);
    if (pscom_connect_socket_str(c.con, peer) != PSCOM_SUCCESS) {
        return child_fail("connect %s failed", peer);
    }
    pattern_fill(big, BLOCK_LEN, bt_seed(TAG_BIG, 0, BT_CLIENT));
    pattern_fill(small, sizeof(small), bt_seed(TAG_Y, 0, BT_CLIENT));
    sb = bt_post_send(&c, TAG_BIG, 0, big, BLOCK_LEN);
    sx = bt_post_send(&c, TAG_X, 0, small, sizeof(small));
    sy = bt_post_send(&c, TAG_Y, 0, small, sizeof(small));
    for (int i = 0; i < 3; i++) {
        pscom_test_any();
    }
    if (pscom_cancel_send(sx) != 1) {
        rc = child_fail("pscom_cancel_send of a queued send returned 0 "
                        "(state %s)",
                        pscom_req_state_str(sx->state));
    } else if (pscom_wait(sx), !(sx->state & PSCOM_REQ_STATE_CANCELED) ||
                                   !pscom_req_is_done(sx)) {
        rc = child_fail("cancelled send has state %s",
                        pscom_req_state_str(sx->state));
    }
    bt_line_send(&a->go, "go");
    pscom_wait(sb);
    pscom_wait(sy);
    if (!pscom_req_successful(sb) || !pscom_req_successful(sy)) {
        rc = child_fail("sends around the cancelled one: %s, %s",
                        pscom_req_state_str(sb->state),
                        pscom_req_state_str(sy->state));
    }
    pscom_flush(c.con);
    /* Wait for the receiver's goodbye (EOF) so it reads everything. */
    while (bt_errors.count == 0) {
        pscom_wait_any();
    }
    pscom_request_free(sb);
    pscom_request_free(sx);
    pscom_request_free(sy);
    pscom_close_socket(sock);
    free(big);
    return rc;
}

static int cs_receiver(void *arg)
{
    struct cs_arg *a = arg;
    pscom_socket_t *sock = bt_open_socket(1, NULL);
    struct bt_ctx c = {.role = BT_SERVER, .sock = sock};
    unsigned char *big = malloc(BLOCK_LEN);
    pscom_request_t *r;
    struct bt_xh xh;
    char go[8];
    int rc;

    if (!sock || !big) {
        return child_fail("setup failed");
    }
    bt_line_send(&a->addr, pscom_listen_socket_str(sock));
    bt_wait_accept();
    c.con = bt_accepted;
    if (bt_line_recv(&a->go, go, sizeof(go)) < 0) {
        return child_fail("the sender never said go");
    }
    r = bt_post_recv(&c, TAG_BIG, 0, 0, big, BLOCK_LEN);
    rc = bt_check_msg(&c, r, TAG_BIG, 0, BLOCK_LEN);
    pscom_request_free(r);
    if (rc < 0) {
        return child_fail("the big message: %s", c.why);
    }
    /* The next message on the connection must be Y: X was cancelled. */
    r = pscom_request_create(sizeof(xh), 0);
    r->connection = c.con;
    r->xheader_len = sizeof(xh);
    r->data = big;
    r->data_len = BLOCK_LEN;
    pscom_post_recv(r);
    pscom_wait(r);
    memcpy(&xh, &r->xheader, sizeof(xh));
    if (!pscom_req_successful(r) || xh.tag != TAG_Y) {
        rc = child_fail("after the big message came %s tag %#x, want the "
                        "message after the cancelled one",
                        pscom_req_state_str(r->state), xh.tag);
    }
    pscom_request_free(r);
    pscom_close_socket(sock);
    free(big);
    return rc ? 1 : 0;
}

static void case_cancel_send(const char *expect)
{
    struct cs_arg a;
    struct bt_child cr, cs;
    int rr, rs;

    bt_line_pipe_open(&a.addr);
    bt_line_pipe_open(&a.go);
    bt_spawn(&cr, cs_receiver, &a);
    bt_spawn(&cs, cs_sender, &a);
    bt_line_pipe_close(&a.addr);
    bt_line_pipe_close(&a.go);
    rs = bt_reap(&cs, 0);
    rr = bt_reap(&cr, 0);
    tap_ok(rs == 0, "cancel of a queued send: sender");
    tap_ok(rr == 0, "cancel of a queued send: receiver never sees it");
}

/* ---- PSCOM_THREAD_MULTIPLE ------------------------------------------- */

struct thr_arg {
    struct bt_ctx c; /* a copy per thread: bt_fail() writes into it */
    uint32_t index;
    int rc;
};

static void *thr_send(void *varg)
{
    struct thr_arg *t = varg;
    unsigned char buf[200];

    for (uint32_t i = 0; i < THREAD_MSGS; i++) {
        struct bt_xh xh = {TAG_THREAD + t->index, i, BT_CLIENT, 0};

        pattern_fill(buf, i % sizeof(buf),
                     bt_seed(TAG_THREAD + t->index, i, BT_CLIENT));
        pscom_send(t->c.con, &xh, sizeof(xh), buf, i % sizeof(buf));
    }
    return NULL;
}

static void *thr_recv(void *varg)
{
    struct thr_arg *t = varg;
    unsigned char buf[200];

    for (uint32_t i = 0; i < THREAD_MSGS && t->rc == 0; i++) {
        pscom_request_t *r = bt_post_recv(&t->c, TAG_THREAD + t->index, 0, 1,
                                          buf, sizeof(buf));

        t->rc = bt_check_msg(&t->c, r, TAG_THREAD + t->index, i,
                             i % sizeof(buf));
        pscom_request_free(r);
    }
    return NULL;
}

/* Run fn in THREADS threads at once, each with its own copy of c. */
static int thr_run(struct bt_ctx *c, void *(*fn)(void *))
{
    struct thr_arg t[THREADS];
    pthread_t tid[THREADS];
    int rc = 0;

    for (uint32_t i = 0; i < THREADS; i++) {
        t[i] = (struct thr_arg){.c = *c, .index = i};
        if (pthread_create(&tid[i], NULL, fn, &t[i]) != 0) {
            return child_fail("pthread_create failed");
        }
    }
    for (uint32_t i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        if (t[i].rc) {
            rc = child_fail("thread %u: %s", i, t[i].c.why);
        }
    }
    return rc;
}

static int thr_init(void)
{
    pscom_err_t err = pscom_init_thread_level(PSCOM_VERSION,
                                              PSCOM_THREAD_MULTIPLE);

    if (err != PSCOM_SUCCESS) {
        return child_fail("pscom_init_thread: %s", pscom_err_str(err));
    }
    return 0;
}

static int thr_sender(void *arg)
{
    struct bt_line_pipe *addr = arg;
    struct bt_ctx c = {.role = BT_CLIENT};
    pscom_request_t *ack;
    char peer[ADDR_MAX];
    int rc;

    if (thr_init() || !(c.sock = bt_open_socket(0, NULL)) ||
        bt_line_recv(addr, peer, sizeof(peer)) < 0) {
        return child_fail("setup failed");
    }
    c.con = pscom_open_connection(c.sock);
    if (pscom_connect_socket_str(c.con, peer) != PSCOM_SUCCESS) {
        return child_fail("connect %s failed", peer);
    }
    rc = thr_run(&c, thr_send);
    ack = bt_post_recv(&c, TAG_THREAD_ACK, 0, 1, NULL, 0);
    if (bt_wait_ok(&c, ack, "ack") < 0) {
        rc = child_fail("%s", c.why);
    }
    pscom_request_free(ack);
    pscom_close_socket(c.sock);
    return rc;
}

static int thr_receiver(void *arg)
{
    struct bt_line_pipe *addr = arg;
    struct bt_ctx c = {.role = BT_SERVER};
    struct bt_xh xh = {TAG_THREAD_ACK, 0, BT_SERVER, 0};
    int rc;

    if (thr_init() || !(c.sock = bt_open_socket(1, NULL))) {
        return child_fail("setup failed");
    }
    bt_line_send(addr, pscom_listen_socket_str(c.sock));
    bt_wait_accept();
    c.con = bt_accepted;
    rc = thr_run(&c, thr_recv);
    pscom_send(c.con, &xh, sizeof(xh), NULL, 0);
    pscom_flush(c.con);
    while (bt_errors.count == 0) {
        pscom_wait_any();
    }
    pscom_close_socket(c.sock);
    return rc;
}

static void case_threads(const char *expect)
{
    struct bt_line_pipe addr;
    struct bt_child cr, cs;
    int rr, rs;

    bt_line_pipe_open(&addr);
    bt_spawn(&cr, thr_receiver, &addr);
    bt_spawn(&cs, thr_sender, &addr);
    bt_line_pipe_close(&addr);
    rs = bt_reap(&cs, 0);
    rr = bt_reap(&cr, 0);
    tap_ok(rs == 0, "THREAD_MULTIPLE: 2 threads send on one connection");
    tap_ok(rr == 0, "THREAD_MULTIPLE: 2 threads receive, each its own "
                    "stream in order");
}

/* ---- the table --------------------------------------------------------- */

const struct bt_forked_case bt_forked_cases[] = {
    {"refused", 1, case_refused},
    {"ondemand", 6, case_ondemand},
    {"any-source", 3, case_any_source},
    {"killed", 2, case_killed},
    {"close-pending", 2, case_close_pending},
    {"cancel-send", 2, case_cancel_send},
    {"threads", 2, case_threads},
    {"wait-any", 2, bt_case_wait_any},
};
const int bt_nforked_cases = sizeof(bt_forked_cases) /
                             sizeof(bt_forked_cases[0]);

void bt_forked_set_expect(const char *expect)
{
    forked_expect = expect;
}
