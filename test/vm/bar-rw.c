/*
 * bar-rw: a small tool run inside test guests to reach an ivshmem device
 * without pscom: find it in sysfs, read and write its shared memory (BAR2)
 * through the PCI resource2 file or through the uio driver (map 1), and
 * use the doorbell registers (BAR0, uio map 0).
 *
 *   bar-rw find                       list ivshmem devices (PCI addresses)
 *   bar-rw [DEV] size                 size of the shared memory in bytes
 *   bar-rw [DEV] write OFFSET TEXT    store TEXT and a NUL at OFFSET
 *   bar-rw [DEV] read OFFSET LEN      print the string at OFFSET
 *   bar-rw -u UIO reg OFFSET          print a 32-bit register (map 0)
 *   bar-rw -u UIO ring PEER VECTOR    ring a peer's doorbell
 *   bar-rw -u UIO wait SECONDS [FILE] unmask, create FILE (armed), wait for
 *                                     an interrupt, print the event count
 * DEV is "-d BDF" (resource2 of that PCI device) or "-u /dev/uioN";
 * without it the first ivshmem PCI device is used. Statically linked so
 * the guest initramfs needs no libraries for it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCI_DEVICES "/sys/bus/pci/devices"
#define IVSHMEM_VENDOR 0x1af4
#define IVSHMEM_DEVICE 0x1110
#define REG_DOORBELL 12

struct map {
    void *base;  /* what mmap returned */
    size_t len;  /* mapped length */
    size_t offs; /* start of the region inside the mapping */
    size_t size; /* size of the region */
};

static int read_hex(const char *path, unsigned long *out)
{
    FILE *f = fopen(path, "r");
    int ok;

    if (!f) {
        return -errno;
    }
    ok = fscanf(f, "%lx", out) == 1;
    fclose(f);
    return ok ? 0 : -EINVAL;
}

static int is_ivshmem(const char *bdf)
{
    char path[512];
    unsigned long vendor, device;

    snprintf(path, sizeof(path), PCI_DEVICES "/%s/vendor", bdf);
    if (read_hex(path, &vendor) < 0) {
        return 0;
    }
    snprintf(path, sizeof(path), PCI_DEVICES "/%s/device", bdf);
    if (read_hex(path, &device) < 0) {
        return 0;
    }
    return vendor == IVSHMEM_VENDOR && device == IVSHMEM_DEVICE;
}

/* Calls fn for each ivshmem device until fn returns non-zero. */
static int scan(int (*fn)(const char *bdf, void *arg), void *arg)
{
    DIR *dir = opendir(PCI_DEVICES);
    struct dirent *e;
    int rc = 0;

    if (!dir) {
        fprintf(stderr, "bar-rw: %s: %s\n", PCI_DEVICES, strerror(errno));
        return -errno;
    }
    while (rc == 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] != '.' && is_ivshmem(e->d_name)) {
            rc = fn(e->d_name, arg);
        }
    }
    closedir(dir);
    return rc;
}

static int print_bdf(const char *bdf, void *arg)
{
    (void)arg;
    printf("%s\n", bdf);
    return 0;
}

static int take_first(const char *bdf, void *arg)
{
    snprintf(arg, 64, "%s", bdf);
    return 1;
}

static int map_file(const char *path, size_t offs, size_t size, struct map *m)
{
    int fd = open(path, O_RDWR | O_SYNC);
    long page = sysconf(_SC_PAGESIZE);
    size_t pgoff = offs;

    if (fd < 0) {
        fprintf(stderr, "bar-rw: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    /* uio selects its map by the page offset: map N is at N * pagesize. */
    m->offs = 0;
    m->len = size;
    if (pgoff) {
        m->len = (size + page - 1) / page * page;
    }
    m->size = size;
    m->base = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   (off_t)pgoff);
    close(fd);
    if (m->base == MAP_FAILED) {
        fprintf(stderr, "bar-rw: mmap %s: %s\n", path, strerror(errno));
        return -errno;
    }
    return 0;
}

/* Map the shared memory: resource2 of a PCI device or uio map 1. */
static int map_shmem(const char *bdf, const char *uio, struct map *m)
{
    char path[512];
    struct stat st;
    unsigned long size;

    if (uio) {
        snprintf(path, sizeof(path), "/sys/class/uio/%s/maps/map1/size",
                 strrchr(uio, '/') ? strrchr(uio, '/') + 1 : uio);
        if (read_hex(path, &size) < 0) {
            fprintf(stderr, "bar-rw: cannot read %s\n", path);
            return -EINVAL;
        }
        return map_file(uio, (size_t)sysconf(_SC_PAGESIZE), size, m);
    }
    snprintf(path, sizeof(path), PCI_DEVICES "/%s/resource2", bdf);
    if (stat(path, &st) < 0) {
        fprintf(stderr, "bar-rw: %s: %s\n", path, strerror(errno));
        return -errno;
    }
    return map_file(path, 0, (size_t)st.st_size, m);
}

/* Map the registers (uio map 0); the BAR starts at the map's offset. */
static int map_regs(const char *uio, struct map *m)
{
    char path[512];
    const char *name = strrchr(uio, '/') ? strrchr(uio, '/') + 1 : uio;
    unsigned long size, offs;
    int rc;

    snprintf(path, sizeof(path), "/sys/class/uio/%s/maps/map0/size", name);
    if (read_hex(path, &size) < 0) {
        fprintf(stderr, "bar-rw: cannot read %s\n", path);
        return -EINVAL;
    }
    snprintf(path, sizeof(path), "/sys/class/uio/%s/maps/map0/offset", name);
    if (read_hex(path, &offs) < 0) {
        fprintf(stderr, "bar-rw: cannot read %s\n", path);
        return -EINVAL;
    }
    rc = map_file(uio, 0, size, m);
    m->offs = offs;
    return rc;
}

static int wait_irq(const char *uio, int seconds, const char *armed)
{
    int fd = open(uio, O_RDWR);
    uint32_t on = 1, count;
    struct pollfd p;
    int rc = -EIO;

    if (fd < 0) {
        fprintf(stderr, "bar-rw: %s: %s\n", uio, strerror(errno));
        return -errno;
    }
    if (write(fd, &on, sizeof(on)) != sizeof(on)) {
        fprintf(stderr, "bar-rw: unmask %s: %s\n", uio, strerror(errno));
        goto out_close;
    }
    /* Any interrupt from now on counts (uio compares with the count at
     * open), so a test may ring as soon as this file exists. */
    if (armed) {
        int afd = open(armed, O_WRONLY | O_CREAT | O_TRUNC, 0644);

        if (afd < 0) {
            fprintf(stderr, "bar-rw: %s: %s\n", armed, strerror(errno));
            goto out_close;
        }
        close(afd);
    }
    p.fd = fd;
    p.events = POLLIN;
    if (poll(&p, 1, seconds * 1000) != 1) {
        fprintf(stderr, "bar-rw: no interrupt within %d s\n", seconds);
        goto out_close;
    }
    if (read(fd, &count, sizeof(count)) != sizeof(count)) {
        fprintf(stderr, "bar-rw: read %s: %s\n", uio, strerror(errno));
        goto out_close;
    }
    printf("%" PRIu32 "\n", count);
    rc = 0;
out_close:
    close(fd);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: bar-rw find | [-d BDF | -u UIO] size | "
                    "write OFF TEXT | read OFF LEN | reg OFF | "
                    "ring PEER VEC | wait SECONDS [FILE]\n");
    return 2;
}

