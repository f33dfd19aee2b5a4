/*
 * mpi_sem -- point-to-point and collective semantics of an MPI library,
 * with verified data, printed as TAP by rank 0. Written to check the pscom
 * MTL (--mca pml cm --mca mtl pscom) and validated under Open MPI's own
 * ob1 transports first, so a failure here is the transport's, not the
 * test's.
 *
 *   mpirun -np N mpi_sem [--big] [--only NAME] [--list]
 *
 * N >= 2. Pairs are (r, r^1); a last odd rank only joins the collectives
 * and the any-source cases. --big adds the 64 MiB message. Every case
 * returns a local verdict; the verdicts are combined with MPI_Allreduce
 * (MAX), so one "ok" line means every rank agreed. A case that hangs is
 * caught by the caller's timeout.
 */
#include <mpi.h>

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "tap.h"

static int rank, nprocs;
static int big;

/* Report one problem of this rank as a TAP comment (stdout of every rank
 * ends up in mpirun's output) and make the case fail. */
static int fail(const char *what, ...)
{
    va_list ap;
    char msg[512];

    va_start(ap, what);
    vsnprintf(msg, sizeof(msg), what, ap);
    va_end(ap);
    tap_diag("rank %d: %s", rank, msg);
    return 1;
}

static int partner(void)
{
    int p = rank ^ 1;

    return p < nprocs ? p : -1;
}

static uint32_t seed_of(int src, int dst, int tag, size_t size)
{
    return (uint32_t)(src * 1000003u + dst * 7919u + (unsigned)tag * 131u +
                      (uint32_t)size);
}

static int check_buf(const char *what, const void *buf, size_t len,
                     uint32_t seed)
{
    long off = pattern_check(buf, len, seed);

    if (off >= 0) {
        return fail("%s: %zu bytes differ from offset %ld", what, len, off);
    }
    return 0;
}

static int check_count(const char *what, MPI_Status *st, MPI_Datatype t,
                       int want)
{
    int n;

    MPI_Get_count(st, t, &n);
    if (n != want) {
        return fail("%s: status count %d, want %d", what, n, want);
    }
    return 0;
}

static const size_t sizes[] = {0,    1,     7,     64,     1000,   4096,
                               8192, 65536, 70001, 262144, 1048576};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

/* ---- blocking send/recv of many sizes, around a ring --------------------- */
static int t_blocking(void)
{
    int bad = 0, to = (rank + 1) % nprocs, from = (rank + nprocs - 1) % nprocs;

    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        char *s = malloc(n + 1), *r = malloc(n + 1);
        MPI_Status st;

        pattern_fill(s, n, seed_of(rank, to, 1, n));
        /* Even ranks send first: blocking, without deadlock for any size. */
        for (int phase = 0; phase < 2; phase++) {
            if ((rank % 2 == 0) == (phase == 0)) {
                MPI_Send(s, (int)n, MPI_BYTE, to, 1, MPI_COMM_WORLD);
            } else {
                MPI_Recv(r, (int)n, MPI_BYTE, from, 1, MPI_COMM_WORLD, &st);
                bad |= check_count("blocking", &st, MPI_BYTE, (int)n);
                bad |= check_buf("blocking", r, n, seed_of(from, rank, 1, n));
                if (st.MPI_SOURCE != from || st.MPI_TAG != 1) {
                    bad |= fail("blocking: status source %d tag %d",
                                st.MPI_SOURCE, st.MPI_TAG);
                }
            }
        }
        free(s);
        free(r);
    }
    return bad;
}

/* ---- non-blocking, every rank with every rank, all sizes at once ---------- */
static int t_nonblocking(void)
{
    int bad = 0, nreq = 0;
    MPI_Request *rq = malloc(sizeof(*rq) * 2 * NSIZES * (size_t)nprocs);
    char **bufs = calloc(2 * NSIZES * (size_t)nprocs, sizeof(char *));
    MPI_Status *st = malloc(sizeof(*st) * 2 * NSIZES * (size_t)nprocs);

    for (int p = 0; p < nprocs; p++) {
        for (size_t i = 0; i < NSIZES; i++) {
            size_t n = sizes[i] / (size_t)nprocs;

            bufs[nreq] = malloc(n + 1);
            MPI_Irecv(bufs[nreq], (int)n, MPI_BYTE, p, (int)i, MPI_COMM_WORLD,
                      &rq[nreq]);
            nreq++;
        }
    }
    for (int p = 0; p < nprocs; p++) {
        for (size_t i = 0; i < NSIZES; i++) {
            size_t n = sizes[i] / (size_t)nprocs;

            bufs[nreq] = malloc(n + 1);
            pattern_fill(bufs[nreq], n, seed_of(rank, p, (int)i, n));
            MPI_Isend(bufs[nreq], (int)n, MPI_BYTE, p, (int)i, MPI_COMM_WORLD,
                      &rq[nreq]);
            nreq++;
        }
    }
    MPI_Waitall(nreq, rq, st);
    for (int k = 0; k < nprocs * (int)NSIZES; k++) {
        int p = k / (int)NSIZES, i = k % (int)NSIZES;
        size_t n = sizes[i] / (size_t)nprocs;

        bad |= check_buf("nonblocking", bufs[k], n, seed_of(p, rank, i, n));
        bad |= check_count("nonblocking", &st[k], MPI_BYTE, (int)n);
    }
    for (int k = 0; k < nreq; k++) {
        free(bufs[k]);
    }
    free(bufs);
    free(rq);
    free(st);
    return bad;
}

