/*
 * battery -- the transport test battery every transport must pass.
 *
 *   battery --expect TYPE            fork: a server and a client child run
 *                                    the pair cases over one connection,
 *                                    then the forked cases (TAP output)
 *   battery --expect loop            the pair cases on a LOOP connection
 *                                    (pscom_connect to our own port)
 *   battery --server [--expect TYPE] one end of the pair cases; prints
 *                                    "# Waiting for client: a.b.c.d:port"
 *   battery --client ADDR [--expect TYPE]   the other end
 *
 * The transport comes from the environment as for any pscom program
 * (PSP_SHM=1, PSP_IVSHMEM=1, ...); --expect asserts which one was used.
 * BT_TIMEOUT (seconds, default 60) limits each case; a hang fails.
 */
#include "battery.h"

#include "tap.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADDR_MAX 128

static const char *role_name[] = {"server", "client", "loop"};

/* Run every pair case on one end of c->con, one TAP line each. */
static void run_pair_side(struct bt_ctx *c)
{
    for (int i = 0; i < bt_npair_cases; i++) {
        int rc;

        alarm(bt_timeout());
        c->why[0] = '\0';
        rc = bt_pair_cases[i].run(c);
        /* Sync even after a failure: the ends stay in step, and a broken
         * connection shows up here instead of as a hang. */
        if (bt_sync(c, (uint32_t)i) < 0 && rc == 0) {
            rc = -1;
        }
        if (!tap_ok(rc == 0, "%s (%s)", bt_pair_cases[i].name,
                    role_name[c->role])) {
            tap_diag("%s", c->why);
        }
    }
    alarm(0);
}

struct pair_arg {
    struct bt_line_pipe *addr; /* NULL: standalone, print the address */
    const char *peer;          /* client: address to connect to */
    const char *expect;
};

static int pair_server(void *varg)
{
    struct pair_arg *a = varg;
    struct bt_ctx c = {.role = BT_SERVER, .expect = a->expect};

    c.sock = bt_open_socket(1, NULL);
    if (!c.sock) {
        return 1;
    }
    tap_plan(bt_npair_cases);
    tap_diag("Waiting for client: %s", pscom_listen_socket_str(c.sock));
    if (a->addr) {
        bt_line_send(a->addr, pscom_listen_socket_str(c.sock));
    }
    alarm(bt_timeout());
    bt_wait_accept();
    c.con = bt_accepted;
    run_pair_side(&c);
    pscom_close_socket(c.sock);
    return tap_exit_status();
}

static int pair_client(void *varg)
{
    struct pair_arg *a = varg;
    struct bt_ctx c = {.role = BT_CLIENT, .expect = a->expect};
    char addr[ADDR_MAX];
    const char *peer = a->peer;
    pscom_err_t err;

    c.sock = bt_open_socket(0, NULL);
    if (!c.sock) {
        return 1;
    }
    if (a->addr) {
        if (bt_line_recv(a->addr, addr, sizeof(addr)) < 0) {
            fprintf(stderr, "no server address\n");
            return 1;
        }
        peer = addr;
    }
    tap_plan(bt_npair_cases);
    c.con = pscom_open_connection(c.sock);
    alarm(bt_timeout());
    err = pscom_connect_socket_str(c.con, peer);
    if (err != PSCOM_SUCCESS) {
        tap_bail("connect to %s: %s", peer, pscom_err_str(err));
    }
    run_pair_side(&c);
    pscom_close_socket(c.sock);
    return tap_exit_status();
}

static int run_loop(const char *expect)
{
    struct bt_ctx c = {.role = BT_LOOP, .expect = expect};
    pscom_err_t err;

    c.sock = bt_open_socket(1, NULL);
    if (!c.sock) {
        tap_bail("cannot open a listening socket");
    }
    tap_plan(bt_npair_cases);
    c.con = pscom_open_connection(c.sock);
    err = pscom_connect(c.con, pscom_get_nodeid(), pscom_get_portno(c.sock));
    if (err != PSCOM_SUCCESS) {
        tap_bail("connect to my own port: %s", pscom_err_str(err));
    }
    run_pair_side(&c);
    pscom_close_socket(c.sock);
    return tap_exit_status();
}

/* The TAP results of one pair child: result lines and the diagnostics
 * that follow each. */
