/* alloc.c -- lock-free allocation of frame runs (CAS per frame). */
#include "config.h"

#include "internal.h"

/* Release frames [from, to) that we claimed with the given head index. */
static void rollback(_Atomic uint64_t *w, uint32_t owner, unsigned tag,
                     uint32_t head, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++) {
        uint64_t mine = w_make(owner, i - head, tag, false);

        /* CAS, not a store: a reclaimer may have cleared it already and
         * someone else may own it by now. */
        atomic_compare_exchange_strong_explicit(&w[i], &mine, 0,
                                                memory_order_release,
                                                memory_order_relaxed);
    }
}

/* Try to claim [i, i + n). Tail first, head last, so the run is only
 * published (a head visible) when it is complete. Returns 0, or -1 with
 * *next = the frame after the conflicting one (where the scan resumes). */
static int claim(_Atomic uint64_t *w, uint32_t owner, unsigned tag, uint32_t i,
                 uint32_t n, uint32_t *next)
{
    for (uint32_t k = n; k-- > 0;) {
        uint64_t expect = 0;
        uint64_t v = w_make(owner, k ? k : n, tag, k == 0);

        /* acq_rel: acquire makes the previous owner's frees (and writes
         * into the frame) happen-before our use; release publishes. */
        if (!atomic_compare_exchange_strong_explicit(&w[i + k], &expect, v,
                                                     memory_order_acq_rel,
                                                     memory_order_relaxed)) {
            rollback(w, owner, tag, i, i + k + 1, i + n);
            *next = i + k + 1;
            return -1;
        }
    }
    return 0;
}

int shmseg_alloc(struct shmseg_member *m, uint32_t nframes, unsigned tag,
                 uint64_t *offset)
{
    struct shmseg *seg = m->seg;
    _Atomic uint64_t *w = st_words(seg);
    uint32_t owner = shmseg_member_owner(m);
    uint32_t count = seg->frame_count;
    uint32_t i, scanned = 0;

    if (nframes == 0 || nframes > SHMSEG_MAX_RUN || tag > SHMSEG_TAG_MASK) {
        return -SHMSEG_EINVAL;
    }
    if (shmseg_member_valid(m) < 0) {
        return -SHMSEG_EEVICTED;
    }
    if (nframes > count) {
        return -SHMSEG_ENOSPC;
    }
    i = m->hint < count ? m->hint : 0;
    /* Next fit from the member's hint, wrapping once; runs never wrap
     * around the end of the frame area. `scanned` bounds the work to about
     * two passes even under heavy contention. */
    while (scanned < 2 * count) {
        uint32_t run = 0, next;

        if (i + nframes > count) {
            scanned += count - i;
            i = 0;
            continue;
        }
        /* Cheap relaxed pre-check before any CAS: skip busy frames. */
        while (run < nframes &&
               atomic_load_explicit(&w[i + run], memory_order_relaxed) == 0) {
            run++;
        }
        if (run < nframes) {
            scanned += run + 1;
            i += run + 1;
            continue;
        }
        if (claim(w, owner, tag, i, nframes, &next) < 0) {
            scanned += next - i;
            i = next;
            continue;
        }
        /* A reclaimer may have declared us dead while we claimed: then
         * its sweep may have missed words we wrote after it passed. Give
         * them back ourselves (what we miss, the orphan sweep clears). */
        if (shmseg_member_valid(m) < 0) {
            rollback(w, owner, tag, i, i + 1, i + nframes);
            uint64_t head = w_make(owner, nframes, tag, true);
            atomic_compare_exchange_strong_explicit(&w[i], &head, 0,
                                                    memory_order_release,
                                                    memory_order_relaxed);
            return -SHMSEG_EEVICTED;
        }
        m->hint = i + nframes < count ? i + nframes : 0;
        *offset = seg->first_frame_off + ((uint64_t)i << seg->frame_shift);
        return 0;
    }
    return -SHMSEG_ENOSPC;
}

int shmseg_free(struct shmseg_member *m, uint64_t offset)
{
    struct shmseg *seg = m->seg;
    _Atomic uint64_t *w = st_words(seg);
    uint32_t owner = shmseg_member_owner(m);
    uint32_t i, n;
    uint64_t head;

    if (shmseg_check_range(seg, offset, seg->frame_size) < 0) {
        return -SHMSEG_ERANGE;
    }
    if (shmseg_member_valid(m) < 0) {
        return -SHMSEG_EEVICTED;
    }
    i = (uint32_t)((offset - seg->first_frame_off) >> seg->frame_shift);
    head = atomic_load_explicit(&w[i], memory_order_acquire);
    if (head == 0) {
        return -SHMSEG_EDOUBLEFREE;
    }
    if (w_owner(head) != owner) {
        return -SHMSEG_ENOTOWNER;
    }
    if (!(head & SHMSEG_FRAME_HEAD)) {
        return -SHMSEG_ENOTHEAD;
    }
    n = w_run(head);
    if (n == 0 || n > seg->frame_count - i) {
        return -SHMSEG_ECORRUPT; /* we never write such a head */
    }
    /* Head first: the CAS decides a racing double free (one winner); the
     * run then stops being an allocation before its tail is released. */
    if (!atomic_compare_exchange_strong_explicit(&w[i], &head, 0,
                                                 memory_order_release,
                                                 memory_order_relaxed)) {
        return head == 0 ? -SHMSEG_EDOUBLEFREE : -SHMSEG_ENOTOWNER;
    }
    rollback(w, owner, w_tag(head), i, i + 1, i + n);
    return 0;
}

int shmseg_alloc_get(const struct shmseg *seg, uint64_t offset, bool whole,
                     struct shmseg_alloc_info *out)
{
    _Atomic uint64_t *w = st_words(seg);
    uint32_t i, n;
    uint64_t head;

    if (shmseg_check_range(seg, offset, seg->frame_size) < 0) {
        return -SHMSEG_ERANGE;
    }
    i = (uint32_t)((offset - seg->first_frame_off) >> seg->frame_shift);
    head = atomic_load_explicit(&w[i], memory_order_acquire);
    if (head == 0 || !(head & SHMSEG_FRAME_HEAD)) {
        return -SHMSEG_ENOTHEAD;
    }
    n = w_run(head);
    if (n == 0 || n > seg->frame_count - i) {
        return -SHMSEG_ECORRUPT;
    }
    for (uint32_t k = 1; whole && k < n; k++) {
        uint64_t t = atomic_load_explicit(&w[i + k], memory_order_relaxed);

        if (t != w_make(w_owner(head), k, w_tag(head), false)) {
            return -SHMSEG_ECORRUPT;
        }
    }
    out->first = i;
    out->nframes = n;
    out->offset = offset;
    out->owner = w_owner(head);
    out->slot = w_slot(head);
    out->gen = w_gen(head);
    out->tag = w_tag(head);
    out->owner_live = shmseg_owner_is_live(seg, out->owner);
    return 0;
}
