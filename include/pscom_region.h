/*
 * pscom_region.h -- named partitions in the inter-VM shared segment.
 *
 * Applications in co-located VMs (and on the host) share small pieces of
 * data through the ivshmem segment: every process may create NAMED
 * partitions that it alone writes, and every process in every VM may
 * read any partition by name or id.
 *
 *   pscom_region_t *r;
 *   pscom_region_id_t id;
 *   pscom_region_open(&r, NULL);              // discovery, join, heartbeat
 *   pscom_region_create(r, "temps", 4096, &id); // or open our own again
 *   pscom_region_write(r, id, buf, len);      // replace the content
 *   pscom_region_append(r, id, more, n);      // or add at the end
 *   // in another VM:
 *   long n = pscom_region_read_name(r, "temps", buf, sizeof(buf), &info);
 *   pscom_region_close(r);                    // frees our partitions
 *
 * The segment: found like the ivshmem plugin finds it (PSP_IVSHMEM_DEVICE,
 * then uio devices, then PCI; PSP_IVSHMEM_SEGMENT selects a segment by
 * name). Opening joins the segment as a participant and starts a small
 * heartbeat thread; if the process dies (or is paused longer than the
 * server's owner timeout), the server reclaims its frames and every
 * partition it owned reads as stale (-PSCOM_REGION_ESTALE).
 *
 * Ids come from the segment: directory slot index and a generation that
 * changes every time the slot is reused, so an id of a deleted partition
 * never names a later one.
 *
 * Consistency: one writer per partition (its creator); any number of
 * readers anywhere. A read returns one complete version or an error,
 * never a mix of two writes. A reader that keeps losing the race against
 * a very fast writer gives up after a bounded number of attempts with
 * -PSCOM_REGION_EBUSY. Every value read from the segment is checked
 * against bounds, so a hostile guest can make reads fail, not overflow.
 *
 * Errors: functions return 0 (or a length/count) on success and a
 * negative -PSCOM_REGION_E* code on failure; pscom_region_strerror()
 * names it. Outputs are set only on success unless documented otherwise.
 *
 * Limits: each open handle takes one participant slot of the segment
 * (64 in segments made by ivshmem-server); the directory of a layout-1
 * segment holds 64 partitions; a partition of size S takes 2 * S bytes
 * plus 192 of frames, rounded up to whole frames (double buffering).
 *
 * Threads: a handle may be used by one thread at a time (the heartbeat
 * thread is internal and needs no care). Open one handle per thread or
 * lock around calls.
 */
#ifndef PSCOM_REGION_H
#define PSCOM_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Longest partition name, without the terminating NUL. */
#define PSCOM_REGION_NAME_MAX 39
/** Longest participant label shown in pscom_region_info.owner_label. */
#define PSCOM_REGION_LABEL_MAX 31

/** Error codes, returned negated. */
enum pscom_region_err {
    PSCOM_REGION_OK = 0,
    PSCOM_REGION_EINVAL = 1,    /**< bad argument (NULL pointer, flags) */
    PSCOM_REGION_ENAME = 2,     /**< name empty, longer than
                                     PSCOM_REGION_NAME_MAX, or with a
                                     character outside [A-Za-z0-9._:@+=/-] */
    PSCOM_REGION_ESIZE = 3,     /**< size 0 or larger than the segment */
    PSCOM_REGION_EBADID = 4,    /**< id that no segment could have made */
    PSCOM_REGION_ENOENT = 5,    /**< no such partition (any more) */
    PSCOM_REGION_EEXIST = 6,    /**< name taken by another live owner */
    PSCOM_REGION_ENOTOWNER = 7, /**< writing a partition of someone else */
    PSCOM_REGION_ESTALE = 8,    /**< the partition's writer is gone */
    PSCOM_REGION_EBUSY = 9,     /**< no stable snapshot after retries */
    PSCOM_REGION_ENOBUFS = 10,  /**< caller buffer smaller than the data */
    PSCOM_REGION_ERANGE = 11,   /**< write beyond the partition's size, or
                                     offset past the current end */
    PSCOM_REGION_ENOSPC = 12,   /**< no free frames in the segment */
    PSCOM_REGION_EDIRFULL = 13, /**< every directory slot is in use */
    PSCOM_REGION_ECORRUPT = 14, /**< segment data fails validation */
    PSCOM_REGION_EEVICTED = 15, /**< we were declared dead; reopen */
    PSCOM_REGION_ENODEV = 16,   /**< no usable segment found */
    PSCOM_REGION_ESYS = 17,     /**< a system call failed (errno kept) */
    PSCOM_REGION_ESTUCK = 18,   /**< the writer never completes a write:
                                     the current buffer's sequence word
                                     stays odd (a write that stopped half
                                     way, or a hostile guest's) */
};

