/*
 * precon_frame.c -- frame I/O of the hand-shake: frames are queued whole
 * and flushed without blocking; reads take exactly one frame so that
 * nothing after the hand-shake (the transport's first bytes) is consumed.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "precon.h"

void pscom_precon_queue_frame(struct pscom_precon *pre, uint16_t type,
                              const void *payload, size_t len)
{
    struct precon_frame f = {PRECON_MAGIC, type, (uint32_t)len};

    if (pre->tx_len + sizeof(f) + len > sizeof(pre->tx)) {
        /* Cannot happen: at most two frames are ever queued. */
        DPRINT(0, "pscom: internal: precon tx buffer full");
        return;
    }
    memcpy(pre->tx + pre->tx_len, &f, sizeof(f));
    if (len) {
        memcpy(pre->tx + pre->tx_len + sizeof(f), payload, len);
    }
    pre->tx_len += sizeof(f) + len;
}

int pscom_precon_flush(struct pscom_precon *pre)
{
    while (pre->tx_off < pre->tx_len) {
        ssize_t n = send(pre->fd, pre->tx + pre->tx_off,
                         pre->tx_len - pre->tx_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                return 1;
            }
            return -errno;
        }
        pre->tx_off += (size_t)n;
    }
    pre->tx_off = pre->tx_len = 0;
    return 0;
}

void pscom_precon_queue_hello(struct pscom_precon *pre)
{
    struct precon_hello h;
    pscom_socket_t *s = &pre->sock->pub;

    memset(&h, 0, sizeof(h));
    h.version = PRECON_VERSION;
    h.flags = pre->connector ? pre->flags : 0;
    h.node_id = pscom_g.nodeid;
    h.pid = (int32_t)getpid();
    h.id = (uint64_t)(uintptr_t)pre->con;
    memcpy(h.name, s->local_con_info.name, 8);
    h.listen_port = s->listen_portno;
    pscom_precon_queue_frame(pre, PRECON_FRAME_HELLO, &h, sizeof(h));
}

void pscom_precon_update_events(struct pscom_precon *pre)
{
    uint32_t ev = 0;

    /* A parked hand-shake reads nothing more (what follows the HELLO is
     * for the connection that adopts it), but must see the peer's close:
     * EPOLLHUP comes only when both directions are shut. */
    ev |= pre->state == PRE_PARKED ? EPOLLRDHUP : EPOLLIN;
    if (pre->tx_len || pre->state == PRE_CONNECTING) {
        ev |= EPOLLOUT;
    }
    if (pre->fd >= 0) {
        pscom_ufd_mod(&pre->ufd, ev);
    }
}

/* A header that is not ours ends the hand-shake before its length is
 * trusted for a read. */
static int frame_header_ok(struct pscom_precon *pre)
{
    if (pre->rxh.magic == PRECON_MAGIC && pre->rxh.len <= PRECON_PAYLOAD_MAX) {
        return 1;
    }
    PRE_DPRINT(pre, 1,
               "pscom: connection from %s: bad hand-shake frame "
               "(magic 0x%04x, length %u): not a pscom peer?",
               pscom_precon_peer_str(pre), pre->rxh.magic,
               (unsigned)pre->rxh.len);
    return 0;
}

int pscom_precon_read_frame(struct pscom_precon *pre)
{
    size_t hs = sizeof(pre->rxh);

    for (;;) {
        char *dst;
        size_t want;
        ssize_t n;

        if (pre->rx_have < hs) {
            dst = (char *)&pre->rxh + pre->rx_have;
            want = hs - pre->rx_have;
        } else {
            if (!frame_header_ok(pre)) {
                return -EPROTO;
            }
            if (pre->rx_have == hs + pre->rxh.len) {
                return 1;
            }
            dst = pre->rx_payload + (pre->rx_have - hs);
            want = hs + pre->rxh.len - pre->rx_have;
        }
        n = recv(pre->fd, dst, want, 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN ? 0 : -errno;
        }
        if (n == 0) {
            return -EPIPE;
        }
        pre->rx_have += (size_t)n;
    }
}
