/*
 * bulk.h -- large messages of the memory transports through a bulk area
 * beside the small ring (bulk.c); private to lib/core: shm_link.c calls
 * these hooks from its read and write loops.
 */
#ifndef PSCOM_BULK_H_
#define PSCOM_BULK_H_

#include <stddef.h>
#include <sys/uio.h>

struct pscom_shm_link;

/** Results of pscom_shm_bulk_write(). */
enum {
    PSCOM_BULK_NONE = 0,     /* not a bulk message: the ring takes it */
    PSCOM_BULK_PROGRESS = 1, /* bytes moved: ask for the iovecs again */
    PSCOM_BULK_BLOCKED = 2,  /* waiting for ring space or a free slot */
    PSCOM_BULK_CLOSED = -1,  /* the connection closed (link freed) */
};

/** The send loop's first look at the head of the send queue (iov as
 * pscom_con_write_get_iov() returned it). */
int pscom_shm_bulk_write(struct pscom_shm_link *link, struct iovec iov[2]);

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
int pscom_shm_bulk_reading(const struct pscom_shm_link *link);

/** An idle poll: give the area back after PSP_SHM_BULK_IDLE_MS unused. */
void pscom_shm_bulk_idle(struct pscom_shm_link *link);

/** The link stops: give the area back (or leave it to the peer's
 * drain), tell the peer we stop draining its area, free the state. */
void pscom_shm_bulk_stop(struct pscom_shm_link *link);

#endif /* PSCOM_BULK_H_ */
