/* ivsrv_int.h -- private state of the server library. */
#ifndef IVSRV_INT_H
#define IVSRV_INT_H

#include <sys/un.h>

#include "ivsrv.h"
#include "shmseg/shmseg.h"

struct ivsrv_peer {
    int fd;
    int64_t id;
    int efd[IVSRV_MAX_VECTORS];
    bool broken; /* a send failed: drop it */
};

struct ivsrv {
    struct ivsrv_config cfg;
    /* backing object */
    int shm_fd;
    bool created;
    char obj_path[512];     /* /dev/shm/NAME or the file */
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

/** Accept one peer, give it an id and eventfds, and run the protocol's
 * introduction (it to everybody, everybody to it). A peer lost during
 * set-up is dropped; peers whose sends fail are marked broken. */
void ivsrv_accept(struct ivsrv *srv);

/** Remove peer idx (the last peer takes its place) and tell the others
 * its id without a descriptor. */
void ivsrv_peer_gone(struct ivsrv *srv, unsigned idx);

/** Close every peer and the listening socket, and remove the socket. */
void ivsrv_peers_close(struct ivsrv *srv);

#endif /* IVSRV_INT_H */
