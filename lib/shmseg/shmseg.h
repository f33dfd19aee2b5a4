/*
 * shmseg.h -- attach a shared segment, allocate runs of frames in it,
 * and reclaim what dead owners leave behind. Interface of lib/shmseg
 * (libshmseg.la); the wire format is in shmseg_layout.h, device discovery
 * in shmseg_discover.h.
 *
 * Usage (the ivshmem plugin):
 *
 *   struct shmseg seg;            // process-local view, validated copy
 *   shmseg_attach(&seg, base, map_size);     // or shmseg_discover()
 *   struct shmseg_member me;
 *   shmseg_join(&seg, &me, "pscom:1234", 0); // a participant slot
 *   // every ~100 ms, from a thread or the progress engine:
 *   shmseg_heartbeat(&me);
 *   uint64_t off;
 *   shmseg_alloc(&me, shmseg_frames_for(&seg, 65536), SHMSEG_TAG_RING,
 *                &off);                      // no syscall, no lock
 *   // send (seg.uuid, off, len) to the peer; the peer checks
 *   // shmseg_uuid_equal() and shmseg_check_range(&seg, off, len)
 *   if (shmseg_member_valid(&me) < 0) { ... evicted: stop using frames }
 *   shmseg_free(&me, off);
 *   shmseg_leave(&me);
 *
 * No function takes a lock. Allocation claims each frame's state word
 * with a compare-and-swap and rolls back on conflict, so a process that
 * dies at any instruction leaves only words carrying its owner id, which
 * a reclaimer clears once the owner is declared gone (see shmseg_layout.h
 * for the liveness rule).
 *
 * Errors: functions return 0 (or a count) on success and a negative
 * -SHMSEG_E* code on failure; shmseg_strerror() names it. Outputs are set
 * only on success. The library logs nothing at PSP_DEBUG < 2 except
 * through explicit calls; see shmseg_log_set().
 */
#ifndef SHMSEG_H
#define SHMSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmseg_layout.h"

/** Error codes, returned negated. */
enum shmseg_err {
    SHMSEG_OK = 0,
    SHMSEG_EINVAL = 1,      /**< bad argument from the caller */
    SHMSEG_EBADMAGIC = 2,   /**< no pscom layout at offset 0 */
    SHMSEG_EBADVERSION = 3, /**< layout version or feature not supported */
    SHMSEG_ETOOSMALL = 4,   /**< mapping smaller than the header says */
    SHMSEG_ENOTREADY = 5,   /**< magic present, initialisation unfinished */
    SHMSEG_ECORRUPT = 6,    /**< header or state word inconsistent */
    SHMSEG_ENOSPC = 7,      /**< no free run of frames large enough */
    SHMSEG_EDOUBLEFREE = 8, /**< freeing frames that are not allocated */
    SHMSEG_ENOTOWNER = 9,   /**< freeing another owner's frames */
    SHMSEG_ENOTHEAD = 10,   /**< offset is not the start of an allocation */
    SHMSEG_ERANGE = 11,     /**< offset/length outside the frame area or
                                 not frame aligned */
    SHMSEG_EEVICTED = 12,   /**< this member was declared dead; its frames
                                 are no longer its own */
    SHMSEG_EFULL = 13,      /**< no free participant slot */
    SHMSEG_ESYS = 14,       /**< a system call failed, errno kept */
    SHMSEG_ENODEV = 15,     /**< discovery found no usable device */
    SHMSEG_ENOENT = 16,     /**< the frame at an offset is free */
};

/** Static name of an error code (positive or negative). Never NULL. */
const char *shmseg_strerror(int err);

/**
 * Process-local, validated view of one mapped segment. Filled by
 * shmseg_attach() or shmseg_format(); the geometry fields are copies taken
 * once, so later writes to the header by a hostile guest change nothing.
 */
struct shmseg {
    uint8_t *base;       /**< start of the mapping */
    uint64_t map_size;   /**< bytes mapped */
    uint64_t total_size; /**< header's total size (<= map_size) */
    uint8_t uuid[SHMSEG_UUID_SIZE];
    char name[SHMSEG_NAME_SIZE]; /**< NUL-terminated copy */
    uint32_t frame_size;
    uint32_t frame_shift; /**< log2(frame_size) */
    uint32_t frame_count;
    uint32_t part_count;
    uint64_t part_off;
    uint64_t dir_off;
    uint64_t dir_size;
    uint64_t state_off;
    uint64_t first_frame_off;
    char why[160]; /**< why the last attach failed, for messages */
};

