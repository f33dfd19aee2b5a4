/* region.c -- the public pscom_region_* API: open/close, create/destroy,
 * write, read, lookup, list. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "region_int.h"

#define DEFAULT_HEARTBEAT_MS 100u

/* Same classification as discovery uses for PSP_IVSHMEM_DEVICE. */
static enum shmseg_dev_kind device_kind(const char *path)
{
    const char *b = strrchr(path, '/');
    size_t n = strlen(path);

    b = b ? b + 1 : path;
    if (strncmp(b, "uio", 3) == 0 && isdigit((unsigned char)b[3])) {
        return SHMSEG_DEV_UIO;
    }
    if (n >= 9 && strcmp(path + n - 9, "resource2") == 0) {
        return SHMSEG_DEV_PCI;
    }
    return SHMSEG_DEV_HOST;
}

static int open_device(struct pscom_region *r, const char *device)
{
    int rc;

    if (device) {
        rc = shmseg_device_open(&r->dev, device, device_kind(device));
        if (rc < 0) {
            shmseg_log(0, "region: %s: no usable segment: %s%s%s", device,
                       shmseg_strerror(rc), r->dev.seg.why[0] ? ": " : "",
                       r->dev.seg.why);
        }
    } else {
        rc = shmseg_discover(&r->dev, NULL); /* logs once itself */
    }
    return rc < 0 ? -PSCOM_REGION_ENODEV : 0;
}

int pscom_region_open(pscom_region_t **out, const char *device)
{
    struct pscom_region_opts o = {.device = device};

    return pscom_region_open_opts(out, &o);
}

int pscom_region_open_opts(pscom_region_t **out,
                           const struct pscom_region_opts *opts)
{
    struct pscom_region *r;
    char label[SHMSEG_LABEL_SIZE];
    int rc;

    if (!out || !opts) {
        return -PSCOM_REGION_EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        return -PSCOM_REGION_ESYS;
    }
    rc = open_device(r, opts->device);
    if (rc < 0) {
        goto err_free;
    }
    r->dir_entries = (uint32_t)(r->dev.seg.dir_size /
                                sizeof(struct region_dirent));
    if (r->dir_entries == 0) {
        shmseg_log(0, "region: segment '%s' has no directory area",
                   r->dev.seg.name);
        rc = -PSCOM_REGION_ENODEV;
        goto err_close;
    }
    r->own = calloc(r->dir_entries, sizeof(*r->own));
    if (!r->own) {
        rc = -PSCOM_REGION_ESYS;
        goto err_close;
    }
    if (opts->label) {
        snprintf(label, sizeof(label), "%s", opts->label);
    } else {
        snprintf(label, sizeof(label), "region:%ld", (long)getpid());
    }
    rc = shmseg_join(&r->dev.seg, &r->me, label,
                     r->dev.host_local ? SHMSEG_JOIN_HOST_LOCAL : 0);
    if (rc < 0) {
        shmseg_log(0, "region: cannot join segment '%s': %s", r->dev.seg.name,
                   shmseg_strerror(rc));
        rc = rc == -SHMSEG_EFULL ? -PSCOM_REGION_EDIRFULL
                                 : -PSCOM_REGION_EINVAL;
        goto err_own;
    }
    r->hb_ms = opts->heartbeat_ms ? opts->heartbeat_ms : DEFAULT_HEARTBEAT_MS;
    rc = region_hb_start(r);
    if (rc < 0) {
        goto err_leave;
    }
    *out = r;
    return 0;

err_leave:
    shmseg_leave(&r->me);
err_own:
    free(r->own);
err_close:
    shmseg_device_close(&r->dev);
err_free:
    free(r);
    return rc;
}

int pscom_region_close(pscom_region_t *r)
{
    int rc;

    if (!r) {
        return 0;
    }
    region_hb_stop(r);
    rc = region_check_live(r);
    if (rc == 0) {
        for (uint32_t i = 0; i < r->dir_entries; i++) {
            if (r->own[i].used) {
                pscom_region_destroy(r, region_make_id(r->own[i].index,
                                                       r->own[i].gen));
            }
        }
        /* Frees any frame still ours; EEVICTED if a reclaimer won. */
        if (shmseg_leave(&r->me) < 0) {
            rc = -PSCOM_REGION_EEVICTED;
        }
    }
    free(r->own);
    shmseg_device_close(&r->dev);
    free(r);
    return rc;
}

