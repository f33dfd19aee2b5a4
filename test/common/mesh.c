/* mesh.c -- see mesh.h. */
#include "mesh.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MESH_HELLO_MAGIC 0x4d455348u /* "MESH" */
#define MESH_ADDR_MAX 64

struct mesh_hello {
    uint32_t magic;
    uint32_t rank;
};

static int mesh_env_int(const char *name, int *val)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (!s || !*s) {
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > INT_MAX) {
        fprintf(stderr, "mesh: %s=\"%s\" is not a number\n", name, s);
        return -1;
    }
    *val = (int)v;
    return 0;
}

int mesh_rank_from_env(int *rank, int *size)
{
    int r, s;

    if (mesh_env_int("OMPI_COMM_WORLD_RANK", &r) == 0 &&
        mesh_env_int("OMPI_COMM_WORLD_SIZE", &s) == 0) {
        goto check;
    }
    if (mesh_env_int("PMI_RANK", &r) == 0 &&
        mesh_env_int("PMI_SIZE", &s) == 0) {
        goto check;
    }
    fprintf(stderr, "mesh: neither OMPI_COMM_WORLD_RANK/SIZE nor "
                    "PMI_RANK/SIZE is set: start me with mpirun\n");
    return -1;
check:
    if (s < 1 || r >= s) {
        fprintf(stderr, "mesh: rank %d and size %d do not fit\n", r, s);
        return -1;
    }
    *rank = r;
    *size = s;
    return 0;
}

