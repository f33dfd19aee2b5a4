/*
 * abi_run.c -- built against abi0200/pscom.h (the 0x0200 layout, not our
 * include/pscom.h), linked with our libpscom.so.2: a program compiled for
 * pscom 0x0200 must find every struct member where it expects it. It
 * sends, receives, writes and reads remote memory through the request,
 * header, socket and connection members and checks the data.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct xh_user {
    uint32_t tag;
    uint32_t seq;
    uint64_t cookie;
    char pad[40]; /* larger than the library's own xheader union */
};
struct PSCOM_req_user {
    int accepted;
    uint64_t seen_cookie;
};
struct sock_ud {
    uint64_t magic;
};
struct con_ud {
    char name[12];
};
#define PSCOM_XHEADER_USER_TYPE struct xh_user
#define PSCOM_SOCKET_USERDATA_TYPE struct sock_ud
#define PSCOM_CONNECTION_USERDATA_TYPE struct con_ud
#include "pscom.h"

#include "tap.h"

#define LEN 100000
#define COOKIE 0x0200c00c1e5ull

static unsigned char sbuf[LEN], rbuf[LEN], window[LEN], readback[LEN];

static int accept_tag(pscom_request_t *req, pscom_connection_t *con,
                      pscom_header_net_t *h)
{
    (void)con;
    /* header->xheader->user: the 0x0200 way to look at a message. */
    if (h->xheader_len != sizeof(struct xh_user) ||
        h->xheader->user.tag != 42) {
        return 0;
    }
    req->user->accepted = 1;
    req->user->seen_cookie = h->xheader->user.cookie;
    return 1;
}

static pscom_connection_t *first_con(pscom_socket_t *s)
{
    pscom_connection_t *c;

    while (!(c = pscom_get_next_connection(s, NULL))) {
        pscom_wait_any();
    }
    return c;
}

static int ok_state(pscom_request_t *r)
{
    return (r->state & (PSCOM_REQ_STATE_DONE | PSCOM_REQ_STATE_ERROR |
                        PSCOM_REQ_STATE_TRUNCATED |
                        PSCOM_REQ_STATE_CANCELED)) == PSCOM_REQ_STATE_DONE;
}

/* A message from cb to ca: its arrival also fences earlier RMA writes. */
static int exchange(pscom_connection_t *cb, pscom_socket_t *sa,
                    pscom_connection_t **from, uint32_t seq)
{
    pscom_request_t *s = pscom_request_create(sizeof(struct xh_user),
                                              sizeof(struct PSCOM_req_user));
    pscom_request_t *r = pscom_request_create(sizeof(struct xh_user),
                                              sizeof(struct PSCOM_req_user));
    int good;

    for (int i = 0; i < LEN; i++) {
        sbuf[i] = (unsigned char)(i * 7 + seq);
    }
    memset(rbuf, 0, sizeof(rbuf));
    tap_ok(s->max_xheader_len == sizeof(struct xh_user) &&
               s->user_size == sizeof(struct PSCOM_req_user) && s->user,
           "request_create: max_xheader_len %u, user_size %u, user set",
           s->max_xheader_len, s->user_size);
    s->connection = cb;
    s->xheader.user.tag = 42;
    s->xheader.user.seq = seq;
    s->xheader.user.cookie = COOKIE + seq;
    s->xheader_len = sizeof(struct xh_user);
    s->data = sbuf;
    s->data_len = LEN;
    r->socket = sa;
    r->connection = NULL;
    r->ops.recv_accept = accept_tag;
    r->xheader_len = sizeof(struct xh_user);
    r->data = rbuf;
    r->data_len = LEN;
    r->user->accepted = 0;
    pscom_post_recv(r);
    pscom_post_send(s);
    pscom_wait(s);
    pscom_wait(r);
    good = ok_state(s) && ok_state(r) && r->user->accepted &&
           r->user->seen_cookie == COOKIE + seq && r->xheader.user.seq == seq &&
           r->xheader_len == sizeof(struct xh_user) && r->data_len == LEN &&
           r->header.data_len == LEN &&
           r->header.xheader_len == sizeof(struct xh_user) &&
           memcmp(sbuf, rbuf, LEN) == 0;
    tap_ok(good,
           "message %u: xheader via header->xheader->user, data "
           "verified (states %s / %s)",
           seq, pscom_req_state_str(s->state), pscom_req_state_str(r->state));
    *from = r->connection;
    pscom_request_free(s);
    pscom_request_free(r);
    return good;
}

