/*
 * badinput_handshake.c -- hostile hand-shakes that cost the listener
 * resources instead of failing at once (see badinput.c for the family).
 *
 * "leak": 200 raw clients send an on-demand HELLO (parked: the server's
 * application has no connection to their names) and close; then 10000
 * clients send back-connect HELLOs with distinct names. The server's
 * descriptors (/proc/PID/fd) must return to their baseline and its
 * resident memory (/proc/PID/status VmRSS) must stay near it.
 *
 * "fdlimit": the server runs under RLIMIT_NOFILE 64 with a short
 * PSP_HANDSHAKE_TIMEOUT; more idle raw connections than that are opened.
 * The server must close every one of them (hand-shake timeout), its log
 * must stay short (no accept() busy loop), and a good client must then
 * connect and exchange data.
 *
 * "hsmax": with PSP_HANDSHAKE_MAX 4, idle raw connections: the server
 * never holds more than 4 of them at once, closes all of them in the
 * end, and a good client then exchanges data.
 *
 * "late": the server accepts a raw connection, then stops calling pscom
 * (an application computing) while the HELLO arrives and three hand-shake
 * timeouts pass. When it calls pscom again, it must answer the HELLO
 * that waited, not close the connection for its own lateness.
 *
 * The HELLO frame is written here from the facts of lib/core/precon.h
 * (frame header: magic 0x5043, type, length; HELLO version 1).
 */
#include "badinput.h"

#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HELLO_F_ONDEMAND 0x1u
#define HELLO_F_BACKCONNECT 0x2u

#define PARKED_SENDERS 200
#define BACKCONNECTS 10000
/* Growth of VmRSS allowed after the back-connect flood: the remembered
 * names (tens of bytes each) fit; a hand-shake state each (3.5 KB, 35 MB
 * in all) does not. */
#define RSS_GROWTH_MAX_KB 4096L

#define FD_LIMIT 64
#define IDLE_CONNECTIONS 100
#define TEST_HANDSHAKE_TIMEOUT "500"
/* Log lines the fdlimit attack may cause (a busy accept loop writes
 * hundreds of thousands); beyond LOG_GIVE_UP_BYTES we stop waiting. */
#define LOG_LINES_MAX 100
#define LOG_GIVE_UP_BYTES (1024 * 1024)

/* Liveness bounds, not timing assertions: what should take a second. */
#define WAIT_MS 30000

struct hello_msg {
    uint16_t magic;
    uint16_t type;
    uint32_t len;
    uint32_t version;
    uint32_t flags;
    int32_t node_id;
    int32_t pid;
    uint64_t id;
    char name[8];
    int32_t listen_port;
    uint32_t pad;
};
_Static_assert(sizeof(struct hello_msg) == 8 + 40, "HELLO frame size");

static void send_hello(int fd, uint32_t flags, unsigned int n)
{
    struct hello_msg h;

    memset(&h, 0, sizeof(h));
    h.magic = 0x5043;
    h.type = 1;
    h.len = 40;
    h.version = 1;
    h.flags = flags;
    h.node_id = 0x7f000001;
    h.pid = (int32_t)getpid();
    h.id = n;
    snprintf(h.name, sizeof(h.name), "%c%06u",
             flags & HELLO_F_BACKCONNECT ? 'b' : 'o', n % 1000000u);
    if (pscom_writeall(fd, &h, sizeof(h)) != (ssize_t)sizeof(h)) {
        tap_bail("sending a HELLO: %s", strerror(errno));
    }
}

static uint64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the server process, seen from outside ------------------------------ */

static int fd_count(pid_t pid)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (!d) {
        tap_bail("%s: %s", path, strerror(errno));
    }
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f) {
        tap_bail("%s: %s", path, strerror(errno));
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}

