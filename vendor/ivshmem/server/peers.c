/* peers.c -- the unix socket and QEMU's ivshmem protocol (version 0). */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ivsrv_int.h"

#define PROTOCOL_VERSION 0
/* QEMU refuses peer ids above this (IVSHMEM_MAX_PEERS). */
#define MAX_PEER_ID 65535

/* One message: a little-endian int64, with fd in SCM_RIGHTS if >= 0. */
static int send_msg(struct ivsrv *srv, int sock, int64_t value, int fd)
{
    int64_t le = (int64_t)htole64((uint64_t)value);
    struct iovec iov = {.iov_base = &le, .iov_len = sizeof(le)};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (fd >= 0) {
        struct cmsghdr *cm;

        memset(&ctl, 0, sizeof(ctl));
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    do {
        n = sendmsg(sock, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (srv->cfg.verbose) {
        ivsrv_log("send %lld%s to socket %d", (long long)value,
                  fd >= 0 ? " + fd" : "", sock);
    }
    return n == (ssize_t)sizeof(le) ? 0 : -1;
}

/* Bind, replacing only a stale socket nobody listens on. */
static int bind_socket(struct ivsrv *srv, int fd, struct sockaddr_un *sa)
{
    struct stat sb;
    mode_t old = umask(srv->cfg.group_access ? 007 : 077);
    int rc = bind(fd, (struct sockaddr *)sa, sizeof(*sa));
    int probe;

    if (rc < 0 && errno == EADDRINUSE) {
        if (lstat(sa->sun_path, &sb) < 0 || !S_ISSOCK(sb.st_mode)) {
            ivsrv_log("%s: exists and is not a socket", sa->sun_path);
            goto out;
        }
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 &&
            connect(probe, (struct sockaddr *)sa, sizeof(*sa)) == 0) {
            ivsrv_log("%s: another server is listening on it",
                      sa->sun_path);
            close(probe);
            goto out;
        }
        if (probe >= 0) {
            close(probe);
        }
        ivsrv_log("%s: replacing a stale socket", sa->sun_path);
        unlink(sa->sun_path);
        rc = bind(fd, (struct sockaddr *)sa, sizeof(*sa));
    }
    if (rc < 0) {
        ivsrv_log("%s: cannot bind: %s", sa->sun_path, strerror(errno));
    }
out:
    umask(old);
    return rc < 0 ? -1 : 0;
}

int ivsrv_listen(struct ivsrv *srv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = srv->cfg.socket_path;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        ivsrv_log("%s: socket path too long (max %zu)", path,
                  sizeof(sa.sun_path) - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        ivsrv_log("socket: %s", strerror(errno));
        return -1;
    }
    if (bind_socket(srv, fd, &sa) < 0) {
        goto err_close;
    }
    if (srv->cfg.group_access &&
        fchownat(AT_FDCWD, path, (uid_t)-1, srv->cfg.gid,
                 AT_SYMLINK_NOFOLLOW) < 0) {
        ivsrv_log("%s: cannot set group: %s", path, strerror(errno));
        goto err_unlink;
    }
    /* bind() left 0700/0770 (umask); make it exactly 0600/0660. The
     * socket is ours and, in a sticky /tmp, cannot be swapped. */
    if (chmod(path, srv->cfg.group_access ? 0660 : 0600) < 0) {
        ivsrv_log("%s: chmod: %s", path, strerror(errno));
        goto err_unlink;
    }
    if (listen(fd, 16) < 0) {
        ivsrv_log("%s: listen: %s", path, strerror(errno));
        goto err_unlink;
    }
    strcpy(srv->sock_path, path);
    srv->listen_fd = fd;
    return 0;

err_unlink:
    unlink(path);
err_close:
    close(fd);
    return -1;
}

static bool id_in_use(const struct ivsrv *srv, int64_t id)
{
    for (unsigned i = 0; i < srv->npeers; i++) {
        if (srv->peers[i].id == id) {
            return true;
        }
    }
    return false;
}

static void peer_free(struct ivsrv *srv, struct ivsrv_peer *p)
{
    for (unsigned v = 0; v < srv->cfg.vectors; v++) {
        if (p->efd[v] >= 0) {
            close(p->efd[v]);
        }
    }
    close(p->fd);
}

/* Tell everybody about the new peer and it about everybody (the order
 * of QEMU's protocol: version, id, shm fd, others' vectors, own). */
static int introduce(struct ivsrv *srv, struct ivsrv_peer *np)
{
    unsigned nv = srv->cfg.vectors;

    if (send_msg(srv, np->fd, PROTOCOL_VERSION, -1) < 0 ||
        send_msg(srv, np->fd, np->id, -1) < 0 ||
        send_msg(srv, np->fd, -1, srv->shm_fd) < 0) {
        return -1;
    }
    for (unsigned i = 0; i < srv->npeers; i++) {
        struct ivsrv_peer *q = &srv->peers[i];

        for (unsigned v = 0; v < nv; v++) {
            /* A failing old peer must not prevent the new one: it is
             * marked and dropped by the event loop. */
            if (send_msg(srv, q->fd, np->id, np->efd[v]) < 0) {
                q->broken = true;
            }
        }
        for (unsigned v = 0; v < nv; v++) {
            if (send_msg(srv, np->fd, q->id, q->efd[v]) < 0) {
                return -1;
            }
        }
    }
    for (unsigned v = 0; v < nv; v++) {
        if (send_msg(srv, np->fd, np->id, np->efd[v]) < 0) {
            return -1;
        }
    }
    return 0;
}

void ivsrv_accept(struct ivsrv *srv)
{
    struct ivsrv_peer np;
    /* Non-blocking: a peer that stops reading must not stall the server
     * (a full socket buffer makes its sends fail and it is dropped). */
    int fd = accept4(srv->listen_fd, NULL, NULL,
                     SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            ivsrv_log("accept: %s", strerror(errno));
        }
        return;
    }
    if (srv->npeers == IVSRV_MAX_PEERS) {
        ivsrv_log("refusing a peer: %d peers connected already",
                  IVSRV_MAX_PEERS);
        close(fd);
        return;
    }
    memset(&np, 0, sizeof(np));
    np.fd = fd;
    for (unsigned v = 0; v < IVSRV_MAX_VECTORS; v++) {
        np.efd[v] = -1;
    }
    do {
        np.id = srv->next_id;
        srv->next_id = srv->next_id == MAX_PEER_ID ? 0 : srv->next_id + 1;
    } while (id_in_use(srv, np.id));
    for (unsigned v = 0; v < srv->cfg.vectors; v++) {
        np.efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (np.efd[v] < 0) {
            ivsrv_log("eventfd: %s", strerror(errno));
            peer_free(srv, &np);
            return;
        }
    }
    if (introduce(srv, &np) < 0) {
        ivsrv_log("peer %lld: lost during set-up", (long long)np.id);
        peer_free(srv, &np);
        return;
    }
    srv->peers[srv->npeers++] = np;
    ivsrv_log("peer %lld connected (%u peer%s)", (long long)np.id,
              srv->npeers, srv->npeers == 1 ? "" : "s");
}

void ivsrv_peer_gone(struct ivsrv *srv, unsigned idx)
{
    int64_t id = srv->peers[idx].id;

    peer_free(srv, &srv->peers[idx]);
    srv->peers[idx] = srv->peers[--srv->npeers];
    for (unsigned i = 0; i < srv->npeers; i++) {
        if (send_msg(srv, srv->peers[i].fd, id, -1) < 0) {
            srv->peers[i].broken = true;
        }
    }
    ivsrv_log("peer %lld disconnected (%u peer%s)", (long long)id,
              srv->npeers, srv->npeers == 1 ? "" : "s");
}

void ivsrv_peers_close(struct ivsrv *srv)
{
    while (srv->npeers) {
        srv->npeers--;
        peer_free(srv, &srv->peers[srv->npeers]);
    }
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        srv->listen_fd = -1;
        unlink(srv->sock_path);
    }
}
