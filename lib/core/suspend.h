/*
 * suspend.h -- suspend and resume of connections (private to lib/core).
 *
 * Protocol (both directions are drained through the connection itself):
 *  1. A side that suspends queues a SUSPEND message behind everything it
 *     has queued; sends posted later stay in the send queue, behind it,
 *     and the transport is not asked to write them (the queue is
 *     "blocked" once SUSPEND is written).
 *  2. A side that receives SUSPEND has received every byte the peer sent
 *     before it. If it was not suspending, it starts now (a peer that is
 *     not migrating is suspended passively) and queues its own SUSPEND.
 *     Both sides suspending at once is the same exchange.
 *  3. A side whose SUSPEND is written and who received the peer's SUSPEND
 *     shuts down the write side of the TCP socket of the connection (the
 *     data socket of tcp, the control socket of memory transports): "I
 *     have read everything of yours and will write nothing more".
 *  4. When it has also seen the peer's end-of-file on that socket, the
 *     peer needs nothing of it any more: it closes the transport (which
 *     frees shared frames) and the socket. The connection is SUSPENDED,
 *     type "suspended"; receives stay posted; sends queue up.
 *
 * Resume: the side that originally connected connects again, from
 * scratch, to the peer's listen address (no TCP connection survives a
 * suspend: a migrating VM's connections may not survive the move), with
 * the hand-shake flag PRECON_F_RESUME; the acceptor finds the suspended
 * connection by the peer's pid and connection id and runs the normal
 * transport negotiation, so the new transport is whatever fits now
 * (ivshmem when co-located again, else shm or tcp). The queued sends then
 * go out in order. While the acceptor itself is still suspended (or not
 * yet closed), the hand-shake is parked until it resumes. A failed
 * reconnect is retried (10 ms doubling up to 1 s) for PSP_RESUME_TIMEOUT
 * ms; then the connection fails (con_error, its requests fail). An
 * acceptor that was suspended and resumed itself waits as long for the
 * peer's reconnect; one only the peer suspended waits without limit.
 */
#ifndef PSCOM_SUSPEND_H_
#define PSCOM_SUSPEND_H_

#include <stdint.h>

#include "plugin.h"

struct pscom_con;
struct pscom_precon;
struct pscom_req;
struct pscom_sock;

/** Per-connection suspend state (struct pscom_con.susp). */
struct pscom_con_susp {
    unsigned int local : 1;        /* this process wants it suspended */
    unsigned int by_proc : 1;      /* ... through the process-wide suspend */
    unsigned int active : 1;       /* protocol running or suspended */
    unsigned int tx_done : 1;      /* our SUSPEND is written: write nothing */
    unsigned int rx_done : 1;      /* the peer's SUSPEND was parsed */
    unsigned int wr_shut : 1;      /* we shut down our write side */
    unsigned int peer_eof : 1;     /* the peer shut down its write side */
    unsigned int closed : 1;       /* transport closed: SUSPENDED */
    unsigned int connector : 1;    /* we connected originally: we reconnect */
    unsigned int pending : 1;      /* on the work list of the progress step */
    unsigned int resuming : 1;     /* process-wide resume waits for it */
    unsigned int resumed_here : 1; /* suspended and resumed by us: the
                                    * peer gets PSP_RESUME_TIMEOUT */
    struct pscom_req *req;         /* our SUSPEND message until written */
    unsigned int retry_ms;         /* next reconnect delay */
    uint64_t fail_since_ms;        /* first failed reconnect in a row;
                                 * acceptor: since it awaits the peer */
    uint64_t retry_at_ms;          /* 0: no reconnect scheduled */
    /* Memory transports: watches the control socket for the peer's
     * step 3 (the core's guard watch is not always there). */
    pscom_ufd_t eof_ufd;
};

/* ---- hooks the rest of the core calls ------------------------------------ */

/** A new connection object (zeroed state). */
void pscom_susp_con_init(struct pscom_con *con);

/* pscom_susp_tx_blocked(con) and pscom_susp_tx_done(con, req) are inline
 * in pscom_priv.h (they run for every message):
 * tx_blocked: pscom_con_write_get_iov(): 1 if the transport must not
 *     write (our SUSPEND is out);
 * tx_done: pscom_con_write_done(): req was written completely; if it was
 *     our SUSPEND, pscom_susp_tx_end() takes the protocol's next step. */
void pscom_susp_tx_end(struct pscom_con *con);

/** The parser found a SUSPEND message (the rx state is reset already). */
void pscom_susp_rx(struct pscom_con *con);

/** pscom_con_fail() with PSCOM_ERR_EOF: 1 if the end-of-file is the
 * peer's step 3 of the protocol (then nothing fails). */
int pscom_susp_eof(struct pscom_con *con);

/** The hand-shake agreed, just before pscom_con_established(): clear the
 * state of a resumed connection. connector: we started the hand-shake. */
