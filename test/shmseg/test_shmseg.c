/* test_shmseg.c -- unit tests of lib/shmseg: layout, allocator, reclaim. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmseg/shmseg.h"

#define SEG_SIZE (1u << 20)

struct fx {
    void *mem;
    struct shmseg seg;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    f->mem = mmap(NULL, SEG_SIZE, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_ptr_not_equal(f->mem, MAP_FAILED);
    struct shmseg_params p = {.name = "unit"};
    assert_int_equal(shmseg_format(&f->seg, f->mem, SEG_SIZE, &p), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    munmap(f->mem, SEG_SIZE);
    free(f);
    return 0;
}

static void test_format_attach(void **state)
{
    struct fx *f = *state;
    struct shmseg s2;
    const struct shmseg_header *h = f->mem;

    assert_int_equal(shmseg_attach(&s2, f->mem, SEG_SIZE), 0);
    assert_string_equal(s2.name, "unit");
    assert_int_equal(s2.frame_size, 4096);
    assert_true(s2.frame_count > 200 && s2.frame_count < 256);
    assert_int_equal(s2.first_frame_off % 4096, 0);
    assert_true(s2.first_frame_off + (uint64_t)s2.frame_count * 4096 <=
                SEG_SIZE);
    assert_true(s2.state_off + s2.frame_count * 8ull <= s2.first_frame_off);
    assert_true(shmseg_uuid_equal(s2.uuid, h->uuid));
    assert_int_equal(h->uuid[6] >> 4, 4); /* version 4 UUID */
    /* A re-format gets a new UUID: co-location detects it. */
    assert_int_equal(shmseg_format(&s2, f->mem, SEG_SIZE, NULL), 0);
    assert_false(shmseg_uuid_equal(s2.uuid, f->seg.uuid));
}

static void test_attach_errors(void **state)
{
    struct fx *f = *state;
    struct shmseg_header *h = f->mem;
    struct shmseg s;

    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE / 2),
                     -SHMSEG_ETOOSMALL);
    assert_non_null(strstr(s.why, "> mapping"));
    assert_int_equal(shmseg_attach(&s, f->mem, 100), -SHMSEG_ETOOSMALL);
    h->version = 99;
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), -SHMSEG_EBADVERSION);
    assert_non_null(strstr(s.why, "version 99"));
    h->version = SHMSEG_LAYOUT_VERSION;
    h->incompat_features = 0x8;
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), -SHMSEG_EBADVERSION);
    h->incompat_features = 0;
    h->compat_features = 0x8; /* unknown compat bits are fine */
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), 0);
    h->first_frame_off += 4096;
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), -SHMSEG_ECORRUPT);
    h->first_frame_off -= 4096;
    h->frame_size = 1000;
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), -SHMSEG_ECORRUPT);
    h->frame_size = 4096;
    h->part_count = 5000;
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), -SHMSEG_ECORRUPT);
    h->part_count = SHMSEG_DEFAULT_PARTICIPANTS;
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), 0);
    atomic_store(&h->ready, 0);
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), -SHMSEG_ENOTREADY);
    h->magic = 0;
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), -SHMSEG_EBADMAGIC);
    assert_non_null(strstr(s.why, "magic"));
    atomic_store(&h->ready, SHMSEG_READY_VALUE);
    assert_int_equal(shmseg_attach(&s, f->mem, SEG_SIZE), -SHMSEG_EBADMAGIC);
}

