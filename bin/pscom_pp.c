/*
 * pscom_pp -- ping-pong between two processes over pscom.
 *
 *   server:  pscom_pp [options] -l PORT      (PORT 0 or ANY: any port)
 *   client:  pscom_pp [options] HOST:PORT
 *
 * The client sends a message of each size (0, 1, 2, 4 ... maxsize) and the
 * server echoes it back; the client prints the half round-trip time, the
 * bandwidth and the connection type. The server echoes whatever arrives
 * until the client closes the connection, then exits (or, with
 * --forever, waits for the next client).
 *
 * The loop count per size follows pp_loops(); bench/mpi_pp.c uses the
 * same rule so that both programs measure the same thing.
 *
 * --window W measures streaming bandwidth instead, like osu_bw: per
 * size the client tells the server (a 0-byte control message) to post W
 * receives, then repeatedly sends W messages at once and waits for the
 * server's 0-byte "posted again" reply; MB/s is the bytes of all windows
 * over the time between the first and the last reply.
 */
#include "pscom.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PP_EXIT_USAGE 2
#define PP_MAX_SIZE (1024UL * 1024 * 1024)
#define PP_MAX_XHEADER 65535UL
/* Bytes moved per size for large messages: enough for a stable bandwidth
 * figure, small enough that a full run stays in seconds. */
#define PP_BYTES_PER_SIZE (32UL * 1024 * 1024)
#define PP_MIN_LOOPS 4UL

struct pp_opts {
    const char *listen; /* server: port string, or NULL */
    const char *peer;   /* client: HOST:PORT */
    unsigned long minsize;
    unsigned long maxsize;
    unsigned long loops;
    unsigned long rounds; /* --rounds: at every size, 0: pp_loops() */
    unsigned long xheader;
    double maxtime; /* seconds per size, 0: no limit */
    int verify;
    int json;
    int forever;
    int client;           /* -c: client, HOST:PORT optional (0x0200) */
    int once;             /* -1: serve one client (0x0200; the default) */
    int histo;            /* -i: histogram of round-trip times per size */
    int valloc;           /* --valloc: page-aligned buffers */
    unsigned long window; /* client: messages in flight, 0: ping-pong */
    double linger;        /* client: seconds connected after the run */
    unsigned long gap_us; /* --gap: idle microseconds before each round */
};

/* The 0x0200 program's client connects here without an address. */
#define PP_DEFAULT_PEER "localhost:7100"
/* Buckets of the --histo histogram: round trips below 2^k us. */
#define PP_HISTO_BUCKETS 32

/* The xheader of --window's messages. */
struct pp_win_xh {
    uint32_t magic;  /* PP_WIN_MAGIC */
    uint32_t kind;   /* PP_WIN_* */
    uint32_t size;   /* START: bytes per message */
    uint32_t window; /* START: messages in flight; DATA: the round */
    uint32_t verify; /* START: check every message */
};
#define PP_WIN_MAGIC 0x57425050u /* "PPBW" */
#define PP_WIN_MAX 1024UL
enum { PP_WIN_START = 1, PP_WIN_DATA, PP_WIN_STOP, PP_WIN_READY };

static const char *pp_prog = "pscom_pp";

static void pp_usage(FILE *out)
{
    fprintf(out,
            "Usage: %s [options] -l PORT      run the server (PORT 0 or ANY:"
            " any port)\n"
            "       %s [options] HOST:PORT    run the client\n"
            "       %s [options] -c [HOST:PORT] run the client "
            "(default " PP_DEFAULT_PEER ")\n"
            "Options (sizes take K, M, G suffixes, powers of 1024):\n"
            "  -l, --listen PORT   listen and echo (server)\n"
            "  -c, --client        run the client\n"
            "      --minsize N     smallest message size (default 0)\n"
            "      --maxsize N     largest message size (default 4M)\n"
            "  -n, --loops N       round trips for small sizes (default "
            "1000);\n"
            "                      fewer for large sizes, at least %lu\n"
            "      --xheader N     bytes of user header per message "
            "(default 0)\n"
            "  -V, --verify        check the echoed content every round\n"
            "  -i, --histo         print a histogram of round-trip times "
            "per size\n"
            "      --valloc        page-aligned buffers\n"
            "  -1, --once          server: serve one client (the default)\n"
            "      --maxtime S     stop a size after S seconds (default: "
            "no limit)\n"
            "      --rounds N      exactly N timed round trips at every "
            "size\n"
            "      --json          one JSON object per size instead of the "
            "table\n"
            "      --forever       server: serve clients until killed\n"
            "      --window W      streaming bandwidth, W messages in "
            "flight (osu_bw)\n"
            "      --gap US        client: sleep US microseconds (outside "
            "pscom, not timed)\n"
            "                      before every round trip, so both sides "
            "wait idle\n"
            "      --linger S      client: stay connected (calling pscom) "
            "S seconds after the run\n"
            "  -h, --help          this text\n"
            "Exit status: 0 ok, 1 run-time error, 2 bad command line.\n",
            pp_prog, pp_prog, pp_prog, PP_MIN_LOOPS);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
pp_bad_usage(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", pp_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry '%s --help'.\n", pp_prog);
    exit(PP_EXIT_USAGE);
}