/** Partition id: generation << 32 | directory slot index. Never 0. */
typedef uint64_t pscom_region_id_t;

/** An open segment plus our membership in it (opaque). */
typedef struct pscom_region pscom_region_t;

/** Options of pscom_region_open_opts(); zero fields take the defaults. */
struct pscom_region_opts {
    /** Device or shm path; NULL: discovery (PSP_IVSHMEM_DEVICE, ...). */
    const char *device;
    /** Participant label shown by tools; NULL: "region:<pid>". */
    const char *label;
    /** Heartbeat period in ms; 0: 100. Keep it well below the server's
     *  owner timeout (default 10 s). */
    unsigned heartbeat_ms;
};

/** What pscom_region_list() and the read functions report. */
struct pscom_region_info {
    pscom_region_id_t id;
    char name[PSCOM_REGION_NAME_MAX + 1];
    uint32_t owner;      /**< segment owner id (slot | gen << 10) */
    uint32_t owner_slot; /**< participant slot of the writer */
    char owner_label[PSCOM_REGION_LABEL_MAX + 1]; /**< sanitised */
    uint32_t generation; /**< directory slot generation (in the id) */
    uint64_t size;       /**< capacity in bytes */
    uint64_t length;     /**< bytes in the last complete version */
    uint64_t version;    /**< writes completed so far (0: none) */
    bool stale;          /**< writer gone; data no longer served */
    bool mine;           /**< created through this handle */
    bool stuck;          /**< writer alive, but its current buffer
                                   is never complete (ESTUCK on read) */
};

/**
 * Open the segment with default options (discovery, label
 * "region:<pid>", 100 ms heartbeat). Same as pscom_region_open_opts()
 * with a zeroed options struct.
 */
int pscom_region_open(pscom_region_t **out, const char *device);

/**
 * Open the segment, join it as a participant and start the heartbeat
 * thread.
 * @return 0 and *out set; -PSCOM_REGION_ENODEV (nothing found, or the
 * device is not a valid segment; logged once), -PSCOM_REGION_EDIRFULL
 * (no free participant slot), -PSCOM_REGION_ESYS, -PSCOM_REGION_EINVAL.
 */
int pscom_region_open_opts(pscom_region_t **out,
                           const struct pscom_region_opts *opts);

/**
 * Delete our partitions, leave the segment (frees our frames), stop the
 * heartbeat thread and unmap. NULL is accepted.
 * @return 0, or -PSCOM_REGION_EEVICTED if we had been declared dead
 * (everything is released anyway).
 */
int pscom_region_close(pscom_region_t *r);

/**
 * Check that our membership still holds (we were not declared dead
 * because the heartbeat stopped, e.g. the VM was paused too long).
 * @return 0, or -PSCOM_REGION_EEVICTED: our partitions are gone; close
 * and open again.
 */
int pscom_region_alive(pscom_region_t *r);

/**
 * Create partition `name` with room for `size` bytes, or open it if this
 * handle already owns a partition of that name with at least that size.
 * Entries left by dead writers are recycled. When several processes
 * create the same name at once, exactly one succeeds; the others get
 * -PSCOM_REGION_EEXIST.
 * @return 0 and *id; -PSCOM_REGION_ENAME, -PSCOM_REGION_ESIZE (0, larger
 * than the segment, or larger than our existing partition of that name),
 * -PSCOM_REGION_EEXIST, -PSCOM_REGION_ENOSPC, -PSCOM_REGION_EDIRFULL,
 * -PSCOM_REGION_EBUSY (a concurrent creator of the same name neither
 * finished nor died in time), -PSCOM_REGION_EEVICTED.
 */
int pscom_region_create(pscom_region_t *r, const char *name, uint64_t size,
                        pscom_region_id_t *id);