static void test_alloc_free(void **state)
{
    struct fx *f = *state;
    struct shmseg_member a, b;
    uint64_t o1, o2, o3;
    struct shmseg_usage u;

    assert_int_equal(shmseg_join(&f->seg, &a, "a", 0), 0);
    assert_int_equal(shmseg_join(&f->seg, &b, "b", SHMSEG_JOIN_HOST_LOCAL), 0);
    assert_int_not_equal(a.slot, b.slot);
    assert_int_equal(shmseg_alloc(&a, 16, SHMSEG_TAG_RING, &o1), 0);
    assert_int_equal(shmseg_check_range(&f->seg, o1, 65536), 0);
    memset(shmseg_ptr(&f->seg, o1), 0xa5, 65536);
    assert_int_equal(shmseg_alloc(&b, 1, SHMSEG_TAG_TEST, &o2), 0);
    assert_true(o2 >= o1 + 65536 || o2 + 4096 <= o1);
    assert_int_equal(shmseg_alloc(&a, 0, 0, &o3), -SHMSEG_EINVAL);
    assert_int_equal(shmseg_alloc(&a, 1, 64, &o3), -SHMSEG_EINVAL);
    /* Refusals, each with its own code. */
    assert_int_equal(shmseg_free(&b, o1), -SHMSEG_ENOTOWNER);
    assert_int_equal(shmseg_free(&a, o1 + 4096), -SHMSEG_ENOTHEAD);
    assert_int_equal(shmseg_free(&a, o1 + 1), -SHMSEG_ERANGE);
    assert_int_equal(shmseg_free(&a, 0), -SHMSEG_ERANGE);
    assert_int_equal(shmseg_free(&a, f->seg.total_size), -SHMSEG_ERANGE);
    shmseg_walk(&f->seg, NULL, NULL, &u);
    assert_int_equal(u.used_frames, 17);
    assert_int_equal(u.allocations, 2);
    assert_int_equal(shmseg_free(&a, o1), 0);
    assert_int_equal(shmseg_free(&a, o1), -SHMSEG_EDOUBLEFREE);
    /* Exhaustion is distinct and leaves nothing claimed behind. */
    assert_int_equal(shmseg_alloc(&a, f->seg.frame_count, 0, &o3),
                     -SHMSEG_ENOSPC);
    shmseg_walk(&f->seg, NULL, NULL, &u);
    assert_int_equal(u.used_frames, 1);
    assert_int_equal(shmseg_free(&b, o2), 0);
    assert_int_equal(shmseg_alloc(&a, f->seg.frame_count, 0, &o3), 0);
    assert_int_equal(shmseg_alloc(&b, 1, 0, &o1), -SHMSEG_ENOSPC);
    assert_int_equal(shmseg_leave(&a), f->seg.frame_count);
    assert_int_equal(shmseg_member_valid(&a), -SHMSEG_EEVICTED);
    assert_int_equal(shmseg_leave(&b), 0);
    shmseg_walk(&f->seg, NULL, NULL, &u);
    assert_int_equal(u.free_frames, f->seg.frame_count);
}

static void test_ranges(void **state)
{
    struct fx *f = *state;
    struct shmseg *s = &f->seg;
    uint64_t end = s->first_frame_off + (uint64_t)s->frame_count * 4096;

    assert_int_equal(shmseg_check_range(s, s->first_frame_off, 1), 0);
    assert_int_equal(shmseg_check_range(s, end - 4096, 4096), 0);
    assert_int_equal(shmseg_check_range(s, end - 4096, 4097), -SHMSEG_ERANGE);
    assert_int_equal(shmseg_check_range(s, s->first_frame_off, 0),
                     -SHMSEG_ERANGE);
    assert_int_equal(shmseg_check_range(s, UINT64_MAX - 10, 100),
                     -SHMSEG_ERANGE);
    assert_int_equal(shmseg_check_range(s, s->first_frame_off, UINT64_MAX),
                     -SHMSEG_ERANGE);
    assert_int_equal(shmseg_check_range(s, s->first_frame_off - 4096, 10),
                     -SHMSEG_ERANGE);
    assert_int_equal(shmseg_frames_for(s, 65536), 16);
    assert_int_equal(shmseg_frames_for(s, 65537), 17);
}