/* CPU time (user + system) the process used so far, in ms. */
static long cpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long utime, stime;
    const char *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f) {
        tap_bail("%s: %s", path, strerror(errno));
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name in parentheses: state is field 3,
     * utime 14, stime 15. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                     "%lu %lu",
                     &utime, &stime) != 2) {
        tap_bail("cannot parse %s", path);
    }
    return (long)((utime + stime) * 1000u /
                  (unsigned long)sysconf(_SC_CLK_TCK));
}

/* Lines of the child's output containing needle (every line if NULL).
 * Read through a new open file description: the child writes through
 * the one ch->out shares with it, so its offset must not move. */
static int log_lines(const struct bt_child *ch, const char *needle)
{
    char path[64], line[1024];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(ch->out));
    f = fopen(path, "r");
    if (!f) {
        tap_bail("%s: %s", path, strerror(errno));
    }
    while (fgets(line, sizeof(line), f)) {
        n += !needle || strstr(line, needle) != NULL;
    }
    fclose(f);
    return n;
}

static off_t log_size(const struct bt_child *ch)
{
    struct stat st;

    return fstat(fileno(ch->out), &st) == 0 ? st.st_size : -1;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Poll until the child's log has want lines with needle; the count. */
static int wait_log(const struct bt_child *ch, const char *needle, int want)
{
    uint64_t end = mono_ms() + WAIT_MS;
    int n;

    while ((n = log_lines(ch, needle)) < want && mono_ms() < end) {
        pause_ms(20);
    }
    return n;
}

/* Poll until the server holds more than base descriptors; the count. */
static int wait_fds_above(pid_t pid, int base)
{
    uint64_t end = mono_ms() + WAIT_MS;
    int n;

    while ((n = fd_count(pid)) <= base && mono_ms() < end) {
        pause_ms(20);
    }
    return n;
}

/* Poll until the server holds at most want descriptors; the count. */
static int wait_fds(pid_t pid, int want)
{
    uint64_t end = mono_ms() + WAIT_MS;
    int n;

    while ((n = fd_count(pid)) > want && mono_ms() < end) {
        pause_ms(20);
    }
    return n;
}

/* ---- a server and a good client ------------------------------------------ */

struct rig {
    struct bt_line_pipe saddr, gaddr, cmd, res;
    struct good_arg g;
    struct bt_child server, good;
    char addr[ADDR_MAX];
    int port;
};

static void rig_start_server(struct rig *r, int (*fn)(void *))
{
    const char *colon;

    bt_line_pipe_open(&r->saddr);
    bt_line_pipe_open(&r->gaddr);
    bt_line_pipe_open(&r->cmd);
    bt_line_pipe_open(&r->res);
    r->g = (struct good_arg){&r->gaddr, &r->cmd, &r->res};
    bt_spawn(&r->server, fn, &r->saddr);
    if (bt_line_recv(&r->saddr, r->addr, sizeof(r->addr)) < 0 ||
        !(colon = strrchr(r->addr, ':'))) {
        bt_reap(&r->server, 1);
        tap_bail("the server did not start");
    }
    r->port = atoi(colon + 1);
}

static void rig_start_good(struct rig *r)
{
    bt_spawn(&r->good, bi_good_main, &r->g);
    bt_line_send(&r->gaddr, r->addr);
}

static int rig_good_round(struct rig *r, const char *when)
{
    char result[700];

    if (!tap_ok(bi_good_round(&r->g, result, sizeof(result)),
                "good connection works %s", when)) {
        tap_diag("%s", result);
        return 0;
    }
    return 1;
}

static void rig_stop(struct rig *r)
{
    bt_line_send(&r->cmd, "quit");
    bt_reap(&r->good, 0);
    tap_ok(bt_reap(&r->server, 0) == 0, "server survives and exits cleanly");
}

/* ---- leak --------------------------------------------------------------- */

static int leak_server(void *arg)
{
    /* Level 3 says when a hand-shake was parked. */
    setenv("PSP_DEBUG", "3", 1);
    return bi_server_main(arg);
}

/* 200 on-demand HELLOs parked, then their senders close. */
static void leak_parked(struct rig *r, int base_fds)
{
    static int fds[PARKED_SENDERS];
    const char *parked = "parked on-demand connection";
    int before = log_lines(&r->server, parked), n;

    for (int i = 0; i < PARKED_SENDERS; i++) {
        fds[i] = bi_raw_connect(r->port);
        send_hello(fds[i], HELLO_F_ONDEMAND, (unsigned)i);
    }
    n = wait_log(&r->server, parked, before + PARKED_SENDERS) - before;
    tap_ok(n == PARKED_SENDERS, "%d of %d on-demand HELLOs parked", n,
           PARKED_SENDERS);
    tap_diag("server descriptors: %d at the start, %d with them parked",
             base_fds, fd_count(r->server.pid));
    for (int i = 0; i < PARKED_SENDERS; i++) {
        close(fds[i]);
    }
    n = wait_fds(r->server.pid, base_fds);
    tap_ok(n <= base_fds,
           "parked senders closed: server descriptors back to %d (now %d)",
           base_fds, n);
}

/* 10000 back-connect requests for names the application never uses. */
static void leak_backconnect(struct rig *r, int base_fds, long base_rss)
{
    int unanswered = 0, n;
    long rss;

    for (unsigned int i = 0; i < BACKCONNECTS; i++) {
        int fd = bi_raw_connect(r->port);

        send_hello(fd, HELLO_F_BACKCONNECT, i);
        /* The server closes once it took the request. */
        unanswered += !bi_closed_by_server(fd, WAIT_MS);
        close(fd);
    }
    tap_ok(unanswered == 0,
           "%d back-connect HELLOs: each taken and closed "
           "(%d not)",
           BACKCONNECTS, unanswered);
    rig_good_round(r, "after the back-connect flood");
    rss = rss_kb(r->server.pid);
    tap_ok(rss - base_rss <= RSS_GROWTH_MAX_KB,
           "server VmRSS %ld kB -> %ld kB: grew %ld kB (at most %ld)", base_rss,
           rss, rss - base_rss, RSS_GROWTH_MAX_KB);
    n = wait_fds(r->server.pid, base_fds);
    tap_ok(n <= base_fds, "server descriptors back to %d (now %d)", base_fds,
           n);
}

static int leak_main(void)
{
    static struct rig r;
    int base_fds;
    long base_rss;

    tap_plan(8);
    rig_start_server(&r, leak_server);
    rig_start_good(&r);
    rig_good_round(&r, "before any attack");
    base_fds = fd_count(r.server.pid);
    base_rss = rss_kb(r.server.pid);
    leak_parked(&r, base_fds);
    leak_backconnect(&r, base_fds, base_rss);
    rig_stop(&r);
    return tap_exit_status();
}

/* ---- fdlimit ------------------------------------------------------------ */

static int limited_server(void *arg)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = FD_LIMIT;
        if (setrlimit(RLIMIT_NOFILE, &rl)) {
            fprintf(stderr, "setrlimit: %s\n", strerror(errno));
            return 1;
        }
    }
    setenv("PSP_HANDSHAKE_TIMEOUT", TEST_HANDSHAKE_TIMEOUT, 1);
    return bi_server_main(arg);
}

