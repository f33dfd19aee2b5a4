/* ivshmem-info -- print a shared segment: header, frame usage,
 * participants and every allocation with its owner and whether that
 * owner is alive. Text or --json. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmseg/shmseg_discover.h"

static const char *status_name(unsigned s)
{
    switch (s) {
    case SHMSEG_PART_FREE:
        return "free";
    case SHMSEG_PART_LIVE:
        return "live";
    case SHMSEG_PART_RECLAIMING:
        return "reclaiming";
    default:
        return "bad";
    }
}

static const char *tag_name(unsigned t)
{
    switch (t) {
    case SHMSEG_TAG_NONE:
        return "none";
    case SHMSEG_TAG_RING:
        return "ring";
    case SHMSEG_TAG_PARTITION:
        return "partition";
    case SHMSEG_TAG_BULK:
        return "bulk";
    case SHMSEG_TAG_TEST:
        return "test";
    default:
        return "other";
    }
}

static const char *kind_name(enum shmseg_dev_kind k)
{
    return k == SHMSEG_DEV_UIO ? "uio" : k == SHMSEG_DEV_PCI ? "pci" : "host";
}

/* "alive", "gone" (host pid vanished) or "remote" (heartbeat only). */
static const char *pid_state(const struct shmseg_part_info *p)
{
    if (!(p->flags & SHMSEG_PF_HOST_LOCAL) || p->host_pid <= 0) {
        return "remote";
    }
    return kill(p->host_pid, 0) == 0 || errno != ESRCH ? "alive" : "gone";
}

static double age_s(uint64_t ns)
{
    struct timespec ts;
    double now;

    clock_gettime(CLOCK_REALTIME, &ts);
    now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    return ns ? now - (double)ns / 1e9 : -1;
}

struct out {
    bool json;
    bool first;
};

static int print_alloc(const struct shmseg_alloc_info *a, void *arg)
{
    struct out *o = arg;

    if (o->json) {
        printf("%s\n    {\"offset\": %" PRIu64 ", \"frames\": %u, "
               "\"tag\": \"%s\", \"slot\": %u, \"gen\": %u, "
               "\"owner_live\": %s}",
               o->first ? "" : ",", a->offset, a->nframes, tag_name(a->tag),
               a->slot, a->gen, a->owner_live ? "true" : "false");
    } else {
        printf("  offset 0x%" PRIx64 " frames %u tag %s owner slot %u "
               "gen %u (%s)\n",
               a->offset, a->nframes, tag_name(a->tag), a->slot, a->gen,
               a->owner_live ? "live" : "dead, stale");
    }
    o->first = false;
    return 0;
}

static void print_parts(const struct shmseg *seg, struct out *o)
{
    struct shmseg_part_info p;

    o->first = true;
    for (uint32_t s = 0; s < seg->part_count; s++) {
        shmseg_part_get(seg, s, &p);
        if (p.status == SHMSEG_PART_FREE) {
            continue;
        }
        if (o->json) {
            printf("%s\n    {\"slot\": %u, \"gen\": %u, \"status\": \"%s\", "
                   "\"label\": \"%s\", \"pid\": %d, \"pid_state\": \"%s\", "
                   "\"heartbeat\": %" PRIu64 ", \"heartbeat_age_s\": %.3f}",
                   o->first ? "" : ",", s, p.gen, status_name(p.status),
                   p.label, (int)p.host_pid, pid_state(&p), p.heartbeat,
                   age_s(p.hb_time_ns));
        } else {
            printf("  slot %u gen %u %s '%s' pid %d (%s) heartbeat %" PRIu64
                   " (%.1f s ago, owner clock)\n",
                   s, p.gen, status_name(p.status), p.label, (int)p.host_pid,
                   pid_state(&p), p.heartbeat, age_s(p.hb_time_ns));
        }
        o->first = false;
    }
}

static void print_seg(const struct shmseg_device *d, struct out *o)
{
    const struct shmseg *seg = &d->seg;
    const struct shmseg_header *h = shmseg_header(seg);
    struct shmseg_usage u;
    char uuid[37];

    int peer = shmseg_device_peer_id(d);

    shmseg_uuid_str(seg->uuid, uuid);
    shmseg_walk(seg, NULL, NULL, &u);
    if (o->json) {
        printf("{\n  \"name\": \"%s\", \"device\": \"%s\", \"kind\": \"%s\",\n"
               "  \"uuid\": \"%s\", \"version\": %u, \"compat\": %u, "
               "\"incompat\": %u,\n  \"size\": %" PRIu64 ", \"frame_size\": "
               "%u, \"frames\": %u, \"first_frame_off\": %" PRIu64 ",\n"
               "  \"free_frames\": %u, \"used_frames\": %u, \"stale_frames\": "
               "%u, \"bad_frames\": %u, \"allocation_count\": %u,\n"
               "  \"peer_id\": %d,\n"
               "  \"participants\": [",
               seg->name, d->path, kind_name(d->kind), uuid, h->version,
               h->compat_features, h->incompat_features, seg->total_size,
               seg->frame_size, seg->frame_count, seg->first_frame_off,
               u.free_frames, u.used_frames, u.stale_frames, u.bad_frames,
               u.allocations, peer < 0 ? -1 : peer);
        print_parts(seg, o);
        printf("],\n  \"allocations\": [");
        o->first = true;
        shmseg_walk(seg, print_alloc, o, NULL);
        printf("]\n}\n");
        return;
    }
    printf("segment:      %s\ndevice:       %s (%s)\nuuid:         %s\n"
           "layout:       version %u, features compat 0x%x incompat 0x%x\n"
           "size:         %" PRIu64 " bytes\n"
           "frames:       %u x %u bytes at offset %" PRIu64 "\n"
           "usage:        %u free, %u used, %u stale, %u bad; "
           "%u allocations\nparticipants:\n",
           seg->name, d->path, kind_name(d->kind), uuid, h->version,
           h->compat_features, h->incompat_features, seg->total_size,
           seg->frame_count, seg->frame_size, seg->first_frame_off,
           u.free_frames, u.used_frames, u.stale_frames, u.bad_frames,
           u.allocations);
    if (peer >= 0) {
        printf("peer id:      %d (IVPosition)\n", peer);
    }
    print_parts(seg, o);
    printf("allocations:\n");
    shmseg_walk(seg, print_alloc, o, NULL);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"json", 0, 0, 'j'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    struct out o = {.first = true};
    struct shmseg_device d;
    int c, rc;

    while ((c = getopt_long(argc, argv, "jh", lo, NULL)) != -1) {
        if (c == 'j') {
            o.json = true;
        } else {
            fprintf(c == 'h' ? stdout : stderr,
                    "Usage: ivshmem-info [--json] [DEVICE|SHM-NAME|FILE]\n"
                    "Without an argument the segment is found like the "
                    "plugin finds it\n(PSP_IVSHMEM_DEVICE, uio, PCI; "
                    "PSP_IVSHMEM_SEGMENT picks by name).\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "ivshmem-info: one device at most\n");
        return 2;
    }
    if (optind < argc) {
        setenv("PSP_IVSHMEM_DEVICE", argv[optind], 1);
    }
    rc = shmseg_discover(&d, NULL);
    if (rc < 0) {
        fprintf(stderr, "ivshmem-info: %s\n", shmseg_strerror(rc));
        return 1;
    }
    print_seg(&d, &o);
    shmseg_device_close(&d);
    return 0;
}
