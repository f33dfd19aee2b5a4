/*
 * test_internals.c -- unit tests of lib/core internals, linked statically
 * from the convenience library: the stream parser (every split point),
 * matching rules, the unexpected queue, socket strings, the env table,
 * when the progress engine looks at sockets while rings are polled.
 * Connections here have no transport: the test feeds bytes as a
 * transport would (pscom_con_read_feed / read_get_buf+read_done).
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pscom_priv.h"

static struct pscom_sock *sock;
static struct pscom_con *con, *con2;

static int setup(void **state)
{
    pscom_socket_t *s = pscom_open_socket(0, 0);

    if (!s) {
        return -1;
    }
    sock = pscom_sock_of(s);
    con = pscom_con_create(sock);
    con2 = pscom_con_create(sock);
    /* open, without a transport: bytes come from the test */
    con->pub.state = PSCOM_CON_STATE_RW;
    con2->pub.state = PSCOM_CON_STATE_RW;
    return 0;
}

static int teardown(void **state)
{
    pscom_close_socket(&sock->pub);
    return 0;
}

/* Append one wire message to buf; returns the new length. */
static size_t put_msg(char *buf, size_t off, uint16_t type, const void *xh,
                      uint16_t xl, const void *data, uint32_t dl)
{
    pscom_header_net_t h = {type, xl, dl};

    memcpy(buf + off, &h, sizeof(h));
    if (xl) {
        memcpy(buf + off + sizeof(h), xh, xl);
    }
    if (dl) {
        memcpy(buf + off + sizeof(h) + xl, data, dl);
    }
    return off + sizeof(h) + xl + dl;
}

static struct pscom_req *post(struct pscom_con *c, void *data, size_t dl,
                              size_t xl)
{
    struct pscom_req *r = pscom_req_alloc((unsigned)xl, 0);

    r->pub.connection = c ? &c->pub : NULL;
    r->pub.socket = &sock->pub;
    r->pub.data = data;
    r->pub.data_len = dl;
    r->pub.xheader_len = xl;
    pscom_post_recv_internal(r);
    return r;
}

static void test_parser_every_split(void **state)
{
    char stream[512], d1[100], d2[3] = "ab", x1[5] = "xhdr", x2[40];
    size_t len = 0;

    for (size_t i = 0; i < sizeof(d1); i++) {
        d1[i] = (char)(i * 3);
    }
    memset(x2, 'q', sizeof(x2));
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, x1, 5, d1, 100);
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, NULL, 0, NULL, 0);
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, x2, 40, d2, 3);
    for (size_t split = 0; split <= len; split++) {
        for (int posted_first = 0; posted_first < 2; posted_first++) {
            char r1[100], r3[3], rx[40];
            struct pscom_req *a = NULL, *b = NULL, *c = NULL;

            memset(r1, 0, sizeof(r1));
            if (posted_first) {
                a = post(con, r1, sizeof(r1), 5);
                b = post(con, NULL, 0, 0);
                c = post(con, r3, sizeof(r3), 40);
            }
            /* first part in one feed, the rest byte by byte */
            pscom_con_read_feed(con, stream, split);
            for (size_t i = split; i < len; i++) {
                pscom_con_read_feed(con, stream + i, 1);
            }
            if (!posted_first) {
                a = post(con, r1, sizeof(r1), 5);
                b = post(con, NULL, 0, 0);
                c = post(con, r3, sizeof(r3), 40);
            }
            pscom_run_done();
            assert_true(pscom_req_successful(&a->pub));
            assert_true(pscom_req_successful(&b->pub));
            assert_true(pscom_req_successful(&c->pub));
            assert_memory_equal(r1, d1, 100);
            assert_memory_equal(&a->pub.xheader, "xhdr", 5);
            assert_int_equal(b->pub.data_len, 0);
            assert_memory_equal(r3, d2, 3);
            memcpy(rx, &c->pub.xheader, 40);
            assert_memory_equal(rx, x2, 40);
            assert_true(list_empty(&sock->unexpq));
            pscom_req_release(a);
            pscom_req_release(b);
            pscom_req_release(c);
        }
    }
}

