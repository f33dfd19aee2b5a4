/* peers.c -- the unix socket and QEMU's ivshmem protocol (version 0). */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ivsrv_int.h"

#define PROTOCOL_VERSION 0
/* QEMU refuses peer ids above this (IVSHMEM_MAX_PEERS). */
#define MAX_PEER_ID 65535

/* One message: a little-endian int64, with fd in SCM_RIGHTS if >= 0.
 * @return 0 sent, 1 no room now (EAGAIN: the socket is non-blocking),
 * -1 error. */
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
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return 1;
    }
    if (srv->cfg.verbose) {
        ivsrv_log("send %lld%s to socket %d", (long long)value,
                  fd >= 0 ? " + fd" : "", sock);
    }
    /* A stream socket takes all 8 bytes or none of a message this small
     * once it reports room; anything else is an error. */
    return n == (ssize_t)sizeof(le) ? 0 : -1;
}

static struct ivsrv_peer *peer_by_id(struct ivsrv *srv, int64_t id)
{
    for (unsigned i = 0; i < srv->npeers; i++) {
        if (srv->peers[i].id == id) {
            return &srv->peers[i];
        }
    }
    return NULL;
}

/* The descriptor a queued message carries now; -2 if its peer left
 * (then the message is dropped: the peer's "gone" message follows). */
static int msg_fd(struct ivsrv *srv, const struct ivsrv_msg *m)
{
    struct ivsrv_peer *owner;

    if (m->fd_kind == IVSRV_MSG_NOFD) {
        return -1;
    }
    if (m->fd_kind == IVSRV_MSG_SHM) {
        return srv->shm_fd;
    }
    owner = peer_by_id(srv, m->value);
    return owner ? owner->efd[m->fd_kind] : -2;
}

/* Append a message to p's queue (growing it); overflow breaks p. */
static void enqueue(struct ivsrv_peer *p, int64_t value, int32_t fd_kind)
{
    if (p->broken) {
        return;
    }
    if (p->q_len == p->q_cap) {
        unsigned cap = p->q_cap ? p->q_cap * 2 : 64;
        struct ivsrv_msg *q;

        if (p->q_cap >= IVSRV_QUEUE_MAX || !(q = malloc(cap * sizeof(*q)))) {
            p->broken = true;
            p->broken_why = "not reading, its queue is full";
            return;
        }
        /* Unwrap the ring into the new array. */
        for (unsigned k = 0; k < p->q_len; k++) {
            q[k] = p->q[(p->q_head + k) % p->q_cap];
        }
        free(p->q);
        p->q = q;
        p->q_cap = cap;
        p->q_head = 0;
    }
    p->q[(p->q_head + p->q_len) % p->q_cap] =
        (struct ivsrv_msg){.value = value, .fd_kind = fd_kind};
    p->q_len++;
}