void pscom_susp_reset(struct pscom_con *con, int connector);

/** Just after pscom_con_established(): start suspending at once if this
 * process is suspended (or con was asked to while being set up). */
void pscom_susp_established(struct pscom_con *con);

/** A resume hand-shake of con failed: 1 if a retry was scheduled (the
 * connection stays suspended), 0 when the caller must fail con: the
 * peer refused our reconnects for PSP_RESUME_TIMEOUT ms. */
int pscom_susp_precon_failed(struct pscom_con *con);

/** The suspended connection of sock a resume hand-shake from (pid, id)
 * is for, or NULL. *ready is 1 when it can take the hand-shake now, 0 when
 * the hand-shake must be parked until pscom_precon_resume_check(). */
struct pscom_con *pscom_susp_find(struct pscom_sock *sock, int32_t pid,
                                  uint64_t id, int *ready);

/** End of a progress step and timers: close transports of connections
 * whose protocol finished, start due reconnects. Returns the ms until
 * the next reconnect, or -1. Call it through pscom_susp_due(). */
int pscom_susp_run(void);

/** Connections with a step for pscom_susp_run(), and armed reconnect
 * timers (lock held). */
extern unsigned int pscom_susp_pending;
extern unsigned int pscom_susp_timers;

/** pscom_susp_run() if there is anything for it, else -1: the progress
 * engine's fast path costs two loads, not a call. */
static inline int pscom_susp_due(void)
{
    return (pscom_susp_pending | pscom_susp_timers) ? pscom_susp_run() : -1;
}

/* ---- connection level ------------------------------------------------------ */

/** Start suspending con (lock held). Returns 0, or a pscom_err_t. */
int pscom_susp_con_suspend(struct pscom_con *con, int by_proc);

/** Resume con (lock held): reconnect (connector) or accept the peer's
 * reconnect. Returns 0 or a pscom_err_t. */
int pscom_susp_con_resume(struct pscom_con *con);

/** 1 if con is suspended or on its way (any protocol step). */
int pscom_susp_con_busy(const struct pscom_con *con);

/* ---- process level (suspend_proc.c) -------------------------------------- */

/** After init: install PSP_SIGSUSPEND, start the worker thread and the
 * MQTT agent if asked to. */
void pscom_susp_proc_init(void);

/** At exit: stop the agent and the worker. */
void pscom_susp_proc_exit(void);

/** Non-zero while the suspend worker waits for the core's lock: a thread
 * busy-polling with the lock held (memory transports) lets go then. */
extern unsigned int pscom_susp_lock_wanted;

/** Set (lock held) when the worker made progress on its own: requests
 * may have completed behind the application's back. */
extern unsigned int pscom_susp_bg_progress;

/** progress.c, lock held: 1 (and clears it) if the worker made progress
 * since and the caller is not the worker, so that a waiter re-checks its
 * requests instead of sleeping on a completion that already happened. */
int pscom_susp_take_bg_progress(void);

/** A connection changed state (for the status topic; lock held). */
void pscom_susp_proc_changed(void);

/** Process-wide commands. */
enum pscom_susp_cmd {
    PSCOM_SUSP_CMD_SUSPEND = 1,
    PSCOM_SUSP_CMD_RESUME = 2,
    PSCOM_SUSP_CMD_TOGGLE = 3,
};

/** Hand cmd to the worker thread (any thread, no lock needed; also from
 * the signal handler). from_mqtt: answer on the response topic. */
void pscom_susp_proc_post(enum pscom_susp_cmd cmd, int from_mqtt);

/** A connection over plugin p is suspended by the process-wide suspend
 * (it cannot migrate: not loop, not tcp unless PSP_SUSPEND_TCP=1). */
int pscom_susp_proc_wants(const pscom_plugin_t *p);

/** 1 while the process is suspended (new connections of a kind that
 * cannot migrate are suspended as soon as they are up). */
int pscom_susp_proc_suspended(void);

/* ---- plugins.c ------------------------------------------------------------ */

/** Before a process-wide resume: every loaded plugin with a reprobe()
 * drops what it cached about its device and looks again. */
void pscom_plugins_reprobe(void);

/* ---- precon*.c (precon.h) ----------------------------------------------- */

/** Hand-shake flag: reconnect of a suspended connection. */
#define PRECON_F_RESUME 0x4

/** con can take a parked resume hand-shake now: bind it. */
void pscom_precon_resume_check(struct pscom_con *con);

/** 1 once a hand-shake holds transport resources (a plugin offered or
 * accepted, or agreed): it must end before a suspend may answer ALLOWED
 * (those resources, e.g. rings in a segment, are about to go away). */
int pscom_precon_holds_transport(const struct pscom_precon *pre);

#endif /* PSCOM_SUSPEND_H_ */
