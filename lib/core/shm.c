/*
 * shm.c -- the built-in shm transport for two processes of one operating
 * system: one private POSIX shared memory object per connection holding
 * both receive rings, created by the connecting side with a random name,
 * mapped by the accepting side and unlinked at once (so nothing stays in
 * /dev/shm once both sides mapped it). The data path is shm_link.c, the
 * same one the ivshmem plugin uses.
 *
 * Behind the rings lie the two bulk areas of large messages (bulk.c),
 * one per sending side, page-aligned. They belong to the object from the
 * start but take memory only while used: the sender reserves its area
 * with fallocate() on its first large message (no space in /dev/shm: the
 * message streams through the ring) and punches it out again when idle.
 *
 * Same OS: the boot ids must be equal (two VMs, or a VM and its host,
 * differ) and the peer must open the very object we created: a random
 * cookie in its first cache line proves it (containers with their own
 * /dev/shm fail here and fall back cleanly).
 */
#include <config.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pscom_priv.h"
#include "shm.h"

#define SHM_MAGIC 0x314d4853u /* "SHM1" */
/* 5: bulk areas on checksum links too (RING_BULK_F_TRAILER; a version 4
 * peer with the checksum would fail on the announcement); 4: the flags
 * word and bulk areas behind the rings (3: lib/ring version 3 rings; 2:
 * version 2, 32 KiB). */
#define SHM_VERSION 5u
/* flags: the sender wants a checksum after every message
 * (PSP_IVSHMEM_CHECKSUM); in the reply: both sides use it. */
#define SHM_F_CHECKSUM 0x1u
/* Both rings and the cookie line in 16 KiB per connection: the ring's
 * default region (lib/ring/ring.h says why it is small). */
#define SHM_RING_LEN (RING_DEFAULT_REGION - RING_ALIGN)
#define SHM_RINGS_SIZE (RING_ALIGN + 2 * SHM_RING_LEN)
static_assert(SHM_RINGS_SIZE <= 64 * 1024, "at most 64 KiB per connection");
/* Bulk area A (the accepting side sends) starts here, B after it. */
#define SHM_BULK_OFF ((SHM_RINGS_SIZE + 4095) & ~(uint64_t)4095)
/* Largest bulk area an offer may name. */
#define SHM_BULK_MAX ((uint64_t)256 << 20)
#define SHM_NAME_PREFIX "/pscom-shm-"
#define SHM_COOKIE 16
#define SHM_BOOT_ID 40
#define SHM_NAME_MAX 64

/* OFFER blob; the ACCEPT reply is magic, version and flags only. */
struct shm_offer {
    uint32_t magic;
    uint32_t version;
    uint32_t flags; /* SHM_F_* */
    uint32_t reserved;
    uint64_t size;
    uint64_t ring_len;
    uint64_t bulk_len; /* bytes of each bulk area, 0: none */
    uint8_t cookie[SHM_COOKIE];
    char boot_id[SHM_BOOT_ID];
    char name[SHM_NAME_MAX];
};

struct shm_reply {
    uint32_t magic;
    uint32_t version;
    uint32_t flags; /* SHM_F_*: what both sides use */
    uint32_t reserved;
};

struct shm_con {
    struct pscom_shm_link link; /* first: the pscom_shm_op_* use it */
    unsigned char *map;
    uint64_t size;           /* of the mapping */
    uint64_t bulk_len;       /* of each bulk area */
    uint64_t tx_bulk;        /* offset of the area we send through */
    uint64_t rx_bulk;        /* offset of the peer's */
    int fd;                  /* the object, for fallocate() of our area */
    char name[SHM_NAME_MAX]; /* creator only, until unlinked */
};

static char boot_id[SHM_BOOT_ID];

static int shm_init(char *reason)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    int ok = f && fgets(boot_id, sizeof(boot_id), f);

    if (f) {
        fclose(f);
    }
    if (!ok) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "no /proc/sys/kernel/random/boot_id to tell one OS from "
                 "another");
        return -1;
    }
    boot_id[strcspn(boot_id, "\n")] = '\0';
    return 0;
}

static void *ring_a(struct shm_con *sc) /* the connecting side receives */
{
    return sc->map + RING_ALIGN;
}

