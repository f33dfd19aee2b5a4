/*
 * testplug.c -- a TEST-ONLY transport plugin (libpscom4testplug.so), built
 * only for 'make check'. It uses nothing but the contract in plugin.h.
 *
 * TESTPLUG_MODE (read at every hand-shake step) drives it:
 *   agree (default)  offer, accept and finish succeed; the data then
 *                    travels over the connection's TCP socket, read and
 *                    written by this plugin (PSCOM_PLUGIN_F_OWNS_FD)
 *   refuse_offer     the connecting side does not offer it
 *   refuse_accept    the accepting side refuses the offer
 *   fail_finish      the connecting side fails on the peer's reply
 * testplug_live() counts per-connection states still allocated, so tests
 * can prove that every refusal path frees what it allocated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "plugin.h"

#define OFFER_BLOB "testplug-offer"
#define REPLY_BLOB "testplug-accept"

struct tp_con {
    pscom_ufd_t ufd;
    pscom_con_t *con;
    int want_out;
};

static int live;

int testplug_live(void);
int testplug_live(void)
{
    return live;
}

static int mode_is(const char *m)
{
    const char *v = getenv("TESTPLUG_MODE");

    return strcmp(v ? v : "agree", m) == 0;
}

static int tp_alloc(pscom_con_t *con)
{
    struct tp_con *tp = calloc(1, sizeof(*tp));

    if (!tp) {
        return -ENOMEM;
    }
    tp->con = con;
    pscom_con_set_priv(con, tp);
    live++;
    return 0;
}

static void tp_free(pscom_con_t *con)
{
    struct tp_con *tp = pscom_con_get_priv(con);

    if (tp) {
        pscom_ufd_del(&tp->ufd);
        free(tp);
        pscom_con_set_priv(con, NULL);
        live--;
    }
}

static int tp_offer(pscom_con_t *con, void *blob, size_t *blob_len,
                    char *reason)
{
    if (mode_is("refuse_offer")) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "TESTPLUG_MODE=refuse_offer");
        return -1;
    }
    if (tp_alloc(con)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "out of memory");
        return -1;
    }
    memcpy(blob, OFFER_BLOB, sizeof(OFFER_BLOB));
    *blob_len = sizeof(OFFER_BLOB);
    return 0;
}

static int tp_accept(pscom_con_t *con, const void *offer, size_t offer_len,
                     void *reply, size_t *reply_len, char *reason)
{
    if (offer_len != sizeof(OFFER_BLOB) ||
        memcmp(offer, OFFER_BLOB, offer_len)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "malformed offer");
        return -1;
    }
    if (mode_is("refuse_accept")) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "TESTPLUG_MODE=refuse_accept");
        return -1;
    }
    if (tp_alloc(con)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "out of memory");
        return -1;
    }
    memcpy(reply, REPLY_BLOB, sizeof(REPLY_BLOB));
    *reply_len = sizeof(REPLY_BLOB);
    return 0;
}

static int tp_finish(pscom_con_t *con, const void *reply, size_t reply_len,
                     char *reason)
{
    if (reply_len != sizeof(REPLY_BLOB) ||
        memcmp(reply, REPLY_BLOB, reply_len)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "malformed reply");
        return -1;
    }
    if (mode_is("fail_finish")) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "TESTPLUG_MODE=fail_finish");
        return -1;
    }
    return 0;
}

static void tp_update(struct tp_con *tp)
{
    pscom_ufd_mod(&tp->ufd, EPOLLIN | (tp->want_out ? EPOLLOUT : 0));
}

static void tp_do_write(struct tp_con *tp)
{
    pscom_con_t *con = tp->con;
    struct iovec iov[2];
    size_t len;

    while ((len = pscom_con_write_get_iov(con, iov)) > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
        ssize_t n = sendmsg(pscom_con_get_fd(con), &msg,
                            MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            pscom_con_error(con, PSCOM_OP_WRITE, PSCOM_ERR_IOERROR);
            return;
        }
        pscom_con_write_done(con, (size_t)n);
    }
    len = pscom_con_write_get_iov(con, iov);
    if ((len > 0) != tp->want_out) {
        tp->want_out = len > 0;
        tp_update(tp);
    }
}

static void tp_do_read(struct tp_con *tp)
{
    pscom_con_t *con = tp->con;
    pscom_connection_t *pub = pscom_con_pub(con);

    for (;;) {
        void *buf;
        size_t len;
        ssize_t n;

        pscom_con_read_get_buf(con, &buf, &len);
        n = recv(pscom_con_get_fd(con), buf, len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n <= 0) {
            pscom_con_error(con, PSCOM_OP_READ,
                            n == 0 ? PSCOM_ERR_EOF : PSCOM_ERR_IOERROR);
            return;
        }
        pscom_con_read_done(con, (size_t)n);
        if (pub->state & PSCOM_CON_STATE_CLOSED) {
            return; /* tp is freed */
        }
    }
}

static void tp_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    struct tp_con *tp = ufd->priv;
    pscom_connection_t *pub = pscom_con_pub(tp->con);

    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        tp_do_read(tp);
        if (pub->state & PSCOM_CON_STATE_CLOSED) {
            return;
        }
    }
    if (revents & EPOLLOUT) {
        tp_do_write(tp);
    }
}

static int tp_start(pscom_con_t *con)
{
    struct tp_con *tp = pscom_con_get_priv(con);

    tp->ufd.fd = pscom_con_get_fd(con);
    tp->ufd.events = EPOLLIN;
    tp->ufd.cb = tp_cb;
    tp->ufd.priv = tp;
    pscom_debug(2, "testplug: started on fd %d", tp->ufd.fd);
    return pscom_ufd_add(&tp->ufd);
}

static void tp_write_start(pscom_con_t *con)
{
    tp_do_write(pscom_con_get_priv(con));
}

static void tp_close(pscom_con_t *con)
{
    int fd = pscom_con_get_fd(con);

    tp_free(con);
    if (fd >= 0) {
        close(fd);
    }
}

const pscom_plugin_t pscom_plugin_testplug = {
    .version = PSCOM_PLUGIN_VERSION,
    .name = "testplug",
    .con_type = PSCOM_CON_TYPE_TESTPLUG,
    .default_priority = 50,
    .flags = PSCOM_PLUGIN_F_OWNS_FD,
    .offer = tp_offer,
    .accept = tp_accept,
    .finish = tp_finish,
    .abort = tp_free,
    .start = tp_start,
    .write_start = tp_write_start,
    .close = tp_close,
};
