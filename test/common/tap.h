/*
 * tap.h -- Test Anything Protocol output for C test programs.
 *
 * Every test program prints "1..N" then one "ok"/"not ok" line per check.
 * The counters are per process: a program that forks reports from one
 * process only (or collects its children's results, see battery.c).
 */
#ifndef TEST_TAP_H_
#define TEST_TAP_H_

#include <stdarg.h>

/** Print the plan line "1..n". Call once, before or after the checks. */
void tap_plan(int n);

/** Print "ok N - what" when cond is true, else "not ok N - what".
 * Returns cond (normalised to 0/1) so callers can branch on it. */
int tap_ok(int cond, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Mark the next check as a known failure ("# TODO reason"): the TAP
 * driver reports it as XFAIL while it fails and as XPASS (an error) once
 * it passes, so the mark cannot outlive the bug. */
void tap_todo(const char *reason);

/** As tap_ok() with a va_list. */
int tap_vok(int cond, const char *fmt, va_list ap);

/** Print a diagnostic line "# ..." (stdout, flushed at once). */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Print "Bail out! ..." and exit with status 1: the run cannot go on. */
void tap_bail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/** Number of checks printed so far. */
int tap_count(void);

/** Number of failed checks so far. */
int tap_failed(void);

/** Exit status for main(): 0 when every check passed, else 1. */
int tap_exit_status(void);

#endif /* TEST_TAP_H_ */
