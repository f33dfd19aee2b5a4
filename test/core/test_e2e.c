/*
 * test_e2e.c -- single-process end-to-end checks of libpscom: loop and tcp
 * connections between sockets of this process (the multi-process battery
 * is battery.c, beside it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pscom.h"

static pscom_connection_t *last_accepted;
static int errors_seen;
static pscom_err_t last_error;

static void on_accept(pscom_connection_t *con)
{
    last_accepted = con;
}

static void on_error(pscom_connection_t *con, pscom_op_t op, pscom_err_t err)
{
    errors_seen++;
    last_error = err;
}

static pscom_socket_t *open_listening(const char *name)
{
    pscom_socket_t *s = pscom_open_socket(0, 0);

    assert_non_null(s);
    s->ops.con_accept = on_accept;
    s->ops.con_error = on_error;
    if (name) {
        pscom_socket_set_name(s, name);
    }
    assert_int_equal(pscom_listen(s, PSCOM_ANYPORT), PSCOM_SUCCESS);
    assert_true(pscom_get_portno(s) > 0);
    return s;
}

/* Connect a (client) to b (server) over tcp; returns both ends. */
static void tcp_pair(pscom_socket_t *a, pscom_socket_t *b,
                     pscom_connection_t **ca, pscom_connection_t **cb)
{
    *ca = pscom_open_connection(a);
    last_accepted = NULL;
    assert_int_equal(pscom_connect(*ca, pscom_get_nodeid(),
                                   pscom_get_portno(b)),
                     PSCOM_SUCCESS);
    assert_int_equal((*ca)->type, PSCOM_CON_TYPE_TCP);
    while (!last_accepted) {
        pscom_wait_any();
    }
    *cb = last_accepted;
    assert_int_equal((*cb)->type, PSCOM_CON_TYPE_TCP);
    assert_int_equal((*cb)->state, PSCOM_CON_STATE_RW);
}

static void fill(char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (char)(i * 7 + seed);
    }
}

static void test_init_version(void **state)
{
    assert_int_equal(pscom_init(0x0300), PSCOM_ERR_UNSUPPORTED_VERSION);
    assert_int_equal(pscom_init(PSCOM_VERSION), PSCOM_SUCCESS);
    assert_int_equal(pscom_init(0x0201), PSCOM_SUCCESS);
}

static void test_loop(void **state)
{
    pscom_socket_t *s = open_listening("loop");
    pscom_connection_t *c = pscom_open_connection(s);
    char out[100] = "hello loop", in[100];
    char xo[6] = "xhead", xi[6] = "";

    assert_int_equal(pscom_connect(c, -1, -1), PSCOM_SUCCESS);
    assert_int_equal(c->type, PSCOM_CON_TYPE_LOOP);
    assert_string_equal(pscom_con_type_str(c->type), "loop");
    pscom_send(c, xo, sizeof(xo), out, sizeof(out));
    assert_int_equal(pscom_recv_from(c, xi, sizeof(xi), in, sizeof(in)),
                     PSCOM_SUCCESS);
    assert_string_equal(in, "hello loop");
    assert_string_equal(xi, "xhead");
    pscom_close_socket(s);
}

static void test_tcp_sizes(void **state)
{
    pscom_socket_t *a = open_listening("a"), *b = open_listening("b");
    pscom_connection_t *ca, *cb;
    static const size_t sizes[] = {0,    1,     7,       8,       4095,
                                   4096, 65536, 1000003, 4u << 20};

    tcp_pair(a, b, &ca, &cb);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        char *out = malloc(n + 1), *in = malloc(n + 1);
        fill(out, n, (unsigned)i);
        memset(in, 0, n + 1);
        pscom_send(ca, NULL, 0, out, (unsigned)n);
        assert_int_equal(pscom_recv_from(cb, NULL, 0, in, n), PSCOM_SUCCESS);
        assert_memory_equal(in, out, n);
        /* and back, receive posted first this time */
        pscom_request_t *r = pscom_request_create(0, 0);
        r->connection = ca;
        r->data = in;
        r->data_len = n;
        pscom_post_recv(r);
        pscom_send(cb, NULL, 0, out, (unsigned)n);
        pscom_wait(r);
        assert_true(pscom_req_successful(r));
        assert_int_equal(r->data_len, n);
        assert_memory_equal(in, out, n);
        pscom_request_free(r);
        free(out);
        free(in);
    }
    pscom_close_socket(a);
    pscom_close_socket(b);
}

static int accept_tag7(pscom_request_t *req, pscom_connection_t *con,
                       pscom_header_net_t *h)
{
    return h->xheader_len == 4 && *(uint32_t *)(void *)h->xheader == 7;
}