static void test_evict(void **state)
{
    struct fx *f = *state;
    struct shmseg_member a, b;
    uint64_t o1, o2;
    struct shmseg_usage u;

    assert_int_equal(shmseg_join(&f->seg, &a, "stalled", 0), 0);
    assert_int_equal(shmseg_alloc(&a, 3, SHMSEG_TAG_RING, &o1), 0);
    assert_int_equal(shmseg_alloc(&a, 2, SHMSEG_TAG_RING, &o2), 0);
    assert_int_equal(shmseg_reclaim_owner(&f->seg, a.slot, a.gen), 5);
    assert_int_equal(shmseg_reclaim_owner(&f->seg, a.slot, a.gen),
                     -SHMSEG_EINVAL);
    /* The stalled owner wakes up: every operation tells it. */
    assert_int_equal(shmseg_member_valid(&a), -SHMSEG_EEVICTED);
    assert_int_equal(shmseg_heartbeat(&a), -SHMSEG_EEVICTED);
    assert_int_equal(shmseg_alloc(&a, 1, 0, &o1), -SHMSEG_EEVICTED);
    assert_int_equal(shmseg_free(&a, o2), -SHMSEG_EEVICTED);
    assert_int_equal(shmseg_leave(&a), -SHMSEG_EEVICTED);
    /* Its slot is re-used with a new generation. */
    assert_int_equal(shmseg_join(&f->seg, &b, "next", 0), 0);
    assert_int_equal(b.slot, a.slot);
    assert_int_equal(b.gen, a.gen + 1);
    shmseg_walk(&f->seg, NULL, NULL, &u);
    assert_int_equal(u.free_frames, f->seg.frame_count);
    /* A reclaimer that dies between its two CASes leaves RECLAIMING: the
     * next sweep finishes its work and frees the slot. */
    assert_int_equal(shmseg_alloc(&b, 3, 0, &o1), 0);
    struct shmseg_participant *p =
        (struct shmseg_participant *)((char *)f->mem + f->seg.part_off) +
        b.slot;
    atomic_store(&p->state,
                 (uint64_t)b.gen | (uint64_t)SHMSEG_PART_RECLAIMING << 32);
    assert_int_equal(shmseg_member_valid(&b), -SHMSEG_EEVICTED);
    assert_int_equal(shmseg_reclaim_orphans(&f->seg), 3);
    assert_int_equal(atomic_load(&p->state) >> 32, SHMSEG_PART_FREE);
    shmseg_walk(&f->seg, NULL, NULL, &u);
    assert_int_equal(u.free_frames, f->seg.frame_count);
}

/* The doorbell word (issue 22): published by the owner, read by others
 * only while the slot is live in that generation and the word carries
 * its tag; a label-like or hostile word is none. */
static void test_doorbell_word(void **state)
{
    struct fx *f = *state;
    struct shmseg_member a, b;
    uint16_t peer = 0, vec = 0;

    assert_int_equal(shmseg_join(&f->seg, &a, "bell", 0), 0);
    uint32_t owner = shmseg_member_owner(&a);
    assert_int_equal(shmseg_owner_doorbell(&f->seg, owner, &peer, &vec), -1);
    assert_int_equal(shmseg_member_set_doorbell(&a, 65536, 0), -SHMSEG_EINVAL);
    assert_int_equal(shmseg_member_set_doorbell(&a, 7, 65536), -SHMSEG_EINVAL);
    assert_int_equal(shmseg_member_set_doorbell(&a, 65535, 3), 0);
    assert_int_equal(shmseg_owner_doorbell(&f->seg, owner, &peer, &vec), 0);
    assert_int_equal(peer, 65535);
    assert_int_equal(vec, 3);
    assert_int_equal(shmseg_slot_doorbell(&f->seg, a.slot, &peer, &vec), 0);
    assert_int_equal(shmseg_slot_doorbell(&f->seg, f->seg.part_count, &peer,
                                          &vec),
                     -1);
    /* Garbage in the word (an old peer's long label, a hostile write). */
    struct shmseg_participant *p =
        (struct shmseg_participant *)((char *)f->mem + f->seg.part_off) +
        a.slot;
    atomic_store(&p->doorbell, 0x3837363534333231ULL);
    assert_int_equal(shmseg_owner_doorbell(&f->seg, owner, &peer, &vec), -1);
    atomic_store(&p->doorbell, SHMSEG_DOORBELL_TAG << 48 | 1ULL << 40 | 5);
    assert_int_equal(shmseg_owner_doorbell(&f->seg, owner, &peer, &vec), -1);
    assert_int_equal(shmseg_member_set_doorbell(&a, 2, 1), 0);
    assert_int_equal(shmseg_member_set_doorbell(&a, -1, 0), 0);
    assert_int_equal(shmseg_owner_doorbell(&f->seg, owner, &peer, &vec), -1);
    /* Gone owners have none; a new member of the slot starts without. */
    assert_int_equal(shmseg_member_set_doorbell(&a, 2, 1), 0);
    assert_int_equal(shmseg_leave(&a), 0);
    assert_int_equal(shmseg_owner_doorbell(&f->seg, owner, &peer, &vec), -1);
    assert_int_equal(shmseg_slot_doorbell(&f->seg, a.slot, &peer, &vec), -1);
    assert_int_equal(shmseg_member_set_doorbell(&a, 2, 1), -SHMSEG_EEVICTED);
    assert_int_equal(shmseg_join(&f->seg, &b, "next", 0), 0);
    assert_int_equal(b.slot, a.slot);
    assert_int_equal(shmseg_slot_doorbell(&f->seg, b.slot, &peer, &vec), -1);
}