/* A non-negative integer with an optional binary suffix (K, M, G). */
static unsigned long pp_parse_size(const char *opt, const char *s,
                                   unsigned long max)
{
    unsigned long long v, mult = 1;
    char *end;

    errno = 0;
    if (!*s || *s == '-' || *s == '+') {
        pp_bad_usage("%s: '%s' is not a non-negative number", opt, s);
    }
    v = strtoull(s, &end, 10);
    if (errno || end == s) {
        pp_bad_usage("%s: '%s' is not a non-negative number", opt, s);
    }
    switch (*end) {
    case 'k':
    case 'K':
        mult = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mult = 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mult = 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (*end) {
        pp_bad_usage("%s: '%s' is not a non-negative number", opt, s);
    }
    if (v > max / mult) {
        pp_bad_usage("%s: '%s' is larger than %lu", opt, s, max);
    }
    return (unsigned long)(v * mult);
}

static double pp_parse_seconds(const char *opt, const char *s)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 86400) {
        pp_bad_usage("%s: '%s' is not a positive number of seconds", opt, s);
    }
    return v;
}

static int pp_parse_port(const char *s)
{
    char *end;
    long v;

    if (strcmp(s, "ANY") == 0 || strcmp(s, "any") == 0) {
        return PSCOM_ANYPORT;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > 65535) {
        pp_bad_usage("port '%s' is not a number in 0..65535 or ANY", s);
    }
    return v == 0 ? PSCOM_ANYPORT : (int)v;
}

static void pp_parse_args(int argc, char **argv, struct pp_opts *o)
{
    enum {
        OPT_MINSIZE = 256,
        OPT_MAXSIZE,
        OPT_XHEADER,
        OPT_MAXTIME,
        OPT_VALLOC,
        OPT_JSON,
        OPT_FOREVER,
        OPT_WINDOW,
        OPT_LINGER,
        OPT_GAP,
        OPT_ROUNDS,
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"minsize", required_argument, NULL, OPT_MINSIZE},
        {"maxsize", required_argument, NULL, OPT_MAXSIZE},
        {"loops", required_argument, NULL, 'n'},
        {"xheader", required_argument, NULL, OPT_XHEADER},
        {"verify", no_argument, NULL, 'V'},
        {"client", no_argument, NULL, 'c'},
        {"once", no_argument, NULL, '1'},
        {"histo", no_argument, NULL, 'i'},
        {"valloc", no_argument, NULL, OPT_VALLOC},
        {"maxtime", required_argument, NULL, OPT_MAXTIME},
        {"rounds", required_argument, NULL, OPT_ROUNDS},
        {"json", no_argument, NULL, OPT_JSON},
        {"forever", no_argument, NULL, OPT_FOREVER},
        {"window", required_argument, NULL, OPT_WINDOW},
        {"linger", required_argument, NULL, OPT_LINGER},
        {"gap", required_argument, NULL, OPT_GAP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof(*o));
    o->maxsize = 4UL * 1024 * 1024;
    o->loops = 1000;
    while ((c = getopt_long(argc, argv, "l:hcn:Vi1", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o->listen = optarg;
            break;
        case OPT_MINSIZE:
            o->minsize = pp_parse_size("--minsize", optarg, PP_MAX_SIZE);
            break;
        case OPT_MAXSIZE:
            o->maxsize = pp_parse_size("--maxsize", optarg, PP_MAX_SIZE);
            break;
        case 'n':
            o->loops = pp_parse_size("--loops", optarg, INT_MAX);
            if (o->loops == 0) {
                pp_bad_usage("--loops: must be at least 1");
            }
            break;
        case OPT_ROUNDS:
            o->rounds = pp_parse_size("--rounds", optarg, ULONG_MAX);
            if (o->rounds == 0) {
                pp_bad_usage("--rounds: must be at least 1");
            }
            break;
        case OPT_XHEADER:
            o->xheader = pp_parse_size("--xheader", optarg, PP_MAX_XHEADER);
            break;
        case OPT_GAP:
            o->gap_us = pp_parse_size("--gap", optarg, 10000000UL);
            break;
        case OPT_LINGER:
            o->linger = pp_parse_seconds("--linger", optarg);
            break;
        case OPT_WINDOW:
            o->window = pp_parse_size("--window", optarg, PP_WIN_MAX);
            break;
        case 'V':
            o->verify = 1;
            break;
        case 'c':
            o->client = 1;
            break;
        case '1':
            o->once = 1;
            break;
        case 'i':
            o->histo = 1;
            break;
        case OPT_VALLOC:
            o->valloc = 1;
            break;
        case OPT_MAXTIME:
            o->maxtime = pp_parse_seconds("--maxtime", optarg);
            break;
        case OPT_JSON:
            o->json = 1;
            break;
        case OPT_FOREVER:
            o->forever = 1;
            break;
        case 'h':
            pp_usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "Try '%s --help'.\n", pp_prog);
            exit(PP_EXIT_USAGE);
        }
    }
    if (optind < argc) {
        o->peer = argv[optind++];
    }
    if (optind < argc) {
        pp_bad_usage("unexpected argument '%s'", argv[optind]);
    }
    if (o->client && o->listen) {
        pp_bad_usage("-c (client) and -l (server) exclude each other");
    }
    if (o->client && !o->peer) {
        o->peer = PP_DEFAULT_PEER;
    }
    if (o->once && o->forever) {
        pp_bad_usage("--once and --forever exclude each other");
    }
    if (!o->listen == !o->peer) {
        pp_bad_usage("give either -l PORT (server) or HOST:PORT (client)");
    }
    if (o->minsize > o->maxsize) {
        pp_bad_usage("--minsize %lu is larger than --maxsize %lu", o->minsize,
                     o->maxsize);
    }
}

