/*
 * pscom_priv.h -- internal structures and functions of lib/core.
 *
 * Everything here is hidden (the library is built with
 * -fvisibility=hidden); only pscom.h and the services in plugin.h are
 * exported.
 *
 * How the pieces fit (one file per concern; every file of lib/core, kept
 * complete by test/docs/filemap.sh; the other rooms: HACKING.md):
 *   pscom_priv.h  this header: the structures every file shares
 *   plugin.h   the transport contract, exported to plugins
 *   init.c     library initialisation, version check, node id
 *   env.c      the PSP_* table (env.h), printed by pscom_info
 *   debug.c    PSP_DEBUG / PSP_DEBUG_OUT output, rate-limited messages
 *   lock.c     the process-wide lock (PSCOM_THREAD_MULTIPLE)
 *   sock.c     sockets, listening, accept -> precon
 *   precon*.c  connection set-up over TCP (file map in precon.h): HELLO,
 *              on-demand matching by socket name (the smaller name
 *              connects, the other sends a back-connect request), resume
 *              matching, OFFER/ACCEPT/REFUSE/ABORT/GO with the plugins,
 *              else tcp; then pscom_con_established()
 *   con.c      connection life cycle, the send queue transports pull
 *              from (write_get_iov/write_done), failure, close, connect
 *   parser.c   the receive side of every transport: header, xheader,
 *              matching (default_recv, posted receives, unexpected
 *              queue, PSP_UNEXPECTED_RECEIVES=0 hold-back), data straight
 *              into the matched buffer
 *   req.c      requests, free list, post/send/recv helpers, probe, cancel
 *   progress.c epoll + pollers + completion queue; blocking waits (poll,
 *              then sleep with the lock dropped; one sleeper at a time)
 *   tcp.c, loop.c   built-in transports
 *   shm.c, shm_link.c   the built-in shm transport and the ring data path
 *              it shares with the memory plugins (see shm.h)
 *   bulk.c     large messages of both memory transports through a bulk
 *              area beside the ring, called from shm_link.c (bulk.h)
 *   plugins.c  loader and priority order (the contract: plugin.h)
 *   group.c    bcast (binomial tree) and barrier (dissemination)
 *   rma.c      pscom_post_rma_write/read built from core messages
 *   suspend.c, suspend_proc.c   suspend/resume of one connection and of
 *              the process (see suspend.h); mqtt_agent.c its MQTT agent
 *              (mqtt_agent.h; the text formats are lib/mqttproto's)
 *   addr.c     service and host names to ports and IPv4 addresses
 *   str.c      names for printing, the socket string format
 *   io.c       pscom_readall / pscom_writeall
 *   dump.c     pscom_dump_info / _connection / _reqstat
 *   list.h     the intrusive doubly linked list
 * Completions are queued and io_done runs at the end of a progress step,
 * never inside a transport callback; connections closed inside a step are
 * freed at its end (zombies), so callbacks never see freed memory.
 */
#ifndef PSCOM_PRIV_H_
#define PSCOM_PRIV_H_

#include <config.h>

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

#pragma GCC visibility push(default)
#include "pscom.h"
#include "plugin.h"
#pragma GCC visibility pop

#include "env.h"
#include "list.h"
#include "suspend.h"

/* ---- wire ---------------------------------------------------------------
 * Every transport carries: pscom_header_net_t (8 bytes), xheader_len bytes
 * of xheader, data_len bytes of data. Byte order is the host's. */
