/* part.c -- a partition's data: double buffer with one sequence lock per
 * buffer (layout and protocol in region_int.h). */
#include "config.h"

#include <sched.h>
#include <string.h>

#include "region_int.h"

static struct region_phdr *phdr_at(const struct pscom_region *r, uint64_t off)
{
    return (struct region_phdr *)(r->dev.seg.base + off);
}

static struct region_bufhdr *bufhdr_at(const struct pscom_region *r,
                                       uint64_t off, unsigned b)
{
    return (struct region_bufhdr *)(r->dev.seg.base + off +
                                    sizeof(struct region_phdr)) +
           b;
}

/* Data buffer b; cap must be the trusted per-buffer capacity. */
static uint8_t *data_at(const struct pscom_region *r, uint64_t off,
                        uint64_t cap, unsigned b)
{
    return r->dev.seg.base + off + REGION_DATA_OFF + b * cap;
}

uint64_t region_part_bytes(uint64_t size)
{
    /* Two buffers, each rounded to a cache line so that buffer 1 starts
     * on its own line. */
    return REGION_DATA_OFF + 2 * ((size + 63) & ~(uint64_t)63);
}

void region_part_init(struct pscom_region *r, struct region_own *o)
{
    struct region_phdr *h = phdr_at(r, o->off);

    for (unsigned b = 0; b < 2; b++) {
        struct region_bufhdr *bh = bufhdr_at(r, o->off, b);

        atomic_store_explicit(&bh->seq, 0, memory_order_relaxed);
        atomic_store_explicit(&bh->len, 0, memory_order_relaxed);
        atomic_store_explicit(&bh->version, 0, memory_order_relaxed);
        o->seq[b] = 0;
    }
    h->magic = REGION_MAGIC;
    h->cap = o->cap;
    atomic_store_explicit(&h->cur, 0, memory_order_relaxed);
    atomic_store_explicit(&h->id, region_make_id(o->index, o->gen),
                          memory_order_relaxed);
    o->cur = 0;
    o->len = 0;
    o->version = 0;
    /* Published by the directory's READY store (release). */
}

void region_part_write(struct pscom_region *r, struct region_own *o,
                       uint64_t keep, const void *buf, size_t len)
{
    unsigned b = o->cur ^ 1u;
    struct region_bufhdr *bh = bufhdr_at(r, o->off, b);
    uint8_t *dst = data_at(r, o->off, o->cap, b);

    /* Our own counters, not the segment's: another guest may scribble
     * on the header, but cannot make us write out of bounds. */
    o->seq[b]++;
    atomic_store_explicit(&bh->seq, o->seq[b], memory_order_relaxed);
    /* Release fence: the odd seq is visible before any data store, so a
     * reader that saw an even seq around its copy saw no data store. */
    atomic_thread_fence(memory_order_release);
    if (keep) {
        memcpy(dst, data_at(r, o->off, o->cap, o->cur), keep);
    }
    if (len) {
        memcpy(dst + keep, buf, len);
    }
    o->len = keep + len;
    o->version++;
    atomic_store_explicit(&bh->len, o->len, memory_order_relaxed);
    atomic_store_explicit(&bh->version, o->version, memory_order_relaxed);
    o->seq[b]++;
    /* Release: data, len, version before the even seq ... */
    atomic_store_explicit(&bh->seq, o->seq[b], memory_order_release);
    /* ... and the finished buffer before readers are pointed at it. */
    atomic_store_explicit(&phdr_at(r, o->off)->cur, b, memory_order_release);
    o->cur = b;
}

/* One consistent (len, version) pair of buffer `cur`, or -EBUSY (the
 * writer moved during every attempt) or -ESTUCK (it never moved). With
 * buf != NULL also copy the data (cap bytes at most). */
static long snapshot(struct pscom_region *r, const struct region_view *v,
                     void *buf, size_t cap, uint64_t *len, uint64_t *ver)
{
    const struct region_phdr *h = phdr_at(r, v->off);
    unsigned c0 = 0;
    uint64_t s0 = 0;
    bool moved = false;

    for (unsigned t = 0; t < REGION_READ_TRIES; t++) {
        unsigned c;
        const struct region_bufhdr *bh;
        uint64_t s1, n, s2;

        if (t > 8) {
            sched_yield(); /* let a writer on our core finish */
        }
        c = (unsigned)atomic_load_explicit(&h->cur, memory_order_acquire) & 1u;
        bh = bufhdr_at(r, v->off, c);
        s1 = atomic_load_explicit(&bh->seq, memory_order_acquire);
        /* The writer fills the buffer `cur` does NOT point at and flips
         * `cur` only once it is complete, so `cur` names a half-written
         * buffer only while the writer laps us (two writes during one
         * attempt: the pair moves). An odd word at `cur` that never
         * moves in all our attempts is a write that never completes (or
         * a guest's scribble), not a busy writer. */
        if (t == 0) {
            c0 = c;
            s0 = s1;
        } else if (c != c0 || s1 != s0) {
            moved = true;
        }
        if (s1 & 1) {
            continue;
        }
        n = atomic_load_explicit(&bh->len, memory_order_relaxed);
        *ver = atomic_load_explicit(&bh->version, memory_order_relaxed);
        /* Bound first: a hostile len must never size a copy. The copy
         * may overlap a write (plain memory, the usual seqlock race);
         * the seq re-check below throws such a copy away. */
        if (buf && n <= cap && n <= v->cap) {
            memcpy(buf, data_at(r, v->off, v->cap, c), n);
        }
        /* Acquire fence: the copy's loads happen before the re-check. */
        atomic_thread_fence(memory_order_acquire);
        s2 = atomic_load_explicit(&bh->seq, memory_order_relaxed);
        if (s1 != s2) {
            moved = true;
            continue;
        }
        if (n > v->cap) {
            return -PSCOM_REGION_ECORRUPT;
        }
        *len = n;
        return 0;
    }
    return moved ? -PSCOM_REGION_EBUSY : -PSCOM_REGION_ESTUCK;
}

static int check_header(struct pscom_region *r, const struct region_view *v)
{
    const struct region_phdr *h = phdr_at(r, v->off);

    if (h->magic != REGION_MAGIC ||
        atomic_load_explicit(&h->id, memory_order_relaxed) !=
            region_make_id(v->index, region_e_gen(v->state))) {
        return -PSCOM_REGION_ECORRUPT;
    }
    return 0;
}

long region_part_read(struct pscom_region *r, const struct region_view *v,
                      void *buf, size_t cap, struct pscom_region_info *info)
{
    uint64_t len = 0, ver = 0;
    long rc;

    rc = check_header(r, v);
    if (rc == 0) {
        rc = snapshot(r, v, buf, cap, &len, &ver);
    }
    if (rc == 0) {
        /* The copy is only good if the partition was neither deleted nor
         * reclaimed (and maybe handed to someone else) meanwhile. */
        rc = region_dir_still(r, v);
    }
    if (rc < 0) {
        return rc;
    }
    if (info) {
        region_dir_describe(r, v, false, info);
        info->length = len;
        info->version = ver;
    }
    return len > cap ? -PSCOM_REGION_ENOBUFS : (long)len;
}

int region_part_peek(struct pscom_region *r, const struct region_view *v,
                     struct pscom_region_info *info)
{
    uint64_t len = 0, ver = 0;
    long rc = check_header(r, v);

    if (rc == 0) {
        rc = snapshot(r, v, NULL, 0, &len, &ver);
    }
    if (rc == 0) {
        info->length = len;
        info->version = ver;
    }
    return (int)rc;
}