/** Parameters of shmseg_format(); zero fields take the defaults. */
struct shmseg_params {
    uint32_t frame_size; /**< default SHMSEG_DEFAULT_FRAME_SIZE */
    uint32_t part_count; /**< default SHMSEG_DEFAULT_PARTICIPANTS */
    const char *name;    /**< stored in the header; may be NULL */
};

/**
 * Lay out a new segment in [base, base + size) and mark it ready. Zeroes
 * the metadata (not the frames), draws a new UUID (getrandom), writes the
 * header, then `ready` last with release ordering. Only the creator (the
 * server) calls this, while nobody else uses the memory.
 * @return 0 and *seg filled; -SHMSEG_EINVAL for bad parameters or a size
 * too small for one frame; -SHMSEG_ESYS if no random bytes were available.
 */
int shmseg_format(struct shmseg *seg, void *base, uint64_t size,
                  const struct shmseg_params *params);

/**
 * Validate the segment mapped at base (map_size bytes) and fill *seg.
 * Checks, in order: `ready` (acquire), magic, version and feature bits,
 * header size, total size <= map_size, frame size, and that every area
 * lies inside total_size without overlap. On failure seg->why says
 * exactly what is wrong (e.g. "segment size 1048576 > mapping 65536").
 * @return 0, or -SHMSEG_EBADMAGIC, -SHMSEG_ENOTREADY, -SHMSEG_EBADVERSION,
 * -SHMSEG_ETOOSMALL, -SHMSEG_ECORRUPT.
 */
int shmseg_attach(struct shmseg *seg, void *base, uint64_t map_size);

/** The header in the mapping (read-only use; values are not trusted). */
static inline const struct shmseg_header *
shmseg_header(const struct shmseg *seg)
{
    return (const struct shmseg_header *)seg->base;
}

/** Number of frames needed for `bytes` (rounded up; 0 for 0 bytes). */
uint32_t shmseg_frames_for(const struct shmseg *seg, uint64_t bytes);

/**
 * Check that [off, off + len) lies inside the frame area, that off is
 * frame aligned and that len > 0. Use it on every offset received from a
 * peer before touching memory.
 * @return 0 or -SHMSEG_ERANGE.
 */
int shmseg_check_range(const struct shmseg *seg, uint64_t off, uint64_t len);

/** Address of offset `off`; call only after shmseg_check_range(). */
static inline void *shmseg_ptr(const struct shmseg *seg, uint64_t off)
{
    return seg->base + off;
}

/** True when the two 16-byte UUIDs are equal (co-location test). */
bool shmseg_uuid_equal(const uint8_t *a, const uint8_t *b);

/** Format a UUID as 36 characters plus NUL into out (>= 37 bytes). */
void shmseg_uuid_str(const uint8_t *uuid, char *out);

/* ---- participants ------------------------------------------------------ */

/** A process's membership: its slot and generation. Process-local. */
struct shmseg_member {
    struct shmseg *seg;
    uint32_t slot;
    uint32_t gen;
    uint32_t hint; /**< next-fit scan start (frame index) */
};

/**
 * Publish how to wake us (our participant slot's doorbell word): ivshmem
 * peer id and vector, or clear it with peer < 0. After a join; a new
 * join starts without one.
 * @return 0, -SHMSEG_EINVAL (id or vector beyond 16 bits),
 * -SHMSEG_EEVICTED (the slot is no longer ours).
 */
int shmseg_member_set_doorbell(struct shmseg_member *m, int peer,
                               unsigned vector);

/**
 * How to wake owner id `owner`: 0 with *peer and *vector when its slot
 * is LIVE in that generation and carries a doorbell word, -1 otherwise
 * (no doorbell: it polls; or it is gone).
 */
int shmseg_owner_doorbell(const struct shmseg *seg, uint32_t owner,
                          uint16_t *peer, uint16_t *vector);