/* Runs that hold whole messages (what the memory transports hand over)
 * take the parser's one-step path; an xheader beyond the inline header
 * buffer must still arrive whole, once through the general path (which
 * grows the buffer) and once through the one-step path (which then fits). */
static void test_parser_whole_runs(void **state)
{
    char stream[1024], xl[200], d[3] = "dd", x[200], out[3];
    size_t len = 0;

    for (size_t i = 0; i < sizeof(xl); i++) {
        xl[i] = (char)(i + 1);
    }
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, xl, sizeof(xl), d, 3);
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, xl, sizeof(xl), d, 3);
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, "s", 1, d, 3);
    for (int round = 0; round < 2; round++) {
        struct pscom_req *r[3];

        /* round 0: all unexpected; round 1: all posted before */
        if (round) {
            for (int i = 0; i < 3; i++) {
                r[i] = post(con, out, sizeof(out), i < 2 ? sizeof(xl) : 1);
            }
        }
        pscom_con_read_feed(con, stream, len);
        if (!round) {
            for (int i = 0; i < 3; i++) {
                r[i] = post(con, out, sizeof(out), i < 2 ? sizeof(xl) : 1);
            }
        }
        pscom_run_done();
        for (int i = 0; i < 3; i++) {
            assert_true(pscom_req_successful(&r[i]->pub));
            assert_int_equal(r[i]->pub.header.data_len, 3);
            memcpy(x, &r[i]->pub.xheader, i < 2 ? sizeof(xl) : 1);
            assert_memory_equal(x, i < 2 ? xl : "s", i < 2 ? sizeof(xl) : 1);
            pscom_req_release(r[i]);
        }
        assert_memory_equal(out, d, 3);
        assert_true(list_empty(&sock->unexpq));
    }
}

static void test_parser_get_buf(void **state)
{
    char stream[64], out[20];
    size_t len = put_msg(stream, 0, PSCOM_MSGTYPE_USER, "x", 1,
                         "0123456789abcdefghij", 20);
    struct pscom_req *r = post(con, out, sizeof(out), 1);
    size_t off = 0;

    /* stream style: the data lands straight in the posted buffer */
    while (off < len) {
        void *buf;
        size_t n;
        pscom_con_read_get_buf(con, &buf, &n);
        assert_true(n > 0);
        if (off >= 9) {
            assert_ptr_equal(buf, out + (off - 9));
        }
        if (n > 7) {
            n = 7;
        }
        memcpy(buf, stream + off, n);
        pscom_con_read_done(con, n);
        off += n;
    }
    pscom_run_done();
    assert_true(pscom_req_successful(&r->pub));
    assert_memory_equal(out, "0123456789abcdefghij", 20);
    pscom_req_release(r);
}

static void test_truncation(void **state)
{
    char stream[64], out[4];
    size_t len = put_msg(stream, 0, PSCOM_MSGTYPE_USER, "xyz", 3, "0123456789",
                         10);
    struct pscom_req *r = post(con, out, sizeof(out), 2);
    struct pscom_req *r2;

    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, NULL, 0, "ok", 2);
    pscom_con_read_feed(con, stream, len);
    r2 = post(con, out, 2, 0); /* the stream stays in step */
    pscom_run_done();
    assert_true(r->pub.state & PSCOM_REQ_STATE_TRUNCATED);
    assert_int_equal(r->pub.header.data_len, 10);
    assert_int_equal(r->pub.xheader_len, 2);
    assert_true(pscom_req_successful(&r2->pub));
    assert_memory_equal(out, "ok", 2);
    pscom_req_release(r);
    pscom_req_release(r2);
}

static int accept_b(pscom_request_t *req, pscom_connection_t *c,
                    pscom_header_net_t *h)
{
    return h->data_len && *(const char *)h->xheader == 'b';
}