/* Wait until the server closed every fd of idle[]; how many it did.
 * Gives up early when the log grows like a busy loop's. The most
 * descriptors the server held meanwhile go to *max_fds. */
static int wait_all_closed(struct rig *r, struct pollfd *idle, int n,
                           int *max_fds)
{
    uint64_t end = mono_ms() + WAIT_MS;
    int closed = 0;

    *max_fds = 0;
    while (closed < n && mono_ms() < end &&
           log_size(&r->server) < LOG_GIVE_UP_BYTES) {
        int fds = fd_count(r->server.pid);

        *max_fds = fds > *max_fds ? fds : *max_fds;
        if (poll(idle, (nfds_t)n, 100) < 0) {
            tap_bail("poll: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            if (idle[i].fd >= 0 && idle[i].revents) {
                if (bi_closed_by_server(idle[i].fd, 0)) {
                    close(idle[i].fd);
                    idle[i].fd = -1;
                    closed++;
                }
            }
        }
    }
    return closed;
}

/* Open n idle raw connections to the server and wait until it closed
 * them (see wait_all_closed()); how many it closed. */
static int idle_attack(struct rig *r, struct pollfd *idle, int n, int *max_fds)
{
    int closed;

    for (int i = 0; i < n; i++) {
        idle[i].fd = bi_raw_connect(r->port);
        idle[i].events = POLLIN;
    }
    closed = wait_all_closed(r, idle, n, max_fds);
    for (int i = 0; i < n; i++) {
        if (idle[i].fd >= 0) {
            close(idle[i].fd);
        }
    }
    return closed;
}