int main(void)
{
    pscom_socket_t *sa, *sb;
    pscom_connection_t *ca, *cb, *from = NULL;
    pscom_request_t *w, *rd;

    tap_plan(12);
    if (pscom_init(PSCOM_VERSION) != PSCOM_SUCCESS) {
        tap_bail("pscom_init");
    }
    sa = pscom_open_socket(sizeof(struct sock_ud), sizeof(struct con_ud));
    sb = pscom_open_socket(sizeof(struct sock_ud), sizeof(struct con_ud));
    if (!sa || !sb) {
        tap_bail("pscom_open_socket");
    }
    sa->userdata.magic = 0x50534f43;
    tap_ok(sa->userdata_size == sizeof(struct sock_ud) &&
               sa->connection_userdata_size == sizeof(struct con_ud) &&
               sa->listen_portno == -1 && sa->local_con_info.pid == getpid(),
           "socket: userdata_size %u, connection_userdata_size %u, "
           "listen_portno %d, pid",
           sa->userdata_size, sa->connection_userdata_size, sa->listen_portno);
    if (pscom_listen(sa, -1) != PSCOM_SUCCESS) {
        tap_bail("pscom_listen");
    }
    tap_ok(sa->listen_portno > 0, "listen_portno %d", sa->listen_portno);
    cb = pscom_open_connection(sb);
    tap_ok(cb && pscom_connect(cb, pscom_get_nodeid(), sa->listen_portno) ==
                     PSCOM_SUCCESS,
           "connect to the listening socket");
    ca = first_con(sa);
    strcpy(cb->userdata.name, "client");
    strcpy(ca->userdata.name, "server");
    tap_ok(cb->socket == sb && ca->socket == sa &&
               cb->userdata_size == sizeof(struct con_ud) &&
               (cb->state & PSCOM_CON_STATE_RW) == PSCOM_CON_STATE_RW &&
               cb->remote_con_info.pid == getpid() &&
               ca->remote_con_info.pid == getpid() &&
               sa->userdata.magic == 0x50534f43,
           "connection: socket, state, userdata_size, remote_con_info "
           "(via %s)",
           pscom_con_type_str(cb->type));
    exchange(cb, sa, &from, 1);
    tap_ok(from == ca && !strcmp(from->userdata.name, "server"),
           "request->connection is the receiving connection");

    /* RMA write into window (passive side: ca), fenced by a message. */
    memset(window, 0, sizeof(window));
    w = pscom_request_create(0, 0);
    w->connection = cb;
    w->data = sbuf;
    w->data_len = LEN;
    w->xheader.rma_write.dest = window;
    pscom_post_rma_write(w);
    pscom_wait(w);
    tap_ok(ok_state(w), "rma_write completed (%s)",
           pscom_req_state_str(w->state));
    exchange(cb, sa, &from, 2);
    for (int i = 0; i < LEN; i++) {
        sbuf[i] = (unsigned char)(i * 7 + 1); /* what was written */
    }
    tap_ok(memcmp(window, sbuf, LEN) == 0,
           "rma_write: the data is at xheader.rma_write.dest");

    rd = pscom_request_create(0, 0);
    rd->connection = cb;
    rd->data = readback;
    rd->data_len = LEN;
    rd->xheader.rma_read.src = window;
    pscom_post_rma_read(rd);
    pscom_wait(rd);
    tap_ok(ok_state(rd) && memcmp(readback, window, LEN) == 0,
           "rma_read: xheader.rma_read.src read back, verified (%s)",
           pscom_req_state_str(rd->state));
    pscom_request_free(w);
    pscom_request_free(rd);
    pscom_close_connection(cb);
    pscom_close_socket(sb);
    pscom_close_socket(sa);
    return tap_exit_status();
}
