/*
 * seg.c -- the ivshmem plugin's view of the segment: discovery and join
 * on first use, a heartbeat thread (the application may compute for
 * longer than the server's owner timeout without calling pscom), the
 * receive areas waiting for their peer to let go before they are freed,
 * and a new membership after the old one was lost (evicted after a
 * stall, or the segment re-initialised): each membership is one epoch,
 * and connections of an old epoch fail while new ones use the new one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ivshmem.h"
#include "ring_bulk.h"
#include "shmseg_discover.h"

/* Heartbeats well inside the server's default 10 s owner timeout. */
#define HEARTBEAT_MS 500

/* An area whose peer may still use it (ours, this epoch): a receive
 * area the peer may still write into, or (nslots != 0) a bulk area the
 * peer may still be draining chunks 0..seq-1 from. */
struct zombie {
    uint64_t off;
    uint32_t peer_owner;
    uint32_t nslots;
    uint64_t seq;
    struct zombie *next;
};

static struct shmseg_device dev;
static struct shmseg_member me;
static int state; /* 0: not tried, 1: joined, -1: failed (why) */
/* Number of the current membership; every join starts a new one. A
 * connection records it: another number means its frames are gone. */
static unsigned epoch;
/* Why the previous membership ended, for its connections' errors. */
static const char *epoch_lost_why = "";
static char why[PSCOM_PLUGIN_REASON_MAX];
static pthread_t hb_thread;
/* Receive areas of connections (set-up or linked) in the segment: while
 * there are any, the segment stays mapped (a reprobe waits for them). */
static unsigned int users;
static int reprobe_wanted;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int stopping;
static struct zombie *zombies;

unsigned int ivshmem_env_area_size = IVSHMEM_AREA_DEFAULT;
static char *env_device, *env_segment, *env_sysfs, *env_devroot;

const pscom_env_row_t ivshmem_env_rows[IVSHMEM_ENV_ROWS] = {
    {"PSP_IVSHMEM_DEVICE", PSCOM_ENV_STR, "",
     "segment to use: /dev/uioN, a sysfs resource2 file, or (host) "
     "/dev/shm/NAME; empty: search uio and PCI devices",
     &env_device},
    {"PSP_IVSHMEM_SEGMENT", PSCOM_ENV_STR, "",
     "wanted segment name (the server's -s/-f name); empty: any", &env_segment},
    {"PSP_IVSHMEM_RING_SIZE", PSCOM_ENV_UINT, IVSHMEM_AREA_DEFAULT_STR,
     "bytes of shared memory each side of a connection receives into "
     "(rounded up to frames)",
     &ivshmem_env_area_size},
    {"PSP_IVSHMEM_SYSFS_ROOT", PSCOM_ENV_STR, "/sys",
     "sysfs root for device discovery", &env_sysfs},
    {"PSP_IVSHMEM_DEV_ROOT", PSCOM_ENV_STR, "/dev",
     "directory of the uio device nodes", &env_devroot},
    {"PSP_IVSHMEM_DOORBELL", PSCOM_ENV_STR, "auto",
     "auto: a wait idle for PSP_SPIN_US sleeps until the peer rings our "
     "doorbell (host processes: an eventfd from the server's socket; "
     "guests: the uio interrupt of a doorbell device), when there is one; "
     "0: waits always poll",
     &ivshmem_env_doorbell},
    {"PSP_IVSHMEM_SOCKET", PSCOM_ENV_STR, "/tmp/ivshmem_socket",
     "the ivshmem server's unix socket, where host processes get their "
     "doorbells",
     &ivshmem_env_socket},
};

int ivshmem_seg_peer_live(uint32_t owner)
{
    return shmseg_owner_is_live(&dev.seg, owner);
}

/* The peer is done with our area at off: it detached or it is gone. */
static int area_released(uint64_t off, uint32_t peer_owner)
{
    const struct ivshmem_ctl *ctl = shmseg_ptr(&dev.seg, off);

    /* Acquire: pairs with the peer's release after its last write. */
    return atomic_load_explicit(&ctl->detached, memory_order_acquire) ||
           !ivshmem_seg_peer_live(peer_owner);
}

/* Forget every zombie: their frames belonged to a membership that is
 * gone, the server reclaims them (freeing them now would free another
 * owner's frames). Caller holds lock. */
static void zombies_drop(void)
{
    while (zombies) {
        struct zombie *z = zombies;
        zombies = z->next;
        free(z);
    }
}

/* The peer drained our bulk area, detached from it, or is gone. */
static int bulk_released(const struct zombie *z)
{
    return !ivshmem_seg_peer_live(z->peer_owner) ||
           ring_bulk_released(shmseg_ptr(&dev.seg, z->off), z->nslots, z->seq);
}