/* ---- synchronous mode --------------------------------------------------- */
/* Rank 0 of a pair starts MPI_Issend and tests it many times while its
 * partner has not posted the receive: the partner waits for a second
 * message (tag 2), which rank 0 sends only after those tests. None may
 * find the Issend complete; after the partner's receive it completes. */
static int t_issend(void)
{
    int bad = 0, p = partner();
    static const size_t ssizes[] = {0, 8, 4096, 1048576};

    if (p < 0) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(ssizes) / sizeof(ssizes[0]); i++) {
        size_t n = ssizes[i];
        char *b = malloc(n + 1);
        int dummy = 0;

        if (rank % 2 == 0) {
            MPI_Request rq;
            int flag = 0;

            pattern_fill(b, n, seed_of(rank, p, 3, n));
            MPI_Issend(b, (int)n, MPI_BYTE, p, 3, MPI_COMM_WORLD, &rq);
            for (int k = 0; k < 2000 && !flag; k++) {
                MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
            }
            if (flag) {
                bad |= fail("issend %zu B: complete before the receiver "
                            "posted its receive",
                            n);
            }
            MPI_Send(&dummy, 1, MPI_INT, p, 2, MPI_COMM_WORLD);
            MPI_Wait(&rq, MPI_STATUS_IGNORE);
            /* Blocking MPI_Ssend: completes, data arrives. */
            MPI_Ssend(b, (int)n, MPI_BYTE, p, 4, MPI_COMM_WORLD);
        } else {
            MPI_Status st;

            MPI_Recv(&dummy, 1, MPI_INT, p, 2, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            MPI_Recv(b, (int)n, MPI_BYTE, p, 3, MPI_COMM_WORLD, &st);
            bad |= check_buf("issend", b, n, seed_of(p, rank, 3, n));
            bad |= check_count("issend", &st, MPI_BYTE, (int)n);
            memset(b, 0, n);
            MPI_Recv(b, (int)n, MPI_BYTE, p, 4, MPI_COMM_WORLD, &st);
            bad |= check_buf("ssend", b, n, seed_of(p, rank, 3, n));
        }
        free(b);
    }
    return bad;
}

/* ---- ready mode: the receive is posted before the partner is told ------- */
static int t_rsend(void)
{
    int bad = 0, p = partner(), dummy = 0;
    static const size_t rsizes[] = {0, 100, 65536, 1048576};

    if (p < 0) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(rsizes) / sizeof(rsizes[0]); i++) {
        size_t n = rsizes[i];
        char *b = malloc(n + 1);

        if (rank % 2) {
            MPI_Request rq;
            MPI_Status st;

            MPI_Irecv(b, (int)n, MPI_BYTE, p, 5, MPI_COMM_WORLD, &rq);
            MPI_Send(&dummy, 0, MPI_INT, p, 6, MPI_COMM_WORLD);
            MPI_Wait(&rq, &st);
            bad |= check_buf("rsend", b, n, seed_of(p, rank, 5, n));
            bad |= check_count("rsend", &st, MPI_BYTE, (int)n);
        } else {
            pattern_fill(b, n, seed_of(rank, p, 5, n));
            MPI_Recv(&dummy, 0, MPI_INT, p, 6, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            MPI_Rsend(b, (int)n, MPI_BYTE, p, 5, MPI_COMM_WORLD);
        }
        free(b);
    }
    return bad;
}

/* ---- MPI_ANY_SOURCE / MPI_ANY_TAG --------------------------------------- */
static int t_any(void)
{
    int bad = 0;
    const int per = 5;

    if (rank == 0) {
        int seen[64] = {0};

        for (int k = 0; k < (nprocs - 1) * per; k++) {
            int msg[2];
            MPI_Status st;

            MPI_Recv(msg, 2, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG,
                     MPI_COMM_WORLD, &st);
            if (msg[0] != st.MPI_SOURCE || msg[1] != st.MPI_TAG ||
                st.MPI_TAG != 100 + st.MPI_SOURCE * 10 + seen[st.MPI_SOURCE]) {
                bad |= fail("any: got (%d,%d) from source %d tag %d", msg[0],
                            msg[1], st.MPI_SOURCE, st.MPI_TAG);
            }
            if (st.MPI_SOURCE > 0 && st.MPI_SOURCE < 64) {
                seen[st.MPI_SOURCE]++;
            }
        }
        for (int s = 1; s < nprocs && s < 64; s++) {
            if (seen[s] != per) {
                bad |= fail("any: %d messages from %d, want %d", seen[s], s,
                            per);
            }
        }
    } else {
        for (int k = 0; k < per; k++) {
            int msg[2] = {rank, 100 + rank * 10 + k};

            MPI_Send(msg, 2, MPI_INT, 0, msg[1], MPI_COMM_WORLD);
        }
    }
    return bad;
}

/* ---- non-overtaking per (source, communicator) --------------------------- */
/* Mixed sizes (eager and large) and mixed tags from one source, received
 * with ANY_TAG and ANY_SOURCE: they must arrive in send order. */
