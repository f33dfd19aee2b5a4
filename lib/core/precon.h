/*
 * precon.h -- private to the precon*.c files: the connection set-up over
 * TCP ("precon"), its wire format and the state of one hand-shake. The
 * rest of lib/core sees only the pscom_precon_* calls of pscom_priv.h and
 * suspend.h.
 *
 * The files, one job each:
 *   precon.c            life cycle, the event step, dispatch to one
 *                       handler per frame type, the one failure path,
 *                       accepting, timers (hand-shake deadlines)
 *   precon_frame.c      frame I/O: queue, flush, exact reads, epoll events
 *   precon_connect.c    the connector's TCP connect and its retries
 *   precon_negotiate.c  transport negotiation with the plugins:
 *                       OFFER/ACCEPT/REFUSE/ABORT/GO, else TCP
 *   precon_match.c      the HELLO: on-demand, back-connect and resume
 *                       matching, parking until the application is ready
 *
 * The protocol: both sides send HELLO (the acceptor once it knows the
 * connection; a back-connect request gets only a close). The connector
 * then OFFERs its candidate transports one at a time; the acceptor
 * answers ACCEPT or REFUSE; after an ACCEPT the connector sends GO
 * (agreed) or ABORT (its finish failed: next offer). TCP says "no
 * plugin, stay on this socket". Whatever follows the last frame belongs
 * to the transport.
 */
#ifndef PSCOM_PRECON_H_
#define PSCOM_PRECON_H_

#include <stddef.h>
#include <stdint.h>

#include "pscom_priv.h"

#define PRECON_MAGIC 0x5043u /* "PC" */
#define PRECON_VERSION 1u

/* Hand-shake frame types (wire values). */
enum precon_frame_type {
    PRECON_FRAME_HELLO = 1,
    PRECON_FRAME_OFFER = 2,
    PRECON_FRAME_ACCEPT = 3,
    PRECON_FRAME_REFUSE = 4,
    PRECON_FRAME_ABORT = 5,
    PRECON_FRAME_GO = 6,
    PRECON_FRAME_TCP = 7,
    PRECON_FRAME_TYPES /* one past the last */
};

struct precon_frame {
    uint16_t magic;
    uint16_t type;
    uint32_t len;
};

struct precon_hello {
    uint32_t version;
    uint32_t flags;
    int32_t node_id;
    int32_t pid;
    uint64_t id;
    char name[8];
    int32_t listen_port;
    uint32_t pad;
};

struct precon_offer {
    char name[PSCOM_PLUGIN_NAME_MAX + 1];
    char blob[PSCOM_PLUGIN_BLOB_MAX];
};

#define PRECON_PAYLOAD_MAX (sizeof(struct precon_offer))
_Static_assert(PSCOM_PLUGIN_REASON_MAX <= PRECON_PAYLOAD_MAX, "reason fits");

enum precon_state {
    PRE_CONNECTING, /* TCP connect in progress */
    PRE_RETRY,      /* waiting to retry a refused connect */
    PRE_HANDSHAKE,
    PRE_PARKED, /* acceptor: on-demand peer, no connection yet */
};

struct pscom_precon {
    struct list_head next;  /* sock->precons or retry list */
    struct list_head timed; /* timed_list while its deadline runs */
    uint64_t deadline_ms;
    int counted;         /* in sock->handshakes */
    unsigned int frames; /* frames received and handled */
    struct pscom_sock *sock;
    struct pscom_con *con;
    int fd;
    pscom_ufd_t ufd;
    int connector;
    unsigned int flags;
    enum precon_state state;
    int got_hello;
    struct precon_hello remote;
    /* receive: one frame at a time, exact reads so that nothing after
     * the hand-shake is consumed */
    struct precon_frame rxh;
    size_t rx_have;
    char rx_payload[PRECON_PAYLOAD_MAX];
    /* send */
    char tx[2 * (sizeof(struct precon_frame) + PRECON_PAYLOAD_MAX)];
    size_t tx_len;
    size_t tx_off;
    /* negotiation */
    const pscom_plugin_t *cands[PSCOM_PLUGINS_MAX + 1];
    int ncands;
    int cand;
    const pscom_plugin_t *trying; /* offered / accepted, awaiting answer */
    const pscom_plugin_t *chosen; /* agreed: start once tx is flushed */
    /* connect */
    int nodeid;
    int portno;
    int retries;
    uint64_t retry_at_ms;
};

