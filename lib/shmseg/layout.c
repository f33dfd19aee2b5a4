/* layout.c -- formatting and validating the segment header. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "internal.h"

static const char *const err_names[] = {
    [SHMSEG_OK] = "success",
    [SHMSEG_EINVAL] = "invalid argument",
    [SHMSEG_EBADMAGIC] = "no pscom segment (bad magic)",
    [SHMSEG_EBADVERSION] = "unsupported segment layout version",
    [SHMSEG_ETOOSMALL] = "mapping smaller than the segment",
    [SHMSEG_ENOTREADY] = "segment not initialised (ready not set)",
    [SHMSEG_ECORRUPT] = "segment metadata inconsistent",
    [SHMSEG_ENOSPC] = "no free run of frames large enough",
    [SHMSEG_EDOUBLEFREE] = "double free (frames are not allocated)",
    [SHMSEG_ENOTOWNER] = "frames belong to another owner",
    [SHMSEG_ENOTHEAD] = "offset is not the start of an allocation",
    [SHMSEG_ERANGE] = "offset/length outside the frame area or unaligned",
    [SHMSEG_EEVICTED] = "member was declared dead (evicted)",
    [SHMSEG_EFULL] = "no free participant slot",
    [SHMSEG_ESYS] = "system call failed",
    [SHMSEG_ENODEV] = "no ivshmem device with a valid segment",
    [SHMSEG_ENOENT] = "frame is free (no allocation there)",
};

const char *shmseg_strerror(int err)
{
    unsigned e = (unsigned)(err < 0 ? -err : err);

    if (e < sizeof(err_names) / sizeof(err_names[0]) && err_names[e]) {
        return err_names[e];
    }
    return "unknown shmseg error";
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static uint32_t log2_u32(uint32_t v)
{
    uint32_t s = 0;

    while ((1u << s) < v) {
        s++;
    }
    return s;
}

/* Geometry shared by format and attach, so that both agree by
 * construction on where each area starts. */
static void geometry(uint64_t size, uint32_t fs, uint32_t parts,
                     uint64_t *state_off, uint64_t *first, uint32_t *count)
{
    uint64_t part_off = SHMSEG_HEADER_SIZE;
    uint64_t dir_off = part_off + (uint64_t)parts * 64;
    uint64_t soff = align_up(dir_off + SHMSEG_DIR_RESERVED, 64);
    uint64_t n = size > soff ? (size - soff) / ((uint64_t)fs + 8) : 0;

    if (n > SHMSEG_MAX_FRAMES) {
        n = SHMSEG_MAX_FRAMES;
    }
    /* The estimate ignores the alignment padding before frame 0: shrink
     * until the frames really fit. At most a couple of iterations. */
    while (n > 0 && align_up(soff + n * 8, fs) + n * fs > size) {
        n--;
    }
    *state_off = soff;
    *first = align_up(soff + n * 8, fs);
    *count = (uint32_t)n;
}

