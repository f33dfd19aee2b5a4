/*
 * ring-bench.c -- the ring's floor: two processes pinned to two cores
 * ping-pong over two rings (one per direction) in one MAP_SHARED region,
 * then stream one way. Messages carry an 8-byte header like pscom's
 * {u16 type, u16 xheader_len, u32 data_len}; the receiver copies the
 * payload out of the ring into its own buffer, as the core copies into the
 * posted receive buffer.
 *
 * Output, one line per size: "<bytes> <half round trip us> <MB/s>"
 * (MB/s is "-" for 0 bytes), each the best of 5 rounds. Bandwidth counts
 * payload bytes only. bench/ring-bench.sh prints it as a table.
 *
 *   ring-bench [-r region_bytes] [-m max_size] [-q]
 *     -r  bytes of shared memory per ring (default 8192, the library's)
 *     -m  largest message (default 4 MiB)
 *     -q  quick: few iterations (smoke test)
 *     -c  cores for the two processes, e.g. 0,1 (default 0,1)
 */
#include "config.h"

#include "ring/ring.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct msg_hdr {
    uint16_t type;
    uint16_t xheader_len;
    uint32_t data_len;
};

struct side {
    struct ring_producer tx;
    struct ring_consumer rx;
    unsigned char *buf; /* payload source and receive buffer */
};

/* The child's pid in the parent (0 in the child, which dies with its
 * parent through PR_SET_PDEATHSIG). */
static pid_t peer_pid;

/* Called now and then while waiting: a dead peer must not leave us
 * spinning forever. */
static void check_peer(void)
{
    int status;
    if (peer_pid > 0 && waitpid(peer_pid, &status, WNOHANG) == peer_pid) {
        fprintf(stderr, "ring-bench: the peer process exited early\n");
        exit(1);
    }
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "ring-bench: %s: %s\n", what, strerror(-rc));
    exit(1);
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) {
        fprintf(stderr, "ring-bench: cannot pin to core %d: %s\n", cpu,
                strerror(errno));
    }
}

/* Send one message: gather header and payload straight from memory,
 * spinning while the ring is full. */
static void send_msg(struct side *s, uint32_t len)
{
    struct msg_hdr h = {.type = 1, .xheader_len = 0, .data_len = len};
    size_t hdr_left = sizeof(h);
    size_t data_left = len;
    unsigned idle = 0;
    while (hdr_left + data_left > 0) {
        struct iovec iov[2] = {
            {(unsigned char *)&h + sizeof(h) - hdr_left, hdr_left},
            {s->buf + len - data_left, data_left},
        };
        ssize_t w = ring_write(&s->tx, iov, 2);
        if (w < 0) {
            die("ring_write", (int)w);
        }
        if (w == 0 && (++idle & 0xfffff) == 0) {
            check_peer();
        }
        size_t n = (size_t)w;
        size_t from_hdr = n < hdr_left ? n : hdr_left;
        hdr_left -= from_hdr;
        data_left -= n - from_hdr;
    }
}

/* Receive one message of the expected length into s->buf. */
static void recv_msg(struct side *s, uint32_t expect)
{
    struct msg_hdr h;
    size_t hdr_got = 0;
    size_t data_got = 0;
    size_t data_len = 0;
    unsigned idle = 0;
    for (;;) {
        const void *ptr;
        size_t run;
        int rc = 0;
        /* Poll as a transport does: the cheap test first (it also does
         * the consumer's deferred housekeeping). */
        if (!ring_consumer_idle(&s->rx)) {
            rc = ring_peek(&s->rx, &ptr, &run);
        }
        if (rc < 0) {
            die("ring_peek", rc);
        }
        if (rc == 0) {
            if ((++idle & 0xfffff) == 0) {
                check_peer();
            }
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause(); /* as the core's polling loop */
#endif
            continue;
        }
        size_t used = 0;
        if (hdr_got < sizeof(h)) {
            used = sizeof(h) - hdr_got < run ? sizeof(h) - hdr_got : run;
            memcpy((unsigned char *)&h + hdr_got, ptr, used);
            hdr_got += used;
            if (hdr_got == sizeof(h)) {
                data_len = h.data_len;
                if (data_len != expect) {
                    fprintf(stderr, "ring-bench: got %zu bytes, want %u\n",
                            data_len, expect);
                    exit(1);
                }
            }
        }
        if (hdr_got == sizeof(h)) {
            size_t take = run - used;
            if (take > data_len - data_got) {
                take = data_len - data_got;
            }
            memcpy(s->buf + data_got, (const unsigned char *)ptr + used, take);
            data_got += take;
            used += take;
        }
        rc = ring_consume(&s->rx, used);
        if (rc < 0) {
            die("ring_consume", rc);
        }
        if (hdr_got == sizeof(h) && data_got == data_len) {
            return;
        }
    }
}

/* Each size is measured in ROUNDS rounds and the best round is printed:
 * the ring's floor, not the noise of a shared machine. */
#define ROUNDS 5

/* Round trips per latency round. */
static unsigned lat_iters(uint32_t size, int quick)
{
    unsigned n = size <= 4096 ? 4000 : (unsigned)((16u << 20) / size);
    if (n < 4) {
        n = 4;
    }
    return quick ? (n > 40 ? 40 : n / 10 + 1) : n;
}