/**
 * Delete one of our partitions: readers get -PSCOM_REGION_ENOENT, the
 * frames return to the segment.
 * @return 0, -PSCOM_REGION_EBADID, -PSCOM_REGION_ENOENT,
 * -PSCOM_REGION_ENOTOWNER.
 */
int pscom_region_destroy(pscom_region_t *r, pscom_region_id_t id);

/**
 * Look up a live partition by name.
 * @return 0 and *id; -PSCOM_REGION_ENAME, -PSCOM_REGION_ENOENT,
 * -PSCOM_REGION_ESTALE (exists but its writer is gone).
 */
int pscom_region_lookup(pscom_region_t *r, const char *name,
                        pscom_region_id_t *id);

/**
 * Replace the content of our partition `id` with buf[0..len) (len may
 * be 0) as one new version.
 * @return 0; -PSCOM_REGION_ERANGE (len > size), -PSCOM_REGION_ENOTOWNER
 * (someone else's), -PSCOM_REGION_ENOENT, -PSCOM_REGION_EBADID,
 * -PSCOM_REGION_EEVICTED.
 */
int pscom_region_write(pscom_region_t *r, pscom_region_id_t id, const void *buf,
                       size_t len);

/**
 * Write buf[0..len) at byte `offset` of the current content, as one new
 * version: the content becomes old[0..offset) + buf, so offset == length
 * appends (the seed API's behaviour) and offset 0 replaces.
 * @return as pscom_region_write(); -PSCOM_REGION_ERANGE also when offset
 * is past the current length.
 */
int pscom_region_write_at(pscom_region_t *r, pscom_region_id_t id,
                          uint64_t offset, const void *buf, size_t len);

/**
 * Append buf[0..len) to our partition `id` as one new version. Like
 * every write it fills the buffer readers are not using, so it copies
 * the current content too: O(length), not O(len).
 * @return as pscom_region_write_at().
 */
int pscom_region_append(pscom_region_t *r, pscom_region_id_t id,
                        const void *buf, size_t len);

/**
 * Copy one complete version of partition `id` into buf.
 * @return the number of bytes copied (>= 0) and, if info is not NULL,
 * *info filled; -PSCOM_REGION_ENOBUFS (cap too small: info->length
 * says how much is needed, when info is not NULL), -PSCOM_REGION_ESTALE,
 * -PSCOM_REGION_ENOENT, -PSCOM_REGION_EBADID, -PSCOM_REGION_EBUSY (the
 * writer completed writes during every attempt: retry),
 * -PSCOM_REGION_ESTUCK (no write completed during the bounded attempts
 * and the current buffer stays half written: retrying does not help
 * until its writer writes again), -PSCOM_REGION_ECORRUPT.
 */
long pscom_region_read(pscom_region_t *r, pscom_region_id_t id, void *buf,
                       size_t cap, struct pscom_region_info *info);

/** pscom_region_lookup() then pscom_region_read(). */
long pscom_region_read_name(pscom_region_t *r, const char *name, void *buf,
                            size_t cap, struct pscom_region_info *info);

/**
 * Describe partition `id` (no data copy): owner, size, length and
 * version of the last complete write (0 if the writer was too busy to
 * catch a stable pair), staleness, and `stuck` (see
 * -PSCOM_REGION_ESTUCK at pscom_region_read()).
 * @return 0; -PSCOM_REGION_EBADID, -PSCOM_REGION_ENOENT,
 * -PSCOM_REGION_ECORRUPT.
 */
int pscom_region_stat(pscom_region_t *r, pscom_region_id_t id,
                      struct pscom_region_info *info);

/**
 * List the partitions in the directory (live and stale), at most `max`
 * into out[] (out may be NULL when max is 0). Entries that fail
 * validation (written by a broken or hostile guest) are left out; a
 * partition whose current buffer stays half written is listed with
 * `stuck` set.
 * @return the number of partitions found, which may exceed max.
 */
long pscom_region_list(pscom_region_t *r, struct pscom_region_info *out,
                       size_t max);

/** Static name of an error code (positive or negative). Never NULL. */
const char *pscom_region_strerror(int err);

/** Check a partition name. @return 0 or -PSCOM_REGION_ENAME. */
int pscom_region_check_name(const char *name);

#ifdef __cplusplus
}
#endif

#endif /* PSCOM_REGION_H */
