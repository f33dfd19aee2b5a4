/*
 * compat_api.c -- one check per group of the pscom 0x0200 API that this
 * library added for source compatibility: what pscom.h must include, the
 * one-argument pscom_init_thread(), the macros, pscom_req_prepare(), the
 * user-type xheader seen as header->xheader->user, the char user[0]
 * xheader (compat_nouser.c), the string helpers (pscom_dumpstr,
 * pscom_op_str, pscom_con_info_str2, pscom_req_state_str twice in one
 * printf), groups (find, get_id), RMA on a loop connection, the address
 * helpers, "localhost:PORT" socket strings, the environment hooks,
 * readall/writeall and the 0x0200 inline receives. Data is verified.
 */
#include <stdint.h>

struct compat_xh {
    uint32_t tag;
    uint32_t len;
    char text[24];
};
struct PSCOM_req_user {
    int seen_tag;
};
struct compat_sock {
    int magic;
};
struct compat_con {
    char note[16];
};
#define PSCOM_XHEADER_USER_TYPE struct compat_xh
#define PSCOM_SOCKET_USERDATA_TYPE struct compat_sock
#define PSCOM_CONNECTION_USERDATA_TYPE struct compat_con
/* Only pscom.h before the checks that 0x0200 programs rely on it for. */
#include "pscom.h"

static int includes_provided(void)
{
    struct in_addr ia = {.s_addr = htonl(INADDR_LOOPBACK)};
    struct sockaddr_in sin;
    struct iovec iov = {.iov_base = &sin, .iov_len = sizeof(sin)};
    char a[4] = "abc", b[4];

    memcpy(b, a, sizeof(a));
    assert(b[0] == 'a');
    return ia.s_addr == htonl(0x7f000001) && iov.iov_len == sizeof(sin) &&
           strcmp(a, b) == 0;
}

#include "compat.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static pscom_socket_t *sock;
static pscom_connection_t *loop;

static int accept_user(pscom_request_t *req, pscom_connection_t *con,
                       pscom_header_net_t *h)
{
    (void)con;
    if (h->xheader_len < sizeof(struct compat_xh) ||
        h->xheader->user.tag != 0x0200) {
        return 0;
    }
    req->user->seen_tag = (int)h->xheader->user.tag;
    return 1;
}

static void check_init_and_macros(void)
{
    pscom_socket_t *s;

    tap_ok(pscom_init_thread(PSCOM_VERSION) == PSCOM_SUCCESS &&
               pscom_init_thread(0x0100) == PSCOM_ERR_UNSUPPORTED_VERSION &&
               pscom_init_thread_level(PSCOM_VERSION, PSCOM_THREAD_MULTIPLE) ==
                   PSCOM_SUCCESS,
           "pscom_init_thread(version) takes one argument, checks the "
           "version; pscom_init_thread_level() is the extension");
    tap_ok(includes_provided(), "pscom.h brings assert, memcpy, in_addr, "
                                "sockaddr_in, iovec");
    s = PSCOM_OPEN_SOCKET();
    tap_ok(PSCOM_HAS_ON_DEMAND_CONNECTIONS == 1 && pscom_min(3, 5) == 3 &&
               pscom_max(3, 5) == 5 && pscom_min(-1, 2) == -1 && s &&
               s->userdata_size == sizeof(struct compat_sock) &&
               s->connection_userdata_size == sizeof(struct compat_con),
           "PSCOM_HAS_ON_DEMAND_CONNECTIONS, pscom_min/max, "
           "PSCOM_OPEN_SOCKET()");
#ifdef _PSCOM_H_
    tap_ok(1, "the 0x0200 include guard _PSCOM_H_ is defined");
#else
    tap_ok(0, "the 0x0200 include guard _PSCOM_H_ is defined");
#endif
    pscom_close_socket(s);
}