static int run_shmem(const char *cmd, char **argv, int argc,
                     const struct map *m)
{
    char *mem = (char *)m->base + m->offs;
    size_t off, len;

    if (!strcmp(cmd, "size")) {
        printf("%zu\n", m->size);
        return 0;
    }
    if (argc < 2) {
        return usage();
    }
    off = strtoul(argv[0], NULL, 0);
    if (!strcmp(cmd, "write")) {
        len = strlen(argv[1]) + 1;
        if (off > m->size || len > m->size - off) {
            fprintf(stderr, "bar-rw: write beyond %zu bytes\n", m->size);
            return 1;
        }
        memcpy(mem + off, argv[1], len);
        return 0;
    }
    if (!strcmp(cmd, "read")) {
        len = strtoul(argv[1], NULL, 0);
        if (off > m->size || len > m->size - off) {
            fprintf(stderr, "bar-rw: read beyond %zu bytes\n", m->size);
            return 1;
        }
        printf("%.*s\n", (int)strnlen(mem + off, len), mem + off);
        return 0;
    }
    return usage();
}

static int run_regs(const char *cmd, char **argv, int argc, const struct map *m)
{
    volatile uint32_t *regs = (volatile uint32_t *)((char *)m->base + m->offs);
    unsigned long off, peer, vec;

    if (!strcmp(cmd, "reg") && argc >= 1) {
        off = strtoul(argv[0], NULL, 0);
        if (off % 4 || off >= 256) {
            return usage();
        }
        printf("%" PRIu32 "\n", regs[off / 4]);
        return 0;
    }
    if (!strcmp(cmd, "ring") && argc >= 2) {
        peer = strtoul(argv[0], NULL, 0);
        vec = strtoul(argv[1], NULL, 0);
        regs[REG_DOORBELL / 4] = (uint32_t)(peer << 16 | (vec & 0xffff));
        return 0;
    }
    return usage();
}

int main(int argc, char **argv)
{
    const char *bdf = NULL, *uio = NULL, *cmd;
    char first[64];
    struct map m;
    int opt, rc;

    while ((opt = getopt(argc, argv, "+d:u:")) != -1) {
        if (opt == 'd') {
            bdf = optarg;
        } else if (opt == 'u') {
            uio = optarg;
        } else {
            return usage();
        }
    }
    if (optind >= argc) {
        return usage();
    }
    cmd = argv[optind++];
    if (!strcmp(cmd, "find")) {
        return scan(print_bdf, NULL) < 0;
    }
    if (!strcmp(cmd, "wait") && uio && optind < argc) {
        return wait_irq(uio, atoi(argv[optind]),
                        optind + 1 < argc ? argv[optind + 1] : NULL) < 0;
    }
    if (!strcmp(cmd, "reg") || !strcmp(cmd, "ring")) {
        if (!uio || map_regs(uio, &m) < 0) {
            return uio ? 1 : usage();
        }
        rc = run_regs(cmd, argv + optind, argc - optind, &m);
        munmap(m.base, m.len);
        return rc;
    }
    if (!uio && !bdf) {
        if (scan(take_first, first) <= 0) {
            fprintf(stderr, "bar-rw: no ivshmem device\n");
            return 1;
        }
        bdf = first;
    }
    if (map_shmem(bdf, uio, &m) < 0) {
        return 1;
    }
    rc = run_shmem(cmd, argv + optind, argc - optind, &m);
    munmap(m.base, m.len);
    return rc;
}
