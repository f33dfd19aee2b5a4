/*
 * shm.h -- the ring link shared by the memory transports (the built-in shm
 * transport and the ivshmem plugin). Exported by libpscom (prefix
 * pscom_shm_) so that both use ONE data path over lib/ring: the plugin
 * includes this header and calls these functions like the services of
 * plugin.h (same locking rules: only from inside a transport operation or
 * a callback of the core).
 *
 * A link joins two rings to one connection: the connection's bytes go
 * into the peer's receive ring (producer side, gathered straight from the
 * request's iovecs) and come out of our receive ring (consumer side,
 * copied straight into the posted buffer by pscom_con_read_feed()). A
 * poller drives both directions; a corrupt ring fails this connection
 * only.
 *
 * The link owns the connection's control socket (the transport sets
 * PSCOM_PLUGIN_F_OWNS_FD): when the socket becomes readable the link first
 * drains the ring and only then reports EOF, so bytes the peer wrote
 * before closing are never lost to the race between the ring and the
 * socket.
 *
 * Recipe for a transport:
 *   accept()/finish(): pscom_shm_link_init(&t->link, con, tx, tx_len,
 *                                          rx, rx_len, check, &why);
 *   start, write_start, write_now, read_stop, read_start:
 *                   pscom_shm_op_* below
 *                   (t's first member is the link)
 *   close():        pscom_shm_link_stop(&t->link); then free the memory
 *                   the rings live in once the peer stopped using it; the
 *                   control socket is closed by pscom_shm_link_stop().
 */
#ifndef PSCOM_SHM_H_
#define PSCOM_SHM_H_

#include <stddef.h>

#include "plugin.h"
#include "ring.h"

#pragma GCC visibility push(default)

struct pscom_shm_link;
struct pscom_shm_bulk;

/** The bulk area of a memory transport (large messages, lib/core/bulk.c;
 * layout and protocol in lib/ring/ring_bulk.h). The SENDER owns its area:
 * it takes it on its first large message and gives it back after
 * PSP_SHM_BULK_IDLE_MS without one, or when the connection closes. */
struct pscom_shm_bulk_ops {
    /** Sender: an area of len bytes (64-byte aligned). 0 with *off (the
     * value the peer's resolve() checks) and *ptr; negative when there
     * is none now (the message streams through the ring instead), with
     * *why (static string). */
    int (*acquire)(struct pscom_shm_link *link, uint64_t len, uint64_t *off,
                   void **ptr, const char **why);
    /** Sender: give the area back. drained = 0: the peer may still read
     * it (closing in the middle of a message): free it only once
     * ring_bulk_released(ptr, nslots, seq) or the peer is gone. */
    void (*release)(struct pscom_shm_link *link, uint64_t off, void *ptr,
                    int drained, uint32_t nslots, uint64_t seq);
    /** Receiver: the peer's area [off, off + len) checked against the
     * transport's record of it (owner, extent): its address, or NULL
     * with *why. Untrusted values. */
    void *(*resolve)(struct pscom_shm_link *link, uint64_t off, uint64_t len,
                     const char **why);
};

/** A memory transport's doorbells (pscom_shm_link_set_bell()). Without
 * them the link's waits poll (after PSP_SPIN_US with sched_yield()). */
struct pscom_shm_bell_ops {
    /** Producer: the peer's consumer sleeps on its receive ring and asked
     * to be woken (once per sleep, ring_producer_doorbell_needed()):
     * ring its doorbell. Must not block. */
    void (*ring)(struct pscom_shm_link *link);
    /** Consumer: 1 when we may sleep on this link: we have a doorbell of
     * our own and the peer announced that it rings it. */
    int (*can_sleep)(struct pscom_shm_link *link);
};

/** Optional health check run on every poll (e.g. "were we evicted from
 * the segment?"). Return 0, or a negative value to fail the connection
 * (then set *why to a static string for the log). */
typedef int (*pscom_shm_check_fn)(struct pscom_shm_link *link,
                                  const char **why);

/** One connection's pair of rings. Fields are private to shm_link.c
 * except priv, which the transport may use. */
struct pscom_shm_link {
    pscom_con_t *con;
    struct ring_producer tx; /* the peer's receive ring */
    struct ring_consumer rx; /* our receive ring */
    pscom_poller_t poller;
    pscom_ufd_t ctl; /* the control socket (EOF = peer gone) */
    pscom_shm_check_fn check;
    int reading; /* 0 after read_stop */
    int writing; /* sends are queued */
    void *priv;  /* the transport's */
    /* Per-message checksum (pscom_shm_link_checksum()): */
    int csum;
    size_t tx_msg_left;  /* bytes of the message being written */
    size_t tx_tail_left; /* bytes of its trailer not written yet */
    unsigned char tx_trailer[4];
    struct pscom_shm_bulk *bulk; /* large messages (bulk.c), or NULL */
    const struct pscom_shm_bell_ops *bell; /* doorbells, or NULL */
};

