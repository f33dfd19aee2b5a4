/* ivsrv_int.h -- private state of the server library. */
#ifndef IVSRV_INT_H
#define IVSRV_INT_H

#include <sys/un.h>

#include "ivsrv.h"
#include "shmseg/shmseg.h"

/* What a queued message carries besides its value. */
enum {
    IVSRV_MSG_NOFD = -1, /* nothing */
    IVSRV_MSG_SHM = -2,  /* the shared memory descriptor */
    /* >= 0: vector N of the peer whose id is the message's value */
};

/* One message waiting for room in a peer's socket buffer. The descriptor
 * is looked up when it is sent, so a queue never holds (or outlives) the
 * eventfds of a peer that left meanwhile. */
struct ivsrv_msg {
    int64_t value;
    int32_t fd_kind;
};

/* Most messages queued for one peer: a set-up needs 3 + vectors * peers
 * (16,387 at the limits); a peer that lets more pile up is not reading. */
#define IVSRV_QUEUE_MAX 32768u

struct ivsrv_peer {
    int fd;
    int64_t id;
    int efd[IVSRV_MAX_VECTORS];
    bool broken; /* a send failed or the queue overflowed: drop it */
    const char *broken_why;
    struct ivsrv_msg *q; /* ring of q_cap messages, q_len from q_head */
    unsigned q_head, q_len, q_cap;
};

/* A log line that may repeat at high rate: at most one per period. */
struct ivsrv_ratelog {
    uint64_t last_ms;
    unsigned suppressed;
};

struct ivsrv {
    struct ivsrv_config cfg;
    /* backing object */
    int shm_fd;
    bool created;
    char obj_path[512]; /* /dev/shm/NAME or the file */
    char desc[700];
    void *map;
    uint64_t size;
    bool have_seg;
    struct shmseg seg;
    struct shmseg_monitor mon;
    /* socket and peers */
    int listen_fd;
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct ivsrv_peer peers[IVSRV_MAX_PEERS];
    unsigned npeers;
    int64_t next_id;
    /* Out of descriptors: the listening socket is not polled before this
     * time (CLOCK_MONOTONIC ms), so a backlog that cannot be accepted
     * does not spin the loop. 0 = polled. */
    uint64_t accept_paused_until;
    struct ivsrv_ratelog fd_log;
    struct ivsrv_ratelog full_log; /* "refusing a peer" at the limit */
};

/* ---- backing.c -------------------------------------------------------- */

/** Open or create the object (0600/0660, O_EXCL|O_NOFOLLOW), lock it
 * (flock: one server per object), settle its size, map it and check or
 * lay out the segment. Logs the reason and returns -1 on failure, after
 * removing an object it created. */
int ivsrv_backing_open(struct ivsrv *srv);

/** Unmap and close; remove the shm object if cfg.unlink_shm. */
void ivsrv_backing_close(struct ivsrv *srv);

/* ---- peers.c ---------------------------------------------------------- */

/** Bind (replacing only a stale socket), set mode/group, listen.
 * @return 0 or -1 (logged). */
int ivsrv_listen(struct ivsrv *srv);

/** Accept one peer, give it an id and eventfds, and queue the protocol's
 * introduction (it to everybody, everybody to it), sending what the
 * socket buffers take. A peer lost during set-up is dropped; peers whose
 * sends fail are marked broken. Out of descriptors (EMFILE, ENFILE), it
 * pauses accepting (accept_paused_until) and rate-limits the log. */
void ivsrv_accept(struct ivsrv *srv);

/** Send what peer p's socket takes of its queue; the rest waits for
 * POLLOUT. A hard send error marks it broken. */
void ivsrv_peer_flush(struct ivsrv *srv, struct ivsrv_peer *p);

/** Milliseconds the accept pause lasts after running out of
 * descriptors; a peer leaving ends it early. */
#define IVSRV_ACCEPT_PAUSE_MS 250u
/** At most one "out of descriptors" log line per this period. */
#define IVSRV_RATELOG_MS 10000u

/** Remove peer idx (the last peer takes its place) and tell the others
 * its id without a descriptor. */
void ivsrv_peer_gone(struct ivsrv *srv, unsigned idx);

/** Close every peer and the listening socket, and remove the socket. */
void ivsrv_peers_close(struct ivsrv *srv);

#endif /* IVSRV_INT_H */
