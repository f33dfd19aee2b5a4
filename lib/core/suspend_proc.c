/*
 * suspend_proc.c -- process-wide suspend and resume: the worker thread
 * that runs them, PSP_SIGSUSPEND, and the status the MQTT agent publishes.
 *
 * The worker exists when PSP_SUSPEND_RESUME=1 or PSP_SIGSUSPEND is set.
 * The core's lock is then a real (recursive) lock, as under
 * PSCOM_THREAD_MULTIPLE, because the worker does the suspend work itself:
 * the application need not call into the library. Every PSUSP_TICK_MS
 * the worker also runs one progress step if the lock is free, so that a
 * process whose application computes without calling pscom still answers
 * its peers' SUSPEND (and completes requests: io_done may then run on the
 * worker thread).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pscom_priv.h"
#ifdef HAVE_MQTT
#include "mqtt_agent.h"
#endif

#define PSUSP_TICK_MS 10
#define STATUS_MAX 32768

enum proc_state { P_RUNNING, P_SUSPENDING, P_SUSPENDED, P_RESUMING };

static const char *const state_names[] = {"running", "suspending", "suspended",
                                          "resuming"};

static struct {
    int enabled;
    int pipe[2]; /* commands: one byte each; 0x80 = from MQTT */
    pthread_t thread;
    int mqtt;
    volatile int state; /* enum proc_state, read without the lock */
    int status_dirty;   /* under the core lock */
} P = {.pipe = {-1, -1}};

unsigned int pscom_susp_lock_wanted;
unsigned int pscom_susp_bg_progress;
static __thread int in_worker;

int pscom_susp_take_bg_progress(void)
{
    if (!pscom_susp_bg_progress || in_worker) {
        return 0;
    }
    pscom_susp_bg_progress = 0;
    return 1;
}

/* The core's lock for the worker: a waiter that busy-polls with the lock
 * held hands it over (progress.c). */
static void worker_lock(void)
{
    __atomic_add_fetch(&pscom_susp_lock_wanted, 1, __ATOMIC_ACQ_REL);
    pscom_lock();
    __atomic_sub_fetch(&pscom_susp_lock_wanted, 1, __ATOMIC_ACQ_REL);
    /* An application thread asleep in epoll holds events that may name
     * transports the worker is about to close and free: wake it and let
     * it handle them first (it takes the lock on its way out). */
    while (pscom_g.sleepers) {
        pscom_g.cond_waiters++;
        pscom_wakeup();
        pthread_cond_wait(&pscom_g.cond, &pscom_g.lock);
        pscom_g.cond_waiters--;
    }
}

/* ---- commands ------------------------------------------------------------ */

void pscom_susp_proc_post(enum pscom_susp_cmd cmd, int from_mqtt)
{
    unsigned char b = (unsigned char)(cmd | (from_mqtt ? 0x80 : 0));
    int fd = __atomic_load_n(&P.pipe[1], __ATOMIC_ACQUIRE);

    /* Async-signal-safe: a write on a non-blocking pipe. A full pipe
     * drops the command (thousands queued: nothing is lost that
     * matters). */
    if (fd >= 0 && write(fd, &b, 1) != 1) {
        return;
    }
}

static void on_signal(int sig)
{
    int saved = errno;

    (void)sig;
    pscom_susp_proc_post(PSCOM_SUSP_CMD_TOGGLE, 0);
    errno = saved;
}

int pscom_susp_proc_wants(const pscom_plugin_t *p)
{
    if (!p || p == &pscom_plugin_loop_builtin) {
        return 0;
    }
    return p != &pscom_plugin_tcp_builtin || pscom_env.suspend_tcp;
}

int pscom_susp_proc_suspended(void)
{
    return P.enabled && (P.state == P_SUSPENDING || P.state == P_SUSPENDED);
}

void pscom_susp_proc_changed(void)
{
    P.status_dirty = 1;
}

/* ---- status ------------------------------------------------------------------ */

/* A connection the process-wide resume resumed (lock held): 1 while it
 * is on its way back, 2 if it failed on the way (closed: the peer did not
 * take it back), else 0. */