static void mesh_nap(void)
{
    /* Polling a directory for a peer's file: a short nap between looks
     * keeps the CPU free; readiness is the file, not the time. */
    struct timespec ts = {0, 5 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

static int mesh_publish(const char *dir, int rank, const char *addr)
{
    char tmp[PATH_MAX], path[PATH_MAX];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s/.addr.%d.tmp", dir, rank);
    snprintf(path, sizeof(path), "%s/addr.%d", dir, rank);
    f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "mesh: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f, "%s\n", addr);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "mesh: cannot publish %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int mesh_lookup(const char *dir, int rank, int timeout_s,
                       char addr[MESH_ADDR_MAX])
{
    char path[PATH_MAX];
    time_t end = time(NULL) + timeout_s;
    FILE *f;

    snprintf(path, sizeof(path), "%s/addr.%d", dir, rank);
    while (!(f = fopen(path, "r"))) {
        if (errno != ENOENT || time(NULL) > end) {
            fprintf(stderr, "mesh: no address of rank %d in %s: %s\n", rank,
                    path, errno == ENOENT ? "timeout" : strerror(errno));
            return -1;
        }
        mesh_nap();
    }
    if (!fgets(addr, MESH_ADDR_MAX, f)) {
        fprintf(stderr, "mesh: %s is empty\n", path);
        fclose(f);
        return -1;
    }
    fclose(f);
    addr[strcspn(addr, "\n")] = '\0';
    return 0;
}

static int mesh_hello_accept(pscom_request_t *req, pscom_connection_t *con,
                             pscom_header_net_t *hdr)
{
    struct mesh_hello h;

    if (hdr->xheader_len != sizeof(h)) {
        return 0;
    }
    memcpy(&h, hdr->xheader, sizeof(h));
    return h.magic == MESH_HELLO_MAGIC;
}

/* Accept the hellos of every lower rank; the hello says who connected. */
static int mesh_collect_hellos(struct mesh *m)
{
    pscom_request_t *req = pscom_request_create(sizeof(struct mesh_hello), 0);
    int rc = 0;

    if (!req) {
        fprintf(stderr, "mesh: out of memory\n");
        return -1;
    }
    for (int i = 0; i < m->rank; i++) {
        struct mesh_hello h;

        req->connection = NULL;
        req->socket = m->sock;
        req->ops.recv_accept = mesh_hello_accept;
        req->xheader_len = sizeof(h);
        req->data = NULL;
        req->data_len = 0;
        pscom_post_recv(req);
        pscom_wait(req);
        memcpy(&h, &req->xheader, sizeof(h));
        if (!pscom_req_successful(req) || h.rank >= (uint32_t)m->rank ||
            m->cons[h.rank]) {
            fprintf(stderr, "mesh: rank %d: bad hello (state %s, rank %u)\n",
                    m->rank, pscom_req_state_str(req->state), h.rank);
            rc = -1;
            break;
        }
        m->cons[h.rank] = req->connection;
    }
    pscom_request_free(req);
    return rc;
}

static int mesh_connect_to(struct mesh *m, int peer, const char *addr,
                           int ondemand)
{
    pscom_connection_t *con = pscom_open_connection(m->sock);
    pscom_err_t err;

    if (!con) {
        fprintf(stderr, "mesh: rank %d: pscom_open_connection failed\n",
                m->rank);
        return -1;
    }
    err = pscom_connect_socket_str(con, addr);
    if (err != PSCOM_SUCCESS) {
        fprintf(stderr, "mesh: rank %d: connect to rank %d (%s): %s\n", m->rank,
                peer, addr, pscom_err_str(err));
        pscom_close_connection(con);
        return -1;
    }
    m->cons[peer] = con;
    if (!ondemand) {
        struct mesh_hello h = {MESH_HELLO_MAGIC, (uint32_t)m->rank};

        pscom_send(con, &h, sizeof(h), NULL, 0);
    }
    return 0;
}

int mesh_open(struct mesh *m, const char *dir, int ondemand, int timeout_s)
{
    char addr[MESH_ADDR_MAX];
    char name[8];
    pscom_err_t err;

    memset(m, 0, sizeof(*m));
    if (!dir) {
        dir = getenv("MESH_DIR");
    }
    if (!dir || !*dir) {
        fprintf(stderr, "mesh: MESH_DIR is not set\n");
        return -1;
    }
    if (mesh_rank_from_env(&m->rank, &m->size) < 0) {
        return -1;
    }
    err = pscom_init(PSCOM_VERSION);
    if (err != PSCOM_SUCCESS) {
        fprintf(stderr, "mesh: pscom_init: %s\n", pscom_err_str(err));
        return -1;
    }
    m->cons = calloc((size_t)m->size, sizeof(*m->cons));
    if (!m->cons) {
        fprintf(stderr, "mesh: out of memory\n");
        return -1;
    }
    m->sock = pscom_open_socket(0, 0);
    if (!m->sock) {
        fprintf(stderr, "mesh: pscom_open_socket failed\n");
        goto err_free_cons;
    }
    /* Names decide who connects on demand: unique per rank, 8 bytes. */
    snprintf(name, sizeof(name), "m%05d", m->rank);
    pscom_socket_set_name(m->sock, name);
    err = pscom_listen(m->sock, PSCOM_ANYPORT);
    if (err != PSCOM_SUCCESS) {
        fprintf(stderr, "mesh: pscom_listen: %s\n", pscom_err_str(err));
        goto err_close_socket;
    }
    if (mesh_publish(dir, m->rank,
                     ondemand ? pscom_listen_socket_ondemand_str(m->sock)
                              : pscom_listen_socket_str(m->sock)) < 0) {
        goto err_close_socket;
    }
    for (int peer = 0; peer < m->size; peer++) {
        if (peer == m->rank || (!ondemand && peer < m->rank)) {
            continue;
        }
        if (mesh_lookup(dir, peer, timeout_s, addr) < 0 ||
            mesh_connect_to(m, peer, addr, ondemand) < 0) {
            goto err_close_cons;
        }
    }
    if (!ondemand && mesh_collect_hellos(m) < 0) {
        goto err_close_cons;
    }
    return 0;

err_close_cons:
    for (int i = 0; i < m->size; i++) {
        if (m->cons[i]) {
            pscom_close_connection(m->cons[i]);
        }
    }
err_close_socket:
    pscom_close_socket(m->sock);
err_free_cons:
    free(m->cons);
    m->cons = NULL;
    return -1;
}

void mesh_close(struct mesh *m)
{
    /* pscom_close_socket() closes every connection of the socket. */
    if (m->sock) {
        pscom_close_socket(m->sock);
    }
    free(m->cons);
    memset(m, 0, sizeof(*m));
}
