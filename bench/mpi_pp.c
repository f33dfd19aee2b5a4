/*
 * mpi_pp -- MPI ping-pong, the Open MPI counterpart of bin/pscom_pp.
 *
 *   mpirun -np 2 [--mca btl self,tcp] mpi_pp [--minsize N] [--maxsize N]
 *                [--loops N] [--json]
 *
 * Same sizes (0, 1, 2, 4 ... maxsize), same loop rule (pp_loops(): loops
 * for small messages, about 32 MiB per size for large ones, at least 4),
 * one untimed round per size and the same columns as pscom_pp, so that
 * bench/tcp-vs-ompi.sh can put both side by side. Rank 0 prints.
 *
 * --window W: streaming bandwidth as osu_bw measures it (and pscom_pp
 * --window): rank 1 posts W receives, rank 0 sends W messages at once,
 * rank 1 answers with a 0-byte message when all arrived; the time column
 * is microseconds per message, MB/s the streaming bandwidth.
 */
#include <mpi.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PP_BYTES_PER_SIZE (32UL * 1024 * 1024)
#define PP_MIN_LOOPS 4UL
#define PP_MAX_SIZE (1024UL * 1024 * 1024)

/* Keep in step with pp_loops() in bin/pscom_pp.c. */
static unsigned long pp_loops(unsigned long size, unsigned long loops)
{
    unsigned long n = size ? PP_BYTES_PER_SIZE / size : loops;

    if (n > loops) {
        n = loops;
    }
    return n < PP_MIN_LOOPS ? PP_MIN_LOOPS : n;
}

static int parse_ulong(const char *opt, const char *s, unsigned long max,
                       unsigned long *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-' || (*end && end[1])) {
        goto bad;
    }
    if (*end == 'K' || *end == 'k') {
        v *= 1024;
    } else if (*end == 'M' || *end == 'm') {
        v *= 1024 * 1024;
    } else if (*end) {
        goto bad;
    }
    if (v > max) {
        goto bad;
    }
    *out = (unsigned long)v;
    return 0;
bad:
    fprintf(stderr, "mpi_pp: %s: bad value '%s'\n", opt, s);
    return -1;
}

int main(int argc, char **argv)
{
    unsigned long minsize = 0, maxsize = 4UL * 1024 * 1024, loops = 1000;
    unsigned long window = 0;
    MPI_Request reqs[1024];
    int json = 0, rank, nprocs, bad = 0;
    unsigned char *buf;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    for (int i = 1; i < argc && !bad; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : "";

        if (strcmp(argv[i], "--minsize") == 0) {
            bad = parse_ulong(argv[i], next, PP_MAX_SIZE, &minsize);
            i++;
        } else if (strcmp(argv[i], "--maxsize") == 0) {
            bad = parse_ulong(argv[i], next, PP_MAX_SIZE, &maxsize);
            i++;
        } else if (strcmp(argv[i], "--loops") == 0) {
            bad = parse_ulong(argv[i], next, 1UL << 30, &loops) || loops == 0;
            i++;
        } else if (strcmp(argv[i], "--window") == 0) {
            bad = parse_ulong(argv[i], next, 1024, &window) || window == 0;
            i++;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else {
            fprintf(stderr, "mpi_pp: unknown argument '%s'\n", argv[i]);
            bad = 1;
        }
    }
    if (bad || nprocs != 2 || minsize > maxsize) {
        if (rank == 0) {
            fprintf(stderr, "usage: mpirun -np 2 mpi_pp [--minsize N] "
                            "[--maxsize N] [--loops N] [--window W] "
                            "[--json]\n");
        }
        MPI_Finalize();
        return 2;
    }
    buf = calloc(1, maxsize ? maxsize : 1);
    if (!buf) {
        fprintf(stderr, "mpi_pp: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (rank == 0 && !json) {
        printf("# mpi_pp, %d processes\n", nprocs);
        printf("%10s %8s %12s %10s  %s\n", "size", "loops", "half-RTT/us",
               "MB/s", "type");
    }
    for (unsigned long size = minsize;;) {
        unsigned long n = pp_loops(window ? size * window : size, loops);
        int peer = 1 - rank;
        double t0 = 0, t;

        /* Round 0 is the untimed warm-up, as in pscom_pp. */
        for (unsigned long i = 0; i <= n; i++) {
            if (window) {
                for (unsigned long k = 0; k < window; k++) {
                    if (rank == 0) {
                        MPI_Isend(buf, (int)size, MPI_BYTE, peer, 1,
                                  MPI_COMM_WORLD, &reqs[k]);
                    } else {
                        MPI_Irecv(buf, (int)size, MPI_BYTE, peer, 1,
                                  MPI_COMM_WORLD, &reqs[k]);
                    }
                }
                MPI_Waitall((int)window, reqs, MPI_STATUSES_IGNORE);
                if (rank == 0) {
                    MPI_Recv(NULL, 0, MPI_BYTE, peer, 2, MPI_COMM_WORLD,
                             MPI_STATUS_IGNORE);
                } else {
                    MPI_Send(NULL, 0, MPI_BYTE, peer, 2, MPI_COMM_WORLD);
                }
            } else if (rank == 0) {
                MPI_Send(buf, (int)size, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
                MPI_Recv(buf, (int)size, MPI_BYTE, peer, 0, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(buf, (int)size, MPI_BYTE, peer, 0, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
                MPI_Send(buf, (int)size, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
            }
            if (i == 0) {
                t0 = MPI_Wtime();
            }
        }
        t = MPI_Wtime() - t0;
        if (rank == 0) {
            double half_us = window ? t / (double)(n * window) * 1e6
                                    : t / (double)n / 2.0 * 1e6;
            double mbs = half_us > 0 ? (double)size / half_us : 0.0;

            if (json) {
                printf("{\"size\": %lu, \"loops\": %lu, \"half_rtt_us\": "
                       "%.3f, \"mb_s\": %.2f, \"type\": \"mpi\"}\n",
                       size, n, half_us, mbs);
            } else {
                printf("%10lu %8lu %12.2f %10.2f  %s\n", size, n, half_us, mbs,
                       "mpi");
            }
            fflush(stdout);
        }
        if (size >= maxsize) {
            break;
        }
        {
            unsigned long next = 1;

            while (next <= size) {
                next <<= 1;
            }
            size = next > maxsize ? maxsize : next;
        }
    }
    free(buf);
    MPI_Finalize();
    return 0;
}
