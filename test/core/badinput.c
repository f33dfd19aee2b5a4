/*
 * badinput -- a raw TCP client attacks a listening pscom socket while a
 * normal pscom connection to the same process keeps working.
 *
 * Processes: the server S (pscom, echoes every message on any
 * connection), the good client G (pscom, verified round trips on
 * command) and this orchestrator (no pscom: raw sockets only). To craft
 * attacks that get past the first bytes, a real pscom client's opening
 * bytes are first captured on a raw listening socket (whatever the
 * handshake format is); the attacks then send random bytes, truncated
 * and mutated copies of it, absurd length fields, and an idle connection.
 * After each attack: S closed the bad connection, S said why on stderr,
 * G's traffic still verifies. Output is TAP.
 *
 * "badinput leak" and "badinput fdlimit" run the hostile hand-shakes of
 * badinput_handshake.c instead.
 */
#include "badinput.h"

#include "pattern.h"
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAPTURE_MAX 4096
#define ECHO_MAX (1024 * 1024)
#define TAG_ECHO 0x45434830u
#define TAG_QUIT 0x51554954u
#define CLOSE_WAIT_MS 30000

/* ---- server: echo everything, on every connection --------------------- */

void (*bi_server_hook)(pscom_socket_t *sock);

int bi_server_main(void *arg)
{
    struct bt_line_pipe *addr = arg;
    pscom_socket_t *sock = bt_open_socket(1, NULL);
    unsigned char *buf = malloc(ECHO_MAX);
    pscom_request_t *r = pscom_request_create(sizeof(struct bt_xh), 0);

    if (!sock || !buf || !r) {
        return 1;
    }
    bt_line_send(addr, pscom_listen_socket_str(sock));
    if (bi_server_hook) {
        bi_server_hook(sock);
    }
    for (;;) {
        struct bt_xh xh;

        r->connection = NULL;
        r->socket = sock;
        r->ops.recv_accept = NULL;
        r->xheader_len = sizeof(xh);
        r->data = buf;
        r->data_len = ECHO_MAX;
        pscom_post_recv(r);
        pscom_wait(r);
        if (!pscom_req_successful(r)) {
            fprintf(stderr, "server: receive failed: %s\n",
                    pscom_req_state_str(r->state));
            continue;
        }
        memcpy(&xh, &r->xheader, sizeof(xh));
        if (xh.tag == TAG_QUIT) {
            break;
        }
        pscom_send(r->connection, &xh, sizeof(xh), buf, r->header.data_len);
    }
    pscom_request_free(r);
    pscom_close_socket(sock);
    free(buf);
    return 0;
}

/* ---- good client: verified round trips on command ---------------------- */

static int good_rounds(struct bt_ctx *c, uint32_t round)
{
    unsigned char *sbuf = malloc(ECHO_MAX), *rbuf = malloc(ECHO_MAX);
    int rc = 0;

    for (uint32_t i = 0; i < 20 && rc == 0 && sbuf && rbuf; i++) {
        size_t len = (size_t)1 << (i % 21);
        uint32_t seq = round * 100 + i;
        pscom_request_t *r, *s;

        /* The server echoes with our side, so expect our own pattern. */
        c->role = BT_LOOP;
        pattern_fill(sbuf, len, bt_seed(TAG_ECHO, seq, c->role));
        r = bt_post_recv(c, TAG_ECHO, seq, 0, rbuf, ECHO_MAX);
        s = bt_post_send(c, TAG_ECHO, seq, sbuf, len);
        rc = bt_check_msg(c, r, TAG_ECHO, seq, len);
        if (rc == 0) {
            rc = bt_wait_ok(c, s, "send");
        }
        pscom_wait(s);
        pscom_request_free(r);
        pscom_request_free(s);
    }
    free(sbuf);
    free(rbuf);
    return rc;
}

