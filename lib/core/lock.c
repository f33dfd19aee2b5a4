/*
 * lock.c -- the process-wide lock (pscom_lock()/pscom_unlock() are inline
 * in pscom_priv.h). Only taken under PSCOM_THREAD_MULTIPLE
 * (pscom_threads_enable()); recursive, because io_done and other callbacks
 * may call the API. A waiter drops it while asleep in epoll (progress.c),
 * so another thread (the application's or a later suspend/resume agent's)
 * can call into the core meanwhile.
 */
#include <config.h>

#include "pscom_priv.h"

void pscom_threads_enable(void)
{
    pthread_mutexattr_t attr;

    if (pscom_g.threaded) {
        return;
    }
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&pscom_g.lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pscom_g.threaded = 1;
}
