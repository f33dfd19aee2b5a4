/*
 * bulk.h -- large messages of the memory transports through a bulk area
 * beside the small ring (bulk.c); private to lib/core: shm_link.c calls
 * these hooks from its read and write loops.
 */
#ifndef PSCOM_BULK_H_
#define PSCOM_BULK_H_

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "pscom_priv.h"
#include "ring_bulk.h"
#include "shm.h"

enum { PSCOM_BULK_TX_NONE, PSCOM_BULK_TX_HEADER, PSCOM_BULK_TX_DATA };
enum { PSCOM_BULK_RX_NONE, PSCOM_BULK_RX_HEADER, PSCOM_BULK_RX_DATA };

/* A link's bulk state (bulk.c); here for the inline checks below, which
 * keep the small-message path free of calls into bulk.c. */
struct pscom_shm_bulk {
    const struct pscom_shm_bulk_ops *ops;
    size_t threshold; /* SIZE_MAX: we never send through the area */
    /* sending: our area, the message in it */
    struct ring_bulk_tx tx;
    int tx_have;
    uint64_t tx_off;
    void *tx_ptr;
    uint32_t tx_gen;
    struct pscom_req *tx_req; /* the message being sent, or NULL */
    int tx_stage;
    uint32_t tx_chunk;
    uint64_t tx_left;
    uint32_t tx_crc;     /* checksum links: CRC32C of the message so far */
    uint64_t tx_last_ms; /* last message completed (idle release) */
    unsigned idle_polls;
    int fallback_said; /* the fall-back was logged (until bulk works) */
    /* receiving: the peer's area, the message from it */
    struct ring_bulk_rx rx;
    int rx_stage;
};

/** Results of pscom_shm_bulk_write(). */
enum {
    PSCOM_BULK_NONE = 0,     /* not a bulk message: the ring takes it */
    PSCOM_BULK_PROGRESS = 1, /* bytes moved: ask for the iovecs again */
    PSCOM_BULK_BLOCKED = 2,  /* waiting for ring space or a free slot */
    PSCOM_BULK_CLOSED = -1,  /* the connection closed (link freed) */
};

/** The send loop's first look at the head of the send queue (iov as
 * pscom_con_write_get_iov() returned it), after pscom_shm_bulk_wants(). */
int pscom_shm_bulk_write(struct pscom_shm_link *link, struct iovec iov[2]);

/** Does the head of the send queue concern the bulk area? */
static inline int pscom_shm_bulk_wants(const struct pscom_shm_link *link,
                                       const struct iovec iov[2])
{
    const struct pscom_shm_bulk *bk = link->bulk;

    return bk && (bk->tx_req || iov[1].iov_len >= bk->threshold);
}

/** Does this run of the ring concern the bulk area (an announcement at a
 * message boundary, or an announced message's header)? Reads the first
 * two bytes, which the parser reads next anyway. */
static inline int pscom_shm_bulk_wants_run(const struct pscom_shm_link *link,
                                           const void *run, size_t len)
{
    const struct pscom_shm_bulk *bk = link->bulk;
    uint16_t type;

    if (!bk) {
        return 0; /* the parser rejects an announcement's unknown type */
    }
    if (bk->rx_stage == PSCOM_BULK_RX_HEADER) {
        return 1;
    }
    if (len < sizeof(type)) {
        return 0;
    }
    memcpy(&type, run, sizeof(type));
    return type == RING_BULK_MSGTYPE &&
           link->con->rx_state == PSCOM_RX_HEADER && link->con->rx_have == 0;
}

/**
 * The receive loop found a run in the ring: take the bulk announcement
 * at a message boundary, or the header of an announced message.
 * @return bytes of the run taken (0: none, feed it as usual), or
 * PSCOM_BULK_CLOSED.
 */
long pscom_shm_bulk_read_run(struct pscom_shm_link *link, const void *run,
                             size_t len);

/** Drain the chunks of the message being received. 1: progress, 0: none,
 * PSCOM_BULK_CLOSED. */
int pscom_shm_bulk_read_data(struct pscom_shm_link *link);

/** 1 while a message's data come through the bulk area (nothing in the
 * ring is ours before that message is complete); 0 otherwise, also
 * while its header is still coming through the ring. */
static inline int pscom_shm_bulk_reading(const struct pscom_shm_link *link)
{
    return link->bulk && link->bulk->rx_stage == PSCOM_BULK_RX_DATA;
}

/** An idle poll: give the area back after PSP_SHM_BULK_IDLE_MS unused
 * (call while pscom_shm_bulk_holds()). */
void pscom_shm_bulk_idle(struct pscom_shm_link *link);

/** 1 while we hold an area and send nothing through it. */
static inline int pscom_shm_bulk_holds(const struct pscom_shm_link *link)
{
    return link->bulk && link->bulk->tx_have && !link->bulk->tx_req;
}

/** The link stops: give the area back (or leave it to the peer's
 * drain), tell the peer we stop draining its area, free the state. */
void pscom_shm_bulk_stop(struct pscom_shm_link *link);

#endif /* PSCOM_BULK_H_ */
