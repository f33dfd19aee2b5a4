/*
 * progress.c -- the progress engine: epoll for file descriptors, pollers
 * for memory transports, the completion queue, and the blocking waits.
 */
#include <config.h>

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "pscom_priv.h"

#define EVENTS_MAX 32
/* With pollers active, epoll is asked only every `epoll_every` steps so
 * the ring fast path makes no syscall. The interval starts at
 * POLL_EPOLL_MIN and doubles after each epoll_wait that found nothing, up
 * to POLL_EPOLL_MAX; any event resets it. Idle control sockets and a
 * listener then cost next to nothing (a syscall is ~1 us in a VM, a ring
 * poll ~30 ns), while a busy tcp connection next to the rings keeps being
 * served every POLL_EPOLL_MIN steps.
 * Steps are not time, though: a caller that sleeps between steps (the
 * suspend worker, an application polling pscom_test_any() between
 * computations) would see a socket event 1024 steps late, i.e. seconds.
 * So epoll is also asked whenever the coarse clock (one tick is a few
 * ms; reading it costs ~3 ns, no syscall) moved since the last time,
 * except in pscom_progress_until()'s spin, whose steps follow each other
 * without a pause (there the clock would be a tenth of an empty step).
 * A step whose polls found something leaves the clock (and epoll) to the
 * next step: its receiver is about to answer, and the answer's answer is
 * a round trip away, so that next step finds nothing, as a rule. A
 * caller that sleeps between steps then sees a socket event one step
 * later. */
#define POLL_EPOLL_MIN 32u
#define POLL_EPOLL_MAX 1024u
static unsigned int epoll_every = POLL_EPOLL_MIN;
static unsigned int epoll_countdown = POLL_EPOLL_MIN;
static struct timespec epoll_tick; /* CLOCK_MONOTONIC_COARSE at the last */
static int fds_deferred; /* a step's polls found something: see above */

/* 1 when the coarse clock moved since the last epoll_wait. */
static int epoll_tick_passed(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_nsec != epoll_tick.tv_nsec || ts.tv_sec != epoll_tick.tv_sec;
}

void pscom_progress_fds_next(void)
{
    epoll_countdown = 1;
}

/* Events fetched by the progress steps running now (nested steps happen
 * when a callback blocks): pscom_ufd_del() clears matching entries so a
 * removed (and maybe freed) ufd is never called. */
struct ev_frame {
    struct epoll_event *ev;
    int n;
    struct ev_frame *up;
};
static struct ev_frame *ev_frames;

int pscom_ufd_add(pscom_ufd_t *ufd)
{
    struct epoll_event ev = {.events = ufd->events, .data.ptr = ufd};

    if (epoll_ctl(pscom_g.epfd, EPOLL_CTL_ADD, ufd->fd, &ev)) {
        int err = errno;
        DPRINT(0, "pscom: epoll_ctl(ADD, %d): %s", ufd->fd, strerror(err));
        return -err;
    }
    ufd->registered = 1;
    return 0;
}

int pscom_ufd_mod(pscom_ufd_t *ufd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = ufd};

    if (ufd->events == events && ufd->registered) {
        return 0;
    }
    ufd->events = events;
    if (!ufd->registered) {
        return pscom_ufd_add(ufd);
    }
    if (epoll_ctl(pscom_g.epfd, EPOLL_CTL_MOD, ufd->fd, &ev)) {
        int err = errno;
        DPRINT(0, "pscom: epoll_ctl(MOD, %d): %s", ufd->fd, strerror(err));
        return -err;
    }
    return 0;
}

void pscom_ufd_del(pscom_ufd_t *ufd)
{
    if (!ufd->registered) {
        return;
    }
    epoll_ctl(pscom_g.epfd, EPOLL_CTL_DEL, ufd->fd, NULL);
    ufd->registered = 0;
    for (struct ev_frame *f = ev_frames; f; f = f->up) {
        for (int i = 0; i < f->n; i++) {
            if (f->ev[i].data.ptr == ufd) {
                f->ev[i].data.ptr = NULL;
            }
        }
    }
}