void ivsrv_peer_flush(struct ivsrv *srv, struct ivsrv_peer *p)
{
    while (p->q_len && !p->broken) {
        const struct ivsrv_msg *m = &p->q[p->q_head];
        int fd = msg_fd(srv, m);
        int rc = fd == -2 ? 0 : send_msg(srv, p->fd, m->value, fd);

        if (rc > 0) {
            return; /* full: the event loop waits for POLLOUT */
        }
        if (rc < 0) {
            p->broken = true;
            p->broken_why = "send failed";
            return;
        }
        p->q_head = (p->q_head + 1) % p->q_cap;
        p->q_len--;
    }
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
            ivsrv_log("%s: another server is listening on it", sa->sun_path);
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
        fchownat(AT_FDCWD, path, (uid_t)-1, srv->cfg.gid, AT_SYMLINK_NOFOLLOW) <
            0) {
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

static void peer_free(struct ivsrv *srv, struct ivsrv_peer *p)
{
    for (unsigned v = 0; v < srv->cfg.vectors; v++) {
        if (p->efd[v] >= 0) {
            close(p->efd[v]);
        }
    }
    close(p->fd);
    free(p->q);
    p->q = NULL;
}

/* Tell everybody about the new peer and it about everybody (the order
 * of QEMU's protocol: version, id, shm fd, others' vectors, own). With
 * 64 vectors that is thousands of fd-carrying messages, far more than a
 * socket buffer holds (about 278): they are queued and sent as each
 * peer reads. */
static int introduce(struct ivsrv *srv, struct ivsrv_peer *np)
{
    unsigned nv = srv->cfg.vectors;

    enqueue(np, PROTOCOL_VERSION, IVSRV_MSG_NOFD);
    enqueue(np, np->id, IVSRV_MSG_NOFD);
    enqueue(np, -1, IVSRV_MSG_SHM);
    for (unsigned i = 0; i < srv->npeers; i++) {
        struct ivsrv_peer *q = &srv->peers[i];

        for (unsigned v = 0; v < nv; v++) {
            /* A failing old peer must not prevent the new one: it is
             * marked and dropped by the event loop. */
            enqueue(q, np->id, (int32_t)v);
            enqueue(np, q->id, (int32_t)v);
        }
    }
    for (unsigned v = 0; v < nv; v++) {
        enqueue(np, np->id, (int32_t)v);
    }
    return np->broken ? -1 : 0;
}

/* True if a line of this kind may be logged now (at most one per
 * IVSRV_RATELOG_MS); *repeats is how many were held back before it. */
static bool ratelog_ok(struct ivsrv_ratelog *rl, unsigned *repeats)
{
    uint64_t now = shmseg_now_ms();

    if (rl->last_ms && now - rl->last_ms < IVSRV_RATELOG_MS) {
        rl->suppressed++;
        return false;
    }
    *repeats = rl->suppressed;
    rl->last_ms = now;
    rl->suppressed = 0;
    return true;
}

/* Out of descriptors: stop polling the listening socket for a while
 * (its backlog would wake every poll at once, for nothing) and log it,
 * rate-limited. */
static void fds_exhausted(struct ivsrv *srv, const char *what, int err)
{
    unsigned repeats;

    srv->accept_paused_until = shmseg_now_ms() + IVSRV_ACCEPT_PAUSE_MS;
    if (ratelog_ok(&srv->fd_log, &repeats)) {
        ivsrv_log("%s: %s; accepting again once a peer leaves or in %u ms "
                  "(%u more since the last such message)",
                  what, strerror(err), IVSRV_ACCEPT_PAUSE_MS, repeats);
    }
}

static bool out_of_fds(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

void ivsrv_accept(struct ivsrv *srv)
{
    struct ivsrv_peer np;
    unsigned repeats;
    /* Non-blocking: a peer that stops reading must not stall the server
     * (what its socket buffer cannot take waits in its queue). */
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0) {
        if (out_of_fds(errno)) {
            fds_exhausted(srv, "accept", errno);
        } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            ivsrv_log("accept: %s", strerror(errno));
        }
        return;
    }
    if (srv->npeers == IVSRV_MAX_PEERS) {
        if (ratelog_ok(&srv->full_log, &repeats)) {
            ivsrv_log("refusing a peer: %d peers connected already (%u "
                      "more since the last such message)",
                      IVSRV_MAX_PEERS, repeats);
        }
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
    } while (peer_by_id(srv, np.id));
    for (unsigned v = 0; v < srv->cfg.vectors; v++) {
        np.efd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (np.efd[v] < 0) {
            if (out_of_fds(errno)) {
                fds_exhausted(srv, "eventfd", errno);
            } else {
                ivsrv_log("eventfd: %s", strerror(errno));
            }
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
    for (unsigned i = 0; i < srv->npeers; i++) {
        ivsrv_peer_flush(srv, &srv->peers[i]);
    }
    ivsrv_log("peer %lld connected (%u peer%s)", (long long)np.id, srv->npeers,
              srv->npeers == 1 ? "" : "s");
}

void ivsrv_peer_gone(struct ivsrv *srv, unsigned idx)
{
    int64_t id = srv->peers[idx].id;

    peer_free(srv, &srv->peers[idx]);
    srv->peers[idx] = srv->peers[--srv->npeers];
    for (unsigned i = 0; i < srv->npeers; i++) {
        enqueue(&srv->peers[i], id, IVSRV_MSG_NOFD);
        ivsrv_peer_flush(srv, &srv->peers[i]);
    }
    srv->accept_paused_until = 0; /* descriptors were freed */
    ivsrv_log("peer %lld disconnected (%u peer%s)", (long long)id, srv->npeers,
              srv->npeers == 1 ? "" : "s");
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