static pscom_request_t *dflt_req;
static int dflt_asked;

static pscom_request_t *dflt_recv(pscom_connection_t *c, pscom_header_net_t *h)
{
    dflt_asked++;
    return h->xheader_len && *(const char *)h->xheader == 'd' ? dflt_req : NULL;
}

static void test_matching_rules(void **state)
{
    char stream[256], b1[8] = "", b2[8] = "", b3[8] = "", b4[8] = "";
    size_t len = 0;
    struct pscom_req *any, *acc, *on2, *dr;
    pscom_xheader_bcast_t bh = {1, 0, 0, 0};

    /* posting order: ANY (accepting only 'b'), then con2-specific */
    acc = post(NULL, b1, 8, 1);
    acc->pub.ops.recv_accept = accept_b;
    on2 = post(con2, b2, 8, 1);
    any = post(NULL, b3, 8, 1);
    dr = pscom_req_alloc(1, 0);
    dr->pub.data = b4;
    dr->pub.data_len = 8;
    dr->pub.xheader_len = 1;
    dflt_req = &dr->pub;
    sock->pub.ops.default_recv = dflt_recv;

    /* a group message never matches user receives */
    len = put_msg(stream, len, PSCOM_MSGTYPE_BCAST, &bh, sizeof(bh), "g", 2);
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, "a", 1, "A", 2);
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, "b", 1, "B", 2);
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, "d", 1, "D", 2);
    pscom_con_read_feed(con, stream, len);
    pscom_run_done();
    /* "a" from con: acc refuses, on2 is for con2 -> any takes it */
    assert_true(pscom_req_successful(&any->pub));
    assert_string_equal(b3, "A");
    assert_ptr_equal(any->pub.connection, &con->pub);
    /* "b": acc accepts */
    assert_true(pscom_req_successful(&acc->pub));
    assert_string_equal(b1, "B");
    /* "d": default_recv was asked first and took it */
    assert_true(pscom_req_successful(&dr->pub));
    assert_string_equal(b4, "D");
    assert_int_equal(dflt_asked, 3);
    assert_false(on2->pub.state & PSCOM_REQ_STATE_DONE);
    /* the bcast message waits in the unexpected queue */
    assert_false(list_empty(&sock->unexpq));
    sock->pub.ops.default_recv = NULL;

    len = put_msg(stream, 0, PSCOM_MSGTYPE_USER, "c", 1, "C", 2);
    pscom_con_read_feed(con2, stream, len);
    pscom_run_done();
    assert_true(pscom_req_successful(&on2->pub));
    assert_string_equal(b2, "C");
    pscom_req_release(acc);
    pscom_req_release(on2);
    pscom_req_release(any);
    pscom_req_release(dr);
    while (!list_empty(&sock->unexpq)) {
        pscom_unexp_free(
            list_entry(sock->unexpq.next, struct pscom_unexp, next));
    }
}

static void test_unexpected_partial(void **state)
{
    char stream[64], out[10];
    size_t len = put_msg(stream, 0, PSCOM_MSGTYPE_USER, NULL, 0, "0123456789",
                         10);
    len = put_msg(stream, len, PSCOM_MSGTYPE_USER, NULL, 0, "second", 7);
    struct pscom_req *r, *r2;

    /* half of the first message arrives before any receive */
    pscom_con_read_feed(con, stream, 12);
    r = post(con, out, sizeof(out), 0);
    assert_false(r->pub.state & PSCOM_REQ_STATE_IO_DONE);
    pscom_con_read_feed(con, stream + 12, len - 12);
    r2 = post(con, out, 7, 0);
    pscom_run_done();
    assert_true(pscom_req_successful(&r->pub));
    assert_true(pscom_req_successful(&r2->pub));
    assert_memory_equal(out, "second", 7);
    assert_true(list_empty(&sock->unexpq));
    pscom_req_release(r);
    pscom_req_release(r2);
}