void pscom_poller_start(pscom_poller_t *poller)
{
    if (poller->active) {
        return;
    }
    poller->active = 1;
    if (!pscom_g.pollers) {
        poller->next_ = poller->prev_ = poller;
        pscom_g.pollers = poller;
    } else {
        pscom_poller_t *head = pscom_g.pollers;
        poller->next_ = head;
        poller->prev_ = head->prev_;
        head->prev_->next_ = poller;
        head->prev_ = poller;
    }
    pscom_g.pollers_active++;
    /* A waiter asleep in epoll must switch to polling. */
    pscom_wakeup();
}

void pscom_poller_stop(pscom_poller_t *poller)
{
    if (!poller->active) {
        return;
    }
    poller->active = 0;
    if (poller->next_ == poller) {
        pscom_g.pollers = NULL;
    } else {
        poller->prev_->next_ = poller->next_;
        poller->next_->prev_ = poller->prev_;
        if (pscom_g.pollers == poller) {
            pscom_g.pollers = poller->next_;
        }
    }
    poller->next_ = poller->prev_ = NULL;
    pscom_g.pollers_active--;
}

static int run_pollers(void)
{
    int progressed = 0;
    pscom_poller_t *p = pscom_g.pollers;
    unsigned int n = pscom_g.pollers_active;

    if (n == 1) {
        /* One memory connection (an MPI pair, pscom_pp): no walk. */
        return p->poll(p);
    }
    /* A poller may stop itself (or others) while we walk: walk a counted
     * number of steps and re-read the list head each time. */
    for (unsigned int i = 0; i < n && p; i++) {
        pscom_poller_t *next = p->next_;
        progressed |= p->poll(p);
        if (!pscom_g.pollers) {
            break;
        }
        p = next && next->active ? next : pscom_g.pollers;
    }
    return progressed;
}

void pscom_wakeup_threads(void)
{
    if (pscom_g.sleepers > 0 && pscom_g.wakefd >= 0) {
        uint64_t one = 1;
        ssize_t n = write(pscom_g.wakefd, &one, sizeof(one));
        (void)n;
    }
    if (pscom_g.cond_waiters) {
        pthread_cond_broadcast(&pscom_g.cond);
    }
}

/* Block in epoll with the lock dropped. Under PSCOM_THREAD_MULTIPLE only
 * one thread sleeps in epoll at a time (the others wait on a condition
 * variable until it returns or something completes): several sleepers
 * on one epoll set could swallow each other's wake-ups. Returns the
 * number of events, or 0 if this thread only waited for the sleeper;
 * errno is epoll_wait()'s when it returned -1. */
static int sleep_in_epoll(struct epoll_event *ev, int timeout_ms)
{
    int n, err;

    if (pscom_g.threaded && pscom_g.sleepers) {
        pscom_g.cond_waiters++;
        pthread_cond_wait(&pscom_g.cond, &pscom_g.lock);
        pscom_g.cond_waiters--;
        return 0;
    }
    pscom_g.sleepers++;
    pscom_unlock();
    n = epoll_wait(pscom_g.epfd, ev, EVENTS_MAX, timeout_ms);
    /* The caller judges epoll_wait()'s errno (EINTR is no error): the
     * wake-up read below fails with EAGAIN whenever no one woke us (a
     * signal did), and must not overwrite it. */
    err = errno;
    if (pscom_g.threaded) {
        uint64_t v;
        ssize_t r = read(pscom_g.wakefd, &v, sizeof(v));
        (void)r;
    }
    pscom_lock();
    pscom_g.sleepers--;
    if (pscom_g.cond_waiters) {
        pthread_cond_broadcast(&pscom_g.cond);
    }
    errno = err;
    return n;
}

void pscom_req_complete(struct pscom_req *req)
{
    req->pub.state |= PSCOM_REQ_STATE_IO_DONE;
    list_add_tail(&req->next, &pscom_g.doneq);
}