static void *ring_b(struct shm_con *sc) /* the accepting side receives */
{
    return sc->map + RING_ALIGN + SHM_RING_LEN;
}

/* ---- bulk areas (shm.h, struct pscom_shm_bulk_ops) ---------------------- */

static struct shm_con *link_sc(struct pscom_shm_link *link)
{
    return (struct shm_con *)link; /* the link is the first member */
}

/* Reserve our area's memory now, so that a full /dev/shm means falling
 * back to the ring, not SIGBUS in the middle of a copy. */
static int bulk_acquire(struct pscom_shm_link *link, uint64_t len,
                        uint64_t *off, void **ptr, const char **why)
{
    struct shm_con *sc = link_sc(link);

    if (len > sc->bulk_len) {
        *why = "the connection's object has no (big enough) bulk area";
        return -1;
    }
    if (fallocate(sc->fd, 0, (off_t)sc->tx_bulk, (off_t)len) < 0) {
        *why = errno == ENOSPC ? "no space left in /dev/shm"
                               : "fallocate of the bulk area failed";
        return -1;
    }
    *off = sc->tx_bulk;
    *ptr = sc->map + sc->tx_bulk;
    return 0;
}

/* Drained: the memory goes back to the system; the range stays mapped
 * (and reads as zeros). Not drained (closing): the peer may still read
 * it; the object goes when both sides unmapped it. */
static void bulk_release(struct pscom_shm_link *link, uint64_t off, void *ptr,
                         int drained, uint32_t nslots, uint64_t seq)
{
    struct shm_con *sc = link_sc(link);

    (void)ptr;
    (void)nslots;
    (void)seq;
    if (drained) {
        fallocate(sc->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)off, (off_t)sc->bulk_len);
    }
}

/* The peer's area is the one fixed place: off must name it exactly. */
static void *bulk_resolve(struct pscom_shm_link *link, uint64_t off,
                          uint64_t len, const char **why)
{
    struct shm_con *sc = link_sc(link);

    if (off != sc->rx_bulk || len > sc->bulk_len) {
        *why = "announced area is not the peer's bulk area";
        return NULL;
    }
    return sc->map + off;
}

static const struct pscom_shm_bulk_ops shm_bulk_ops = {
    .acquire = bulk_acquire,
    .release = bulk_release,
    .resolve = bulk_resolve,
};

/* Map size bytes of the object behind fd (kept open for fallocate()).
 * NULL on failure (reason set). */
static unsigned char *map_fd(int fd, uint64_t size, const char *name,
                             char *reason)
{
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

    if (map == MAP_FAILED) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "mmap %s: %s", name,
                 strerror(errno));
        return NULL;
    }
    return map;
}

static void shm_free(pscom_con_t *con)
{
    struct shm_con *sc = pscom_con_get_priv(con);

    if (!sc) {
        return;
    }
    if (sc->name[0]) {
        shm_unlink(sc->name);
    }
    if (sc->map) {
        munmap(sc->map, sc->size);
    }
    if (sc->fd >= 0) {
        close(sc->fd);
    }
    free(sc);
    pscom_con_set_priv(con, NULL);
}

/* Bytes of each bulk area we offer: the host's geometry in pages, or 0
 * (the ring carries everything) when it is larger than a peer accepts. */
static uint64_t shm_bulk_len(void)
{
    uint64_t bulk = (pscom_shm_bulk_area_len() + 4095) & ~(uint64_t)4095;

    return bulk > SHM_BULK_MAX ? 0 : bulk;
}

