/* discover.c -- find, map and validate the segment (see the header). */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hwloc.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shmseg_discover.h"

#define IVSHMEM_VENDOR 0x1af4
#define IVSHMEM_DEVICE 0x1110

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);

    return v && *v ? v : dflt;
}

/* Read a sysfs number ("0x..." or decimal); 0 on success. */
static int read_u64_file(const char *path, uint64_t *out)
{
    char buf[64];
    FILE *f = fopen(path, "re");
    char *end;

    if (!f) {
        return -1;
    }
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return -1;
    }
    fclose(f);
    errno = 0;
    *out = strtoull(buf, &end, 0);
    return errno || end == buf ? -1 : 0;
}

/* Size of uio map N of /.../uioN, from sysfs. */
static int uio_map_size(const char *uio, int map, uint64_t *size)
{
    char p[512];

    snprintf(p, sizeof(p), "%s/class/uio/%s/maps/map%d/size",
             env_or("PSP_IVSHMEM_SYSFS_ROOT", "/sys"), uio, map);
    return read_u64_file(p, size);
}

/* Map BAR 0 (registers), best effort: without it the segment still
 * works, only the doorbell does not. uio: map 0 at offset 0 of fd; PCI:
 * the sibling resource0 file. */
static void map_regs(struct shmseg_device *dev, int fd, const char *uio)
{
    char p[sizeof(dev->path)];
    uint64_t size = 0;
    struct stat sb;
    char *slash;
    void *m;
    int rfd = -1;

    if (dev->kind == SHMSEG_DEV_UIO) {
        if (uio_map_size(uio, 0, &size) < 0) {
            shmseg_log(2, "%s: no registers (no uio map0 size)", dev->path);
            return;
        }
    } else if (dev->kind == SHMSEG_DEV_PCI) {
        snprintf(p, sizeof(p), "%s", dev->path);
        slash = strrchr(p, '/');
        strcpy(slash ? slash + 1 : p, "resource0");
        rfd = open(p, O_RDWR | O_CLOEXEC);
        if (rfd < 0 || fstat(rfd, &sb) < 0) {
            shmseg_log(2, "%s: no registers (%s)", p, strerror(errno));
            goto out;
        }
        size = (uint64_t)sb.st_size;
        fd = rfd;
    } else {
        return;
    }
    /* The four registers we use end at byte 16. */
    if (size < 16 || size > (1u << 20)) {
        shmseg_log(2, "%s: register BAR of %" PRIu64 " bytes ignored",
                   dev->path, size);
        goto out;
    }
    m = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        shmseg_log(2, "%s: registers: mmap: %s", dev->path, strerror(errno));
        goto out;
    }
    dev->regs = m;
    dev->regs_len = (size_t)size;
out:
    if (rfd >= 0) {
        close(rfd);
    }
}

static bool is_uio_path(const char *path, const char **uio)
{
    const char *b = strrchr(path, '/');

    b = b ? b + 1 : path;
    if (strncmp(b, "uio", 3) || !isdigit((unsigned char)b[3])) {
        return false;
    }
    *uio = b;
    return true;
}

/*
 * A host object whose blocks are not all allocated (a sparse file, or a
 * shm object that was sized but never reserved) kills its user with
 * SIGBUS at the first write to a hole once the filesystem is full: inside
 * a memset of the library, with no way to report it. So before mapping,
 * every byte of the object (and thus of the segment: shmseg_attach
 * requires the header's size <= the object's) must be backed. The server
 * reserves it; a foreign or older object is reserved here. fallocate(2)
 * (mode 0, inside the size) allocates every block or fails with ENOSPC,
 * which can be reported; it never changes contents or size. Rejected
 * alternatives: MAP_POPULATE ignores failures; MADV_POPULATE_WRITE maps
 * every page (page tables for the whole segment in every process); a
 * SIGBUS handler is process-wide and would have to cover the
 * application's accesses too. What stays
 * possible is someone truncating the object later: only its owner can.
 * Device BARs (uio, PCI) are memory of the VM and never sparse here.
 */
static int reserve_backing(int fd, const struct stat *sb, const char *path)
{
    int rc;

    if ((uint64_t)sb->st_blocks * 512u >= (uint64_t)sb->st_size) {
        return 0; /* fully allocated: the usual case, no system call */
    }
    /* fallocate(2): glibc's posix_fallocate emulation would write into
     * blocks that peers may be writing. Without support there is nothing
     * to reserve with; go on as before. */
    rc = fallocate(fd, 0, 0, sb->st_size);
    if (rc < 0 && errno == EOPNOTSUPP) {
        shmseg_log(2, "%s: sparse backing and no fallocate: not reserved",
                   path);
        return 0;
    }
    if (rc < 0) {
        shmseg_log(1,
                   "%s: rejected: cannot reserve the %lld bytes of its "
                   "backing (%s); mapping it would fault with SIGBUS",
                   path, (long long)sb->st_size, strerror(errno));
        return -1;
    }
    return 0;
}

