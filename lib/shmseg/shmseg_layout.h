/*
 * shmseg_layout.h -- the shared segment's wire format (layout version 1).
 *
 * The segment is one block of memory that the host server creates and every
 * VM on the host maps through its ivshmem PCI BAR 2, at a different address
 * in every process, possibly written by a buggy or hostile guest. So:
 *   - only fixed-width integers, explicit padding, no pointers, no pthread
 *     objects; every size and offset below is pinned by _Static_assert;
 *   - everything is reached through offsets stored in the header;
 *   - readers copy and validate the header once (shmseg_attach) and never
 *     trust a value read from the segment afterwards without a bounds check.
 *
 * Map of a segment (all offsets from the start of the segment):
 *
 *   0                      struct shmseg_header      (256 bytes)
 *   part_off               struct shmseg_participant [part_count]
 *   dir_off                partition directory       (dir_size bytes, zeroed)
 *   state_off              _Atomic uint64_t          [frame_count]
 *   first_frame_off        frame_count frames of frame_size bytes
 *   first_frame_off + frame_count * frame_size <= total_size
 *
 * Initialisation: the creator writes everything, then stores
 * SHMSEG_READY_VALUE into `ready` with release ordering. An attacher loads
 * `ready` with acquire ordering first and reads nothing else before it saw
 * the value, so a half-written header is never taken for a valid one.
 *
 * Versioning: `version` must equal SHMSEG_LAYOUT_VERSION. `compat_features`
 * bits a reader does not know may be ignored; `incompat_features` bits it
 * does not know make it refuse the segment. The directory area is zero
 * when formatted and holds lib/region's partition directory (named
 * partitions, region_int.h), whose all-zero state is the valid empty
 * directory: readers that do not use partitions never touch it, so it
 * needed neither a feature bit nor a new version.
 *
 * All multi-byte values are little-endian (x86-64 hosts and guests only).
 */
#ifndef SHMSEG_LAYOUT_H
#define SHMSEG_LAYOUT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/** "PSIVSHM\0" read as a little-endian 64-bit integer. */
#define SHMSEG_MAGIC 0x004d48535649535fULL
/** Layout version; any change to the structures below bumps it. */
#define SHMSEG_LAYOUT_VERSION 1u
/** Value of `ready` once the creator finished; not 1, so that stray small
 * integers written by accident do not look ready. */
#define SHMSEG_READY_VALUE 0x52454459u /* "YDER" */

#define SHMSEG_HEADER_SIZE 256u
#define SHMSEG_UUID_SIZE 16u
#define SHMSEG_NAME_SIZE 64u
#define SHMSEG_LABEL_SIZE 24u

/** Default frame size: a page; 16 frames make a 64 KiB connection ring. */
#define SHMSEG_DEFAULT_FRAME_SIZE 4096u
/** Frame sizes allowed: powers of two in [SHMSEG_MIN_FRAME_SIZE, MAX]. */
#define SHMSEG_MIN_FRAME_SIZE 64u
#define SHMSEG_MAX_FRAME_SIZE (1u << 30)
/** Default and maximum number of participant slots. */
#define SHMSEG_DEFAULT_PARTICIPANTS 64u
#define SHMSEG_MAX_PARTICIPANTS 1024u
/** Size of the directory area (lib/region's partitions) in layout 1. */
#define SHMSEG_DIR_RESERVED 4096u

/*
 * Frame state word: one _Atomic uint64_t per frame, 0 = free.
 *
 *   bits  0..9   participant slot of the owner
 *   bits 10..31  owner generation (never 0 in a used word)
 *   bits 32..55  head frame: run length in frames;
 *                other frames: distance (in frames) back to the head
 *   bits 56..61  tag (kind of allocation, SHMSEG_TAG_*), same in every frame
 *   bit  62      reserved, 0
 *   bit  63      SHMSEG_FRAME_HEAD: first frame of a run
 *
 * The low 32 bits are the "owner id" (slot + generation): a word whose
 * owner id is not the current LIVE generation of its slot is garbage a
 * reclaimer may clear with a CAS. Runs are claimed frame by frame with CAS,
 * tail frames first and the head last, so a run is published when its head
 * is; a crash part-way leaves tail words that carry the dead owner id.
 */
