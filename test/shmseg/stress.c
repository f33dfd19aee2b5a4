/* stress -- N processes x thousands of random allocations and frees in
 * one segment, canary patterns in every allocation, some workers
 * SIGKILLed midway while the parent reclaims like the server does; at the
 * end every used frame belongs to a live worker and, after they leave,
 * every frame is free. TAP output.
 *   stress [WORKERS [ITERATIONS [KILLS]]]   (defaults 6 400000 2) */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmseg/shmseg.h"
#include "tap.h"

#define SEG_SIZE (1u << 20) /* ~250 frames: contention and ENOSPC */
#define MAX_HELD 24
#define MAX_RUN 8
#define MAX_WORKERS 32

/* Shared between parent and workers (a separate mapping, not the
 * segment). Each worker writes only its own entry. */
struct report {
    _Atomic uint64_t iterations;
    _Atomic uint64_t violations; /* canary overwritten: overlap */
    _Atomic uint64_t bad_errors; /* unexpected error codes */
    _Atomic uint64_t nospc;
    _Atomic uint64_t held_frames; /* frames held now */
    _Atomic int done;             /* finished, waiting for SIGTERM */
};

struct held {
    uint64_t off;
    uint32_t n;
    uint64_t tag;
};

static struct shmseg seg;
static struct report *rep;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(const struct held *h)
{
    uint64_t *p = shmseg_ptr(&seg, h->off);
    size_t words = (size_t)h->n * seg.frame_size / 8;

    for (size_t i = 0; i < words; i++) {
        p[i] = h->tag;
    }
}

static bool intact(const struct held *h)
{
    const uint64_t *p = shmseg_ptr(&seg, h->off);
    size_t words = (size_t)h->n * seg.frame_size / 8;

    for (size_t i = 0; i < words; i++) {
        if (p[i] != h->tag) {
            return false;
        }
    }
    return true;
}

static volatile sig_atomic_t leave_now;

static void on_term(int sig)
{
    leave_now = 1;
}

static void worker(int id, uint64_t iters)
{
    struct report *r = &rep[id];
    struct held held[MAX_HELD];
    struct shmseg_member me;
    unsigned nheld = 0;
    uint64_t s = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull | 1, frames = 0;

    if (shmseg_join(&seg, &me, "stress", SHMSEG_JOIN_HOST_LOCAL) < 0) {
        atomic_fetch_add(&r->bad_errors, 1);
        _exit(1);
    }
    for (uint64_t it = 0; it < iters; it++) {
        shmseg_heartbeat(&me);
        if (nheld < MAX_HELD && (nheld == 0 || rnd(&s) % 100 < 55)) {
            struct held *h = &held[nheld];
            int rc;

            h->n = 1 + (uint32_t)(rnd(&s) % MAX_RUN);
            rc = shmseg_alloc(&me, h->n, SHMSEG_TAG_TEST, &h->off);
            if (rc == -SHMSEG_ENOSPC) {
                atomic_fetch_add(&r->nospc, 1);
            } else if (rc < 0 ||
                       shmseg_check_range(&seg, h->off,
                                          (uint64_t)h->n * seg.frame_size)) {
                atomic_fetch_add(&r->bad_errors, 1);
            } else {
                h->tag = (uint64_t)getpid() << 32 | it;
                fill(h);
                nheld++;
                frames += h->n;
            }
        } else {
            unsigned k = (unsigned)(rnd(&s) % nheld);
            struct held h = held[k];
            int rc;

            if (!intact(&h)) {
                atomic_fetch_add(&r->violations, 1);
            }
            held[k] = held[--nheld];
            frames -= h.n;
            if (shmseg_free(&me, h.off) < 0) {
                atomic_fetch_add(&r->bad_errors, 1);
            }
            /* Immediately again: refused, never a second release. */
            rc = shmseg_free(&me, h.off);
            if (rc != -SHMSEG_EDOUBLEFREE && rc != -SHMSEG_ENOTOWNER) {
                atomic_fetch_add(&r->bad_errors, 1);
            }
        }
        atomic_store(&r->held_frames, frames);
        atomic_store(&r->iterations, it + 1);
    }
    for (unsigned k = 0; k < nheld; k++) {
        if (!intact(&held[k])) {
            atomic_fetch_add(&r->violations, 1);
        }
    }
    /* Keep the remaining allocations (the parent checks that they are
     * exactly the used frames), heartbeat until told to leave. */
    atomic_store(&r->done, 1);
    while (!leave_now) {
        struct timespec ts = {0, 5000000};

        shmseg_heartbeat(&me);
        nanosleep(&ts, NULL);
    }
    _exit(shmseg_leave(&me) == (long)frames ? 0 : 1);
}

