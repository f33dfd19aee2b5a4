/*
 * tcp.c -- the tcp transport: non-blocking socket, sendmsg of
 * header+xheader and data straight from the request, receive straight into
 * the matched buffer for large pieces and through a small bounce buffer
 * (one recv for many small messages) otherwise.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "pscom_priv.h"

#define TCP_BOUNCE 16384
/* Pieces at least this large are received into their final place. */
#define TCP_DIRECT_MIN 4096

struct tcp_con {
    pscom_ufd_t ufd;
    pscom_con_t *con;
    int want_out;
    int stopped; /* read_stop(): EPOLLIN off */
    char bounce[TCP_BOUNCE];
};

static void tcp_update(struct tcp_con *tc)
{
    if (tc->stopped && !tc->want_out) {
        /* Not even EPOLLHUP: a closed peer must not make us spin while
         * its last message waits for a receive. */
        pscom_ufd_del(&tc->ufd);
        return;
    }
    pscom_ufd_mod(&tc->ufd,
                  (tc->stopped ? 0 : EPOLLIN) | (tc->want_out ? EPOLLOUT : 0));
}

static void tcp_read_stop(pscom_con_t *con)
{
    struct tcp_con *tc = pscom_con_get_priv(con);

    tc->stopped = 1;
    tcp_update(tc);
}

static void tcp_read_start(pscom_con_t *con)
{
    struct tcp_con *tc = pscom_con_get_priv(con);

    if (tc->stopped) {
        tc->stopped = 0;
        tcp_update(tc);
    }
}

/* Gather the queued messages into iov (at most TCP_IOV_MAX entries): one
 * sendmsg carries many small messages. tcp is built in, so it may walk
 * the send queue itself; plugins use pscom_con_write_get_iov(). */
#define TCP_IOV_MAX 64
/* Bytes handed to one sendmsg. A larger call makes the kernel copy the
 * whole message into socket buffers before the receiver (on another
 * core) may drain any of it: beyond the L2 cache both copies slow down
 * (doc/performance.md, "tcp: 256 KiB per sendmsg").
 * Pieces this size let sender and receiver copy at the same time with
 * their data in cache, as Open MPI's 128 KiB fragments do. */
#define TCP_SEND_CHUNK (256u * 1024u)
static size_t tcp_gather(pscom_con_t *con, struct iovec *iov, int *cnt)
{
    struct list_head *pos;
    size_t total = 0;
    int n = 0;

    /* Behind our SUSPEND, sends wait for the resume. */
    if (pscom_susp_tx_blocked(con)) {
        *cnt = 0;
        return 0;
    }
    list_for_each(pos, &con->sendq)
    {
        struct pscom_req *req = list_entry(pos, struct pscom_req, next);

        if (n + 2 > TCP_IOV_MAX) {
            break;
        }
        for (int i = 0; i < 2 && total < TCP_SEND_CHUNK; i++) {
            if (req->iov[i].iov_len) {
                iov[n] = req->iov[i];
                if (iov[n].iov_len > TCP_SEND_CHUNK - total) {
                    iov[n].iov_len = TCP_SEND_CHUNK - total;
                }
                total += iov[n++].iov_len;
            }
        }
        if (req == con->susp.req || total >= TCP_SEND_CHUNK) {
            break;
        }
    }
    *cnt = n;
    return total;
}

/* Write until done or EAGAIN. */
static void tcp_do_write(struct tcp_con *tc)
{
    pscom_con_t *con = tc->con;
    struct iovec iov[TCP_IOV_MAX];
    size_t len;
    int cnt;

    while ((len = tcp_gather(con, iov, &cnt)) > 0) {
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
        ssize_t n;

        n = sendmsg(pscom_con_get_fd(con), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                break;
            }
            DPRINT(1, "pscom: %s: send: %s", pscom_con_str(&con->pub),
                   strerror(errno));
            pscom_con_error(con, PSCOM_OP_WRITE, PSCOM_ERR_IOERROR);
            return;
        }
        pscom_con_write_done(con, (size_t)n);
        if ((size_t)n < len) {
            /* The socket buffer is full; do not ask again right away. */
            break;
        }
    }
    if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
        return;
    }
    len = list_empty(&con->sendq) || pscom_susp_tx_blocked(con) ? 0 : 1;
    if ((len > 0) != tc->want_out) {
        tc->want_out = len > 0;
        tcp_update(tc);
    }
}

