/* member.c -- participant slots: join, heartbeat, eviction check, leave. */
#include "config.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static uint64_t realtime_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int shmseg_join(struct shmseg *seg, struct shmseg_member *m, const char *label,
                unsigned flags)
{
    if (!seg || !m) {
        return -SHMSEG_EINVAL;
    }
    for (uint32_t s = 0; s < seg->part_count; s++) {
        struct shmseg_participant *p = part_at(seg, s);
        uint64_t st = atomic_load_explicit(&p->state, memory_order_acquire);
        uint32_t gen;

        if ((st >> SHMSEG_PART_STATUS_SHIFT) != SHMSEG_PART_FREE) {
            continue;
        }
        /* Generation 0 never appears in a used frame word, so that 0
         * always means "free"; wrap from the maximum to 1. */
        gen = ((uint32_t)st + 1) & SHMSEG_GEN_MASK;
        if (gen == 0) {
            gen = 1;
        }
        /* The CAS is the whole claim: whoever wins owns the slot. */
        if (!atomic_compare_exchange_strong_explicit(
                &p->state, &st, part_state(gen, SHMSEG_PART_LIVE),
                memory_order_acq_rel, memory_order_relaxed)) {
            continue;
        }
        memset(p->label, 0, sizeof(p->label));
        atomic_store_explicit(&p->doorbell, 0, memory_order_relaxed);
        if (label) {
            strncpy(p->label, label, sizeof(p->label) - 1);
        }
        atomic_store_explicit(&p->flags,
                              flags & SHMSEG_JOIN_HOST_LOCAL
                                  ? SHMSEG_PF_HOST_LOCAL
                                  : 0,
                              memory_order_relaxed);
        atomic_store_explicit(&p->host_pid,
                              flags & SHMSEG_JOIN_HOST_LOCAL ? getpid() : 0,
                              memory_order_relaxed);
        m->seg = seg;
        m->slot = s;
        m->gen = gen;
        m->hint = (uint32_t)(((uint64_t)seg->frame_count * s) /
                             seg->part_count);
        shmseg_heartbeat(m);
        return 0;
    }
    return -SHMSEG_EFULL;
}

int shmseg_member_valid(const struct shmseg_member *m)
{
    /* Acquire: if we still see LIVE(gen), no reclaim of ours completed
     * before this load, so our frame words are still ours. */
    uint64_t st = atomic_load_explicit(&part_at(m->seg, m->slot)->state,
                                       memory_order_acquire);

    return st == part_state(m->gen, SHMSEG_PART_LIVE) ? 0 : -SHMSEG_EEVICTED;
}

bool shmseg_reinitialised(const struct shmseg *seg)
{
    const struct shmseg_header *h = shmseg_header(seg);
    uint8_t uuid[SHMSEG_UUID_SIZE];

    /* Acquire: a re-formatting server writes `ready` last; the UUID read
     * after it is the new one. Only called once a membership looks lost,
     * never on a fast path. */
    if (atomic_load_explicit(&h->ready, memory_order_acquire) !=
        SHMSEG_READY_VALUE) {
        return true;
    }
    memcpy(uuid, h->uuid, sizeof(uuid));
    return !shmseg_uuid_equal(uuid, seg->uuid);
}

int shmseg_heartbeat(struct shmseg_member *m)
{
    struct shmseg_participant *p = part_at(m->seg, m->slot);

    if (shmseg_member_valid(m) < 0) {
        return -SHMSEG_EEVICTED;
    }
    /* Relaxed: observers only need to see the counter change eventually. */
    atomic_fetch_add_explicit(&p->heartbeat, 1, memory_order_relaxed);
    atomic_store_explicit(&p->hb_time_ns, realtime_ns(), memory_order_relaxed);
    return 0;
}

long shmseg_leave(struct shmseg_member *m)
{
    struct shmseg_participant *p = part_at(m->seg, m->slot);
    uint64_t live = part_state(m->gen, SHMSEG_PART_LIVE);
    uint64_t expect = live;
    long n;

    if (shmseg_member_valid(m) < 0) {
        return -SHMSEG_EEVICTED;
    }
    n = shmseg_clear_owner(m->seg, shmseg_member_owner(m));
    /* Clear the pid before the slot turns FREE: the next owner's LIVE
     * state must never be paired with our (soon dead) pid. */
    atomic_store_explicit(&p->host_pid, 0, memory_order_relaxed);
    atomic_store_explicit(&p->doorbell, 0, memory_order_relaxed);
    /* If a reclaimer raced us, it owns the slot's final transition. */
    if (!atomic_compare_exchange_strong_explicit(
            &p->state, &expect, part_state(m->gen, SHMSEG_PART_FREE),
            memory_order_acq_rel, memory_order_relaxed)) {
        return -SHMSEG_EEVICTED;
    }
    return n;
}

int shmseg_member_set_doorbell(struct shmseg_member *m, int peer,
                               unsigned vector)
{
    uint64_t word = 0;

    if (!m || !m->seg || peer > (int)SHMSEG_DOORBELL_MASK16 ||
        vector > SHMSEG_DOORBELL_MASK16) {
        return -SHMSEG_EINVAL;
    }
    if (shmseg_member_valid(m) < 0) {
        return -SHMSEG_EEVICTED;
    }
    if (peer >= 0) {
        word = SHMSEG_DOORBELL_TAG << SHMSEG_DOORBELL_TAG_SHIFT |
               (uint64_t)peer << SHMSEG_DOORBELL_PEER_SHIFT | vector;
    }
    /* Release: a peer that reads the word reads our slot as it is now. */
    atomic_store_explicit(&part_at(m->seg, m->slot)->doorbell, word,
                          memory_order_release);
    return 0;
}

/* The doorbell word of a slot, decoded: 0, or -1 without one. */
static int slot_doorbell(const struct shmseg *seg, uint32_t slot,
                         uint16_t *peer, uint16_t *vector)
{
    uint64_t word = atomic_load_explicit(&part_at(seg, slot)->doorbell,
                                         memory_order_acquire);

    if (word >> SHMSEG_DOORBELL_TAG_SHIFT != SHMSEG_DOORBELL_TAG ||
        (word >> 32 & SHMSEG_DOORBELL_MASK16) != 0) {
        return -1;
    }
    *peer = (uint16_t)(word >> SHMSEG_DOORBELL_PEER_SHIFT);
    *vector = (uint16_t)word;
    return 0;
}

int shmseg_owner_doorbell(const struct shmseg *seg, uint32_t owner,
                          uint16_t *peer, uint16_t *vector)
{
    uint32_t slot = shmseg_owner_slot(owner);

    if (!seg || slot >= seg->part_count || !shmseg_owner_is_live(seg, owner)) {
        return -1;
    }
    return slot_doorbell(seg, slot, peer, vector);
}

int shmseg_slot_doorbell(const struct shmseg *seg, uint32_t slot,
                         uint16_t *peer, uint16_t *vector)
{
    uint64_t st;

    if (!seg || slot >= seg->part_count) {
        return -1;
    }
    st = atomic_load_explicit(&part_at(seg, slot)->state, memory_order_acquire);
    if ((st >> SHMSEG_PART_STATUS_SHIFT) != SHMSEG_PART_LIVE) {
        return -1;
    }
    return slot_doorbell(seg, slot, peer, vector);
}
