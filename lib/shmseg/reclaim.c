/* reclaim.c -- declaring owners dead and clearing what they left. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "internal.h"

uint64_t shmseg_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool shmseg_owner_is_live(const struct shmseg *seg, uint32_t owner)
{
    uint32_t slot = w_slot(owner);

    if (slot >= seg->part_count) {
        return false;
    }
    return atomic_load_explicit(&part_at(seg, slot)->state,
                                memory_order_acquire) ==
           part_state(w_gen(owner), SHMSEG_PART_LIVE);
}

long shmseg_clear_owner(const struct shmseg *seg, uint32_t owner)
{
    _Atomic uint64_t *w = st_words(seg);
    long n = 0;

    for (uint32_t i = 0; i < seg->frame_count; i++) {
        uint64_t v = atomic_load_explicit(&w[i], memory_order_relaxed);

        /* CAS from the value seen: never clear a word someone re-used. */
        if (v && w_owner(v) == owner &&
            atomic_compare_exchange_strong_explicit(&w[i], &v, 0,
                                                    memory_order_release,
                                                    memory_order_relaxed)) {
            n++;
        }
    }
    return n;
}

/* RECLAIMING(gen) -> clear words -> pid 0 -> FREE(gen). */
static long finish_reclaim(struct shmseg *seg, uint32_t slot, uint32_t gen)
{
    struct shmseg_participant *p = part_at(seg, slot);
    uint64_t expect = part_state(gen, SHMSEG_PART_RECLAIMING);
    long n = shmseg_clear_owner(seg, slot | gen << SHMSEG_SLOT_BITS);

    atomic_store_explicit(&p->host_pid, 0, memory_order_relaxed);
    atomic_compare_exchange_strong_explicit(&p->state, &expect,
                                            part_state(gen, SHMSEG_PART_FREE),
                                            memory_order_acq_rel,
                                            memory_order_relaxed);
    return n;
}

long shmseg_reclaim_owner(struct shmseg *seg, uint32_t slot, uint32_t gen)
{
    struct shmseg_participant *p;
    uint64_t expect = part_state(gen, SHMSEG_PART_LIVE);

    if (slot >= seg->part_count) {
        return -SHMSEG_EINVAL;
    }
    p = part_at(seg, slot);
    /* The CAS elects one reclaimer and tells the owner (its next
     * shmseg_member_valid) that it owns nothing any more. */
    if (!atomic_compare_exchange_strong_explicit(
            &p->state, &expect, part_state(gen, SHMSEG_PART_RECLAIMING),
            memory_order_acq_rel, memory_order_relaxed)) {
        return -SHMSEG_EINVAL;
    }
    return finish_reclaim(seg, slot, gen);
}

/* A state word a slot can really hold: a known status, a generation
 * that fits the owner id, and never LIVE with generation 0 (which frame
 * words cannot name). Anything else was written by no participant. */
static bool part_state_valid(uint64_t st)
{
    uint64_t status = st >> SHMSEG_PART_STATUS_SHIFT;
    uint32_t gen = (uint32_t)st;

    return status <= SHMSEG_PART_RECLAIMING && gen <= SHMSEG_GEN_MASK &&
           !(status == SHMSEG_PART_LIVE && gen == 0);
}

/* Free a slot whose state word is garbage. Nobody owns it: joins take
 * only FREE slots and an owner stays valid only while it sees its exact
 * LIVE(gen), so such a slot would stay unusable forever. The CAS from
 * the value seen elects one repairer (a racing write wins); then the
 * normal reclaim path clears the slot and any words naming it. */
static long repair_slot(struct shmseg *seg, uint32_t slot, uint64_t st)
{
    struct shmseg_participant *p = part_at(seg, slot);
    uint32_t gen = (uint32_t)st & SHMSEG_GEN_MASK;

    if (!atomic_compare_exchange_strong_explicit(
            &p->state, &st, part_state(gen, SHMSEG_PART_RECLAIMING),
            memory_order_acq_rel, memory_order_relaxed)) {
        return -SHMSEG_EINVAL;
    }
    atomic_store_explicit(&p->flags, 0, memory_order_relaxed);
    atomic_store_explicit(&p->doorbell, 0, memory_order_relaxed);
    memset(p->label, 0, sizeof(p->label));
    return finish_reclaim(seg, slot, gen);
}