/* Resolve "HOST:PORT" (name or a.b.c.d) to a pscom node id and port. */
static int pp_resolve(const char *peer, int *nodeid, int *port)
{
    const char *colon = strrchr(peer, ':');
    struct addrinfo hints = {.ai_family = AF_INET};
    struct addrinfo *res;
    char host[256];
    size_t hlen;
    int rc;

    if (!colon || colon == peer) {
        pp_bad_usage("'%s' is not HOST:PORT", peer);
    }
    hlen = (size_t)(colon - peer);
    if (hlen >= sizeof(host)) {
        pp_bad_usage("host name in '%s' is too long", peer);
    }
    memcpy(host, peer, hlen);
    host[hlen] = '\0';
    *port = pp_parse_port(colon + 1);
    if (*port == PSCOM_ANYPORT) {
        pp_bad_usage("'%s': the client needs a port in 1..65535", peer);
    }
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        pp_bad_usage("cannot resolve '%s': %s", host, gai_strerror(rc));
    }
    *nodeid = (int)ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
    freeaddrinfo(res);
    return 0;
}

/* Round trips per size: opts->loops for small messages, fewer for large
 * ones (about PP_BYTES_PER_SIZE per size), never below PP_MIN_LOOPS.
 * bench/mpi_pp.c implements the same rule. */
static unsigned long pp_loops(unsigned long size, unsigned long loops)
{
    unsigned long n = size ? PP_BYTES_PER_SIZE / size : loops;

    if (n > loops) {
        n = loops;
    }
    return n < PP_MIN_LOOPS ? PP_MIN_LOOPS : n;
}

/* Timed rounds for BYTES per round: --rounds when given (a stream that
 * must last, e.g. a test's victim), else pp_loops(). */
static unsigned long pp_rounds(const struct pp_opts *o, unsigned long bytes)
{
    return o->rounds ? o->rounds : pp_loops(bytes, o->loops);
}

static double pp_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pp_fill(unsigned char *buf, size_t len, unsigned long round)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (unsigned char)(i * 7 + round * 13 + (i >> 8));
    }
}

static int pp_check(const unsigned char *buf, size_t len, unsigned long round)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != (unsigned char)(i * 7 + round * 13 + (i >> 8))) {
            fprintf(stderr,
                    "%s: verify: size %zu round %lu: byte %zu is wrong\n",
                    pp_prog, len, round, i);
            return -1;
        }
    }
    return 0;
}

