/* region_hostile -- a guest that scribbles on the directory and on
 * partitions (white box: it writes the wire format of region_int.h
 * directly) must make reads fail with a clear error, never make a reader
 * touch memory outside the segment, and never corrupt what an honest
 * writer publishes next. Run under --enable-sanitizers this also proves
 * the bounds checks with ASan.
 *
 * `region_hostile stuck NAME`: no tests; create partition NAME (a live
 * writer with its heartbeat), write it once, then turn both sequence
 * words odd as a write that never completes would leave them, print
 * "ready" and wait for a signal (region-stuck.sh runs the tool on it). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "region/region_int.h"
#include "tap.h"

#define E(x) (-PSCOM_REGION_##x)

static struct shmseg_device dev;
static struct shmseg_member evil;
static pscom_region_t *honest;
static uint32_t next_index;

static struct region_dirent *dir_at(uint32_t i)
{
    return (struct region_dirent *)(dev.seg.base + dev.seg.dir_off) + i;
}

/* Forge a READY entry owned by our live hostile member at the next free
 * directory index; return its id. */
static pscom_region_id_t forge(const char *name, uint64_t off, uint64_t size)
{
    uint32_t i = next_index++;
    struct region_dirent *e = dir_at(i);
    char nb[REGION_NAME_WORDS * 8];

    memset(nb, 0, sizeof(nb));
    memcpy(nb, name, strlen(name) < sizeof(nb) ? strlen(name) : sizeof(nb));
    for (unsigned k = 0; k < REGION_NAME_WORDS; k++) {
        uint64_t w;

        memcpy(&w, nb + 8 * k, 8);
        atomic_store(&e->name[k], w);
    }
    atomic_store(&e->off, off);
    atomic_store(&e->size, size);
    atomic_store(&e->state,
                 region_estate(shmseg_member_owner(&evil), 1, REGION_E_READY));
    return region_make_id(i, 1);
}

static long rd(pscom_region_id_t id)
{
    char buf[256];

    return pscom_region_read(honest, id, buf, sizeof(buf), NULL);
}

/* A legit 2-frame PARTITION run of the hostile member, header set up. */
static uint64_t evil_run(pscom_region_id_t id, uint64_t len, uint64_t seq)
{
    uint64_t off;
    struct region_phdr *h;
    struct region_bufhdr *bh;

    if (shmseg_alloc(&evil, 2, SHMSEG_TAG_PARTITION, &off) < 0) {
        tap_bail("hostile member cannot allocate");
    }
    h = (struct region_phdr *)(dev.seg.base + off);
    bh = (struct region_bufhdr *)(h + 1);
    h->magic = REGION_MAGIC;
    atomic_store(&h->id, id);
    atomic_store(&h->cur, 0x7777); /* only the low bit may count */
    for (int b = 0; b < 2; b++) {
        atomic_store(&bh[b].seq, seq);
        atomic_store(&bh[b].len, len);
        atomic_store(&bh[b].version, 1);
    }
    return off;
}

static void forged_entries(uint64_t honest_off)
{
    const struct shmseg *s = &dev.seg;
    pscom_region_id_t id;
    struct pscom_region_info list[64];
    uint64_t off;
    long n;

    id = forge("outside", s->total_size + 4096, 64);
    tap_ok(rd(id) == E(ECORRUPT), "entry pointing past the segment");
    id = forge("unaligned", s->first_frame_off + 3, 64);
    tap_ok(rd(id) == E(ECORRUPT), "entry pointing between frames");
    id = forge("header", 0, 64);
    tap_ok(rd(id) == E(ECORRUPT), "entry pointing at the segment header");
    id = forge("foreign", honest_off, 64);
    tap_ok(rd(id) == E(ECORRUPT), "entry pointing at another's partition");

    id = region_make_id(next_index, 1);
    off = evil_run(id, 10, 2);
    id = forge("oversize", off, (uint64_t)1 << 40);
    tap_ok(rd(id) == E(ECORRUPT), "entry size larger than its frames");

    id = region_make_id(next_index, 1);
    off = evil_run(id, (uint64_t)1 << 40, 2);
    id = forge("longlen", off, 64);
    tap_ok(rd(id) == E(ECORRUPT), "buffer length larger than the buffer");

    id = region_make_id(next_index, 1);
    off = evil_run(id, 10, 1);
    id = forge("oddseq", off, 64);
    tap_ok(rd(id) == E(ESTUCK),
           "a sequence stuck odd: ESTUCK (%s), not a hang or EBUSY",
           pscom_region_strerror((int)rd(id)));

    id = region_make_id(next_index, 1);
    off = evil_run(id, 10, 2);
    ((struct region_phdr *)(s->base + off))->magic = 0;
    id = forge("nomagic", off, 64);
    tap_ok(rd(id) == E(ECORRUPT), "partition without magic");

    id = region_make_id(next_index + 1, 1); /* back reference mismatch */
    off = evil_run(id, 10, 2);
    id = forge("wrongid", off, 64);
    tap_ok(rd(id) == E(ECORRUPT), "partition claiming another id");

    id = region_make_id(next_index, 1);
    off = evil_run(id, 10, 2);
    id = forge("fine", off, 64);
    tap_ok(rd(id) == 10, "a well-formed forged partition reads normally");

    id = forge("bad\x01name", off, 64);
    tap_ok(rd(id) == E(ECORRUPT), "unprintable name");
    id = forge("0123456789012345678901234567890123456789", off, 64);
    tap_ok(rd(id) == E(ECORRUPT), "name without NUL");
    id = forge("status", off, 64);
    atomic_store(&dir_at((uint32_t)id)->state,
                 region_estate(shmseg_member_owner(&evil), 1, 9));
    tap_ok(rd(id) == E(ENOENT), "unknown status: no such partition");

    /* Listed: the honest one, the well-formed forgery, and the stuck one
     * (its entry is sound; only its length is unknown). */
    n = pscom_region_list(honest, list, 64);
    tap_ok(n == 3 && strcmp(list[0].name, "honest") == 0 &&
               strcmp(list[1].name, "oddseq") == 0 &&
               strcmp(list[2].name, "fine") == 0,
           "list leaves out every corrupt entry (%ld listed)", n);
    tap_ok(n == 3 && list[1].stuck && !list[1].stale && !list[0].stuck &&
               !list[2].stuck,
           "list marks the stuck one stuck, and only that one");
}

