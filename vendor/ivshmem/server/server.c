/* server.c -- life cycle and event loop of the ivshmem server. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "ivsrv_int.h"

static bool log_syslog;

void ivsrv_log_to_syslog(void)
{
    openlog("ivshmem-server", LOG_PID, LOG_DAEMON);
    log_syslog = true;
}

void ivsrv_log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (log_syslog) {
        vsyslog(LOG_INFO, fmt, ap);
        va_end(ap);
        return;
    }
    fputs("ivshmem-server: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    va_end(ap);
}

/* lib/shmseg messages go to the same place, once, unfiltered. */
static void shmseg_sink(void *arg, int level, const char *msg)
{
    if (level <= shmseg_debug_level()) {
        ivsrv_log("%s", msg);
    }
}

int ivsrv_parse_size(const char *s, uint64_t *bytes)
{
    uint64_t v, mul = 1ull << 20;
    char *end;

    if (!s || !isdigit((unsigned char)*s)) {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || v == 0) {
        return -1;
    }
    switch (toupper((unsigned char)*end)) {
    case 0:
    case 'M':
        break;
    case 'K':
        mul = 1ull << 10;
        break;
    case 'G':
        mul = 1ull << 30;
        break;
    case 'T':
        mul = 1ull << 40;
        break;
    default:
        return -1;
    }
    if (*end && end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2])) {
        return -1; /* allow "4M" and "4MB", nothing else */
    }
    if (v > UINT64_MAX / mul) {
        return -1;
    }
    *bytes = v * mul;
    return 0;
}

static void on_reclaim(void *arg, const struct shmseg_part_info *who,
                       enum shmseg_death why, long frames)
{
    if (why == SHMSEG_DEATH_CORRUPT) {
        ivsrv_log("repaired participant slot %u: its state (status %u, gen "
                  "%u) is no valid state; slot freed, %ld frame%s "
                  "reclaimed",
                  who->slot, who->status, who->gen, frames,
                  frames == 1 ? "" : "s");
        return;
    }
    ivsrv_log("reclaimed %ld frame%s of owner slot %u gen %u '%s' pid %d: %s",
              frames, frames == 1 ? "" : "s", who->slot, who->gen, who->label,
              (int)who->host_pid,
              why == SHMSEG_DEATH_PID ? "process gone" : "heartbeat timeout");
}

int ivsrv_open(struct ivsrv **out, const struct ivsrv_config *cfg)
{
    struct ivsrv *srv;

    if (cfg->vectors < 1 || cfg->vectors > IVSRV_MAX_VECTORS) {
        ivsrv_log("vectors must be 1..%d, not %u", IVSRV_MAX_VECTORS,
                  cfg->vectors);
        return -1;
    }
    srv = calloc(1, sizeof(*srv));
    if (!srv) {
        ivsrv_log("out of memory");
        return -1;
    }
    srv->cfg = *cfg;
    if (!srv->cfg.period_ms) {
        srv->cfg.period_ms = SHMSEG_DEFAULT_PERIOD_MS;
    }
    if (!srv->cfg.timeout_ms) {
        srv->cfg.timeout_ms = SHMSEG_DEFAULT_TIMEOUT_MS;
    }
    srv->shm_fd = -1;
    srv->listen_fd = -1;
    shmseg_log_set(shmseg_sink, NULL);
    if (ivsrv_backing_open(srv) < 0) {
        goto err_free;
    }
    if (ivsrv_listen(srv) < 0) {
        goto err_backing;
    }
    if (srv->have_seg) {
        shmseg_monitor_init(&srv->mon, &srv->seg, srv->cfg.timeout_ms, true);
        srv->mon.on_reclaim = on_reclaim;
    }
    snprintf(srv->desc, sizeof(srv->desc),
             "%s %s, %" PRIu64 " bytes, %s layout, %u vector%s, socket %s",
             cfg->file ? "file" : "shm", srv->obj_path, srv->size,
             srv->have_seg ? "pscom" : "no", cfg->vectors,
             cfg->vectors == 1 ? "" : "s", srv->sock_path);
    *out = srv;
    return 0;

err_backing:
    if (srv->created) {
        srv->cfg.unlink_shm = true; /* we made it for nothing */
    }
    ivsrv_backing_close(srv);
    if (srv->created && srv->cfg.file) {
        unlink(srv->cfg.file);
    }
err_free:
    free(srv);
    return -1;
}