static void test_matching(void **state)
{
    pscom_socket_t *a = open_listening("a"), *b = open_listening("b");
    pscom_connection_t *ca, *cb;
    uint32_t tag;
    char buf[16];
    pscom_request_t *r = pscom_request_create(4, 0);

    tcp_pair(a, b, &ca, &cb);
    tag = 5;
    pscom_send(ca, &tag, 4, "five", 5);
    tag = 7;
    pscom_send(ca, &tag, 4, "seven", 6);
    /* recv_accept skips the first (unexpected) message */
    r->socket = b;
    r->connection = NULL;
    r->xheader_len = 4;
    r->data = buf;
    r->data_len = sizeof(buf);
    r->ops.recv_accept = accept_tag7;
    pscom_post_recv(r);
    pscom_wait(r);
    assert_true(pscom_req_successful(r));
    assert_string_equal(buf, "seven");
    assert_ptr_equal(r->connection, cb);
    assert_ptr_equal(r->socket, b);
    /* iprobe sees the remaining one; truncation on receive */
    r->ops.recv_accept = NULL;
    r->connection = cb;
    r->xheader_len = 4;
    while (!pscom_iprobe(r)) {
    }
    assert_int_equal(r->header.data_len, 5);
    r->data_len = 2;
    pscom_post_recv(r);
    pscom_wait(r);
    assert_true(r->state & PSCOM_REQ_STATE_TRUNCATED);
    assert_false(pscom_req_successful(r));
    assert_int_equal(r->data_len, 2);
    assert_memory_equal(buf, "fi", 2);
    /* cancel a posted receive */
    r->data_len = sizeof(buf);
    pscom_post_recv(r);
    assert_int_equal(pscom_cancel(r), 1);
    pscom_wait(r);
    assert_true(r->state & PSCOM_REQ_STATE_CANCELED);
    pscom_request_free(r);
    pscom_close_socket(a);
    pscom_close_socket(b);
}

static void test_eof(void **state)
{
    pscom_socket_t *a = open_listening("a"), *b = open_listening("b");
    pscom_connection_t *ca, *cb;
    char buf[4];
    pscom_request_t *r = pscom_request_create(0, 0);

    tcp_pair(a, b, &ca, &cb);
    pscom_send(ca, NULL, 0, "abc", 4);
    errors_seen = 0;
    pscom_close_connection(ca);
    /* the message sent before the close still arrives */
    assert_int_equal(pscom_recv_from(cb, NULL, 0, buf, 4), PSCOM_SUCCESS);
    r->connection = cb;
    r->data = buf;
    r->data_len = 4;
    pscom_post_recv(r);
    pscom_wait(r);
    assert_true(r->state & PSCOM_REQ_STATE_ERROR);
    assert_int_equal(errors_seen, 1);
    assert_int_equal(last_error, PSCOM_ERR_EOF);
    assert_int_equal(cb->state, PSCOM_CON_STATE_CLOSED);
    pscom_request_free(r);
    pscom_close_socket(a);
    pscom_close_socket(b);
}

static void test_close_unused_socket(void **state)
{
    pscom_socket_t *s = pscom_open_socket(16, 16);
    pscom_connection_t *c;

    assert_non_null(s);
    assert_int_equal(pscom_get_portno(s), -1);
    c = pscom_open_connection(s); /* never connected */
    assert_non_null(c);
    pscom_stop_listen(s);  /* harmless when not listening */
    pscom_close_socket(s); /* must not abort */
}

/* data_len is 32 bits: a 1 GiB message goes through tcp straight into
 * the posted buffer, in order with a small one behind it. */
static void test_tcp_1gib(void **state)
{
    const size_t n = (size_t)1 << 30;
    pscom_socket_t *a = open_listening("a"), *b = open_listening("b");
    pscom_connection_t *ca, *cb;
    char *out = malloc(n), *in = malloc(n);
    char small[4];
    pscom_request_t *r = pscom_request_create(0, 0);

    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < n; i += 4096) {
        out[i] = (char)(i >> 12);
        out[i + 4095] = (char)~(i >> 12);
    }
    tcp_pair(a, b, &ca, &cb);
    r->connection = cb;
    r->data = in;
    r->data_len = n;
    pscom_post_recv(r);
    pscom_send_inplace(ca, NULL, 0, out, (unsigned)n, NULL, NULL);
    pscom_send(ca, NULL, 0, "end", 4);
    pscom_wait(r);
    assert_true(pscom_req_successful(r));
    assert_int_equal(r->data_len, n);
    assert_int_equal(memcmp(in, out, n), 0);
    assert_int_equal(pscom_recv_from(cb, NULL, 0, small, 4), PSCOM_SUCCESS);
    assert_string_equal(small, "end");
    pscom_request_free(r);
    pscom_close_socket(a);
    pscom_close_socket(b);
    free(out);
    free(in);
}

static void test_refused(void **state)
{
    pscom_socket_t *a = open_listening("a");
    pscom_socket_t *b = open_listening("b");
    int port = pscom_get_portno(b);
    pscom_connection_t *c = pscom_open_connection(a);

    pscom_close_socket(b);
    assert_int_equal(pscom_connect(c, pscom_get_nodeid(), port),
                     PSCOM_ERR_CONNECTION_REFUSED);
    pscom_close_socket(a);
}