long shmseg_reclaim_orphans(struct shmseg *seg)
{
    _Atomic uint64_t *w = st_words(seg);
    long n = 0;

    for (uint32_t s = 0; s < seg->part_count; s++) {
        uint64_t st = atomic_load_explicit(&part_at(seg, s)->state,
                                           memory_order_acquire);

        /* A reclaimer that died between its two CASes left RECLAIMING
         * (an invalid generation is the monitor's to repair). */
        if ((st >> SHMSEG_PART_STATUS_SHIFT) == SHMSEG_PART_RECLAIMING &&
            part_state_valid(st)) {
            n += finish_reclaim(seg, s, (uint32_t)st);
        }
    }
    for (uint32_t i = 0; i < seg->frame_count; i++) {
        /* Acquire: a word written by an owner that joined after our last
         * look must come with that owner's LIVE state, or we would take a
         * fresh claim for an orphan. */
        uint64_t v = atomic_load_explicit(&w[i], memory_order_acquire);

        if (v && !shmseg_owner_is_live(seg, w_owner(v)) &&
            atomic_compare_exchange_strong_explicit(&w[i], &v, 0,
                                                    memory_order_release,
                                                    memory_order_relaxed)) {
            n++;
        }
    }
    return n;
}

int shmseg_part_get(const struct shmseg *seg, uint32_t slot,
                    struct shmseg_part_info *out)
{
    const struct shmseg_participant *p;
    uint64_t st;

    if (slot >= seg->part_count) {
        return -SHMSEG_EINVAL;
    }
    p = part_at(seg, slot);
    memset(out, 0, sizeof(*out));
    st = atomic_load_explicit(&p->state, memory_order_acquire);
    out->slot = slot;
    out->gen = (uint32_t)st;
    out->status = (unsigned)(st >> SHMSEG_PART_STATUS_SHIFT);
    out->heartbeat = atomic_load_explicit(&p->heartbeat, memory_order_relaxed);
    out->hb_time_ns = atomic_load_explicit(&p->hb_time_ns,
                                           memory_order_relaxed);
    out->host_pid = atomic_load_explicit(&p->host_pid, memory_order_relaxed);
    out->flags = atomic_load_explicit(&p->flags, memory_order_relaxed);
    /* The label is guest-written: keep safe characters only. */
    for (unsigned k = 0; k < SHMSEG_LABEL_SIZE && p->label[k]; k++) {
        out->label[k] = safe_char(p->label[k]);
    }
    return 0;
}

/* True when word v of frame i describes no consistent part of a run:
 * reserved bit set, no such slot, generation 0, or a run (head) or a
 * distance back to the head (tail) that leaves the frame area. */
static bool word_bad(const struct shmseg *seg, uint32_t i, uint64_t v)
{
    return (v & SHMSEG_FRAME_RESERVED) || w_slot(v) >= seg->part_count ||
           w_gen(v) == 0 ||
           ((v & SHMSEG_FRAME_HEAD)
                ? w_run(v) == 0 || w_run(v) > seg->frame_count - i
                : w_run(v) == 0 || w_run(v) > i);
}

/* Decode the head word v of frame i. */
static void head_info(const struct shmseg *seg, uint32_t i, uint64_t v,
                      bool live, struct shmseg_alloc_info *a)
{
    a->first = i;
    a->nframes = w_run(v);
    a->offset = seg->first_frame_off + ((uint64_t)i << seg->frame_shift);
    a->owner = w_owner(v);
    a->slot = w_slot(v);
    a->gen = w_gen(v);
    a->tag = w_tag(v);
    a->owner_live = live;
}

int shmseg_run_at(const struct shmseg *seg, uint64_t off,
                  struct shmseg_alloc_info *out)
{
    _Atomic uint64_t *w = st_words(seg);
    uint32_t i, head;
    uint64_t v, hv;

    if (shmseg_check_range(seg, off, seg->frame_size) < 0) {
        return -SHMSEG_ERANGE;
    }
    i = (uint32_t)((off - seg->first_frame_off) >> seg->frame_shift);
    /* Acquire: the head is claimed last with release, so its owner's
     * writes before publishing the run are visible. */
    v = atomic_load_explicit(&w[i], memory_order_acquire);
    if (v == 0) {
        return -SHMSEG_ENOENT;
    }
    if (word_bad(seg, i, v)) {
        return -SHMSEG_ECORRUPT;
    }
    head = (v & SHMSEG_FRAME_HEAD) ? i : i - w_run(v);
    hv = head == i ? v : atomic_load_explicit(&w[head], memory_order_acquire);
    /* A tail must point at a head of the same owner and tag whose run
     * covers it; anything else is torn or forged. */
    if (!(hv & SHMSEG_FRAME_HEAD) || word_bad(seg, head, hv) ||
        w_owner(hv) != w_owner(v) || w_tag(hv) != w_tag(v) ||
        w_run(hv) <= i - head) {
        return -SHMSEG_ECORRUPT;
    }
    head_info(seg, head, hv, shmseg_owner_is_live(seg, w_owner(hv)), out);
    return 0;
}