/* PSP_UNEXPECTED_RECEIVES=0: with no receive waiting on the connection
 * the parser stops after a header (a stream transport leaves the rest in
 * the kernel) and resumes, straight into the user buffer, when a
 * matching receive is posted. */
static void test_unexpected_off(void **state)
{
    char stream[64], out[8] = "";
    size_t len = put_msg(stream, 0, PSCOM_MSGTYPE_USER, "k", 1, "hello", 6);
    size_t off = 0;
    void *buf;
    size_t n;
    struct pscom_req *probe, *r;

    pscom_env.unexpected_receives = 0;
    for (;;) {
        pscom_con_read_get_buf(con, &buf, &n);
        if (n == 0) {
            break;
        }
        memcpy(buf, stream + off, n); /* header, then xheader */
        pscom_con_read_done(con, n);
        off += n;
    }
    assert_int_equal(off, sizeof(pscom_header_net_t) + 1);
    assert_true(list_empty(&sock->unexpq));
    probe = pscom_req_alloc(1, 0);
    probe->pub.connection = &con->pub;
    probe->pub.xheader_len = 1;
    assert_int_equal(pscom_iprobe(&probe->pub), 1);
    assert_int_equal(probe->pub.header.data_len, 6);
    pscom_req_release(probe);
    /* a receive for another connection changes nothing */
    r = post(con2, out, sizeof(out), 1);
    pscom_con_read_get_buf(con, &buf, &n);
    assert_int_equal(n, 0);
    assert_int_equal(pscom_cancel_recv(&r->pub), 1);
    pscom_run_done();
    pscom_req_release(r);
    r = post(con, out, sizeof(out), 1);
    pscom_con_read_get_buf(con, &buf, &n);
    assert_ptr_equal(buf, out);
    assert_int_equal(n, 6);
    memcpy(buf, stream + off, n);
    pscom_con_read_done(con, n);
    pscom_run_done();
    assert_true(pscom_req_successful(&r->pub));
    assert_string_equal(out, "hello");
    pscom_req_release(r);
    /* a memory transport (feed) cannot hold back: the message is kept */
    pscom_con_read_feed(con, stream, len);
    assert_false(list_empty(&sock->unexpq));
    r = post(con, out, sizeof(out), 1);
    pscom_run_done();
    assert_true(pscom_req_successful(&r->pub));
    pscom_req_release(r);
    pscom_env.unexpected_receives = 1;
}

static int errors;
static pscom_err_t last_err;

static void on_error(pscom_connection_t *c, pscom_op_t op, pscom_err_t err)
{
    errors++;
    last_err = err;
}

static void test_bad_header(void **state)
{
    pscom_socket_t *s = pscom_open_socket(0, 0);
    struct pscom_con *c = pscom_con_create(pscom_sock_of(s));
    pscom_header_net_t bad = {0x7777, 0, 0};
    char buf[4];
    struct pscom_req *r;

    s->ops.con_error = on_error;
    c->pub.state = PSCOM_CON_STATE_RW;
    r = pscom_req_alloc(0, 0);
    r->pub.connection = &c->pub;
    r->pub.data = buf;
    r->pub.data_len = 4;
    pscom_post_recv_internal(r);
    errors = 0;
    /* a valid message right behind the bad header, in the same run, is
     * not delivered: the connection is closed at the bad header */
    char run[64];
    size_t rl = put_msg(run, 0, PSCOM_MSGTYPE_USER, NULL, 0, "abcd", 4);
    memmove(run + sizeof(bad), run, rl);
    memcpy(run, &bad, sizeof(bad));
    pscom_con_read_feed(c, run, sizeof(bad) + rl);
    pscom_run_done();
    assert_int_equal(errors, 1);
    assert_int_equal(last_err, PSCOM_ERR_IOERROR);
    assert_true(c->pub.state & PSCOM_CON_STATE_CLOSED);
    assert_true(r->pub.state & PSCOM_REQ_STATE_ERROR);
    assert_int_equal(r->pub.header.data_len, 0);
    pscom_req_release(r);
    /* an EOF message with a payload is a protocol error too */
    pscom_header_net_t eof_bad = {PSCOM_MSGTYPE_EOF, 0, 5};
    assert_int_not_equal(pscom_header_check(&eof_bad), 0);
    pscom_header_net_t bc_short = {PSCOM_MSGTYPE_BCAST, 3, 0};
    assert_int_not_equal(pscom_header_check(&bc_short), 0);
    pscom_close_socket(s);
}