enum pscom_msgtype {
    PSCOM_MSGTYPE_USER = 0,
    PSCOM_MSGTYPE_BCAST = 1,
    PSCOM_MSGTYPE_BARRIER = 2,
    PSCOM_MSGTYPE_EOF = 3,     /**< graceful close, nothing follows */
    PSCOM_MSGTYPE_SUSPEND = 4, /**< suspend.h: all before it is in */
    /** Never sent (the parser rejects it): the peer's own SUSPEND and a
     * TCP shutdown answer a SUSPEND (suspend.h); the value stays taken. */
    PSCOM_MSGTYPE_SUSPEND_ACK = 5,
    PSCOM_MSGTYPE_RMA_WRITE = 6,       /**< rma.c: data for xheader dest */
    PSCOM_MSGTYPE_RMA_READ = 7,        /**< rma.c: please send src_len at src */
    PSCOM_MSGTYPE_RMA_READ_ANSWER = 8, /**< rma.c: the data read */
    PSCOM_MSGTYPE_MAX
};

#define PSCOM_XHEADER_MAX 65535u
#define PSCOM_MAGIC_SOCK 0x50534f43u
#define PSCOM_MAGIC_CON 0x50434f4eu
#define PSCOM_MAGIC_REQ 0x50524551u
#define PSCOM_MAGIC_DEAD 0xdeaddeadu

_Static_assert(sizeof(pscom_header_net_t) == 8, "wire header is 8 bytes");
_Static_assert(offsetof(pscom_request_t, xheader) ==
                   offsetof(pscom_request_t, header) +
                       sizeof(pscom_header_net_t),
               "header and xheader must be contiguous (one iovec)");

/* ---- requests ------------------------------------------------------------ */
struct pscom_req;
struct pscom_con;
struct pscom_sock;

/** Internal matching of a receive request against an incoming message. */
typedef int (*pscom_match_fn)(struct pscom_req *req, struct pscom_con *con,
                              pscom_header_net_t *header);

#define PSCOM_REQ_F_FREE_ON_DONE 0x1 /* internal request (pscom_send) */
#define PSCOM_REQ_F_QUEUED 0x2       /* in a sendq or recvq */
#define PSCOM_REQ_F_UNEXP 0x4        /* waits for an unexpected message */

struct pscom_unexp;

struct pscom_req {
    unsigned int magic;
    unsigned int flags;
    struct list_head next; /* sendq, recvq or done queue */
    struct pscom_con *con; /* send: target */
    struct iovec iov[2];   /* send: what is left to write */
    size_t skip;           /* recv: bytes to discard (truncation) */
    unsigned int rx_data;  /* recv: data bytes taken, min(posted, sent) */
    pscom_match_fn match;  /* recv: NULL = user message rules */
    void (*done_hook)(struct pscom_req *req); /* before io_done */
    void *hook_priv;
    size_t alloc_size;
    void (*inplace_done)(pscom_req_state_t state, void *priv);
    void *inplace_priv;
    /* The public part must be last: its xheader storage and the user part
     * follow it in the same allocation. */
    pscom_request_t pub;
};

/* ---- connections --------------------------------------------------------- */
enum pscom_rx_state {
    PSCOM_RX_HEADER,  /* collecting the 8-byte header */
    PSCOM_RX_XHEADER, /* collecting the xheader */
    PSCOM_RX_DATA,    /* data into req or unexpected buffer */
    PSCOM_RX_SKIP,    /* discarding truncated data */
    PSCOM_RX_BLOCKED, /* header in, no receiver (PSP_UNEXPECTED_RECEIVES=0) */
    PSCOM_RX_CSUM,    /* collecting the message's checksum trailer */
};

/** An incoming message no receive was posted for (yet). */
struct pscom_unexp {
    struct list_head next; /* sock->unexpq */
    struct pscom_con *con;
    struct pscom_req *req; /* receive waiting for the rest, or NULL */
    size_t received;       /* data bytes so far */
    int complete;
    char *data;                /* data_len bytes, follows the header copy */
    pscom_header_net_t header; /* + xheader, then data */
};

struct pscom_precon;