static void area_free(uint64_t off)
{
    int rc = shmseg_free(&me, off);

    if (rc < 0 && rc != -SHMSEG_EEVICTED) {
        pscom_debug(1, "ivshmem: freeing area at %llu: %s",
                    (unsigned long long)off, shmseg_strerror(rc));
    }
}

/* Free every zombie whose peer let go. Caller holds lock. */
static void zombies_sweep(void)
{
    struct zombie **zp = &zombies;

    while (*zp) {
        struct zombie *z = *zp;
        if (z->nslots ? bulk_released(z)
                      : area_released(z->off, z->peer_owner)) {
            area_free(z->off);
            *zp = z->next;
            free(z);
        } else {
            zp = &z->next;
        }
    }
}

static void *hb_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!stopping) {
        struct timespec ts;

        shmseg_heartbeat(&me);
        zombies_sweep();
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += HEARTBEAT_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&cond, &lock, &ts);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Take a participant slot: a new membership, a new epoch. */
static int seg_join(char *reason, size_t reason_len)
{
    char label[SHMSEG_LABEL_SIZE + 1];
    char host[64] = "?";
    int rc;

    gethostname(host, sizeof(host) - 1);
    snprintf(label, sizeof(label), "pscom:%.12s:%d", host, (int)getpid());
    rc = shmseg_join(&dev.seg, &me, label,
                     dev.host_local ? SHMSEG_JOIN_HOST_LOCAL : 0);
    if (rc < 0) {
        snprintf(reason, reason_len, "joining segment %s: %s", dev.seg.name,
                 shmseg_strerror(rc));
        return -1;
    }
    /* How to wake us, for every peer to read (a new membership starts
     * without: publish it again after a re-join). */
    ivshmem_bell_publish(&me);
    epoch++;
    return 0;
}

static int seg_open(void)
{
    int rc;

    stopping = 0; /* after a reprobe() the thread starts again */
    rc = shmseg_discover(&dev,
                         env_segment && env_segment[0] ? env_segment : NULL);
    if (rc < 0) {
        snprintf(why, sizeof(why), "no segment: %s%s%.100s",
                 shmseg_strerror(rc), dev.seg.why[0] ? ": " : "", dev.seg.why);
        return -1;
    }
    /* Before the join, which publishes the doorbell. */
    ivshmem_bell_open(&dev);
    if (seg_join(why, sizeof(why)) < 0) {
        goto err_close;
    }
    rc = pthread_create(&hb_thread, NULL, hb_main, NULL);
    if (rc) {
        snprintf(why, sizeof(why), "heartbeat thread: %s", strerror(rc));
        goto err_leave;
    }
    pscom_debug(2, "ivshmem: joined segment %s (%s) as slot %u", dev.seg.name,
                dev.path, me.slot);
    return 0;

err_leave:
    shmseg_leave(&me);
err_close:
    ivshmem_bell_close();
    shmseg_device_close(&dev);
    return -1;
}

/* Our membership is gone: the server evicted us after a stall (the
 * frames are its to reclaim), or re-initialised the segment in place
 * (attach again: the old geometry and offsets are void). Join again so
 * that new connections use the segment; the old epoch's connections
 * fail on their next membership check. Caller holds lock. */
static int seg_rejoin(char *reason)
{
    bool reinit = shmseg_reinitialised(&dev.seg);

    if (reinit) {
        struct shmseg fresh;
        int rc = shmseg_attach(&fresh, dev.seg.base, dev.seg.map_size);

        if (rc < 0) {
            snprintf(reason, PSCOM_PLUGIN_REASON_MAX,
                     "re-initialised segment not usable: %s: %.100s",
                     shmseg_strerror(rc), fresh.why);
            return -1;
        }
        /* Same mapping, same base: rings of old connections stay mapped
         * until they close; only the validated view changes. */
        dev.seg = fresh;
    }
    zombies_drop();
    epoch_lost_why = reinit ? IVSHMEM_WHY_REINIT : IVSHMEM_WHY_EVICTED;
    if (seg_join(reason, PSCOM_PLUGIN_REASON_MAX) < 0) {
        return -1;
    }
    pscom_debug(1, "ivshmem: %s; joined segment %s again as slot %u",
                epoch_lost_why, dev.seg.name, me.slot);
    return 0;
}

struct shmseg *ivshmem_seg_get(char *reason)
{
    int rc = 0;