static void test_socket_strings(void **state)
{
    static const char *const bad[] = {
        "",
        ":1",
        "1.2.3.4",
        "1.2.3.4:",
        "1.2.3.4:x",
        "1.2.3.4:70000",
        "1.2.3.4:-1",
        "no.such.invalid:1",
        "1.2.3:4",
        "1.2.3.4:1 ",
        "1.2.3.4:1@",
        "1.2.3.4:1@123456789",
        "@abc",
        "1.2.3.4:+5",
        "1.2.3.256:1",
    };
    int n, p;
    char name[8];

    assert_int_equal(pscom_parse_socket_str("10.0.2.15:65535", &n, &p), 0);
    assert_int_equal(n, (10 << 24) | (2 << 8) | 15);
    assert_int_equal(p, 65535);
    assert_string_equal(pscom_socket_str(n, p), "10.0.2.15:65535");
    /* Host names are resolved (0x0200: pscom_test uses localhost:5006). */
    assert_int_equal(pscom_parse_socket_str("localhost:5006", &n, &p), 0);
    assert_int_equal(n, 0x7f000001);
    assert_int_equal(p, 5006);
    assert_int_equal(pscom_parse_socket_ondemand_str("1.2.3.4:80@12345678", &n,
                                                     &p, &name),
                     0);
    assert_memory_equal(name, "12345678", 8);
    assert_int_equal(p, 80);
    assert_string_equal(pscom_socket_ondemand_str(n, p, name),
                        "1.2.3.4:80@12345678");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = p = 12345;
        errno = 0;
        assert_int_equal(pscom_parse_socket_ondemand_str(bad[i], &n, &p, &name),
                         -1);
        assert_int_equal(errno, EINVAL);
        if (!strchr(bad[i], '@')) {
            assert_int_equal(pscom_parse_socket_str(bad[i], &n, &p), -1);
        }
        assert_int_equal(n, 12345); /* outputs set only on success */
    }
}

static void test_env_parse(void **state)
{
    int i = 7;
    unsigned int u = 7;
    char *d = NULL;

    assert_int_equal(pscom_env_parse(PSCOM_ENV_INT, "12", &i), 0);
    assert_int_equal(i, 12);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_INT, "0x10", &i), 0);
    assert_int_equal(i, 16);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_INT, "-3", &i), 0);
    assert_int_equal(i, -3);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_INT, "abc", &i), -1);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_INT, "12x", &i), -1);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_INT, "", &i), -1);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_INT, "99999999999", &i), -1);
    assert_int_equal(i, -3);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_UINT, "4k", &u), 0);
    assert_int_equal(u, 4096);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_UINT, "1M", &u), 0);
    assert_int_equal(u, 1048576);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_UINT, "-1", &u), -1);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_UINT, "5G", &u), -1);
    assert_int_equal(u, 1048576);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_DIR, "/a/b", &d), 0);
    assert_string_equal(d, "/a/b/");
    free(d);
    assert_int_equal(pscom_env_parse(PSCOM_ENV_DIR, "/c/", &d), 0);
    assert_string_equal(d, "/c/");
    free(d);
}