static int resume_outcome(const struct pscom_con *con)
{
    if (!con->susp.resuming) {
        return 0;
    }
    if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
        return 2;
    }
    return con->susp.active ? 1 : 0;
}

/* The worst resume_outcome() of every connection (lock held). */
static int resume_outcome_all(void)
{
    struct list_head *sp, *cp;
    int worst = 0;

    list_for_each(sp, &pscom_g.sockets)
    {
        struct pscom_sock *sock = list_entry(sp, struct pscom_sock, next);

        list_for_each(cp, &sock->cons)
        {
            int o = resume_outcome(list_entry(cp, struct pscom_con, next));

            worst = o > worst ? o : worst;
        }
    }
    return worst;
}

/* The process state the status shows (lock held): once resumed,
 * "resuming" while connections are on their way back and "failed" while
 * one that did not come back is there (until the application closes
 * it). */
static const char *proc_state_name(void)
{
    static const char *const outcome[] = {"running", "resuming", "failed"};

    if (P.state != P_RUNNING) {
        return state_names[P.state];
    }
    return outcome[resume_outcome_all()];
}

/* JSON status into buf (lock held). */
static void status_json(char *buf, size_t size)
{
    struct list_head *sp, *cp;
    size_t used;
    int first = 1;
    char host[128] = "";

    gethostname(host, sizeof(host) - 1);
    used = (size_t)snprintf(buf, size,
                            "{\"pid\":%d,\"host\":\"%s\",\"state\":\"%s\","
                            "\"connections\":[",
                            (int)getpid(), host, proc_state_name());
    list_for_each(sp, &pscom_g.sockets)
    {
        struct pscom_sock *sock = list_entry(sp, struct pscom_sock, next);

        list_for_each(cp, &sock->cons)
        {
            struct pscom_con *con = list_entry(cp, struct pscom_con, next);
            char ip[16];
            int n;

            pscom_inet_str(ip, sizeof(ip), con->pub.remote_con_info.node_id);
            n = snprintf(buf + used, size - used,
                         "%s{\"peer\":\"%s/%d\",\"type\":\"%s\","
                         "\"state\":\"%s\"%s%s%s}",
                         first ? "" : ",", ip, con->pub.remote_con_info.pid,
                         pscom_con_type_str(con->pub.type),
                         pscom_con_state_str(con->pub.state),
                         con->error_reported ? ",\"error\":\"" : "",
                         con->error_reported ? pscom_err_str(con->last_err)
                                             : "",
                         con->error_reported ? "\"" : "");
            /* Keep room for the closing brackets. */
            if (n < 0 || (size_t)n + 3 >= size - used) {
                buf[used] = '\0';
                goto out;
            }
            used += (size_t)n;
            first = 0;
        }
    }
out:
    snprintf(buf + used, size - used, "]}");
}

static void publish_status(void)
{
#ifdef HAVE_MQTT
    static char buf[STATUS_MAX];

    if (!P.mqtt) {
        return;
    }
    worker_lock();
    P.status_dirty = 0;
    status_json(buf, sizeof(buf));
    pscom_unlock();
    pscom_mqtt_status(buf);
#endif
}

static void answer(int from_mqtt, const char *word)
{
    DPRINT(2, "pscom: process %s", word);
#ifdef HAVE_MQTT
    if (from_mqtt && P.mqtt) {
        pscom_mqtt_answer(word);
    }
#else
    (void)from_mqtt;
#endif
}

static void set_proc_state(enum proc_state st)
{
    P.state = st;
    publish_status();
}

/* ---- suspend and resume of every connection ------------------------------- */

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Lock held. mode 0: ask every connection that cannot migrate to
 * suspend; 1: resume ours; returns how many were touched. */
static unsigned int for_each_con(int mode)
{
    struct list_head *sp, *cp, *cn;
    unsigned int n = 0;

    list_for_each(sp, &pscom_g.sockets)
    {
        struct pscom_sock *sock = list_entry(sp, struct pscom_sock, next);

        list_for_each_safe(cp, cn, &sock->cons)
        {
            struct pscom_con *con = list_entry(cp, struct pscom_con, next);

            if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
                continue;
            }
            if (mode == 0 && (pscom_susp_proc_wants(con->plugin) ||
                              (!con->plugin && con->precon))) {
                pscom_susp_con_suspend(con, 1);
                n++;
            } else if (mode == 1 && con->susp.by_proc) {
                pscom_susp_con_resume(con);
                con->susp.resuming = 1;
                n++;
            }
        }
    }
    return n;
}