static int t_order(void)
{
    int bad = 0, p = partner();
    const int n = 200;
    const size_t maxn = 131072;

    if (p < 0) {
        return 0;
    }
    char *b = malloc(maxn);
    if (rank % 2 == 0) {
        MPI_Request *rq = malloc(sizeof(*rq) * (size_t)n);
        char **bb = malloc(sizeof(char *) * (size_t)n);

        for (int k = 0; k < n; k++) {
            /* a sequence number, then len bytes of pattern */
            size_t len = (k % 7 == 3) ? maxn - 8 - (size_t)k : (size_t)k * 3;

            bb[k] = malloc(len + sizeof(int));
            memcpy(bb[k], &k, sizeof(int));
            pattern_fill(bb[k] + sizeof(int), len, (uint32_t)k);
            MPI_Isend(bb[k], (int)(len + sizeof(int)), MPI_BYTE, p, k % 3,
                      MPI_COMM_WORLD, &rq[k]);
        }
        MPI_Waitall(n, rq, MPI_STATUSES_IGNORE);
        for (int k = 0; k < n; k++) {
            free(bb[k]);
        }
        free(bb);
        free(rq);
    } else {
        for (int k = 0; k < n; k++) {
            MPI_Status st;
            int seq, cnt;

            MPI_Recv(b, (int)maxn, MPI_BYTE, k % 2 ? MPI_ANY_SOURCE : p,
                     MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            MPI_Get_count(&st, MPI_BYTE, &cnt);
            memcpy(&seq, b, sizeof(int));
            if (seq != k || st.MPI_TAG != k % 3) {
                bad |= fail("order: message %d arrived as %d (tag %d)", k, seq,
                            st.MPI_TAG);
                break;
            }
            bad |= check_buf("order", b + sizeof(int),
                             (size_t)cnt - sizeof(int), (uint32_t)k);
        }
    }
    free(b);
    return bad;
}

/* ---- truncation --------------------------------------------------------- */
static int t_truncate(void)
{
    int bad = 0, p = partner();
    MPI_Comm c;
    static const size_t tsizes[] = {100, 1048576};

    /* collective: before a rank without partner leaves */
    MPI_Comm_dup(MPI_COMM_WORLD, &c);
    MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
    if (p < 0) {
        MPI_Comm_free(&c);
        return 0;
    }
    for (size_t i = 0; i < 2; i++) {
        size_t n = tsizes[i];
        char *b = malloc(n);

        if (rank % 2 == 0) {
            pattern_fill(b, n, seed_of(rank, p, 7, n));
            /* Once to a blocking receive, once to an Irecv, then once
             * into a larger buffer. */
            MPI_Send(b, (int)n, MPI_BYTE, p, 7, c);
            MPI_Send(b, (int)n, MPI_BYTE, p, 7, c);
            MPI_Send(b, (int)n, MPI_BYTE, p, 8, c);
            MPI_Send(b, (int)n, MPI_BYTE, p, 9, c);
        } else {
            MPI_Status st;
            MPI_Request rq;
            int rc, cls;
            char *big_b = malloc(2 * n);

            rc = MPI_Recv(b, (int)(n / 2), MPI_BYTE, p, 7, c, &st);
            MPI_Error_class(rc, &cls);
            if (cls != MPI_ERR_TRUNCATE) {
                bad |= fail("truncate %zu B: MPI_Recv returned class %d, "
                            "want MPI_ERR_TRUNCATE",
                            n, cls);
            }
            MPI_Irecv(b, (int)(n / 2), MPI_BYTE, p, 7, c, &rq);
            rc = MPI_Wait(&rq, &st);
            MPI_Error_class(rc, &cls);
            if (cls != MPI_ERR_TRUNCATE) {
                bad |= fail("truncate %zu B: MPI_Wait returned class %d, "
                            "want MPI_ERR_TRUNCATE",
                            n, cls);
            }
            rc = MPI_Recv(big_b, (int)(2 * n), MPI_BYTE, p, 8, c, &st);
            if (rc != MPI_SUCCESS) {
                bad |= fail("truncate: a receive into a larger buffer failed");
            }
            bad |= check_count("larger buffer", &st, MPI_BYTE, (int)n);
            bad |= check_buf("larger buffer", big_b, n, seed_of(p, rank, 7, n));
            /* Truncation of a message already there (probed): the
             * unexpected path. */
            MPI_Probe(p, 9, c, &st);
            rc = MPI_Recv(b, (int)(n / 2), MPI_BYTE, p, 9, c, &st);
            MPI_Error_class(rc, &cls);
            if (cls != MPI_ERR_TRUNCATE) {
                bad |= fail("truncate %zu B, probed first: class %d, want "
                            "MPI_ERR_TRUNCATE",
                            n, cls);
            }
            free(big_b);
        }
        free(b);
    }
    MPI_Comm_free(&c);
    return bad;
}

/* ---- Iprobe / Probe / Improbe / Mprobe / Mrecv / Imrecv ------------------ */
static int t_probe(void)
{
    int bad = 0, p = partner();

    if (p < 0) {
        return 0;
    }
    if (rank % 2 == 0) {
        for (int k = 0; k < 4; k++) {
            size_t n = (size_t)(k + 1) * 1000 + (k == 3 ? 300000 : 0);
            char *b = malloc(n);

            pattern_fill(b, n, seed_of(rank, p, 20 + k, n));
            MPI_Send(b, (int)n, MPI_BYTE, p, 20 + k, MPI_COMM_WORLD);
            free(b);
        }
        /* Two messages of the same envelope for the matched probes. */
        for (int k = 0; k < 2; k++) {
            MPI_Send(&k, 1, MPI_INT, p, 30, MPI_COMM_WORLD);
        }
    } else {
        MPI_Status st;
        MPI_Message m;
        int flag = 0, cnt;

        /* Iprobe polls until the first message is there. */
        while (!flag) {
            MPI_Iprobe(p, 20, MPI_COMM_WORLD, &flag, &st);
        }
        for (int k = 0; k < 4; k++) {
            if (k == 1) {
                MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            } else if (k == 0) {
                MPI_Probe(p, 20, MPI_COMM_WORLD, &st);
            } else {
                MPI_Probe(p, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
            }
            MPI_Get_count(&st, MPI_BYTE, &cnt);
            size_t n = (size_t)(k + 1) * 1000 + (k == 3 ? 300000 : 0);
            if (st.MPI_SOURCE != p || st.MPI_TAG != 20 + k || cnt != (int)n) {
                bad |= fail("probe %d: source %d tag %d count %d", k,
                            st.MPI_SOURCE, st.MPI_TAG, cnt);
                break;
            }
            char *b = malloc((size_t)cnt);
            MPI_Recv(b, cnt, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            bad |= check_buf("probe", b, n, seed_of(p, rank, 20 + k, n));
            free(b);
        }
        /* Matched probe: each message goes to exactly one Mrecv. */
        flag = 0;
        while (!flag) {
            MPI_Improbe(p, 30, MPI_COMM_WORLD, &flag, &m, &st);
        }
        MPI_Message m2;
        int v1 = -1, v2 = -1;
        MPI_Request rq;

        MPI_Mprobe(p, 30, MPI_COMM_WORLD, &m2, &st);
        MPI_Imrecv(&v2, 1, MPI_INT, &m2, &rq);
        MPI_Mrecv(&v1, 1, MPI_INT, &m, &st);
        MPI_Wait(&rq, MPI_STATUS_IGNORE);
        if (v1 != 0 || v2 != 1 || m != MPI_MESSAGE_NULL) {
            bad |= fail("mprobe: got %d and %d, want 0 and 1", v1, v2);
        }
        /* Nothing left with that tag. */
        MPI_Iprobe(p, 30, MPI_COMM_WORLD, &flag, &st);
        if (flag) {
            bad |= fail("mprobe: a matched message is still probed");
        }
    }
    return bad;
}

/* ---- cancel of a posted receive ----------------------------------------- */
static int t_cancel(void)
{
    int bad = 0, p = partner(), v = 0;

    if (p < 0) {
        return 0;
    }
    if (rank % 2) {
        MPI_Request rq;
        MPI_Status st;
        int c = 0;

        MPI_Irecv(&v, 1, MPI_INT, p, 40, MPI_COMM_WORLD, &rq);
        MPI_Cancel(&rq);
        MPI_Wait(&rq, &st);
        MPI_Test_cancelled(&st, &c);
        if (!c) {
            bad |= fail("cancel: MPI_Test_cancelled says not cancelled");
        }
        /* The cancelled receive must not take the next message. */
        MPI_Send(&v, 0, MPI_INT, p, 41, MPI_COMM_WORLD);
        v = 0;
        MPI_Recv(&v, 1, MPI_INT, p, 40, MPI_COMM_WORLD, &st);
        if (v != 4242) {
            bad |= fail("cancel: the message after the cancel: %d", v);
        }
        /* A receive that already matched is not cancelled. */
        MPI_Irecv(&v, 1, MPI_INT, p, 42, MPI_COMM_WORLD, &rq);
        MPI_Send(&v, 0, MPI_INT, p, 41, MPI_COMM_WORLD);
        MPI_Recv(&c, 0, MPI_INT, p, 43, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Cancel(&rq);
        MPI_Wait(&rq, &st);
        MPI_Test_cancelled(&st, &c);
        if (c || v != 4343) {
            bad |= fail("cancel: a completed receive: cancelled=%d v=%d", c, v);
        }
    } else {
        MPI_Recv(&v, 0, MPI_INT, p, 41, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        v = 4242;
        MPI_Send(&v, 1, MPI_INT, p, 40, MPI_COMM_WORLD);
        MPI_Recv(&v, 0, MPI_INT, p, 41, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        v = 4343;
        MPI_Send(&v, 1, MPI_INT, p, 42, MPI_COMM_WORLD);
        MPI_Send(&v, 0, MPI_INT, p, 43, MPI_COMM_WORLD);
    }
    return bad;
}

/* ---- non-contiguous datatypes ------------------------------------------- */
struct rec {
    int i;
    double d;
    char c[3];
};

static int t_datatypes(void)
{
    int bad = 0, p = partner();
    const int nv = 1000, nblk = 300; /* vector: nv blocks of 3 ints, stride 5 */

    if (p < 0) {
        return 0;
    }
    MPI_Datatype vec, st_t, st_r, idx;
    int bl[3] = {1, 1, 3};
    MPI_Aint disp[3] = {offsetof(struct rec, i), offsetof(struct rec, d),
                        offsetof(struct rec, c)};
    MPI_Datatype types[3] = {MPI_INT, MPI_DOUBLE, MPI_CHAR};
    int ibl[4] = {3, 1, 7, 2}, idp[4] = {0, 5, 9, 30};

    MPI_Type_vector(nv, 3, 5, MPI_INT, &vec);
    MPI_Type_commit(&vec);
    MPI_Type_create_struct(3, bl, disp, types, &st_t);
    MPI_Type_create_resized(st_t, 0, sizeof(struct rec), &st_r);
    MPI_Type_commit(&st_r);
    MPI_Type_indexed(4, ibl, idp, MPI_INT, &idx);
    MPI_Type_commit(&idx);

    int *sv = calloc((size_t)nv * 5, sizeof(int));
    int *rv = calloc((size_t)nv * 5, sizeof(int));
    int *rc = calloc((size_t)nv * 3, sizeof(int));
    struct rec *sr = calloc((size_t)nblk, sizeof(*sr));
    struct rec *rr = calloc((size_t)nblk, sizeof(*rr));
    int si[40], ri[40], ric[13];

    if (rank % 2 == 0) {
        for (int k = 0; k < nv * 5; k++) {
            sv[k] = k % 5 < 3 ? k * 7 + 1 : -1;
        }
        for (int k = 0; k < nblk; k++) {
            sr[k].i = k;
            sr[k].d = k * 0.5;
            memcpy(sr[k].c, (char[3]){(char)k, (char)(k + 1), 'z'}, 3);
        }
        for (int k = 0; k < 40; k++) {
            si[k] = 1000 + k;
        }
        MPI_Send(sv, 1, vec, p, 50, MPI_COMM_WORLD);
        MPI_Send(sv, 1, vec, p, 51, MPI_COMM_WORLD);
        MPI_Send(sr, nblk, st_r, p, 52, MPI_COMM_WORLD);
        MPI_Send(si, 1, idx, p, 53, MPI_COMM_WORLD);
        MPI_Send(si, 1, idx, p, 54, MPI_COMM_WORLD);
    } else {
        MPI_Status st;

        /* vector -> vector: the gaps stay untouched */
        for (int k = 0; k < nv * 5; k++) {
            rv[k] = -2;
        }
        MPI_Recv(rv, 1, vec, p, 50, MPI_COMM_WORLD, &st);
        for (int k = 0; k < nv * 5; k++) {
            int want = k % 5 < 3 ? k * 7 + 1 : -2;
            if (rv[k] != want) {
                bad |= fail("vector: element %d is %d, want %d", k, rv[k],
                            want);
                break;
            }
        }
        /* vector -> contiguous ints */
        MPI_Recv(rc, nv * 3, MPI_INT, p, 51, MPI_COMM_WORLD, &st);
        bad |= check_count("vector->int", &st, MPI_INT, nv * 3);
        for (int k = 0; k < nv * 3; k++) {
            int want = (k / 3 * 5 + k % 3) * 7 + 1;
            if (rc[k] != want) {
                bad |= fail("vector->int: element %d is %d, want %d", k, rc[k],
                            want);
                break;
            }
        }
        MPI_Recv(rr, nblk, st_r, p, 52, MPI_COMM_WORLD, &st);
        bad |= check_count("struct", &st, st_r, nblk);
        for (int k = 0; k < nblk; k++) {
            if (rr[k].i != k || rr[k].d != k * 0.5 || rr[k].c[0] != (char)k ||
                rr[k].c[1] != (char)(k + 1) || rr[k].c[2] != 'z') {
                bad |= fail("struct: record %d differs", k);
                break;
            }
        }
        for (int k = 0; k < 40; k++) {
            ri[k] = -1;
        }
        MPI_Recv(ri, 1, idx, p, 53, MPI_COMM_WORLD, &st);
        for (int b = 0; b < 4; b++) {
            for (int e = 0; e < ibl[b]; e++) {
                if (ri[idp[b] + e] != 1000 + idp[b] + e) {
                    bad |= fail("indexed: element %d", idp[b] + e);
                }
                ri[idp[b] + e] = -1;
            }
        }
        for (int k = 0; k < 40; k++) {
            if (ri[k] != -1) {
                bad |= fail("indexed: gap %d was written", k);
            }
        }
        MPI_Recv(ric, 13, MPI_INT, p, 54, MPI_COMM_WORLD, &st);
        for (int b = 0, o = 0; b < 4; b++) {
            for (int e = 0; e < ibl[b]; e++, o++) {
                if (ric[o] != 1000 + idp[b] + e) {
                    bad |= fail("indexed->int: element %d", o);
                }
            }
        }
    }
    free(sv);
    free(rv);
    free(rc);
    free(sr);
    free(rr);
    MPI_Type_free(&vec);
    MPI_Type_free(&st_t);
    MPI_Type_free(&st_r);
    MPI_Type_free(&idx);
    return bad;
}

/* ---- 0-byte messages ---------------------------------------------------- */
static int t_zero(void)
{
    int bad = 0, p = partner();

    if (p < 0) {
        return 0;
    }
    for (int k = 0; k < 3; k++) {
        MPI_Status st;
        MPI_Request rq[2];

        MPI_Irecv(NULL, 0, MPI_BYTE, p, 60 + k, MPI_COMM_WORLD, &rq[0]);
        MPI_Isend(NULL, 0, MPI_BYTE, p, 60 + k, MPI_COMM_WORLD, &rq[1]);
        MPI_Wait(&rq[0], &st);
        MPI_Wait(&rq[1], MPI_STATUS_IGNORE);
        bad |= check_count("0 B", &st, MPI_BYTE, 0);
        if (st.MPI_SOURCE != p || st.MPI_TAG != 60 + k) {
            bad |= fail("0 B: status source %d tag %d", st.MPI_SOURCE,
                        st.MPI_TAG);
        }
    }
    return bad;
}

/* ---- self: a rank's messages to itself ---------------------------------- */
static int t_self(void)
{
    int bad = 0;

    for (size_t i = 0; i < NSIZES; i++) {
        size_t n = sizes[i];
        char *s = malloc(n + 1), *r = malloc(n + 1);
        MPI_Request rq;
        MPI_Status st;

        pattern_fill(s, n, seed_of(rank, rank, 9, n));
        MPI_Isend(s, (int)n, MPI_BYTE, rank, 9, MPI_COMM_WORLD, &rq);
        MPI_Recv(r, (int)n, MPI_BYTE, rank, 9, MPI_COMM_WORLD, &st);
        MPI_Wait(&rq, MPI_STATUS_IGNORE);
        bad |= check_buf("self", r, n, seed_of(rank, rank, 9, n));
        bad |= check_count("self", &st, MPI_BYTE, (int)n);
        free(s);
        free(r);
    }
    /* Synchronous to the own rank: not complete before the receive. */
    {
        int v = 5, w = 0, flag = 0;
        MPI_Request rq;

        MPI_Issend(&v, 1, MPI_INT, rank, 10, MPI_COMM_WORLD, &rq);
        for (int k = 0; k < 1000 && !flag; k++) {
            MPI_Test(&rq, &flag, MPI_STATUS_IGNORE);
        }
        if (flag) {
            bad |= fail("self: Issend complete before the receive");
        }
        MPI_Recv(&w, 1, MPI_INT, rank, 10, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Wait(&rq, MPI_STATUS_IGNORE);
        if (w != 5) {
            bad |= fail("self: Issend delivered %d", w);
        }
    }
    return bad;
}

/* ---- 64 MiB ------------------------------------------------------------- */
static int t_big(void)
{
    int bad = 0, p = partner();
    const size_t n = 64UL << 20;

    if (p < 0 || rank > 1) {
        return 0;
    }
    char *b = malloc(n);
    MPI_Status st;

    if (!b) {
        return fail("64 MiB: out of memory");
    }
    if (rank == 0) {
        pattern_fill(b, n, seed_of(0, 1, 70, n));
        MPI_Send(b, (int)n, MPI_BYTE, 1, 70, MPI_COMM_WORLD);
        MPI_Recv(b, (int)n, MPI_BYTE, 1, 71, MPI_COMM_WORLD, &st);
        bad |= check_buf("64 MiB back", b, n, seed_of(1, 0, 71, n));
    } else {
        MPI_Recv(b, (int)n, MPI_BYTE, 0, 70, MPI_COMM_WORLD, &st);
        bad |= check_buf("64 MiB", b, n, seed_of(0, 1, 70, n));
        bad |= check_count("64 MiB", &st, MPI_BYTE, (int)n);
        pattern_fill(b, n, seed_of(1, 0, 71, n));
        MPI_Send(b, (int)n, MPI_BYTE, 0, 71, MPI_COMM_WORLD);
    }
    free(b);
    return bad;
}

/* ---- thousands of outstanding requests ---------------------------------- */
static int t_many(void)
{
    int bad = 0, p = partner();
    const int n = 4000;

    if (p < 0) {
        return 0;
    }
    MPI_Request *rq = malloc(sizeof(*rq) * 2 * (size_t)n);
    int64_t *sb = malloc(sizeof(*sb) * (size_t)n);
    int64_t *rb = malloc(sizeof(*rb) * (size_t)n);

    /* Receives posted first on one side, sends first on the other: both
     * the posted and the unexpected queue hold thousands. */
    for (int pass = 0; pass < 2; pass++) {
        if ((rank % 2 == 0) == (pass == 0)) {
            for (int k = 0; k < n; k++) {
                rb[k] = -1;
                MPI_Irecv(&rb[k], 1, MPI_INT64_T, p, 80 + k % 4, MPI_COMM_WORLD,
                          &rq[k]);
            }
        } else {
            for (int k = 0; k < n; k++) {
                sb[k] = (int64_t)rank << 32 | k;
                MPI_Isend(&sb[k], 1, MPI_INT64_T, p, 80 + k % 4, MPI_COMM_WORLD,
                          &rq[n + k]);
            }
        }
    }
    MPI_Waitall(2 * n, rq, MPI_STATUSES_IGNORE);
    for (int k = 0; k < n; k++) {
        if (rb[k] != ((int64_t)p << 32 | k)) {
            bad |= fail("many: receive %d got %llx", k,
                        (unsigned long long)rb[k]);
            break;
        }
    }
    free(rq);
    free(sb);
    free(rb);
    return bad;
}

/* ---- MPI_THREAD_MULTIPLE ------------------------------------------------ */
#define NTHREADS 4
struct thr {
    int id, bad;
};

static void *thr_main(void *arg)
{
    struct thr *t = arg;
    int p = partner();
    const int n = 300;

    for (int k = 0; k < n; k++) {
        size_t len = (size_t)((k * 37 + t->id * 11) % 3000);
        char s[3000], r[3000];
        MPI_Request rq[2];
        MPI_Status st;
        int tag = 90 + t->id;

        pattern_fill(s, len, seed_of(rank, p, tag, len) + (uint32_t)k);
        MPI_Irecv(r, sizeof(r), MPI_BYTE, p, tag, MPI_COMM_WORLD, &rq[0]);
        MPI_Isend(s, (int)len, MPI_BYTE, p, tag, MPI_COMM_WORLD, &rq[1]);
        MPI_Wait(&rq[1], MPI_STATUS_IGNORE);
        MPI_Wait(&rq[0], &st);
        t->bad |= check_count("threads", &st, MPI_BYTE, (int)len);
        t->bad |= check_buf("threads", r, len,
                            seed_of(p, rank, tag, len) + (uint32_t)k);
        if (t->bad) {
            break;
        }
    }
    return NULL;
}

static int thread_level;

static int t_threads(void)
{
    int bad = 0;
    pthread_t th[NTHREADS];
    struct thr t[NTHREADS];

    if (thread_level < MPI_THREAD_MULTIPLE) {
        return fail("threads: MPI_Init_thread provided %d, not "
                    "MPI_THREAD_MULTIPLE",
                    thread_level);
    }
    if (partner() < 0) {
        return 0;
    }
    for (int i = 0; i < NTHREADS; i++) {
        t[i].id = i;
        t[i].bad = 0;
        pthread_create(&th[i], NULL, thr_main, &t[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        bad |= t[i].bad;
    }
    return bad;
}

/* ---- communicators: same tags, no crossing ------------------------------ */
static int t_comms(void)
{
    int bad = 0, p = partner();
    MPI_Comm dup, split;
    int srank, ssize;

    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm_split(MPI_COMM_WORLD, rank % 2, -rank, &split);
    MPI_Comm_rank(split, &srank);
    MPI_Comm_size(split, &ssize);
    if (srank != ssize - 1 - rank / 2) {
        bad |= fail("split: rank %d in the split, want %d", srank,
                    ssize - 1 - rank / 2);
    }
    if (p >= 0) {
        int v[3] = {-1, -1, -1};
        MPI_Request rq[3];

        /* The receiver posts for dup first, the sender sends on world
         * first: a receive may only take its own communicator's message. */
        if (rank % 2) {
            MPI_Irecv(&v[0], 1, MPI_INT, p, 100, dup, &rq[0]);
            MPI_Irecv(&v[1], 1, MPI_INT, MPI_ANY_SOURCE, MPI_ANY_TAG,
                      MPI_COMM_WORLD, &rq[1]);
            MPI_Waitall(2, rq, MPI_STATUSES_IGNORE);
            if (v[0] != 2 || v[1] != 1) {
                bad |= fail("comms: dup got %d, world got %d", v[0], v[1]);
            }
        } else {
            int a = 1, b = 2;

            MPI_Send(&a, 1, MPI_INT, p, 100, MPI_COMM_WORLD);
            MPI_Send(&b, 1, MPI_INT, p, 100, dup);
        }
    }
    /* In the split and on world at once, both rings with the same tag;
     * each value names the sender's rank in the split. */
    {
        int to = (srank + 1) % ssize, from = (srank + ssize - 1) % ssize;
        int wto = (rank + 1) % nprocs, wfrom = (rank + nprocs - 1) % nprocs;
        int sv[2] = {1000 + srank, 2000 + srank}, rv[2] = {-1, -1};
        /* the size of wfrom's colour, and so its rank in the split */
        int fsize = (nprocs - wfrom % 2 + 1) / 2;
        MPI_Request rq[4];

        MPI_Irecv(&rv[0], 1, MPI_INT, from, 7, split, &rq[0]);
        MPI_Irecv(&rv[1], 1, MPI_INT, wfrom, 7, MPI_COMM_WORLD, &rq[1]);
        MPI_Isend(&sv[1], 1, MPI_INT, wto, 7, MPI_COMM_WORLD, &rq[2]);
        MPI_Isend(&sv[0], 1, MPI_INT, to, 7, split, &rq[3]);
        MPI_Waitall(4, rq, MPI_STATUSES_IGNORE);
        if (rv[0] != 1000 + from) {
            bad |= fail("split ring: got %d, want %d", rv[0], 1000 + from);
        }
        if (rv[1] != 2000 + fsize - 1 - wfrom / 2) {
            bad |= fail("world ring: got %d, want %d", rv[1],
                        2000 + fsize - 1 - wfrom / 2);
        }
    }
    /* An intercommunicator between the two halves of the split: ranks
     * are the remote group's. */
    {
        MPI_Comm inter;
        int lr, rs, v, w = -1, colour = rank % 2;
        MPI_Status st;

        /* the other half's leader: its highest world rank (key -rank) */
        int leader = nprocs - 1 - ((nprocs - 1) % 2 == 1 - colour ? 0 : 1);

        MPI_Intercomm_create(split, 0, MPI_COMM_WORLD, leader, 99, &inter);
        MPI_Comm_rank(inter, &lr);
        MPI_Comm_remote_size(inter, &rs);
        v = 1000 * colour + lr;
        if (lr < rs) {
            MPI_Sendrecv(&v, 1, MPI_INT, lr, 7, &w, 1, MPI_INT, lr, 7, inter,
                         &st);
            if (w != 1000 * (1 - colour) + lr || st.MPI_SOURCE != lr) {
                bad |= fail("intercomm: got %d from %d", w, st.MPI_SOURCE);
            }
        }
        MPI_Comm_free(&inter);
    }
    MPI_Comm_free(&dup);
    MPI_Comm_free(&split);
    return bad;
}

/* ---- collectives -------------------------------------------------------- */
static int t_collectives(void)
{
    int bad = 0;

    MPI_Barrier(MPI_COMM_WORLD);
    /* Bcast from every root, small and large. */
    for (int root = 0; root < nprocs; root++) {
        static const size_t bs[] = {1, 4096, 1048576};

        for (size_t i = 0; i < 3; i++) {
            size_t n = bs[i];
            char *b = malloc(n);

            if (rank == root) {
                pattern_fill(b, n, seed_of(root, 0, 110, n));
            } else {
                memset(b, 0, n);
            }
            MPI_Bcast(b, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
            bad |= check_buf("bcast", b, n, seed_of(root, 0, 110, n));
            free(b);
        }
    }
    /* Allreduce: sum and max of known values. */
    {
        enum { N = 10000 };
        long *in = malloc(sizeof(long) * N), *out = malloc(sizeof(long) * N);

        for (int k = 0; k < N; k++) {
            in[k] = (long)rank * k + 1;
        }
        MPI_Allreduce(in, out, N, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
        for (int k = 0; k < N; k++) {
            long want = (long)nprocs * (nprocs - 1) / 2 * k + nprocs;
            if (out[k] != want) {
                bad |= fail("allreduce: [%d] %ld, want %ld", k, out[k], want);
                break;
            }
        }
        free(in);
        free(out);
    }
    /* Alltoall: element (i -> j) = i * 1000 + j. */
    {
        int *s = malloc(sizeof(int) * (size_t)nprocs * 100);
        int *r = malloc(sizeof(int) * (size_t)nprocs * 100);

        for (int j = 0; j < nprocs; j++) {
            for (int e = 0; e < 100; e++) {
                s[j * 100 + e] = rank * 100000 + j * 100 + e;
            }
        }
        MPI_Alltoall(s, 100, MPI_INT, r, 100, MPI_INT, MPI_COMM_WORLD);
        for (int i = 0; i < nprocs; i++) {
            for (int e = 0; e < 100; e++) {
                if (r[i * 100 + e] != i * 100000 + rank * 100 + e) {
                    bad |= fail("alltoall: from %d element %d", i, e);
                    i = nprocs;
                    break;
                }
            }
        }
        free(s);
        free(r);
    }
    /* Allgatherv: rank i contributes i * 3 + 1 ints of value i. */
    {
        int *cnt = malloc(sizeof(int) * (size_t)nprocs);
        int *dsp = malloc(sizeof(int) * (size_t)nprocs);
        int total = 0, mine = rank * 3 + 1;
        int *s = malloc(sizeof(int) * (size_t)mine);

        for (int i = 0; i < nprocs; i++) {
            cnt[i] = i * 3 + 1;
            dsp[i] = total;
            total += cnt[i];
        }
        int *r = malloc(sizeof(int) * (size_t)total);
        for (int e = 0; e < mine; e++) {
            s[e] = rank;
        }
        MPI_Allgatherv(s, mine, MPI_INT, r, cnt, dsp, MPI_INT, MPI_COMM_WORLD);
        for (int i = 0; i < nprocs; i++) {
            for (int e = 0; e < cnt[i]; e++) {
                if (r[dsp[i] + e] != i) {
                    bad |= fail("allgatherv: block %d element %d", i, e);
                    i = nprocs;
                    break;
                }
            }
        }
        free(cnt);
        free(dsp);
        free(s);
        free(r);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return bad;
}

struct tcase {
    const char *name;
    int (*fn)(void);
    const char *what;
};

static const struct tcase cases[] = {
    {"blocking", t_blocking, "blocking send/recv around a ring, 0 B .. 1 MiB"},
    {"nonblocking", t_nonblocking,
     "Isend/Irecv with every rank, all sizes outstanding"},
    {"ssend", t_issend, "Issend incomplete until the receive is posted; Ssend"},
    {"rsend", t_rsend, "ready mode to a posted receive"},
    {"any", t_any, "MPI_ANY_SOURCE and MPI_ANY_TAG"},
    {"order", t_order, "non-overtaking per source, mixed sizes and tags"},
    {"truncate", t_truncate,
     "MPI_ERR_TRUNCATE (Recv, Irecv/Wait, probed), count in a larger buffer"},
    {"probe", t_probe, "Iprobe, Probe, Improbe, Mprobe, Mrecv, Imrecv"},
    {"cancel", t_cancel, "cancel of a posted receive, Test_cancelled"},
    {"datatypes", t_datatypes, "vector, struct and indexed datatypes"},
    {"zero", t_zero, "0-byte messages with status"},
    {"self", t_self, "messages to the own rank, Issend to it"},
    {"big", t_big, "one 64 MiB message each way"},
    {"many", t_many, "4000 outstanding Isend/Irecv each way"},
    {"threads", t_threads, "MPI_THREAD_MULTIPLE, 4 threads exchanging"},
    {"comms", t_comms,
     "Comm_dup, Comm_split, an intercommunicator; same tags do not cross"},
    {"collectives", t_collectives,
     "Barrier, Bcast, Allreduce, Alltoall, Allgatherv"},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

int main(int argc, char **argv)
{
    const char *only = NULL;
    int list = 0, failed = 0, planned = 0;

    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &thread_level);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--big") == 0) {
            big = 1;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--list") == 0) {
            list = 1;
        } else {
            if (rank == 0) {
                fprintf(stderr, "mpi_sem: unknown argument '%s'\n", argv[i]);
            }
            MPI_Finalize();
            return 2;
        }
    }
    if (nprocs < 2) {
        if (rank == 0) {
            fprintf(stderr, "mpi_sem: needs at least 2 ranks\n");
        }
        MPI_Finalize();
        return 2;
    }
    for (size_t i = 0; i < NCASES; i++) {
        if ((!only || strcmp(only, cases[i].name) == 0) &&
            (big || cases[i].fn != t_big)) {
            planned++;
            if (list && rank == 0) {
                printf("%s\n", cases[i].name);
            }
        }
    }
    if (list) {
        MPI_Finalize();
        return 0;
    }
    if (rank == 0) {
        tap_plan(planned);
    }
    for (size_t i = 0; i < NCASES; i++) {
        int mine, all;

        if ((only && strcmp(only, cases[i].name) != 0) ||
            (!big && cases[i].fn == t_big)) {
            continue;
        }
        mine = cases[i].fn();
        MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (rank == 0) {
            tap_ok(!all, "%s: %s (%d ranks)", cases[i].name, cases[i].what,
                   nprocs);
        }
        failed |= all;
    }
    MPI_Finalize();
    return failed ? 1 : 0;
}