    if (state == 0) {
        state = seg_open() == 0 ? 1 : -1;
    }
    if (state < 0) {
        snprintf(reason, PSCOM_PLUGIN_REASON_MAX, "%s", why);
        return NULL;
    }
    /* One load while the membership holds: the price of a connection
     * set-up, not of the data path. */
    if (shmseg_member_valid(&me) < 0) {
        pthread_mutex_lock(&lock); /* the heartbeat thread uses me */
        if (shmseg_member_valid(&me) < 0) {
            rc = seg_rejoin(reason);
        }
        pthread_mutex_unlock(&lock);
    }
    return rc < 0 ? NULL : &dev.seg;
}

unsigned ivshmem_seg_epoch(void)
{
    return epoch;
}

int ivshmem_seg_member_ok(unsigned con_epoch, const char **lost_why)
{
    if (con_epoch != epoch) {
        *lost_why = epoch_lost_why;
        return 0;
    }
    if (shmseg_member_valid(&me) < 0) {
        *lost_why = shmseg_reinitialised(&dev.seg) ? IVSHMEM_WHY_REINIT
                                                   : IVSHMEM_WHY_EVICTED;
        return 0;
    }
    return 1;
}

struct shmseg_member *ivshmem_seg_member(void)
{
    return &me;
}

uint64_t ivshmem_area_len(const struct shmseg *seg)
{
    uint64_t len = ivshmem_env_area_size;

    if (len < IVSHMEM_AREA_MIN) {
        len = IVSHMEM_AREA_MIN;
    }
    if (len > IVSHMEM_AREA_MAX / 2) {
        len = IVSHMEM_AREA_MAX / 2;
    }
    return (uint64_t)shmseg_frames_for(seg, len) * seg->frame_size;
}

void ivshmem_seg_free(unsigned con_epoch, uint64_t off)
{
    pthread_mutex_lock(&lock);
    /* An old epoch's frames are the server's to reclaim. */
    if (con_epoch == epoch) {
        area_free(off);
    }
    pthread_mutex_unlock(&lock);
}

void ivshmem_seg_release(unsigned con_epoch, uint64_t off, uint32_t peer_owner)
{
    ivshmem_seg_release_bulk(con_epoch, off, peer_owner, 0, 0);
}

void ivshmem_seg_release_bulk(unsigned con_epoch, uint64_t off,
                              uint32_t peer_owner, uint32_t nslots,
                              uint64_t seq)
{
    struct zombie *z;
    struct zombie probe = {.off = off,
                           .peer_owner = peer_owner,
                           .nslots = nslots,
                           .seq = seq};

    pthread_mutex_lock(&lock);
    if (con_epoch != epoch || shmseg_member_valid(&me) < 0) {
        /* Lost with the membership: the server reclaims the area. */
    } else if (nslots ? bulk_released(&probe)
                      : area_released(off, peer_owner)) {
        area_free(off);
    } else if ((z = malloc(sizeof(*z)))) {
        *z = probe;
        z->next = zombies;
        zombies = z;
    } else {
        /* Out of memory: leave it to shmseg_leave() at exit. */
        pscom_debug(1, "ivshmem: out of memory, area at %llu kept",
                    (unsigned long long)off);
    }
    zombies_sweep();
    pthread_mutex_unlock(&lock);
}

void ivshmem_seg_hold(void)
{
    users++;
}

void ivshmem_seg_put(void)
{
    if (users && --users == 0 && reprobe_wanted) {
        pscom_debug(2,
                    "ivshmem: the last connection through segment %s "
                    "is closed: looking for the device again",
                    dev.seg.name);
        ivshmem_seg_shutdown();
    }
}

void ivshmem_seg_reprobe(void)
{
    if (users) {
        /* A suspend that did not drain left connections running over the
         * segment (and their rings are in it): the process was not
         * migrated then, the device is the one we have. Unmapping it
         * would pull the rings from under them; leave once they are
         * gone. */
        pscom_debug(2,
                    "ivshmem: reprobe deferred: %u connection(s) still "
                    "use segment %s",
                    users, dev.seg.name);
        reprobe_wanted = 1;
        return;
    }
    ivshmem_seg_shutdown();
}

void ivshmem_seg_shutdown(void)
{
    reprobe_wanted = 0;
    if (state != 1) {
        state = 0; /* a cached failure is forgotten too */
        return;
    }
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    pthread_join(hb_thread, NULL);
    zombies_sweep();
    if (zombies) {
        /* A peer may still write into these areas: freeing them now
         * could hand them to someone else under its writes. Keep them
         * (and the slot): the server reclaims both once our heartbeat
         * stops, and the peer's liveness check ends its connection. */
        pscom_debug(2, "ivshmem: leaving receive areas to the server's "
                       "reclaim: a peer has not let go yet");
        zombies_drop();
    } else {
        /* Frees every frame still ours. */
        shmseg_leave(&me);
    }
    ivshmem_bell_close();
    shmseg_device_close(&dev);
    state = 0;
}