/** The same for whoever holds slot `slot` now (LIVE, any generation):
 * for a scan of the table (which vectors are taken). 0 or -1. */
int shmseg_slot_doorbell(const struct shmseg *seg, uint32_t slot,
                         uint16_t *peer, uint16_t *vector);

/** Join flags. */
#define SHMSEG_JOIN_HOST_LOCAL 0x1u /**< record getpid(): we run on the host */

/**
 * Take a free participant slot (CAS FREE(g) -> LIVE(g+1)), record label,
 * flags, host pid (with SHMSEG_JOIN_HOST_LOCAL) and a first heartbeat.
 * @return 0, -SHMSEG_EFULL when all slots are taken, -SHMSEG_EINVAL.
 */
int shmseg_join(struct shmseg *seg, struct shmseg_member *m, const char *label,
                unsigned flags);

/**
 * Leave cleanly: free every frame this member still owns, then free the
 * slot. Safe to call after eviction (returns -SHMSEG_EEVICTED, changes
 * nothing).
 * @return number of frames freed (>= 0) or -SHMSEG_EEVICTED.
 */
long shmseg_leave(struct shmseg_member *m);

/**
 * Prove liveness: increment the slot's heartbeat (one atomic add on the
 * member's own cache line). Call it more often than the observers'
 * timeout (the server default is SHMSEG_DEFAULT_TIMEOUT_MS).
 * @return 0, or -SHMSEG_EEVICTED when the slot is no longer ours.
 */
int shmseg_heartbeat(struct shmseg_member *m);

/**
 * Cheap check (one atomic load) that this member was not declared dead.
 * An owner that was stalled (VM paused) longer than the timeout must call
 * this before using frames again; after -SHMSEG_EEVICTED it owns nothing
 * and must re-join.
 * @return 0 or -SHMSEG_EEVICTED.
 */
int shmseg_member_valid(const struct shmseg_member *m);

/**
 * Why a membership ended, for messages: true when the header in the
 * mapping is no longer the one attached (not ready, or another UUID: the
 * server re-initialised the segment, `ivshmem-server -t`), false when the
 * segment is the same (the member was evicted). A re-initialised
 * segment's old geometry and offsets are void: attach again before use.
 */
bool shmseg_reinitialised(const struct shmseg *seg);

/** Owner id (slot | generation << SHMSEG_SLOT_BITS) of a member. */
static inline uint32_t shmseg_member_owner(const struct shmseg_member *m)
{
    return m->slot | (m->gen << SHMSEG_SLOT_BITS);
}

/* ---- owners ------------------------------------------------------------
 * An owner id names one membership: a participant slot and the
 * generation it had when the member joined. Frame state words and the
 * entries other rooms keep in the segment (lib/region's directory) carry
 * it; whatever an owner id claims is valid only while it is live. */

/** Participant slot of an owner id (may be >= part_count: check). */
static inline uint32_t shmseg_owner_slot(uint32_t owner)
{
    return owner & ((1u << SHMSEG_SLOT_BITS) - 1);
}

/** Generation of an owner id (0 in no valid owner id). */
static inline uint32_t shmseg_owner_gen(uint32_t owner)
{
    return owner >> SHMSEG_SLOT_BITS;
}

/**
 * True when owner id `owner` is the current LIVE generation of its slot
 * (one acquire load of the slot's state word: what the owner wrote before
 * it was declared dead is visible). A reclaimer turns a slot non-LIVE
 * before it clears any frame, so what a reader copied from the owner's
 * frames before a true answer here was still the owner's. Works for any
 * owner id read from the segment: a slot out of range is not live.
 */
bool shmseg_owner_is_live(const struct shmseg *seg, uint32_t owner);

/* ---- allocation -------------------------------------------------------- */

/**
 * Allocate a run of `nframes` contiguous frames tagged `tag`. Lock-free:
 * each frame is claimed with a CAS; on conflict the claimed ones are
 * released and the scan continues. No system call.
 * @return 0 and *offset = offset of the first frame from the segment
 * start; -SHMSEG_ENOSPC when no free run is large enough (the caller may
 * fall back to another transport); -SHMSEG_EEVICTED; -SHMSEG_EINVAL for 0
 * frames, more than SHMSEG_MAX_RUN, or a tag > SHMSEG_TAG_MASK.
 */