void pscom_run_done(void)
{
    int any = 0;

    while (!list_empty(&pscom_g.doneq)) {
        struct pscom_req *req = list_entry(pscom_g.doneq.next, struct pscom_req,
                                           next);
        unsigned int flags = req->flags;

        list_del(&req->next);
        req->flags &= ~PSCOM_REQ_F_QUEUED;
        req->pub.state |= PSCOM_REQ_STATE_DONE;
        any = 1;
        if (req->done_hook) {
            req->done_hook(req);
        }
        if (req->pub.ops.io_done) {
            /* May free or re-post req. */
            req->pub.ops.io_done(&req->pub);
        } else if (flags & PSCOM_REQ_F_FREE_ON_DONE) {
            pscom_req_release(req);
        }
    }
    if (any) {
        pscom_wakeup();
    }
}

int pscom_precon_run_timers(void);

/* 1 when every started poller is armed (pollers_sleep()): the next
 * step sleeps in epoll instead of polling them. */
static int pollers_armed;

/* The longest such sleep: the transports' health checks (a peer evicted
 * from the segment, a guest whose device was unplugged while its
 * control socket stays open) run on their polls, so a sleeper polls at
 * least this often. One wake-up a second costs nothing measurable. */
#define POLLERS_SLEEP_MAX_MS 1000

/* The file descriptors' part of a progress step: timers, epoll (asleep
 * when timeout_ms allows), the ready fds' callbacks. Out of line: the
 * memory transports' polls skip it on most steps, and its event array
 * and saved registers would weigh on each of them. 1 if a callback (not
 * just a wake-up) ran. */
static __attribute__((noinline)) int progress_fds(int timeout_ms)
{
    struct epoll_event ev[EVENTS_MAX];
    int progressed = 0;
    int n;

    if (!list_empty(&pscom_g.doneq)) {
        timeout_ms = 0;
    }
    {
        int t = pscom_precon_run_timers();
        int ts = pscom_susp_due();

        if (ts >= 0 && (t < 0 || ts < t)) {
            t = ts;
        }
        if (t >= 0 && (timeout_ms < 0 || t < timeout_ms)) {
            timeout_ms = t;
        }
    }
    if (timeout_ms != 0) {
        n = sleep_in_epoll(ev, timeout_ms);
    } else {
        n = epoll_wait(pscom_g.epfd, ev, EVENTS_MAX, 0);
    }
    if (n < 0 && errno != EINTR) {
        DPRINT(0, "pscom: epoll_wait: %s", strerror(errno));
    }
    if (n > 0) {
        epoll_every = POLL_EPOLL_MIN;
    } else if (epoll_every < POLL_EPOLL_MAX) {
        epoll_every *= 2;
    }
    epoll_countdown = epoll_every;
    fds_deferred = 0;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &epoll_tick);
    if (n > 0) {
        struct ev_frame frame = {ev, n, ev_frames};

        ev_frames = &frame;
        for (int i = 0; i < n; i++) {
            pscom_ufd_t *ufd = ev[i].data.ptr;
            /* NULL when an earlier callback of this step removed it. */
            if (ufd && ufd->cb) {
                ufd->cb(ufd, ev[i].events);
                if (ufd != &pscom_g.wake_ufd) {
                    progressed = 1;
                }
            }
        }
        ev_frames = frame.up;
    }
    return progressed;
}

/* One progress step; spinning: called again at once if nothing happened
 * (see epoll_tick_passed()). */