static void scribbled_writer(pscom_region_id_t id, uint64_t off)
{
    struct region_phdr *h = (struct region_phdr *)(dev.seg.base + off);
    struct region_bufhdr *bh = (struct region_bufhdr *)(h + 1);
    char buf[64];
    long n;

    atomic_store(&h->cur, 1);
    atomic_store(&bh[0].seq, 12345);
    atomic_store(&bh[1].seq, 999);
    atomic_store(&bh[0].len, (uint64_t)1 << 50);
    atomic_store(&bh[1].len, (uint64_t)1 << 50);
    tap_ok(rd(id) == E(ESTUCK) || rd(id) == E(ECORRUPT),
           "a scribbled partition fails to read (%s)",
           pscom_region_strerror((int)rd(id)));
    tap_ok(pscom_region_write(honest, id, "fresh", 5) == 0,
           "its writer still writes (own counters, not the segment's)");
    n = pscom_region_read(honest, id, buf, sizeof(buf), NULL);
    tap_ok(n == 5 && memcmp(buf, "fresh", 5) == 0,
           "and readers see the new version intact");
}

/* A live writer whose partition is left half written for good. */
static int stuck_writer(const char *name)
{
    struct region_view v;
    pscom_region_id_t id;
    struct region_bufhdr *bh;

    if (pscom_region_create(honest, name, 64, &id) < 0 ||
        pscom_region_write(honest, id, "hello", 5) < 0 ||
        region_dir_get(honest, id, &v) < 0) {
        fprintf(stderr, "region_hostile: cannot create %s\n", name);
        return 1;
    }
    bh = (struct region_bufhdr *)(dev.seg.base + v.off +
                                  sizeof(struct region_phdr));
    atomic_fetch_or(&bh[0].seq, 1);
    atomic_fetch_or(&bh[1].seq, 1);
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        pause(); /* the heartbeat thread keeps us alive; a signal ends us */
    }
}

int main(int argc, char **argv)
{
    const char *path = getenv("PSP_IVSHMEM_DEVICE");
    struct pscom_region_opts o = {.label = "honest"};
    struct region_view v;
    pscom_region_id_t id;

    if (!path || shmseg_device_open(&dev, path, SHMSEG_DEV_HOST) < 0 ||
        shmseg_join(&dev.seg, &evil, "hostile", 0) < 0 ||
        pscom_region_open_opts(&honest, &o) < 0) {
        tap_bail("cannot open the segment (PSP_IVSHMEM_DEVICE=%s)",
                 path ? path : "unset");
    }
    if (argc == 3 && strcmp(argv[1], "stuck") == 0) {
        return stuck_writer(argv[2]);
    }
    if (pscom_region_create(honest, "honest", 64, &id) < 0 ||
        pscom_region_write(honest, id, "hello", 5) < 0 ||
        region_dir_get(honest, id, &v) < 0) {
        tap_bail("honest partition");
    }
    next_index = (uint32_t)id + 1;
    forged_entries(v.off);
    scribbled_writer(id, v.off);
    pscom_region_close(honest);
    shmseg_leave(&evil);
    shmseg_device_close(&dev);
    tap_plan(tap_count());
    return tap_exit_status();
}