int bi_good_main(void *arg)
{
    struct good_arg *a = arg;
    pscom_socket_t *sock = bt_open_socket(0, NULL);
    struct bt_ctx c = {.role = BT_LOOP, .sock = sock};
    char line[ADDR_MAX];
    uint32_t round = 0;

    if (!sock || bt_line_recv(a->addr, line, sizeof(line)) < 0) {
        return 1;
    }
    c.con = pscom_open_connection(sock);
    if (pscom_connect_socket_str(c.con, line) != PSCOM_SUCCESS) {
        fprintf(stderr, "good client: connect %s failed\n", line);
        return 1;
    }
    while (bt_line_recv(a->cmd, line, sizeof(line)) == 0) {
        if (strcmp(line, "quit") == 0) {
            struct bt_xh xh = {TAG_QUIT, 0, 0, 0};

            pscom_send(c.con, &xh, sizeof(xh), NULL, 0);
            pscom_flush(c.con);
            break;
        }
        if (good_rounds(&c, round++) == 0) {
            bt_line_send(a->res, "ok");
        } else {
            char msg[600];

            snprintf(msg, sizeof(msg), "fail %s", c.why);
            bt_line_send(a->res, msg);
        }
    }
    pscom_close_socket(sock);
    return 0;
}

/* ---- capture a real client's first bytes ------------------------------ */

static int raw_listen(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, 4) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        tap_bail("raw listen: %s", strerror(errno));
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static int capture_client(void *arg)
{
    int port = *(int *)arg;
    pscom_socket_t *sock = bt_open_socket(0, NULL);
    pscom_connection_t *con;

    if (!sock) {
        return 1;
    }
    con = pscom_open_connection(sock);
    /* Fails once the capturer hangs up: that is expected. */
    pscom_connect(con, (int)INADDR_LOOPBACK, port);
    return 0;
}

/* Read what the client sends until it pauses for 500 ms: the capture is
 * complete when the client waits for our answer. */
static size_t capture(unsigned char *buf, size_t max)
{
    struct bt_child ch;
    int port, lfd = raw_listen(&port), fd;
    size_t n = 0;

    bt_spawn(&ch, capture_client, &port);
    fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
        tap_bail("accept: %s", strerror(errno));
    }
    while (n < max) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t r;

        if (poll(&p, 1, n ? 500 : 10000) <= 0) {
            break;
        }
        r = read(fd, buf + n, max - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    close(lfd);
    bt_reap(&ch, 0);
    return n;
}

/* ---- attacks ------------------------------------------------------------ */

int bi_raw_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        tap_bail("raw connect to port %d: %s", port, strerror(errno));
    }
    return fd;
}

int bi_closed_by_server(int fd, int ms)
{
    unsigned char sink[4096];

    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t r;

        if (poll(&p, 1, ms) <= 0) {
            return 0;
        }
        r = read(fd, sink, sizeof(sink));
        if (r == 0 || (r < 0 && errno == ECONNRESET)) {
            return 1;
        }
        if (r < 0) {
            return 0;
        }
        /* The server's own handshake bytes: keep reading. */
    }
}

struct attack {
    const char *name;
    unsigned char buf[CAPTURE_MAX + 4096];
    size_t len;
    int shut_wr; /* also half-close: the peer sees EOF after the bytes */
};

