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

/* Decide the size: create, resize with -t, or keep what exists. */
static int settle_size(struct ivsrv *srv, uint64_t cur, bool *fresh)
{
    const struct ivsrv_config *c = &srv->cfg;
    uint64_t want = c->size ? c->size : DEFAULT_SIZE;

    *fresh = srv->created || cur == 0 || c->truncate;
    /* QEMU maps the object as a PCI BAR, which must be a power of two
     * (QEMU aborts otherwise): refuse before any guest can try. */
    if ((*fresh ? want : cur) & ((*fresh ? want : cur) - 1)) {
        ivsrv_log("%s: size %" PRIu64 " is not a power of two, which QEMU's "
                  "ivshmem device requires", srv->obj_path,
                  *fresh ? want : cur);
        return -1;
    }
    if (!*fresh) {
        if (c->size && c->size != cur) {
            ivsrv_log("%s: exists with %" PRIu64 " bytes, -m asks for %"
                      PRIu64 "; refusing to resize without -t",
                      srv->obj_path, cur, c->size);
            return -1;
        }
        srv->size = cur;
        return 0;
    }
    if (ftruncate(srv->shm_fd, (off_t)want) < 0) {
        ivsrv_log("%s: cannot size to %" PRIu64 " bytes: %s", srv->obj_path,
                  want, strerror(errno));
        return -1;
    }
    srv->size = want;
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
                      "with frame size %u: %s", srv->obj_path, srv->size,
                      p.frame_size ? p.frame_size : SHMSEG_DEFAULT_FRAME_SIZE,
                      shmseg_strerror(rc));
            return -1;
        }
    } else if (shmseg_attach(&srv->seg, srv->map, srv->size) < 0) {
        ivsrv_log("%s: existing object holds no usable pscom segment (%s); "
                  "refusing to overwrite it without -t", srv->obj_path,
                  srv->seg.why);
        return -1;
    } else if (p.frame_size && p.frame_size != srv->seg.frame_size) {
        ivsrv_log("warning: keeping the existing frame size %u, not -F %u "
                  "(-t re-initialises)", srv->seg.frame_size, p.frame_size);
    }
    srv->have_seg = true;
    if (srv->size - srv->seg.first_frame_off >
        ((uint64_t)srv->seg.frame_count + 1) * srv->seg.frame_size) {
        ivsrv_log("warning: only %u frames of %u bytes are usable (at most "
                  "%u frames); a larger -F uses the whole segment",
                  srv->seg.frame_count, srv->seg.frame_size,
                  SHMSEG_MAX_FRAMES);
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
    if (c->group_access && fchown(srv->shm_fd, (uid_t)-1, c->gid) < 0) {
        ivsrv_log("%s: cannot set group %u: %s", srv->obj_path,
                  (unsigned)c->gid, strerror(errno));
        goto err_close;
    }
    /* Existing objects get our mode too: never world-accessible. */
    if ((sb.st_mode & 07777) != mode && fchmod(srv->shm_fd, mode) < 0) {
        ivsrv_log("%s: cannot set mode %o: %s", srv->obj_path, mode,
                  strerror(errno));
        goto err_close;
    }
    if (settle_size(srv, (uint64_t)sb.st_size, &fresh) < 0) {
        goto err_close;
    }
    srv->map = mmap(NULL, srv->size, PROT_READ | PROT_WRITE, MAP_SHARED,
                    srv->shm_fd, 0);
    if (srv->map == MAP_FAILED) {
        srv->map = NULL;
        ivsrv_log("%s: mmap of %" PRIu64 " bytes: %s", srv->obj_path,
                  srv->size, strerror(errno));
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
