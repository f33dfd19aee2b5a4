/*
 * battery.h -- the transport test battery (see battery.c for how it runs).
 *
 * Every transport must pass the same cases. A "pair case" runs on both
 * ends of one connection at once: each side first posts what it sends,
 * then receives what the peer sent, so the same code works between two
 * processes (server and client) and on a LOOP connection, where the peer
 * is the connection itself. "Forked cases" need their own processes
 * (refused connect, on-demand, ANY-source, killed peer, close, cancel of
 * a queued send, THREAD_MULTIPLE) and run only in the forking mode.
 */
#ifndef TEST_BATTERY_H_
#define TEST_BATTERY_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The request's user area: what a recv_accept() wants. */
struct PSCOM_req_user {
    uint32_t want_tag;
    uint32_t want_seq;
    int any_seq;
};

#include "pscom.h"

/** Every battery message starts its xheader with this. */
struct bt_xh {
    uint32_t tag;
    uint32_t seq;
    uint32_t side; /* which end sent it: BT_SERVER / BT_CLIENT / BT_LOOP */
    uint32_t aux;
};

enum bt_role { BT_SERVER = 0, BT_CLIENT = 1, BT_LOOP = 2 };

/** State of one end while it runs the pair cases. */
struct bt_ctx {
    enum bt_role role;
    pscom_socket_t *sock;
    pscom_connection_t *con;
    const char *expect; /* expected pscom_con_type_str(), or NULL */
    char why[512];      /* reason of the last failure */
};

/** A pair case: returns 0 when it passed, -1 with c->why set. */
struct bt_pair_case {
    const char *name;
    int (*run)(struct bt_ctx *c);
};

extern const struct bt_pair_case bt_pair_cases[];
extern const int bt_npair_cases;

/** A forked case: prints its own TAP lines (nsides of them) through
 * bt_report(). */
struct bt_forked_case {
    const char *name;
    int nlines;
    void (*run)(const char *expect);
};

extern const struct bt_forked_case bt_forked_cases[];
extern const int bt_nforked_cases;

/** The pair case "RMA write and read" (battery_rma.c). */
int bt_case_rma(struct bt_ctx *c);

/** The forked case "wait-any" (battery_spin.c). */
void bt_case_wait_any(const char *expect);

/** The connection type the forked cases expect (NULL: any). */
void bt_forked_set_expect(const char *expect);

/* ---- helpers (battery_util.c) ----------------------------------------- */

/** Record a failure reason in c->why; returns -1. */
int bt_fail(struct bt_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Seconds a case may take before its process is killed (BT_TIMEOUT). */
unsigned bt_timeout(void);

/** The side whose messages this end receives (itself on a loop). */
enum bt_role bt_peer_side(const struct bt_ctx *c);

/** Pattern seed of a message: depends on tag, sequence and sender. */
uint32_t bt_seed(uint32_t tag, uint32_t seq, enum bt_role side);

/** recv_accept: the request's user->want_tag (and want_seq unless
 * any_seq) must match the message's bt_xh. */
int bt_accept_tag(pscom_request_t *req, pscom_connection_t *con,
                  pscom_header_net_t *hdr);

/** A receive request as bt_post_recv() makes, not yet posted (to change
 * its ops before pscom may call them). */
pscom_request_t *bt_recv_req(struct bt_ctx *c, uint32_t tag, uint32_t seq,
                             int any_seq, void *buf, size_t len);

/** Post a receive on c->con (any connection of c->sock when c->con is
 * NULL) for tag, and seq unless any_seq, into len bytes of buf. */
pscom_request_t *bt_post_recv(struct bt_ctx *c, uint32_t tag, uint32_t seq,
                              int any_seq, void *buf, size_t len);

/** Post a send of a bt_xh {tag, seq, side} and len bytes of buf; the
 * request must be waited for and freed by the caller. */
pscom_request_t *bt_post_send(struct bt_ctx *c, uint32_t tag, uint32_t seq,
                              const void *buf, size_t len);

/** Wait for req; 0 when it completed successfully, else -1 with why. */
int bt_wait_ok(struct bt_ctx *c, pscom_request_t *req, const char *what);

/** Check a received message: successful, header tag/seq/side, data_len
 * and the pattern of the sender. 0 or -1 with why. */
int bt_check_msg(struct bt_ctx *c, pscom_request_t *req, uint32_t tag,
                 uint32_t seq, size_t len);

/** End of an exchange: unless rc is already -1, check the received
 * message r (as bt_check_msg()) and the send s; then wait for and free
 * both. Returns the resulting rc. */
int bt_finish(struct bt_ctx *c, int rc, pscom_request_t *r, pscom_request_t *s,
              uint32_t tag, uint32_t seq, size_t len);

/** Exchange an end-of-case marker with the peer so both ends start the
 * next case together. 0 or -1 with why. */
int bt_sync(struct bt_ctx *c, uint32_t case_no);

/** con_error() bookkeeping for the sockets of this process. */
struct bt_errors {
    int count;
    pscom_op_t op;
    pscom_err_t err;
};
extern struct bt_errors bt_errors;

/** The sockets' con_error(): counts calls, keeps the last op and error. */
void bt_con_error(pscom_connection_t *con, pscom_op_t op, pscom_err_t err);

/** con_accept() bookkeeping: the last accepted connection. */
extern pscom_connection_t *bt_accepted;

/** The sockets' con_accept(): records the connection in bt_accepted. */
void bt_con_accept(pscom_connection_t *con);

/** Open a socket with the bookkeeping callbacks; listen on any port when
 * listen is set. NULL (after a message on stderr) on failure. */
pscom_socket_t *bt_open_socket(int listen, const char *name);

/** Wait (progressing pscom) until bt_accepted is set. */
void bt_wait_accept(void);

/* ---- forked processes ------------------------------------------------- */

/** A child process running fn(arg); its stdout and stderr go to a
 * temporary file that becomes TAP diagnostics. */
struct bt_child {
    pid_t pid;
    FILE *out;
};

/** Start a child. It gets an alarm of bt_timeout() seconds and exits with
 * fn's return value. */
void bt_spawn(struct bt_child *ch, int (*fn)(void *arg), void *arg);

/** Wait for the child; returns its exit status (0..255), or 128+signal
 * (noted as a diagnostic). ch->out stays open for the caller. */
int bt_wait_child(struct bt_child *ch);

/** Wait for the child; returns its exit status (0..255), or 128+signal.
 * Copies its output into TAP diagnostics when verbose or it failed. */
int bt_reap(struct bt_child *ch, int show_output);

/** A pipe carrying one line (a socket address) between children. */
struct bt_line_pipe {
    int fd[2];
};

/** Create the pipe (before bt_spawn(), so that children inherit it). */
void bt_line_pipe_open(struct bt_line_pipe *p);

/** Write line and newline to the pipe. */
void bt_line_send(struct bt_line_pipe *p, const char *line);
/** Read one line (without newline) into buf; -1 on EOF. */
int bt_line_recv(struct bt_line_pipe *p, char *buf, size_t len);

/** Close both ends (the parent, once the children have theirs). */
void bt_line_pipe_close(struct bt_line_pipe *p);

#endif /* TEST_BATTERY_H_ */
