/*
 * ring.h -- single-producer single-consumer byte-stream ring in shared
 * memory (libring.la, prefix ring_).
 *
 * One ring carries one direction of one connection. It lives in memory
 * the caller provides (a region of the ivshmem segment, or private shared
 * memory) and is safe against a buggy or hostile peer: every value read
 * from shared memory is validated, a bad one breaks the ring (every later
 * call returns the same negative error), and no call ever touches memory
 * outside [base, base + len) or loops without bound.
 *
 * Usage recipe
 * ------------
 *   creator (usually the receiver, which owns the memory):
 *       size_t len = ring_region_size(RING_DEFAULT_DATA);   // or any size
 *       void *base = <len bytes, RING_ALIGN-aligned, shared with the peer>;
 *       ring_init(base, len);               // before the peer learns of it
 *
 *   sender:
 *       struct ring_producer tx;
 *       rc = ring_attach_producer(&tx, base, len);   // validates the header
 *       n = ring_write(&tx, iov, iovcnt);   // bytes taken from iov, 0: full
 *       if (n > 0 && ring_producer_doorbell_needed(&tx) > 0) { ring it }
 *
 *   receiver:
 *       struct ring_consumer rx;
 *       rc = ring_attach_consumer(&rx, base, len);
 *       while ((rc = ring_peek(&rx, &ptr, &run)) > 0) {
 *           used = feed(con, ptr, run);       // copy out any prefix
 *           ring_consume(&rx, used);           // give the space back
 *           if (used < run) break;             // no room for more now
 *       }
 *       if (rc < 0) { connection error: log ring_consumer_reason(&rx) }
 *       before sleeping: if (ring_consumer_arm(&rx) == 0) { sleep }
 *       after waking:    ring_consumer_disarm(&rx);
 *
 * The bytes of a run returned by ring_peek() sit in shared memory: a
 * hostile peer may change them while you read them. Copy a header out
 * before validating it; never validate in place and then use in place.
 *
 * The ring is a byte stream: message boundaries are not kept. The
 * producer gathers straight from the iovecs into chunks; a large message
 * goes in as many chunks as the ring has room for while the consumer
 * drains the earlier ones (both sides copy at the same time).
 *
 * Threading: one thread at a time per side; producer and consumer may run
 * in different processes or virtual machines at the same time.
 */
#ifndef RING_RING_H_
#define RING_RING_H_

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/** Layout version (ring_layout.h) written by ring_init() and checked by
 * ring_attach_*(). Exported so that a protocol exchanging rings can
 * refuse a peer with another layout before attaching (the ivshmem
 * plugin's hand-shake). 2: terminator rules of ring_layout.h; 3: chunks
 * of up to half the ring (2: a quarter); 4: a 64-bit armed word holding
 * the number of the consumer's sleep, rung once per sleep. */
#define RING_VERSION 4u

/** Alignment of the region and granularity of chunks (one cache line). */
#define RING_ALIGN 64

/** Bytes of ring header (metadata, producer line, consumer line). */
#define RING_HDR_SIZE (3 * RING_ALIGN)

/** Smallest data area ring_init() accepts. */
#define RING_MIN_DATA (4 * RING_ALIGN)

/** A ring_write() of at most this many bytes is taken whole or not at all
 * and arrives as one run (it is moved to the start rather than split at
 * the end of the data area). Larger writes may be split anywhere. */
#define RING_WHOLE_MAX 504u

/** Largest data area (chunk lengths are 32-bit). */
#define RING_MAX_DATA ((size_t)1 << 30)

/** Default region size, 8 KiB: in interleaved ping-pong runs it beat 16,
 * 32 and 64 KiB from 256 B up, most at 64 KiB and more (median half-RTT
 * 0.7-0.8x of 32 KiB's), likely because both directions' rings then stay
 * in each core's L1 beside the application's buffers. */
#define RING_DEFAULT_REGION_BYTES 8192
#define RING_DEFAULT_REGION ((size_t)RING_DEFAULT_REGION_BYTES)

/** Data bytes of a default region. */
#define RING_DEFAULT_DATA (RING_DEFAULT_REGION - RING_HDR_SIZE)

