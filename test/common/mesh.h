/*
 * mesh.h -- a full mesh of pscom connections among the processes of one
 * parallel job (mpirun, or any launcher that sets rank and size).
 *
 * Rank and size come from the launcher's environment: Open MPI's
 * OMPI_COMM_WORLD_RANK / OMPI_COMM_WORLD_SIZE, else PMI_RANK / PMI_SIZE.
 * Listen addresses are exchanged through a directory every process can
 * read (MESH_DIR): each rank writes "addr.<rank>" atomically (temporary
 * file, then rename) and waits for the others' files. No MPI needed, so
 * the processes under test use pscom only.
 *
 * Connections: the lower rank connects to the higher one and then sends
 * a hello naming its rank, so the acceptor can tell who is who; or, with
 * on-demand set, every rank calls pscom_connect_ondemand() to every other
 * and the socket names (rank numbers) decide who connects.
 */
#ifndef TEST_MESH_H_
#define TEST_MESH_H_

#include "pscom.h"

/** One process's view of the mesh. */
struct mesh {
    int rank;
    int size;
    pscom_socket_t *sock;
    /** cons[r] is the connection to rank r; cons[rank] is NULL. */
    pscom_connection_t **cons;
};

/** Read rank and size from the launcher's environment. Returns 0, or -1
 * (with a message on stderr) when they are missing or malformed. */
int mesh_rank_from_env(int *rank, int *size);

/** Initialise pscom, listen on any port, publish the address in dir
 * (NULL: $MESH_DIR), wait up to timeout_s seconds for every other rank's
 * address and build the mesh. Returns 0, or a negative value after
 * printing why on stderr. */
int mesh_open(struct mesh *m, const char *dir, int ondemand, int timeout_s);

/** Close every connection and the socket, free the mesh. */
void mesh_close(struct mesh *m);

#endif /* TEST_MESH_H_ */
