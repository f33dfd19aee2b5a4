/* log.c -- the library's small logging hook (the core redirects it). */
#include "config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "shmseg.h"

static shmseg_log_fn log_fn;
static void *log_arg;

int shmseg_debug_level(void)
{
    /* Read once: the environment does not change under us, and a log call
     * inside an allocation loop must stay cheap. -2 = not read yet. */
    static _Atomic int level = -2;
    int l = atomic_load_explicit(&level, memory_order_relaxed);

    if (l == -2) {
        const char *s = getenv("PSP_DEBUG");
        l = s && *s ? atoi(s) : 1;
        atomic_store_explicit(&level, l, memory_order_relaxed);
    }
    return l;
}

void shmseg_log_set(shmseg_log_fn fn, void *arg)
{
    log_fn = fn;
    log_arg = arg;
}

void shmseg_log(int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!log_fn && level > shmseg_debug_level()) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_fn) {
        log_fn(log_arg, level, msg);
    } else {
        fprintf(stderr, "ivshmem: %s\n", msg);
    }
}
