/*
 * battery_cases.c -- the pair cases of the transport battery.
 *
 * Discipline that keeps one code path for two processes and for a loop
 * connection: each side first posts (or sends) everything it sends in a
 * case, then receives what its peer sent. Sends are non-blocking, so this
 * never waits for the peer's receive; messages that arrive before their
 * receive is posted test the library's unexpected-message path.
 */
#include "battery.h"

#include "pattern.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    TAG_ORDER = 0x100,
    TAG_SIZES = 0x200,
    TAG_ACCEPT = 0x300, /* + index */
    TAG_PROBE = 0x400,
    TAG_NEVER = 0x4e455652, /* never sent */
    TAG_CANCEL = 0x500,
    TAG_TRUNC = 0x600,
    TAG_TRUNC_NEXT = 0x601,
    TAG_MIXED = 0x110,
    TAG_DEFAULT = 0x900,
    TAG_POSTED = 0x901,
    TAG_TRY = 0x902,
};

#define ORDER_COUNT 5000
#define ORDER_MAXLEN 64
#define MIXED_COUNT 64
#define MIXED_BIG (1024 * 1024)
#define SIZES_MAX (16UL * 1024 * 1024)
#define ACCEPT_COUNT 8
#define PROBE_LEN 1000
#define TRUNC_SENT 1000
#define TRUNC_BUF 100
#define TRUNC_NEXT_LEN 500
#define INPLACE_LEN (64 * 1024)
#define DEFAULT_COUNT 4
#define DEFAULT_LEN 300
#define CANARY 0xa5

static int case_connect(struct bt_ctx *c)
{
    const char *type = pscom_con_type_str(c->con->type);

    if (c->expect && strcmp(type, c->expect) != 0) {
        return bt_fail(c, "connection type is \"%s\", expected \"%s\"", type,
                       c->expect);
    }
    if ((c->con->state & PSCOM_CON_STATE_RW) != PSCOM_CON_STATE_RW) {
        return bt_fail(c, "connection state is %s, not RW",
                       pscom_con_state_str(c->con->state));
    }
    if (c->role == BT_LOOP && c->con->remote_con_info.pid != getpid()) {
        return bt_fail(c, "loop peer pid %d is not mine",
                       c->con->remote_con_info.pid);
    }
    if (c->role != BT_LOOP && c->con->remote_con_info.pid == getpid()) {
        return bt_fail(c, "remote pid is my own pid");
    }
    return 0;
}

/* Thousands of small messages sent before any receive is posted must come
 * out in order, each with its own content. */
static int case_ordering(struct bt_ctx *c)
{
    unsigned char buf[ORDER_MAXLEN];
    int rc = 0;

    for (uint32_t i = 0; i < ORDER_COUNT; i++) {
        struct bt_xh xh = {TAG_ORDER, i, (uint32_t)c->role, 0};

        pattern_fill(buf, i % ORDER_MAXLEN, bt_seed(TAG_ORDER, i, c->role));
        pscom_send(c->con, &xh, sizeof(xh), buf, i % ORDER_MAXLEN);
    }
    for (uint32_t i = 0; i < ORDER_COUNT && rc == 0; i++) {
        pscom_request_t *r = bt_post_recv(c, TAG_ORDER, 0, 1, buf, sizeof(buf));

        rc = bt_check_msg(c, r, TAG_ORDER, i, i % ORDER_MAXLEN);
        pscom_request_free(r);
    }
    return rc;
}

static size_t mixed_len(uint32_t i)
{
    return i % 4 == 0 ? MIXED_BIG + i : i;
}

/* Large and small messages interleaved keep their order: a transport
 * that treats big messages differently (rendezvous, streaming) must not
 * let the small ones overtake them. */