struct side_results {
    int n;
    int ok[64];
    char *diag[64];
    char *pre; /* output before the first result (setup failures) */
};

static void parse_child(FILE *out, struct side_results *r)
{
    char line[1024];

    memset(r, 0, sizeof(*r));
    rewind(out);
    while (fgets(line, sizeof(line), out)) {
        int is_ok = strncmp(line, "ok ", 3) == 0;

        if ((is_ok || strncmp(line, "not ok ", 7) == 0) && r->n < 64) {
            r->ok[r->n++] = is_ok;
        } else if (strncmp(line, "1..", 3) != 0) {
            /* Everything else (diagnostics, library messages) belongs to
             * the result before it. */
            char **dst = r->n > 0 ? &r->diag[r->n - 1] : &r->pre;
            size_t old = *dst ? strlen(*dst) : 0;
            char *d = realloc(*dst, old + strlen(line) + 1);

            if (d) {
                strcpy(d + old, line);
                *dst = d;
            }
        }
    }
}

static void print_lines(char *text)
{
    char *save = NULL;

    for (char *l = strtok_r(text, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save)) {
        tap_diag("  %s", l[0] == '#' ? l + 1 : l);
    }
}

static void print_side(struct side_results *r, int i, const char *side)
{
    if (i >= r->n) {
        tap_ok(0, "%s (%s)", bt_pair_cases[i].name, side);
        tap_diag("no result: the %s died or hung before this case", side);
    } else {
        tap_ok(r->ok[i], "%s (%s)", bt_pair_cases[i].name, side);
    }
    if (i == 0 && r->pre) {
        print_lines(r->pre);
        free(r->pre);
        r->pre = NULL;
    }
    if (i < r->n && r->diag[i]) {
        print_lines(r->diag[i]);
        free(r->diag[i]);
    }
}

static int run_forked(const char *expect, int pair_only)
{
    struct bt_line_pipe addr;
    struct pair_arg a = {&addr, NULL, expect};
    struct bt_child cs, cc;
    struct side_results rs, rc;
    int n = 2 * bt_npair_cases;

    if (!pair_only) {
        for (int i = 0; i < bt_nforked_cases; i++) {
            n += bt_forked_cases[i].nlines;
        }
    }
    tap_plan(n);
    bt_line_pipe_open(&addr);
    bt_spawn(&cs, pair_server, &a);
    bt_spawn(&cc, pair_client, &a);
    bt_line_pipe_close(&addr);
    /* The children print their own TAP; merge it here in case order. */
    if (bt_wait_child(&cc) != 0 || bt_wait_child(&cs) != 0) {
        tap_diag("a pair side failed (details at its cases)");
    }
    parse_child(cs.out, &rs);
    parse_child(cc.out, &rc);
    fclose(cs.out);
    fclose(cc.out);
    for (int i = 0; i < bt_npair_cases; i++) {
        print_side(&rs, i, "server");
        print_side(&rc, i, "client");
    }
    if (!pair_only) {
        bt_forked_set_expect(expect);
        for (int i = 0; i < bt_nforked_cases; i++) {
            bt_forked_cases[i].run(expect);
        }
    }
    return tap_exit_status();
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"expect", required_argument, NULL, 'e'},
        {"server", no_argument, NULL, 's'},
        {"client", required_argument, NULL, 'c'},
        {"pair-only", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *expect = NULL, *peer = NULL;
    int server = 0, pair_only = 0, opt;

    while ((opt = getopt_long(argc, argv, "e:sc:ph", longopts, NULL)) != -1) {
        switch (opt) {
        case 'e':
            expect = optarg;
            break;
        case 's':
            server = 1;
            break;
        case 'c':
            peer = optarg;
            break;
        case 'p':
            pair_only = 1;
            break;
        case 'h':
            printf("Usage: %s [--expect TYPE] [--pair-only]\n"
                   "       %s --server [--expect TYPE]\n"
                   "       %s --client ADDR [--expect TYPE]\n",
                   argv[0], argv[0], argv[0]);
            return 0;
        default:
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (server || peer) {
        struct pair_arg a = {NULL, peer, expect};

        return server ? pair_server(&a) : pair_client(&a);
    }
    if (expect && strcmp(expect, "loop") == 0) {
        return run_loop(expect);
    }
    return run_forked(expect, pair_only);
}
