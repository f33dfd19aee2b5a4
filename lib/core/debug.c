/*
 * debug.c -- PSP_DEBUG / PSP_DEBUG_OUT output.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pscom_priv.h"

static FILE *debug_file;

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

void pscom_set_debug(unsigned int level)
{
    pscom_env.debug = (int)level;
}