/** Default of ring_consumer_set_stall_ms(): how long the producer's
 * announced position may stay ahead of a consumer that finds no chunk
 * header at its position before the ring counts as overwritten. */
#define RING_STALL_DEFAULT_MS 1000u

/** Idle polls (ring_consumer_idle()) between two stall checks: the
 * check loads the producer's line, kept off the polls in between. */
#define RING_STALL_EVERY 1024u

/** Producer side, private to the sending process. Fields are private. */
struct ring_producer {
    unsigned char *data;  /* data area in shared memory */
    void *shared;         /* ring header in shared memory */
    uint64_t cap;         /* data bytes (private copy) */
    uint64_t chunk_max;   /* largest chunk payload (private copy) */
    uint64_t off;         /* offset of the next chunk header */
    uint64_t lap;         /* wraps done */
    uint64_t total;       /* ring bytes ever written (headers, padding) */
    uint64_t cons_cached; /* last consumer position read and validated */
    uint64_t stale_lo;    /* offsets whose first word may hold payload of */
    uint64_t stale_hi;    /*   the previous lap: [lo, hi), empty if lo>=hi */
    uint64_t span_lo;     /* the same span being built in this lap */
    uint64_t span_hi;
    uint64_t rung;      /* the consumer's sleep we rang for last */
    int err;            /* 0, or the error that broke the ring */
    const char *reason; /* what was wrong, for the log */
};

/** Consumer side, private to the receiving process. Fields are private. */
struct ring_consumer {
    const unsigned char *data; /* data area in shared memory */
    void *shared;              /* ring header in shared memory */
    uint64_t cap;              /* data bytes (private copy) */
    uint64_t chunk_max;        /* largest chunk payload (private copy) */
    uint64_t batch;            /* publish the position after this much */
    uint64_t off;              /* offset of the current chunk header */
    uint64_t lap;              /* wraps done */
    uint64_t total;            /* ring bytes ever consumed */
    uint64_t published;        /* last position published to the producer */
    uint64_t cur_len;          /* payload of the current chunk, 0: none */
    uint64_t cur_done;         /* payload bytes of it already consumed */
    uint64_t cur_size;         /* ring bytes of the current chunk */
    uint64_t zeroed;           /* lines before this position are zeroed */
    uint64_t zoff;             /* offset of position `zeroed` */
    uint64_t skip_lo;          /* interior of a large chunk that is not */
    uint64_t skip_hi;          /*   zeroed: [lo, hi), none if lo >= hi */
    uint64_t stall_ns;         /* stall budget, 0: never check */
    uint64_t stall_since;      /* when a stall at stall_total was seen */
    uint64_t stall_total;      /*   (CLOCK_MONOTONIC ns; 0: none) */
    unsigned idle_polls;       /* since the last stall check */
    uint64_t sleeps;           /* number of the last arm (armed word) */
    int err;                   /* 0, or the error that broke the ring */
    const char *reason;        /* what was wrong, for the log */
};

/**
 * Bytes of shared memory a ring with at least data_bytes of data needs
 * (header plus data rounded up to RING_ALIGN). The region must start at a
 * RING_ALIGN-aligned address. Returns 0 if data_bytes is out of range
 * (below RING_MIN_DATA or above RING_MAX_DATA).
 */
size_t ring_region_size(size_t data_bytes);

/**
 * Data bytes a ring in a region of region_len bytes holds, or 0 if the
 * region is too small or too large for a ring.
 */
size_t ring_data_size(size_t region_len);

/**
 * Lay out an empty ring in [base, base + len): write the header (magic,
 * version, sizes) and clear the data area. Called once by the creator
 * before the peer attaches. The whole region is used for data.
 * Returns 0, or -EINVAL (base not RING_ALIGN-aligned, len out of range).
 */
int ring_init(void *base, size_t len);

/**
 * Attach the sending side to the ring at [base, base + len). Validates the
 * header against len and keeps private copies of all sizes; shared sizes
 * are never read again. Returns 0, -EINVAL (bad arguments), -EPROTO
 * (header corrupt or not a ring) or -EPROTONOSUPPORT (other version).
 */
int ring_attach_producer(struct ring_producer *p, void *base, size_t len);

