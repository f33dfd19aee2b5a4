/*
 * ivsrv.h -- the ivshmem host server as a library (main.c is a thin
 * wrapper that parses options, daemonises and handles signals; tests link
 * this library directly).
 *
 * The server owns one backing object (a POSIX shm object or a regular
 * file), optionally lays out the pscom segment in it (lib/shmseg), and
 * serves QEMU's ivshmem server protocol, version 0, on a unix socket:
 * every message is one little-endian int64, optionally with one file
 * descriptor in SCM_RIGHTS. On connect a client receives the protocol
 * version (0), its own id, then -1 with the shared memory fd; then every
 * other peer's id once per vector with that vector's eventfd, and finally
 * its own id with each of its own eventfds. Existing peers receive the
 * new peer's id with each of its eventfds. When a peer disconnects, every
 * other peer receives its id without a descriptor.
 */
#ifndef IVSRV_H
#define IVSRV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/** Most eventfd vectors per peer (QEMU's own server uses the same). */
#define IVSRV_MAX_VECTORS 64
/** Most peers served at once. */
#define IVSRV_MAX_PEERS 256

/** Layout to create in the backing object (-c). */
enum ivsrv_layout {
    IVSRV_LAYOUT_NONE = 0,  /**< plain shared memory, untouched */
    IVSRV_LAYOUT_PSCOM = 1, /**< lib/shmseg segment (-c pscom or
                                 -c migration-framework) */
};

/** Server configuration; zero values mean "default" where stated. */
struct ivsrv_config {
    const char *shm_name;    /**< POSIX shm object name (no '/') */
    const char *file;        /**< backing file instead of shm, or NULL */
    uint64_t size;           /**< bytes; 0 = keep existing / 1 MiB new */
    bool truncate;           /**< -t: resize to size and re-initialise */
    const char *socket_path; /**< unix socket to listen on */
    unsigned vectors;        /**< eventfds per peer, 1..IVSRV_MAX_VECTORS */
    enum ivsrv_layout layout;
    uint32_t frame_size; /**< 0 = SHMSEG_DEFAULT_FRAME_SIZE */
    bool group_access;   /**< 0660 and group gid instead of 0600 */
    gid_t gid;
    bool unlink_shm;     /**< remove the shm object at shutdown */
    unsigned period_ms;  /**< reclaim period, 0 = default */
    unsigned timeout_ms; /**< owner heartbeat timeout, 0 = default */
    int verbose;         /**< 1: log every message sent */
};

struct ivsrv;

/**
 * Open (or create) the backing object, check or lay out the segment, and
 * listen on the socket. Every failure is logged once to stderr with the
 * object or path and the reason: an uncreatable path, a second server on
 * the same object (flock) or socket, a size different from an existing
 * object's without truncate, an existing object without a valid segment
 * (with layout and without truncate; it is never overwritten).
 * @return 0 and *out; -1 on error.
 */
int ivsrv_open(struct ivsrv **out, const struct ivsrv_config *cfg);

/** Human-readable description of what is served ("shm NAME, 4 MiB, ..."). */
const char *ivsrv_describe(const struct ivsrv *srv);

/**
 * Serve until stop_fd becomes readable (main passes a signalfd for
 * SIGTERM/SIGINT; tests a pipe): accept peers, forward notifications of
 * connects and disconnects, and every period reclaim the frames of owners
 * that left without freeing them (each reclaim is logged).
 * @return 0 on a requested stop, -1 on a fatal poll error.
 */
int ivsrv_run(struct ivsrv *srv, int stop_fd);

/** Disconnect every peer, remove the socket (and the shm object when
 * configured), unmap and close. NULL is accepted. */
void ivsrv_close(struct ivsrv *srv);

/** Log a line "ivshmem-server: ..." to stderr (flushes), or to syslog
 * after ivsrv_log_to_syslog(). */
void ivsrv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Send every later ivsrv_log() line to syslog (daemon, facility
 * LOG_DAEMON): a daemon without --log has no stderr. */
void ivsrv_log_to_syslog(void);

/** Parse a size: number of MB, or with a suffix M, G or T (K for tests
 * and small segments). @return 0 and *bytes, -1 on a bad or zero value
 * or overflow. */
int ivsrv_parse_size(const char *s, uint64_t *bytes);

#endif /* IVSRV_H */