/* The questions clients ask (lib/region, the plugin): is an owner live,
 * and which run does an offset belong to. */
static void test_owner_run_at(void **state)
{
    struct fx *f = *state;
    struct shmseg *s = &f->seg;
    _Atomic uint64_t *w = (void *)((char *)f->mem + s->state_off);
    struct shmseg_member a;
    struct shmseg_alloc_info run;
    uint32_t owner, fi;
    uint64_t o;

    assert_int_equal(shmseg_join(s, &a, "runs", 0), 0);
    owner = shmseg_member_owner(&a);
    assert_int_equal(shmseg_owner_slot(owner), a.slot);
    assert_int_equal(shmseg_owner_gen(owner), a.gen);
    assert_true(shmseg_owner_is_live(s, owner));
    assert_false(shmseg_owner_is_live(s, owner + (1u << SHMSEG_SLOT_BITS)));
    assert_false(
        shmseg_owner_is_live(s, s->part_count | 1u << SHMSEG_SLOT_BITS));
    assert_int_equal(shmseg_alloc(&a, 3, SHMSEG_TAG_PARTITION, &o), 0);
    /* Head and every tail frame name the same run. */
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(shmseg_run_at(s, o + k * 4096u, &run), 0);
        assert_int_equal(run.offset, o);
        assert_int_equal(run.nframes, 3);
        assert_int_equal(run.owner, owner);
        assert_int_equal(run.tag, SHMSEG_TAG_PARTITION);
        assert_true(run.owner_live);
    }
    assert_int_equal(shmseg_run_at(s, o + 3 * 4096u, &run), -SHMSEG_ENOENT);
    assert_int_equal(shmseg_run_at(s, o + 1, &run), -SHMSEG_ERANGE);
    assert_int_equal(shmseg_run_at(s, 0, &run), -SHMSEG_ERANGE);
    /* A forged tail pointing at a head that does not cover it. */
    fi = (uint32_t)((o - s->first_frame_off) >> s->frame_shift);
    atomic_store(&w[fi + 5],
                 (uint64_t)owner | 5ull << SHMSEG_RUN_SHIFT |
                     (uint64_t)SHMSEG_TAG_PARTITION << SHMSEG_TAG_SHIFT);
    assert_int_equal(shmseg_run_at(s, o + 5 * 4096u, &run), -SHMSEG_ECORRUPT);
    atomic_store(&w[fi + 5], 0);
    /* After the owner is declared dead the run reads as stale. */
    assert_int_equal(shmseg_reclaim_owner(s, a.slot, a.gen), 3);
    assert_false(shmseg_owner_is_live(s, owner));
    assert_int_equal(shmseg_run_at(s, o, &run), -SHMSEG_ENOENT);
}

static void test_orphans(void **state)
{
    struct fx *f = *state;
    _Atomic uint64_t *w = (void *)((char *)f->mem + f->seg.state_off);
    struct shmseg_member a;
    struct shmseg_usage u;
    uint64_t o;

    assert_int_equal(shmseg_join(&f->seg, &a, "live", 0), 0);
    assert_int_equal(shmseg_alloc(&a, 2, 0, &o), 0);
    /* Words a dead generation wrote after its reclaim, and garbage. */
    atomic_store(&w[100], (uint64_t)(a.slot | (a.gen + 7) << 10) | 1ull << 32);
    atomic_store(&w[101], 0x4000000000000000ull);
    atomic_store(&w[102], 0xffffffffffffffffull);
    shmseg_walk(&f->seg, NULL, NULL, &u);
    assert_int_equal(u.stale_frames, 1);
    assert_int_equal(u.bad_frames, 2);
    assert_int_equal(shmseg_reclaim_orphans(&f->seg), 3);
    shmseg_walk(&f->seg, NULL, NULL, &u);
    assert_int_equal(u.used_frames, 2);
    assert_int_equal(u.free_frames, f->seg.frame_count - 2);
    /* A hostile head whose run goes past the end cannot make free go out
     * of bounds: the live owner's own run is intact. */
    assert_int_equal(shmseg_free(&a, o), 0);
    shmseg_leave(&a);
}