static int case_ordering_mixed(struct bt_ctx *c)
{
    unsigned char *buf = malloc(MIXED_BIG + MIXED_COUNT);
    int rc = 0;

    if (!buf) {
        return bt_fail(c, "out of memory");
    }
    for (uint32_t i = 0; i < MIXED_COUNT; i++) {
        struct bt_xh xh = {TAG_MIXED, i, (uint32_t)c->role, 0};

        pattern_fill(buf, mixed_len(i), bt_seed(TAG_MIXED, i, c->role));
        pscom_send(c->con, &xh, sizeof(xh), buf, (unsigned)mixed_len(i));
    }
    for (uint32_t i = 0; i < MIXED_COUNT && rc == 0; i++) {
        pscom_request_t *r = bt_post_recv(c, TAG_MIXED, 0, 1, buf,
                                          MIXED_BIG + MIXED_COUNT);

        rc = bt_check_msg(c, r, TAG_MIXED, i, mixed_len(i));
        pscom_request_free(r);
    }
    free(buf);
    return rc;
}

static size_t sizes_list(size_t *out)
{
    size_t n = 0;

    for (size_t s = 0; s <= 3; s++) {
        out[n++] = s;
    }
    for (size_t p = 4; p <= SIZES_MAX; p *= 2) {
        out[n++] = p - 1;
        out[n++] = p;
        if (p < SIZES_MAX) {
            out[n++] = p + 1;
        }
    }
    return n;
}

/* Every size from 0 B to 16 MiB (powers of two and their neighbours),
 * both directions at once, content and the byte after the buffer
 * checked. */