static int progress_step(int timeout_ms, int spinning)
{
    int progressed = 0;
    int armed;

    pscom_g.in_progress++;
    pscom_g.stat_progress++;
    if (pscom_susp_bg_progress && pscom_susp_take_bg_progress()) {
        /* The suspend worker progressed meanwhile: a waiter re-checks its
         * requests before it sleeps on a completion that happened. */
        progressed = 1;
        timeout_ms = 0;
    }
    /* Only this step sleeps armed: a wait nested in one of its
     * callbacks (an io_done hook) polls as usual. */
    armed = pollers_armed;
    pollers_armed = 0;
    if (pscom_g.pollers_active && !armed) {
        int polled = run_pollers();

        progressed |= polled;
        /* Memory transports are polled: never sleep in epoll then. */
        timeout_ms = 0;
        if (polled && !fds_deferred) {
            /* Clock and epoll wait for the next step (see above). */
            fds_deferred = 1;
            goto out;
        }
        fds_deferred = 0;
        if (--epoll_countdown && (spinning || !epoll_tick_passed())) {
            goto out;
        }
    }
    progressed |= progress_fds(timeout_ms);
out:
    /* Suspend steps found in transport callbacks run here, outside
     * them (cheap when there are none). */
    pscom_susp_due();
    if (!list_empty(&pscom_g.doneq)) {
        pscom_run_done();
        progressed = 1;
    }
    pscom_g.in_progress--;
    if (!pscom_g.in_progress && !list_empty(&pscom_g.zombies)) {
        pscom_con_reap();
    }
    return progressed;
}