static void test_monitor(void **state)
{
    struct fx *f = *state;
    struct shmseg_monitor mon;
    struct shmseg_member a, b;
    uint64_t o, t0;
    pid_t pid;
    int st;

    assert_int_equal(shmseg_join(&f->seg, &a, "beating", 0), 0);
    shmseg_monitor_init(&mon, &f->seg, 1000, true);
    t0 = shmseg_now_ms();
    /* A child joins as host-local, allocates and dies: pid death. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct shmseg_member c;

        if (shmseg_join(&f->seg, &c, "child", SHMSEG_JOIN_HOST_LOCAL) ||
            shmseg_alloc(&c, 4, 0, &o)) {
            _exit(1);
        }
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_int_equal(shmseg_monitor_poll(&mon, t0), 4);
    /* Heartbeats keep a member alive past the timeout... */
    assert_int_equal(shmseg_alloc(&a, 1, 0, &o), 0);
    shmseg_heartbeat(&a);
    assert_int_equal(shmseg_monitor_poll(&mon, t0 + 900), 0);
    shmseg_heartbeat(&a);
    assert_int_equal(shmseg_monitor_poll(&mon, t0 + 1800), 0);
    assert_int_equal(shmseg_member_valid(&a), 0);
    /* ...and their absence for the timeout gets it reclaimed. */
    assert_int_equal(shmseg_monitor_poll(&mon, t0 + 2800), 1);
    assert_int_equal(shmseg_member_valid(&a), -SHMSEG_EEVICTED);
    assert_int_equal(shmseg_join(&f->seg, &b, "b", 0), 0);
    shmseg_leave(&b);
}

/* Garbage over the participant table (issue 21, item 11): a monitor
 * pass frees every slot whose state is no valid state, keeps a valid
 * live member, and joins work again. */
static void cb_count(void *arg, const struct shmseg_part_info *who,
                     enum shmseg_death why, long frames)
{
    if (why == SHMSEG_DEATH_CORRUPT) {
        (*(unsigned *)arg)++;
    }
}

static void test_repair_slots(void **state)
{
    struct fx *f = *state;
    struct shmseg_participant *parts =
        (struct shmseg_participant *)((char *)f->mem + f->seg.part_off);
    struct shmseg_monitor mon;
    struct shmseg_member keep, m;
    struct shmseg_part_info pi;
    unsigned repaired = 0;
    uint64_t o;

    assert_int_equal(shmseg_join(&f->seg, &keep, "keep", 0), 0);
    assert_int_equal(shmseg_alloc(&keep, 2, 0, &o), 0);
    /* Every other slot: bytes no participant writes (0xa5 makes status
     * 0xa5a5a5a5), plus the edge cases LIVE(gen 0) and a generation
     * beyond the mask. */
    for (uint32_t s = 0; s < f->seg.part_count; s++) {
        if (s != keep.slot) {
            memset(&parts[s], 0xa5, sizeof(parts[s]));
        }
    }
    assert_int_equal(shmseg_join(&f->seg, &m, "x", 0), -SHMSEG_EFULL);
    atomic_store(&parts[(keep.slot + 1) % f->seg.part_count].state,
                 (uint64_t)SHMSEG_PART_LIVE << SHMSEG_PART_STATUS_SHIFT);
    atomic_store(&parts[(keep.slot + 2) % f->seg.part_count].state,
                 (uint64_t)SHMSEG_PART_FREE << SHMSEG_PART_STATUS_SHIFT |
                     (SHMSEG_GEN_MASK + 1u));
    shmseg_monitor_init(&mon, &f->seg, 1000, false);
    mon.on_reclaim = cb_count;
    mon.arg = &repaired;
    shmseg_monitor_poll(&mon, shmseg_now_ms());
    assert_int_equal(repaired, f->seg.part_count - 1);
    for (uint32_t s = 0; s < f->seg.part_count; s++) {
        assert_int_equal(shmseg_part_get(&f->seg, s, &pi), 0);
        assert_int_equal(pi.status,
                         s == keep.slot ? SHMSEG_PART_LIVE : SHMSEG_PART_FREE);
    }
    assert_int_equal(shmseg_member_valid(&keep), 0);
    assert_int_equal(shmseg_join(&f->seg, &m, "new", 0), 0);
    assert_int_equal(shmseg_alloc(&m, 1, 0, &o), 0);
    assert_int_equal(shmseg_leave(&m), 1);
    assert_int_equal(shmseg_leave(&keep), 2);
}