static int count_reclaims;

static void on_reclaim(void *arg, const struct shmseg_part_info *who,
                       enum shmseg_death why, long frames)
{
    count_reclaims++;
    tap_diag("reclaimed %ld frames of slot %u (%s)", frames, who->slot,
             why == SHMSEG_DEATH_PID ? "pid gone" : "timeout");
}

int main(int argc, char **argv)
{
    int nw = argc > 1 ? atoi(argv[1]) : 6;
    uint64_t iters = argc > 2 ? strtoull(argv[2], NULL, 10) : 400000;
    int kills = argc > 3 ? atoi(argv[3]) : 2;
    pid_t pids[MAX_WORKERS];
    bool killed[MAX_WORKERS] = {false};
    struct shmseg_monitor mon;
    struct shmseg_usage u;
    uint64_t viol = 0, bad = 0, nospc = 0, held = 0, total_it = 0;
    int alive, clean = 0;
    void *mem;

    if (nw < 1 || nw > MAX_WORKERS || kills >= nw) {
        fprintf(stderr,
                "usage: stress [WORKERS<=32 [ITERS [KILLS<WORKERS]]]\n");
        return 2;
    }
    tap_plan(6);
    mem = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    rep = mmap(NULL, sizeof(*rep) * MAX_WORKERS, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || rep == MAP_FAILED ||
        shmseg_format(&seg, mem, SEG_SIZE, NULL) < 0) {
        tap_bail("cannot set up the segment");
    }
    memset(rep, 0, sizeof(*rep) * MAX_WORKERS);
    shmseg_monitor_init(&mon, &seg, 3600000, true);
    mon.on_reclaim = on_reclaim;
    signal(SIGTERM, on_term);
    for (int i = 0; i < nw; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            worker(i, iters);
        }
    }
    /* Kill the first `kills` workers once each is a third of the way
     * through, while the others keep going; reclaim as the server does. */
    alive = nw;
    for (;;) {
        struct timespec ts = {0, 2000000};
        int done = 0;

        for (int i = 0; i < kills; i++) {
            if (!killed[i] && atomic_load(&rep[i].iterations) >= iters / 3) {
                kill(pids[i], SIGKILL);
                waitpid(pids[i], NULL, 0);
                killed[i] = true;
                alive--;
            }
        }
        shmseg_monitor_poll(&mon, shmseg_now_ms());
        for (int i = 0; i < nw; i++) {
            done += !killed[i] && atomic_load(&rep[i].done);
        }
        if (done == alive && count_reclaims == kills) {
            break;
        }
        nanosleep(&ts, NULL);
    }
    shmseg_monitor_poll(&mon, shmseg_now_ms());
    for (int i = 0; i < nw; i++) {
        viol += atomic_load(&rep[i].violations);
        bad += atomic_load(&rep[i].bad_errors);
        nospc += atomic_load(&rep[i].nospc);
        total_it += atomic_load(&rep[i].iterations);
        if (!killed[i]) {
            held += atomic_load(&rep[i].held_frames);
        }
    }
    tap_diag("%d workers, %llu iterations in all, %llu ENOSPC, %d killed", nw,
             (unsigned long long)total_it, (unsigned long long)nospc, kills);
    tap_ok(viol == 0, "no canary overwritten: live allocations never overlap");
    tap_ok(bad == 0, "no unexpected error code; double frees refused");
    tap_ok(count_reclaims == kills, "every SIGKILLed worker was reclaimed");
    shmseg_walk(&seg, NULL, NULL, &u);
    tap_diag("used %u, free %u, stale %u, bad %u, held by live %llu",
             u.used_frames, u.free_frames, u.stale_frames, u.bad_frames,
             (unsigned long long)held);
    tap_ok(u.used_frames == held && u.stale_frames == 0 && u.bad_frames == 0,
           "every used frame belongs to a live worker, nothing stale");
    for (int i = kills; i < nw; i++) {
        int st;

        kill(pids[i], SIGTERM);
        waitpid(pids[i], &st, 0);
        clean += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    tap_ok(clean == nw - kills,
           "surviving workers leave, freeing what they held");
    shmseg_walk(&seg, NULL, NULL, &u);
    tap_ok(u.free_frames == seg.frame_count, "all frames free at the end");
    return tap_exit_status();
}
