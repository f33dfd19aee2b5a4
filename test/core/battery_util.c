/* battery_util.c -- helpers of the transport test battery (battery.h). */
#include "battery.h"

#include "pattern.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BT_TAG_SYNC 0x53594e43u /* "SYNC" */

struct bt_errors bt_errors;
pscom_connection_t *bt_accepted;

int bt_fail(struct bt_ctx *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->why, sizeof(c->why), fmt, ap);
    va_end(ap);
    return -1;
}

unsigned bt_timeout(void)
{
    const char *s = getenv("BT_TIMEOUT");
    long v = s ? strtol(s, NULL, 10) : 0;

    return v > 0 ? (unsigned)v : 60;
}

enum bt_role bt_peer_side(const struct bt_ctx *c)
{
    switch (c->role) {
    case BT_SERVER:
        return BT_CLIENT;
    case BT_CLIENT:
        return BT_SERVER;
    default:
        return BT_LOOP;
    }
}

uint32_t bt_seed(uint32_t tag, uint32_t seq, enum bt_role side)
{
    return tag * 977u + seq * 31u + (uint32_t)side * 1000003u;
}

int bt_accept_tag(pscom_request_t *req, pscom_connection_t *con,
                  pscom_header_net_t *hdr)
{
    struct bt_xh xh;

    if (hdr->xheader_len < sizeof(xh)) {
        return 0;
    }
    memcpy(&xh, hdr->xheader, sizeof(xh));
    return xh.tag == req->user->want_tag &&
           (req->user->any_seq || xh.seq == req->user->want_seq);
}

pscom_request_t *bt_recv_req(struct bt_ctx *c, uint32_t tag, uint32_t seq,
                             int any_seq, void *buf, size_t len)
{
    pscom_request_t *req = pscom_request_create(sizeof(struct bt_xh),
                                                sizeof(struct PSCOM_req_user));

    if (!req) {
        tap_bail("pscom_request_create failed");
    }
    req->user->want_tag = tag;
    req->user->want_seq = seq;
    req->user->any_seq = any_seq;
    req->ops.recv_accept = bt_accept_tag;
    req->connection = c->con;
    req->socket = c->sock;
    req->xheader_len = sizeof(struct bt_xh);
    req->data = buf;
    req->data_len = len;
    return req;
}

pscom_request_t *bt_post_recv(struct bt_ctx *c, uint32_t tag, uint32_t seq,
                              int any_seq, void *buf, size_t len)
{
    pscom_request_t *req = bt_recv_req(c, tag, seq, any_seq, buf, len);

    pscom_post_recv(req);
    return req;
}

pscom_request_t *bt_post_send(struct bt_ctx *c, uint32_t tag, uint32_t seq,
                              const void *buf, size_t len)
{
    pscom_request_t *req = pscom_request_create(sizeof(struct bt_xh), 0);
    struct bt_xh xh = {tag, seq, (uint32_t)c->role, 0};

    if (!req) {
        tap_bail("pscom_request_create failed");
    }
    memcpy(&req->xheader, &xh, sizeof(xh));
    req->connection = c->con;
    req->xheader_len = sizeof(xh);
    req->data = (void *)buf;
    req->data_len = len;
    pscom_post_send(req);
    return req;
}

int bt_wait_ok(struct bt_ctx *c, pscom_request_t *req, const char *what)
{
    pscom_wait(req);
    if (!pscom_req_successful(req)) {
        return bt_fail(c,
                       "%s: request state %s (message: xheader %u data %u; "
                       "request: xheader_len %u data_len %u)",
                       what, pscom_req_state_str(req->state),
                       req->header.xheader_len, req->header.data_len,
                       req->xheader_len, req->data_len);
    }
    return 0;
}

int bt_check_msg(struct bt_ctx *c, pscom_request_t *req, uint32_t tag,
                 uint32_t seq, size_t len)
{
    struct bt_xh xh;
    long bad;

    if (bt_wait_ok(c, req, "receive") < 0) {
        return -1;
    }
    memcpy(&xh, &req->xheader, sizeof(xh));
    if (req->header.xheader_len != sizeof(xh) || xh.tag != tag ||
        xh.seq != seq || xh.side != bt_peer_side(c)) {
        return bt_fail(c,
                       "tag %#x seq %u: got xheader_len %u tag %#x seq %u "
                       "side %u",
                       tag, seq, req->header.xheader_len, xh.tag, xh.seq,
                       xh.side);
    }
    if (req->header.data_len != len) {
        return bt_fail(c, "tag %#x seq %u: data_len %u, want %zu", tag, seq,
                       req->header.data_len, len);
    }
    bad = pattern_check(req->data, len, bt_seed(tag, seq, xh.side));
    if (bad >= 0) {
        return bt_fail(c, "tag %#x seq %u len %zu: byte %ld is wrong", tag, seq,
                       len, bad);
    }
    return 0;
}

int bt_finish(struct bt_ctx *c, int rc, pscom_request_t *r, pscom_request_t *s,
              uint32_t tag, uint32_t seq, size_t len)
{
    if (rc == 0) {
        rc = bt_check_msg(c, r, tag, seq, len);
    }
    if (rc == 0) {
        rc = bt_wait_ok(c, s, "send");
    }
    pscom_wait(r);
    pscom_wait(s);
    pscom_request_free(r);
    pscom_request_free(s);
    return rc;
}

