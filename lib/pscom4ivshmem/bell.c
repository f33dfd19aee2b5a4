/*
 * bell.c -- doorbells of host processes (PSP_IVSHMEM_DOORBELL): the
 * process connects to the ivshmem server's unix socket as QEMU does and
 * gets, in QEMU's protocol (version 0), its own peer id, the segment's
 * fd, and one eventfd per peer and vector (its own last). It sleeps on
 * its own vector 0 (a ufd in the core's epoll) and rings a peer by
 * writing that peer's eventfd -- the same eventfd whose write the
 * server's other peers see as an interrupt, so a VM can be rung the
 * same way. Who owns which peer id and vector is published in the
 * segment's participant table (shmseg_member_set_doorbell()); what a
 * wake-up means (which ring) is in the rings' armed words: the eventfd
 * only says "look".
 *
 * Later peers (and departures) arrive as further messages on the socket:
 * we read them when a connection needs a peer we do not know yet.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem.h"
#include "shmseg_discover.h"

/* Vectors we keep per peer (the server's maximum). */
#define BELL_VECTORS 64u
/* How long the initial exchange and a look-up of a new peer may wait
 * for the server (connection set-up only). */
#define BELL_WAIT_MS 2000

struct bell_peer {
    int64_t id;
    unsigned nvec;
    int efd[BELL_VECTORS];
};

static struct {
    int sock;              /* the server's socket, -1: none */
    int64_t my_id;         /* our peer id, -1 until known */
    struct bell_peer *peers;
    unsigned npeers, cap;
    pscom_ufd_t ufd;       /* our vector 0 in the core's epoll */
} bell = {.sock = -1, .my_id = -1, .ufd = {.fd = -1}};

char *ivshmem_env_doorbell;
char *ivshmem_env_socket;

static struct bell_peer *peer_find(int64_t id)
{
    for (unsigned i = 0; i < bell.npeers; i++) {
        if (bell.peers[i].id == id) {
            return &bell.peers[i];
        }
    }
    return NULL;
}

static void peer_drop(int64_t id)
{
    struct bell_peer *p = peer_find(id);

    if (!p) {
        return;
    }
    for (unsigned v = 0; v < p->nvec; v++) {
        close(p->efd[v]);
    }
    *p = bell.peers[--bell.npeers];
}

/* The next fd of peer `id`: its next vector (the server sends them in
 * order). Takes fd (closes it when it cannot be kept). */
static int peer_add_fd(int64_t id, int fd)
{
    struct bell_peer *p = peer_find(id);

    if (!p) {
        if (bell.npeers == bell.cap) {
            unsigned cap = bell.cap ? 2 * bell.cap : 16;
            struct bell_peer *n = realloc(bell.peers, cap * sizeof(*n));

            if (!n) {
                close(fd);
                return -1;
            }
            bell.peers = n;
            bell.cap = cap;
        }
        p = &bell.peers[bell.npeers++];
        p->id = id;
        p->nvec = 0;
    }
    if (p->nvec == BELL_VECTORS) {
        close(fd);
        return -1;
    }
    p->efd[p->nvec++] = fd;
    return 0;
}

/* One message: a little-endian int64 and maybe an fd. 1 read, 0 none
 * (EAGAIN or timeout), -1 the socket is gone or spoke nonsense. */
static int recv_msg(int64_t *value, int *fd)
{
    int64_t le;
    struct iovec iov = {.iov_base = &le, .iov_len = sizeof(le)};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    ssize_t n;

    do {
        n = recvmsg(bell.sock, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return 0;
    }
    *fd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
         cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(fd, CMSG_DATA(cm), sizeof(int));
        }
    }
    if (n != (ssize_t)sizeof(le) || (msg.msg_flags & MSG_CTRUNC)) {
        if (*fd >= 0) {
            close(*fd);
        }
        return -1;
    }
    *value = (int64_t)le64toh((uint64_t)le);
    return 1;
}

/* Read what the server sent: peers' vectors (id + fd) and departures
 * (id alone). wait_ms > 0: until peer `want` appeared or the time is up.
 * 0, or -1 when the socket broke (the peers we know stay usable). */
static int bell_drain(int64_t want, int wait_ms)
{
    struct timespec t0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (bell.sock >= 0) {
        int64_t v;
        int fd;
        int rc = recv_msg(&v, &fd);

        if (rc < 0) {
            pscom_debug(1, "ivshmem: doorbell: the server's socket closed");
            close(bell.sock);
            bell.sock = -1;
            return -1;
        }
        if (rc == 0) {
            struct timespec t;
            long ms;

            if (want < 0 || peer_find(want)) {
                return 0;
            }
            clock_gettime(CLOCK_MONOTONIC, &t);
            ms = (t.tv_sec - t0.tv_sec) * 1000 +
                 (t.tv_nsec - t0.tv_nsec) / 1000000;
            if (ms >= wait_ms) {
                return 0;
            }
            poll(&(struct pollfd){.fd = bell.sock, .events = POLLIN}, 1,
                 (int)(wait_ms - ms));
            continue;
        }
        if (v < 0 || v > 0xffff) {
            if (fd >= 0) {
                close(fd);
            }
            continue; /* not a peer id: ignore */
        }
        if (fd >= 0) {
            peer_add_fd(v, fd);
        } else if (v != bell.my_id) {
            peer_drop(v);
        }
    }
    return -1;
}

