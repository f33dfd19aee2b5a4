/*
 * battery_spin.c -- the forked case "wait-any": a ping-pong whose both
 * ends wait only by looping on pscom_wait_any(), as event loops do.
 *
 * Over a memory transport pscom_wait_any() polls and returns, so the
 * loop spins. With both ends on one CPU (BT_ONE_CPU=1, ranks sharing a
 * core) the end we wait for can only run when we give the CPU up: a
 * loop that never yields burns a scheduler time slice per message.
 * That is measured as CPU time, not wall time: an end that burned more
 * than WAIT_ANY_CPU_S seconds fails, however loaded the machine is
 * (under load the wall time of a yielding loop grows, its CPU time
 * does not).
 */
#include "battery.h"
#include "tap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define TAG_SPIN 0x5350494eu
/* 2 handoffs per round: at a few ms of time slice each, about a minute
 * of CPU per end when waits do not yield; well under a second when they
 * do. */
#define WAIT_ANY_ROUNDS 20000u
#define WAIT_ANY_CPU_S 10.0
#define WAIT_ANY_CPU_EVERY 1024u
#define ADDR_MAX 256

struct spin_arg {
    struct bt_line_pipe addr;
    const char *expect;
};

static int spin_fail(const char *what, uint32_t round, pscom_request_t *r)
{
    fprintf(stderr, "wait-any: %s failed in round %" PRIu32 ": %s\n", what,
            round, r ? pscom_req_state_str(r->state) : "no request");
    return 1;
}

/* Loop on pscom_wait_any() until req is done; 0 if it succeeded. */
static int spin_wait(pscom_request_t *req)
{
    while (!(req->state & PSCOM_REQ_STATE_DONE)) {
        pscom_wait_any();
    }
    return pscom_req_successful(req) ? 0 : -1;
}

static int spin_send(struct bt_ctx *c, uint32_t round)
{
    pscom_request_t *r = bt_post_send(c, TAG_SPIN, round, &round,
                                      sizeof(round));
    int rc = spin_wait(r) < 0 ? spin_fail("send", round, r) : 0;

    pscom_request_free(r);
    return rc;
}

/* Receive round's message and check that it carries round. */
static int spin_recv(struct bt_ctx *c, uint32_t round)
{
    uint32_t got = UINT32_MAX;
    pscom_request_t *r = bt_post_recv(c, TAG_SPIN, round, 0, &got, sizeof(got));
    int rc = 0;

    if (spin_wait(r) < 0) {
        rc = spin_fail("receive", round, r);
    } else if (got != round) {
        fprintf(stderr, "wait-any: round %" PRIu32 " got %" PRIu32 "\n", round,
                got);
        rc = 1;
    }
    pscom_request_free(r);
    return rc;
}

/* 1 if this end burned more CPU than a yielding wait could. */
static int spin_cpu_check(uint32_t rounds)
{
    struct rusage ru;
    double cpu;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        perror("wait-any: getrusage");
        return 1;
    }
    cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
          ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
    if (cpu > WAIT_ANY_CPU_S) {
        fprintf(stderr,
                "wait-any: %.1f s of CPU after %" PRIu32
                " rounds: the wait does not yield\n",
                cpu, rounds);
        return 1;
    }
    return 0;
}

static int spin_type_ok(const struct spin_arg *a, pscom_connection_t *con)
{
    const char *type = pscom_con_type_str(con->type);

    if (a->expect && strcmp(type, a->expect) != 0) {
        fprintf(stderr, "wait-any: connection type %s, want %s\n", type,
                a->expect);
        return 0;
    }
    return 1;
}

/* The rounds of one end: the client sends first, the server answers. */
static int spin_rounds(const struct spin_arg *a, struct bt_ctx *c)
{
    int rc = spin_type_ok(a, c->con) ? 0 : 1;

    /* Only a hang guard here: whether the wait yields is judged by CPU
     * time (spin_cpu_check), and on a loaded machine a yielding loop
     * may need more wall time than the battery's other cases. */
    alarm(4 * bt_timeout());

    for (uint32_t i = 0; rc == 0 && i < WAIT_ANY_ROUNDS; i++) {
        rc = c->role == BT_CLIENT ? spin_send(c, i) || spin_recv(c, i)
                                  : spin_recv(c, i) || spin_send(c, i);
        if (rc == 0 && (i + 1) % WAIT_ANY_CPU_EVERY == 0) {
            rc = spin_cpu_check(i + 1);
        }
    }
    return rc;
}

static int spin_server(void *arg)
{
    struct spin_arg *a = arg;
    pscom_socket_t *sock = bt_open_socket(1, NULL);
    struct bt_ctx c = {.role = BT_SERVER, .sock = sock};
    int rc;

    if (!sock) {
        return 1;
    }
    bt_line_send(&a->addr, pscom_listen_socket_str(sock));
    bt_wait_accept();
    c.con = bt_accepted;
    rc = spin_rounds(a, &c);
    pscom_close_socket(sock);
    return rc;
}

static int spin_client(void *arg)
{
    struct spin_arg *a = arg;
    pscom_socket_t *sock = bt_open_socket(0, NULL);
    struct bt_ctx c = {.role = BT_CLIENT, .sock = sock};
    char peer[ADDR_MAX];
    int rc;

    if (!sock || bt_line_recv(&a->addr, peer, sizeof(peer)) < 0) {
        fprintf(stderr, "wait-any: setup failed\n");
        return 1;
    }
    c.con = pscom_open_connection(sock);
    if (pscom_connect_socket_str(c.con, peer) != PSCOM_SUCCESS) {
        fprintf(stderr, "wait-any: connect %s failed\n", peer);
        return 1;
    }
    rc = spin_rounds(a, &c);
    pscom_close_socket(sock);
    return rc;
}

void bt_case_wait_any(const char *expect)
{
    struct spin_arg a = {.expect = expect};
    struct bt_child cs, cc;
    int rs, rc;

    bt_line_pipe_open(&a.addr);
    bt_spawn(&cs, spin_server, &a);
    bt_spawn(&cc, spin_client, &a);
    bt_line_pipe_close(&a.addr);
    rc = bt_reap(&cc, 0);
    rs = bt_reap(&cs, 0);
    tap_ok(rc == 0, "wait-any loop: %u round trips, client side",
           WAIT_ANY_ROUNDS);
    tap_ok(rs == 0, "wait-any loop: %u round trips, server side",
           WAIT_ANY_ROUNDS);
}