int shmseg_alloc(struct shmseg_member *m, uint32_t nframes, unsigned tag,
                 uint64_t *offset);

/**
 * Free the run that starts at `offset`.
 * @return 0; -SHMSEG_ERANGE (outside the frame area or unaligned);
 * -SHMSEG_EDOUBLEFREE (frame is free); -SHMSEG_ENOTOWNER (owned by someone
 * else, including an older generation of our own slot);
 * -SHMSEG_ENOTHEAD (inside an allocation, not its start);
 * -SHMSEG_EEVICTED.
 */
int shmseg_free(struct shmseg_member *m, uint64_t offset);

/* ---- inspection -------------------------------------------------------- */

struct shmseg_alloc_info;

/**
 * The allocator's record of the run that starts at `offset` (a peer
 * named it: the value is untrusted). Reads the head word and, with
 * `whole`, every tail word too, which must name the same owner, tag and
 * distance back to the head (a forged head cannot claim frames owned by
 * others).
 * @return 0 and *out; -SHMSEG_ERANGE (outside the frame area or not on
 * a frame); -SHMSEG_ENOTHEAD (free, or inside a run); -SHMSEG_ECORRUPT
 * (a run that overruns the frame area or disagrees with its tail).
 */
int shmseg_alloc_get(const struct shmseg *seg, uint64_t offset, bool whole,
                     struct shmseg_alloc_info *out);

/** Decoded state of one allocation (a run). */
struct shmseg_alloc_info {
    uint32_t first;   /**< frame index of the head */
    uint32_t nframes; /**< run length */
    uint64_t offset;  /**< byte offset of the head */
    uint32_t owner;   /**< owner id */
    uint32_t slot;
    uint32_t gen;
    unsigned tag;
    bool owner_live; /**< slot is LIVE with this generation */
};

/** Decoded participant slot. */
struct shmseg_part_info {
    uint32_t slot;
    uint32_t gen;
    unsigned status; /**< enum shmseg_part_status */
    uint64_t heartbeat;
    uint64_t hb_time_ns;
    int32_t host_pid;
    uint32_t flags;
    char label[SHMSEG_LABEL_SIZE + 1]; /**< sanitised, NUL-terminated */
};

/**
 * The run the frame at `off` belongs to (off is frame aligned; a head or
 * any frame inside the run), decoded from the allocator's state words
 * with acquire ordering, so a run seen published shows what its owner
 * wrote before. A snapshot: the run may be freed right after. Words that
 * do not describe a consistent run (torn, or written by a hostile guest)
 * are refused, never decoded.
 * @return 0 and *out filled (out->offset is the head's offset);
 * -SHMSEG_ERANGE (outside the frame area or unaligned); -SHMSEG_ENOENT
 * (the frame is free); -SHMSEG_ECORRUPT (inconsistent state words).
 */
int shmseg_run_at(const struct shmseg *seg, uint64_t off,
                  struct shmseg_alloc_info *out);

/** Read participant slot `slot`. @return 0 or -SHMSEG_EINVAL. */
int shmseg_part_get(const struct shmseg *seg, uint32_t slot,
                    struct shmseg_part_info *out);

/** Frame usage counts from one pass over the state words. */
struct shmseg_usage {
    uint32_t free_frames;
    uint32_t used_frames;  /**< owned by a live member */
    uint32_t stale_frames; /**< carrying an owner id that is not live */
    uint32_t bad_frames;   /**< inconsistent words (hostile or torn) */
    uint32_t allocations;  /**< heads with a live owner */
};

/**
 * Walk the state words; call cb for every run head (live or stale) and
 * fill *usage if not NULL. A snapshot: concurrent changes may show.
 * cb returns non-zero to stop the walk.
 * @return 0.
 */
int shmseg_walk(const struct shmseg *seg,
                int (*cb)(const struct shmseg_alloc_info *a, void *arg),
                void *arg, struct shmseg_usage *usage);

/* ---- reclaim ----------------------------------------------------------- */

