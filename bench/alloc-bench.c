/* alloc-bench -- lib/shmseg allocator numbers.
 *   alloc-bench throughput PROCS OPS
 *       PROCS processes (pinned to CPUs 0..), each OPS times: allocate a
 *       16-frame run (a 64 KiB connection ring) and free it. Prints one
 *       line: procs, total ops, ns per alloc+free, Mops/s.
 *   alloc-bench reclaim DEVICE REPS [remote]
 *       With an ivshmem-server serving DEVICE (-c pscom): REPS times, a
 *       child joins (host-local, or remote = heartbeat only), allocates,
 *       is SIGKILLed; prints the milliseconds until the server has freed
 *       its frames: min, median, max. */
#include "config.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmseg/shmseg_discover.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run_ops(struct shmseg *seg, int cpu, long ops)
{
    struct shmseg_member me;
    cpu_set_t set;
    uint64_t off;

    CPU_ZERO(&set);
    CPU_SET(cpu % CPU_SETSIZE, &set);
    sched_setaffinity(0, sizeof(set), &set); /* best effort */
    if (shmseg_join(seg, &me, "bench", SHMSEG_JOIN_HOST_LOCAL) < 0) {
        return 1;
    }
    for (long i = 0; i < ops; i++) {
        if (shmseg_alloc(&me, 16, SHMSEG_TAG_TEST, &off) < 0 ||
            shmseg_free(&me, off) < 0) {
            return 1;
        }
    }
    shmseg_leave(&me);
    return 0;
}

static int throughput(int procs, long ops)
{
    size_t size = 64u << 20;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct shmseg seg;
    void *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int bad = 0, st;
    double t0, t;

    if (mem == MAP_FAILED || shmseg_format(&seg, mem, size, NULL) < 0) {
        fprintf(stderr, "alloc-bench: cannot set up a segment\n");
        return 1;
    }
    t0 = now_s();
    for (int p = 0; p < procs; p++) {
        if (fork() == 0) {
            _exit(run_ops(&seg, (int)(p % (ncpu > 0 ? ncpu : 1)), ops));
        }
    }
    for (int p = 0; p < procs; p++) {
        wait(&st);
        bad |= !WIFEXITED(st) || WEXITSTATUS(st);
    }
    t = now_s() - t0;
    if (bad) {
        fprintf(stderr, "alloc-bench: a worker failed\n");
        return 1;
    }
    printf("%d %ld %.1f %.2f\n", procs, ops * procs, t * 1e9 / (double)ops,
           (double)ops * procs / t / 1e6);
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static int reclaim(int reps, bool remote)
{
    struct shmseg_device dev;
    double *ms = calloc((size_t)reps, sizeof(double));
    struct shmseg_usage u;

    srand((unsigned)getpid());
    if (!ms || shmseg_discover(&dev, NULL) < 0) {
        fprintf(stderr, "alloc-bench: no segment (set PSP_IVSHMEM_DEVICE)\n");
        return 1;
    }
    for (int r = 0; r < reps; r++) {
        int p[2];
        char c;
        pid_t pid;
        double t0;

        if (pipe(p) < 0) {
            return 1;
        }
        pid = fork();
        if (pid == 0) {
            struct shmseg_member me;
            uint64_t off;

            if (shmseg_join(&dev.seg, &me, "victim",
                            remote ? 0 : SHMSEG_JOIN_HOST_LOCAL) < 0 ||
                shmseg_alloc(&me, 16, SHMSEG_TAG_TEST, &off) < 0 ||
                write(p[1], "y", 1) != 1) {
                _exit(1);
            }
            for (;;) {
                shmseg_heartbeat(&me);
                usleep(10000);
            }
        }
        close(p[1]);
        if (read(p[0], &c, 1) != 1) {
            fprintf(stderr, "alloc-bench: victim failed\n");
            return 1;
        }
        close(p[0]);
        /* A random phase against the server's reclaim period (up to the
         * default 500 ms), else every kill lands just after a pass. */
        usleep((useconds_t)(rand() % 500000));
        t0 = now_s();
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        do {
            usleep(1000);
            shmseg_walk(&dev.seg, NULL, NULL, &u);
        } while (u.used_frames != 0);
        ms[r] = (now_s() - t0) * 1e3;
    }
    qsort(ms, (size_t)reps, sizeof(double), cmp_d);
    printf("%.1f %.1f %.1f\n", ms[0], ms[reps / 2], ms[reps - 1]);
    free(ms);
    shmseg_device_close(&dev);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "throughput") == 0) {
        return throughput(atoi(argv[2]), atol(argv[3]));
    }
    if (argc >= 4 && strcmp(argv[1], "reclaim") == 0) {
        setenv("PSP_IVSHMEM_DEVICE", argv[2], 1);
        return reclaim(atoi(argv[3]) > 0 ? atoi(argv[3]) : 1,
                       argc > 4 && strcmp(argv[4], "remote") == 0);
    }
    fprintf(stderr, "usage: alloc-bench throughput PROCS OPS\n"
                    "       alloc-bench reclaim DEVICE REPS [remote]\n");
    return 2;
}
