/* backing.c -- the shm object or file behind the segment. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "ivsrv_int.h"

#define DEFAULT_SIZE (1ull << 20)

/* Create exclusively (no symlink followed: O_NOFOLLOW, and O_EXCL never
 * follows one either), else open the existing object. */
static int open_object(struct ivsrv *srv, mode_t mode)
{
    const struct ivsrv_config *c = &srv->cfg;
    int cflags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int oflags = O_RDWR | O_NOFOLLOW | O_CLOEXEC;
    char name[300];
    int fd;

    if (c->file) {
        snprintf(srv->obj_path, sizeof(srv->obj_path), "%s", c->file);
        fd = open(c->file, cflags, mode);
        srv->created = fd >= 0;
        if (fd < 0 && errno == EEXIST) {
            fd = open(c->file, oflags);
        }
    } else {
        if (!c->shm_name[0] || strchr(c->shm_name, '/') ||
            strlen(c->shm_name) > 250) {
            ivsrv_log("shm name '%s' is invalid (no '/', 1..250 chars)",
                      c->shm_name);
            return -1;
        }
        snprintf(name, sizeof(name), "/%s", c->shm_name);
        snprintf(srv->obj_path, sizeof(srv->obj_path), "/dev/shm/%s",
                 c->shm_name);
        fd = shm_open(name, cflags, mode);
        srv->created = fd >= 0;
        if (fd < 0 && errno == EEXIST) {
            fd = shm_open(name, oflags, 0);
        }
    }
    if (fd < 0) {
        ivsrv_log("%s: cannot create or open: %s", srv->obj_path,
                  strerror(errno));
    }
    return fd;
}

static void remove_object(struct ivsrv *srv)
{
    char name[300];

    if (srv->cfg.file) {
        unlink(srv->cfg.file);
    } else {
        snprintf(name, sizeof(name), "/%s", srv->cfg.shm_name);
        shm_unlink(name);
    }
}

/* Decide the size: create, resize with -t, or keep what exists. Only
 * checks: nothing is changed before every check passed. */
static int settle_size(struct ivsrv *srv, uint64_t cur, bool *fresh)
{
    const struct ivsrv_config *c = &srv->cfg;
    uint64_t want = c->size ? c->size : DEFAULT_SIZE;

    *fresh = srv->created || cur == 0 || c->truncate;
    /* QEMU maps the object as a PCI BAR, which must be a power of two
     * (QEMU aborts otherwise): refuse before any guest can try. */
    if ((*fresh ? want : cur) & ((*fresh ? want : cur) - 1)) {
        ivsrv_log("%s: size %" PRIu64 " is not a power of two, which QEMU's "
                  "ivshmem device requires",
                  srv->obj_path, *fresh ? want : cur);
        return -1;
    }
    if (!*fresh && c->size && c->size != cur) {
        ivsrv_log("%s: exists with %" PRIu64 " bytes, -m asks for %" PRIu64
                  "; refusing to resize without -t",
                  srv->obj_path, cur, c->size);
        return -1;
    }
    srv->size = *fresh ? want : cur;
    return 0;
}

/* An existing object without -t must hold a valid segment. Read the
 * header with pread, not through a mapping: a hole in a full tmpfs would
 * fault (SIGBUS), and nothing may change before the check passed. */
static int check_existing(struct ivsrv *srv)
{
    union {
        struct shmseg_header h;
        char bytes[SHMSEG_HEADER_SIZE];
    } hdr;
    struct shmseg probe;
    ssize_t n = pread(srv->shm_fd, &hdr, sizeof(hdr), 0);

    if (n != (ssize_t)sizeof(hdr)) {
        ivsrv_log("%s: existing object holds no usable pscom segment "
                  "(header unreadable: %s); refusing to overwrite it "
                  "without -t",
                  srv->obj_path, n < 0 ? strerror(errno) : "short");
        return -1;
    }
    /* shmseg_attach reads only the header at base; it bounds the rest
     * by the object's size, which is what it would map. */
    if (shmseg_attach(&probe, &hdr, srv->size) < 0) {
        ivsrv_log("%s: existing object holds no usable pscom segment (%s); "
                  "refusing to overwrite it without -t",
                  srv->obj_path, probe.why);
        return -1;
    }
    return 0;
}