static int shm_offer(pscom_con_t *con, void *blob, size_t *blob_len,
                     char *reason)
{
    static unsigned int counter;
    uint64_t bulk = shm_bulk_len();
    struct shm_offer o = {.magic = SHM_MAGIC,
                          .version = SHM_VERSION,
                          .size = SHM_BULK_OFF + 2 * bulk,
                          .ring_len = SHM_RING_LEN,
                          .bulk_len = bulk};
    struct shm_con *sc;
    int fd;

    if (pscom_shm_checksum_wanted()) {
        o.flags |= SHM_F_CHECKSUM;
    }

    if (getrandom(o.cookie, sizeof(o.cookie), GRND_NONBLOCK) !=
        (ssize_t)sizeof(o.cookie)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "getrandom: %s",
                 strerror(errno));
        return -1;
    }
    sc = calloc(1, sizeof(*sc));
    if (!sc) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "out of memory");
        return -1;
    }
    sc->fd = -1;
    sc->size = o.size;
    sc->bulk_len = bulk;
    sc->tx_bulk = SHM_BULK_OFF + bulk; /* B: the connecting side sends */
    sc->rx_bulk = SHM_BULK_OFF;
    snprintf(o.name, sizeof(o.name), SHM_NAME_PREFIX "%d-%u-%02x%02x%02x%02x",
             (int)getpid(), counter++, o.cookie[0], o.cookie[1], o.cookie[2],
             o.cookie[3]);
    fd = shm_open(o.name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "shm_open %s: %s", o.name,
                 strerror(errno));
        goto err_free;
    }
    memcpy(sc->name, o.name, sizeof(sc->name));
    /* Sparse: the bulk areas take memory only once reserved. */
    if (ftruncate(fd, (off_t)o.size) < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "ftruncate %s: %s", o.name,
                 strerror(errno));
        goto err_unlink;
    }
    sc->map = map_fd(fd, o.size, o.name, reason);
    if (!sc->map) {
        goto err_unlink;
    }
    sc->fd = fd;
    fd = -1;
    memcpy(sc->map, o.cookie, sizeof(o.cookie));
    /* Rings are laid out before the peer learns the name. */
    ring_init(ring_a(sc), SHM_RING_LEN);
    ring_init(ring_b(sc), SHM_RING_LEN);
    memcpy(o.boot_id, boot_id, sizeof(o.boot_id));
    memcpy(blob, &o, sizeof(o));
    *blob_len = sizeof(o);
    pscom_con_set_priv(con, sc);
    return 0;

err_unlink:
    if (fd >= 0) {
        close(fd);
    }
    shm_unlink(o.name);
err_free:
    free(sc);
    return -1;
}

/* Check an offer's fixed fields; the name must be one of ours. */
static int offer_valid(const void *blob, size_t len, struct shm_offer *o,
                       char *reason)
{
    if (len != sizeof(*o)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "offer of %zu bytes, "
                 "expected %zu",
                 len, sizeof(*o));
        return -1;
    }
    memcpy(o, blob, sizeof(*o));
    if (o->magic != SHM_MAGIC || o->version != SHM_VERSION ||
        o->ring_len != SHM_RING_LEN || o->bulk_len > SHM_BULK_MAX ||
        o->bulk_len % 4096 || o->size != SHM_BULK_OFF + 2 * o->bulk_len ||
        (o->flags & ~SHM_F_CHECKSUM) || o->reserved) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "offer: bad magic, version or sizes");
        return -1;
    }
    if (!memchr(o->boot_id, '\0', sizeof(o->boot_id)) ||
        !memchr(o->name, '\0', sizeof(o->name)) ||
        strncmp(o->name, SHM_NAME_PREFIX, strlen(SHM_NAME_PREFIX)) ||
        strchr(o->name + 1, '/')) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "offer: bad strings");
        return -1;
    }
    if (strcmp(o->boot_id, boot_id)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "peer runs in another OS (boot id %.36s, ours %.36s)",
                 o->boot_id, boot_id);
        return -1;
    }
    return 0;
}