#define SHMSEG_SLOT_BITS 10u
#define SHMSEG_GEN_BITS 22u
#define SHMSEG_GEN_MASK ((1u << SHMSEG_GEN_BITS) - 1u)
#define SHMSEG_RUN_SHIFT 32u
#define SHMSEG_RUN_MASK 0xffffffu
#define SHMSEG_MAX_RUN SHMSEG_RUN_MASK
#define SHMSEG_TAG_SHIFT 56u
#define SHMSEG_TAG_MASK 0x3fu
#define SHMSEG_FRAME_HEAD (1ULL << 63)
#define SHMSEG_FRAME_RESERVED (1ULL << 62)

/** Maximum frame count: the run field must be able to span the segment. */
#define SHMSEG_MAX_FRAMES SHMSEG_RUN_MASK

/** Allocation tags (6 bits). Values up to SHMSEG_TAG_MASK may be added. */
enum shmseg_tag {
    SHMSEG_TAG_NONE = 0,
    SHMSEG_TAG_RING = 1,      /**< per-connection receive ring (plugin) */
    SHMSEG_TAG_PARTITION = 2, /**< named partition (lib/region) */
    SHMSEG_TAG_BULK = 3,      /**< a connection's bulk area (large messages,
                                   owned by the sending side) */
    SHMSEG_TAG_TEST = 63,     /**< tests and benchmarks */
};

/*
 * Participant slot state word: bits 0..31 the slot's current generation,
 * bits 32..39 the status. A slot goes FREE(g) -> LIVE(g+1) on join (CAS),
 * LIVE(g) -> RECLAIMING(g) when someone declares the owner gone (CAS, so
 * exactly one reclaimer), RECLAIMING(g) -> FREE(g) when its frames are
 * cleared, and LIVE(g) -> FREE(g) on a clean leave. An owner compares the
 * word with LIVE(its generation) to learn whether it still owns anything.
 */
enum shmseg_part_status {
    SHMSEG_PART_FREE = 0,
    SHMSEG_PART_LIVE = 1,
    SHMSEG_PART_RECLAIMING = 2,
};
#define SHMSEG_PART_STATUS_SHIFT 32u

/** Participant flags (shmseg_participant.flags). */
#define SHMSEG_PF_HOST_LOCAL 0x1u /**< runs on the host: host_pid is valid */

/** Header feature bits. None are defined in layout 1. */
#define SHMSEG_COMPAT_KNOWN 0u
#define SHMSEG_INCOMPAT_KNOWN 0u

/**
 * One participant slot (a process that owns allocations), one cache line.
 * Liveness: `heartbeat` is incremented by the owner (shmseg_heartbeat);
 * an observer that sees it unchanged for its timeout, measured on its own
 * clock, declares the owner dead. That is the authoritative rule, because
 * it works across VMs. `host_pid` is only set by owners running on the
 * host (SHMSEG_PF_HOST_LOCAL); a host observer may use kill(pid, 0) ==
 * ESRCH to reclaim sooner, never to keep an owner alive.
 */
struct shmseg_participant {
    _Atomic uint64_t state;        /*  0: generation | status << 32 */
    _Atomic uint64_t heartbeat;    /*  8: bumped by the owner */
    _Atomic uint64_t hb_time_ns;   /* 16: owner's CLOCK_REALTIME at last bump
                                        (informational; clocks differ) */
    _Atomic int32_t host_pid;      /* 24: pid when host-local, else 0 */
    _Atomic uint32_t flags;        /* 28: SHMSEG_PF_* */
    char label[SHMSEG_LABEL_SIZE]; /* 32: NUL-padded, not trusted */
    _Atomic uint64_t doorbell;     /* 56: SHMSEG_DOORBELL_*, 0: none */
};

/*
 * Participant doorbell word: how to wake the owner (an interrupt carries
 * no meaning; the segment says whose it is). Written by the owner after
 * it joined, 0 when it has no doorbell (it polls). Bits 0..15 the vector,
 * bits 16..31 the ivshmem peer id (the server's id of the VM, or of the
 * host process connected to its socket), bits 48..63 the tag
 * SHMSEG_DOORBELL_TAG (a word without it is none: until layout 1 grew
 * this field these were label bytes, which are ASCII). Untrusted: a
 * reader checks the slot is LIVE with the owner's generation, and rings
 * only peers and vectors the server gave it eventfds for.
 */
#define SHMSEG_DOORBELL_TAG 0xdb11ULL
#define SHMSEG_DOORBELL_TAG_SHIFT 48u
#define SHMSEG_DOORBELL_PEER_SHIFT 16u
#define SHMSEG_DOORBELL_MASK16 0xffffULL

