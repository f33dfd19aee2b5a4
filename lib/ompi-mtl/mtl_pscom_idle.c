/*
 * mtl_pscom_idle.c -- sleep on the doorbell while Open MPI waits.
 *
 * Open MPI waits (MPI_Recv, MPI_Wait, MPI_Barrier...) by calling
 * opal_progress() until a request completes; we only see our progress
 * callback being called. A caller that calls it back to back (no gap of
 * IDLE_GAP_US between calls: it does nothing but wait) and finds nothing
 * for the spin time (mtl_pscom_sleep, default PSP_SPIN_US) is waiting:
 * from then on each call is a pscom_wait_any(), which after its own
 * PSP_SPIN_US sleeps on the doorbells (doc/ivshmem.md "Doorbell waits")
 * or on the connections' sockets, at most 100 ms, and returns so Open
 * MPI re-checks its requests. A program that computes between two
 * MPI_Test calls leaves a gap, which resets the idle clock: it never
 * sleeps. Not with MPI threads (libpscom does not sleep there either).
 */
#include "mtl_pscom.h"

#include <stdint.h>
#include <time.h>

/* IDLE_CALLS_PER_CLOCK idle calls that take this long together (from
 * clock read to clock read, our own polls included) mean the caller does
 * something else between them: it computes, it is not waiting. A wait
 * loop's turn is below a microsecond (a few with tcp connections'
 * epoll); so a caller that computes 50 us once in 8 calls, or 7 us
 * between any two, is never taken for a waiting one. */
#define IDLE_GAP_US 50u

/* Idle calls between two clock reads while not yet waiting: reading the
 * clock on every call would delay the next look at the rings. */
#define IDLE_CALLS_PER_CLOCK 8u

/* PSP_SPIN_US's default in libpscom (lib/core/env.c). */
#define IDLE_PSP_SPIN_US 50u

static struct {
    int64_t spin_us; /* idle time before waiting, < 0: never */
    uint64_t last;   /* clock at the last check (0: none) */
    uint64_t since;  /* start of the idle stretch */
    unsigned calls;  /* idle calls since the last check */
    int waiting;     /* the caller waits: pscom_wait_any() */
} idle = {.spin_us = -1};

static uint64_t idle_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* 1 if requests completed since the last look: the caller's wait may
 * be over. */
static int idle_completions(void)
{
    struct mtl_pscom_globals *g = &ompi_mtl_pscom_g;
    int any = g->finished ||
              __atomic_load_n(&g->done_stack, __ATOMIC_RELAXED) != NULL;

    g->finished = 0;
    return any;
}

static void idle_reset(void)
{
    idle.last = 0;
    idle.calls = 0;
    idle.waiting = 0;
}

void ompi_mtl_pscom_idle_init(int sleep_us, bool threaded)
{
    unsigned int spin = IDLE_PSP_SPIN_US;

    idle_reset();
    if (threaded || sleep_us == 0) {
        idle.spin_us = -1;
        return;
    }
    if (sleep_us < 0) {
        pscom_env_get_uint(&spin, "PSP_SPIN_US");
        idle.spin_us = spin;
    } else {
        idle.spin_us = sleep_us;
    }
}

/* An idle call while not waiting: every IDLE_CALLS_PER_CLOCK calls,
 * restart the idle stretch after a gap, or start waiting after the spin
 * time. */
static void idle_count(void)
{
    uint64_t t;

    if (++idle.calls < IDLE_CALLS_PER_CLOCK) {
        return;
    }
    idle.calls = 0;
    t = idle_now_us();
    if (!idle.last || t - idle.last >= IDLE_GAP_US) {
        idle.since = t;
    } else if (t - idle.since >= (uint64_t)idle.spin_us) {
        idle.waiting = 1;
    }
    idle.last = t;
}

/* Waiting: one blocking step, unless the caller came back after a gap
 * (it stopped waiting: Open MPI completed something of its own). */
static int idle_wait(void)
{
    if (idle_now_us() - idle.last >= IDLE_GAP_US) {
        idle_reset();
        return pscom_test_any();
    }
    pscom_wait_any();
    /* The gap to the next call starts after the sleep. */
    idle.last = idle_now_us();
    /* Completions: the progress callback counts them; the wait is over. */
    if (idle_completions()) {
        idle_reset();
    }
    return 0;
}

int ompi_mtl_pscom_idle_poll(void)
{
    int n;

    if (idle.spin_us < 0) {
        return pscom_test_any();
    }
    if (idle.waiting) {
        return idle_wait();
    }
    n = pscom_test_any();
    if (idle_completions() || n) {
        idle_reset();
    } else {
        idle_count();
    }
    return n;
}