static int fdlimit_main(void)
{
    static struct rig r;
    static struct pollfd idle[IDLE_CONNECTIONS];
    int closed, lines, max_fds;
    long cpu, wall;

    tap_plan(7);
    rig_start_server(&r, limited_server);
    cpu = cpu_ms(r.server.pid);
    wall = (long)mono_ms();
    closed = idle_attack(&r, idle, IDLE_CONNECTIONS, &max_fds);
    cpu = cpu_ms(r.server.pid) - cpu;
    wall = (long)mono_ms() - wall;
    tap_diag("the server held at most %d descriptors", max_fds);
    tap_ok(closed == IDLE_CONNECTIONS,
           "%d idle connections under RLIMIT_NOFILE %d: the server closed "
           "%d (PSP_HANDSHAKE_TIMEOUT=%s)",
           IDLE_CONNECTIONS, FD_LIMIT, closed, TEST_HANDSHAKE_TIMEOUT);
    tap_ok(log_lines(&r.server, "Too many open files") > 0,
           "the listener ran into the descriptor limit (and said so)");
    tap_ok(log_lines(&r.server, "PSP_HANDSHAKE_TIMEOUT") > 0,
           "the hand-shake timeout is named in the log");
    lines = log_size(&r.server) < LOG_GIVE_UP_BYTES ? log_lines(&r.server, NULL)
                                                    : -1;
    tap_ok(lines >= 0 && lines <= LOG_LINES_MAX,
           "the server's log stays short: %d lines (at most %d; -1: over "
           "%d bytes)",
           lines, LOG_LINES_MAX, LOG_GIVE_UP_BYTES);
    /* A resource bound, not a speed assertion: the log is rate limited,
     * so only the CPU shows a listener that retries accept() at once
     * instead of backing off. Backing off it uses a few ms; spinning, all
     * the CPU it gets (a fifth of the time with the load of ten on two
     * cores under which the suite may run). */
    tap_ok(cpu <= wall / 10,
           "the server used %ld ms of CPU in %ld ms at the limit (at most "
           "a tenth: no accept() busy loop)",
           cpu, wall);
    rig_start_good(&r);
    rig_good_round(&r, "after the idle connections");
    rig_stop(&r);
    return tap_exit_status();
}

/* ---- hsmax -------------------------------------------------------------- */

#define HS_MAX 4
#define HS_IDLE 20

static int hsmax_server(void *arg)
{
    char max[16];

    snprintf(max, sizeof(max), "%d", HS_MAX);
    setenv("PSP_HANDSHAKE_MAX", max, 1);
    setenv("PSP_HANDSHAKE_TIMEOUT", TEST_HANDSHAKE_TIMEOUT, 1);
    return bi_server_main(arg);
}