/* ---- server ----------------------------------------------------------- */

struct pp_echo {
    unsigned char *buf;
    size_t cap;
};

static void pp_con_error(pscom_connection_t *con, pscom_op_t op,
                         pscom_err_t err)
{
    /* EOF is how a client says goodbye: not worth a message. */
    if (err != PSCOM_ERR_EOF) {
        fprintf(stderr, "%s: connection %s: %s\n", pp_prog, pscom_con_str(con),
                pscom_err_str(err));
    }
}

static struct pp_echo pp_echo_buf;

/* Grow the echo buffer to the incoming message before pscom copies. */
static int pp_echo_accept(pscom_request_t *req, pscom_connection_t *con,
                          pscom_header_net_t *hdr)
{
    struct pp_echo *e = &pp_echo_buf;

    if (hdr->data_len > e->cap) {
        unsigned char *n = realloc(e->buf, hdr->data_len);

        if (!n) {
            /* Take it into nothing: it completes TRUNCATED and the
             * server stops with a message instead of hanging. */
            req->data_len = 0;
            return 1;
        }
        e->buf = n;
        e->cap = hdr->data_len;
    }
    req->data = e->buf;
    req->data_len = hdr->data_len;
    return 1;
}

/* 1 if req carries a --window control xheader of that kind. */
static int pp_win_kind(const pscom_request_t *req, struct pp_win_xh *xh)
{
    if (req->header.xheader_len != sizeof(*xh)) {
        return 0;
    }
    memcpy(xh, &req->xheader, sizeof(*xh));
    return xh->magic == PP_WIN_MAGIC ? (int)xh->kind : 0;
}

static int pp_win_wait_all(pscom_request_t **r, unsigned long n)
{
    int ok = 1;

    for (unsigned long i = 0; i < n; i++) {
        pscom_wait(r[i]);
        ok &= pscom_req_successful(r[i]);
    }
    return ok;
}

/* Window rounds: post W receives, say READY, take W messages; until the
 * client sends W STOPs. -1 on failure. */
static int pp_serve_window(pscom_connection_t *con, const struct pp_win_xh *st)
{
    unsigned long w = st->window, nbuf = st->verify ? w : 1;
    pscom_request_t **r = calloc(w ? w : 1, sizeof(*r));
    unsigned char **buf = calloc(nbuf ? nbuf : 1, sizeof(*buf));
    pscom_request_t *ready = pscom_request_create(sizeof(struct pp_win_xh), 0);
    struct pp_win_xh xh = {.magic = PP_WIN_MAGIC, .kind = PP_WIN_READY};
    int rc = -1, stop = 0;

    if (w == 0 || w > PP_WIN_MAX || !r || !buf || !ready) {
        goto out;
    }
    for (unsigned long i = 0; i < nbuf; i++) {
        if (!(buf[i] = malloc(st->size ? st->size : 1))) {
            goto out;
        }
    }
    for (unsigned long i = 0; i < w; i++) {
        if (!(r[i] = pscom_request_create(sizeof(xh), 0))) {
            goto out;
        }
    }
    while (!stop) {
        for (unsigned long i = 0; i < w; i++) {
            r[i]->connection = con;
            r[i]->xheader_len = sizeof(xh);
            r[i]->data = buf[st->verify ? i : 0];
            r[i]->data_len = st->size;
            pscom_post_recv(r[i]);
        }
        ready->connection = con;
        ready->xheader_len = sizeof(xh);
        memcpy(&ready->xheader, &xh, sizeof(xh));
        ready->data_len = 0;
        pscom_post_send(ready);
        pscom_wait(ready);
        if (!pp_win_wait_all(r, w) || !pscom_req_successful(ready)) {
            goto out;
        }
        for (unsigned long i = 0; i < w; i++) {
            struct pp_win_xh m;
            int kind = pp_win_kind(r[i], &m);

            if (kind == PP_WIN_STOP) {
                stop = 1;
            } else if (kind != PP_WIN_DATA ||
                       r[i]->header.data_len != st->size ||
                       (st->verify &&
                        pp_check(buf[i], st->size, m.window) < 0)) {
                fprintf(stderr, "%s: window: bad message %lu\n", pp_prog, i);
                goto out;
            }
        }
    }
    rc = 0;
out:
    for (unsigned long i = 0; r && i < w; i++) {
        if (r[i]) {
            pscom_request_free(r[i]);
        }
    }
    for (unsigned long i = 0; buf && i < nbuf; i++) {
        free(buf[i]);
    }
    if (ready) {
        pscom_request_free(ready);
    }
    free(r);
    free(buf);
    return rc;
}