/* Anyone who can reach the port can make the acceptor talk: its messages
 * are rate limited. */
extern struct pscom_ratelimit pscom_precon_rl;

#define PRE_DPRINT(pre, level, ...)                                            \
    do {                                                                       \
        if ((pre)->connector) {                                                \
            DPRINT((level), __VA_ARGS__);                                      \
        } else {                                                               \
            pscom_debug_rl(&pscom_precon_rl, (level), __VA_ARGS__);            \
        }                                                                      \
    } while (0)

/* Frame handlers: 0 handled, 1 pre was freed, -1 protocol error (the
 * caller fails the hand-shake). pre has its HELLO and connection unless
 * the handler is the HELLO's. */
typedef int pscom_precon_handler_t(struct pscom_precon *pre, size_t len);

/* ---- precon.c ---- */
struct pscom_precon *pscom_precon_new(struct pscom_sock *sock, int fd,
                                      int connector);
/** An accepted pre starts (or, unparked, resumes) its hand-shake. */
void pscom_precon_handshake_begin(struct pscom_precon *pre);
/** pre leaves the hand-shake: parked, finished or destroyed. */
void pscom_precon_handshake_end(struct pscom_precon *pre);
/** The one failure path: log, destroy pre, fail (or retry) its con. */
void pscom_precon_fail(struct pscom_precon *pre, pscom_op_t op, pscom_err_t err,
                       const char *why);
/** Handle revents of pre; 1 if pre may be gone (freed or retrying). */
int pscom_precon_step(struct pscom_precon *pre, uint32_t revents);
/** "ip/pid(name)" of the peer, for messages (per thread buffer). */
const char *pscom_precon_peer_str(struct pscom_precon *pre);

/* ---- precon_frame.c ---- */
void pscom_precon_queue_frame(struct pscom_precon *pre, uint16_t type,
                              const void *payload, size_t len);
void pscom_precon_queue_hello(struct pscom_precon *pre);
/** 0 when everything queued is out, 1 if some is left, negative errno. */
int pscom_precon_flush(struct pscom_precon *pre);
/** 1: one frame complete, 0: need more, negative: error or EOF. */
int pscom_precon_read_frame(struct pscom_precon *pre);
void pscom_precon_update_events(struct pscom_precon *pre);

/* ---- precon_connect.c ---- */
/** The connect of pre completed (or failed): 1 if pre was freed or moved
 * to the retry list. */
int pscom_precon_connect_result(struct pscom_precon *pre);
/** Start the due connect retries; ms until the next one, or -1. */
int pscom_precon_run_retries(uint64_t now);
/** 1 while some connect waits for its retry. */
int pscom_precon_retrying(void);

/* ---- precon_negotiate.c ---- */
/** The connector's socket is connected: HELLO, and maybe the first
 * offer. 1 if pre was freed. */
int pscom_precon_connector_connected(struct pscom_precon *pre);
/** Offer the candidates from the first. 1 if pre was freed. */
int pscom_precon_offer_first(struct pscom_precon *pre);
/** Abort the transport pre offered or accepted and forget it. */
void pscom_precon_drop_trying(struct pscom_precon *pre);
pscom_precon_handler_t pscom_precon_on_offer;
pscom_precon_handler_t pscom_precon_on_accept;
pscom_precon_handler_t pscom_precon_on_refuse;
pscom_precon_handler_t pscom_precon_on_abort;
pscom_precon_handler_t pscom_precon_on_go;
pscom_precon_handler_t pscom_precon_on_tcp;

/* ---- precon_match.c ---- */
pscom_precon_handler_t pscom_precon_on_hello;
/** Forget the remembered back-connect requests of sock. */
void pscom_precon_od_requests_drop(struct pscom_sock *sock);

#endif /* PSCOM_PRECON_H_ */
