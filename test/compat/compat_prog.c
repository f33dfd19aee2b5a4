/*
 * compat_prog.c -- programs that use the pscom 0x0200 API the way its
 * public programs (pscom_test, pscom_pp, pscom_bcast_pp) do, between
 * processes; compat-progs.sh runs them and reads their TAP lines.
 *
 *   compat_prog server             listen (any port), print "port N",
 *                                  find the client as pscom_bcast_pp does,
 *                                  answer the client, passive RMA side
 *   compat_prog client HOST:PORT   "localhost:PORT": messages with a
 *                                  user-type xheader (pscom_req_prepare,
 *                                  header->xheader->user), RMA write and
 *                                  read of the server's buffer
 *   compat_prog bcast RANK N DIR   N processes connect on demand by
 *                                  socket name (addresses in DIR/RANK),
 *                                  open a group, broadcast from every
 *                                  root, barrier
 */
#include <stdint.h>

struct pp_xh {
    uint32_t seq;
    uint32_t len;
    uint64_t addr; /* the server's RMA buffer (first answer) */
};
struct PSCOM_req_user {
    uint32_t want_seq;
};
#define PSCOM_XHEADER_USER_TYPE struct pp_xh
#include "pscom.h"

#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

#define SIZES 6
static const unsigned int sizes[SIZES] = {0, 1, 100, 4096, 65537, 1 << 20};
#define RMA_LEN 300000
#define HELLO 1000 /* the server's first message */

static unsigned char fill(unsigned int seq, unsigned int i)
{
    return (unsigned char)(seq * 31 + i * 7 + (i >> 8));
}

static int accept_seq(pscom_request_t *req, pscom_connection_t *con,
                      pscom_header_net_t *h)
{
    (void)con;
    return h->xheader_len == sizeof(struct pp_xh) &&
           h->xheader->user.seq == req->user->want_seq;
}

static pscom_request_t *recv_req(pscom_connection_t *con, uint32_t seq,
                                 void *buf, unsigned int len)
{
    pscom_request_t *r = PSCOM_REQUEST_CREATE();

    pscom_req_prepare(r, con, buf, len, NULL, sizeof(struct pp_xh));
    r->user->want_seq = seq;
    r->ops.recv_accept = accept_seq;
    pscom_post_recv(r);
    return r;
}

static void send_msg(pscom_connection_t *con, uint32_t seq, void *buf,
                     unsigned int len, uint64_t addr)
{
    struct pp_xh xh = {seq, len, addr};
    pscom_request_t *s = PSCOM_REQUEST_CREATE();

    pscom_req_prepare(s, con, buf, len, &xh, sizeof(xh));
    pscom_post_send(s);
    pscom_wait(s);
    if (!pscom_req_successful(s)) {
        tap_bail("send %u: %s", seq, pscom_req_state_str(s->state));
    }
    pscom_request_free(s);
}

static void con_accept(pscom_connection_t *con)
{
    fprintf(stderr, "New connection from %s via %s\n",
            pscom_con_info_str(&con->remote_con_info),
            pscom_con_type_str(con->type));
}

/* Find the client as pscom_bcast_pp does: one connection further per
 * pscom_wait_any(), past a loop connection of the same socket. The
 * connection may appear in a step that left the walk elsewhere: the next
 * calls must still return (they did not: the walk slept for ever). */
static pscom_connection_t *find_client(pscom_socket_t *sock,
                                       pscom_connection_t *loop)
{
    pscom_connection_t *con = NULL;

    for (;;) {
        con = pscom_get_next_connection(sock, con);
        if (con && con != loop) {
            return con;
        }
        pscom_wait_any();
    }
}