struct pscom_con {
    unsigned int magic;
    struct list_head next; /* sock->cons */
    struct pscom_sock *sock;
    const pscom_plugin_t *plugin; /* transport in use, NULL before */
    void *plugin_priv;
    int fd;              /* TCP socket (data or control) */
    pscom_ufd_t ctl_ufd; /* control channel watch (non-tcp) */
    struct list_head sendq;
    struct pscom_precon *precon;
    unsigned int busy; /* in a transport callback */
    int zombie;        /* closed while busy: free later */
    int error_reported;
    pscom_err_t last_err;
    int blocking_connect; /* pscom_connect() waits: no con_error */

    /* receive parser */
    enum pscom_rx_state rx_state;
    size_t rx_have; /* bytes of the current header stage */
    char *rx_hbuf;  /* header + xheader staging */
    size_t rx_hbuf_size;
    char *rx_dst; /* data stage */
    size_t rx_left;
    struct pscom_req *rx_req;
    struct pscom_unexp *rx_unexp;
    /* Per-message checksum (PSP_IVSHMEM_CHECKSUM, memory transports;
     * set by the link while it carries the connection): every message
     * is followed by the CRC32C of its header, xheader and data. */
    int csum;
    int rx_csum_susp; /* the checked message is a SUSPEND */
    uint32_t rx_crc;  /* over what arrived of this message */
    unsigned char rx_trailer[4];

    /* on demand */
    int ondemand; /* waits for a lazy connect */
    int od_nodeid;
    int od_portno;
    char od_name[8]; /* remote socket name */
    int od_started;

    /* connect retries */
    int retries_left;
    int connect_nodeid;
    int connect_portno;

    struct pscom_con_susp susp; /* suspend.h */

    uint64_t msgs_sent, msgs_recvd;

    /* Public part last: userdata follows it. */
    pscom_connection_t pub;
};

/* ---- sockets ------------------------------------------------------------- */
struct pscom_sock {
    unsigned int magic;
    struct list_head next;    /* pscom_g.sockets */
    struct list_head cons;    /* struct pscom_con.next */
    struct list_head recvq;   /* posted receives, posting order */
    struct list_head unexpq;  /* unexpected messages, arrival order */
    struct list_head precons; /* hand-shakes in progress / parked */
    struct list_head groups;
    int listen_fd;
    int listen_suspended;
    pscom_ufd_t listen_ufd;
    /* accept control (precon*.c): the listener is watched only while
     * fewer than PSP_HANDSHAKE_MAX accepted connections are in hand-shake
     * and no back-off after EMFILE & co. runs */
    unsigned int handshakes;  /* accepted, in hand-shake, not parked */
    uint64_t accept_retry_ms; /* back-off ends (CLOCK_MONOTONIC), 0 */
    unsigned int accept_backoff_ms;
    uint64_t con_type_mask;
    unsigned int con_userdata_size;
    /* Public part last: userdata follows it. */
    pscom_socket_t pub;
};

/* ---- global state -------------------------------------------------------- */
struct pscom_global {
    int initialized;
    int threaded;
    pthread_mutex_t lock;
    int nodeid;
    int epfd;
    int wakefd; /* eventfd: wakes a sleeping waiter */
    pscom_ufd_t wake_ufd;
    int sleepers;        /* threads asleep in epoll (0 or 1) */
    pthread_cond_t cond; /* threads waiting while another sleeps */
    unsigned int cond_waiters;
    struct list_head sockets;
    struct list_head doneq;  /* completed requests, io_done pending */
    pscom_poller_t *pollers; /* circular list of active pollers */
    unsigned int pollers_active;
    struct list_head zombies; /* cons freed at the end of a step */
    unsigned int in_progress;
    uint64_t stat_reqs, stat_unexp, stat_progress;
};

extern struct pscom_global pscom_g;

#define pscom_sock_of(s) container_of((s), struct pscom_sock, pub)
#define pscom_con_of(c) container_of((c), struct pscom_con, pub)
#define pscom_req_of(r) container_of((r), struct pscom_req, pub)

/* ---- locking (lock.c) ---------------------------------------------------- */
/** Take/release the process-wide lock (a no-op unless threaded; inline:
 * every API call takes it). */