/**
 * Attach the producer to [tx, tx + tx_len) and the consumer to
 * [rx, rx + rx_len); both regions must hold rings laid out with
 * ring_init(). Nothing is started yet.
 * @return 0, or the ring's negative error with *why set (static string).
 */
int pscom_shm_link_init(struct pscom_shm_link *link, pscom_con_t *con, void *tx,
                        size_t tx_len, void *rx, size_t rx_len,
                        pscom_shm_check_fn check, const char **why);

/**
 * PSP_IVSHMEM_CHECKSUM: 1 when this process asks for a CRC32C after
 * every message on its memory transports (shm and ivshmem). The
 * transport tells its peer in the handshake; if either side asks, both
 * use it (pscom_shm_link_checksum()).
 */
int pscom_shm_checksum_wanted(void);

/**
 * After pscom_shm_link_init(), before start: on = 1 when both sides
 * agreed to checksum every message. The sender appends the CRC32C of
 * header, xheader and data; the receiver fails the connection
 * (PSCOM_ERR_IOERROR, logged) when what it copied out of the ring does
 * not match. Both sides must agree: a link with checksums on cannot talk
 * to one without.
 */
void pscom_shm_link_checksum(struct pscom_shm_link *link, int on);

/**
 * Give the link a bulk area for large messages (after link_init): ops
 * must outlive the link. Without it every message goes through the ring
 * (and a peer's bulk announcement fails the connection).
 * @return 0, or -ENOMEM.
 */
int pscom_shm_link_set_bulk(struct pscom_shm_link *link,
                            const struct pscom_shm_bulk_ops *ops);

/**
 * Give the link doorbells (after link_init, before start; ops must
 * outlive the link): its producer then asks after every write whether
 * the peer sleeps (a seq_cst fence per write), and a blocking wait may
 * sleep on its consumer (plugin.h, pscom_poller_t.arm). NULL: polling.
 */
void pscom_shm_link_set_bell(struct pscom_shm_link *link,
                             const struct pscom_shm_bell_ops *ops);

/** Bytes of a bulk area with the geometry of this host (PSP_SHM_BULK_*,
 * cache sizes; bulk.c says how it is derived), 0 when bulk is off. */
uint64_t pscom_shm_bulk_area_len(void);

/**
 * Start polling the rings and watching the control socket.
 * @return 0, or a negative errno value (the socket could not be watched).
 */
int pscom_shm_link_start(struct pscom_shm_link *link);

/** The core queued sends: write what fits now, the poller does the rest. */
void pscom_shm_link_write_start(struct pscom_shm_link *link);

/** A whole message now or not at all (plugin.h, write_now): 1 written,
 * 0 not (the ring is short, the message needs more than one chunk or a
 * bulk area, or the checksum is on: the queued path adds its trailer). */
int pscom_shm_link_write_now(struct pscom_shm_link *link,
                             const pscom_header_net_t *h, const void *xheader,
                             const void *data);

/** Flow control: on = 0 stops delivering received bytes, 1 resumes. */
void pscom_shm_link_read_enable(struct pscom_shm_link *link, int on);

/**
 * Stop polling, stop watching and close the control socket. After this
 * the link touches neither ring again; the caller frees their memory when
 * the peer is done with it as well.
 */
void pscom_shm_link_stop(struct pscom_shm_link *link);

/* ---- ready-made operations ---------------------------------------------
 * For a transport whose per-connection state (pscom_con_get_priv()) starts
 * with its struct pscom_shm_link: use these as the plugin's start,
 * write_start, write_now, read_stop and read_start. */

/** start(): pscom_shm_link_start() on the connection's link. */
int pscom_shm_op_start(pscom_con_t *con);
/** write_start(): pscom_shm_link_write_start(). */
void pscom_shm_op_write_start(pscom_con_t *con);
/** write_now(): pscom_shm_link_write_now(). */
int pscom_shm_op_write_now(pscom_con_t *con, const pscom_header_net_t *h,
                           const void *xheader, const void *data);
/** read_stop(): pscom_shm_link_read_enable(link, 0). */
void pscom_shm_op_read_stop(pscom_con_t *con);
/** read_start(): pscom_shm_link_read_enable(link, 1). */
void pscom_shm_op_read_start(pscom_con_t *con);

#pragma GCC visibility pop

#endif /* PSCOM_SHM_H_ */