/* Bytes of [0, size) not yet backed by storage (a sparse file or a
 * freshly sized shm object). */
static uint64_t unreserved(const struct stat *sb, uint64_t size)
{
    uint64_t have = (uint64_t)sb->st_blocks * 512u;

    return have >= size ? 0 : size - have;
}

/* Refuse what the filesystem cannot hold before changing anything: a
 * full tmpfs would otherwise let the object exist and every later
 * write to a hole kill the writer (client or QEMU) with SIGBUS. */
static int check_space(struct ivsrv *srv, const struct stat *sb)
{
    uint64_t need = unreserved(sb, srv->size);
    struct statvfs vfs;
    uint64_t avail;

    if (!need || fstatvfs(srv->shm_fd, &vfs) < 0) {
        return 0; /* fallocate below still has the last word */
    }
    avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (need > avail) {
        ivsrv_log("%s: the filesystem cannot hold %" PRIu64 " bytes: %" PRIu64
                  " more needed, %" PRIu64 " free",
                  srv->obj_path, srv->size, need, avail);
        return -1;
    }
    return 0;
}

/* Size the object (fresh) and reserve its storage, so that no page of
 * the segment can fail to exist when a peer first touches it. */
static int reserve(struct ivsrv *srv, bool fresh)
{
    struct stat sb;
    int rc;

    if (fresh && ftruncate(srv->shm_fd, (off_t)srv->size) < 0) {
        ivsrv_log("%s: cannot size to %" PRIu64 " bytes: %s", srv->obj_path,
                  srv->size, strerror(errno));
        return -1;
    }
    if (fstat(srv->shm_fd, &sb) == 0 && !unreserved(&sb, srv->size)) {
        return 0; /* already backed (a restart) */
    }
    /* fallocate(2), not posix_fallocate(3): glibc's emulation where the
     * filesystem has none writes a byte into every block, which would
     * race with guests still mapping a reused object. */
    rc = fallocate(srv->shm_fd, 0, 0, (off_t)srv->size);
    if (rc < 0 && errno == EOPNOTSUPP) {
        ivsrv_log("warning: %s: the filesystem cannot reserve space "
                  "(no fallocate); a full filesystem would fault its users",
                  srv->obj_path);
        return 0;
    }
    if (rc < 0) {
        ivsrv_log("%s: cannot reserve %" PRIu64 " bytes: %s", srv->obj_path,
                  srv->size, strerror(errno));
        return -1;
    }
    return 0;
}

/* Group and mode, only once the object was accepted. Existing objects
 * get our mode too: never world-accessible. */
static int set_access(struct ivsrv *srv, const struct stat *sb, mode_t mode)
{
    const struct ivsrv_config *c = &srv->cfg;

    if (c->group_access && sb->st_gid != c->gid &&
        fchown(srv->shm_fd, (uid_t)-1, c->gid) < 0) {
        ivsrv_log("%s: cannot set group %u: %s", srv->obj_path,
                  (unsigned)c->gid, strerror(errno));
        return -1;
    }
    if ((sb->st_mode & 07777) != mode && fchmod(srv->shm_fd, mode) < 0) {
        ivsrv_log("%s: cannot set mode %o: %s", srv->obj_path, mode,
                  strerror(errno));
        return -1;
    }
    return 0;
}

