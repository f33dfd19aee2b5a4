/*
 * mesh_test -- one rank of the mpirun full-mesh test (mpirun-mesh.sh).
 *
 *   mpirun -np N -x MESH_DIR mesh_test [--expect TYPE] [--ondemand]
 *
 * Builds the mesh (test/common/mesh.h), then: connection types, an
 * all-to-all with content verification, a bcast from every root, and
 * barriers whose effect is checked (every rank has entered). Each rank
 * prints "RESULT <rank> ok|fail <check>" lines; the script turns them
 * into TAP (mpirun interleaves the ranks' output, so no TAP numbering
 * here).
 */
#include "mesh.h"
#include "pattern.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define A2A_ROUNDS 3
#define A2A_BIG (1024 * 1024)
#define BCAST_LEN (64 * 1024 + 3)
#define BARRIERS 5
#define GROUP_ID 42

static int mt_rank;

static void result(int ok, const char *check, const char *why)
{
    printf("RESULT %d %s %s\n", mt_rank, ok ? "ok" : "fail", check);
    if (!ok && why) {
        printf("WHY %d %s: %s\n", mt_rank, check, why);
    }
    fflush(stdout);
}

static size_t a2a_len(int round, int from, int to)
{
    if (round == A2A_ROUNDS - 1) {
        return A2A_BIG + (size_t)from;
    }
    return (size_t)(round * 1000 + from * 10 + to);
}

static uint32_t a2a_seed(int round, int from, int to)
{
    return (uint32_t)(round * 10007 + from * 101 + to);
}

/* Every rank sends to every other rank at once, receives from all. */
static int all_to_all(struct mesh *m, char *why, size_t whylen)
{
    int n = m->size;
    pscom_request_t **rr = calloc((size_t)n, sizeof(*rr));
    unsigned char **rbuf = calloc((size_t)n, sizeof(*rbuf));
    unsigned char **sbuf = calloc((size_t)n, sizeof(*sbuf));
    int rc = 0;

    if (!rr || !rbuf || !sbuf) {
        snprintf(why, whylen, "out of memory");
        rc = -1;
        goto out;
    }
    for (int round = 0; round < A2A_ROUNDS && rc == 0; round++) {
        for (int p = 0; p < n; p++) {
            if (p == m->rank) {
                continue;
            }
            rbuf[p] = malloc(a2a_len(round, p, m->rank) + 1);
            sbuf[p] = malloc(a2a_len(round, m->rank, p) + 1);
            rr[p] = pscom_request_create(0, 0);
            rr[p]->connection = m->cons[p];
            rr[p]->data = rbuf[p];
            rr[p]->data_len = a2a_len(round, p, m->rank);
            pscom_post_recv(rr[p]);
        }
        for (int p = 0; p < n; p++) {
            size_t len = a2a_len(round, m->rank, p);

            if (p == m->rank) {
                continue;
            }
            pattern_fill(sbuf[p], len, a2a_seed(round, m->rank, p));
            pscom_send(m->cons[p], NULL, 0, sbuf[p], (unsigned)len);
        }
        for (int p = 0; p < n; p++) {
            size_t len = a2a_len(round, p, m->rank);

            if (p == m->rank) {
                continue;
            }
            pscom_wait(rr[p]);
            if (rc == 0 && (!pscom_req_successful(rr[p]) ||
                            rr[p]->header.data_len != len ||
                            pattern_check(rbuf[p], len,
                                          a2a_seed(round, p, m->rank)) >= 0)) {
                snprintf(why, whylen,
                         "round %d from rank %d: state %s, %u bytes, want "
                         "%zu with the sender's pattern",
                         round, p, pscom_req_state_str(rr[p]->state),
                         rr[p]->header.data_len, len);
                rc = -1;
            }
            pscom_request_free(rr[p]);
            free(rbuf[p]);
            free(sbuf[p]);
        }
    }
out:
    free(rr);
    free(rbuf);
    free(sbuf);
    return rc;
}

