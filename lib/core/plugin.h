/*
 * plugin.h -- the transport contract of libpscom.
 *
 * Every transport implements one struct pscom_plugin: the built-ins (loop,
 * tcp, shm) and the plugins loaded with dlopen() alike. A loaded
 * plugin libpscom4<name>.so exports one symbol, `pscom_plugin_<name>`, of
 * type pscom_plugin_t. A plugin uses only the functions declared here and
 * the helper libraries libpscom exports for it (lib/shmseg's shmseg.h and
 * shmseg_discover.h, lib/ring's ring.h: one copy in the process, whose log
 * sink libpscom sets); it never reaches into other core internals.
 *
 * Division of labour
 * ------------------
 * The core owns message framing (8-byte pscom_header_net_t, xheader, data),
 * matching, the request queues and all copies into user buffers. A
 * transport only moves bytes of one connection in order, as a stream.
 *
 * Connection set-up ("precon")
 * ----------------------------
 * Every connection starts as a TCP connection. Over it the core runs a
 * short handshake: the connecting side walks its enabled plugins, highest
 * priority first (PSP_<NAME> sets the priority, 0 disables; the socket's
 * con-type mask filters), and for each asks offer() for a blob which it
 * sends as OFFER(name, blob). The accepting side, if it has that plugin
 * enabled and unmasked, asks accept() and answers ACCEPT(reply blob) or
 * REFUSE(reason). On ACCEPT the connecting side calls finish(); if that
 * fails it sends ABORT and both sides call abort(); on success it sends GO
 * and both sides call start(). After a refusal the next candidate is tried;
 * the end of the list is always tcp over the same socket. Blobs are at most
 * PSCOM_PLUGIN_BLOB_MAX bytes; reasons at most PSCOM_PLUGIN_REASON_MAX.
 * Every refusal is logged with its reason at PSP_DEBUG >= 2 on both sides.
 *
 * The TCP socket of a connection whose data travels elsewhere stays open as
 * the control channel: the peer's death shows up there as EOF and reaches
 * con_error() for memory transports too (unless the plugin sets
 * PSCOM_PLUGIN_F_OWNS_FD and carries its data over that socket itself, in
 * which case it must report EOF with pscom_con_error()). A later suspend
 * protocol uses this channel as well.
 *
 * Locking
 * -------
 * Every operation is called with the core's process-wide lock held (it is
 * a real lock only under PSCOM_THREAD_MULTIPLE) and must not block: no
 * sleeps, no blocking syscalls. The core calls the operations of one
 * connection from one thread at a time. Functions in the "core services"
 * section must only be called from inside an operation or a callback the
 * core invoked (so with the lock held).
 */
#ifndef PSCOM_PLUGIN_H_
#define PSCOM_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pscom.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this contract; a plugin built for another one is refused. */
#define PSCOM_PLUGIN_VERSION 0x0105

/** Largest OFFER/ACCEPT blob in bytes. */
#define PSCOM_PLUGIN_BLOB_MAX 1024

/** Size of the reason buffers handed to the operations (incl. NUL). */
#define PSCOM_PLUGIN_REASON_MAX 160

/** Longest plugin name (without NUL). */
#define PSCOM_PLUGIN_NAME_MAX 15

/** The plugin carries its data over the control socket itself: the core
 * does not watch it and the plugin reports EOF with pscom_con_error(). */
#define PSCOM_PLUGIN_F_OWNS_FD 0x1

/** Private con type of the test-only plugin in test/core: it reuses
 * the otherwise unused VELO value, so pscom_con_type_str() says "velo". */
#define PSCOM_CON_TYPE_TESTPLUG PSCOM_CON_TYPE_VELO

/** A connection as a transport sees it (opaque). */
typedef struct pscom_con pscom_con_t;

/** Kinds of environment variables in the core's table. */
typedef enum pscom_env_type {
    PSCOM_ENV_INT,  /**< int, decimal or 0x hex */
    PSCOM_ENV_UINT, /**< unsigned int; suffixes k, M, G */
    PSCOM_ENV_STR,  /**< string; the value points into the environment or
                         the default and is never freed */
    PSCOM_ENV_DIR,  /**< string that always ends in '/' (malloc'd) */
} pscom_env_type_t;

/** One row of the PSP_* table; a plugin may register its own rows. */
typedef struct pscom_env_row {
    const char *name; /**< "PSP_..." */
    pscom_env_type_t type;
    const char *defval; /**< default, as it would be written in the env */
    const char *help;   /**< one line, truthful */
    void *value;        /**< int *, unsigned *, or char ** */
} pscom_env_row_t;

