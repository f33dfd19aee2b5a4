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
 *
 * Guests (a doorbell device bound by uio_ivshmem with MSI-X): the peer
 * id is the device's IVPosition; each process of the VM claims one
 * vector in the participant table (the lowest no other live process of
 * this peer id holds; with more processes than vectors the rest poll,
 * said at PSP_DEBUG=2), sleeps in poll() on its own open /dev/uioN and
 * rings others through the Doorbell register. The driver counts every
 * vector as one uio event, so any interrupt wakes every sleeper of the
 * VM; each looks at its own rings -- the meaning is in the segment.
 */
#include <endian.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
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
    int sock;                          /* the server's socket, -1: none */
    int64_t my_id;                     /* our peer id, -1 until known */
    const struct shmseg_device *guest; /* a guest's doorbell device */
    unsigned guest_vectors;            /* its MSI-X vectors */
    unsigned my_vec;                   /* the vector we own */
    struct bell_peer *peers;
    unsigned npeers, cap;
    pscom_ufd_t ufd; /* our doorbell in the core's epoll */
    unsigned gen;    /* doorbells opened so far (ivshmem_bell_gen) */
} bell = {.sock = -1, .my_id = -1, .ufd = {.fd = -1}};

/* Guests: claim rounds before giving up (each lost race costs one). */
#define BELL_CLAIM_TRIES 8

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
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
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

/* Our doorbell rang: drain it (an eventfd's counter; a uio node's
 * event count, read as 4 bytes); the waiter polls the rings next. */
static void bell_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    uint64_t cnt;
    ssize_t n = read(ufd->fd, &cnt, bell.guest ? 4 : sizeof(cnt));

    (void)revents;
    (void)n;
}

/* MSI-X vectors of the uio device at dev->path (/dev/uioN): entries of
 * its PCI function's msi_irqs directory; 0 without MSI-X. */
static unsigned guest_vectors(const struct shmseg_device *dev)
{
    const char *sys = getenv("PSP_IVSHMEM_SYSFS_ROOT");
    const char *base = strrchr(dev->path, '/');
    char path[600];
    unsigned n = 0;
    DIR *d;

    snprintf(path, sizeof(path), "%s/class/uio/%s/device/msi_irqs",
             sys && sys[0] ? sys : "/sys", base ? base + 1 : dev->path);
    d = opendir(path);
    if (!d) {
        return 0;
    }
    for (struct dirent *e; (e = readdir(d));) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* A guest's doorbell: the uio node to sleep on, BAR 0 to ring with. */
static int bell_guest(const struct shmseg_device *dev, const char **why)
{
    int id;

    if (!dev->regs || dev->irq_fd < 0) {
        *why = "no doorbell: not a uio device with registers "
               "(ivshmem-plain, or no uio_ivshmem driver)";
        return -1;
    }
    bell.guest_vectors = guest_vectors(dev);
    if (bell.guest_vectors == 0) {
        *why = "no doorbell: the device has no MSI-X vectors (ivshmem-plain)";
        return -1;
    }
    id = shmseg_device_peer_id(dev);
    if (id < 0 || id == 0xffff) {
        *why = "no doorbell: no IVPosition";
        return -1;
    }
    bell.guest = dev;
    bell.my_id = id;
    return 0;
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
    bell.guest = NULL;
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
        pscom_debug(1,
                    "ivshmem: PSP_IVSHMEM_DOORBELL=%s: want auto or 0; "
                    "doorbell off",
                    ivshmem_env_doorbell);
        return -1;
    }
    if (!dev->host_local) {
        if (bell_guest(dev, &why) < 0) {
            goto err_close;
        }
        bell.ufd.fd = dev->irq_fd;
    } else {
        if (bell_connect(dev, &why) < 0) {
            goto err_close;
        }
        me = peer_find(bell.my_id);
        bell.ufd.fd = me->efd[0];
    }
    bell.ufd.events = POLLIN;
    bell.ufd.cb = bell_cb;
    if (pscom_ufd_add(&bell.ufd) < 0) {
        why = "cannot watch our eventfd";
        goto err_close;
    }
    bell.gen++;
    if (!bell.guest) {
        pscom_debug(2, "ivshmem: doorbell: peer id %lld vector 0 of %s",
                    (long long)bell.my_id, ivshmem_env_socket);
    }
    return 0;

err_close:
    pscom_debug(2,
                "ivshmem: no doorbell (%s): waits poll, yielding after "
                "PSP_SPIN_US",
                why);
    ivshmem_bell_close();
    return -1;
}

