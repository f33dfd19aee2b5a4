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

/* backing.c */
int ivsrv_backing_open(struct ivsrv *srv);
void ivsrv_backing_close(struct ivsrv *srv);

/* peers.c */
int ivsrv_listen(struct ivsrv *srv);
void ivsrv_accept(struct ivsrv *srv);
void ivsrv_peer_gone(struct ivsrv *srv, unsigned idx);
void ivsrv_peers_close(struct ivsrv *srv);

#endif /* IVSRV_INT_H */