static inline void pscom_lock(void)
{
    if (pscom_g.threaded) {
        pthread_mutex_lock(&pscom_g.lock);
    }
}

static inline void pscom_unlock(void)
{
    if (pscom_g.threaded) {
        pthread_mutex_unlock(&pscom_g.lock);
    }
}
/** Make the lock real (PSCOM_THREAD_MULTIPLE). Call before a second
 * thread uses the library (a background agent must call it too); not
 * while another thread is inside the library. */
void pscom_threads_enable(void);

/* ---- init.c -------------------------------------------------------------- */
/** Initialise lazily from any entry point; returns 0 or a pscom_err_t. */
int pscom_ensure_init(void);
/** Address of this node according to PSP_NETWORK (host byte order). */
int pscom_find_nodeid(const char *network);

/* ---- progress.c ---------------------------------------------------------- */
/** One progress step: pollers, epoll (up to timeout_ms, -1 forever, with
 * the lock dropped while sleeping), then completions. 1 if anything
 * happened. */
int pscom_progress(int timeout_ms);
/** Let the next pscom_progress() ask epoll even if the rings are busy
 * (callers that sleep between steps and wait for a socket event). */
void pscom_progress_fds_next(void);
/** Progress until *cond becomes non-zero (spin, then sleep). */
void pscom_progress_until(volatile unsigned int *flag, unsigned int mask);
/** Queue a request for completion (io_done runs later in the step). */
void pscom_req_complete(struct pscom_req *req);
/** Run queued completions now. */
void pscom_run_done(void);
/** Wake a waiter sleeping in epoll (threads only: inline test first). */
void pscom_wakeup_threads(void);
static inline void pscom_wakeup(void)
{
    if (pscom_g.threaded) {
        pscom_wakeup_threads();
    }
}

/* ---- suspend hooks on the message path (see suspend.h) ------------------- */
static inline int pscom_susp_tx_blocked(const struct pscom_con *con)
{
    return con->susp.tx_done;
}

static inline void pscom_susp_tx_done(struct pscom_con *con,
                                      struct pscom_req *req)
{
    if (req == con->susp.req) {
        pscom_susp_tx_end(con);
    }
}

/* ---- req.c --------------------------------------------------------------- */
/** A request with xheader storage and user part (state DONE). */
struct pscom_req *pscom_req_alloc(unsigned int max_xheader_len,
                                  unsigned int user_size);
/** Free a request (into the free list); refuses one still queued. */
void pscom_req_release(struct pscom_req *req);
/** Post a send of msg_type on con (fails the request on bad sizes). */
void pscom_post_send_internal(struct pscom_req *req, struct pscom_con *con,
                              unsigned int msg_type);
/** Post a receive: taken from the unexpected queue or queued. */
void pscom_post_recv_internal(struct pscom_req *req);
/** Copy-send an internal message (xheader and data copied). */
void pscom_send_internal(struct pscom_con *con, unsigned int msg_type,
                         const void *xheader, size_t xheader_len,
                         const void *data, size_t data_len);
/** Default user-message matching of a posted receive. Inline: it runs
 * for every message and every receive it passes. */
static inline int pscom_req_match(struct pscom_req *req, struct pscom_con *con,
                                  pscom_header_net_t *header)
{
    if (req->match) {
        return req->match(req, con, header);
    }
    if (header->msg_type != PSCOM_MSGTYPE_USER) {
        return 0;
    }
    if (req->pub.connection && req->pub.connection != &con->pub) {
        return 0;
    }
    if (req->pub.ops.recv_accept) {
        return req->pub.ops.recv_accept(&req->pub, &con->pub, header);
    }
    return 1;
}
/** Try the unexpected queue for a newly posted receive; 1 if taken. */
int pscom_unexp_take(struct pscom_sock *sock, struct pscom_req *req);
/** Finish a receive whose message came in through the unexpected queue. */
void pscom_unexp_deliver(struct pscom_unexp *ux, struct pscom_req *req);
/** Unlink and free an unexpected message. */
void pscom_unexp_free(struct pscom_unexp *ux);