int bt_sync(struct bt_ctx *c, uint32_t case_no)
{
    pscom_request_t *r = bt_post_recv(c, BT_TAG_SYNC, case_no, 0, NULL, 0);
    pscom_request_t *s = bt_post_send(c, BT_TAG_SYNC, case_no, NULL, 0);
    int rc = 0;

    if (bt_wait_ok(c, s, "sync send") < 0 ||
        bt_wait_ok(c, r, "sync receive") < 0) {
        rc = -1;
    }
    pscom_wait(s);
    pscom_wait(r);
    pscom_request_free(s);
    pscom_request_free(r);
    return rc;
}

void bt_con_error(pscom_connection_t *con, pscom_op_t op, pscom_err_t err)
{
    bt_errors.count++;
    bt_errors.op = op;
    bt_errors.err = err;
}

void bt_con_accept(pscom_connection_t *con)
{
    bt_accepted = con;
}

pscom_socket_t *bt_open_socket(int listen, const char *name)
{
    pscom_socket_t *sock;
    pscom_err_t err;

    err = pscom_init(PSCOM_VERSION);
    if (err != PSCOM_SUCCESS) {
        fprintf(stderr, "pscom_init: %s\n", pscom_err_str(err));
        return NULL;
    }
    sock = pscom_open_socket(0, 0);
    if (!sock) {
        fprintf(stderr, "pscom_open_socket failed\n");
        return NULL;
    }
    sock->ops.con_error = bt_con_error;
    sock->ops.con_accept = bt_con_accept;
    if (name) {
        pscom_socket_set_name(sock, name);
    }
    if (listen) {
        err = pscom_listen(sock, PSCOM_ANYPORT);
        if (err != PSCOM_SUCCESS) {
            fprintf(stderr, "pscom_listen: %s\n", pscom_err_str(err));
            pscom_close_socket(sock);
            return NULL;
        }
    }
    return sock;
}

void bt_wait_accept(void)
{
    while (!bt_accepted) {
        pscom_wait_any();
    }
}

/* ---- forked processes ------------------------------------------------- */

void bt_spawn(struct bt_child *ch, int (*fn)(void *arg), void *arg)
{
    ch->out = tmpfile();
    if (!ch->out) {
        tap_bail("tmpfile: %s", strerror(errno));
    }
    fflush(NULL);
    ch->pid = fork();
    if (ch->pid < 0) {
        tap_bail("fork: %s", strerror(errno));
    }
    if (ch->pid == 0) {
        dup2(fileno(ch->out), STDOUT_FILENO);
        dup2(fileno(ch->out), STDERR_FILENO);
        setvbuf(stdout, NULL, _IOLBF, 0);
        /* A hung case must fail, not block the suite: SIGALRM's default
         * action ends the child. */
        alarm(bt_timeout());
        fflush(NULL);
        /* exit(), not _exit(): LeakSanitizer checks at exit; stdio was
         * flushed before the fork, so nothing is written twice. */
        exit(fn(arg));
    }
}

int bt_wait_child(struct bt_child *ch)
{
    int status;

    while (waitpid(ch->pid, &status, 0) < 0) {
        if (errno != EINTR) {
            tap_bail("waitpid: %s", strerror(errno));
        }
    }
    if (WIFSIGNALED(status)) {
        tap_diag("pid %d ended by signal %d%s", (int)ch->pid, WTERMSIG(status),
                 WTERMSIG(status) == SIGALRM ? " (timeout: a hang)" : "");
        return 128 + WTERMSIG(status);
    }
    return WEXITSTATUS(status);
}

int bt_reap(struct bt_child *ch, int show_output)
{
    char line[1024];
    int rc = bt_wait_child(ch);

    if (show_output || rc != 0) {
        rewind(ch->out);
        while (fgets(line, sizeof(line), ch->out)) {
            line[strcspn(line, "\n")] = '\0';
            tap_diag("  %s", line);
        }
    }
    fclose(ch->out);
    ch->out = NULL;
    return rc;
}

void bt_line_pipe_open(struct bt_line_pipe *p)
{
    if (pipe(p->fd) < 0) {
        tap_bail("pipe: %s", strerror(errno));
    }
}

void bt_line_send(struct bt_line_pipe *p, const char *line)
{
    size_t len = strlen(line);

    if (pscom_writeall(p->fd[1], line, len) != (ssize_t)len ||
        pscom_writeall(p->fd[1], "\n", 1) != 1) {
        fprintf(stderr, "pipe write: %s\n", strerror(errno));
    }
}

int bt_line_recv(struct bt_line_pipe *p, char *buf, size_t len)
{
    size_t n = 0;

    while (n + 1 < len) {
        ssize_t r = read(p->fd[0], buf + n, 1);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        if (buf[n] == '\n') {
            break;
        }
        n++;
    }
    buf[n] = '\0';
    return 0;
}

void bt_line_pipe_close(struct bt_line_pipe *p)
{
    close(p->fd[0]);
    close(p->fd[1]);
}