static int bcast_all_roots(struct mesh *m, pscom_group_t *g, char *why,
                           size_t whylen)
{
    unsigned char *buf = malloc(BCAST_LEN);
    int rc = 0;

    if (!buf) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (int root = 0; root < m->size && rc == 0; root++) {
        long bad;

        if (root == m->rank) {
            pattern_fill(buf, BCAST_LEN, (uint32_t)root * 7919u);
        } else {
            memset(buf, 0, BCAST_LEN);
        }
        pscom_bcast(g, (unsigned)root, NULL, 0, buf, BCAST_LEN);
        bad = pattern_check(buf, BCAST_LEN, (uint32_t)root * 7919u);
        if (bad >= 0) {
            snprintf(why, whylen, "bcast from root %d: byte %ld is wrong", root,
                     bad);
            rc = -1;
        }
    }
    free(buf);
    return rc;
}

/* Before barrier i every rank leaves a mark; after it, all marks of
 * round i must be there, or the barrier let someone through early. */
static int barriers(struct mesh *m, pscom_group_t *g, const char *dir,
                    char *why, size_t whylen)
{
    char path[PATH_MAX];

    for (int i = 0; i < BARRIERS; i++) {
        FILE *f;

        snprintf(path, sizeof(path), "%s/barrier.%d.%d", dir, i, m->rank);
        f = fopen(path, "w");
        if (!f || fclose(f) != 0) {
            snprintf(why, whylen, "cannot create barrier mark %d", i);
            return -1;
        }
        pscom_barrier(g);
        for (int r = 0; r < m->size; r++) {
            snprintf(path, sizeof(path), "%s/barrier.%d.%d", dir, i, r);
            if (access(path, F_OK) != 0) {
                snprintf(why, whylen,
                         "after barrier %d rank %d had not arrived", i, r);
                return -1;
            }
        }
    }
    return 0;
}

static int check_types(struct mesh *m, const char *expect, char *why,
                       size_t whylen)
{
    for (int p = 0; p < m->size; p++) {
        const char *type;

        if (p == m->rank) {
            continue;
        }
        type = pscom_con_type_str(m->cons[p]->type);
        if (expect && strcmp(type, expect) != 0) {
            snprintf(why, whylen,
                     "connection to rank %d is \"%s\", want "
                     "\"%s\"",
                     p, type, expect);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"expect", required_argument, NULL, 'e'},
        {"ondemand", no_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *expect = NULL, *dir = getenv("MESH_DIR");
    char why[512] = "";
    struct mesh m;
    pscom_group_t *g;
    int ondemand = 0, opt, fails = 0;

    while ((opt = getopt_long(argc, argv, "e:o", longopts, NULL)) != -1) {
        switch (opt) {
        case 'e':
            expect = optarg;
            break;
        case 'o':
            ondemand = 1;
            break;
        default:
            return 2;
        }
    }
    mesh_rank_from_env(&mt_rank, &opt);
    if (mesh_open(&m, dir, ondemand, 60) < 0) {
        result(0, "mesh", "mesh_open failed (see stderr)");
        return 1;
    }
    result(1, "mesh", NULL);
    if (!ondemand) {
        /* On demand, the type is known only after the first message. */
        fails += check_types(&m, expect, why, sizeof(why)) < 0;
        result(!fails, "types", why);
    }
    fails += all_to_all(&m, why, sizeof(why)) < 0;
    result(!fails, "alltoall", why);
    if (ondemand) {
        fails += check_types(&m, expect, why, sizeof(why)) < 0;
        result(!fails, "types", why);
    }
    g = pscom_group_open(m.sock, GROUP_ID, (uint32_t)m.rank, (uint32_t)m.size,
                         m.cons);
    if (!g) {
        result(0, "bcast", "pscom_group_open failed");
        result(0, "barrier", "pscom_group_open failed");
        return 1;
    }
    why[0] = '\0';
    {
        int bad = bcast_all_roots(&m, g, why, sizeof(why)) < 0;

        fails += bad;
        result(!bad, "bcast", why);
        bad = barriers(&m, g, dir, why, sizeof(why)) < 0;
        fails += bad;
        result(!bad, "barrier", why);
    }
    /* A last barrier: nobody closes while a peer still needs it. */
    pscom_barrier(g);
    pscom_group_close(g);
    mesh_close(&m);
    return fails ? 1 : 0;
}