int shmseg_device_open(struct shmseg_device *dev, const char *path,
                       enum shmseg_dev_kind kind)
{
    char shm[300];
    const char *uio = NULL;
    uint64_t size;
    off_t moff = 0;
    struct stat sb;
    void *map;
    int fd, rc;

    memset(dev, 0, sizeof(*dev));
    dev->irq_fd = -1;
    if (kind == SHMSEG_DEV_HOST && !strchr(path, '/')) {
        snprintf(shm, sizeof(shm), "/dev/shm/%s", path); /* bare shm name */
        path = shm;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        shmseg_log(2, "%s: rejected: open: %s", path, strerror(errno));
        return -SHMSEG_ESYS;
    }
    if (fstat(fd, &sb) < 0) {
        shmseg_log(2, "%s: rejected: fstat: %s", path, strerror(errno));
        rc = -SHMSEG_ESYS;
        goto err_close;
    }
    if (kind == SHMSEG_DEV_UIO) {
        if (!is_uio_path(path, &uio) || uio_map_size(uio, 1, &size) < 0) {
            shmseg_log(2, "%s: rejected: no uio map1 size in sysfs", path);
            rc = -SHMSEG_ENODEV;
            goto err_close;
        }
        moff = getpagesize(); /* uio selects map N at offset N * page */
    } else {
        size = (uint64_t)sb.st_size;
    }
    if (size < SHMSEG_HEADER_SIZE || size > SIZE_MAX) {
        shmseg_log(2, "%s: rejected: size %" PRIu64 " too small", path, size);
        rc = -SHMSEG_ETOOSMALL;
        goto err_close;
    }
    if (kind == SHMSEG_DEV_HOST && reserve_backing(fd, &sb, path) < 0) {
        rc = -SHMSEG_ESYS;
        goto err_close;
    }
    map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
               moff);
    if (map == MAP_FAILED) {
        shmseg_log(2, "%s: rejected: mmap %" PRIu64 " bytes: %s", path, size,
                   strerror(errno));
        rc = -SHMSEG_ESYS;
        goto err_close;
    }
    rc = shmseg_attach(&dev->seg, map, size);
    if (rc < 0) {
        shmseg_log(2, "%s: rejected: %s", path, dev->seg.why);
        munmap(map, (size_t)size);
        goto err_close;
    }
    dev->kind = kind;
    dev->map = map;
    dev->map_len = (size_t)size;
    dev->host_local = kind == SHMSEG_DEV_HOST;
    snprintf(dev->path, sizeof(dev->path), "%s", path);
    map_regs(dev, fd, uio);
    if (kind == SHMSEG_DEV_UIO) {
        dev->irq_fd = fd; /* kept for interrupts */
    } else {
        close(fd); /* the mapping keeps the object */
    }
    shmseg_log(2, "%s: segment '%s', %u frames of %u bytes", path,
               dev->seg.name, dev->seg.frame_count, dev->seg.frame_size);
    return 0;

err_close:
    close(fd);
    return rc;
}

void shmseg_device_close(struct shmseg_device *dev)
{
    if (dev->map) {
        munmap(dev->map, dev->map_len);
    }
    if (dev->regs) {
        munmap((void *)dev->regs, dev->regs_len);
    }
    if (dev->irq_fd >= 0) {
        close(dev->irq_fd);
    }
    memset(dev, 0, sizeof(*dev));
    dev->irq_fd = -1;
}

int shmseg_device_peer_id(const struct shmseg_device *dev)
{
    if (!dev->regs) {
        return -SHMSEG_ENODEV;
    }
    /* QEMU ids are 0..65535; mask what a buggy device might add. */
    return (int)(dev->regs[SHMSEG_REG_IVPOSITION / 4] & 0xffff);
}

int shmseg_device_notify(const struct shmseg_device *dev, uint16_t peer,
                         uint16_t vector)
{
    if (!dev->regs) {
        return -SHMSEG_ENODEV;
    }
    dev->regs[SHMSEG_REG_DOORBELL / 4] = (uint32_t)peer << 16 | vector;
    return 0;
}

/* Open a candidate; keep it if its name matches. 0 = taken. */
static int try_candidate(struct shmseg_device *dev, const char *path,
                         enum shmseg_dev_kind kind, const char *name,
                         int *rejected)
{
    if (shmseg_device_open(dev, path, kind) < 0) {
        (*rejected)++;
        return -1;
    }
    if (name && strcmp(dev->seg.name, name) != 0) {
        shmseg_log(2, "%s: rejected: segment name '%s', wanted '%s'", path,
                   dev->seg.name, name);
        shmseg_device_close(dev);
        (*rejected)++;
        return -1;
    }
    return 0;
}

static int is_uio_entry(const struct dirent *de)
{
    return strncmp(de->d_name, "uio", 3) == 0;
}