static int pp_serve_one(pscom_connection_t *con)
{
    pscom_request_t *rreq = pscom_request_create(PP_MAX_XHEADER, 0);
    pscom_request_t *sreq = pscom_request_create(PP_MAX_XHEADER, 0);
    int rc = 0;

    if (!rreq || !sreq) {
        fprintf(stderr, "%s: out of memory\n", pp_prog);
        rc = -1;
        goto out;
    }
    printf("New connection from %s via %s\n",
           pscom_con_info_str(&con->remote_con_info),
           pscom_con_type_str(con->type));
    fflush(stdout);
    for (;;) {
        rreq->connection = con;
        rreq->ops.recv_accept = pp_echo_accept;
        rreq->xheader_len = PP_MAX_XHEADER;
        rreq->data = NULL;
        rreq->data_len = 0;
        pscom_post_recv(rreq);
        pscom_wait(rreq);
        if (rreq->state & PSCOM_REQ_STATE_TRUNCATED) {
            fprintf(stderr, "%s: no memory for a %u byte message\n", pp_prog,
                    rreq->header.data_len);
            rc = -1;
            break;
        }
        if (!pscom_req_successful(rreq)) {
            break; /* the client closed the connection (or it broke) */
        }
        {
            struct pp_win_xh xh;

            if (pp_win_kind(rreq, &xh) == PP_WIN_START) {
                if (pp_serve_window(con, &xh) < 0) {
                    rc = -1;
                    break;
                }
                continue;
            }
        }
        sreq->connection = con;
        sreq->xheader_len = rreq->header.xheader_len;
        memcpy(&sreq->xheader, &rreq->xheader, sreq->xheader_len);
        sreq->data = rreq->data;
        sreq->data_len = rreq->header.data_len;
        pscom_post_send(sreq);
        pscom_wait(sreq);
        if (!pscom_req_successful(sreq)) {
            fprintf(stderr, "%s: echo failed: %s\n", pp_prog,
                    pscom_req_state_str(sreq->state));
            rc = -1;
            break;
        }
    }
out:
    if (rreq) {
        pscom_request_free(rreq);
    }
    if (sreq) {
        pscom_request_free(sreq);
    }
    pscom_close_connection(con);
    return rc;
}

/* A usable connection of the socket: served ones are closed, so with
 * --forever a client that arrived during another's run is found too. */
static pscom_connection_t *pp_next_client(pscom_socket_t *sock)
{
    pscom_connection_t *con = NULL;

    while ((con = pscom_get_next_connection(sock, con))) {
        if ((con->state & PSCOM_CON_STATE_RW) == PSCOM_CON_STATE_RW &&
            !(con->state & PSCOM_CON_STATE_CLOSED)) {
            return con;
        }
    }
    return NULL;
}

static int pp_server(const struct pp_opts *o)
{
    pscom_socket_t *sock = pscom_open_socket(0, 0);
    pscom_err_t err;
    int rc = 0;

    if (!sock) {
        fprintf(stderr, "%s: pscom_open_socket failed\n", pp_prog);
        return 1;
    }
    sock->ops.con_error = pp_con_error;
    err = pscom_listen(sock, pp_parse_port(o->listen));
    if (err != PSCOM_SUCCESS) {
        fprintf(stderr, "%s: listen on port %s: %s\n", pp_prog, o->listen,
                pscom_err_str(err));
        pscom_close_socket(sock);
        return 1;
    }
    do {
        pscom_connection_t *con;

        printf("Waiting for client: %s\n", pscom_listen_socket_str(sock));
        fflush(stdout);
        while (!(con = pp_next_client(sock))) {
            pscom_wait_any();
        }
        if (pp_serve_one(con) < 0) {
            rc = 1;
        }
    } while (o->forever);
    pscom_close_socket(sock);
    free(pp_echo_buf.buf);
    return rc;
}

/* ---- client ----------------------------------------------------------- */

struct pp_client {
    const struct pp_opts *o;
    pscom_connection_t *con;
    pscom_request_t *sreq;
    pscom_request_t *rreq;
    unsigned char *sbuf;
    unsigned char *rbuf;
};

