/*
 * ring_bulk.h -- the bulk area of the memory transports: large messages
 * beside the small ring (libring.la, prefix ring_bulk_).
 *
 * The small ring moves a message in chunks of at most half the ring
 * (4 KiB in the default 8 KiB ring); every chunk costs a hand-off of the
 * ring's control lines between the two cores, which from a few ring
 * lengths on costs more than the copies. A large message therefore goes
 * through a bulk area the SENDER owns (it allocates it, so a dead sender's
 * area goes to the server's reclaim with its other frames):
 *
 *   offset 0                 header line (RING_BULK_MAGIC, detached flag)
 *   offset 64 * (1 + k)      producer line of slot k: chunk length, then
 *                            the full mark seq + 1 (release)
 *   offset 64 * (1 + n + k)  consumer line of slot k: the empty mark
 *                            seq + 1 of the chunk it drained (release)
 *   offset RING_BULK_DATA_OFF(n) + k * slot_size   slot k's bytes
 *
 * Chunks are numbered (seq) from 0 since the area was laid out; chunk
 * seq goes into slot seq % n. The producer fills slot k + 1 while the
 * consumer drains slot k: both copy at the same time. Each mark sits on
 * its own cache line, written by one side only.
 *
 * The announcement travels in the small ring in front of the message's
 * pscom header: an 8-byte header of msg_type RING_BULK_MSGTYPE (a type
 * the core never sends) whose "xheader" is struct ring_bulk_announce.
 * The message's header and xheader follow in the ring; its data arrive
 * in the bulk area, msg_len bytes in chunks of `chunk` bytes (the last
 * one shorter). With RING_BULK_F_TRAILER (a link with the per-message
 * checksum) the 4-byte CRC32C of the message's header, xheader and data
 * follows in the ring once the last chunk is published: the sender adds
 * each chunk to it right after copying it (the chunk is still in its
 * cache), the receiver over what it copied out of the slots, and the
 * message completes only when the two agree.
 *
 * Hostile memory: the announcement is copied out and checked
 * (ring_bulk_parse()); the transport checks off/len against its record
 * of the area (the frame allocator's owner record for ivshmem); every
 * mark and length read from the area is checked against what the reader
 * expects: a wrong one breaks the transfer (-EPROTO), never makes us
 * touch memory outside the area.
 */
#ifndef RING_RING_BULK_H_
#define RING_RING_BULK_H_

#include <stddef.h>
#include <stdint.h>

#include "ring.h"

/** "PIVIBULK" little-endian, first word of the announcement and area. */
#define RING_BULK_MAGIC 0x4b4c554249564950ULL
/** msg_type of the announcement's 8-byte header (pscom uses 0..5). */
#define RING_BULK_MSGTYPE 0x42u
/** Slots of an area: at least 2 (pipelining), at most this many. */
#define RING_BULK_MAX_SLOTS 64u
/** Slot sizes: multiples of RING_BULK_PAGE between these. */
#define RING_BULK_PAGE 4096u
#define RING_BULK_MIN_SLOT RING_BULK_PAGE
#define RING_BULK_MAX_SLOT (16u << 20)
/** Offset of slot 0's bytes in an area of n slots (page-aligned, so
 * copies from page-aligned buffers keep their alignment). */
#define RING_BULK_DATA_OFF(n)                                                  \
    ((((uint64_t)(1 + 2 * (n)) * RING_ALIGN) + RING_BULK_PAGE - 1) &           \
     ~(uint64_t)(RING_BULK_PAGE - 1))

/** flags of the announcement: the message's checksum trailer follows
 * its data in the ring (both sides agreed on checksums at hand-shake;
 * the receiver checks the flag against that). */
#define RING_BULK_F_TRAILER 0x1u
#define RING_BULK_F_KNOWN RING_BULK_F_TRAILER

/** The announcement (wire format, little-endian): an 8-byte pscom-like
 * header, then 48 bytes. */
struct ring_bulk_announce {
    uint16_t msg_type;    /**< RING_BULK_MSGTYPE */
    uint16_t xheader_len; /**< sizeof(*this) - 8 */
    uint32_t zero;        /**< 0 (the data_len of a header) */
    uint64_t magic;       /**< RING_BULK_MAGIC */
    uint64_t off;         /**< the area in the transport's memory */
    uint64_t len;         /**<   (offset, bytes) */
    uint64_t seq0;        /**< number of the message's first chunk */
    uint32_t gen;         /**< the sender's area generation (a new area
                               starts at seq 0) */
    uint32_t msg_len;     /**< data bytes of the message (> 0) */
    uint32_t chunk;       /**< bytes per chunk, <= slot_size */
    uint32_t slot_size;   /**< bytes per slot */
    uint32_t nslots;      /**< slots in the area */
    uint32_t flags;       /**< RING_BULK_F_*, others 0 */
};
_Static_assert(sizeof(struct ring_bulk_announce) == 64, "wire size");
_Static_assert(offsetof(struct ring_bulk_announce, flags) == 60,
               "flags: the last word");