/** Server defaults (ivshmem-server --reclaim-period, --owner-timeout). */
#define SHMSEG_DEFAULT_PERIOD_MS 500u
#define SHMSEG_DEFAULT_TIMEOUT_MS 10000u

/**
 * Declare slot `slot` generation `gen` dead and clear its frames: CAS
 * LIVE(gen) -> RECLAIMING(gen) (only one caller wins), clear every frame
 * word of that owner id, then FREE(gen). Anyone may call it (server,
 * tools, a participant).
 * @return number of frames freed (>= 0); -SHMSEG_EINVAL if the slot is not
 * LIVE(gen) (already reclaimed, left or re-joined).
 */
long shmseg_reclaim_owner(struct shmseg *seg, uint32_t slot, uint32_t gen);

/**
 * Clear frame words whose owner id is not currently LIVE (claims a dead
 * owner made after its reclaim, or words written by a hostile guest)
 * and finish reclaims whose reclaimer died (slots left RECLAIMING).
 * A word is only cleared if it still holds the value seen (CAS).
 * @return number of frames freed.
 */
long shmseg_reclaim_orphans(struct shmseg *seg);

/** Why a monitor declared an owner dead. */
enum shmseg_death {
    SHMSEG_DEATH_TIMEOUT = 1, /**< heartbeat unchanged for timeout_ms */
    SHMSEG_DEATH_PID = 2,     /**< host-local pid no longer exists */
    SHMSEG_DEATH_CORRUPT = 3, /**< slot state is no valid state (a stray
                                   or hostile write): the slot is freed */
};

/** Per-slot observation memory of a monitor (process-local). */
struct shmseg_watch {
    uint64_t state;
    uint64_t heartbeat;
    uint64_t changed_ms;
};

/**
 * Liveness monitor: remembers every slot's last heartbeat and when (on the
 * observer's CLOCK_MONOTONIC) it last changed. Used by the server.
 */
struct shmseg_monitor {
    struct shmseg *seg;
    uint64_t timeout_ms;
    bool check_pids; /**< also use kill(pid, 0) for host-local
                                 owners (same pid namespace only) */
    struct shmseg_watch watch[SHMSEG_MAX_PARTICIPANTS];
    /** Called for each reclaim (for logging); may be NULL. */
    void (*on_reclaim)(void *arg, const struct shmseg_part_info *who,
                       enum shmseg_death why, long frames);
    void *arg;
    unsigned polls; /**< passes so far (orphan sweep pacing) */
};

/** The orphan sweep reads every frame word; a monitor runs it on every
 * pass that reclaimed someone and otherwise every this many passes. */
#define SHMSEG_ORPHAN_SWEEP_EVERY 16u

/** Initialise a monitor; every slot starts "just seen". */
void shmseg_monitor_init(struct shmseg_monitor *mon, struct shmseg *seg,
                         uint64_t timeout_ms, bool check_pids);

/**
 * One monitoring pass at time now_ms (CLOCK_MONOTONIC milliseconds):
 * reclaim owners whose heartbeat did not change for timeout_ms or whose
 * host pid is gone, then shmseg_reclaim_orphans() (on the first pass,
 * after a reclaim, and every SHMSEG_ORPHAN_SWEEP_EVERY passes).
 * @return total frames freed.
 */
long shmseg_monitor_poll(struct shmseg_monitor *mon, uint64_t now_ms);

/** CLOCK_MONOTONIC in milliseconds. */
uint64_t shmseg_now_ms(void);

/* ---- logging ----------------------------------------------------------- */

/**
 * Log sink: level 0 error, 1 warning, 2 candidate/decision details,
 * 3 trace. The default writes "ivshmem: <msg>\n" to stderr when level <=
 * PSP_DEBUG (environment, default 1). libpscom, which holds the process's
 * copy of this library, installs its sink (PSP_DEBUG_OUT) in pscom_init.
 */
typedef void (*shmseg_log_fn)(void *arg, int level, const char *msg);

/** Replace the log sink (NULL restores the default). */
void shmseg_log_set(shmseg_log_fn fn, void *arg);

/** Log through the sink (printf format). */
void shmseg_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** The debug level: PSP_DEBUG from the environment, read once. */
int shmseg_debug_level(void);

#endif /* SHMSEG_H */
