/* heartbeat.c -- the thread that keeps our participant slot alive while a
 * region handle is open, and the eviction check every call makes. */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "region_int.h"

static void *hb_main(void *arg)
{
    struct pscom_region *r = arg;

    pthread_mutex_lock(&r->hb_lock);
    while (!r->hb_stop) {
        struct timespec ts;
        int rc;

        if (shmseg_heartbeat(&r->me) < 0) {
            /* Evicted: our frames were reclaimed. Calls now fail with
             * EEVICTED; nothing to beat for any more. */
            atomic_store(&r->evicted, true);
            shmseg_log(1, "region: evicted from the segment (paused "
                          "longer than the owner timeout?)");
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += r->hb_ms / 1000;
        ts.tv_nsec += (long)(r->hb_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        /* A condition variable, not sleep: close() wakes us at once. */
        do {
            rc = pthread_cond_timedwait(&r->hb_cond, &r->hb_lock, &ts);
        } while (rc == 0 && !r->hb_stop);
    }
    pthread_mutex_unlock(&r->hb_lock);
    return NULL;
}

int region_hb_start(struct pscom_region *r)
{
    pthread_condattr_t ca;
    int rc;

    r->hb_stop = false;
    rc = pthread_mutex_init(&r->hb_lock, NULL);
    if (rc != 0) {
        goto err;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&r->hb_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        goto err_mutex;
    }
    rc = pthread_create(&r->hb_thread, NULL, hb_main, r);
    if (rc != 0) {
        goto err_cond;
    }
    return 0;

err_cond:
    pthread_cond_destroy(&r->hb_cond);
err_mutex:
    pthread_mutex_destroy(&r->hb_lock);
err:
    errno = rc;
    shmseg_log(0, "region: cannot start the heartbeat thread: error %d", rc);
    return -PSCOM_REGION_ESYS;
}

void region_hb_stop(struct pscom_region *r)
{
    pthread_mutex_lock(&r->hb_lock);
    r->hb_stop = true;
    pthread_cond_signal(&r->hb_cond);
    pthread_mutex_unlock(&r->hb_lock);
    pthread_join(r->hb_thread, NULL);
    pthread_cond_destroy(&r->hb_cond);
    pthread_mutex_destroy(&r->hb_lock);
}

int region_check_live(struct pscom_region *r)
{
    if (atomic_load(&r->evicted) || shmseg_member_valid(&r->me) < 0) {
        atomic_store(&r->evicted, true);
        return -PSCOM_REGION_EEVICTED;
    }
    return 0;
}

int pscom_region_alive(pscom_region_t *r)
{
    return r ? region_check_live(r) : -PSCOM_REGION_EINVAL;
}