/* Our own vector 0 rang: drain it; the waiter polls the rings next. */
static void bell_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    uint64_t cnt;
    ssize_t n = read(ufd->fd, &cnt, sizeof(cnt));

    (void)revents;
    (void)n;
}

/* The same object as our mapping? */
static int same_object(int fd, const char *path)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
}

/* Connect and read the greeting: version, our id, the segment's fd,
 * then vectors until our own vector 0. 0, or -1 with why. */
static int bell_connect(const struct shmseg_device *dev, const char **why)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int64_t v;
    int fd, rc;

    if (strlen(ivshmem_env_socket) >= sizeof(sa.sun_path)) {
        *why = "PSP_IVSHMEM_SOCKET is too long";
        return -1;
    }
    strcpy(sa.sun_path, ivshmem_env_socket);
    bell.sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (bell.sock < 0 ||
        connect(bell.sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        *why = "cannot connect to the server's socket (PSP_IVSHMEM_SOCKET)";
        return -1;
    }
    for (int step = 0; step < 3; step++) {
        if (!poll(&(struct pollfd){.fd = bell.sock, .events = POLLIN}, 1,
                  BELL_WAIT_MS) ||
            (rc = recv_msg(&v, &fd)) <= 0) {
            *why = "the server's socket sent no greeting (full?)";
            return -1;
        }
        if (step == 2) {
            int same = fd >= 0 && same_object(fd, dev->path);

            if (fd >= 0) {
                close(fd);
            }
            if (!same) {
                *why = "the server's socket serves another segment";
                return -1;
            }
            continue;
        }
        if (fd >= 0) {
            close(fd);
        }
        if ((step == 0 && v != 0) || (step == 1 && (v < 0 || v > 0xffff))) {
            *why = "the server's socket speaks another protocol";
            return -1;
        }
        if (step == 1) {
            bell.my_id = v;
        }
    }
    /* Others' vectors, then ours: wait for our vector 0. */
    if (bell_drain(bell.my_id, BELL_WAIT_MS) < 0 || !peer_find(bell.my_id)) {
        *why = "the server sent no eventfd of ours";
        return -1;
    }
    return 0;
}

void ivshmem_bell_close(void)
{
    if (bell.ufd.registered) {
        pscom_ufd_del(&bell.ufd);
    }
    bell.ufd.fd = -1;
    while (bell.npeers) {
        peer_drop(bell.peers[0].id);
    }
    free(bell.peers);
    bell.peers = NULL;
    bell.cap = 0;
    if (bell.sock >= 0) {
        close(bell.sock);
        bell.sock = -1;
    }
    bell.my_id = -1;
}

int ivshmem_bell_open(const struct shmseg_device *dev)
{
    const char *why = NULL;
    struct bell_peer *me;

    if (strcmp(ivshmem_env_doorbell, "0") == 0) {
        pscom_debug(2, "ivshmem: doorbell off (PSP_IVSHMEM_DOORBELL=0): "
                       "waits poll, yielding after PSP_SPIN_US");
        return -1;
    }
    if (strcmp(ivshmem_env_doorbell, "auto") != 0) {
        pscom_debug(1, "ivshmem: PSP_IVSHMEM_DOORBELL=%s: want auto or 0; "
                       "doorbell off", ivshmem_env_doorbell);
        return -1;
    }
    if (!dev->host_local) {
        why = "guests wait by polling (the uio interrupt is not used yet)";
        goto err_close;
    }
    if (bell_connect(dev, &why) < 0) {
        goto err_close;
    }
    me = peer_find(bell.my_id);
    bell.ufd.fd = me->efd[0];
    bell.ufd.events = POLLIN;
    bell.ufd.cb = bell_cb;
    if (pscom_ufd_add(&bell.ufd) < 0) {
        why = "cannot watch our eventfd";
        goto err_close;
    }
    pscom_debug(2, "ivshmem: doorbell: peer id %lld vector 0 of %s",
                (long long)bell.my_id, ivshmem_env_socket);
    return 0;

err_close:
    pscom_debug(2, "ivshmem: no doorbell (%s): waits poll, yielding after "
                   "PSP_SPIN_US", why);
    ivshmem_bell_close();
    return -1;
}

int ivshmem_bell_id(void)
{
    return bell.my_id >= 0 && bell.ufd.registered ? (int)bell.my_id : -1;
}

int ivshmem_bell_ring(uint16_t peer, uint16_t vector)
{
    struct bell_peer *p = peer_find(peer);
    uint64_t one = 1;

    if (!p || vector >= p->nvec) {
        /* A peer that joined after our last look: read the socket. */
        bell_drain(peer, 0);
        p = peer_find(peer);
        if (!p || vector >= p->nvec) {
            return -1;
        }
    }
    /* Non-blocking eventfd: a full counter (2^64-2) already wakes. */
    return write(p->efd[vector], &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

int ivshmem_bell_reachable(uint16_t peer, uint16_t vector)
{
    struct bell_peer *p = peer_find(peer);

    if (!p || vector >= p->nvec) {
        bell_drain(peer, BELL_WAIT_MS);
        p = peer_find(peer);
    }
    return p && vector < p->nvec;
}