/* One round trip of size bytes; 0, or -1 when it failed. */
static int pp_round(struct pp_client *c, size_t size, unsigned long round)
{
    if (c->o->verify) {
        pp_fill(c->sbuf, size, round);
    }
    /* Send, then receive: the order of bench/mpi_pp's MPI_Send() and
     * MPI_Recv(), so both benchmarks do the same work between a message
     * arriving and the next one leaving. An answer that arrives before
     * the receive is posted is kept as an unexpected message. */
    c->sreq->connection = c->con;
    c->sreq->xheader_len = c->o->xheader;
    c->sreq->data = c->sbuf;
    c->sreq->data_len = size;
    pscom_post_send(c->sreq);
    c->rreq->connection = c->con;
    c->rreq->xheader_len = c->o->xheader;
    c->rreq->data = c->rbuf;
    c->rreq->data_len = size;
    pscom_post_recv(c->rreq);
    pscom_wait(c->sreq);
    pscom_wait(c->rreq);
    if (!pscom_req_successful(c->sreq) || !pscom_req_successful(c->rreq)) {
        fprintf(stderr, "%s: size %zu round %lu failed: send %s, recv %s\n",
                pp_prog, size, round, pscom_req_state_str(c->sreq->state),
                pscom_req_state_str(c->rreq->state));
        return -1;
    }
    if (c->o->verify &&
        (c->rreq->header.data_len != size ||
         pp_check(c->rbuf, size, round) < 0 ||
         memcmp(&c->rreq->xheader, &c->sreq->xheader, c->o->xheader))) {
        fprintf(stderr, "%s: verify failed at size %zu round %lu\n", pp_prog,
                size, round);
        return -1;
    }
    return 0;
}

static void pp_print_header(const struct pp_opts *o, pscom_connection_t *con)
{
    if (o->json) {
        return;
    }
    printf("# pscom_pp to %s via %s, xheader %lu%s", o->peer,
           pscom_con_type_str(con->type), o->xheader,
           o->verify ? ", verify" : "");
    if (o->window) {
        printf(", window %lu: us per message, streaming MB/s", o->window);
    }
    printf("\n");
    printf("%10s %8s %12s %10s  %s\n", "size", "loops", "half-RTT/us", "MB/s",
           "type");
}

static void pp_print_row(const struct pp_opts *o, pscom_connection_t *con,
                         size_t size, unsigned long n, double half_us)
{
    double mbs = half_us > 0 ? (double)size / half_us : 0.0;

    if (o->json) {
        printf("{\"size\": %zu, \"loops\": %lu, \"half_rtt_us\": %.3f, "
               "\"mb_s\": %.2f, \"type\": \"%s\"}\n",
               size, n, half_us, mbs, pscom_con_type_str(con->type));
    } else {
        printf("%10zu %8lu %12.2f %10.2f  %s\n", size, n, half_us, mbs,
               pscom_con_type_str(con->type));
    }
    fflush(stdout);
}

/* --histo: count a round trip of dt seconds into its power-of-two
 * microsecond bucket. */
static void pp_histo_add(unsigned long *histo, double dt)
{
    double us = dt * 1e6;
    unsigned int k = 0;

    while (k + 1 < PP_HISTO_BUCKETS && us >= (double)(1UL << k)) {
        k++;
    }
    histo[k]++;
}

/* One comment line per size: "# histo SIZE: <2us:N <4us:M ...". */
static void pp_histo_print(unsigned long size, const unsigned long *histo)
{
    printf("# histo %lu:", size);
    for (unsigned int k = 0; k < PP_HISTO_BUCKETS; k++) {
        if (histo[k]) {
            printf(" <%luus:%lu", 1UL << k, histo[k]);
        }
    }
    printf("\n");
}