static void check_req_prepare(void)
{
    char data[100], in[100];
    struct compat_xh xh = {0x0200, 100, "prepared"};
    pscom_request_t *s = PSCOM_REQUEST_CREATE();
    pscom_request_t *r = PSCOM_REQUEST_CREATE();
    int good;

    for (int i = 0; i < 100; i++) {
        data[i] = (char)(i ^ 0x5a);
    }
    good = pscom_req_prepare(s, loop, data, sizeof(data), &xh, sizeof(xh)) ==
               s &&
           s->connection == loop && s->data == data && s->data_len == 100 &&
           s->xheader_len == sizeof(xh) &&
           memcmp(&s->xheader.user, &xh, sizeof(xh)) == 0;
    pscom_req_prepare(r, loop, in, sizeof(in), NULL, sizeof(xh));
    r->ops.recv_accept = accept_user;
    pscom_post_recv(r);
    pscom_post_send(s);
    pscom_wait(s);
    pscom_wait(r);
    tap_ok(good && pscom_req_successful(r) && r->user->seen_tag == 0x0200 &&
               !strcmp(r->xheader.user.text, "prepared") &&
               r->xheader.user.len == 100 && memcmp(in, data, 100) == 0,
           "pscom_req_prepare() and a user-type xheader read as "
           "header->xheader->user in recv_accept");
    pscom_request_free(s);
    pscom_request_free(r);
    tap_ok(compat_nouser_roundtrip(loop),
           "without PSCOM_XHEADER_USER_TYPE: req->xheader.user[i] and "
           "header->xheader->user[i] (char user[0])");
}

/* pscom_test's receive: a guard after the posted data_len must stay where
 * it is, so a receive leaves xheader_len and data_len as posted and puts
 * the message's own lengths into req->header; a new request takes a full
 * xheader (pscom_dispatch posts without setting xheader_len). */
static void check_posted_lengths(void)
{
    pscom_request_t *r = PSCOM_REQUEST_CREATE();
    char buf[100 + sizeof(int)];
    int guard = 0x4434312, fresh;

    fresh = r->xheader_len == sizeof(struct compat_xh) &&
            r->max_xheader_len == sizeof(struct compat_xh);
    memcpy(buf + 100, &guard, sizeof(guard));
    pscom_req_prepare(r, loop, buf, 100, NULL, sizeof(struct compat_xh));
    r->ops.recv_accept = accept_user;
    pscom_post_recv(r);
    pscom_send(loop, &(struct compat_xh){0x0200, 10, "short"},
               sizeof(struct compat_xh), "0123456789", 10);
    pscom_wait(r);
    tap_ok(fresh && pscom_req_successful(r) && r->data_len == 100 &&
               r->xheader_len == sizeof(struct compat_xh) &&
               r->header.data_len == 10 &&
               r->header.xheader_len == sizeof(struct compat_xh) &&
               memcmp(buf + r->data_len, &guard, sizeof(guard)) == 0 &&
               memcmp(buf, "0123456789", 10) == 0,
           "a receive keeps data_len/xheader_len as posted, the sent "
           "lengths are in header (data_len %u, header.data_len %u)",
           r->data_len, r->header.data_len);
    pscom_request_free(r);
}