static int shm_accept(pscom_con_t *con, const void *offer, size_t offer_len,
                      void *reply, size_t *reply_len, char *reason)
{
    struct shm_reply r = {.magic = SHM_MAGIC, .version = SHM_VERSION};
    struct shm_offer o;
    struct shm_con *sc;
    struct stat st;
    const char *why = NULL;
    int fd;

    if (offer_valid(offer, offer_len, &o, reason) < 0) {
        return -1;
    }
    sc = calloc(1, sizeof(*sc));
    if (!sc) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "out of memory");
        return -1;
    }
    sc->fd = -1;
    sc->size = o.size;
    sc->bulk_len = o.bulk_len;
    sc->tx_bulk = SHM_BULK_OFF; /* A: the accepting side sends */
    sc->rx_bulk = SHM_BULK_OFF + o.bulk_len;
    fd = shm_open(o.name, O_RDWR, 0);
    if (fd < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "shm_open %s: %s (not the same /dev/shm?)", o.name,
                 strerror(errno));
        goto err_free;
    }
    /* Nobody needs the name any more: nothing is left behind if either
     * side dies from here on. */
    shm_unlink(o.name);
    if (fstat(fd, &st) < 0 || st.st_size != (off_t)o.size) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "%s: wrong size", o.name);
        close(fd);
        goto err_free;
    }
    sc->map = map_fd(fd, o.size, o.name, reason);
    if (!sc->map) {
        close(fd);
        goto err_free;
    }
    sc->fd = fd;
    if (memcmp(sc->map, o.cookie, sizeof(o.cookie))) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "%s is not the peer's object (cookie differs)", o.name);
        goto err_unmap;
    }
    if (pscom_shm_link_init(&sc->link, con, ring_a(sc), SHM_RING_LEN,
                            ring_b(sc), SHM_RING_LEN, NULL, &why) < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "ring: %s", why);
        goto err_unmap;
    }
    /* Either side asking is enough: both check (doc/ivshmem.md). */
    if ((o.flags & SHM_F_CHECKSUM) || pscom_shm_checksum_wanted()) {
        r.flags |= SHM_F_CHECKSUM;
    }
    pscom_shm_link_checksum(&sc->link, (r.flags & SHM_F_CHECKSUM) != 0);
    /* With the checksum too: it covers the bulk data (bulk.c). */
    if (pscom_shm_link_set_bulk(&sc->link, &shm_bulk_ops) < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "out of memory");
        goto err_unmap;
    }
    memcpy(reply, &r, sizeof(r));
    *reply_len = sizeof(r);
    pscom_con_set_priv(con, sc);
    return 0;

err_unmap:
    munmap(sc->map, sc->size);
    close(sc->fd);
err_free:
    free(sc);
    return -1;
}

static int shm_finish(pscom_con_t *con, const void *reply, size_t reply_len,
                      char *reason)
{
    struct shm_con *sc = pscom_con_get_priv(con);
    struct shm_reply r;
    const char *why = NULL;

    if (reply_len != sizeof(r)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "reply of %zu bytes",
                 reply_len);
        return -1;
    }
    memcpy(&r, reply, sizeof(r));
    if (r.magic != SHM_MAGIC || r.version != SHM_VERSION ||
        (r.flags & ~SHM_F_CHECKSUM) || r.reserved) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "reply: bad magic/version/flags");
        return -1;
    }
    if (pscom_shm_checksum_wanted() && !(r.flags & SHM_F_CHECKSUM)) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                 "peer refused the per-message checksum we asked for");
        return -1;
    }
    /* The peer unlinked it already; this only covers a peer that failed
     * between its shm_open and its unlink. */
    shm_unlink(sc->name);
    sc->name[0] = '\0';
    if (pscom_shm_link_init(&sc->link, con, ring_b(sc), SHM_RING_LEN,
                            ring_a(sc), SHM_RING_LEN, NULL, &why) < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "ring: %s", why);
        return -1;
    }
    pscom_shm_link_checksum(&sc->link, (r.flags & SHM_F_CHECKSUM) != 0);
    if (pscom_shm_link_set_bulk(&sc->link, &shm_bulk_ops) < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "out of memory");
        return -1;
    }
    return 0;
}

static void shm_close(pscom_con_t *con)
{
    struct shm_con *sc = pscom_con_get_priv(con);

    if (sc) {
        /* The peer keeps its own mapping: the memory lives until it
         * unmaps too, so it may still drain what we wrote. */
        pscom_shm_link_stop(&sc->link);
        shm_free(con);
    }
}

const pscom_plugin_t pscom_plugin_shm_builtin = {
    .version = PSCOM_PLUGIN_VERSION,
    .name = "shm",
    .con_type = PSCOM_CON_TYPE_SHM,
    .default_priority = 90,
    .flags = PSCOM_PLUGIN_F_OWNS_FD,
    .init = shm_init,
    .offer = shm_offer,
    .accept = shm_accept,
    .finish = shm_finish,
    .abort = shm_free,
    .start = pscom_shm_op_start,
    .write_start = pscom_shm_op_write_start,
    .write_now = pscom_shm_op_write_now,
    .read_stop = pscom_shm_op_read_stop,
    .read_start = pscom_shm_op_read_start,
    .close = shm_close,
};