static void test_env_table(void **state)
{
    int saved_retry = pscom_env.retry;
    int v = 3;
    char *s = NULL;

    setenv("PSP_RETRY", "many", 1);
    setenv("PSP_SO_SNDBUF", "1M", 1);
    pscom_env_load();
    assert_int_equal(pscom_env.retry, 5); /* default kept */
    assert_int_equal(pscom_env_origin_of("PSP_RETRY"), PSCOM_ENV_BAD);
    assert_int_equal(pscom_env.so_sndbuf, 1048576);
    assert_int_equal(pscom_env_origin_of("PSP_SO_SNDBUF"), PSCOM_ENV_FROM_ENV);
    assert_int_equal(pscom_env_origin_of("PSP_GUARD"), PSCOM_ENV_DEFAULT);
    unsetenv("PSP_RETRY");
    unsetenv("PSP_SO_SNDBUF");
    pscom_env_load();
    assert_int_equal(pscom_env.so_sndbuf, 0);
    pscom_env.retry = saved_retry;

    /* public getters leave the value alone when unset or bad */
    setenv("H1_TEST_INT", "x1", 1);
    pscom_env_get_int(&v, "H1_TEST_INT");
    assert_int_equal(v, 3);
    pscom_env_get_int(&v, "H1_TEST_UNSET");
    assert_int_equal(v, 3);
    setenv("H1_TEST_INT", "42", 1);
    pscom_env_get_int(&v, "H1_TEST_INT");
    assert_int_equal(v, 42);
    pscom_env_get_str(&s, "H1_TEST_INT");
    assert_string_equal(s, "42");
    pscom_env_get_dir(&s, "H1_TEST_INT");
    assert_string_equal(s, "42/");
    free(s);
}

static void test_nodeid(void **state)
{
    /* PSP_NETWORK picks the local address inside that network */
    assert_int_equal(pscom_find_nodeid("127.0.0.0"), 0x7f000001);
    /* a network with no local address falls back to the host's address */
    assert_int_not_equal(pscom_find_nodeid("203.0.113.0"), 0);
    assert_int_not_equal(pscom_find_nodeid(""), 0);
}

static void test_dumps(void **state)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    pscom_dump_connection(f, &con->pub);
    pscom_dump_reqstat(f);
    pscom_dump_info(f);
    fclose(f);
    assert_non_null(strstr(buf, "state rw"));
    assert_non_null(strstr(buf, "requests allocated"));
    assert_non_null(strstr(buf, "PSP_DEBUG "));
    assert_non_null(strstr(buf, "tcp        built-in"));
    free(buf);
}

static void test_request_sizes(void **state)
{
    static const unsigned int xl[] = {0, 1, 8, 15, 16, 17, 100, 65535};

    for (size_t i = 0; i < sizeof(xl) / sizeof(xl[0]); i++) {
        pscom_request_t *r = pscom_request_create(xl[i], 24);
        size_t cap = (xl[i] + 7u) & ~7u;

        if (cap < sizeof(pscom_xheader_t)) {
            cap = sizeof(pscom_xheader_t);
        }
        assert_non_null(r);
        assert_int_equal(r->max_xheader_len, xl[i]);
        assert_int_equal(r->user_size, 24);
        assert_ptr_equal((char *)r->user, (char *)&r->xheader + cap);
        assert_true(r->state & PSCOM_REQ_STATE_DONE);
        /* the whole xheader storage and user part are writable (ASan) */
        memset(&r->xheader, 0xaa, cap);
        memset(r->user, 0x55, 24);
        pscom_request_free(r);
    }
    assert_null(pscom_request_create(0, 0)->user);
}

/* Requests and the wire carry unsigned int lengths: an internal send of
 * more is refused (logged), never cut to its low 32 bits. */
static void test_send_length_overflow(void **state)
{
    static char byte;

    assert_true(list_empty(&con->sendq));
    pscom_send_internal(con, PSCOM_MSGTYPE_USER, NULL, 0, &byte,
                        (size_t)UINT_MAX + 1);
    assert_true(list_empty(&con->sendq));
    pscom_send_internal(con, PSCOM_MSGTYPE_USER, &byte,
                        (size_t)PSCOM_XHEADER_MAX + 1, NULL, 0);
    assert_true(list_empty(&con->sendq));
}