static void test_ondemand(void **state)
{
    pscom_socket_t *a = open_listening("alpha");
    pscom_socket_t *b = open_listening("beta");
    pscom_connection_t *ca = pscom_open_connection(a);
    pscom_connection_t *cb = pscom_open_connection(b);
    char buf[8];
    const char name_alpha[8] = "alpha";

    assert_int_equal(
        pscom_connect_socket_str(ca, pscom_listen_socket_ondemand_str(b)),
        PSCOM_SUCCESS);
    assert_int_equal(ca->type, PSCOM_CON_TYPE_ONDEMAND);
    assert_string_equal(pscom_con_type_str(ca->type), "demand");
    assert_int_equal(pscom_connect_ondemand(cb, pscom_get_nodeid(),
                                            pscom_get_portno(a), name_alpha),
                     PSCOM_SUCCESS);
    /* both write at once */
    pscom_send(ca, NULL, 0, "to-b", 5);
    pscom_send(cb, NULL, 0, "to-a", 5);
    assert_int_equal(pscom_recv_from(cb, NULL, 0, buf, 5), PSCOM_SUCCESS);
    assert_string_equal(buf, "to-b");
    assert_int_equal(pscom_recv_from(ca, NULL, 0, buf, 5), PSCOM_SUCCESS);
    assert_string_equal(buf, "to-a");
    assert_int_equal(ca->type, PSCOM_CON_TYPE_TCP);
    assert_int_equal(cb->type, PSCOM_CON_TYPE_TCP);
    pscom_close_socket(a);
    pscom_close_socket(b);
}

static void test_ondemand_higher_writes(void **state)
{
    pscom_socket_t *a = open_listening("aa");
    pscom_socket_t *b = open_listening("bb");
    pscom_connection_t *ca = pscom_open_connection(a);
    pscom_connection_t *cb = pscom_open_connection(b);
    char buf[8];
    const char name_aa[8] = "aa", name_bb[8] = "bb";

    /* only the side with the larger name writes: back-connect */
    assert_int_equal(pscom_connect_ondemand(cb, pscom_get_nodeid(),
                                            pscom_get_portno(a), name_aa),
                     PSCOM_SUCCESS);
    pscom_send(cb, NULL, 0, "hi-a", 5);
    assert_int_equal(pscom_connect_ondemand(ca, pscom_get_nodeid(),
                                            pscom_get_portno(b), name_bb),
                     PSCOM_SUCCESS);
    assert_int_equal(pscom_recv_from(ca, NULL, 0, buf, 5), PSCOM_SUCCESS);
    assert_string_equal(buf, "hi-a");
    pscom_close_socket(a);
    pscom_close_socket(b);
}

static void test_group(void **state)
{
    enum { N = 3 };
    pscom_socket_t *s[N];
    pscom_connection_t *c[N][N];
    pscom_group_t *g[N];
    char data[N][8];

    for (int i = 0; i < N; i++) {
        s[i] = open_listening(NULL);
    }
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            tcp_pair(s[i], s[j], &c[i][j], &c[j][i]);
        }
        c[i][i] = NULL;
    }
    for (int i = 0; i < N; i++) {
        g[i] = pscom_group_open(s[i], 42, (uint32_t)i, N, c[i]);
        assert_non_null(g[i]);
    }
    /* Non-roots post first, the root sends, everybody waits. */
    pscom_request_t *r[N];
    for (int i = 0; i < N; i++) {
        r[i] = pscom_request_create(sizeof(pscom_xheader_bcast_t), 0);
        r[i]->xheader.bcast.group_id = 42;
        r[i]->xheader.bcast.bcast_root = 1;
        r[i]->xheader_len = sizeof(pscom_xheader_bcast_t);
        r[i]->socket = s[i];
        r[i]->data = data[i];
        r[i]->data_len = 8;
        strcpy(data[i], i == 1 ? "root" : "none");
    }
    for (int i = 0; i < N; i++) {
        pscom_post_bcast(r[i]);
    }
    for (int i = 0; i < N; i++) {
        pscom_wait(r[i]);
        assert_true(pscom_req_successful(r[i]));
        assert_string_equal(data[i], "root");
        pscom_request_free(r[i]);
    }
    for (int i = 0; i < N; i++) {
        pscom_group_close(g[i]);
        pscom_close_socket(s[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_version),
        cmocka_unit_test(test_loop),
        cmocka_unit_test(test_tcp_sizes),
        cmocka_unit_test(test_matching),
        cmocka_unit_test(test_eof),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_close_unused_socket),
        cmocka_unit_test(test_tcp_1gib),
        cmocka_unit_test(test_ondemand),
        cmocka_unit_test(test_ondemand_higher_writes),
        cmocka_unit_test(test_group),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