int ivshmem_bell_id(void)
{
    return bell.my_id >= 0 && bell.ufd.registered ? (int)bell.my_id : -1;
}

unsigned ivshmem_bell_gen(void)
{
    return ivshmem_bell_id() >= 0 ? bell.gen : 0;
}

/* Vectors of our peer id that other live processes hold: a bit each. */
static uint64_t vectors_taken(const struct shmseg *seg,
                              const struct shmseg_member *me, int lower_only)
{
    uint64_t taken = 0;

    for (uint32_t s = 0; s < seg->part_count; s++) {
        uint16_t peer, vec;

        if (s == me->slot || (lower_only && s > me->slot) ||
            shmseg_slot_doorbell(seg, s, &peer, &vec) < 0 ||
            peer != bell.my_id || vec >= 64) {
            continue;
        }
        taken |= 1ULL << vec;
    }
    return taken;
}

/* Guests: the lowest vector no other live process of this VM holds,
 * published in our slot; on a tie the lower slot keeps it and we look
 * again. 0, or -1 (all taken: we poll). */
static int claim_vector(struct shmseg_member *me)
{
    unsigned nvec = bell.guest_vectors < 64 ? bell.guest_vectors : 64;

    for (int t = 0; t < BELL_CLAIM_TRIES; t++) {
        uint64_t taken = vectors_taken(me->seg, me, 0);
        unsigned v = 0;

        while (v < nvec && (taken >> v & 1)) {
            v++;
        }
        if (v == nvec) {
            pscom_debug(2,
                        "ivshmem: no doorbell: all %u vectors of peer id "
                        "%lld are held by other processes of this VM: "
                        "waits poll, yielding after PSP_SPIN_US",
                        nvec, (long long)bell.my_id);
            return -1;
        }
        shmseg_member_set_doorbell(me, (int)bell.my_id, v);
        /* Seq_cst: our word before the look at the others' (each of two
         * claimants sees the other's word, the lower slot wins). */
        atomic_thread_fence(memory_order_seq_cst);
        if (!(vectors_taken(me->seg, me, 1) >> v & 1)) {
            bell.my_vec = v;
            pscom_debug(2,
                        "ivshmem: doorbell: peer id %lld vector %u of "
                        "%u (uio interrupt)",
                        (long long)bell.my_id, v, nvec);
            return 0;
        }
        shmseg_member_set_doorbell(me, -1, 0);
    }
    pscom_debug(2,
                "ivshmem: no doorbell: no vector after %d tries: waits "
                "poll",
                BELL_CLAIM_TRIES);
    return -1;
}

int ivshmem_bell_publish(struct shmseg_member *me)
{
    if (ivshmem_bell_id() < 0) {
        return -1;
    }
    if (!bell.guest) {
        return shmseg_member_set_doorbell(me, (int)bell.my_id, 0) < 0 ? -1 : 0;
    }
    if (claim_vector(me) < 0) {
        ivshmem_bell_close();
        return -1;
    }
    return 0;
}

int ivshmem_bell_ring(uint16_t peer, uint16_t vector)
{
    struct bell_peer *p;
    uint64_t one = 1;

    if (bell.guest) {
        return shmseg_device_notify(bell.guest, peer, vector) < 0 ? -1 : 0;
    }
    p = peer_find(peer);

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
    struct bell_peer *p;

    if (bell.guest) {
        /* The device rings any peer id the server knows; one it does
         * not know is a peer without a doorbell word. */
        return 1;
    }
    p = peer_find(peer);

    if (!p || vector >= p->nvec) {
        bell_drain(peer, BELL_WAIT_MS);
        p = peer_find(peer);
    }
    return p && vector < p->nvec;
}