const char *ivsrv_describe(const struct ivsrv *srv)
{
    return srv->desc;
}

/* Drop peers whose sends failed; each drop notifies the others, which
 * may break more, hence the loop. */
static void drop_broken(struct ivsrv *srv)
{
    bool again = true;

    while (again) {
        again = false;
        for (unsigned i = srv->npeers; i-- > 0;) {
            if (srv->peers[i].broken) {
                ivsrv_log("peer %lld: %s, dropped", (long long)srv->peers[i].id,
                          srv->peers[i].broken_why);
                ivsrv_peer_gone(srv, i);
                again = true;
                break;
            }
        }
    }
}

/* Poll timeout: until the next reclaim pass or the end of an accept
 * pause, whichever comes first; -1 = none. */
static int poll_timeout(const struct ivsrv *srv, uint64_t now, uint64_t next)
{
    uint64_t until = srv->have_seg ? next : UINT64_MAX;

    if (srv->accept_paused_until && srv->accept_paused_until < until) {
        until = srv->accept_paused_until;
    }
    if (until == UINT64_MAX) {
        return -1;
    }
    return until > now ? (int)(until - now) : 0;
}

/* Serve peer i's events: send what its queue holds once it has room,
 * and notice when it is gone. */
static void serve_peer(struct ivsrv *srv, unsigned i, short revents)
{
    struct ivsrv_peer *p = &srv->peers[i];
    char buf[64];
    ssize_t r;

    if (revents & POLLOUT) {
        ivsrv_peer_flush(srv, p);
    }
    if (!(revents & (POLLIN | POLLHUP | POLLERR))) {
        return;
    }
    /* QEMU never sends anything: data is ignored, EOF or an error means
     * the peer is gone. */
    r = read(p->fd, buf, sizeof(buf));
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        ivsrv_peer_gone(srv, i);
    }
}

int ivsrv_run(struct ivsrv *srv, int stop_fd)
{
    struct pollfd pfd[2 + IVSRV_MAX_PEERS];
    uint64_t next = shmseg_now_ms() + srv->cfg.period_ms;

    for (;;) {
        uint64_t now = shmseg_now_ms();
        unsigned n = srv->npeers;
        int rc;

        if (srv->have_seg && now >= next) {
            shmseg_monitor_poll(&srv->mon, now);
            next = now + srv->cfg.period_ms;
        }
        if (srv->accept_paused_until && now >= srv->accept_paused_until) {
            srv->accept_paused_until = 0;
        }
        pfd[0] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
        /* A negative fd is skipped by poll: the paused listener. */
        pfd[1] = (struct pollfd){.fd = srv->accept_paused_until
                                           ? -1
                                           : srv->listen_fd,
                                 .events = POLLIN};
        for (unsigned i = 0; i < n; i++) {
            const struct ivsrv_peer *p = &srv->peers[i];

            pfd[2 + i] = (struct pollfd){
                .fd = p->fd,
                .events = (short)(POLLIN | (p->q_len ? POLLOUT : 0))};
        }
        rc = poll(pfd, 2 + n, poll_timeout(srv, now, next));
        if (rc < 0 && errno != EINTR) {
            ivsrv_log("poll: %s", strerror(errno));
            return -1;
        }
        if (rc <= 0) {
            continue;
        }
        if (pfd[0].revents) {
            return 0;
        }
        /* Peers first, from the end: removal moves the last peer into
         * the hole, which was already handled. */
        for (unsigned i = n; i-- > 0;) {
            if (pfd[2 + i].revents) {
                serve_peer(srv, i, pfd[2 + i].revents);
            }
        }
        drop_broken(srv);
        if (pfd[1].revents & POLLIN) {
            ivsrv_accept(srv);
            drop_broken(srv);
        }
    }
}

void ivsrv_close(struct ivsrv *srv)
{
    if (!srv) {
        return;
    }
    ivsrv_peers_close(srv);
    ivsrv_backing_close(srv);
    shmseg_log_set(NULL, NULL);
    free(srv);
}
