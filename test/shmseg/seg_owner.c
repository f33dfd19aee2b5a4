/* seg_owner -- a segment participant for the shmseg and server tests: finds the
 * segment like the plugin does (PSP_IVSHMEM_DEVICE...), joins, allocates,
 * says so on stdout, then heartbeats until evicted (exit 3) or told to
 * stop (SIGTERM: leave cleanly, exit 0).
 *   seg_owner [-r] [-n FRAMES] [-k COUNT] [-b HEARTBEAT_MS] [-l LABEL]
 *   -r: join as a remote (VM-like) owner: no pid, heartbeat only.
 *   seg_owner -N PEER:VECTOR: ring that doorbell of the device, exit. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmseg/shmseg_discover.h"

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    stop = 1;
}

int main(int argc, char **argv)
{
    struct shmseg_device dev;
    struct shmseg_member me;
    unsigned nframes = 1, count = 1, hb_ms = 20, flags;
    const char *label = "seg_owner";
    bool remote = false;
    const char *ring = NULL;
    struct timespec ts;
    uint64_t off;
    int c, rc;

    while ((c = getopt(argc, argv, "rn:k:b:l:N:")) != -1) {
        switch (c) {
        case 'N':
            ring = optarg;
            break;
        case 'r':
            remote = true;
            break;
        case 'n':
            nframes = (unsigned)atoi(optarg);
            break;
        case 'k':
            count = (unsigned)atoi(optarg);
            break;
        case 'b':
            hb_ms = (unsigned)atoi(optarg);
            break;
        case 'l':
            label = optarg;
            break;
        default:
            return 2;
        }
    }
    signal(SIGTERM, on_term);
    rc = shmseg_discover(&dev, NULL);
    if (rc < 0) {
        fprintf(stderr, "seg_owner: %s\n", shmseg_strerror(rc));
        return 1;
    }
    if (ring) {
        unsigned peer = 0, vec = 0;

        sscanf(ring, "%u:%u", &peer, &vec);
        rc = shmseg_device_notify(&dev, (uint16_t)peer, (uint16_t)vec);
        printf("peer id %d, notify: %s\n", shmseg_device_peer_id(&dev),
               shmseg_strerror(rc));
        return rc < 0;
    }
    flags = remote ? 0 : SHMSEG_JOIN_HOST_LOCAL;
    rc = shmseg_join(&dev.seg, &me, label, flags);
    for (unsigned i = 0; rc == 0 && i < count; i++) {
        rc = shmseg_alloc(&me, nframes, SHMSEG_TAG_TEST, &off);
        if (rc == 0) {
            memset(shmseg_ptr(&dev.seg, off), 0x5a,
                   (size_t)nframes * dev.seg.frame_size);
        }
    }
    if (rc < 0) {
        fprintf(stderr, "seg_owner: %s\n", shmseg_strerror(rc));
        return 1;
    }
    printf("owner slot %u gen %u allocated %u\n", me.slot, me.gen, count);
    fflush(stdout);
    ts.tv_sec = hb_ms / 1000;
    ts.tv_nsec = (long)(hb_ms % 1000) * 1000000L;
    while (!stop) {
        if (shmseg_heartbeat(&me) < 0) {
            printf("evicted\n");
            return 3;
        }
        nanosleep(&ts, NULL);
    }
    printf("left, freed %ld frames\n", shmseg_leave(&me));
    shmseg_device_close(&dev);
    return 0;
}