static void test_full(void **state)
{
    struct fx *f = *state;
    struct shmseg_member m[SHMSEG_DEFAULT_PARTICIPANTS + 1];

    for (unsigned i = 0; i < SHMSEG_DEFAULT_PARTICIPANTS; i++) {
        assert_int_equal(shmseg_join(&f->seg, &m[i], "x", 0), 0);
    }
    assert_int_equal(shmseg_join(&f->seg, &m[64], "x", 0), -SHMSEG_EFULL);
    assert_string_equal(shmseg_strerror(-SHMSEG_EFULL),
                        "no free participant slot");
}

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A hostile guest mutates the header at random: attach either refuses or
 * yields a geometry that lies inside the mapping. */
static void test_hostile_header(void **state)
{
    struct fx *f = *state;
    uint8_t good[SHMSEG_HEADER_SIZE];
    uint64_t r = 0x1234567;
    struct shmseg s;

    memcpy(good, f->mem, sizeof(good));
    for (int it = 0; it < 20000; it++) {
        uint8_t *h = f->mem;
        int k = 1 + (int)(xs(&r) % 4);

        memcpy(h, good, sizeof(good));
        while (k--) {
            h[xs(&r) % 252] = (uint8_t)xs(&r); /* all but `ready` */
        }
        if (shmseg_attach(&s, f->mem, SEG_SIZE) == 0) {
            assert_true(s.first_frame_off +
                            ((uint64_t)s.frame_count << s.frame_shift) <=
                        SEG_SIZE);
            assert_true(s.state_off + 8ull * s.frame_count <=
                        s.first_frame_off);
            assert_true(s.part_off + 64ull * s.part_count <= s.dir_off);
            assert_int_equal(1u << s.frame_shift, s.frame_size);
        }
    }
    memcpy(f->mem, good, sizeof(good));
}

/* Garbage in every participant slot and frame word: every library call
 * stays inside the segment (ASan builds prove it) and the sweeps leave a
 * consistent segment. */
static void test_hostile_metadata(void **state)
{
    struct fx *f = *state;
    uint64_t r = 0xfeedbeef, o;
    uint8_t *meta = (uint8_t *)f->mem + f->seg.part_off;
    size_t len = f->seg.first_frame_off - f->seg.part_off;
    struct shmseg_monitor mon;
    struct shmseg_member m;
    struct shmseg_usage u;

    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < len; i++) {
            meta[i] = (uint8_t)xs(&r);
        }
        shmseg_walk(&f->seg, NULL, NULL, &u);
        for (uint32_t sl = 0; sl < f->seg.part_count; sl++) {
            struct shmseg_part_info pi;

            shmseg_part_get(&f->seg, sl, &pi);
            shmseg_reclaim_owner(&f->seg, sl, pi.gen);
        }
        m.seg = &f->seg;
        m.slot = (uint32_t)(xs(&r) % f->seg.part_count);
        m.gen = (uint32_t)xs(&r) & SHMSEG_GEN_MASK;
        m.hint = (uint32_t)xs(&r);
        for (int k = 0; k < 100; k++) {
            shmseg_free(&m, xs(&r) % (2 * SEG_SIZE));
            shmseg_alloc(&m, 1 + (uint32_t)(xs(&r) % 8), 0, &o);
        }
        shmseg_monitor_init(&mon, &f->seg, 0, false);
        shmseg_monitor_poll(&mon, shmseg_now_ms());
        shmseg_walk(&f->seg, NULL, NULL, &u);
        /* After a monitor pass with timeout 0 nobody is live: the sweep
         * must have cleared every word. */
        assert_int_equal(u.used_frames + u.stale_frames + u.bad_frames, 0);
    }
    /* And the segment is usable again once slots are sane. */
    memset(meta, 0, len);
    assert_int_equal(shmseg_join(&f->seg, &m, "after", 0), 0);
    assert_int_equal(shmseg_alloc(&m, 4, 0, &o), 0);
    assert_int_equal(shmseg_free(&m, o), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format_attach, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doorbell_word, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_run_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_monitor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repair_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_metadata, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