static struct region_own *own_by_name(struct pscom_region *r, const char *name)
{
    for (uint32_t i = 0; i < r->dir_entries; i++) {
        if (r->own[i].used && strcmp(r->own[i].name, name) == 0) {
            return &r->own[i];
        }
    }
    return NULL;
}

static int check_args(struct pscom_region *r, const char *name,
                      pscom_region_id_t *id)
{
    if (!r || !id) {
        return -PSCOM_REGION_EINVAL;
    }
    return pscom_region_check_name(name);
}

static int check_size(struct pscom_region *r, uint64_t size)
{
    const struct shmseg *seg = &r->dev.seg;
    uint64_t area = (uint64_t)seg->frame_count << seg->frame_shift;

    if (size == 0 || size > area || region_part_bytes(size) > area) {
        return -PSCOM_REGION_ESIZE;
    }
    return 0;
}

/* Allocate and claim; on success fill the own record (not yet used). */
static int create_new(struct pscom_region *r, const char *name, uint64_t size,
                      struct region_own *o)
{
    const struct shmseg *seg = &r->dev.seg;
    uint32_t frames = shmseg_frames_for(seg, region_part_bytes(size));
    uint64_t off;
    int rc;

    rc = shmseg_alloc(&r->me, frames, SHMSEG_TAG_PARTITION, &off);
    if (rc < 0) {
        return rc == -SHMSEG_EEVICTED ? -PSCOM_REGION_EEVICTED
                                      : -PSCOM_REGION_ENOSPC;
    }
    rc = region_dir_claim(r, name, off, size, &o->index, &o->gen);
    if (rc < 0) {
        goto err_free;
    }
    o->off = off;
    o->size = size;
    o->cap = (((uint64_t)frames << seg->frame_shift) - REGION_DATA_OFF) / 2;
    snprintf(o->name, sizeof(o->name), "%s", name);
    region_part_init(r, o);
    rc = region_dir_publish(r, o->index, o->gen);
    if (rc < 0) {
        goto err_free;
    }
    return 0;

err_free:
    shmseg_free(&r->me, off);
    return rc;
}

int pscom_region_create(pscom_region_t *r, const char *name, uint64_t size,
                        pscom_region_id_t *id)
{
    struct region_own *o;
    struct region_own fresh;
    int rc;

    rc = check_args(r, name, id);
    if (rc < 0) {
        return rc;
    }
    rc = check_size(r, size);
    if (rc < 0) {
        return rc;
    }
    rc = region_check_live(r);
    if (rc < 0) {
        return rc;
    }
    o = own_by_name(r, name);
    if (o) {
        if (size > o->size) {
            return -PSCOM_REGION_ESIZE;
        }
        *id = region_make_id(o->index, o->gen);
        return 0;
    }
    memset(&fresh, 0, sizeof(fresh));
    rc = create_new(r, name, size, &fresh);
    if (rc < 0) {
        return rc;
    }
    fresh.used = true;
    r->own[fresh.index] = fresh;
    *id = region_make_id(fresh.index, fresh.gen);
    return 0;
}

/* Our own record for id, or the reason it is not ours. */
static int own_by_id(struct pscom_region *r, pscom_region_id_t id,
                     struct region_own **out)
{
    uint32_t index = (uint32_t)id;
    uint32_t gen = (uint32_t)(id >> 32);
    struct region_view v;
    int rc;

    if (!r) {
        return -PSCOM_REGION_EINVAL;
    }
    if (index >= r->dir_entries || gen == 0 || gen > REGION_GEN_MASK) {
        return -PSCOM_REGION_EBADID;
    }
    rc = region_check_live(r);
    if (rc < 0) {
        return rc;
    }
    if (r->own[index].used && r->own[index].gen == gen) {
        *out = &r->own[index];
        return 0;
    }
    rc = region_dir_get(r, id, &v);
    if (rc == 0 || rc == -PSCOM_REGION_ESTALE || rc == -PSCOM_REGION_ECORRUPT) {
        return -PSCOM_REGION_ENOTOWNER;
    }
    return rc;
}

int pscom_region_destroy(pscom_region_t *r, pscom_region_id_t id)
{
    struct region_own *o;
    int rc = own_by_id(r, id, &o);

    if (rc < 0) {
        return rc;
    }
    /* Entry first, frames second: a reader that validated the entry
     * re-checks it after copying, so it never accepts recycled frames. */
    region_dir_release(r, o->index, o->gen);
    shmseg_free(&r->me, o->off);
    o->used = false;
    return 0;
}