static int hsmax_main(void)
{
    static struct rig r;
    static struct pollfd idle[HS_IDLE];
    int base, closed, max_fds;

    tap_plan(4);
    rig_start_server(&r, hsmax_server);
    base = fd_count(r.server.pid);
    closed = idle_attack(&r, idle, HS_IDLE, &max_fds);
    tap_ok(closed == HS_IDLE,
           "%d idle connections: the server closed %d "
           "(PSP_HANDSHAKE_TIMEOUT=%s)",
           HS_IDLE, closed, TEST_HANDSHAKE_TIMEOUT);
    tap_ok(max_fds <= base + HS_MAX,
           "PSP_HANDSHAKE_MAX=%d: the server held at most %d descriptors "
           "(%d before the attack)",
           HS_MAX, max_fds, base);
    rig_start_good(&r);
    rig_good_round(&r, "after the idle connections");
    rig_stop(&r);
    return tap_exit_status();
}

/* ---- late --------------------------------------------------------------- */

#define LATE_TIMEOUT_MS 200

/* The server's control pipes in "late" mode: orchestrator -> server and
 * back. Created before the fork. */
static struct bt_line_pipe late_cmd, late_ack;

/* bi_server_hook of "late": progress until told to pause, then compute
 * (block on the pipe, no pscom call) until told to go on. */
static void late_hook(pscom_socket_t *sock)
{
    char line[32];

    (void)sock;
    for (;;) {
        struct pollfd p = {late_cmd.fd[0], POLLIN, 0};

        pscom_test_any();
        if (poll(&p, 1, 10) > 0) {
            break;
        }
    }
    bt_line_recv(&late_cmd, line, sizeof(line)); /* "pause" */
    bt_line_send(&late_ack, "paused");
    bt_line_recv(&late_cmd, line, sizeof(line)); /* "go" */
}

static int late_server(void *arg)
{
    char ms[16];

    snprintf(ms, sizeof(ms), "%d", LATE_TIMEOUT_MS);
    setenv("PSP_HANDSHAKE_TIMEOUT", ms, 1);
    bi_server_hook = late_hook;
    return bi_server_main(arg);
}

/* 1 when fd receives a hand-shake frame header within WAIT_MS. */
static int gets_frame(int fd)
{
    struct hello_msg h;
    size_t have = 0;

    while (have < 8) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (poll(&p, 1, WAIT_MS) <= 0) {
            return 0;
        }
        n = read(fd, (char *)&h + have, 8 - have);
        if (n <= 0) {
            return 0;
        }
        have += (size_t)n;
    }
    return h.magic == 0x5043 && h.type == 1;
}

static int late_main(void)
{
    static struct rig r;
    char line[32];
    int base, fd;

    tap_plan(4);
    bt_line_pipe_open(&late_cmd);
    bt_line_pipe_open(&late_ack);
    rig_start_server(&r, late_server);
    base = fd_count(r.server.pid);
    fd = bi_raw_connect(r.port);
    if (wait_fds_above(r.server.pid, base) <= base) {
        tap_bail("the server did not accept the raw connection");
    }
    bt_line_send(&late_cmd, "pause");
    bt_line_recv(&late_ack, line, sizeof(line));
    send_hello(fd, 0, 1);
    pause_ms(3 * LATE_TIMEOUT_MS);
    bt_line_send(&late_cmd, "go");
    tap_ok(gets_frame(fd),
           "a HELLO that waited while the server computed past "
           "PSP_HANDSHAKE_TIMEOUT=%d is answered",
           LATE_TIMEOUT_MS);
    close(fd);
    rig_start_good(&r);
    rig_good_round(&r, "after the late hand-shake");
    tap_ok(log_lines(&r.server, "PSP_HANDSHAKE_TIMEOUT") == 0,
           "no hand-shake timed out");
    rig_stop(&r);
    return tap_exit_status();
}

int bi_handshake_main(const char *mode)
{
    if (strcmp(mode, "leak") == 0) {
        return leak_main();
    }
    if (strcmp(mode, "fdlimit") == 0) {
        return fdlimit_main();
    }
    if (strcmp(mode, "hsmax") == 0) {
        return hsmax_main();
    }
    if (strcmp(mode, "late") == 0) {
        return late_main();
    }
    tap_bail("unknown mode '%s' (leak, fdlimit, hsmax, late)", mode);
    return 1;
}
