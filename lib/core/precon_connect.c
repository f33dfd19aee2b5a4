/*
 * precon_connect.c -- the connector's side before any frame: a
 * non-blocking TCP connect, and its retries while the peer's listener is
 * not up yet (ECONNREFUSED, PSP_RETRY times, back-off up to 200 ms).
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "precon.h"

/* Connects waiting for their retry; they are on no socket's list then. */
static struct list_head retry_list = LIST_HEAD_INIT(retry_list);

void pscom_tcp_configure(int fd)
{
    int one = 1;

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (pscom_env.tcp_nodelay) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (pscom_env.so_sndbuf) {
        int v = (int)pscom_env.so_sndbuf;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    }
    if (pscom_env.so_rcvbuf) {
        int v = (int)pscom_env.so_rcvbuf;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    }
}

static int start_connect(struct pscom_precon *pre)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0) {
        DPRINT(0, "pscom: socket(): %s", strerror(errno));
        return -errno;
    }
    pscom_tcp_configure(fd);
    sa.sin_addr.s_addr = htonl((uint32_t)pre->nodeid);
    sa.sin_port = htons((uint16_t)pre->portno);
    pre->fd = fd;
    pre->ufd.fd = fd;
    pre->state = PRE_CONNECTING;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
        errno != EINPROGRESS) {
        int err = errno;
        pre->ufd.events = EPOLLOUT;
        /* Report through the normal path (refused -> retry). */
        if (pscom_ufd_add(&pre->ufd)) {
            return -err;
        }
        return 0;
    }
    pre->ufd.events = EPOLLOUT;
    return pscom_ufd_add(&pre->ufd);
}

int pscom_precon_connect(struct pscom_con *con, int nodeid, int portno,
                         unsigned int flags)
{
    struct pscom_precon *pre = pscom_precon_new(con->sock, -1, 1);
    int rc;

    if (!pre) {
        return -ENOMEM;
    }
    pre->con = con;
    pre->flags = flags;
    pre->nodeid = nodeid;
    pre->portno = portno;
    pre->retries = pscom_env.retry;
    con->precon = pre;
    con->connect_nodeid = nodeid;
    con->connect_portno = portno;
    rc = start_connect(pre);
    if (rc) {
        pscom_precon_destroy(pre);
    }
    return rc;
}

/* The listener is not up yet: close and try again later. */
static void schedule_retry(struct pscom_precon *pre)
{
    int attempt = pscom_env.retry - pre->retries;
    uint64_t delay = 10u << (attempt < 5 ? attempt : 5);

    pre->retries--;
    pscom_ufd_del(&pre->ufd);
    close(pre->fd);
    pre->fd = -1;
    pre->state = PRE_RETRY;
    pre->retry_at_ms = pscom_now_ms() + (delay > 200 ? 200 : delay);
    list_del(&pre->next);
    list_add_tail(&pre->next, &retry_list);
    DPRINT(3, "pscom: connect to %s refused, retrying",
           pscom_precon_peer_str(pre));
}

int pscom_precon_connect_result(struct pscom_precon *pre)
{
    int err = 0;
    socklen_t len = sizeof(err);

    getsockopt(pre->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (!err) {
        return pscom_precon_connector_connected(pre);
    }
    if (err == ECONNREFUSED && pre->retries > 0) {
        schedule_retry(pre);
        return 1;
    }
    pscom_precon_fail(pre, PSCOM_OP_CONNECT,
                      err == ECONNREFUSED ? PSCOM_ERR_CONNECTION_REFUSED
                                          : PSCOM_ERR_IOERROR,
                      strerror(err));
    return 1;
}

int pscom_precon_run_retries(uint64_t now)
{
    struct list_head *pos, *n;
    int next = -1;

    list_for_each_safe(pos, n, &retry_list)
    {
        struct pscom_precon *pre = list_entry(pos, struct pscom_precon, next);
        if (pre->retry_at_ms <= now) {
            list_del(&pre->next);
            list_add_tail(&pre->next, &pre->sock->precons);
            if (start_connect(pre)) {
                pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_STDERROR,
                                  "connect retry failed");
            }
            next = 0;
        } else {
            int t = (int)(pre->retry_at_ms - now);
            if (next < 0 || t < next) {
                next = t;
            }
        }
    }
    return next;
}

int pscom_precon_retrying(void)
{
    return !list_empty(&retry_list);
}
