/*
 * test_plugin.c -- the plugin loader and the transport negotiation, with
 * the test-only plugin libpscom4testplug.so (testplug.c).
 *
 * Run by test_plugin.sh with PSP_PLUGINDIR pointing at the plugin,
 * PSP_DEBUG=2 and PSP_DEBUG_OUT=<file>; with the argument "disabled" it
 * runs with PSP_TESTPLUG=0 and checks that the plugin is not used.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pscom.h"

static pscom_connection_t *accepted;

static void on_accept(pscom_connection_t *con)
{
    accepted = con;
}

static pscom_socket_t *listening(void)
{
    pscom_socket_t *s = pscom_open_socket(0, 0);

    assert_non_null(s);
    s->ops.con_accept = on_accept;
    assert_int_equal(pscom_listen(s, PSCOM_ANYPORT), PSCOM_SUCCESS);
    return s;
}

/* Connect a fresh pair of sockets; return the connection type both ends
 * agreed on, after a round trip of a message of len bytes. */
static pscom_con_type_t connect_and_talk(size_t len, int mask_velo)
{
    pscom_socket_t *a = listening(), *b = listening();
    pscom_connection_t *ca = pscom_open_connection(a), *cb;
    char *out = malloc(len + 1), *in = malloc(len + 1);
    pscom_con_type_t type;

    if (mask_velo) {
        pscom_con_type_mask_del(a, PSCOM_CON_TYPE_VELO);
    }
    accepted = NULL;
    assert_int_equal(pscom_connect(ca, pscom_get_nodeid(), pscom_get_portno(b)),
                     PSCOM_SUCCESS);
    while (!accepted) {
        pscom_wait_any();
    }
    cb = accepted;
    assert_int_equal(ca->type, cb->type);
    for (size_t i = 0; i < len; i++) {
        out[i] = (char)(i * 13 + 1);
    }
    pscom_send(ca, NULL, 0, out, (unsigned)len);
    assert_int_equal(pscom_recv_from(cb, NULL, 0, in, len), PSCOM_SUCCESS);
    assert_memory_equal(in, out, len);
    pscom_send(cb, NULL, 0, in, (unsigned)len);
    assert_int_equal(pscom_recv_from(ca, NULL, 0, out, len), PSCOM_SUCCESS);
    assert_memory_equal(in, out, len);
    type = ca->type;
    pscom_close_socket(a);
    pscom_close_socket(b);
    free(out);
    free(in);
    return type;
}

static int live_states(void)
{
    char path[1024];
    void *h;
    int (*fn)(void);
    int n;

    snprintf(path, sizeof(path), "%s/libpscom4testplug.so",
             getenv("PSP_PLUGINDIR"));
    h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(h); /* pscom loaded it */
    fn = (int (*)(void))dlsym(h, "testplug_live");
    assert_non_null(fn);
    n = fn();
    dlclose(h);
    return n;
}

/* 1 if the debug log contains text. */
static int log_has(const char *text)
{
    FILE *f = fopen(getenv("PSP_DEBUG_OUT"), "r");
    char line[1024];
    int found = 0;

    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f)) {
        found = strstr(line, text) != NULL;
    }
    fclose(f);
    return found;
}

static char *info_text(void)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);

    pscom_dump_info(f);
    fclose(f);
    return buf;
}

static void test_loaded(void **state)
{
    char *info = info_text();

    assert_non_null(strstr(info, "testplug   loaded, usable, priority 50"));
    assert_non_null(strstr(info, "PSP_TESTPLUG"));
    free(info);
}

static void test_agree(void **state)
{
    setenv("TESTPLUG_MODE", "agree", 1);
    assert_int_equal(connect_and_talk(300000, 0), PSCOM_CON_TYPE_VELO);
    assert_string_equal(pscom_con_type_str(PSCOM_CON_TYPE_VELO), "velo");
    assert_int_equal(live_states(), 0);
}

static void test_masked(void **state)
{
    setenv("TESTPLUG_MODE", "agree", 1);
    assert_int_equal(connect_and_talk(10, 1), PSCOM_CON_TYPE_TCP);
    assert_int_equal(live_states(), 0);
}

static void test_refuse_offer(void **state)
{
    setenv("TESTPLUG_MODE", "refuse_offer", 1);
    assert_int_equal(connect_and_talk(1000, 0), PSCOM_CON_TYPE_TCP);
    assert_true(log_has("testplug not offered: TESTPLUG_MODE=refuse_offer"));
    assert_int_equal(live_states(), 0);
}

static void test_refuse_accept(void **state)
{
    setenv("TESTPLUG_MODE", "refuse_accept", 1);
    assert_int_equal(connect_and_talk(1000, 0), PSCOM_CON_TYPE_TCP);
    /* logged by the refusing side and by the side that was refused */
    assert_true(log_has("refusing testplug: TESTPLUG_MODE=refuse_accept"));
    assert_true(log_has("peer refused testplug: TESTPLUG_MODE=refuse_accept"));
    assert_int_equal(live_states(), 0);
}

static void test_fail_finish(void **state)
{
    setenv("TESTPLUG_MODE", "fail_finish", 1);
    assert_int_equal(connect_and_talk(1000, 0), PSCOM_CON_TYPE_TCP);
    assert_true(log_has("testplug failed after the peer accepted: "
                        "TESTPLUG_MODE=fail_finish"));
    assert_true(log_has("peer aborted testplug"));
    assert_int_equal(live_states(), 0);
}

static void test_disabled(void **state)
{
    char *info = info_text();

    assert_non_null(strstr(info, "testplug   loaded, not usable: disabled "
                                 "(PSP_TESTPLUG=0)"));
    free(info);
    setenv("TESTPLUG_MODE", "agree", 1);
    assert_int_equal(connect_and_talk(1000, 0), PSCOM_CON_TYPE_TCP);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded),
        cmocka_unit_test(test_agree),
        cmocka_unit_test(test_masked),
        cmocka_unit_test(test_refuse_offer),
        cmocka_unit_test(test_refuse_accept),
        cmocka_unit_test(test_fail_finish),
    };
    const struct CMUnitTest disabled[] = {
        cmocka_unit_test(test_disabled),
    };

    if (!getenv("PSP_PLUGINDIR") || !getenv("PSP_DEBUG_OUT")) {
        fprintf(stderr, "run me through test_plugin.sh\n");
        return 1;
    }
    if (pscom_init(PSCOM_VERSION) != PSCOM_SUCCESS) {
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "disabled") == 0) {
        return cmocka_run_group_tests(disabled, NULL, NULL);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