/* Messages per bandwidth round. */
static unsigned bw_iters(uint32_t size, int quick)
{
    unsigned n = size <= 1024 ? 40000 : (unsigned)((64u << 20) / size);
    if (n < 4) {
        n = 4;
    }
    return quick ? n / 50 + 1 : n;
}

/* Next size: 0, 1, 2, 4, ... */
static uint32_t next_size(uint32_t s)
{
    return s == 0 ? 1 : s * 2;
}

static void run_child(struct side *s, uint32_t max, int quick)
{
    for (uint32_t size = 0; size <= max; size = next_size(size)) {
        unsigned n = lat_iters(size, quick);
        /* A warm-up round, then the measured ones. */
        for (unsigned i = 0; i < n * (ROUNDS + 1); i++) {
            recv_msg(s, size);
            send_msg(s, size);
        }
        if (size == 0) {
            continue;
        }
        n = bw_iters(size, quick);
        for (int r = 0; r < ROUNDS; r++) {
            for (unsigned i = 0; i < n; i++) {
                recv_msg(s, size);
            }
            send_msg(s, 0);
        }
    }
}

static void run_parent(struct side *s, uint32_t max, int quick)
{
    for (uint32_t size = 0; size <= max; size = next_size(size)) {
        unsigned n = lat_iters(size, quick);
        double half = 0;
        for (int r = -1; r < ROUNDS; r++) { /* round -1: warm-up */
            double t0 = now_us();
            for (unsigned i = 0; i < n; i++) {
                send_msg(s, size);
                recv_msg(s, size);
            }
            double h = (now_us() - t0) / (2.0 * n);
            if (r == 0 || (r > 0 && h < half)) {
                half = h;
            }
        }
        if (size == 0) {
            printf("%u %.3f -\n", size, half);
            fflush(stdout);
            continue;
        }
        n = bw_iters(size, quick);
        double mbs = 0;
        for (int r = 0; r < ROUNDS; r++) {
            double t0 = now_us();
            for (unsigned i = 0; i < n; i++) {
                send_msg(s, size);
            }
            recv_msg(s, 0); /* all of it arrived */
            double m = (double)size * n / (now_us() - t0);
            if (m > mbs) {
                mbs = m;
            }
        }
        printf("%u %.3f %.0f\n", size, half, mbs);
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    size_t region = RING_DEFAULT_REGION;
    uint32_t max = 4u << 20;
    int quick = 0;
    int cpu[2] = {0, 1};
    int opt;
    while ((opt = getopt(argc, argv, "r:m:qc:")) != -1) {
        switch (opt) {
        case 'r':
            region = strtoul(optarg, NULL, 0);
            break;
        case 'm':
            max = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'q':
            quick = 1;
            break;
        case 'c':
            if (sscanf(optarg, "%d,%d", &cpu[0], &cpu[1]) != 2) {
                fprintf(stderr, "ring-bench: -c wants two cores: 0,1\n");
                return 2;
            }
            break;
        default:
            fprintf(stderr, "usage: %s [-r region] [-m max] [-q] [-c a,b]\n",
                    argv[0]);
            return 2;
        }
    }
    region = (region + RING_ALIGN - 1) & ~(size_t)(RING_ALIGN - 1);
    if (ring_data_size(region) == 0) {
        fprintf(stderr, "ring-bench: bad region size %zu\n", region);
        return 2;
    }
    unsigned char *mem = mmap(NULL, 2 * region, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("ring-bench: mmap");
        return 1;
    }
    unsigned char *a = mem;          /* parent -> child */
    unsigned char *b = mem + region; /* child -> parent */
    int rc = ring_init(a, region);
    if (rc == 0) {
        rc = ring_init(b, region);
    }
    if (rc < 0) {
        die("ring_init", rc);
    }
    struct side s;
    s.buf = malloc(max > 0 ? max : 1);
    if (s.buf == NULL) {
        fprintf(stderr, "ring-bench: out of memory\n");
        return 1;
    }
    memset(s.buf, 0x33, max);

    pid_t pid = fork();
    if (pid < 0) {
        perror("ring-bench: fork");
        return 1;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pin(cpu[1]);
        if ((rc = ring_attach_consumer(&s.rx, a, region)) < 0 ||
            (rc = ring_attach_producer(&s.tx, b, region)) < 0) {
            die("attach", rc);
        }
        run_child(&s, max, quick);
        _exit(0);
    }
    peer_pid = pid;
    pin(cpu[0]);
    if ((rc = ring_attach_producer(&s.tx, a, region)) < 0 ||
        (rc = ring_attach_consumer(&s.rx, b, region)) < 0) {
        die("attach", rc);
    }
    printf("# ring-bench region=%zu data=%zu cores=%d,%d\n", region,
           ring_data_size(region), cpu[0], cpu[1]);
    run_parent(&s, max, quick);
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "ring-bench: the peer process failed\n");
        return 1;
    }
    free(s.buf);
    munmap(mem, 2 * region);
    return 0;
}