/* Lock held. 1 when no connection is still on its way: mode 0 every one
 * we suspend is closed; mode 1 every one we resumed is up or failed. */
static int all_done(int mode)
{
    struct list_head *sp, *cp;

    list_for_each(sp, &pscom_g.sockets)
    {
        struct pscom_sock *sock = list_entry(sp, struct pscom_sock, next);

        list_for_each(cp, &sock->cons)
        {
            struct pscom_con *con = list_entry(cp, struct pscom_con, next);

            if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
                continue;
            }
            /* A reconnect under way that holds transport resources (an
             * ivshmem offer: rings in the segment) comes up, is suspended
             * at once and closes: wait for that. (closed is still set from
             * the previous suspend until the connection is up.) */
            if (mode == 0 && con->susp.by_proc &&
                (!con->susp.closed ||
                 (con->precon && pscom_precon_holds_transport(con->precon)))) {
                return 0;
            }
            if (mode == 1 && resume_outcome(con) == 1) {
                return 0;
            }
        }
    }
    return 1;
}

/* Progress (lock held, dropped between steps so that the application
 * runs too) until all_done(mode) or the deadline. 1 when done. */
static int drive(int mode)
{
    uint64_t end = now_ms() + pscom_env.suspend_timeout;

    while (!all_done(mode)) {
        if (now_ms() > end) {
            return 0;
        }
        /* Never sleep in epoll here: while we slept, an application
         * thread could close a transport our pending events name. But
         * look at the sockets every step: the peers' end-of-exchange
         * (EOF on the control socket) arrives there. */
        pscom_progress_fds_next();
        int busy = pscom_progress(0);

        if (busy) {
            pscom_susp_bg_progress = 1;
        }
        pscom_unlock();
        if (P.status_dirty) {
            publish_status();
        }
        if (busy) {
            sched_yield();
        } else {
            usleep(20);
        }
        worker_lock();
    }
    return 1;
}

static void do_suspend(int from_mqtt)
{
    int ok;

    if (P.state == P_SUSPENDED) {
        answer(from_mqtt, "ALLOWED");
        return;
    }
    set_proc_state(P_SUSPENDING);
    worker_lock();
    for_each_con(0);
    ok = drive(0);
    pscom_unlock();
    if (!ok) {
        /* The framework must not detach the device now: no answer, it
         * times out and keeps the VM where it is. */
        DPRINT(1,
               "pscom: suspend: connections did not drain within %u ms "
               "(peers not making progress?); not answering ALLOWED",
               pscom_env.suspend_timeout);
        publish_status();
        return;
    }
    set_proc_state(P_SUSPENDED);
    answer(from_mqtt, "ALLOWED");
}

static void do_resume(int from_mqtt)
{
    int outcome = 0;

    if (P.state == P_RUNNING) {
        /* Resume without suspend: nothing to do, but the framework waits
         * for the answer. */
        answer(from_mqtt, "COMPLETED");
        return;
    }
    set_proc_state(P_RESUMING);
    worker_lock();
    /* Plugins that cache a device (ivshmem) drop it and look again: after
     * a migration it may be gone or another segment. (Connections a
     * suspend could not drain still run: the plugin keeps what they use.) */
    pscom_plugins_reprobe();
    P.state = P_RUNNING; /* new connections are no longer suspended */
    for_each_con(1);
    if (pscom_env.postpone_feedback) {
        drive(1);
        outcome = resume_outcome_all();
    }
    pscom_unlock();
    set_proc_state(P_RUNNING);
    if (outcome) {
        /* COMPLETED would claim connections that are not back. */
        DPRINT(1, "pscom: resume: %s; answering FAILED",
               outcome == 2 ? "a connection failed: the peer did not take "
                              "it back"
                            : "connections not up again within "
                              "PSP_SUSPEND_TIMEOUT");
        answer(from_mqtt, "FAILED");
        return;
    }
    answer(from_mqtt, "COMPLETED");
}