#define RING_BULK_ANNOUNCE_SIZE sizeof(struct ring_bulk_announce)

/** Bytes of an area of nslots slots of slot_size bytes. */
static inline uint64_t ring_bulk_area_size(uint32_t nslots, uint32_t slot_size)
{
    return RING_BULK_DATA_OFF(nslots) + (uint64_t)nslots * slot_size;
}

/**
 * Copy the announcement out of buf[0..len) and check it in isolation:
 * size, type, magic, zero field, unknown flags, slot geometry, chunk size, message
 * length, area length >= ring_bulk_area_size(), off 64-byte aligned and
 * off + len without overflow. Fills *out only on success.
 * @return 0, or -EPROTO with *why (static string).
 */
int ring_bulk_parse(const void *buf, size_t len, struct ring_bulk_announce *out,
                    const char **why);

/** Sending side of one area. Fields are private. */
struct ring_bulk_tx {
    unsigned char *base;
    uint32_t nslots;
    uint32_t slot_size;
    uint64_t seq; /* next chunk to fill */
    const char *reason;
};

/** Lay out an empty area (owner, before announcing it) and attach. */
int ring_bulk_tx_init(struct ring_bulk_tx *t, void *base, uint64_t len,
                      uint32_t nslots, uint32_t slot_size);

/**
 * The slot for the next chunk: 1 and *ptr when the consumer drained what
 * it held, 0 when not yet, -EPROTO when the consumer's mark is
 * impossible (*why via ring_bulk_tx_reason()).
 */
int ring_bulk_tx_slot(struct ring_bulk_tx *t, void **ptr);

/** Publish the next chunk (len bytes written into its slot). */
void ring_bulk_tx_publish(struct ring_bulk_tx *t, uint32_t len);

/** 1 when every published chunk was drained (the area may be freed). */
int ring_bulk_tx_drained(const struct ring_bulk_tx *t);

/**
 * For an area whose sender stopped (closed its connection): 1 once the
 * consumer drained chunk seq - 1 or said it detached, so the frames may
 * be freed. base is the area of nslots slots.
 */
int ring_bulk_released(const void *base, uint32_t nslots, uint64_t seq);

/** Why the sender's side broke (static string). */
const char *ring_bulk_tx_reason(const struct ring_bulk_tx *t);

/** Receiving side: the area of the current message. Fields private. */
struct ring_bulk_rx {
    unsigned char *base;
    uint32_t nslots;
    uint32_t slot_size;
    uint32_t chunk;
    uint32_t cur;  /* length of the chunk ring_bulk_rx_peek() returned */
    uint64_t seq;  /* next chunk to drain */
    uint64_t left; /* message bytes still to come */
    uint64_t off;  /* the area, as announced */
    uint32_t gen;
    int have; /* a message was begun before (gen/seq are known) */
    const char *reason;
};

/**
 * Start receiving the message of announcement a (parsed, and its area
 * checked by the transport) from the area at base. The chunk numbers
 * must continue where the previous message of the same area and
 * generation stopped (a new area or generation starts at 0).
 * @return 0, or -EPROTO (reason set).
 */
int ring_bulk_rx_begin(struct ring_bulk_rx *r, void *base,
                       const struct ring_bulk_announce *a);

/**
 * The next chunk of the message: 1 with *ptr, *len (inside its slot),
 * 0 when it is not published yet, -EPROTO for an impossible mark or
 * length. Peeking again returns the same chunk until consumed.
 */
int ring_bulk_rx_peek(struct ring_bulk_rx *r, const void **ptr, size_t *len);

/** Give the chunk of the last peek back to the sender. */
void ring_bulk_rx_consume(struct ring_bulk_rx *r);

/** Message bytes not yet received (0: the message is complete). */
static inline uint64_t ring_bulk_rx_left(const struct ring_bulk_rx *r)
{
    return r->left;
}

/** Tell the sender we will not drain this area any more (close in the
 * middle of a message), so it may free it. */
void ring_bulk_rx_detach(struct ring_bulk_rx *r);

/** Why the receiving side broke (static string). */
const char *ring_bulk_rx_reason(const struct ring_bulk_rx *r);

#endif /* RING_RING_BULK_H_ */