static int pp_run_sizes(struct pp_client *c)
{
    const struct pp_opts *o = c->o;
    unsigned long size = o->minsize;

    pp_print_header(o, c->con);
    for (;;) {
        unsigned long n = pp_rounds(o, size), i;
        unsigned long histo[PP_HISTO_BUCKETS] = {0};
        double t0, t, tr = 0, busy = 0;

        /* One untimed round: the first touch of buffers and any lazy
         * connection setup are not what we measure. */
        if (pp_round(c, size, 0) < 0) {
            return -1;
        }
        t0 = pp_now();
        for (i = 0; i < n; i++) {
            if (o->gap_us) {
                /* Idle outside pscom: the peer's wait goes to sleep
                 * (doorbell) or keeps polling; only the round counts. */
                struct timespec ts = {.tv_sec = (time_t)(o->gap_us / 1000000UL),
                                      .tv_nsec = (long)(o->gap_us % 1000000UL) *
                                                 1000L};
                nanosleep(&ts, NULL);
            }
            if (o->histo || o->gap_us) {
                tr = pp_now();
            }
            if (pp_round(c, size, i + 1) < 0) {
                return -1;
            }
            if (o->gap_us) {
                busy += pp_now() - tr;
            }
            if (o->histo) {
                pp_histo_add(histo, pp_now() - tr);
            }
            if (o->maxtime > 0 && pp_now() - t0 > o->maxtime) {
                i++;
                break;
            }
        }
        t = o->gap_us ? busy : pp_now() - t0;
        pp_print_row(o, c->con, size, i, t / (double)i / 2.0 * 1e6);
        if (o->histo) {
            pp_histo_print(size, histo);
        }
        if (size >= o->maxsize) {
            break;
        }
        /* The next power of two (0, 1, 2, 4 ...), then maxsize itself. */
        {
            unsigned long next = 1;

            while (next <= size) {
                next <<= 1;
            }
            size = next;
        }
        if (size > o->maxsize) {
            size = o->maxsize;
        }
    }
    return 0;
}

/* A zeroed buffer; page-aligned with --valloc (0x0200's option). */
static unsigned char *pp_alloc(const struct pp_opts *o, size_t len)
{
    void *p = NULL;

    if (!o->valloc) {
        return calloc(1, len);
    }
    if (posix_memalign(&p, (size_t)sysconf(_SC_PAGESIZE), len)) {
        return NULL;
    }
    memset(p, 0, len);
    return p;
}

/* Send W messages of kind/size from sbuf and wait for all. */
static int pp_win_send(struct pp_client *c, pscom_request_t **s,
                       unsigned long w, const struct pp_win_xh *xh, size_t size)
{
    for (unsigned long i = 0; i < w; i++) {
        s[i]->connection = c->con;
        s[i]->xheader_len = sizeof(*xh);
        memcpy(&s[i]->xheader, xh, sizeof(*xh));
        s[i]->data = c->sbuf;
        s[i]->data_len = size;
        pscom_post_send(s[i]);
    }
    return pp_win_wait_all(s, w) ? 0 : -1;
}

/* Wait for the server's READY. */
static int pp_win_ready(struct pp_client *c, pscom_request_t *r)
{
    struct pp_win_xh xh;

    r->connection = c->con;
    r->xheader_len = sizeof(xh);
    r->data = NULL;
    r->data_len = 0;
    pscom_post_recv(r);
    pscom_wait(r);
    return pscom_req_successful(r) && pp_win_kind(r, &xh) == PP_WIN_READY ? 0
                                                                          : -1;
}

/* One size of --window: n rounds of W messages. */
static int pp_win_size(struct pp_client *c, pscom_request_t **s,
                       pscom_request_t *r, size_t size)
{
    const struct pp_opts *o = c->o;
    unsigned long w = o->window;
    unsigned long n = pp_rounds(o, size * w), i;
    struct pp_win_xh xh = {.magic = PP_WIN_MAGIC,
                           .kind = PP_WIN_START,
                           .size = (uint32_t)size,
                           .window = (uint32_t)w,
                           .verify = (uint32_t)o->verify};
    double t0, t;

    if (pp_win_send(c, s, 1, &xh, 0) < 0 || pp_win_ready(c, r) < 0) {
        return -1;
    }
    xh.kind = PP_WIN_DATA;
    /* One untimed window, as the ping-pong's untimed round: first
     * touches and a transport's lazy set-up are not what we measure. */
    xh.window = 0;
    if (o->verify) {
        pp_fill(c->sbuf, size, 0);
    }
    if (pp_win_send(c, s, w, &xh, size) < 0 || pp_win_ready(c, r) < 0) {
        return -1;
    }
    t0 = pp_now();
    for (i = 0; i < n; i++) {
        xh.window = (uint32_t)(i + 1);
        if (o->verify) {
            pp_fill(c->sbuf, size, i + 1);
        }
        if (pp_win_send(c, s, w, &xh, size) < 0 || pp_win_ready(c, r) < 0) {
            fprintf(stderr, "%s: window of size %zu round %lu failed\n",
                    pp_prog, size, i);
            return -1;
        }
        if (o->maxtime > 0 && pp_now() - t0 > o->maxtime) {
            i++;
            break;
        }
    }
    t = pp_now() - t0;
    xh.kind = PP_WIN_STOP;
    if (pp_win_send(c, s, w, &xh, 0) < 0) {
        return -1;
    }
    /* The "half-RTT" column: microseconds per message. */
    pp_print_row(o, c->con, size, i * w, t / (double)(i * w) * 1e6);
    return 0;
}