int pscom_progress(int timeout_ms)
{
    return progress_step(timeout_ms, 0);
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Polls between two clock reads while a poller spins without progress:
 * reading the clock on every poll would delay seeing the peer's line. */
#define IDLE_POLLS_PER_CLOCK 256u

/* A wait that polls memory transports without progress. A memory
 * transport has no file descriptor to sleep on, so the wait keeps
 * polling, but after PSP_SPIN_US without progress it also yields the CPU
 * on every poll: when ranks share a core (mpirun --oversubscribe) the
 * peer we wait for may be the one waiting for our CPU, and without a
 * yield every ring handoff would cost a whole scheduler time slice. */
struct idle_spin {
    uint64_t start; /* first clock read of this idle stretch, 0: none */
    unsigned polls; /* idle polls so far */
    int yielding;   /* PSP_SPIN_US passed: yield on every poll */
};

static void idle_spin_reset(struct idle_spin *s)
{
    s->start = 0;
    s->polls = 0;
    s->yielding = 0;
}

/* One more poll found nothing: 1 when the caller should yield now. */
static int idle_spin_poll(struct idle_spin *s)
{
    if (!s->yielding && ++s->polls % IDLE_POLLS_PER_CLOCK == 0) {
        uint64_t t = now_us();

        if (!s->start) {
            s->start = t;
        } else if (t - s->start >= pscom_env.spin_us) {
            s->yielding = 1;
        }
    }
    return s->yielding || pscom_env.sched_yield;
}

/* Disarm every started poller that can (after a sleep the list may
 * have changed: pollers of closed connections are gone, new ones were
 * never armed, and disarming those is harmless). */
static void pollers_disarm(unsigned int count)
{
    pscom_poller_t *p = pscom_g.pollers;

    for (unsigned int i = 0; i < count && p; i++, p = p->next_) {
        if (p->disarm) {
            p->disarm(p);
        }
    }
}

/* After PSP_SPIN_US without progress: if every started poller arms its
 * doorbell, sleep in epoll until a ufd wakes us (a doorbell, a control
 * socket, a timer), then disarm them all. 1 when it slept. Not with
 * PSCOM_THREAD_MULTIPLE: another thread would poll (and so sleep on
 * cond) while the rings are armed, keeping it simple to reason about. */
static int pollers_sleep(int timeout_ms)
{
    pscom_poller_t *p = pscom_g.pollers;
    unsigned int n = pscom_g.pollers_active;
    unsigned int armed = 0;

    if (pscom_g.threaded) {
        return 0;
    }
    for (; armed < n && p; armed++, p = p->next_) {
        if (!p->arm || p->arm(p) != 0) {
            break;
        }
    }
    if (armed < n) {
        pollers_disarm(armed);
        return 0;
    }
    pollers_armed = 1; /* progress_step() takes it */
    progress_step(timeout_ms, 0);
    pollers_disarm(pscom_g.pollers_active);
    return 1;
}

void pscom_progress_until(volatile unsigned int *flag, unsigned int mask)
{
    uint64_t spin_start = 0;
    struct idle_spin idle = {0};

    while (!(*flag & mask)) {
        if (!list_empty(&pscom_g.doneq) && !pscom_g.in_progress) {
            /* Completed while posting (a send that went straight into a
             * ring): finish it without polling every transport first. */
            pscom_run_done();
            continue;
        }
        if (progress_step(0, 1)) {
            spin_start = 0;
            idle_spin_reset(&idle);
            continue;
        }
        if (pscom_g.pollers_active) {
            int yield = idle_spin_poll(&idle);

            if (__atomic_load_n(&pscom_susp_lock_wanted, __ATOMIC_ACQUIRE)) {
                /* The suspend worker needs the lock (a mutex is not
                 * fair: unlocking for a moment would not do). */
                pscom_unlock();
                while (__atomic_load_n(&pscom_susp_lock_wanted,
                                       __ATOMIC_ACQUIRE)) {
                    sched_yield();
                }
                pscom_lock();
            } else if (idle.yielding && pollers_sleep(POLLERS_SLEEP_MAX_MS)) {
                /* Woken: poll for PSP_SPIN_US again before the next
                 * sleep (the answer to what woke us comes soon). */
                idle_spin_reset(&idle);
            } else if (yield) {
                sched_yield();
            }
            /* No pause instruction between polls: it delays the next
             * poll's view of the peer's line by a good part of a small
             * message's round trip (doc/performance.md),
             * and the poll itself only reads lines that are shared
             * until the peer writes them. */
            continue;
        }
        if (!spin_start) {
            spin_start = now_us();
            continue;
        }
        /* Poll for PSP_SPIN_US without progress before sleeping in
         * epoll; 20 times as long while the awaited transfer is under
         * way (its bytes are moving: a sleep would cost a wake-up per
         * socket-buffer refill), but not for ever: a peer that stopped
         * reading must not make us burn a core. */
        if (now_us() - spin_start <
            (uint64_t)pscom_env.spin_us *
                ((*flag & PSCOM_REQ_STATE_IO_STARTED) ? 20u : 1u)) {
            if (pscom_g.threaded) {
                /* Let other threads in between polls. */
                pscom_unlock();
                sched_yield();
                pscom_lock();
            } else if (pscom_env.sched_yield) {
                sched_yield();
            }
            continue;
        }
        pscom_progress(-1);
        spin_start = 0;
    }
}

/* ---- public waits -------------------------------------------------------- */

void pscom_wait(pscom_request_t *request)
{
    pscom_lock();
    pscom_progress_until(&request->state, PSCOM_REQ_STATE_DONE);
    pscom_unlock();
}

void pscom_wait_all(pscom_request_t **requests)
{
    for (; *requests; requests++) {
        pscom_wait(*requests);
    }
}

/* pscom_wait_any() returns after one round of polls when memory
 * transports are active, so its callers loop on it: the idle stretch
 * spans calls. */
static struct idle_spin wait_any_idle;

/* The longest pscom_wait_any() sleeps without an event. 0x0200 programs
 * loop on it while they re-check conditions an earlier step already made
 * true (pscom_bcast_pp walks its connections one step per call); the
 * 0x0200 library kept polling there, so such a loop must not sleep for
 * ever. */
#define WAIT_ANY_MAX_MS 100

void pscom_wait_any(void)
{
    int yield = 0;

    pscom_lock();
    if (pscom_progress(0)) {
        idle_spin_reset(&wait_any_idle);
    } else if (!pscom_g.pollers_active) {
        pscom_progress(WAIT_ANY_MAX_MS);
    } else if (pscom_progress(0)) {
        idle_spin_reset(&wait_any_idle);
    } else {
        yield = idle_spin_poll(&wait_any_idle);
        if (wait_any_idle.yielding && pollers_sleep(WAIT_ANY_MAX_MS)) {
            /* Slept on the doorbells (as long as a wait without memory
             * transports would): the caller looks at its conditions. */
            idle_spin_reset(&wait_any_idle);
            yield = 0;
        }
    }
    pscom_unlock();
    if (yield) {
        sched_yield(); /* without the lock: other threads may go on */
    }
}

int pscom_test_any(void)
{
    int r;

    pscom_lock();
    r = pscom_progress(0);
    pscom_unlock();
    return r;
}
