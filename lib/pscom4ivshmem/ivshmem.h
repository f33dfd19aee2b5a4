/*
 * ivshmem.h -- private header of the ivshmem plugin (libpscom4ivshmem.so).
 *
 * Each side of a connection allocates ITS receive area from the segment's
 * frame allocator during the hand-shake and tells the peer where it is:
 *
 *   area = [ struct ivshmem_ctl (one cache line) | ring (area_len - 64) ]
 *
 * The peer produces into our ring; we consume. The control line carries
 * the "producer detached" flag the peer sets when it stopped writing for
 * good, so we free the frames only when both sides are done with them
 * (or the peer's membership is gone).
 */
#ifndef IVSHMEM_IVSHMEM_H_
#define IVSHMEM_IVSHMEM_H_

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin.h"
#include "shm.h"
#include "shmseg.h"

/** "IVHM" little-endian. */
#define IVSHMEM_MSG_MAGIC 0x4d485649u
/** Version of the hand-shake message; also covers the area layout and
 * the data path's protocol (3: bulk areas on checksum links too, the
 * announcement's RING_BULK_F_TRAILER, which a version 2 peer calls a bad
 * field; 2: large messages through bulk areas, which a version 1 peer
 * would take for a bad message type). */
#define IVSHMEM_MSG_VERSION 3u
/** flags: in an OFFER, the sender asks for a checksum after every
 * message (PSP_IVSHMEM_CHECKSUM); in an ACCEPT, both sides use it (set
 * when either side asked). A peer from before the flags word calls it
 * "reserved field set" and refuses: such a pair falls back to tcp. */
#define IVSHMEM_MSG_F_CHECKSUM 0x1u
/** Smallest and largest receive area accepted from a peer. */
#define IVSHMEM_AREA_MIN ((uint64_t)4096)
#define IVSHMEM_AREA_MAX ((uint64_t)1 << 30)
/** Default receive area per connection and side (a control line, then
 * the ring): as big as the ring's default region, so it follows that
 * (lib/ring/ring.h says why 8 KiB; both sides: 16 KiB). The string is
 * the default of PSP_IVSHMEM_RING_SIZE (seg.c), made from the same
 * number so the two cannot drift apart. */
#define IVSHMEM_AREA_DEFAULT ((unsigned int)RING_DEFAULT_REGION)
#define IVSHMEM_STR_(x) #x
#define IVSHMEM_STR(x) IVSHMEM_STR_(x)
#define IVSHMEM_AREA_DEFAULT_STR IVSHMEM_STR(RING_DEFAULT_REGION_BYTES)
_Static_assert(2 * IVSHMEM_AREA_DEFAULT <= 64 * 1024,
               "at most 64 KiB per connection by default");

/** OFFER and ACCEPT blob (wire format, little-endian, 48 bytes). */
struct ivshmem_msg {
    uint32_t magic;
    uint16_t version;
    uint16_t ring_version;          /**< RING_VERSION (ring.h) */
    uint8_t uuid[SHMSEG_UUID_SIZE]; /**< the sender's segment */
    uint32_t owner;                 /**< the sender's owner id */
    uint32_t flags;                 /**< IVSHMEM_MSG_F_*, others 0 */
    uint64_t off;                   /**< its receive area: offset */
    uint64_t len;                   /**< its receive area: bytes */
};
_Static_assert(sizeof(struct ivshmem_msg) == 48, "wire size");
_Static_assert(RING_VERSION <= UINT16_MAX, "ring version fits the wire field");

/** First cache line of a receive area. */
struct ivshmem_ctl {
    /** Set to 1 (release) by the producing peer when it will never
     * write into this area again. */
    _Atomic uint32_t detached;
    /** Set to 1 (release) by the producing peer when it rings our
     * doorbell whenever our ring's armed word asks for it: only then
     * may we sleep on this ring (anything else: we poll). */
    _Atomic uint32_t bell;
    uint8_t pad[56];
};
_Static_assert(sizeof(struct ivshmem_ctl) == 64, "one cache line");
_Static_assert(offsetof(struct ivshmem_ctl, bell) == 4, "ctl.bell");

/**
 * Parse and check a hand-shake message in isolation (no segment needed):
 * size, magic, versions, unknown flags, area offset alignment and length
 * bounds. Fills *out only on success.
 * @return 0, or -1 with why[why_len] saying what is wrong.
 */
int ivshmem_msg_parse(const void *buf, size_t len, struct ivshmem_msg *out,
                      char *why, size_t why_len);

/**
 * Check a parsed message against our segment: same UUID (co-location)
 * and the area inside the frame area.
 * @return 0, or -1 with why set.
 */
int ivshmem_msg_check(const struct shmseg *seg, const struct ivshmem_msg *m,
                      char *why, size_t why_len);

/* ---- segment (seg.c) --------------------------------------------------- */