/* Echo every message back; the window is the passive RMA side. */
static int run_server(void)
{
    pscom_socket_t *sock = pscom_open_socket(0, 0);
    unsigned char *buf = malloc(1 << 20), *window = calloc(1, RMA_LEN);
    pscom_connection_t *con, *loop;

    sock->ops.con_accept = con_accept;
    loop = pscom_open_connection(sock);
    if (!buf || !window || !loop || pscom_connect(loop, -1, -1) ||
        pscom_listen(sock, PSCOM_ANYPORT)) {
        tap_bail("server set-up");
    }
    printf("port %d\n", sock->listen_portno);
    fflush(stdout);
    con = find_client(sock, loop);
    pscom_stop_listen(sock);
    printf("server: found the client connection (via %s)\n",
           pscom_con_type_str(con->type));
    fflush(stdout);
    /* The client waits for this: until then nothing happens on the
     * connection, so only a wait_any() that returns finds it. */
    send_msg(con, HELLO, buf, 0, 0);
    for (uint32_t seq = 0; seq < SIZES + 2; seq++) {
        pscom_request_t *r = PSCOM_REQUEST_CREATE();

        /* Any connection of the socket: the client's. */
        r->socket = sock;
        pscom_req_prepare(r, NULL, buf, 1 << 20, NULL, sizeof(struct pp_xh));
        r->user->want_seq = seq;
        r->ops.recv_accept = accept_seq;
        pscom_post_recv(r);
        pscom_wait(r);
        if (!pscom_req_successful(r)) {
            tap_bail("server receive %u", seq);
        }
        if (r->connection != con) {
            tap_bail("a message from another connection");
        }
        send_msg(con, seq, buf, r->header.data_len,
                 (uint64_t)(uintptr_t)window);
        pscom_request_free(r);
    }
    /* The client's last message came after its RMA write: check it. */
    for (unsigned int i = 0; i < RMA_LEN; i++) {
        if (window[i] != fill(99, i)) {
            printf("server: rma window differs at %u\n", i);
            return 1;
        }
    }
    printf("server: rma window verified\n");
    pscom_close_socket(sock);
    return 0;
}

static int run_client(const char *addr)
{
    pscom_socket_t *sock = pscom_open_socket(0, 0);
    pscom_connection_t *con = pscom_open_connection(sock);
    unsigned char *out = malloc(1 << 20), *in = malloc(1 << 20);
    uint64_t window = 0;
    pscom_request_t *rq;
    pscom_err_t err;

    tap_plan(SIZES + 4);
    err = pscom_connect_socket_str(con, addr);
    tap_ok(err == PSCOM_SUCCESS, "connect to \"%s\": %s (via %s)", addr,
           pscom_err_str(err), pscom_con_type_str(con->type));
    if (err != PSCOM_SUCCESS || !out || !in) {
        return 1;
    }
    rq = recv_req(con, HELLO, in, 1 << 20);
    pscom_wait(rq);
    pscom_request_free(rq);
    for (uint32_t seq = 0; seq < SIZES; seq++) {
        unsigned int len = sizes[seq], bad = 0;
        pscom_request_t *r;

        for (unsigned int i = 0; i < len; i++) {
            out[i] = fill(seq, i);
        }
        r = recv_req(con, seq, in, 1 << 20);
        send_msg(con, seq, out, len, 0);
        pscom_wait(r);
        for (unsigned int i = 0; i < len; i++) {
            bad += in[i] != out[i];
        }
        window = r->xheader.user.addr;
        tap_ok(pscom_req_successful(r) && r->header.data_len == len && !bad &&
                   r->xheader.user.len == len,
               "%u bytes there and back, xheader and data verified", len);
        pscom_request_free(r);
    }
    /* RMA write into the server's window, then read it back. */
    for (unsigned int i = 0; i < RMA_LEN; i++) {
        out[i] = fill(99, i);
    }
    rq = pscom_request_create(0, 0);
    rq->connection = con;
    rq->data = out;
    rq->data_len = RMA_LEN;
    rq->xheader.rma_write.dest = (void *)(uintptr_t)window;
    pscom_post_rma_write(rq);
    pscom_wait(rq);
    tap_ok(pscom_req_successful(rq), "rma_write of %d bytes", RMA_LEN);
    memset(in, 0, RMA_LEN);
    rq->data = in;
    rq->xheader.rma_read.src = (void *)(uintptr_t)window;
    pscom_post_rma_read(rq);
    pscom_wait(rq);
    tap_ok(pscom_req_successful(rq) && memcmp(in, out, RMA_LEN) == 0,
           "rma_read of the written window, verified");
    pscom_request_free(rq);
    for (uint32_t seq = SIZES; seq < SIZES + 2; seq++) {
        pscom_request_t *r = recv_req(con, seq, in, 1 << 20);

        send_msg(con, seq, out, 8, 0);
        pscom_wait(r);
        pscom_request_free(r);
    }
    tap_ok(1, "closing messages exchanged");
    pscom_close_connection(con);
    pscom_close_socket(sock);
    free(out);
    free(in);
    return tap_exit_status();
}