static int lay_out(struct ivsrv *srv, bool fresh)
{
    struct shmseg_params p = {.frame_size = srv->cfg.frame_size};
    const char *name = srv->cfg.file ? strrchr(srv->cfg.file, '/') : NULL;
    char uuid[37];
    int rc;

    p.name = srv->cfg.file ? (name ? name + 1 : srv->cfg.file)
                           : srv->cfg.shm_name;
    if (fresh) {
        rc = shmseg_format(&srv->seg, srv->map, srv->size, &p);
        if (rc < 0) {
            ivsrv_log("%s: cannot lay out a segment of %" PRIu64 " bytes "
                      "with frame size %u: %s",
                      srv->obj_path, srv->size,
                      p.frame_size ? p.frame_size : SHMSEG_DEFAULT_FRAME_SIZE,
                      shmseg_strerror(rc));
            return -1;
        }
    } else if (shmseg_attach(&srv->seg, srv->map, srv->size) < 0) {
        ivsrv_log("%s: existing object holds no usable pscom segment (%s); "
                  "refusing to overwrite it without -t",
                  srv->obj_path, srv->seg.why);
        return -1;
    } else if (p.frame_size && p.frame_size != srv->seg.frame_size) {
        ivsrv_log("warning: keeping the existing frame size %u, not -F %u "
                  "(-t re-initialises)",
                  srv->seg.frame_size, p.frame_size);
    }
    srv->have_seg = true;
    if (srv->size - srv->seg.first_frame_off >
        ((uint64_t)srv->seg.frame_count + 1) * srv->seg.frame_size) {
        ivsrv_log("warning: only %u frames of %u bytes are usable (at most "
                  "%u frames); a larger -F uses the whole segment",
                  srv->seg.frame_count, srv->seg.frame_size, SHMSEG_MAX_FRAMES);
    }
    shmseg_uuid_str(srv->seg.uuid, uuid);
    ivsrv_log("%s segment '%s' uuid %s: %u frames of %u bytes",
              fresh ? "created" : "reusing", srv->seg.name, uuid,
              srv->seg.frame_count, srv->seg.frame_size);
    return 0;
}

int ivsrv_backing_open(struct ivsrv *srv)
{
    const struct ivsrv_config *c = &srv->cfg;
    mode_t mode = c->group_access ? 0660 : 0600;
    struct stat sb;
    bool fresh;

    srv->shm_fd = open_object(srv, mode);
    if (srv->shm_fd < 0) {
        return -1;
    }
    /* One server per object: the lock lives as long as the descriptor
     * (across the daemon's fork) and dies with the process. */
    if (flock(srv->shm_fd, LOCK_EX | LOCK_NB) < 0) {
        ivsrv_log("%s: another ivshmem-server is serving it (%s)",
                  srv->obj_path, strerror(errno));
        goto err_close;
    }
    if (fstat(srv->shm_fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        ivsrv_log("%s: not a regular file or shm object", srv->obj_path);
        goto err_close;
    }
    /* Every refusal comes before the first change: a refused object is
     * left exactly as it was (mode, owner, size, contents, times). */
    if (settle_size(srv, (uint64_t)sb.st_size, &fresh) < 0 ||
        (!fresh && c->layout == IVSRV_LAYOUT_PSCOM &&
         check_existing(srv) < 0) ||
        check_space(srv, &sb) < 0) {
        goto err_close;
    }
    if (set_access(srv, &sb, mode) < 0 || reserve(srv, fresh) < 0) {
        goto err_close;
    }
    srv->map = mmap(NULL, srv->size, PROT_READ | PROT_WRITE, MAP_SHARED,
                    srv->shm_fd, 0);
    if (srv->map == MAP_FAILED) {
        srv->map = NULL;
        ivsrv_log("%s: mmap of %" PRIu64 " bytes: %s", srv->obj_path, srv->size,
                  strerror(errno));
        goto err_close;
    }
    if (c->layout == IVSRV_LAYOUT_PSCOM && lay_out(srv, fresh) < 0) {
        goto err_unmap;
    }
    return 0;

err_unmap:
    munmap(srv->map, srv->size);
    srv->map = NULL;
err_close:
    if (srv->created) {
        remove_object(srv); /* leave nothing half-made behind */
    }
    close(srv->shm_fd);
    srv->shm_fd = -1;
    return -1;
}

void ivsrv_backing_close(struct ivsrv *srv)
{
    if (srv->map) {
        munmap(srv->map, srv->size);
        srv->map = NULL;
    }
    if (srv->shm_fd >= 0) {
        if (srv->cfg.unlink_shm && !srv->cfg.file) {
            remove_object(srv);
        }
        close(srv->shm_fd);
        srv->shm_fd = -1;
    }
}