/**
 * The attached segment and our membership, discovering and joining on
 * the first call; a failure to discover is cached (later calls fail the
 * same way). A membership that was lost (evicted after a stall past the
 * server's owner timeout, or the segment re-initialised) is replaced by
 * a new one, a new epoch: call this before allocating for a connection.
 * @return the segment, or NULL with reason[PSCOM_PLUGIN_REASON_MAX] set.
 */
struct shmseg *ivshmem_seg_get(char *reason);

/** Our membership (valid after ivshmem_seg_get() succeeded). */
struct shmseg_member *ivshmem_seg_member(void);

/** The current membership's number; a connection records it when it
 * allocates its receive area. */
unsigned ivshmem_seg_epoch(void);

/** Why a connection's membership ended (texts for its error). */
#define IVSHMEM_WHY_EVICTED                                                    \
    "evicted from the segment (stalled past the owner timeout)"
#define IVSHMEM_WHY_REINIT "the segment was re-initialised (ivshmem-server -t)"

/**
 * 1 while the membership of epoch con_epoch holds, else 0 with
 * *lost_why saying why it ended (IVSHMEM_WHY_*). One load and a compare:
 * the connections' periodic check.
 */
int ivshmem_seg_member_ok(unsigned con_epoch, const char **lost_why);

/** Free our area at off right away (the peer never wrote into it);
 * nothing if epoch con_epoch is over (the server reclaims it). */
void ivshmem_seg_free(unsigned con_epoch, uint64_t off);

/** 1 while owner id `owner` is the LIVE generation of its slot, else 0
 * (left, evicted, or reclaimed after its death). */
int ivshmem_seg_peer_live(uint32_t owner);

/** Bytes of each receive area (PSP_IVSHMEM_RING_SIZE, frame-rounded). */
uint64_t ivshmem_area_len(const struct shmseg *seg);

/**
 * Free our area at off once the peer (owner id peer_owner) stopped using
 * it: now if its ctl line says detached or the peer is gone, else later
 * from the heartbeat thread. Nothing if the membership of epoch
 * con_epoch is over: the server reclaims its frames.
 */
void ivshmem_seg_release(unsigned con_epoch, uint64_t off, uint32_t peer_owner);

/**
 * The same for our bulk area at off (nslots slots, chunks 0..seq-1
 * sent): free it once the peer drained the last chunk, detached from
 * the area (ring_bulk_released()) or is gone.
 */
void ivshmem_seg_release_bulk(unsigned con_epoch, uint64_t off,
                              uint32_t peer_owner, uint32_t nslots,
                              uint64_t seq);

/** Stop the heartbeat thread and leave the segment (process exit, or a
 * reprobe: the next ivshmem_seg_get() discovers again). Connections must
 * not use the segment any more. */
void ivshmem_seg_shutdown(void);

/** A connection allocated a receive area in the segment (hold) or gave
 * it back (put): the segment stays mapped while any is held. */
void ivshmem_seg_hold(void);
void ivshmem_seg_put(void);

/** Drop the segment and discover again on the next ivshmem_seg_get():
 * now if no connection holds it, else when the last one puts it back
 * (until then ivshmem_seg_get() returns the segment still mapped). */
void ivshmem_seg_reprobe(void);

/** The PSP_IVSHMEM_* rows (pscom_info lists them) and their values. */
#define IVSHMEM_ENV_ROWS 7
extern const pscom_env_row_t ivshmem_env_rows[IVSHMEM_ENV_ROWS];
extern unsigned int ivshmem_env_area_size;
extern char *ivshmem_env_doorbell; /* PSP_IVSHMEM_DOORBELL */
extern char *ivshmem_env_socket;   /* PSP_IVSHMEM_SOCKET */

/* ---- doorbells (bell.c) ------------------------------------------------ */

struct shmseg_device;

/** Get a doorbell as PSP_IVSHMEM_DOORBELL says (host processes: connect
 * to the server's socket and watch our eventfd); logs at PSP_DEBUG=2
 * which, or why waits will poll. Lock held (registers a ufd).
 * @return 0 with a doorbell, -1 without. */
int ivshmem_bell_open(const struct shmseg_device *dev);

/** Our peer id when we have a doorbell, else -1. */
int ivshmem_bell_id(void);

/** Which doorbell we have (a new number each time one is opened: after
 * a reprobe the old connections' peers ring the old one), 0: none. */
unsigned ivshmem_bell_gen(void);

/** After a join: publish our doorbell in our participant slot (host:
 * vector 0 of our peer id; guests claim a vector there first, and
 * without one drop the doorbell and poll). 0, or -1 without. */
int ivshmem_bell_publish(struct shmseg_member *me);

/** 1 when we can ring (peer, vector): the server gave us its eventfd
 * (waits up to 2 s for a peer that just connected), else 0. */
int ivshmem_bell_reachable(uint16_t peer, uint16_t vector);

/** Ring (peer, vector). 0, or -1 when we have no eventfd for it. */
int ivshmem_bell_ring(uint16_t peer, uint16_t vector);

/** Drop the doorbell and the server connection. */
void ivshmem_bell_close(void);

#endif /* IVSHMEM_IVSHMEM_H_ */
