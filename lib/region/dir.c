/* dir.c -- the partition directory: lock-free claim with a unique-name
 * rule, lookup, and validation of entries against the frame allocator
 * and the participant table (see region_int.h for the wire format). */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "region_int.h"

/* How long a creator waits for a concurrent creator of the same name to
 * finish (or be declared dead) before giving up with EBUSY. */
#define CLAIM_WAIT_MS 5000u

static void name_to_words(const char *name, uint64_t w[REGION_NAME_WORDS])
{
    char buf[REGION_NAME_WORDS * 8];

    memset(buf, 0, sizeof(buf));
    memcpy(buf, name, strlen(name));
    memcpy(w, buf, sizeof(buf));
}

static void load_name(const struct region_dirent *e,
                      uint64_t w[REGION_NAME_WORDS])
{
    for (unsigned k = 0; k < REGION_NAME_WORDS; k++) {
        w[k] = atomic_load_explicit(&e->name[k], memory_order_relaxed);
    }
}

/* Decode name words from the segment; -ECORRUPT unless it is a valid
 * name, so that nothing unprintable reaches callers or tool output. */
static int words_to_name(const uint64_t w[REGION_NAME_WORDS], char *out)
{
    char buf[REGION_NAME_WORDS * 8];

    memcpy(buf, w, sizeof(buf));
    if (buf[sizeof(buf) - 1] != '\0') {
        return -PSCOM_REGION_ECORRUPT;
    }
    if (pscom_region_check_name(buf) < 0) {
        return -PSCOM_REGION_ECORRUPT;
    }
    strcpy(out, buf);
    return 0;
}

/* True when the entry's creator (owner id in state word w) is live. */
static bool owner_live(const struct pscom_region *r, uint64_t w)
{
    return shmseg_owner_is_live(&r->dev.seg, region_e_owner(w));
}

/* Check that `off` is the head of a PARTITION run of `owner` (the frame
 * state word is the allocator's truth) and return the bytes per data
 * buffer the run can hold, or 0 when it is not. */
static uint64_t run_capacity(const struct pscom_region *r, uint64_t off,
                             uint32_t owner)
{
    struct shmseg_alloc_info run;
    uint64_t bytes;

    if (shmseg_run_at(&r->dev.seg, off, &run) < 0 || run.offset != off ||
        run.owner != owner || run.tag != SHMSEG_TAG_PARTITION) {
        return 0;
    }
    bytes = (uint64_t)run.nframes << r->dev.seg.frame_shift;
    if (bytes <= REGION_DATA_OFF) {
        return 0;
    }
    return (bytes - REGION_DATA_OFF) / 2;
}

/* Return a dead owner's entry to FREE, keeping its generation. The CAS
 * from the exact word seen never frees an entry claimed again since. */
static void reap(struct region_dirent *e, uint64_t seen)
{
    uint64_t free_w = region_estate(0, region_e_gen(seen), REGION_E_FREE);

    atomic_compare_exchange_strong_explicit(&e->state, &seen, free_w,
                                            memory_order_acq_rel,
                                            memory_order_relaxed);
}

int region_dir_validate(struct pscom_region *r, uint32_t index,
                        struct region_view *v)
{
    struct region_dirent *e = &region_dir(r)[index];
    uint64_t words[REGION_NAME_WORDS];
    uint64_t w, again;
    int rc;

    /* Acquire pairs with the creator's release of READY: the name, off
     * and size stores are visible once READY is. */
    w = atomic_load_explicit(&e->state, memory_order_acquire);
    if (region_e_status(w) != REGION_E_READY) {
        return -PSCOM_REGION_ENOENT;
    }
    v->index = index;
    v->state = w;
    v->off = atomic_load_explicit(&e->off, memory_order_relaxed);
    v->size = atomic_load_explicit(&e->size, memory_order_relaxed);
    load_name(e, words);
    atomic_thread_fence(memory_order_acquire);
    again = atomic_load_explicit(&e->state, memory_order_relaxed);
    if (again != w) {
        return -PSCOM_REGION_ENOENT; /* recycled while we looked */
    }
    rc = words_to_name(words, v->name);
    if (rc < 0) {
        return rc;
    }
    if (!owner_live(r, w)) {
        v->cap = 0;
        return -PSCOM_REGION_ESTALE;
    }
    v->cap = run_capacity(r, v->off, region_e_owner(w));
    if (v->cap == 0) {
        /* The owner is live but the frames are not its partition: only a
         * hostile or broken writer gets here. */
        return -PSCOM_REGION_ECORRUPT;
    }
    if (v->size == 0 || v->size > v->cap) {
        return -PSCOM_REGION_ECORRUPT;
    }
    return 0;
}

int region_dir_get(struct pscom_region *r, pscom_region_id_t id,
                   struct region_view *v)
{
    uint32_t index = (uint32_t)id;
    uint32_t gen = (uint32_t)(id >> 32);
    int rc;