static int pp_run_window(struct pp_client *c)
{
    const struct pp_opts *o = c->o;
    unsigned long w = o->window, size = o->minsize;
    pscom_request_t **s = calloc(w, sizeof(*s));
    pscom_request_t *r = pscom_request_create(sizeof(struct pp_win_xh), 0);
    int rc = -1;

    if (!s || !r) {
        goto out;
    }
    for (unsigned long i = 0; i < w; i++) {
        if (!(s[i] = pscom_request_create(sizeof(struct pp_win_xh), 0))) {
            goto out;
        }
    }
    pp_print_header(o, c->con);
    for (;;) {
        if (pp_win_size(c, s, r, size) < 0) {
            goto out;
        }
        if (size >= o->maxsize) {
            break;
        }
        size = size ? size * 2 : 1;
        if (size > o->maxsize) {
            size = o->maxsize;
        }
    }
    rc = 0;
out:
    for (unsigned long i = 0; s && i < w; i++) {
        if (s[i]) {
            pscom_request_free(s[i]);
        }
    }
    if (r) {
        pscom_request_free(r);
    }
    free(s);
    return rc;
}

static int pp_client(const struct pp_opts *o)
{
    struct pp_client c = {.o = o};
    pscom_socket_t *sock;
    pscom_err_t err;
    int nodeid, port, rc = 1;

    pp_resolve(o->peer, &nodeid, &port);
    sock = pscom_open_socket(0, 0);
    if (!sock) {
        fprintf(stderr, "%s: pscom_open_socket failed\n", pp_prog);
        return 1;
    }
    c.con = pscom_open_connection(sock);
    c.sreq = pscom_request_create(o->xheader, 0);
    c.rreq = pscom_request_create(o->xheader, 0);
    c.sbuf = pp_alloc(o, o->maxsize ? o->maxsize : 1);
    /* One buffer for both directions, as bench/mpi_pp uses (its
     * MPI_Send() and MPI_Recv() share one): a second buffer made 1-2 KiB
     * round trips measurably slower (doc/performance.md), likely the L1
     * lines it adds. Sharing is safe: the echo starts only
     * after the server has our whole message, so the send has read the
     * buffer before the answer lands in it. --verify keeps a second
     * buffer, so that an answer that never arrived cannot pass as the
     * data we sent. */
    c.rbuf = o->verify ? pp_alloc(o, o->maxsize ? o->maxsize : 1) : c.sbuf;
    if (!c.con || !c.sreq || !c.rreq || !c.sbuf || !c.rbuf) {
        fprintf(stderr, "%s: out of memory\n", pp_prog);
        goto out;
    }
    for (unsigned long i = 0; i < o->xheader; i++) {
        ((unsigned char *)&c.sreq->xheader)[i] = (unsigned char)(i * 3 + 1);
    }
    err = pscom_connect(c.con, nodeid, port);
    if (err != PSCOM_SUCCESS) {
        fprintf(stderr, "%s: connect to %s: %s\n", pp_prog, o->peer,
                pscom_err_str(err));
        goto out;
    }
    if ((o->window ? pp_run_window(&c) : pp_run_sizes(&c)) == 0) {
        rc = 0;
    }
    if (rc == 0 && o->linger > 0) {
        /* Idle but connected, polling as an application waiting in
         * pscom would (the transports' idle work runs). */
        double end = pp_now() + o->linger;

        printf("lingering\n");
        fflush(stdout);
        while (pp_now() < end) {
            pscom_test_any();
        }
    }
out:
    if (c.sreq) {
        pscom_request_free(c.sreq);
    }
    if (c.rreq) {
        pscom_request_free(c.rreq);
    }
    if (c.rbuf != c.sbuf) {
        free(c.rbuf);
    }
    free(c.sbuf);
    /* Closing the socket closes the connection: the server's EOF. */
    pscom_close_socket(sock);
    return rc;
}

int main(int argc, char **argv)
{
    struct pp_opts o;
    pscom_err_t err;

    pp_parse_args(argc, argv, &o);
    err = pscom_init(PSCOM_VERSION);
    if (err != PSCOM_SUCCESS) {
        fprintf(stderr, "%s: pscom_init: %s\n", pp_prog, pscom_err_str(err));
        return 1;
    }
    return o.listen ? pp_server(&o) : pp_client(&o);
}