int pscom_region_lookup(pscom_region_t *r, const char *name,
                        pscom_region_id_t *id)
{
    struct region_view v;
    int rc;

    rc = check_args(r, name, id);
    if (rc < 0) {
        return rc;
    }
    rc = region_dir_find(r, name, &v);
    if (rc < 0) {
        return rc;
    }
    *id = region_make_id(v.index, region_e_gen(v.state));
    return 0;
}

int pscom_region_write_at(pscom_region_t *r, pscom_region_id_t id,
                          uint64_t offset, const void *buf, size_t len)
{
    struct region_own *o;
    int rc;

    if (!buf && len) {
        return -PSCOM_REGION_EINVAL;
    }
    rc = own_by_id(r, id, &o);
    if (rc < 0) {
        return rc;
    }
    if (offset > o->len || len > o->size || offset > o->size - len) {
        return -PSCOM_REGION_ERANGE;
    }
    region_part_write(r, o, offset, buf, len);
    /* Evicted during the write: readers already call it stale. */
    return region_check_live(r);
}

int pscom_region_write(pscom_region_t *r, pscom_region_id_t id, const void *buf,
                       size_t len)
{
    return pscom_region_write_at(r, id, 0, buf, len);
}

int pscom_region_append(pscom_region_t *r, pscom_region_id_t id,
                        const void *buf, size_t len)
{
    struct region_own *o;
    int rc = own_by_id(r, id, &o);

    if (rc < 0) {
        return rc;
    }
    return pscom_region_write_at(r, id, o->len, buf, len);
}

long pscom_region_read(pscom_region_t *r, pscom_region_id_t id, void *buf,
                       size_t cap, struct pscom_region_info *info)
{
    struct region_view v;
    long rc;

    if (!r || (!buf && cap)) {
        return -PSCOM_REGION_EINVAL;
    }
    rc = region_dir_get(r, id, &v);
    if (rc < 0) {
        return rc;
    }
    return region_part_read(r, &v, buf, cap, info);
}

long pscom_region_read_name(pscom_region_t *r, const char *name, void *buf,
                            size_t cap, struct pscom_region_info *info)
{
    pscom_region_id_t id;
    int rc = pscom_region_lookup(r, name, &id);

    if (rc < 0) {
        return rc;
    }
    return pscom_region_read(r, id, buf, cap, info);
}

int pscom_region_stat(pscom_region_t *r, pscom_region_id_t id,
                      struct pscom_region_info *info)
{
    struct region_view v;
    int rc;

    if (!r || !info) {
        return -PSCOM_REGION_EINVAL;
    }
    rc = region_dir_get(r, id, &v);
    if (rc < 0 && rc != -PSCOM_REGION_ESTALE) {
        return rc;
    }
    region_dir_describe(r, &v, rc < 0, info);
    if (rc == 0) {
        rc = region_part_peek(r, &v, info);
    }
    /* Busy or stuck only means length and version are unknown (left 0);
     * `stuck` says which. */
    info->stuck = rc == -PSCOM_REGION_ESTUCK;
    return rc == -PSCOM_REGION_EBUSY || rc == -PSCOM_REGION_ESTALE ||
                   rc == -PSCOM_REGION_ESTUCK
               ? 0
               : rc;
}

long pscom_region_list(pscom_region_t *r, struct pscom_region_info *out,
                       size_t max)
{
    long n = 0;

    if (!r || (!out && max)) {
        return -PSCOM_REGION_EINVAL;
    }
    for (uint32_t i = 0; i < r->dir_entries; i++) {
        struct pscom_region_info one;
        struct region_view v;
        int rc = region_dir_validate(r, i, &v);

        if (rc < 0 && rc != -PSCOM_REGION_ESTALE) {
            continue; /* free, being created, or corrupt */
        }
        region_dir_describe(r, &v, rc < 0, &one);
        if (rc == 0) {
            rc = region_part_peek(r, &v, &one);
            if (rc == -PSCOM_REGION_ECORRUPT) {
                continue;
            }
            one.stuck = rc == -PSCOM_REGION_ESTUCK;
        }
        if ((size_t)n < max) {
            out[n] = one;
        }
        n++;
    }
    return n;
}