    if (index >= r->dir_entries || gen == 0 || gen > REGION_GEN_MASK) {
        return -PSCOM_REGION_EBADID;
    }
    rc = region_dir_validate(r, index, v);
    if ((rc == 0 || rc == -PSCOM_REGION_ESTALE ||
         rc == -PSCOM_REGION_ECORRUPT) &&
        region_e_gen(v->state) != gen) {
        return -PSCOM_REGION_ENOENT;
    }
    return rc;
}

int region_dir_find(struct pscom_region *r, const char *name,
                    struct region_view *v)
{
    int found = -PSCOM_REGION_ENOENT;

    for (uint32_t i = 0; i < r->dir_entries; i++) {
        struct region_view t;
        int rc = region_dir_validate(r, i, &t);

        if (rc == -PSCOM_REGION_ENOENT || strcmp(t.name, name) != 0) {
            continue;
        }
        if (rc == 0) {
            *v = t;
            return 0;
        }
        /* A stale or corrupt entry of that name: keep looking for a live
         * one, report the stale one if there is none. */
        if (rc == -PSCOM_REGION_ESTALE || found == -PSCOM_REGION_ENOENT) {
            *v = t;
            found = rc;
        }
    }
    return found;
}

static void nap(void)
{
    struct timespec ts = {0, 100000};

    nanosleep(&ts, NULL);
}

/* Take any FREE entry (or a dead owner's) with a CAS. */
static int claim_free(struct pscom_region *r, uint32_t owner, uint32_t *index,
                      uint64_t *claimed)
{
    struct region_dirent *dir = region_dir(r);

    for (uint32_t i = 0; i < r->dir_entries; i++) {
        uint64_t w = atomic_load_explicit(&dir[i].state, memory_order_acquire);
        uint32_t gen;

        if (region_e_status(w) != REGION_E_FREE) {
            if (owner_live(r, w)) {
                continue;
            }
            reap(&dir[i], w);
            w = atomic_load_explicit(&dir[i].state, memory_order_acquire);
            if (region_e_status(w) != REGION_E_FREE) {
                continue;
            }
        }
        gen = (region_e_gen(w) + 1) & REGION_GEN_MASK;
        if (gen == 0) {
            gen = 1; /* 0 is never a valid generation in an id */
        }
        *claimed = region_estate(owner, gen, REGION_E_CLAIMING);
        if (atomic_compare_exchange_strong_explicit(&dir[i].state, &w, *claimed,
                                                    memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            *index = i;
            return 0;
        }
    }
    return -PSCOM_REGION_EDIRFULL;
}

/*
 * Look at entry j once on behalf of the creator of entry `mine`.
 * @return 0 no conflict, 1 look again (after waiting for j to move on),
 * -EEXIST, -EBUSY.
 */
static int conflict_once(struct pscom_region *r, uint32_t j, uint32_t mine,
                         const uint64_t want[REGION_NAME_WORDS],
                         uint64_t deadline)
{
    struct region_dirent *e = &region_dir(r)[j];
    uint64_t words[REGION_NAME_WORDS];
    uint64_t w = atomic_load_explicit(&e->state, memory_order_seq_cst);
    unsigned st = region_e_status(w);

    if (st == REGION_E_FREE) {
        return 0;
    }
    if (!owner_live(r, w)) {
        reap(e, w);
        return 0;
    }
    if (st != REGION_E_CLAIMING) {
        load_name(e, words);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->state, memory_order_relaxed) == w) {
            if (memcmp(words, want, sizeof(words)) != 0) {
                return 0; /* a different name: no conflict */
            }
            if (st == REGION_E_READY || j < mine) {
                return -PSCOM_REGION_EEXIST;
            }
        }
    }
    /* CLAIMING (name not visible yet), a higher NAMED entry of our name,
     * or an entry that changed under us: wait until it moves on. */
    while (atomic_load_explicit(&e->state, memory_order_seq_cst) == w) {
        if (shmseg_now_ms() > deadline) {
            return -PSCOM_REGION_EBUSY;
        }
        if (!owner_live(r, w)) {
            break;
        }
        nap();
    }
    return 1;
}

/*
 * After publishing NAMED, decide whether entry `mine` may become READY.
 * Rule: a READY entry of the same name wins; between two NAMED entries
 * the lower index wins, and the lower one waits until the higher one has
 * resolved. NAMED is stored and the others are loaded with seq_cst, so of
 * two concurrent creators at least one sees the other: if the higher one
 * sees the lower it withdraws; if only the lower sees the higher, it
 * waits, sees it READY and withdraws. Never both proceed; the lowest
 * NAMED entry only withdraws for a READY one, so one always does.
 * @return 0 (we win), -EEXIST, -EBUSY.
 */