static void run_cmd(unsigned char b)
{
    int from_mqtt = (b & 0x80) != 0;

    switch (b & 0x7f) {
    case PSCOM_SUSP_CMD_SUSPEND:
        do_suspend(from_mqtt);
        break;
    case PSCOM_SUSP_CMD_RESUME:
        do_resume(from_mqtt);
        break;
    case PSCOM_SUSP_CMD_TOGGLE:
        if (P.state == P_RUNNING) {
            do_suspend(from_mqtt);
        } else {
            do_resume(from_mqtt);
        }
        break;
    default:
        break;
    }
}

/* ---- the worker thread ------------------------------------------------------ */

static void *worker(void *arg)
{
    struct pollfd pfd = {.fd = P.pipe[0], .events = POLLIN};

    (void)arg;
    in_worker = 1;
    for (;;) {
        unsigned char cmds[64];
        ssize_t n;
        int rc = poll(&pfd, 1, PSUSP_TICK_MS);

        if (rc > 0) {
            n = read(P.pipe[0], cmds, sizeof(cmds));
            if (n == 0) {
                break; /* write end closed: exit */
            }
            for (ssize_t i = 0; i < n; i++) {
                run_cmd(cmds[i]);
            }
        }
        /* Background progress, never waiting for the application. */
        if (pthread_mutex_trylock(&pscom_g.lock) == 0) {
            /* Not while an application thread sleeps in epoll: it
             * handles the events itself (see worker_lock()). */
            if (!pscom_g.sleepers) {
                pscom_progress_fds_next();
                if (pscom_progress(0)) {
                    pscom_susp_bg_progress = 1;
                }
            }
            pthread_mutex_unlock(&pscom_g.lock);
        }
        if (P.status_dirty) {
            publish_status();
        }
#ifdef HAVE_MQTT
        if (P.mqtt) {
            pscom_mqtt_tick();
        }
#endif
    }
    return NULL;
}

static int make_lock_real(void)
{
    pthread_mutexattr_t attr;

    if (pscom_g.threaded) {
        return 0;
    }
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&pscom_g.lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pscom_g.threaded = 1;
    return 0;
}

void pscom_susp_proc_init(void)
{
    int sig = pscom_env.sigsuspend;

    if (!pscom_env.suspend_resume && sig <= 0) {
        return;
    }
    if (pipe2(P.pipe, O_CLOEXEC | O_NONBLOCK)) {
        DPRINT(0, "pscom: suspend/resume: pipe: %s", strerror(errno));
        return;
    }
    /* The worker blocks in poll(): only the write end is non-blocking. */
    fcntl(P.pipe[0], F_SETFL, 0);
    make_lock_real();
    P.state = P_RUNNING;
    P.enabled = 1;
    if (sig > 0) {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sig >= NSIG || sigaction(sig, &sa, NULL)) {
            DPRINT(0,
                   "pscom: PSP_SIGSUSPEND=%d: cannot install the "
                   "handler",
                   sig);
        }
    }
#ifdef HAVE_MQTT
    if (pscom_env.suspend_resume && pscom_mqtt_start() == 0) {
        P.mqtt = 1;
    }
#else
    if (pscom_env.suspend_resume) {
        DPRINT(0, "pscom: PSP_SUSPEND_RESUME=1, but this libpscom was "
                  "built without MQTT (configure --without-mqtt)");
    }
#endif
    if (pthread_create(&P.thread, NULL, worker, NULL)) {
        DPRINT(0, "pscom: suspend/resume: cannot start the worker thread");
        P.enabled = 0;
        return;
    }
    P.status_dirty = 1;
}

void pscom_susp_proc_exit(void)
{
    if (!P.enabled) {
        return;
    }
    P.enabled = 0;
    /* EOF on the pipe stops the worker after its current command. */
    /* paho's threads may still post: let them see -1 first. */
    close(__atomic_exchange_n(&P.pipe[1], -1, __ATOMIC_ACQ_REL));
    pthread_join(P.thread, NULL);
    close(P.pipe[0]);
    P.pipe[0] = -1;
#ifdef HAVE_MQTT
    if (P.mqtt) {
        pscom_mqtt_stop();
        P.mqtt = 0;
    }
#endif
}
