/*
 * mtl_idle.c -- an idle waiting rank over the pscom MTL, run under
 * mpirun with 2 ranks (test/ompi-mtl/mtl-idle-ivshmem.sh):
 *
 *   recv SECONDS  rank 1 blocks in MPI_Recv while rank 0 sleeps
 *                 (sleep()) SECONDS before it sends;
 *   test SECONDS  rank 1 loops MPI_Test, then computes ~200 us, until the
 *                 message rank 0 sends after SECONDS arrives;
 *   wake N        N round trips of 4 bytes, rank 0 sleeping 20 ms before
 *                 each, so that rank 1 waits long enough to sleep: rank 0
 *                 prints "wake rtt MEDIAN us" (a wake-up plus a normal
 *                 half round trip; bench numbers, not asserted) and
 *                 "data ok" when every answer was the value sent.
 *
 * Rank 1 prints "cpu N" (its CPU time over the wait in % of one core,
 * getrusage), "sleeps N" (voluntary context switches of the waiting
 * thread: a sleep in the kernel counts, a yield or a preemption does
 * not, so this does not depend on the machine's load) and "data ok" or
 * "data wrong"; exits 0 on success.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define COUNT 1024 /* uint32_t words of the message */

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long voluntary_switches(void)
{
    struct rusage ru;

    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

static double wall_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* About 200 us of arithmetic the compiler cannot drop. */
static volatile double sink;
static void compute(void)
{
    double t0 = wall_seconds(), x = sink;

    while (wall_seconds() - t0 < 200e-6) {
        for (int i = 0; i < 100; i++) {
            x = x * 1.000001 + 1e-9;
        }
    }
    sink = x;
}

static void wait_test(MPI_Request *req)
{
    int flag = 0;

    for (;;) {
        MPI_Test(req, &flag, MPI_STATUS_IGNORE);
        if (flag) {
            return;
        }
        compute();
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The wake mode: 1 if every answer was right. */
static int wake(int rank, int n)
{
    double *rtt = calloc(n > 0 ? (size_t)n : 1, sizeof(*rtt));
    int ok = rtt != NULL && n > 0;
    uint32_t v;

    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    for (int i = 0; ok && i < n; i++) {
        if (rank == 0) {
            double t0;

            usleep(20000);
            v = 0x5a5a0000u + (uint32_t)i;
            t0 = wall_seconds();
            MPI_Send(&v, 1, MPI_UINT32_T, 1, 3, MPI_COMM_WORLD);
            MPI_Recv(&v, 1, MPI_UINT32_T, 1, 4, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            rtt[i] = (wall_seconds() - t0) * 1e6;
            ok &= v == 0x5a5a0000u + (uint32_t)i + 1;
        } else {
            MPI_Recv(&v, 1, MPI_UINT32_T, 0, 3, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            v++;
            MPI_Send(&v, 1, MPI_UINT32_T, 0, 4, MPI_COMM_WORLD);
        }
    }
    if (rank == 0 && ok) {
        qsort(rtt, (size_t)n, sizeof(*rtt), cmp_double);
        printf("wake rtt %.1f us\n", rtt[n / 2]);
        printf("data ok\n");
        fflush(stdout);
    }
    free(rtt);
    return ok;
}

int main(int argc, char **argv)
{
    static uint32_t buf[COUNT];
    int rank, np, seconds, ok = 1;
    double c0, w0;
    long v0;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &np);
    if (argc != 3 || np != 2 ||
        (strcmp(argv[1], "recv") && strcmp(argv[1], "test") &&
         strcmp(argv[1], "wake"))) {
        if (rank == 0) {
            fprintf(stderr,
                    "usage: mpirun -np 2 mtl_idle recv|test SEC | wake N\n");
        }
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (argv[1][0] == 'w') {
        ok = wake(rank, atoi(argv[2]));
        MPI_Finalize();
        return ok ? 0 : 1;
    }
    seconds = atoi(argv[2]);
    /* Open the connection first: the wait measured is on a live one. */
    MPI_Sendrecv_replace(buf, 1, MPI_UINT32_T, 1 - rank, 1, 1 - rank, 1,
                         MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        for (int i = 0; i < COUNT; i++) {
            buf[i] = 0x9e3779b9u * (uint32_t)(i + 1);
        }
        sleep((unsigned)seconds);
        MPI_Send(buf, COUNT, MPI_UINT32_T, 1, 7, MPI_COMM_WORLD);
    } else {
        MPI_Request req;

        v0 = voluntary_switches();
        c0 = cpu_seconds();
        w0 = wall_seconds();
        if (argv[1][0] == 'r') {
            MPI_Recv(buf, COUNT, MPI_UINT32_T, 0, 7, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        } else {
            MPI_Irecv(buf, COUNT, MPI_UINT32_T, 0, 7, MPI_COMM_WORLD, &req);
            wait_test(&req);
        }
        printf("cpu %d\n",
               (int)(100 * (cpu_seconds() - c0) / (wall_seconds() - w0)));
        printf("sleeps %ld\n", voluntary_switches() - v0);
        for (int i = 0; i < COUNT; i++) {
            ok &= buf[i] == 0x9e3779b9u * (uint32_t)(i + 1);
        }
        printf("data %s\n", ok ? "ok" : "wrong");
        fflush(stdout);
    }
    MPI_Finalize();
    return ok ? 0 : 1;
}