static int check_unique(struct pscom_region *r, uint32_t mine,
                        const uint64_t want[REGION_NAME_WORDS])
{
    uint64_t deadline = shmseg_now_ms() + CLAIM_WAIT_MS;

    for (uint32_t j = 0; j < r->dir_entries; j++) {
        int rc = 1;

        while (j != mine && rc == 1) {
            rc = conflict_once(r, j, mine, want, deadline);
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

int region_dir_claim(struct pscom_region *r, const char *name, uint64_t off,
                     uint64_t size, uint32_t *index, uint32_t *gen)
{
    struct region_dirent *e;
    uint32_t owner = shmseg_member_owner(&r->me);
    uint64_t want[REGION_NAME_WORDS];
    uint64_t claimed, named;
    uint32_t i;
    int rc;

    rc = claim_free(r, owner, &i, &claimed);
    if (rc < 0) {
        return rc;
    }
    e = &region_dir(r)[i];
    /* If we were evicted between the claim and here, the entry may have
     * been reaped and handed to someone else: do not write into it. */
    if (region_check_live(r) < 0) {
        return -PSCOM_REGION_EEVICTED;
    }
    name_to_words(name, want);
    atomic_store_explicit(&e->off, off, memory_order_relaxed);
    atomic_store_explicit(&e->size, size, memory_order_relaxed);
    for (unsigned k = 0; k < REGION_NAME_WORDS; k++) {
        atomic_store_explicit(&e->name[k], want[k], memory_order_relaxed);
    }
    /* seq_cst: the store of NAMED and the loads in check_unique() form
     * the Dekker pattern that stops two creators both missing each
     * other. A CAS, not a store: a reaper may have freed the entry. */
    named = region_estate(owner, region_e_gen(claimed), REGION_E_NAMED);
    if (!atomic_compare_exchange_strong_explicit(&e->state, &claimed, named,
                                                 memory_order_seq_cst,
                                                 memory_order_relaxed)) {
        return -PSCOM_REGION_EEVICTED;
    }
    rc = check_unique(r, i, want);
    if (rc < 0) {
        region_dir_release(r, i, region_e_gen(named));
        return rc;
    }
    *index = i;
    *gen = region_e_gen(named);
    return 0;
}

/* NAMED -> READY with release: name, off, size and the partition header
 * are visible to whoever sees READY. */
int region_dir_publish(struct pscom_region *r, uint32_t index, uint32_t gen)
{
    uint32_t owner = shmseg_member_owner(&r->me);
    uint64_t w = region_estate(owner, gen, REGION_E_NAMED);

    if (!atomic_compare_exchange_strong_explicit(
            &region_dir(r)[index].state, &w,
            region_estate(owner, gen, REGION_E_READY), memory_order_release,
            memory_order_relaxed)) {
        return -PSCOM_REGION_EEVICTED;
    }
    return 0;
}

void region_dir_release(struct pscom_region *r, uint32_t index, uint32_t gen)
{
    struct region_dirent *e = &region_dir(r)[index];
    uint32_t owner = shmseg_member_owner(&r->me);
    uint64_t w = atomic_load_explicit(&e->state, memory_order_acquire);

    /* Only our own claim of this generation; anything else means a
     * reaper already took it back. */
    if (region_e_owner(w) == owner && region_e_gen(w) == gen &&
        region_e_status(w) != REGION_E_FREE) {
        reap(e, w);
    }
}

void region_dir_describe(struct pscom_region *r, const struct region_view *v,
                         bool stale, struct pscom_region_info *info)
{
    struct shmseg_part_info pi;
    uint32_t owner = region_e_owner(v->state);

    memset(info, 0, sizeof(*info));
    info->id = region_make_id(v->index, region_e_gen(v->state));
    strcpy(info->name, v->name);
    info->owner = owner;
    info->owner_slot = shmseg_owner_slot(owner);
    info->generation = region_e_gen(v->state);
    info->size = v->size;
    info->stale = stale;
    info->mine = owner == shmseg_member_owner(&r->me);
    if (!stale && shmseg_part_get(&r->dev.seg, info->owner_slot, &pi) == 0) {
        /* shmseg already sanitised the label; cut it to our field. */
        snprintf(info->owner_label, sizeof(info->owner_label), "%.*s",
                 (int)sizeof(info->owner_label) - 1, pi.label);
    }
}

int region_dir_still(struct pscom_region *r, const struct region_view *v)
{
    uint64_t w = atomic_load_explicit(&region_dir(r)[v->index].state,
                                      memory_order_acquire);

    if (w != v->state) {
        return -PSCOM_REGION_ENOENT;
    }
    /* A reclaimer turns the slot non-LIVE before it clears any frame, so
     * a LIVE owner here means the frames we copied were still its. */
    if (!owner_live(r, w)) {
        return -PSCOM_REGION_ESTALE;
    }
    return 0;
}