int shmseg_walk(const struct shmseg *seg,
                int (*cb)(const struct shmseg_alloc_info *a, void *arg),
                void *arg, struct shmseg_usage *usage)
{
    _Atomic uint64_t *w = st_words(seg);
    struct shmseg_usage u = {0};

    for (uint32_t i = 0; i < seg->frame_count; i++) {
        /* Acquire, as in the orphan sweep: see the owner's state. */
        uint64_t v = atomic_load_explicit(&w[i], memory_order_acquire);
        struct shmseg_alloc_info a;
        bool live;

        if (v == 0) {
            u.free_frames++;
            continue;
        }
        live = shmseg_owner_is_live(seg, w_owner(v));
        if (word_bad(seg, i, v)) {
            u.bad_frames++;
            continue;
        }
        if (live) {
            u.used_frames++;
        } else {
            u.stale_frames++;
        }
        if (!(v & SHMSEG_FRAME_HEAD)) {
            continue;
        }
        if (live) {
            u.allocations++;
        }
        if (cb) {
            head_info(seg, i, v, live, &a);
            if (cb(&a, arg)) {
                cb = NULL;
            }
        }
    }
    if (usage) {
        *usage = u;
    }
    return 0;
}

void shmseg_monitor_init(struct shmseg_monitor *mon, struct shmseg *seg,
                         uint64_t timeout_ms, bool check_pids)
{
    uint64_t now = shmseg_now_ms();

    memset(mon, 0, sizeof(*mon));
    mon->seg = seg;
    mon->timeout_ms = timeout_ms;
    mon->check_pids = check_pids;
    for (uint32_t s = 0; s < seg->part_count; s++) {
        struct shmseg_participant *p = part_at(seg, s);

        mon->watch[s].state = atomic_load(&p->state);
        mon->watch[s].heartbeat = atomic_load(&p->heartbeat);
        mon->watch[s].changed_ms = now;
    }
}

/* Decide whether slot s (LIVE, state st) is dead at time now. */
static int judge(struct shmseg_monitor *mon, uint32_t s, uint64_t st,
                 uint64_t now, const struct shmseg_part_info *pi)
{
    struct shmseg_watch *wt = &mon->watch[s];

    if (wt->state != st || wt->heartbeat != pi->heartbeat) {
        /* New owner or a heartbeat: alive now, on our clock. */
        wt->state = st;
        wt->heartbeat = pi->heartbeat;
        wt->changed_ms = now;
    }
    if (mon->check_pids && (pi->flags & SHMSEG_PF_HOST_LOCAL) &&
        pi->host_pid > 0 && kill(pi->host_pid, 0) < 0 && errno == ESRCH) {
        return SHMSEG_DEATH_PID;
    }
    if (now - wt->changed_ms >= mon->timeout_ms) {
        return SHMSEG_DEATH_TIMEOUT;
    }
    return 0;
}

long shmseg_monitor_poll(struct shmseg_monitor *mon, uint64_t now_ms)
{
    struct shmseg *seg = mon->seg;
    long total = 0;

    for (uint32_t s = 0; s < seg->part_count; s++) {
        uint64_t st = atomic_load_explicit(&part_at(seg, s)->state,
                                           memory_order_acquire);
        struct shmseg_part_info pi;
        int why;
        long n;

        if (!part_state_valid(st)) {
            shmseg_part_get(seg, s, &pi); /* what it held, for the log */
            n = repair_slot(seg, s, st);
            if (n >= 0) {
                total += n;
                if (mon->on_reclaim) {
                    mon->on_reclaim(mon->arg, &pi, SHMSEG_DEATH_CORRUPT, n);
                }
            }
            continue;
        }
        if ((st >> SHMSEG_PART_STATUS_SHIFT) != SHMSEG_PART_LIVE) {
            mon->watch[s].state = st;
            continue;
        }
        shmseg_part_get(seg, s, &pi);
        why = judge(mon, s, st, now_ms, &pi);
        if (!why) {
            continue;
        }
        n = shmseg_reclaim_owner(seg, s, (uint32_t)st);
        if (n >= 0) {
            total += n;
            if (mon->on_reclaim) {
                mon->on_reclaim(mon->arg, &pi, why, n);
            }
        }
    }
    /* Orphans appear only around a reclaim (a dying owner's in-flight
     * claim) or by a guest's stray writes; sweeping all words on every
     * pass would cost 128 MiB of reads per pass on a 64 GiB segment. */
    if (total > 0 || mon->polls++ % SHMSEG_ORPHAN_SWEEP_EVERY == 0) {
        total += shmseg_reclaim_orphans(seg);
    }
    return total;
}
