/*
 * debug.c -- PSP_DEBUG / PSP_DEBUG_OUT output.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pscom_priv.h"
#include "shmseg.h"

static FILE *debug_file;

/* lib/shmseg's and lib/region's messages (libpscom holds the process's
 * only copy of both; the ivshmem plugin uses it) go where ours go. */
static void shmseg_sink(void *arg, int level, const char *msg)
{
    (void)arg;
    pscom_debug(level < 1 ? 1 : level, "ivshmem: %s", msg);
}

void pscom_debug_init(void)
{
    if (debug_file && debug_file != stderr) {
        fclose(debug_file);
    }
    debug_file = NULL;
    if (pscom_env.debug_out && pscom_env.debug_out[0]) {
        debug_file = fopen(pscom_env.debug_out, "a");
        if (!debug_file) {
            fprintf(stderr, "pscom: cannot open PSP_DEBUG_OUT=%s: %m\n",
                    pscom_env.debug_out);
        }
    }
    shmseg_log_set(shmseg_sink, NULL);
}

int pscom_debug_level(void)
{
    return pscom_env.debug;
}

void pscom_debug(int level, const char *fmt, ...)
{
    FILE *out = debug_file ? debug_file : stderr;
    char buf[512];
    va_list ap;

    if (level > pscom_env.debug) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* One fprintf per line keeps lines of several processes apart. */
    fprintf(out, "<%d> %s\n", (int)getpid(), buf);
    fflush(out);
}

/* 1 if rl allows one more line now. */
static int ratelimit_take(struct pscom_ratelimit *rl)
{
    uint64_t now = pscom_now_ms(), refill;

    if (!rl->started) {
        rl->started = 1;
        rl->tokens = PSCOM_RATELIMIT_BURST;
        rl->last_ms = now;
    }
    refill = (now - rl->last_ms) / 1000u;
    if (refill) {
        rl->tokens = refill >= PSCOM_RATELIMIT_BURST - rl->tokens
                         ? PSCOM_RATELIMIT_BURST
                         : rl->tokens + (unsigned int)refill;
        rl->last_ms += refill * 1000u;
    }
    if (!rl->tokens) {
        rl->suppressed++;
        return 0;
    }
    rl->tokens--;
    return 1;
}

void pscom_debug_rl(struct pscom_ratelimit *rl, int level, const char *fmt, ...)
{
    char buf[400];
    va_list ap;

    if (level > pscom_env.debug || !ratelimit_take(rl)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (rl->suppressed) {
        pscom_debug(level, "%s (%u similar messages suppressed)", buf,
                    rl->suppressed);
        rl->suppressed = 0;
    } else {
        pscom_debug(level, "%s", buf);
    }
}

void pscom_set_debug(unsigned int level)
{
    pscom_env.debug = (int)level;
}
