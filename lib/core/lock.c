/*
 * lock.c -- the process-wide lock. Only taken under PSCOM_THREAD_MULTIPLE;
 * recursive, because io_done and other callbacks may call the API.
 */
#include <config.h>

#include "pscom_priv.h"

void pscom_lock(void)
{
    if (pscom_g.threaded) {
        pthread_mutex_lock(&pscom_g.lock);
    }
}

void pscom_unlock(void)
{
    if (pscom_g.threaded) {
        pthread_mutex_unlock(&pscom_g.lock);
    }
}
