/*
 * test_threads.c -- PSCOM_THREAD_MULTIPLE: two threads play ping-pong
 * through one process's library. Each thread blocks in a wait while only
 * the other one can produce what it waits for, so a waiter that kept the
 * global lock while sleeping would deadlock (the test-timeout ends it).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pscom.h"

#define ROUNDS 2000

static pscom_connection_t *accepted;

static void on_accept(pscom_connection_t *con)
{
    accepted = con;
}

struct side {
    pscom_connection_t *con;
    int first; /* sends first */
    int errors;
};

static void *player(void *arg)
{
    struct side *s = arg;
    uint32_t v = 0;

    for (uint32_t i = 0; i < ROUNDS; i++) {
        if (s->first) {
            pscom_send(s->con, NULL, 0, &i, sizeof(i));
        }
        if (pscom_recv_from(s->con, NULL, 0, &v, sizeof(v)) != PSCOM_SUCCESS ||
            v != i) {
            s->errors++;
        }
        if (!s->first) {
            pscom_send(s->con, NULL, 0, &v, sizeof(v));
        }
    }
    pscom_flush(s->con);
    return NULL;
}

static void run_pair(pscom_connection_t *a, pscom_connection_t *b, int b_first)
{
    struct side sa = {a, 1, 0}, sb = {b, b_first, 0};
    pthread_t ta, tb;

    assert_int_equal(pthread_create(&ta, NULL, player, &sa), 0);
    assert_int_equal(pthread_create(&tb, NULL, player, &sb), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(sa.errors, 0);
    assert_int_equal(sb.errors, 0);
}

static void test_tcp_threads(void **state)
{
    pscom_socket_t *s1 = pscom_open_socket(0, 0);
    pscom_socket_t *s2 = pscom_open_socket(0, 0);
    pscom_connection_t *c1 = pscom_open_connection(s1);

    s2->ops.con_accept = on_accept;
    assert_int_equal(pscom_listen(s2, PSCOM_ANYPORT), PSCOM_SUCCESS);
    assert_int_equal(pscom_connect(c1, pscom_get_nodeid(),
                                   pscom_get_portno(s2)),
                     PSCOM_SUCCESS);
    while (!accepted) {
        pscom_wait_any();
    }
    run_pair(c1, accepted, 0);
    pscom_close_socket(s1);
    pscom_close_socket(s2);
}

static void test_loop_threads(void **state)
{
    pscom_socket_t *s = pscom_open_socket(0, 0);
    pscom_connection_t *c = pscom_open_connection(s);
    pscom_connection_t *c2 = pscom_open_connection(s);

    assert_int_equal(pscom_connect(c, -1, -1), PSCOM_SUCCESS);
    assert_int_equal(pscom_connect(c2, -1, -1), PSCOM_SUCCESS);
    /* c and c2 each talk to themselves, in two threads at once. */
    run_pair(c, c2, 1);
    pscom_close_socket(s);
}

/* Groups: one thread per rank, each with its own socket, all connected
 * over tcp. Barriers and broadcasts from every root in turn; group sizes
 * that are not powers of two exercise the tree and the dissemination
 * rounds. */
#define RANKS_MAX 5
#define GROUP_ROUNDS 30

struct rank {
    pscom_group_t *group;
    uint32_t me, n;
    int errors;
};

static void *rank_main(void *arg)
{
    struct rank *r = arg;

    for (uint32_t round = 0; round < GROUP_ROUNDS; round++) {
        uint32_t root = round % r->n;
        uint32_t xh = 0, data[64];

        pscom_barrier(r->group);
        for (int i = 0; i < 64; i++) {
            data[i] = r->me == root ? round * 1000 + (uint32_t)i : 0;
        }
        xh = r->me == root ? round : 0;
        pscom_bcast(r->group, root, &xh, sizeof(xh), data, sizeof(data));
        for (int i = 0; i < 64; i++) {
            if (data[i] != round * 1000 + (uint32_t)i) {
                r->errors++;
            }
        }
        if (xh != round) {
            r->errors++;
        }
    }
    pscom_barrier(r->group);
    return NULL;
}

static void run_group(uint32_t n)
{
    pscom_socket_t *s[RANKS_MAX];
    pscom_connection_t *c[RANKS_MAX][RANKS_MAX];
    struct rank r[RANKS_MAX];
    pthread_t t[RANKS_MAX];

    for (uint32_t i = 0; i < n; i++) {
        s[i] = pscom_open_socket(0, 0);
        s[i]->ops.con_accept = on_accept;
        assert_int_equal(pscom_listen(s[i], PSCOM_ANYPORT), PSCOM_SUCCESS);
    }
    for (uint32_t i = 0; i < n; i++) {
        c[i][i] = NULL;
        for (uint32_t j = i + 1; j < n; j++) {
            c[i][j] = pscom_open_connection(s[i]);
            accepted = NULL;
            assert_int_equal(pscom_connect(c[i][j], pscom_get_nodeid(),
                                           pscom_get_portno(s[j])),
                             PSCOM_SUCCESS);
            while (!accepted) {
                pscom_wait_any();
            }
            c[j][i] = accepted;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        r[i].group = pscom_group_open(s[i], 7, i, n, c[i]);
        assert_non_null(r[i].group);
        r[i].me = i;
        r[i].n = n;
        r[i].errors = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, rank_main, &r[i]), 0);
    }
    for (uint32_t i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].errors, 0);
    }
    for (uint32_t i = 0; i < n; i++) {
        pscom_group_close(r[i].group);
        pscom_close_socket(s[i]);
    }
}

static void test_groups_3(void **state)
{
    run_group(3);
}

static void test_groups_5(void **state)
{
    run_group(5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_threads),
        cmocka_unit_test(test_loop_threads),
        cmocka_unit_test(test_groups_3),
        cmocka_unit_test(test_groups_5),
    };

    if (pscom_init_thread_level(PSCOM_VERSION, PSCOM_THREAD_MULTIPLE) !=
        PSCOM_SUCCESS) {
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