/* ---- progress: sockets next to busy pollers ------------------------------ */

static int idle_poll(pscom_poller_t *p)
{
    (void)p;
    return 0;
}

/* A poller that finds something on every step (a stream of messages). */
static int busy_poll(pscom_poller_t *p)
{
    (void)p;
    return 1;
}

static int fd_seen;

static void fd_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    uint64_t v;

    (void)revents;
    if (read(ufd->fd, &v, sizeof(v)) == sizeof(v)) {
        fd_seen++;
    }
}

/* Make the fd readable and return how many single progress steps it took
 * to see it (at most limit). */
static int steps_to_see(int fd, int sleep_ms, int force, int limit)
{
    uint64_t one = 1;
    int steps = 0;

    fd_seen = 0;
    assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
    if (sleep_ms) {
        struct timespec ts = {0, sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    while (!fd_seen && steps < limit) {
        if (force) {
            pscom_progress_fds_next();
        }
        pscom_progress(0);
        steps++;
    }
    return fd_seen ? steps : -1;
}

/* With a poller active epoll is asked only every 32..1024 steps (cheap
 * spinning), but a caller that sleeps between steps (suspend worker,
 * pscom_test_any() between computations) must still see socket events at
 * once: after a coarse clock tick, or when it asks for it. */
static void test_progress_sockets_with_pollers(void **state)
{
    pscom_poller_t poller = {.poll = idle_poll};
    pscom_ufd_t ufd = {.events = EPOLLIN, .cb = fd_cb};

    (void)state;
    ufd.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_true(ufd.fd >= 0);
    assert_int_equal(pscom_ufd_add(&ufd), 0);
    pscom_poller_start(&poller);
    /* Empty epolls stretch the interval to its maximum. */
    for (int i = 0; i < 20000; i++) {
        pscom_progress(0);
    }
    /* Spinning: seen within the interval, not necessarily at once. */
    assert_in_range(steps_to_see(ufd.fd, 0, 0, 2048), 1, 2048);
    for (int i = 0; i < 20000; i++) {
        pscom_progress(0);
    }
    /* Asked for: the very next step. */
    assert_int_equal(steps_to_see(ufd.fd, 0, 1, 2048), 1);
    for (int i = 0; i < 20000; i++) {
        pscom_progress(0);
    }
    /* A step after a pause longer than a clock tick (<= 10 ms): at once. */
    assert_int_equal(steps_to_see(ufd.fd, 30, 0, 2048), 1);
    /* A step whose polls found something leaves epoll to the next one
     * (its receiver is about to answer): after a pause, the second step
     * sees the socket, also when every step finds something. */
    poller.poll = busy_poll;
    for (int i = 0; i < 20000; i++) {
        pscom_progress(0);
    }
    assert_int_equal(steps_to_see(ufd.fd, 30, 0, 2048), 2);
    assert_int_equal(steps_to_see(ufd.fd, 30, 0, 2048), 2);
    pscom_poller_stop(&poller);
    pscom_ufd_del(&ufd);
    close(ufd.fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parser_every_split),
        cmocka_unit_test(test_parser_whole_runs),
        cmocka_unit_test(test_parser_get_buf),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_matching_rules),
        cmocka_unit_test(test_unexpected_partial),
        cmocka_unit_test(test_unexpected_off),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_socket_strings),
        cmocka_unit_test(test_env_parse),
        cmocka_unit_test(test_env_table),
        cmocka_unit_test(test_nodeid),
        cmocka_unit_test(test_dumps),
        cmocka_unit_test(test_request_sizes),
        cmocka_unit_test(test_send_length_overflow),
        cmocka_unit_test(test_progress_sockets_with_pollers),
    };

    if (pscom_init(PSCOM_VERSION) != PSCOM_SUCCESS) {
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