int shmseg_format(struct shmseg *seg, void *base, uint64_t size,
                  const struct shmseg_params *params)
{
    struct shmseg_header *h = base;
    uint32_t fs = params && params->frame_size ? params->frame_size
                                               : SHMSEG_DEFAULT_FRAME_SIZE;
    uint32_t parts = params && params->part_count ? params->part_count
                                                  : SHMSEG_DEFAULT_PARTICIPANTS;
    uint64_t state_off, first;
    uint32_t count;
    struct timespec ts;

    if (!seg || !base || !is_pow2(fs) || fs < SHMSEG_MIN_FRAME_SIZE ||
        fs > SHMSEG_MAX_FRAME_SIZE || parts > SHMSEG_MAX_PARTICIPANTS) {
        return -SHMSEG_EINVAL;
    }
    geometry(size, fs, parts, &state_off, &first, &count);
    if (count == 0) {
        return -SHMSEG_EINVAL;
    }
    /* Clear `ready` first so a concurrent attacher of a re-formatted
     * segment stops trusting the old header before it changes. */
    atomic_store_explicit(&h->ready, 0, memory_order_release);
    memset(base, 0, state_off + (uint64_t)count * 8);
    if (getrandom(h->uuid, SHMSEG_UUID_SIZE, 0) != SHMSEG_UUID_SIZE) {
        return -SHMSEG_ESYS;
    }
    h->uuid[6] = (uint8_t)((h->uuid[6] & 0x0f) | 0x40); /* RFC 4122 v4 */
    h->uuid[8] = (uint8_t)((h->uuid[8] & 0x3f) | 0x80);
    h->magic = SHMSEG_MAGIC;
    h->version = SHMSEG_LAYOUT_VERSION;
    h->header_size = SHMSEG_HEADER_SIZE;
    h->total_size = size;
    h->frame_size = fs;
    h->frame_count = count;
    h->part_off = SHMSEG_HEADER_SIZE;
    h->part_count = parts;
    h->part_size = sizeof(struct shmseg_participant);
    h->dir_off = SHMSEG_HEADER_SIZE + (uint64_t)parts * 64;
    h->dir_size = SHMSEG_DIR_RESERVED;
    h->state_off = state_off;
    h->first_frame_off = first;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    if (params && params->name) {
        strncpy(h->name, params->name, SHMSEG_NAME_SIZE - 1);
    }
    /* Release: every store above is visible to whoever sees `ready`. */
    atomic_store_explicit(&h->ready, SHMSEG_READY_VALUE, memory_order_release);
    return shmseg_attach(seg, base, size);
}

#define FAIL(code, ...)                                                        \
    do {                                                                       \
        snprintf(seg->why, sizeof(seg->why), __VA_ARGS__);                     \
        return -(code);                                                        \
    } while (0)