static void make_attacks(struct attack *a, int *n, const unsigned char *cap,
                         size_t clen)
{
    struct attack *x;

    *n = 0;
    x = &a[(*n)++];
    x->name = "random bytes";
    pattern_fill(x->buf, 4096, 12345);
    x->len = 4096;

    x = &a[(*n)++];
    x->name = "truncated opening (first half, then EOF)";
    memcpy(x->buf, cap, clen / 2);
    x->len = clen / 2;
    x->shut_wr = 1;

    x = &a[(*n)++];
    x->name = "header only, then EOF";
    memcpy(x->buf, cap, clen < 8 ? clen : 8);
    x->len = clen < 8 ? clen : 8;
    x->shut_wr = 1;

    /* Every aligned 32-bit word of the opening set to 0xffffffff in turn
     * would be many attacks; the first two words hold the length field of
     * any framed handshake we know of. */
    for (size_t w = 0; w < 2 && (w + 1) * 4 <= clen; w++) {
        x = &a[(*n)++];
        x->name = w ? "absurd length (word 1 = 0xffffffff)"
                    : "absurd length (word 0 = 0xffffffff)";
        memcpy(x->buf, cap, clen);
        memset(x->buf + w * 4, 0xff, 4);
        pattern_fill(x->buf + clen, 64, 777);
        x->len = clen + 64;
    }

    x = &a[(*n)++];
    x->name = "valid opening, then 0xff garbage";
    memcpy(x->buf, cap, clen);
    memset(x->buf + clen, 0xff, 4096);
    x->len = clen + 4096;

    x = &a[(*n)++];
    x->name = "all 0xff";
    memset(x->buf, 0xff, 512);
    x->len = 512;
}

static off_t file_size(FILE *f)
{
    struct stat st;

    return fstat(fileno(f), &st) == 0 ? st.st_size : -1;
}

int bi_good_round(struct good_arg *g, char *res, size_t len)
{
    bt_line_send(g->cmd, "go");
    if (bt_line_recv(g->res, res, len) < 0) {
        snprintf(res, len, "fail: the good client died");
        return 0;
    }
    return strcmp(res, "ok") == 0;
}

int main(int argc, char **argv)
{
    static struct attack attacks[8];
    unsigned char cap[CAPTURE_MAX];
    struct bt_line_pipe saddr, gaddr, cmd, res;
    struct good_arg g = {&gaddr, &cmd, &res};
    struct bt_child cs, cg;
    char addr[ADDR_MAX], result[700];
    size_t clen;
    int n, port;
    const char *colon;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) {
        return bi_handshake_main(argv[1]);
    }
    clen = capture(cap, sizeof(cap));
    make_attacks(attacks, &n, cap, clen);
    tap_plan(2 + 3 * n + 2);
    tap_ok(clen >= 8, "captured %zu opening bytes of a real client", clen);

    bt_line_pipe_open(&saddr);
    bt_line_pipe_open(&gaddr);
    bt_line_pipe_open(&cmd);
    bt_line_pipe_open(&res);
    bt_spawn(&cs, bi_server_main, &saddr);
    if (bt_line_recv(&saddr, addr, sizeof(addr)) < 0 ||
        !(colon = strrchr(addr, ':'))) {
        tap_bail("the server did not start");
    }
    port = atoi(colon + 1);
    bt_spawn(&cg, bi_good_main, &g);
    bt_line_send(&gaddr, addr);
    tap_ok(bi_good_round(&g, result, sizeof(result)),
           "good connection works before any attack");

    for (int i = 0; i < n; i++) {
        off_t before = file_size(cs.out);
        int fd = bi_raw_connect(port);

        if (pscom_writeall(fd, attacks[i].buf, attacks[i].len) < 0) {
            /* The server may close before reading everything. */
            tap_diag("write: %s", strerror(errno));
        }
        if (attacks[i].shut_wr) {
            shutdown(fd, SHUT_WR);
        }
        tap_ok(bi_closed_by_server(fd, CLOSE_WAIT_MS),
               "%s: server closes the connection", attacks[i].name);
        close(fd);
        tap_ok(file_size(cs.out) > before, "%s: error message on stderr",
               attacks[i].name);
        if (!tap_ok(bi_good_round(&g, result, sizeof(result)),
                    "%s: good connection still works", attacks[i].name)) {
            tap_diag("%s", result);
        }
    }

    /* An idle raw connection must not block anyone. */
    {
        int fd = bi_raw_connect(port);

        tap_ok(bi_good_round(&g, result, sizeof(result)),
               "idle raw connection open: good connection still works");
        close(fd);
    }
    bt_line_send(&cmd, "quit");
    bt_reap(&cg, 0);
    tap_ok(bt_reap(&cs, 1) == 0, "server survives and exits cleanly");
    return tap_exit_status();
}