static void check_strings(void)
{
    pscom_con_info_t a = {0x7f000001, 11, NULL, "alpha"};
    pscom_con_info_t b = {0x0a000002, 22, NULL, "beta"};
    char big[100], line[512];
    const char *s1, *s2;

    memset(big, 'x', sizeof(big));
    tap_ok(!strcmp(pscom_dumpstr("AB\x01", 3), "41 42 01 'AB.'") &&
               strstr(pscom_dumpstr(big, sizeof(big)), "...") != NULL &&
               !strcmp(pscom_dumpstr("", 0), "''"),
           "pscom_dumpstr: hex, printable characters, '...' when long "
           "(%s)",
           pscom_dumpstr("AB\x01", 3));
    tap_ok(!strcmp(pscom_op_str(PSCOM_OP_READ), "read") &&
               !strcmp(pscom_op_str(PSCOM_OP_WRITE), "write") &&
               !strcmp(pscom_op_str(PSCOM_OP_CONNECT), "connect") &&
               !strcmp(pscom_op_str(PSCOM_OP_RW), "rw"),
           "pscom_op_str");
    tap_ok(!strcmp(pscom_con_info_str2(&a, &b),
                   "127.0.0.1/11(alpha) to 10.0.0.2/22(beta)"),
           "pscom_con_info_str2: %s", pscom_con_info_str2(&a, &b));
    /* issue 21 item 14: two states in one printf were printed alike. */
    s1 = pscom_req_state_str(PSCOM_REQ_STATE_SEND_REQUEST |
                             PSCOM_REQ_STATE_DONE);
    s2 = pscom_req_state_str(PSCOM_REQ_STATE_RECV_REQUEST |
                             PSCOM_REQ_STATE_POSTED);
    snprintf(line, sizeof(line), "%s / %s", s1, s2);
    tap_ok(!strcmp(line, "send|done / recv|posted"),
           "pscom_req_state_str: two results used together stay "
           "distinct (%s)",
           line);
}

static void check_groups_and_rma(void)
{
    pscom_connection_t *cons[1] = {NULL};
    pscom_group_t *g = pscom_group_open(sock, 77, 0, 1, cons);
    char window[5000], src[5000], back[5000];
    pscom_request_t *w, *r;
    int good;

    good = g && pscom_group_find(sock, 77) == g &&
           pscom_group_get_id(g) == 77 && pscom_group_find(sock, 78) == NULL;
    pscom_group_close(g);
    tap_ok(good && pscom_group_find(sock, 77) == NULL,
           "pscom_group_find / pscom_group_get_id");

    for (int i = 0; i < 5000; i++) {
        src[i] = (char)(i * 13);
    }
    memset(window, 0, sizeof(window));
    w = pscom_request_create(0, 0);
    w->connection = loop;
    w->data = src;
    w->data_len = sizeof(src);
    w->xheader.rma_write.dest = window;
    pscom_post_rma_write(w);
    pscom_wait(w);
    r = pscom_request_create(0, 0);
    r->connection = loop;
    r->data = back;
    r->data_len = sizeof(back);
    r->xheader.rma_read.src = window;
    pscom_post_rma_read(r); /* after the write on one connection */
    pscom_wait(r);
    tap_ok(pscom_req_successful(w) && pscom_req_successful(r) &&
               (w->state & PSCOM_REQ_STATE_RMA_WRITE_REQUEST) &&
               (r->state & PSCOM_REQ_STATE_RMA_READ_REQUEST) &&
               memcmp(window, src, sizeof(src)) == 0 &&
               memcmp(back, src, sizeof(src)) == 0,
           "pscom_post_rma_write / pscom_post_rma_read on a loop "
           "connection, data verified");
    pscom_request_free(w);
    pscom_request_free(r);
}

static void check_addresses(void)
{
    struct in_addr ia;
    struct sockaddr_in sin;
    int good;

    tap_ok(pscom_atoport("5006", "tcp") == htons(5006) &&
               pscom_atoport("ssh", "tcp") == htons(22) &&
               pscom_atoport("no-such-service", "tcp") == -1 &&
               pscom_atoport("70000", "tcp") == -1,
           "pscom_atoport: numbers and service names, network order");
    good = pscom_atoaddr("10.1.2.3", &ia) == 0 &&
           ia.s_addr == htonl(0x0a010203);
    good &= pscom_atoaddr("localhost", &ia) == 0 &&
            ia.s_addr == htonl(INADDR_LOOPBACK);
    tap_ok(good && pscom_atoaddr("no.such.invalid", &ia) == -1 &&
               pscom_atoaddr("1.2.3", &ia) == -1,
           "pscom_atoaddr: dotted addresses and host names");
    memset(&sin, 0xff, sizeof(sin));
    tap_ok(pscom_ascii_to_sockaddr_in("localhost", "5006", "tcp", &sin) == 0 &&
               sin.sin_family == AF_INET && sin.sin_port == htons(5006) &&
               sin.sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
               pscom_ascii_to_sockaddr_in(NULL, "80", "tcp", &sin) == 0 &&
               sin.sin_addr.s_addr == htonl(INADDR_ANY) &&
               pscom_ascii_to_sockaddr_in("localhost", "x", "tcp", &sin) == -1,
           "pscom_ascii_to_sockaddr_in");
}