int shmseg_attach(struct shmseg *seg, void *base, uint64_t map_size)
{
    const struct shmseg_header *h = base;
    struct shmseg_header c; /* private copy: a guest may change the real one */
    uint64_t soff, first, parts_end;
    uint32_t count;

    if (!seg) {
        return -SHMSEG_EINVAL;
    }
    memset(seg, 0, sizeof(*seg));
    if (!base || map_size < SHMSEG_HEADER_SIZE) {
        FAIL(SHMSEG_ETOOSMALL,
             "mapping of %" PRIu64 " bytes cannot hold the %u-byte header",
             map_size, SHMSEG_HEADER_SIZE);
    }
    /* Acquire pairs with the creator's release store of `ready`. */
    if (atomic_load_explicit(&((struct shmseg_header *)base)->ready,
                             memory_order_acquire) != SHMSEG_READY_VALUE) {
        if (h->magic == SHMSEG_MAGIC) {
            FAIL(SHMSEG_ENOTREADY, "segment is being initialised "
                                   "(ready word not set)");
        }
        FAIL(SHMSEG_EBADMAGIC,
             "no pscom segment: magic 0x%016" PRIx64
             ", expected 0x%016llx (plain shared memory, or the server "
             "was started without -c pscom)",
             h->magic, SHMSEG_MAGIC);
    }
    memcpy(&c, base, sizeof(c));
    if (c.magic != SHMSEG_MAGIC) {
        FAIL(SHMSEG_EBADMAGIC,
             "bad magic 0x%016" PRIx64 ", expected "
             "0x%016llx",
             c.magic, SHMSEG_MAGIC);
    }
    if (c.version != SHMSEG_LAYOUT_VERSION) {
        FAIL(SHMSEG_EBADVERSION, "layout version %u, this build supports %u",
             c.version, SHMSEG_LAYOUT_VERSION);
    }
    if (c.incompat_features & ~SHMSEG_INCOMPAT_KNOWN) {
        FAIL(SHMSEG_EBADVERSION, "unknown incompatible features 0x%x",
             c.incompat_features & ~SHMSEG_INCOMPAT_KNOWN);
    }
    if (c.header_size != SHMSEG_HEADER_SIZE) {
        FAIL(SHMSEG_ECORRUPT, "header size %u, expected %u", c.header_size,
             SHMSEG_HEADER_SIZE);
    }
    if (c.total_size > map_size) {
        FAIL(SHMSEG_ETOOSMALL, "segment size %" PRIu64 " > mapping %" PRIu64,
             c.total_size, map_size);
    }
    if (!is_pow2(c.frame_size) || c.frame_size < SHMSEG_MIN_FRAME_SIZE ||
        c.frame_size > SHMSEG_MAX_FRAME_SIZE) {
        FAIL(SHMSEG_ECORRUPT,
             "frame size %u is not a power of two in "
             "[%u, %u]",
             c.frame_size, SHMSEG_MIN_FRAME_SIZE, SHMSEG_MAX_FRAME_SIZE);
    }
    if (c.part_count == 0 || c.part_count > SHMSEG_MAX_PARTICIPANTS ||
        c.part_size != sizeof(struct shmseg_participant)) {
        FAIL(SHMSEG_ECORRUPT, "participant table %u x %u bytes invalid",
             c.part_count, c.part_size);
    }
    /* Recompute the geometry from the three inputs and require the stored
     * offsets to match: one comparison rules out every overlap and every
     * out-of-bounds area a hostile header could describe. */
    geometry(c.total_size, c.frame_size, c.part_count, &soff, &first, &count);
    parts_end = c.part_off + (uint64_t)c.part_count * c.part_size;
    if (c.part_off != SHMSEG_HEADER_SIZE || c.dir_off != parts_end ||
        c.dir_size != SHMSEG_DIR_RESERVED || c.state_off != soff ||
        c.first_frame_off != first || c.frame_count != count) {
        FAIL(SHMSEG_ECORRUPT,
             "area offsets do not match the layout for "
             "size %" PRIu64 " (frames %u at %" PRIu64
             ", expected %u at %" PRIu64 ")",
             c.total_size, c.frame_count, c.first_frame_off, count, first);
    }
    seg->base = base;
    seg->map_size = map_size;
    seg->total_size = c.total_size;
    memcpy(seg->uuid, c.uuid, SHMSEG_UUID_SIZE);
    for (unsigned k = 0; k < SHMSEG_NAME_SIZE - 1 && c.name[k]; k++) {
        seg->name[k] = safe_char(c.name[k]); /* guest-writable */
    }
    seg->frame_size = c.frame_size;
    seg->frame_shift = log2_u32(c.frame_size);
    seg->frame_count = c.frame_count;
    seg->part_count = c.part_count;
    seg->part_off = c.part_off;
    seg->dir_off = c.dir_off;
    seg->dir_size = c.dir_size;
    seg->state_off = c.state_off;
    seg->first_frame_off = c.first_frame_off;
    return 0;
}

uint32_t shmseg_frames_for(const struct shmseg *seg, uint64_t bytes)
{
    uint64_t n = (bytes + seg->frame_size - 1) >> seg->frame_shift;

    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

int shmseg_check_range(const struct shmseg *seg, uint64_t off, uint64_t len)
{
    uint64_t end = seg->first_frame_off +
                   ((uint64_t)seg->frame_count << seg->frame_shift);

    /* Written so that no sum can overflow: off and len are untrusted. */
    if (len == 0 || off < seg->first_frame_off || off >= end ||
        len > end - off ||
        ((off - seg->first_frame_off) & (seg->frame_size - 1))) {
        return -SHMSEG_ERANGE;
    }
    return 0;
}

bool shmseg_uuid_equal(const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, SHMSEG_UUID_SIZE) == 0;
}

void shmseg_uuid_str(const uint8_t *u, char *out)
{
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
             "%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
}