/** The transport contract. Unused operations may be NULL where noted. */
typedef struct pscom_plugin {
    /** PSCOM_PLUGIN_VERSION the plugin was built against. */
    unsigned int version;
    /** Lower-case name: "tcp", "ivshmem", ...; PSP_<NAME> is its priority
     * variable and libpscom4<name>.so its file. */
    const char *name;
    /** The type connections using it get. */
    pscom_con_type_t con_type;
    /** Priority unless PSP_<NAME> says otherwise; higher goes first. */
    unsigned int default_priority;
    /** PSCOM_PLUGIN_F_* */
    unsigned int flags;
    /** Optional rows (count in env_rows_count) the core adds to its table
     * before init(); the core writes the values before init() runs. The
     * array must live as long as the plugin is loaded. */
    const pscom_env_row_t *env_rows;
    unsigned int env_rows_count;

    /** Once, when loaded. Return 0 to be usable, or a negative value and
     * a reason in reason[PSCOM_PLUGIN_REASON_MAX] (shown by pscom_info
     * and at PSP_DEBUG >= 2). Must not block for long. May be NULL. */
    int (*init)(char *reason);
    /** Once, at process exit, only if init() succeeded. May be NULL. */
    void (*destroy)(void);

    /* ---- handshake (all may be NULL for built-ins without one) ------- */

    /** Connecting side: fill blob (capacity PSCOM_PLUGIN_BLOB_MAX, owned
     * by the core) and *blob_len. Return 0, or negative with a reason to
     * skip this plugin for this connection. Per-connection state the
     * plugin allocates is stored with pscom_con_set_priv() and must be
     * freed by abort() or close(). */
    int (*offer)(pscom_con_t *con, void *blob, size_t *blob_len, char *reason);
    /** Accepting side: the peer's offer (read-only, valid during the call
     * only, size already checked against PSCOM_PLUGIN_BLOB_MAX); write the
     * reply into reply and *reply_len as for offer(). Return 0 to accept or
     * negative with a reason to refuse (the plugin then holds nothing for
     * this connection). */
    int (*accept)(pscom_con_t *con, const void *offer, size_t offer_len,
                  void *reply, size_t *reply_len, char *reason);
    /** Connecting side: the peer's reply (read-only, valid during the
     * call). Return 0 to agree, or negative with a reason; the core then
     * calls abort() on both sides. */
    int (*finish)(pscom_con_t *con, const void *reply, size_t reply_len,
                  char *reason);
    /** Either side: negotiation for this connection ended without using
     * the plugin after offer()/accept() succeeded: free what they
     * allocated. Never fails. */
    void (*abort)(pscom_con_t *con);

    /* ---- data path --------------------------------------------------- */

    /** Both sides after agreement: make the connection carry data. From
     * now on the transport pulls sends with pscom_con_write_get_iov() /
     * pscom_con_write_done() and delivers bytes with
     * pscom_con_read_get_buf()/pscom_con_read_done() (streams) or
     * pscom_con_read_feed() (memory). Return 0, or a negative value (the
     * connection then fails with con_error(PSCOM_OP_CONNECT)). */
    int (*start)(pscom_con_t *con);
    /** The core queued sends on an idle connection: start pulling. The
     * transport may write at once (it should: latency). */
    void (*write_start)(pscom_con_t *con);
    /** Nothing left to send; stop asking. May be NULL. */
    void (*write_stop)(pscom_con_t *con);
    /** Since 0x0104 (0x0105: the message's three parts), may be NULL.
     * The core has one whole message -- the 8-byte header h, then
     * h->xheader_len bytes at xheader, then h->data_len bytes at data --
     * and nothing queued before it, on an established connection with no
     * suspend under way (pscom_send_try()): write all of it now, or none.
     * Return 1 (written: the memory may be reused at once) or 0 (nothing
     * written: the core queues the message as usual). A transport that
     * fails here returns 0 and lets the queued path find the error. Must
     * not call back into the core (no write_done, no completions). */
    int (*write_now)(pscom_con_t *con, const pscom_header_net_t *h,
                     const void *xheader, const void *data);
    /** Stop delivering received bytes until read_start() (flow control:
     * the data should stay where it is, e.g. in the kernel). May be NULL:
     * then the transport goes on feeding and the core keeps what comes
     * (pscom_con_read_feed() always consumes everything). */
    void (*read_stop)(pscom_con_t *con);
    /** Resume delivery after read_stop(). May be NULL. */
    void (*read_start)(pscom_con_t *con);
    /** Free every transport resource of the connection. Called once after
     * start() succeeded, on graceful close (after the core wrote its EOF
     * message through the transport) and on error paths alike. The core
     * closes the control socket itself unless the plugin set
     * PSCOM_PLUGIN_F_OWNS_FD (then the plugin closes it). */
    void (*close)(pscom_con_t *con);

    /* ---- suspend/resume (since 0x0102) -------------------------------- */

    /** Before a process-wide resume (after a live migration, say): drop
     * whatever the plugin cached about its device (an attached segment,
     * a uio mapping) and look again, so that the next offer()/accept()
     * sees the device as it is now -- gone, the same, or another segment.
     * Usually every connection of the plugin is closed (suspended) at
     * this point and a new handshake creates the new transport. But a
     * suspend that did not drain in time (a stopped peer) leaves
     * connections running, and so may a hand-shake in progress: whatever
     * they use (the mapping their rings live in) must stay valid until
     * their close() or abort(); drop it then. Must not block for long.
     * May be NULL (nothing cached). Suspending needs no operation of its
     * own: the core drains the connection through the transport (a
     * SUSPEND message each way), then calls close(). */
    void (*reprobe)(void);
} pscom_plugin_t;