/* "localhost:PORT", as pscom_test's default "localhost:5006". */
static void check_localhost_str(void)
{
    pscom_socket_t *srv = pscom_open_socket(0, 0);
    pscom_socket_t *cli = pscom_open_socket(0, 0);
    pscom_connection_t *c = pscom_open_connection(cli), *from = NULL;
    char str[64], in[6] = "";
    pscom_err_t err;

    pscom_listen(srv, PSCOM_ANYPORT);
    snprintf(str, sizeof(str), "localhost:%d", srv->listen_portno);
    err = pscom_connect_socket_str(c, str);
    if (err == PSCOM_SUCCESS) {
        pscom_send(c, NULL, 0, "hello", 6);
        err = pscom_recv_any_con(srv, &from, NULL, 0, in, 6);
    }
    tap_ok(err == PSCOM_SUCCESS && !strcmp(in, "hello") && from &&
               from->socket == srv,
           "pscom_connect_socket_str(\"%s\") and a message over it (%s)", str,
           pscom_err_str(err));
    pscom_close_socket(cli);
    pscom_close_socket(srv);
}

static char *fake_env(const char *name)
{
    static char seven[] = "7";

    return strcmp(name, "PSP_COMPAT_HOOK") == 0 ? seven : getenv(name);
}

static void check_env_io_recv(void)
{
    char *(*saved)(const char *) = pscom_env_get;
    int v = 0, fd[2];
    char buf[5] = "", xh[4] = "", data[8] = "";

    pscom_env_get = fake_env;
    pscom_env_get_int(&v, "PSP_COMPAT_HOOK");
    pscom_env_get = saved;
    tap_ok(v == 7 && pscom_env_set("PSP_COMPAT_SET", "x", 1) == 0 &&
               !strcmp(getenv("PSP_COMPAT_SET"), "x"),
           "pscom_env_get / pscom_env_set hooks");
    if (pipe(fd)) {
        tap_bail("pipe: %s", strerror(errno));
    }
    tap_ok(pscom_writeall(fd[1], "12345", 5) == 5 &&
               pscom_readall(fd[0], buf, 5) == 5 && !memcmp(buf, "12345", 5) &&
               pscom_readall(fd[0], buf, -1) == -1,
           "pscom_readall / pscom_writeall with int counts");
    close(fd[0]);
    close(fd[1]);
    pscom_send(loop, "xh1", 4, "data1", 6);
    pscom_send(loop, "xh2", 4, "data2", 6);
    tap_ok(pscom_recv_from(loop, xh, 4, data, 6) == PSCOM_SUCCESS &&
               !strcmp(xh, "xh1") && !strcmp(data, "data1") &&
               pscom_recv_any(sock, xh, 4, data, 6) == PSCOM_SUCCESS &&
               !strcmp(xh, "xh2") && !strcmp(data, "data2"),
           "pscom_recv_from / pscom_recv_any (0x0200 inlines)");
}

int main(void)
{
    tap_plan(20);
    check_init_and_macros();
    sock = PSCOM_OPEN_SOCKET();
    loop = sock ? pscom_open_connection(sock) : NULL;
    if (!loop || pscom_connect(loop, -1, -1) != PSCOM_SUCCESS) {
        tap_bail("a loop connection");
    }
    check_req_prepare();
    check_posted_lengths();
    check_strings();
    check_groups_and_rma();
    check_addresses();
    check_localhost_str();
    check_env_io_recv();
    pscom_close_socket(sock);
    return tap_exit_status();
}
