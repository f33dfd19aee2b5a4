/*
 * mpi_vm_pp -- the MPI ping-pong of vm-mpi.py: one rank in each of two
 * guests, launched by the host's mpirun.
 *
 *   mpirun -np 2 ... mpi_vm_pp
 *
 * Each rank first prints where it runs ("rank R of 2 on HOST"). Then a
 * verified ping-pong: for every size of 0, 1, 64 B, 4, 64 KiB and 1 MiB
 * VERIFY_LOOPS round trips in which rank 0 sends a pattern of (size,
 * round), rank 1 checks it and answers with the pattern of (size, round,
 * answer), which rank 0 checks; the receive buffers are scribbled over
 * before each receive, so stale data cannot pass. Then the timed
 * ping-pong at 0 B and 1 MiB (one untimed round first, no checks inside
 * the timing). Rank 0 prints "verified N messages" and one line per timed
 * size, "time SIZE LOOPS MEAN MEDIAN" (half round-trips in microseconds);
 * a failed check prints "bad ..." and aborts the job.
 */
#include <mpi.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"

#define MAX_SIZE (1024UL * 1024)
#define VERIFY_LOOPS 4

static uint32_t seed_of(unsigned long size, int round, int answer)
{
    return (uint32_t)(size * 131 + (unsigned long)round * 2 +
                      (unsigned long)answer);
}

static void expect_pattern(const unsigned char *buf, unsigned long size,
                           const MPI_Status *st, uint32_t seed, int rank)
{
    int count;
    long bad;

    MPI_Get_count(st, MPI_BYTE, &count);
    bad = (unsigned long)count == size ? pattern_check(buf, size, seed) : -2;
    if (bad != -1) {
        printf("bad message at rank %d: size %lu, count %d, first wrong "
               "byte %ld\n",
               rank, size, count, bad);
        fflush(stdout);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

/* VERIFY_LOOPS verified round trips of size bytes; returns the number
 * of messages this rank checked. */
static int verified_rounds(unsigned char *buf, unsigned long size, int rank)
{
    int peer = 1 - rank, checked = 0;
    MPI_Status st;

    for (int r = 0; r < VERIFY_LOOPS; r++) {
        if (rank == 0) {
            pattern_fill(buf, size, seed_of(size, r, 0));
            MPI_Send(buf, (int)size, MPI_BYTE, peer, 1, MPI_COMM_WORLD);
            memset(buf, 0xa5, size);
            MPI_Recv(buf, (int)size, MPI_BYTE, peer, 2, MPI_COMM_WORLD, &st);
            expect_pattern(buf, size, &st, seed_of(size, r, 1), rank);
        } else {
            memset(buf, 0x5a, size);
            MPI_Recv(buf, (int)size, MPI_BYTE, peer, 1, MPI_COMM_WORLD, &st);
            expect_pattern(buf, size, &st, seed_of(size, r, 0), rank);
            pattern_fill(buf, size, seed_of(size, r, 1));
            MPI_Send(buf, (int)size, MPI_BYTE, peer, 2, MPI_COMM_WORLD);
        }
        checked++;
    }
    return checked;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* loops timed round trips of size bytes after an untimed one: the mean
 * and the median half round-trip in microseconds. The median, because
 * TCG guests on a busy host lose the CPU for milliseconds now and then
 * and a few such rounds dominate the mean. */
static void timed_rounds(unsigned char *buf, unsigned long size, int loops,
                         int rank, double *mean, double *median)
{
    int peer = 1 - rank;
    double *rt = calloc((size_t)loops + 1, sizeof(*rt)), sum = 0;

    if (!rt) {
        fprintf(stderr, "mpi_vm_pp: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int i = 0; i <= loops; i++) {
        double t0 = MPI_Wtime();

        if (rank == 0) {
            MPI_Send(buf, (int)size, MPI_BYTE, peer, 3, MPI_COMM_WORLD);
            MPI_Recv(buf, (int)size, MPI_BYTE, peer, 3, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(buf, (int)size, MPI_BYTE, peer, 3, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            MPI_Send(buf, (int)size, MPI_BYTE, peer, 3, MPI_COMM_WORLD);
        }
        rt[i] = (MPI_Wtime() - t0) / 2.0 * 1e6;
    }
    /* rt[0] is the untimed warm-up */
    for (int i = 1; i <= loops; i++) {
        sum += rt[i];
    }
    qsort(rt + 1, (size_t)loops, sizeof(*rt), cmp_double);
    *mean = sum / loops;
    *median = rt[1 + loops / 2];
    free(rt);
}

int main(int argc, char **argv)
{
    static const unsigned long sizes[] = {0, 1, 64, 4096, 65536, MAX_SIZE};
    static const struct {
        unsigned long size;
        int loops;
    } timed[] = {{0, 200}, {MAX_SIZE, 20}};
    char host[MPI_MAX_PROCESSOR_NAME];
    int rank, nprocs, len, checked = 0, total;
    unsigned char *buf;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    MPI_Get_processor_name(host, &len);
    printf("rank %d of %d on %s\n", rank, nprocs, host);
    fflush(stdout);
    if (nprocs != 2) {
        if (rank == 0) {
            fprintf(stderr, "mpi_vm_pp: needs 2 ranks\n");
        }
        MPI_Finalize();
        return 2;
    }
    buf = malloc(MAX_SIZE);
    if (!buf) {
        fprintf(stderr, "mpi_vm_pp: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        checked += verified_rounds(buf, sizes[i], rank);
    }
    MPI_Reduce(&checked, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("verified %d messages\n", total);
    }
    for (size_t i = 0; i < sizeof(timed) / sizeof(timed[0]); i++) {
        double mean, median;

        timed_rounds(buf, timed[i].size, timed[i].loops, rank, &mean, &median);
        if (rank == 0) {
            printf("time %lu %d %.2f %.2f\n", timed[i].size, timed[i].loops,
                   mean, median);
        }
    }
    fflush(stdout);
    free(buf);
    MPI_Finalize();
    return 0;
}