static int case_sizes(struct bt_ctx *c)
{
    size_t sizes[80];
    size_t n = sizes_list(sizes);
    unsigned char *sbuf = malloc(SIZES_MAX);
    unsigned char *rbuf = malloc(SIZES_MAX + 1);
    int rc = 0;

    if (!sbuf || !rbuf) {
        rc = bt_fail(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        pscom_request_t *r, *s;

        rbuf[sizes[i]] = CANARY;
        r = bt_post_recv(c, TAG_SIZES, (uint32_t)i, 0, rbuf, sizes[i]);
        pattern_fill(sbuf, sizes[i], bt_seed(TAG_SIZES, (uint32_t)i, c->role));
        s = bt_post_send(c, TAG_SIZES, (uint32_t)i, sbuf, sizes[i]);
        rc = bt_wait_ok(c, s, "send");
        if (rc == 0) {
            rc = bt_check_msg(c, r, TAG_SIZES, (uint32_t)i, sizes[i]);
        }
        if (rc == 0 && rbuf[sizes[i]] != CANARY) {
            rc = bt_fail(c, "size %zu: byte after the buffer overwritten",
                         sizes[i]);
        }
        if (rc < 0) {
            size_t len = strlen(c->why);

            snprintf(c->why + len, sizeof(c->why) - len, " (size %zu)",
                     sizes[i]);
        }
        pscom_wait(r);
        pscom_wait(s);
        pscom_request_free(r);
        pscom_request_free(s);
    }
out:
    free(sbuf);
    free(rbuf);
    return rc;
}

/* xheaders of many lengths (no room for a tag in the short ones: the case
 * relies on per-connection order), with and without data. */
static int case_xheader(struct bt_ctx *c)
{
    static const size_t xlens[] = {0, 1, 7, 8, 64, 4000, 65535};
    static const size_t dlens[] = {0, 100};
    const size_t nx = sizeof(xlens) / sizeof(xlens[0]);
    unsigned char *xbuf = malloc(65535);
    unsigned char dbuf[100];
    pscom_request_t *r = pscom_request_create(65535, 0);
    int rc = 0;

    if (!xbuf || !r) {
        rc = bt_fail(c, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nx; i++) {
        for (size_t d = 0; d < 2; d++) {
            uint32_t seq = (uint32_t)(i * 2 + d);

            pattern_fill(xbuf, xlens[i], bt_seed(0x700, seq, c->role));
            pattern_fill(dbuf, dlens[d], bt_seed(0x701, seq, c->role));
            pscom_send(c->con, xbuf, (unsigned)xlens[i], dbuf,
                       (unsigned)dlens[d]);
        }
    }
    for (size_t i = 0; i < nx && rc == 0; i++) {
        for (size_t d = 0; d < 2 && rc == 0; d++) {
            uint32_t seq = (uint32_t)(i * 2 + d);
            enum bt_role peer = bt_peer_side(c);

            memset(dbuf, 0, sizeof(dbuf));
            r->connection = c->con;
            r->ops.recv_accept = NULL;
            r->xheader_len = 65535;
            r->data = dbuf;
            r->data_len = sizeof(dbuf);
            pscom_post_recv(r);
            if (bt_wait_ok(c, r, "receive") < 0) {
                rc = -1;
            } else if (r->header.xheader_len != xlens[i] ||
                       r->header.data_len != dlens[d]) {
                rc = bt_fail(c, "xheader %zu data %zu: got %u and %u", xlens[i],
                             dlens[d], r->header.xheader_len,
                             r->header.data_len);
            } else if (pattern_check(&r->xheader, xlens[i],
                                     bt_seed(0x700, seq, peer)) >= 0 ||
                       pattern_check(dbuf, dlens[d],
                                     bt_seed(0x701, seq, peer)) >= 0) {
                rc = bt_fail(c, "xheader %zu data %zu: content is wrong",
                             xlens[i], dlens[d]);
            }
        }
    }
out:
    if (r) {
        pscom_request_free(r);
    }
    free(xbuf);
    return rc;
}

/* recv_accept may size the buffer from the header: this one allocates. */
static int accept_and_alloc(pscom_request_t *req, pscom_connection_t *con,
                            pscom_header_net_t *hdr)
{
    if (!bt_accept_tag(req, con, hdr)) {
        return 0;
    }
    req->data = malloc(hdr->data_len ? hdr->data_len : 1);
    req->data_len = hdr->data_len;
    return req->data != NULL;
}

/* Receives posted in the reverse order of the sends, each accepting only
 * its own tag, all complete with the right message; a receive that
 * accepts nothing does not block the others. */
static int case_recv_accept(struct bt_ctx *c)
{
    pscom_request_t *r[ACCEPT_COUNT + 1], *s[ACCEPT_COUNT], *never;
    unsigned char *sbuf = malloc(ACCEPT_COUNT * 100);
    int rc = 0;

    if (!sbuf) {
        return bt_fail(c, "out of memory");
    }
    never = bt_post_recv(c, TAG_NEVER, 0, 1, NULL, 0);
    for (uint32_t i = 0; i < ACCEPT_COUNT; i++) {
        unsigned char *p = sbuf + i * 100;

        pattern_fill(p, i * 10, bt_seed(TAG_ACCEPT + i, i, c->role));
        s[i] = bt_post_send(c, TAG_ACCEPT + i, i, p, i * 10);
    }
    for (uint32_t k = 0; k < ACCEPT_COUNT; k++) {
        uint32_t i = ACCEPT_COUNT - 1 - k;

        r[i] = bt_recv_req(c, TAG_ACCEPT + i, i, 0, NULL, 0);
        r[i]->ops.recv_accept = accept_and_alloc;
        pscom_post_recv(r[i]);
    }
    r[ACCEPT_COUNT] = NULL;
    pscom_wait_all(r);
    for (uint32_t i = 0; i < ACCEPT_COUNT; i++) {
        if (rc == 0) {
            rc = bt_check_msg(c, r[i], TAG_ACCEPT + i, i, i * 10);
        }
        free(r[i]->data);
        pscom_request_free(r[i]);
        if (rc == 0) {
            rc = bt_wait_ok(c, s[i], "send");
        }
        pscom_wait(s[i]);
        pscom_request_free(s[i]);
    }
    if (rc == 0 && pscom_req_is_done(never)) {
        rc = bt_fail(c, "a receive that accepts nothing completed: %s",
                     pscom_req_state_str(never->state));
    }
    if (!pscom_cancel_recv(never) && rc == 0) {
        rc = bt_fail(c, "could not cancel the receive that accepts nothing");
    }
    pscom_wait(never);
    pscom_request_free(never);
    free(sbuf);
    return rc;
}

/* probe waits for a message and describes it without taking it; iprobe
 * says 1 for it and 0 for a tag nobody sent. */
static int case_probe(struct bt_ctx *c)
{
    unsigned char sbuf[PROBE_LEN], rbuf[PROBE_LEN];
    pscom_request_t *s, *r,
        *p = pscom_request_create(sizeof(struct bt_xh),
                                  sizeof(struct PSCOM_req_user));
    struct bt_xh xh;
    int rc = 0;

    pattern_fill(sbuf, PROBE_LEN, bt_seed(TAG_PROBE, 1, c->role));
    s = bt_post_send(c, TAG_PROBE, 1, sbuf, PROBE_LEN);
    p->user->want_tag = TAG_PROBE;
    p->user->any_seq = 1;
    p->ops.recv_accept = bt_accept_tag;
    p->connection = c->con;
    p->socket = c->sock;
    p->xheader_len = sizeof(xh);
    pscom_probe(p);
    memcpy(&xh, &p->xheader, sizeof(xh));
    if (p->header.data_len != PROBE_LEN || xh.tag != TAG_PROBE || xh.seq != 1 ||
        p->connection != c->con) {
        rc = bt_fail(c, "probe: data_len %u tag %#x seq %u connection %s",
                     p->header.data_len, xh.tag, xh.seq,
                     p->connection == c->con ? "right" : "wrong");
    } else if (pscom_iprobe(p) != 1) {
        rc = bt_fail(c, "iprobe after probe: message gone");
    } else {
        p->user->want_tag = TAG_NEVER;
        if (pscom_iprobe(p) != 0) {
            rc = bt_fail(c, "iprobe found a message nobody sent");
        }
    }
    r = bt_post_recv(c, TAG_PROBE, 1, 0, rbuf, sizeof(rbuf));
    pscom_request_free(p);
    return bt_finish(c, rc, r, s, TAG_PROBE, 1, PROBE_LEN);
}

/* A cancelled receive completes CANCELED and takes nothing: the message
 * that arrives afterwards goes to the next receive. */
static int case_cancel_recv(struct bt_ctx *c)
{
    unsigned char sbuf[64], rbuf[64];
    pscom_request_t *victim, *s, *r;
    int rc = 0;

    victim = bt_post_recv(c, TAG_CANCEL, 0, 1, rbuf, sizeof(rbuf));
    if (pscom_cancel_recv(victim) != 1) {
        rc = bt_fail(c, "pscom_cancel_recv of a posted receive returned 0");
    } else {
        /* DONE is set once progress has run io_done: wait for it. */
        pscom_wait(victim);
        if (!(victim->state & PSCOM_REQ_STATE_CANCELED) ||
            pscom_req_successful(victim)) {
            rc = bt_fail(c, "cancelled receive has state %s",
                         pscom_req_state_str(victim->state));
        }
    }
    /* Both ends cancel before either sends: otherwise the peer's message
     * could already be here and rightly match the victim. */
    if (bt_sync(c, TAG_CANCEL) < 0) {
        pscom_request_free(victim);
        return -1;
    }
    pattern_fill(sbuf, sizeof(sbuf), bt_seed(TAG_CANCEL, 2, c->role));
    s = bt_post_send(c, TAG_CANCEL, 2, sbuf, sizeof(sbuf));
    r = bt_post_recv(c, TAG_CANCEL, 0, 1, rbuf, sizeof(rbuf));
    pscom_request_free(victim);
    return bt_finish(c, rc, r, s, TAG_CANCEL, 2, sizeof(sbuf));
}

/* A message larger than the receive buffer completes TRUNCATED with the
 * buffer holding its prefix, and the stream goes on intact. */
static int case_truncation(struct bt_ctx *c)
{
    unsigned char sbuf[TRUNC_SENT], nbuf[TRUNC_NEXT_LEN];
    unsigned char rbuf[TRUNC_BUF + 1], rnext[TRUNC_NEXT_LEN];
    pscom_request_t *s1, *s2, *r1, *r2;
    uint32_t seed;
    int rc = 0;

    pattern_fill(sbuf, sizeof(sbuf), bt_seed(TAG_TRUNC, 0, c->role));
    pattern_fill(nbuf, sizeof(nbuf), bt_seed(TAG_TRUNC_NEXT, 0, c->role));
    s1 = bt_post_send(c, TAG_TRUNC, 0, sbuf, sizeof(sbuf));
    s2 = bt_post_send(c, TAG_TRUNC_NEXT, 0, nbuf, sizeof(nbuf));
    rbuf[TRUNC_BUF] = CANARY;
    r1 = bt_post_recv(c, TAG_TRUNC, 0, 0, rbuf, TRUNC_BUF);
    pscom_wait(r1);
    seed = bt_seed(TAG_TRUNC, 0, bt_peer_side(c));
    if (!pscom_req_is_done(r1) || !(r1->state & PSCOM_REQ_STATE_TRUNCATED) ||
        pscom_req_successful(r1)) {
        rc = bt_fail(c, "oversized message: state %s, want TRUNCATED",
                     pscom_req_state_str(r1->state));
    } else if (pattern_check(rbuf, TRUNC_BUF, seed) >= 0) {
        rc = bt_fail(c, "truncated message: prefix is wrong");
    } else if (rbuf[TRUNC_BUF] != CANARY) {
        rc = bt_fail(c, "truncated message overran the buffer");
    }
    r2 = bt_post_recv(c, TAG_TRUNC_NEXT, 0, 0, rnext, sizeof(rnext));
    if (rc == 0) {
        rc = bt_check_msg(c, r2, TAG_TRUNC_NEXT, 0, TRUNC_NEXT_LEN);
    }
    if (rc == 0 &&
        (bt_wait_ok(c, s1, "send") < 0 || bt_wait_ok(c, s2, "send") < 0)) {
        rc = -1;
    }
    pscom_wait(r2);
    pscom_wait(s1);
    pscom_wait(s2);
    pscom_request_free(r1);
    pscom_request_free(r2);
    pscom_request_free(s1);
    pscom_request_free(s2);
    return rc;
}

static void inplace_done(pscom_req_state_t state, void *priv)
{
    *(pscom_req_state_t *)priv = state;
}

/* The convenience calls: pscom_send_inplace() reports through its
 * callback, pscom_recv_from() blocks until the message is in. */
static int case_inplace(struct bt_ctx *c)
{
    unsigned char *sbuf = malloc(INPLACE_LEN), *rbuf = malloc(INPLACE_LEN);
    struct bt_xh xh = {0x800, 5, (uint32_t)c->role, 0}, rxh;
    pscom_req_state_t done = 0;
    pscom_err_t err;
    int rc = 0;

    if (!sbuf || !rbuf) {
        rc = bt_fail(c, "out of memory");
        goto out;
    }
    pattern_fill(sbuf, INPLACE_LEN, bt_seed(0x800, 5, c->role));
    pscom_send_inplace(c->con, &xh, sizeof(xh), sbuf, INPLACE_LEN, inplace_done,
                       &done);
    err = pscom_recv_from(c->con, &rxh, sizeof(rxh), rbuf, INPLACE_LEN);
    if (err != PSCOM_SUCCESS) {
        rc = bt_fail(c, "pscom_recv_from: %s", pscom_err_str(err));
    } else if (rxh.tag != 0x800 || rxh.seq != 5 ||
               pattern_check(rbuf, INPLACE_LEN,
                             bt_seed(0x800, 5, bt_peer_side(c))) >= 0) {
        rc = bt_fail(c, "pscom_recv_from: wrong message");
    }
    while (!pscom_req_state_is_done(done)) {
        pscom_wait_any();
    }
    if (rc == 0 && !pscom_req_state_successful(done)) {
        rc = bt_fail(c, "send_inplace completed %s", pscom_req_state_str(done));
    }
out:
    free(sbuf);
    free(rbuf);
    return rc;
}

/* Requests handed out by default_recv() during case_default_recv. */
static struct {
    pscom_request_t *req[DEFAULT_COUNT];
    unsigned char buf[DEFAULT_COUNT][DEFAULT_LEN];
    int n;
} dflt;

/* Asked before the posted receives: takes every TAG_DEFAULT message. */
static pscom_request_t *default_recv(pscom_connection_t *con,
                                     pscom_header_net_t *hdr)
{
    struct bt_xh xh;
    pscom_request_t *req;

    if (hdr->xheader_len < sizeof(xh)) {
        return NULL;
    }
    memcpy(&xh, hdr->xheader, sizeof(xh));
    if (xh.tag != TAG_DEFAULT || dflt.n >= DEFAULT_COUNT) {
        return NULL;
    }
    req = pscom_request_create(sizeof(xh), 0);
    if (req) {
        req->xheader_len = sizeof(xh);
        req->data = dflt.buf[dflt.n];
        req->data_len = DEFAULT_LEN;
        dflt.req[dflt.n++] = req;
    }
    return req;
}

/* The socket's default_recv() is asked first for every message: it gets
 * the TAG_DEFAULT messages even though a posted receive would accept
 * them, and declines the others, which go to posted receives. */
static int case_default_recv(struct bt_ctx *c)
{
    unsigned char sbuf[DEFAULT_LEN], rbuf[DEFAULT_LEN];
    pscom_request_t *s[DEFAULT_COUNT + 1], *r, *posted;
    int rc = 0;

    memset(&dflt, 0, sizeof(dflt));
    c->sock->ops.default_recv = default_recv;
    /* Would match TAG_DEFAULT messages, but default_recv comes first. */
    posted = bt_post_recv(c, TAG_DEFAULT, 0, 1, rbuf, sizeof(rbuf));
    if (bt_sync(c, TAG_DEFAULT) < 0) {
        rc = -1;
        goto out;
    }
    for (uint32_t i = 0; i < DEFAULT_COUNT; i++) {
        pattern_fill(sbuf, sizeof(sbuf), bt_seed(TAG_DEFAULT, i, c->role));
        s[i] = bt_post_send(c, TAG_DEFAULT, i, sbuf, sizeof(sbuf));
        pscom_wait(s[i]);
        pscom_request_free(s[i]);
    }
    pattern_fill(sbuf, sizeof(sbuf), bt_seed(TAG_POSTED, 0, c->role));
    s[DEFAULT_COUNT] = bt_post_send(c, TAG_POSTED, 0, sbuf, sizeof(sbuf));
    r = bt_post_recv(c, TAG_POSTED, 0, 0, rbuf, sizeof(rbuf));
    rc = bt_finish(c, 0, r, s[DEFAULT_COUNT], TAG_POSTED, 0, DEFAULT_LEN);
    /* The declined message came after the others: they are all in. */
    if (rc == 0 && dflt.n != DEFAULT_COUNT) {
        rc = bt_fail(c, "default_recv was given %d of %d messages", dflt.n,
                     DEFAULT_COUNT);
    }
    for (int i = 0; i < dflt.n; i++) {
        if (rc == 0) {
            rc = bt_check_msg(c, dflt.req[i], TAG_DEFAULT, (uint32_t)i,
                              DEFAULT_LEN);
        }
        pscom_wait(dflt.req[i]);
        pscom_request_free(dflt.req[i]);
    }
    if (rc == 0 && pscom_req_is_done(posted)) {
        rc = bt_fail(c, "a posted receive took a message default_recv "
                        "should have had");
    }
out:
    c->sock->ops.default_recv = NULL;
    pscom_cancel_recv(posted);
    pscom_wait(posted);
    pscom_request_free(posted);
    return rc;
}

/* pscom_send_try() (an extension) among queued sends. */
#define TRY_COUNT 3000
#define TRY_BIG (4UL * 1024 * 1024)

static size_t try_len(uint32_t i)
{
    static const size_t lens[] = {0,   1,    40,   56,   200,  504,
                                  505, 1000, 2500, 4000, 9000, 70000};

    /* Now and then a message the ring cannot take at once: the sends
     * behind it queue, and a try must not overtake them. */
    return i % 500 == 4 ? TRY_BIG : lens[i % (sizeof(lens) / sizeof(lens[0]))];
}

/* A memory connection without checksums takes small messages at once;
 * every other transport never does. */
static int try_expected(const struct bt_ctx *c)
{
    const char *type = pscom_con_type_str(c->con->type);
    const char *csum = getenv("PSP_IVSHMEM_CHECKSUM");

    return (!strcmp(type, "shm") || !strcmp(type, "ivshmem")) &&
           !(csum && strcmp(csum, "0"));
}

/* Every third message is tried (and sent with pscom_send() when the try
 * refuses), the others are posted or copied, with progress steps in
 * between: the peer gets every one once, in order, intact. A try writes a message whole or not at all,
 * and never past sends still queued. */
static int case_send_try(struct bt_ctx *c)
{
    unsigned char *buf = malloc(TRY_BIG);
    pscom_request_t **posted = calloc(TRY_COUNT, sizeof(*posted));
    unsigned tried = 0, taken = 0, first = 0;
    int rc = 0;

    if (!buf || !posted) {
        rc = bt_fail(c, "out of memory");
        goto out;
    }
    for (uint32_t i = 0; i < TRY_COUNT; i++) {
        struct bt_xh xh = {TAG_TRY, i, (uint32_t)c->role, 0};
        size_t len = try_len(i);
        unsigned char *own;

        pattern_fill(buf, len, bt_seed(TAG_TRY, i, c->role));
        switch (i % 3) {
        case 0:
            tried++;
            if (pscom_send_try(c->con, &xh, sizeof(xh), buf, (unsigned)len) ==
                1) {
                taken++;
                first |= i == 0;
                break;
            }
            /* Refused: nothing went, send it as usual. */
            pscom_send(c->con, &xh, sizeof(xh), buf, (unsigned)len);
            break;
        case 1:
            own = malloc(len ? len : 1);
            if (!own) {
                rc = bt_fail(c, "out of memory");
                goto out;
            }
            memcpy(own, buf, len);
            posted[i] = bt_post_send(c, TAG_TRY, i, own, len);
            break;
        default:
            pscom_send(c->con, &xh, sizeof(xh), buf, (unsigned)len);
            break;
        }
        if (i % 5 == 0) {
            /* The peer drains our ring meanwhile (its messages arrive
             * unexpected), so a try finds room while sends are queued. */
            pscom_test_any();
        }
    }
    for (uint32_t i = 0; i < TRY_COUNT && rc == 0; i++) {
        pscom_request_t *r = bt_post_recv(c, TAG_TRY, 0, 1, buf, TRY_BIG);

        rc = bt_check_msg(c, r, TAG_TRY, i, try_len(i));
        pscom_request_free(r);
    }
    for (uint32_t i = 0; i < TRY_COUNT; i++) {
        if (!posted[i]) {
            continue;
        }
        if (rc == 0) {
            rc = bt_wait_ok(c, posted[i], "posted send");
        }
        pscom_wait(posted[i]);
        free(posted[i]->data);
        pscom_request_free(posted[i]);
    }
    if (rc == 0 && try_expected(c) && (!first || taken == 0)) {
        rc = bt_fail(c,
                     "%s: pscom_send_try() took %u of %u messages, the first "
                     "%s: want the first and more",
                     pscom_con_type_str(c->con->type), taken, tried,
                     first ? "too" : "not");
    }
    if (rc == 0 && !try_expected(c) && taken != 0) {
        rc = bt_fail(c, "%s: pscom_send_try() took %u of %u messages: want 0",
                     pscom_con_type_str(c->con->type), taken, tried);
    }
out:
    free(posted);
    free(buf);
    return rc;
}

const struct bt_pair_case bt_pair_cases[] = {
    {"connect/accept, connection type and state", case_connect},
    {"ordering: 5000 messages sent before receiving", case_ordering},
    {"ordering: 1 MiB and small messages interleaved", case_ordering_mixed},
    {"every size 0 B..16 MiB (2^k, 2^k+-1), content verified", case_sizes},
    {"xheader lengths 0,1,7,8,64,4000,65535 with and without data",
     case_xheader},
    {"recv_accept matching, receives posted out of order", case_recv_accept},
    {"probe and iprobe", case_probe},
    {"cancel of a posted receive", case_cancel_recv},
    {"truncation: TRUNCATED, prefix correct, stream intact", case_truncation},
    {"send_inplace and recv_from", case_inplace},
    {"default_recv is asked before posted receives", case_default_recv},
    {"rma_write/rma_read 0 B..1 MiB into/out of the peer, verified",
     bt_case_rma},
    {"pscom_send_try among posted and copied sends: order, content",
     case_send_try},
};
const int bt_npair_cases = sizeof(bt_pair_cases) / sizeof(bt_pair_cases[0]);
