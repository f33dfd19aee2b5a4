/*
 * msg.c -- the hand-shake message of the ivshmem plugin: every field the
 * peer sends is checked before it is used (the fuzz target in
 * test/pscom4ivshmem drives ivshmem_msg_parse()).
 */
#include <stdio.h>
#include <string.h>

#include "ivshmem.h"

int ivshmem_msg_parse(const void *buf, size_t len, struct ivshmem_msg *out,
                      char *why, size_t why_len)
{
    struct ivshmem_msg m;

    if (len != sizeof(m)) {
        snprintf(why, why_len, "message of %zu bytes, expected %zu", len,
                 sizeof(m));
        return -1;
    }
    /* A private copy: the blob is only read once. */
    memcpy(&m, buf, sizeof(m));
    if (m.magic != IVSHMEM_MSG_MAGIC) {
        snprintf(why, why_len, "bad magic 0x%08x", m.magic);
        return -1;
    }
    if (m.version != IVSHMEM_MSG_VERSION || m.ring_version != RING_VERSION) {
        snprintf(why, why_len, "version %u/ring %u, we speak %u/%u", m.version,
                 m.ring_version, IVSHMEM_MSG_VERSION, RING_VERSION);
        return -1;
    }
    if (m.flags & ~IVSHMEM_MSG_F_CHECKSUM) {
        snprintf(why, why_len, "unknown flags 0x%x (reserved field set)",
                 (unsigned)m.flags);
        return -1;
    }
    if (m.len < IVSHMEM_AREA_MIN || m.len > IVSHMEM_AREA_MAX ||
        m.len % RING_ALIGN || m.off % RING_ALIGN ||
        m.off > UINT64_MAX - m.len) {
        snprintf(why, why_len, "bad area %llu+%llu", (unsigned long long)m.off,
                 (unsigned long long)m.len);
        return -1;
    }
    *out = m;
    return 0;
}

int ivshmem_msg_check(const struct shmseg *seg, const struct ivshmem_msg *m,
                      char *why, size_t why_len)
{
    if (!shmseg_uuid_equal(seg->uuid, m->uuid)) {
        char ours[37], theirs[37];

        shmseg_uuid_str(seg->uuid, ours);
        shmseg_uuid_str(m->uuid, theirs);
        snprintf(why, why_len, "not co-located: segment %s, peer's %s", ours,
                 theirs);
        return -1;
    }
    if (shmseg_check_range(seg, m->off, m->len) < 0) {
        snprintf(why, why_len, "area %llu+%llu outside the frame area",
                 (unsigned long long)m->off, (unsigned long long)m->len);
        return -1;
    }
    return 0;
}