static void tcp_do_read(struct tcp_con *tc)
{
    pscom_con_t *con = tc->con;
    int fd = pscom_con_get_fd(con);

    for (;;) {
        void *buf;
        size_t len;
        ssize_t n;
        int direct;

        pscom_con_read_get_buf(con, &buf, &len);
        if (len == 0) {
            return; /* the parser holds a message back (read_stop) */
        }
        /* With PSP_UNEXPECTED_RECEIVES=0 never read past the current
         * piece: what has no receiver must stay in the kernel. */
        direct = len >= TCP_DIRECT_MIN || !pscom_env.unexpected_receives;
        if (!direct) {
            buf = tc->bounce;
            len = sizeof(tc->bounce);
        }
        n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return;
            }
            DPRINT(1, "pscom: %s: recv: %s", pscom_con_str(&con->pub),
                   strerror(errno));
            pscom_con_error(con, PSCOM_OP_READ, PSCOM_ERR_IOERROR);
            return;
        }
        if (n == 0) {
            if (con->rx_state != PSCOM_RX_HEADER || con->rx_have) {
                DPRINT(1,
                       "pscom: %s: peer closed in the middle of a "
                       "message",
                       pscom_con_str(&con->pub));
            }
            pscom_con_error(con, PSCOM_OP_READ, PSCOM_ERR_EOF);
            return;
        }
        if (direct) {
            pscom_con_read_done(con, (size_t)n);
        } else {
            pscom_con_read_feed(con, buf, (size_t)n);
        }
        if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
            return;
        }
        if ((size_t)n < len) {
            /* Drained (level-triggered epoll reports any rest). */
            return;
        }
    }
}

static void tcp_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    struct tcp_con *tc = ufd->priv;
    pscom_con_t *con = tc->con;

    if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        tcp_do_read(tc);
        if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
            return;
        }
    }
    if (revents & EPOLLOUT) {
        tcp_do_write(tc);
    }
}

static int tcp_start(pscom_con_t *con)
{
    struct tcp_con *tc = malloc(sizeof(*tc));

    if (!tc) {
        return -ENOMEM;
    }
    tc->con = con;
    tc->want_out = 0;
    tc->stopped = 0;
    memset(&tc->ufd, 0, sizeof(tc->ufd));
    tc->ufd.fd = pscom_con_get_fd(con);
    tc->ufd.events = EPOLLIN;
    tc->ufd.cb = tcp_cb;
    tc->ufd.priv = tc;
    pscom_con_set_priv(con, tc);
    if (pscom_ufd_add(&tc->ufd)) {
        free(tc);
        pscom_con_set_priv(con, NULL);
        return -EIO;
    }
    return 0;
}

static void tcp_write_start(pscom_con_t *con)
{
    /* Write at once: the common case needs no epoll round. */
    tcp_do_write(pscom_con_get_priv(con));
}

static void tcp_close(pscom_con_t *con)
{
    struct tcp_con *tc = pscom_con_get_priv(con);

    if (!tc) {
        return;
    }
    pscom_ufd_del(&tc->ufd);
    /* Let the peer read what we sent before the close. */
    shutdown(tc->ufd.fd, SHUT_WR);
    /* Unread input at close() makes the kernel send RST, which can cost
     * the peer data it has not read yet: discard what is here. */
    for (int i = 0; i < 64 && recv(tc->ufd.fd, tc->bounce, sizeof(tc->bounce),
                                   MSG_DONTWAIT) > 0;
         i++) {
    }
    pscom_con_set_priv(con, NULL);
    free(tc);
}

const pscom_plugin_t pscom_plugin_tcp_builtin = {
    .version = PSCOM_PLUGIN_VERSION,
    .name = "tcp",
    .con_type = PSCOM_CON_TYPE_TCP,
    .default_priority = 2,
    .start = tcp_start,
    .write_start = tcp_write_start,
    .read_stop = tcp_read_stop,
    .read_start = tcp_read_start,
    .close = tcp_close,
};