/* Publish my on-demand address, read everybody's. */
static void exchange_addrs(pscom_socket_t *sock, int rank, int n,
                           const char *dir, char (*addrs)[64])
{
    char path[512], tmp[520];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%d", dir, rank);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f) {
        tap_bail("cannot write %s", tmp);
    }
    fprintf(f, "%s\n", pscom_listen_socket_ondemand_str(sock));
    fclose(f);
    rename(tmp, path); /* readers never see a partial line */
    for (int r = 0; r < n; r++) {
        snprintf(path, sizeof(path), "%s/%d", dir, r);
        while (!(f = fopen(path, "r"))) {
            usleep(10000);
        }
        if (!fgets(addrs[r], 64, f)) {
            tap_bail("empty %s", path);
        }
        addrs[r][strcspn(addrs[r], "\n")] = '\0';
        fclose(f);
    }
}

static int run_bcast(int rank, int n, const char *dir)
{
    pscom_socket_t *sock = pscom_open_socket(0, 0);
    pscom_connection_t *cons[16] = {NULL};
    char addrs[16][64], name[8];
    unsigned char buf[5000];
    pscom_group_t *g;
    int good = 1;

    if (n > 16 || !sock) {
        tap_bail("bad arguments");
    }
    snprintf(name, sizeof(name), "rank%d", rank);
    pscom_socket_set_name(sock, name);
    if (pscom_listen(sock, PSCOM_ANYPORT)) {
        tap_bail("listen");
    }
    exchange_addrs(sock, rank, n, dir, addrs);
    tap_plan(3);
    for (int r = 0; r < n; r++) {
        int nodeid, portno;
        char rname[8];

        if (r == rank) {
            continue;
        }
        cons[r] = pscom_open_connection(sock);
        if (pscom_parse_socket_ondemand_str(addrs[r], &nodeid, &portno,
                                            &rname) ||
            pscom_connect_ondemand(cons[r], nodeid, portno, rname)) {
            good = 0;
        }
    }
    tap_ok(good, "rank %d: on-demand connections by name", rank);
    g = pscom_group_open(sock, 4711, (uint32_t)rank, (uint32_t)n, cons);
    good = g && pscom_group_find(sock, 4711) == g &&
           pscom_group_get_id(g) == 4711;
    for (int root = 0; root < n && good; root++) {
        char xh[8];

        for (unsigned int i = 0; i < sizeof(buf); i++) {
            buf[i] = root == rank ? fill((unsigned)root, i) : 0;
        }
        snprintf(xh, sizeof(xh), "root%d", root);
        pscom_bcast(g, (unsigned)root, xh, sizeof(xh), buf, sizeof(buf));
        for (unsigned int i = 0; i < sizeof(buf); i++) {
            good &= buf[i] == fill((unsigned)root, i);
        }
    }
    tap_ok(good, "rank %d: bcast from every root of %d, data verified", rank,
           n);
    pscom_barrier(g);
    pscom_barrier(g);
    tap_ok(1, "rank %d: barriers passed", rank);
    pscom_group_close(g);
    pscom_close_socket(sock);
    return tap_exit_status();
}

int main(int argc, char **argv)
{
    if (pscom_init(PSCOM_VERSION) != PSCOM_SUCCESS) {
        return 1;
    }
    if (argc == 2 && !strcmp(argv[1], "server")) {
        return run_server();
    }
    if (argc == 3 && !strcmp(argv[1], "client")) {
        return run_client(argv[2]);
    }
    if (argc == 5 && !strcmp(argv[1], "bcast")) {
        return run_bcast(atoi(argv[2]), atoi(argv[3]), argv[4]);
    }
    fprintf(stderr,
            "usage: %s server | client HOST:PORT | "
            "bcast RANK N DIR\n",
            argv[0]);
    return 2;
}