/**
 * Attach the receiving side; as ring_attach_producer(). The consumer
 * starts at the beginning of the stream, so attach one consumer per ring,
 * before or after the producer started writing (nothing is lost: the
 * producer cannot overwrite what was never given back).
 */
int ring_attach_consumer(struct ring_consumer *c, void *base, size_t len);

/**
 * Copy as many bytes of iov[0..iovcnt) as fit into the ring, in order,
 * without blocking. Returns the number of bytes taken (0 when the ring is
 * full or the iovecs are empty), -EINVAL for bad arguments, or the error
 * that broke the ring (-EPROTO: the consumer published an impossible
 * position). The iovecs are not modified; the caller advances them.
 * Writes go in chunks of at most half the ring (a quarter in rings
 * under 2 KiB); a write that
 * does not fit whole takes what fits (at least 1 KiB, or all of a smaller
 * write), and one that nearly fits before the end of the data area is
 * moved to its start, so most small messages arrive as a single run.
 */
ssize_t ring_write(struct ring_producer *p, const struct iovec *iov,
                   int iovcnt);

/**
 * The whole of iov[0..iovcnt) as one chunk, or nothing: for a sender that
 * has a complete small message and wants it out now without keeping any
 * part of it (libpscom writes its parts in place instead, with
 * ring_reserve_whole() below, on which this is built). Returns the
 * number of bytes written (all of them), 0 when they do not go in one
 * chunk now (the ring
 * is short, the message is empty or larger than a chunk, or it would have
 * to be split at the end of the data area; write it with ring_write()
 * then), -EINVAL for bad arguments, or the error that broke the ring.
 */
ssize_t ring_write_whole(struct ring_producer *p, const struct iovec *iov,
                         int iovcnt);

/**
 * ring_write_whole() in two steps, for a sender that writes its message
 * straight into the ring: reserve one chunk of n payload bytes and get
 * where they go (NULL when ring_write_whole() would return 0 or an
 * error: nothing is reserved then), write exactly n bytes there, then
 * ring_commit_whole(p, n) with the same n publishes the chunk; no other
 * call on p in between. A reservation is never taken back.
 */
void *ring_reserve_whole(struct ring_producer *p, size_t n);
void ring_commit_whole(struct ring_producer *p, size_t n);

/**
 * After a ring_write() that returned > 0: does the consumer sleep and
 * want a doorbell we have not rung yet for this sleep? A seq_cst fence
 * between our chunk headers (published by ring_write()) and the load of
 * the consumer's armed word pairs with the fence in ring_consumer_arm(),
 * so no wake-up is lost. Returns 1 (ring it, once: later calls return 0
 * until the consumer sleeps again), 0 (it polls, or was rung already),
 * or the ring's error. Producers that never ring a doorbell need not
 * call it (and pay nothing: it is the fence).
 */
int ring_producer_doorbell_needed(struct ring_producer *p);

/**
 * For the producer's idle polls: announce the position written (a store
 * on the producer's own line, only when it changed, and never on the
 * message path), so that a consumer finding no chunk header where the
 * producer says data is can tell an overwritten ring from an empty one
 * (ring_consumer_stall_check()). Then, when a quarter of the ring or
 * more is written and not yet known to be given back, re-read the
 * consumer's position now. Otherwise the next ring_write() that finds the ring
 * short reads it: a load of a line the consumer just wrote, a transfer
 * between cores on the path of the message (in a ping-pong of 2 KiB
 * messages in the default ring, every second message). Returns 0, or
 * the ring's error (-EPROTO: an impossible position, as ring_write()).
 */
int ring_producer_idle(struct ring_producer *p);

/** Why the producer broke (static string), or NULL while it is fine. */
const char *ring_producer_reason(const struct ring_producer *p);

/**
 * Find the next contiguous run of readable bytes. On 1, *ptr and *len
 * describe it (len > 0, inside the region); the run stays valid until it
 * is consumed. Returns 0 when the ring is empty, or a negative error
 * (-EPROTO: corrupt chunk header; the ring is broken for good).
 * Peeking again without consuming returns the same run.
 */
int ring_peek(struct ring_consumer *c, const void **ptr, size_t *len);