/** The header at offset 0. Written once by the creator, then read-only. */
struct shmseg_header {
    uint64_t magic;                 /*   0: SHMSEG_MAGIC */
    uint32_t version;               /*   8: SHMSEG_LAYOUT_VERSION */
    uint32_t header_size;           /*  12: SHMSEG_HEADER_SIZE */
    uint64_t total_size;            /*  16: bytes the layout covers */
    uint8_t uuid[SHMSEG_UUID_SIZE]; /* 24: random, per formatting */
    uint32_t frame_size;            /*  40: power of two */
    uint32_t frame_count;           /*  44 */
    uint64_t part_off;              /*  48: participant table */
    uint32_t part_count;            /*  56: slots */
    uint32_t part_size;             /*  60: sizeof(struct shmseg_participant) */
    uint64_t dir_off;               /*  64: lib/region's partition directory */
    uint64_t dir_size;              /*  72 */
    uint64_t state_off;             /*  80: frame state words */
    uint64_t first_frame_off;       /*  88: frame 0, frame_size aligned */
    uint64_t created_ns;            /*  96: CLOCK_REALTIME of formatting */
    uint32_t compat_features;       /* 104 */
    uint32_t incompat_features;     /* 108 */
    char name[SHMSEG_NAME_SIZE];    /* 112: segment name, NUL-padded */
    uint8_t pad0[76];               /* 176: zero */
    _Atomic uint32_t ready;         /* 252: SHMSEG_READY_VALUE, written last */
};

_Static_assert(sizeof(_Atomic uint64_t) == 8, "atomic u64 is 8 bytes");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "atomic u32 is 4 bytes");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2,
               "64-bit atomics must be lock-free to work across processes");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "32-bit atomics must be lock-free to work across processes");

_Static_assert(sizeof(struct shmseg_participant) == 64, "participant size");
_Static_assert(offsetof(struct shmseg_participant, state) == 0, "p.state");
_Static_assert(offsetof(struct shmseg_participant, heartbeat) == 8, "p.hb");
_Static_assert(offsetof(struct shmseg_participant, hb_time_ns) == 16,
               "p.hb_time_ns");
_Static_assert(offsetof(struct shmseg_participant, host_pid) == 24, "p.pid");
_Static_assert(offsetof(struct shmseg_participant, flags) == 28, "p.flags");
_Static_assert(offsetof(struct shmseg_participant, label) == 32, "p.label");
_Static_assert(offsetof(struct shmseg_participant, doorbell) == 56,
               "p.doorbell");

_Static_assert(sizeof(struct shmseg_header) == SHMSEG_HEADER_SIZE, "header");
_Static_assert(offsetof(struct shmseg_header, magic) == 0, "h.magic");
_Static_assert(offsetof(struct shmseg_header, version) == 8, "h.version");
_Static_assert(offsetof(struct shmseg_header, header_size) == 12, "h.hsize");
_Static_assert(offsetof(struct shmseg_header, total_size) == 16, "h.size");
_Static_assert(offsetof(struct shmseg_header, uuid) == 24, "h.uuid");
_Static_assert(offsetof(struct shmseg_header, frame_size) == 40, "h.fsize");
_Static_assert(offsetof(struct shmseg_header, frame_count) == 44, "h.fcount");
_Static_assert(offsetof(struct shmseg_header, part_off) == 48, "h.part_off");
_Static_assert(offsetof(struct shmseg_header, part_count) == 56, "h.pcount");
_Static_assert(offsetof(struct shmseg_header, part_size) == 60, "h.psize");
_Static_assert(offsetof(struct shmseg_header, dir_off) == 64, "h.dir_off");
_Static_assert(offsetof(struct shmseg_header, dir_size) == 72, "h.dir_size");
_Static_assert(offsetof(struct shmseg_header, state_off) == 80, "h.state");
_Static_assert(offsetof(struct shmseg_header, first_frame_off) == 88,
               "h.first_frame_off");
_Static_assert(offsetof(struct shmseg_header, created_ns) == 96, "h.created");
_Static_assert(offsetof(struct shmseg_header, compat_features) == 104,
               "h.compat");
_Static_assert(offsetof(struct shmseg_header, incompat_features) == 108,
               "h.incompat");
_Static_assert(offsetof(struct shmseg_header, name) == 112, "h.name");
_Static_assert(offsetof(struct shmseg_header, pad0) == 176, "h.pad0");
_Static_assert(offsetof(struct shmseg_header, ready) == 252, "h.ready");

#endif /* SHMSEG_LAYOUT_H */
