/*
 * region_int.h -- private to lib/region: the wire format of the partition
 * directory and of a partition, and the process-local handle.
 *
 * Directory: the segment's reserved directory area (shmseg header dir_off,
 * dir_size; zero when formatted, so an all-zero directory is the valid
 * empty one and layout-1 segments need no feature bit) holds an array of
 * 64-byte entries. Each entry's state word is the only thing ever claimed:
 *
 *   bits  0..31  owner id (shmseg: slot | gen << 10) of the creator
 *   bits 32..55  entry generation (never 0 once claimed; wraps to 1)
 *   bits 56..59  status REGION_E_*
 *
 * FREE(g) --CAS--> CLAIMING(g+1, owner): the claimer writes name, off,
 * size (plain atomics, relaxed), then stores NAMED (seq_cst), scans the
 * other entries for the same name (see dir.c for the tie-break that
 * leaves exactly one winner), then stores READY (release). Any entry
 * whose owner id is not LIVE in the participant table is stale and
 * anyone may CAS it from the exact value seen back to FREE(g). No step
 * waits on a lock a dead process could hold.
 *
 * Partition: a run of frames tagged SHMSEG_TAG_PARTITION owned by the
 * entry's owner, starting at entry.off:
 *
 *   0    struct region_phdr            (64 bytes)
 *   64   struct region_bufhdr [2]      (64 bytes each)
 *   192  data buffer 0 (cap bytes), then data buffer 1 (cap bytes)
 *
 * Double buffering with a sequence lock per buffer: the writer fills the
 * buffer readers are not pointed at (seq odd while it writes, even when
 * done), then flips `cur`. A reader copies buffer `cur` and accepts the
 * copy only if that buffer's seq was even and unchanged around the copy,
 * so it only fails when the writer completed a whole write to the other
 * buffer and started over on this one during the copy.
 */
#ifndef REGION_INT_H
#define REGION_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pscom_region.h"
#include "shmseg/shmseg_discover.h"

/* ---- directory wire format -------------------------------------------- */

#define REGION_E_FREE 0u
#define REGION_E_CLAIMING 1u
#define REGION_E_NAMED 2u
#define REGION_E_READY 3u

#define REGION_GEN_SHIFT 32u
#define REGION_GEN_MASK 0xffffffu
#define REGION_STATUS_SHIFT 56u
#define REGION_STATUS_MASK 0xfu

/* The name as atomic words: readers race with a recycling claimer, and
 * atomic loads keep that a defined (if useless) read, later rejected by
 * re-checking the state word. */
#define REGION_NAME_WORDS 5u

struct region_dirent {
    _Atomic uint64_t state;                   /*  0 */
    _Atomic uint64_t off;                     /*  8: partition offset */
    _Atomic uint64_t size;                    /* 16: requested bytes */
    _Atomic uint64_t name[REGION_NAME_WORDS]; /* 24: NUL-padded */
};

_Static_assert(sizeof(struct region_dirent) == 64, "dirent size");
_Static_assert(REGION_NAME_WORDS * 8 == PSCOM_REGION_NAME_MAX + 1,
               "name words hold the longest name plus NUL");

static inline uint64_t region_estate(uint32_t owner, uint32_t gen,
                                     unsigned status)
{
    return (uint64_t)owner | (uint64_t)gen << REGION_GEN_SHIFT |
           (uint64_t)status << REGION_STATUS_SHIFT;
}

static inline uint32_t region_e_owner(uint64_t w)
{
    return (uint32_t)w;
}

static inline uint32_t region_e_gen(uint64_t w)
{
    return (uint32_t)(w >> REGION_GEN_SHIFT) & REGION_GEN_MASK;
}

static inline unsigned region_e_status(uint64_t w)
{
    return (unsigned)(w >> REGION_STATUS_SHIFT) & REGION_STATUS_MASK;
}

/* ---- partition wire format -------------------------------------------- */

/** "PSREGION" as a little-endian integer. */
#define REGION_MAGIC 0x4e4f494745525350ULL