/** xheader bytes a receive took: min(posted, sent). As in 0x0200, a
 * receive leaves xheader_len and data_len as posted; the message's own
 * lengths are in req->pub.header. */
static inline unsigned int pscom_req_rx_xlen(const struct pscom_req *req)
{
    unsigned int sent = req->pub.header.xheader_len;

    return sent < req->pub.xheader_len ? sent : req->pub.xheader_len;
}

/* ---- parser.c ------------------------------------------------------------ */
/** Set up / free the receive parser of a connection. */
void pscom_rx_init(struct pscom_con *con);
void pscom_rx_cleanup(struct pscom_con *con);
/** A connection of sock whose parser waits (PSP_UNEXPECTED_RECEIVES=0)
 * with a header req matches, or NULL. */
struct pscom_con *pscom_rx_blocked_find(struct pscom_sock *sock,
                                        struct pscom_req *req);
/** Give such a waiting message to req and resume reading; 1 if taken. */
int pscom_rx_blocked_take(struct pscom_sock *sock, struct pscom_req *req);
/** Validate a received header; 0 or negative with a message logged. */
int pscom_header_check(const pscom_header_net_t *h);
/** Copy the matched message header into req and prepare the data stage:
 * sets the data stage, skip and the TRUNCATED bit. */
void pscom_req_prepare_recv(struct pscom_req *req, struct pscom_con *con,
                            const pscom_header_net_t *h);

/* ---- con.c --------------------------------------------------------------- */
/** A new connection object in sock (state NO_RW). */
struct pscom_con *pscom_con_create(struct pscom_sock *sock);
/** Unlink and free (later, if a progress step is running). */
void pscom_con_free(struct pscom_con *con);
/** The transport is up: state RW, pending sends start. */
void pscom_con_established(struct pscom_con *con, const pscom_plugin_t *plugin);
/** Fail pending requests and report once to con_error. */
void pscom_con_fail(struct pscom_con *con, pscom_op_t op, pscom_err_t err);
/** Queue a send request on a connection and kick the transport. */
void pscom_con_send_req(struct pscom_con *con, struct pscom_req *req);
/** pscom_send_try() with the lock held: 1 sent, 0 not. */
int pscom_con_send_now(struct pscom_con *con, unsigned int msg_type,
                       const void *xheader, size_t xheader_len,
                       const void *data, size_t data_len);
/** Start an on-demand connection (first write). */
void pscom_con_ondemand_start(struct pscom_con *con);
/** Close the transport of a connection (not the object). */
void pscom_con_transport_close(struct pscom_con *con);
/** Flush, send EOF, fail what is left and free the connection. */
void pscom_con_close_internal(struct pscom_con *con);
/** 1 if con type ct is allowed by the socket's mask. */
int pscom_sock_type_allowed(struct pscom_sock *sock, pscom_con_type_t ct);
/** Free zombie connections (end of a progress step). */
void pscom_con_reap(void);

/* ---- sock.c: accepting --------------------------------------------------- */
/** Watch the listening socket of sock, or not, as its state wants
 * (listening, not suspended, no back-off, below PSP_HANDSHAKE_MAX).
 * 0, or the negative errno of a failed epoll_ctl(). */
int pscom_listen_update(struct pscom_sock *sock);
/** An accepted connection of sock closed its descriptor: end an accept
 * back-off (EMFILE) early. */
void pscom_listen_fd_released(struct pscom_sock *sock);
/** Watch listeners again whose accept back-off ended (now: CLOCK_MONOTONIC
 * ms); ms until the next end, or -1. */
int pscom_listen_run_backoffs(uint64_t now);

/* ---- precon*.c (precon.h) ----------------------------------------------- */
/** Run due connect retries, hand-shake deadlines and accept back-offs;
 * ms until the next one, or -1. */
