/* tap.c -- TAP output, see tap.h. */
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>

static int tap_n;
static int tap_nfailed;
static const char *tap_todo_reason;

void tap_todo(const char *reason)
{
    tap_todo_reason = reason;
}

void tap_plan(int n)
{
    printf("1..%d\n", n);
    fflush(stdout);
}

int tap_vok(int cond, const char *fmt, va_list ap)
{
    cond = cond != 0;
    tap_n++;
    if (!cond && !tap_todo_reason) {
        tap_nfailed++;
    }
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    vprintf(fmt, ap);
    if (tap_todo_reason) {
        printf(" # TODO %s", tap_todo_reason);
        tap_todo_reason = NULL;
    }
    printf("\n");
    fflush(stdout);
    return cond;
}

int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cond = tap_vok(cond, fmt, ap);
    va_end(ap);
    return cond;
}

void tap_diag(const char *fmt, ...)
{
    va_list ap;

    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

void tap_bail(const char *fmt, ...)
{
    va_list ap;

    printf("Bail out! ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    exit(1);
}

int tap_count(void)
{
    return tap_n;
}

int tap_failed(void)
{
    return tap_nfailed;
}

int tap_exit_status(void)
{
    return tap_nfailed ? 1 : 0;
}