/** Housekeeping that ring_consume() defers: zeroing consumed lines (see
 * ring_layout.h) and giving the space back; ring_consumer_idle() calls
 * it. */
void ring_consumer_tidy(struct ring_consumer *c);

/**
 * ring_consumer_idle() without the housekeeping: for the check right
 * after a message was consumed, when the caller is about to answer it.
 * The housekeeping writes lines the producer will write again, and on
 * x86 our answer's stores would become visible only after those (stores
 * commit in order): it waits for the next idle poll instead.
 */
static inline int ring_consumer_empty(const struct ring_consumer *c)
{
    return c->err == 0 && c->cur_len == 0 &&
           __atomic_load_n((const uint64_t *)(const void *)(c->data + c->off),
                           __ATOMIC_RELAXED) == 0;
}

/**
 * The stall check ring_consumer_idle() runs every RING_STALL_EVERY idle
 * polls (call it directly if you poll otherwise). The producer announced
 * a position (ring_producer_idle(), ring_producer_doorbell_needed()) past
 * ours, so the chunk header at our position was published before it;
 * if that word still reads 0 for the stall budget, the ring was
 * overwritten (a hostile or buggy writer zeroed it): break it with
 * -EPROTO. Returns 0 or the ring's error.
 */
int ring_consumer_stall_check(struct ring_consumer *c);

/**
 * Cheap test for a polling loop: 1 when ring_peek() would surely return 0
 * now (no run pending, the next chunk header not written yet), 0 when
 * ring_peek() has something to say (a run, an error, or a header to
 * validate). Reads one word of shared memory and validates nothing, so a
 * hostile value only sends the caller on to ring_peek(). When idle it
 * also does the housekeeping ring_consume() deferred, and every
 * RING_STALL_EVERY calls the stall check, so a polling consumer should
 * use it.
 */
static inline int ring_consumer_idle(struct ring_consumer *c)
{
    if (!ring_consumer_empty(c)) {
        return 0;
    }
    if (c->zeroed != c->total) {
        /* Idle: the consumed lines' housekeeping, off the message path. */
        ring_consumer_tidy(c);
    }
    /* Only every RING_STALL_EVERY idle polls: a hostile or buggy peer
     * that zeroed our next chunk header would otherwise leave both sides
     * waiting for each other for ever. A broken ring is not idle:
     * ring_peek() reports it. */
    if (++c->idle_polls >= RING_STALL_EVERY &&
        ring_consumer_stall_check(c) < 0) {
        return 0;
    }
    return 1;
}

/**
 * Set the stall budget of ring_consumer_stall_check() in milliseconds
 * (attach sets RING_STALL_DEFAULT_MS); 0 turns the check off.
 */
void ring_consumer_set_stall_ms(struct ring_consumer *c, unsigned ms);

/**
 * Give back the first len bytes of the run ring_peek() returned (len may
 * be less than the run). Space goes back to the producer in batches, at
 * the next ring_consumer_idle() that finds the ring empty, or at once
 * while more chunks are waiting (a stream) or half the ring is held.
 * Returns 0, -EINVAL if len exceeds the run, or the ring's error.
 */
int ring_consume(struct ring_consumer *c, size_t len);

/** Publish the consumed position now (batching skipped). 0 or error. */
int ring_consumer_flush(struct ring_consumer *c);

/**
 * Before sleeping: publish the position, store a new sleep number into
 * the armed word that ring_producer_doorbell_needed() reads, a seq_cst
 * fence, then look at our next chunk header again. Returns 0 (the ring
 * is empty and stays armed: sleep), 1 (data arrived, not armed: do not
 * sleep) or the ring's error. Lost wake-ups: either the producer's load
 * after its fence sees our number (it rings), or our load after our
 * fence sees its chunk header (we do not sleep).
 */
int ring_consumer_arm(struct ring_consumer *c);

/** After waking: clear the armed word so the producer stops ringing. */
void ring_consumer_disarm(struct ring_consumer *c);

/** Why the consumer broke (static string), or NULL while it is fine. */
const char *ring_consumer_reason(const struct ring_consumer *c);

#endif /* RING_RING_H_ */