int pscom_precon_run_timers(void);
/** Start an outgoing connection (async); flags PRECON_F_*. */
int pscom_precon_connect(struct pscom_con *con, int nodeid, int portno,
                         unsigned int flags);
/** A listening socket accepted fd: start its hand-shake (it counts in
 * sock->handshakes until it ends or is parked). */
void pscom_precon_accepted(struct pscom_sock *sock, int fd);
/** connect_ondemand created con: adopt parked hand-shakes for it. */
void pscom_precon_ondemand_check(struct pscom_con *con);
/** Drop a hand-shake: close its socket, abort a plugin it tried. */
void pscom_precon_destroy(struct pscom_precon *pre);
/** Drop every hand-shake of a socket that is being closed. */
void pscom_precon_close_sock(struct pscom_sock *sock);
/** Make fd non-blocking and apply the PSP_TCP_* / PSP_SO_* options. */
void pscom_tcp_configure(int fd);

#define PRECON_F_ONDEMAND 0x1
#define PRECON_F_BACKCONNECT 0x2

/* ---- transports ---------------------------------------------------------- */
extern const pscom_plugin_t pscom_plugin_tcp_builtin;
extern const pscom_plugin_t pscom_plugin_loop_builtin;
/** Make con a loop connection (to itself). */
void pscom_loop_connect(struct pscom_con *con);

/* ---- plugins.c ----------------------------------------------------------- */
/** Load plugins (once). */
void pscom_plugins_init(void);
/** Candidates for sock in priority order (NULL-terminated, static
 * storage of size PSCOM_PLUGINS_MAX + 1), tcp excluded. */
#define PSCOM_PLUGINS_MAX 16
int pscom_plugins_candidates(struct pscom_sock *sock,
                             const pscom_plugin_t **out);
/** The enabled plugin called name usable on sock, or NULL (reason set). */
const pscom_plugin_t *pscom_plugins_find(struct pscom_sock *sock,
                                         const char *name, char *reason);
/** Priority of tcp (PSP_TCP). */
unsigned int pscom_plugins_tcp_priority(void);
/** Print every transport with why it is (not) usable. */
void pscom_plugins_dump(FILE *out);
/** Call destroy() of the initialised plugins (at exit). */
void pscom_plugins_destroy(void);

/* ---- rma.c --------------------------------------------------------------- */
/** The internal request that takes an RMA_WRITE or RMA_READ message on
 * the passive side (freed when done), or NULL (out of memory). */
struct pscom_req *pscom_rma_passive_req(struct pscom_con *con,
                                        const pscom_header_net_t *h);

/* ---- group.c ------------------------------------------------------------- */
void pscom_groups_close_sock(struct pscom_sock *sock);

/** CLOCK_MONOTONIC in milliseconds. */
static inline uint64_t pscom_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- debug.c ------------------------------------------------------------- */
#define DPRINT(level, ...) pscom_debug((level), __VA_ARGS__)
/** Open PSP_DEBUG_OUT (after the env table is loaded). */
void pscom_debug_init(void);

/** State of one rate-limited message source (zero-initialised): a token
 * bucket of PSCOM_RATELIMIT_BURST lines refilled by one per second.
 * Messages a remote peer can trigger at will (a hostile client at the
 * listening socket) go through one, so that they cannot flood the log. */
struct pscom_ratelimit {
    uint64_t last_ms; /* last refill, CLOCK_MONOTONIC */
    unsigned int tokens;
    unsigned int suppressed; /* dropped since the last printed line */
    int started;
};
#define PSCOM_RATELIMIT_BURST 20u

/** DPRINT through rl: printed while rl has tokens; the first line after
 * dropped ones says how many were dropped. */
void pscom_debug_rl(struct pscom_ratelimit *rl, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- str.c --------------------------------------------------------------- */
/** "a.b.c.d" of a node id into buf[16]. */
void pscom_inet_str(char *buf, size_t size, int nodeid);

#endif /* PSCOM_PRIV_H_ */
