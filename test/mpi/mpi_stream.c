/*
 * mpi_stream -- an MPI job that keeps exchanging verified messages around
 * a ring until told to stop, for the suspend/resume test (mpi-suspend.sh).
 *
 *   mpirun -np N mpi_stream DIR
 *
 * Every round each rank sends a numbered message (8 B .. 64 KiB, the size
 * changing with the round, a pattern of sender and round) to its right
 * neighbour and receives one from its left, checking number and content:
 * a lost, duplicated or reordered message fails. Every 50 rounds the
 * ranks agree (MPI_Allreduce) on rank 0's view of DIR: after 200 rounds
 * each prints "running"; once DIR/resumed exists they do 500 more rounds,
 * once DIR/end exists they stop and print "done ok ROUNDS".
 */
#include <mpi.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pattern.h"

#define MAXLEN 65536

static size_t len_of(long round)
{
    return 8 + (size_t)((round * 7919) % (MAXLEN - 8));
}

static int exists(const char *dir, const char *name)
{
    char p[4096];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

int main(int argc, char **argv)
{
    int rank, n, to, from, after = -1;
    long round;
    char *s, *r;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &n);
    if (argc != 2) {
        if (rank == 0) {
            fprintf(stderr, "usage: mpirun -np N mpi_stream DIR\n");
        }
        MPI_Finalize();
        return 2;
    }
    to = (rank + 1) % n;
    from = (rank + n - 1) % n;
    s = malloc(MAXLEN + sizeof(long));
    r = malloc(MAXLEN + sizeof(long));
    for (round = 0;; round++) {
        size_t len = len_of(round);
        MPI_Request rq[2];
        MPI_Status st[2];
        long got;
        int cnt;

        memcpy(s, &round, sizeof(long));
        pattern_fill(s + sizeof(long), len, (uint32_t)(rank * 100003 + round));
        MPI_Irecv(r, MAXLEN + (int)sizeof(long), MPI_BYTE, from, 1,
                  MPI_COMM_WORLD, &rq[0]);
        MPI_Isend(s, (int)(len + sizeof(long)), MPI_BYTE, to, 1, MPI_COMM_WORLD,
                  &rq[1]);
        MPI_Waitall(2, rq, st);
        memcpy(&got, r, sizeof(long));
        MPI_Get_count(&st[0], MPI_BYTE, &cnt);
        if (got != round || cnt != (int)(len + sizeof(long)) ||
            pattern_check(r + sizeof(long), len,
                          (uint32_t)(from * 100003 + round)) >= 0) {
            printf("rank %d: round %ld: got message %ld or bad content\n", rank,
                   round, got);
            fflush(stdout);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        if (round == 200) {
            printf("rank %d pid %d running\n", rank, (int)getpid());
            fflush(stdout);
        }
        if (round % 50 == 49) {
            int flags = 0, all;

            if (rank == 0) {
                flags = exists(argv[1], "resumed") | exists(argv[1], "end")
                                                         << 1;
            }
            MPI_Allreduce(&flags, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
            if ((all & 1) && after < 0) {
                after = (int)round;
            }
            if ((all & 2) || (after >= 0 && round - after >= 500)) {
                break;
            }
        }
    }
    printf("rank %d done ok %ld\n", rank, round + 1);
    free(s);
    free(r);
    MPI_Finalize();
    return 0;
}