/* ---- core services for transports ---------------------------------------- */

/** The public view of a connection (for its type, socket, remote info). */
pscom_connection_t *pscom_con_pub(pscom_con_t *con);

/** Per-connection transport state. */
void pscom_con_set_priv(pscom_con_t *con, void *priv);
void *pscom_con_get_priv(pscom_con_t *con);

/** The TCP socket of the connection (control channel), or -1 (loop). */
int pscom_con_get_fd(pscom_con_t *con);

/** Send side: describe the unsent rest of the current message. iov[0] is
 * the remaining header+xheader, iov[1] the remaining data (either may be
 * empty). Returns the number of bytes described, 0 if nothing is queued.
 * The memory belongs to the request; it stays valid until the transport
 * reports it written with pscom_con_write_done(). */
size_t pscom_con_write_get_iov(pscom_con_t *con, struct iovec iov[2]);

/** Send side: len bytes of what pscom_con_write_get_iov() described were
 * written (len may be less than described). Completes requests. */
void pscom_con_write_done(pscom_con_t *con, size_t len);

/** Receive side, stream style: where the next bytes must land. *buf is
 * core memory (a header staging area, the matched user buffer or the
 * unexpected-message buffer); at most *len bytes may be written there.
 * *len is 0 only while the core holds a message back (flow control with
 * PSP_UNEXPECTED_RECEIVES=0): it has called read_stop() then, and calls
 * read_start() when it wants bytes again. */
void pscom_con_read_get_buf(pscom_con_t *con, void **buf, size_t *len);

/** Receive side, stream style: len bytes were written into the buffer the
 * last pscom_con_read_get_buf() returned. May run the parser, matching and
 * complete requests; may close the connection (then it returns and the
 * transport must not touch con again in this callback if the connection's
 * state has PSCOM_CON_STATE_CLOSED). */
void pscom_con_read_done(pscom_con_t *con, size_t len);

/** Receive side, memory style: len bytes at data (transport memory,
 * read-only, only read during the call) are the next bytes of the stream.
 * The core consumes all of them, copying straight into the posted receive
 * buffer when one matches. Same closing rule as pscom_con_read_done(). */
void pscom_con_read_feed(pscom_con_t *con, const void *data, size_t len);

/** The transport found EOF (err PSCOM_ERR_EOF) or an error on the
 * connection: fails its requests, calls the socket's con_error() and
 * closes the transport (close() is called). */
void pscom_con_error(pscom_con_t *con, pscom_op_t op, pscom_err_t err);

/** A file descriptor the progress engine watches (epoll). */
typedef struct pscom_ufd {
    int fd;
    uint32_t events; /**< EPOLLIN / EPOLLOUT */
    /** Called with the lock held when fd is ready; may remove the ufd. */
    void (*cb)(struct pscom_ufd *ufd, uint32_t revents);
    void *priv;
    int registered; /**< core internal */
} pscom_ufd_t;

/** Register/modify/remove a ufd. Return 0 or a negative errno value. */
int pscom_ufd_add(pscom_ufd_t *ufd);
int pscom_ufd_mod(pscom_ufd_t *ufd, uint32_t events);
void pscom_ufd_del(pscom_ufd_t *ufd);

/** A function called from every progress step while started (rings: no
 * syscall on the fast path). While any poller is started, blocking waits
 * busy-poll instead of sleeping -- unless every started poller can arm a
 * doorbell (since 0x0103): after PSP_SPIN_US without progress a blocking
 * wait arms them all and sleeps in epoll, where a file descriptor the
 * transport registered (an eventfd, a uio device) wakes it; then it
 * disarms them all and polls again. */
typedef struct pscom_poller {
    /** Return 1 if it made progress. Called with the lock held. */
    int (*poll)(struct pscom_poller *poller);
    /** May be NULL (never sleep while this poller runs). Announce that
     * we are about to sleep and look once more: 0 armed (nothing to do;
     * whatever arrives now wakes a ufd of ours), 1 something to do (not
     * armed), -1 cannot sleep now (not armed). */
    int (*arm)(struct pscom_poller *poller);
    /** After the sleep, for every poller whose arm() returned 0. */
    void (*disarm)(struct pscom_poller *poller);
    void *priv;
    int active;                         /**< core internal */
    struct pscom_poller *next_, *prev_; /**< core internal */
} pscom_poller_t;

void pscom_poller_start(pscom_poller_t *poller);
void pscom_poller_stop(pscom_poller_t *poller);

/** Print a message when PSP_DEBUG >= level (to PSP_DEBUG_OUT or stderr). */
void pscom_debug(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** The current PSP_DEBUG level. */
int pscom_debug_level(void);

#ifdef __cplusplus
}
#endif

#endif /* PSCOM_PLUGIN_H_ */