/* One uio candidate: check its sysfs name, then map and validate it. */
static int try_uio(struct shmseg_device *dev, const char *dir, const char *uio,
                   const char *name, int *rejected)
{
    char p[700], devname[64];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s/name", dir, uio);
    f = fopen(p, "re");
    if (!f || !fgets(devname, sizeof(devname), f)) {
        shmseg_log(2, "%s: rejected: no readable name", uio);
        if (f) {
            fclose(f);
        }
        (*rejected)++;
        return -1;
    }
    fclose(f);
    if (strncmp(devname, "ivshmem", 7)) {
        devname[strcspn(devname, "\n")] = 0;
        shmseg_log(2, "%s: rejected: uio name '%s' is not ivshmem*", uio,
                   devname);
        (*rejected)++;
        return -1;
    }
    snprintf(p, sizeof(p), "%s/%s", env_or("PSP_IVSHMEM_DEV_ROOT", "/dev"),
             uio);
    return try_candidate(dev, p, SHMSEG_DEV_UIO, name, rejected);
}

static int scan_uio(struct shmseg_device *dev, const char *name, int *rejected)
{
    char dir[400];
    struct dirent **list;
    int n, rc = -1;

    snprintf(dir, sizeof(dir), "%s/class/uio",
             env_or("PSP_IVSHMEM_SYSFS_ROOT", "/sys"));
    /* versionsort: uio2 before uio10, so "the first" is well defined. */
    n = scandir(dir, &list, is_uio_entry, versionsort);
    if (n < 0) {
        shmseg_log(2, "%s: no uio devices (%s)", dir, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (rc < 0) {
            rc = try_uio(dev, dir, list[i]->d_name, name, rejected);
        }
        free(list[i]);
    }
    free(list);
    return rc;
}

static int scan_pci(struct shmseg_device *dev, const char *name, int *rejected)
{
    const char *sys = env_or("PSP_IVSHMEM_SYSFS_ROOT", "/sys");
    hwloc_topology_t topo;
    hwloc_obj_t obj = NULL;
    char p[512];
    int rc = -1, found = 0;

    if (hwloc_topology_init(&topo) < 0) {
        shmseg_log(1, "hwloc_topology_init failed: no PCI discovery");
        return -1;
    }
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_ALL);
    if (hwloc_topology_load(topo) < 0) {
        shmseg_log(1, "hwloc_topology_load failed: no PCI discovery");
        goto out_destroy;
    }
    while (rc < 0 && (obj = hwloc_get_next_pcidev(topo, obj))) {
        const struct hwloc_pcidev_attr_s *a = &obj->attr->pcidev;

        if (a->vendor_id != IVSHMEM_VENDOR || a->device_id != IVSHMEM_DEVICE) {
            continue;
        }
        found++;
        snprintf(p, sizeof(p),
                 "%s/bus/pci/devices/%04x:%02x:%02x.%01x/"
                 "resource2",
                 sys, a->domain, a->bus, a->dev, a->func);
        rc = try_candidate(dev, p, SHMSEG_DEV_PCI, name, rejected);
    }
    if (!found) {
        shmseg_log(2, "hwloc: no PCI device %04x:%04x", IVSHMEM_VENDOR,
                   IVSHMEM_DEVICE);
    }
out_destroy:
    hwloc_topology_destroy(topo);
    return rc;
}

static enum shmseg_dev_kind kind_of(const char *path)
{
    const char *uio;
    size_t n = strlen(path);

    if (is_uio_path(path, &uio)) {
        return SHMSEG_DEV_UIO;
    }
    if (n >= 9 && strcmp(path + n - 9, "resource2") == 0) {
        return SHMSEG_DEV_PCI;
    }
    return SHMSEG_DEV_HOST;
}

int shmseg_discover(struct shmseg_device *dev, const char *name)
{
    const char *explicit = getenv("PSP_IVSHMEM_DEVICE");
    int rejected = 0;

    if (!name) {
        name = getenv("PSP_IVSHMEM_SEGMENT");
        if (name && !*name) {
            name = NULL;
        }
    }
    if (explicit && *explicit) {
        if (try_candidate(dev, explicit, kind_of(explicit), name, &rejected) ==
            0) {
            return 0;
        }
        shmseg_log(1,
                   "PSP_IVSHMEM_DEVICE=%s holds no usable segment "
                   "(PSP_DEBUG=2 says why)",
                   explicit);
        return -SHMSEG_ENODEV;
    }
    if (scan_uio(dev, name, &rejected) == 0 ||
        scan_pci(dev, name, &rejected) == 0) {
        return 0;
    }
    shmseg_log(1,
               "no ivshmem device with a valid segment%s%s (%d "
               "candidate(s) rejected; PSP_DEBUG=2 says why)",
               name ? " named " : "", name ? name : "", rejected);
    return -SHMSEG_ENODEV;
}