struct region_phdr {
    uint64_t magic;       /*  0: REGION_MAGIC */
    _Atomic uint64_t id;  /*  8: the directory id, back reference */
    _Atomic uint64_t cur; /* 16: buffer readers use (0 or 1) */
    uint64_t cap;         /* 24: bytes per data buffer (informational) */
    uint8_t pad[32];
};

struct region_bufhdr {
    _Atomic uint64_t seq;     /*  0: odd while being written */
    _Atomic uint64_t len;     /*  8: bytes valid */
    _Atomic uint64_t version; /* 16: writes completed including this one */
    uint8_t pad[40];
};

_Static_assert(sizeof(struct region_phdr) == 64, "phdr size");
_Static_assert(sizeof(struct region_bufhdr) == 64, "bufhdr size");

#define REGION_DATA_OFF                                                        \
    (sizeof(struct region_phdr) + 2 * sizeof(struct region_bufhdr))

/** Reader attempts before -PSCOM_REGION_EBUSY (the writer moved on
 * during them) or -PSCOM_REGION_ESTUCK (it did not). */
#define REGION_READ_TRIES 1000

/* ---- process-local state ---------------------------------------------- */

/** A partition we own; writer state is kept here, never re-read. */
struct region_own {
    bool used;
    uint32_t index;
    uint32_t gen;
    uint64_t off;
    uint64_t size; /* requested */
    uint64_t cap;  /* bytes per buffer */
    uint64_t seq[2];
    uint64_t len;
    uint64_t version;
    unsigned cur;
    char name[PSCOM_REGION_NAME_MAX + 1];
};

/** A trusted, validated view of one directory entry. */
struct region_view {
    uint32_t index;
    uint64_t state;
    uint64_t off;
    uint64_t size;
    uint64_t cap; /* from the frame run, not from the entry */
    char name[PSCOM_REGION_NAME_MAX + 1];
};

struct pscom_region {
    struct shmseg_device dev;
    struct shmseg_member me;
    uint32_t dir_entries;
    struct region_own *own; /* [dir_entries] */
    pthread_t hb_thread;
    pthread_mutex_t hb_lock;
    pthread_cond_t hb_cond;
    bool hb_stop;
    unsigned hb_ms;
    atomic_bool evicted;
};

static inline struct region_dirent *region_dir(const struct pscom_region *r)
{
    return (struct region_dirent *)(r->dev.seg.base + r->dev.seg.dir_off);
}

static inline pscom_region_id_t region_make_id(uint32_t index, uint32_t gen)
{
    return (uint64_t)gen << 32 | index;
}

/* dir.c */
int region_dir_claim(struct pscom_region *r, const char *name, uint64_t off,
                     uint64_t size, uint32_t *index, uint32_t *gen);
int region_dir_publish(struct pscom_region *r, uint32_t index, uint32_t gen);
void region_dir_release(struct pscom_region *r, uint32_t index, uint32_t gen);
int region_dir_find(struct pscom_region *r, const char *name,
                    struct region_view *v);
int region_dir_get(struct pscom_region *r, pscom_region_id_t id,
                   struct region_view *v);
int region_dir_validate(struct pscom_region *r, uint32_t index,
                        struct region_view *v);
int region_dir_still(struct pscom_region *r, const struct region_view *v);
void region_dir_describe(struct pscom_region *r, const struct region_view *v,
                         bool stale, struct pscom_region_info *info);

/* part.c */
uint64_t region_part_bytes(uint64_t size);
void region_part_init(struct pscom_region *r, struct region_own *o);
void region_part_write(struct pscom_region *r, struct region_own *o,
                       uint64_t keep, const void *buf, size_t len);
long region_part_read(struct pscom_region *r, const struct region_view *v,
                      void *buf, size_t cap, struct pscom_region_info *info);
int region_part_peek(struct pscom_region *r, const struct region_view *v,
                     struct pscom_region_info *info);

/* heartbeat.c */
int region_hb_start(struct pscom_region *r);
void region_hb_stop(struct pscom_region *r);
int region_check_live(struct pscom_region *r);

#endif /* REGION_INT_H */
