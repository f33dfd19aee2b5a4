/*
 * susp_stream -- numbered messages in both directions over one or more
 * connections, for the suspend/resume tests: every message must arrive
 * exactly once and in order, with intact data, however often the
 * connections are suspended and resumed underneath.
 *
 *   susp_stream -l [options]            listen; prints "port N"
 *   susp_stream -c HOST:PORT [options]  connect
 * options:
 *   -n COUNT    messages per direction and connection (default 2000)
 *   -m CONNS    connections (default 1)
 *   -L BYTES    size of every 8th message (default 131072)
 *   -a K        after K messages on connection 0, suspend it with
 *               pscom_shutdown_connection(), check that sends queue,
 *               resume with pscom_resume_connection()
 *   -w FILE     when everything is received, print "received" and wait
 *               for FILE to exist before the final exchange and close
 *   -h N        send no more than N messages until N were sent and
 *               received on each connection, print "halfway", then wait
 *               for the file -g names (if given) without calling pscom
 *               (an application that computes); so the peer gets the
 *               second half only after that
 *   -g FILE     see -h
 *   -d LAG      never more than LAG messages sent beyond those received
 *               (a peer that pauses at -h N then still has messages of
 *               ours on their way to it, however fast we run)
 *   -s          at halfway keep calling pscom while waiting for the -g
 *               file (drain, then idle: the connection gives its bulk
 *               area back)
 *   -k          a connection error is printed ("conerror CON: ERR") and
 *               the program goes on (its requests fail: it ends with
 *               FAIL when it looks at them); default: FAIL at once
 * Prints "done ok type=T" (T: the transport of connection 0 at the end)
 * and exits 0, or "FAIL: why" and exits 1.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pscom.h"

#define WIN 8
#define RWIN 4

struct msg_hdr {
    uint64_t seq;
    uint32_t len;
    uint32_t fin;
};

struct stream {
    pscom_connection_t *con;
    pscom_request_t *sreq[WIN];
    pscom_request_t *rreq[RWIN];
    unsigned int s_head, s_used; /* send ring */
    unsigned int r_head;         /* receive ring: next to complete */
    uint64_t sent, recvd;
    int fin_sent, fin_recvd;
};

static struct stream *streams;
static unsigned int nstreams, accepted;
static int keep_going;
static uint64_t count = 2000;
static uint32_t large = 131072;
static uint64_t send_limit = UINT64_MAX; /* -h: halfway until it passed */
static uint64_t send_lag = UINT64_MAX;   /* -d: sent - recvd at most */

static void fail(const char *why, uint64_t a, uint64_t b)
{
    printf("FAIL: %s (%llu, %llu)\n", why, (unsigned long long)a,
           (unsigned long long)b);
    fflush(stdout);
    exit(1);
}

static uint32_t msg_len(uint64_t seq)
{
    return seq % 8 == 7 ? large : (uint32_t)(seq % 64);
}

static void fill(char *buf, uint64_t seq, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        buf[i] = (char)((seq + i) & 0xff);
    }
}

static void post_recv(struct stream *st, pscom_request_t *r)
{
    r->xheader_len = sizeof(struct msg_hdr);
    r->data_len = large;
    r->connection = st->con;
    pscom_post_recv(r);
}

static void stream_init(struct stream *st, pscom_connection_t *con)
{
    st->con = con;
    for (int i = 0; i < WIN; i++) {
        st->sreq[i] = pscom_request_create(sizeof(struct msg_hdr), 0);
        st->sreq[i]->data = malloc(large);
    }
    for (int i = 0; i < RWIN; i++) {
        st->rreq[i] = pscom_request_create(sizeof(struct msg_hdr), 0);
        st->rreq[i]->data = malloc(large);
        post_recv(st, st->rreq[i]);
    }
}

static void post_send(struct stream *st, uint64_t seq, int fin)
{
    unsigned int slot = (st->s_head + st->s_used) % WIN;
    pscom_request_t *r = st->sreq[slot];
    struct msg_hdr h = {seq, fin ? 0 : msg_len(seq), (uint32_t)fin};

    memcpy(&r->xheader, &h, sizeof(h));
    r->xheader_len = sizeof(h);
    r->data_len = h.len;
    fill(r->data, seq, h.len);
    r->connection = st->con;
    pscom_post_send(r);
    st->s_used++;
}

/* One pass over a stream; 1 if anything happened. */
static int stream_step(struct stream *st)
{
    int any = 0;

    while (st->s_used && pscom_req_is_done(st->sreq[st->s_head])) {
        if (!pscom_req_successful(st->sreq[st->s_head])) {
            fail("send failed", st->sent, 0);
        }
        st->s_head = (st->s_head + 1) % WIN;
        st->s_used--;
        any = 1;
    }
    while (st->s_used < WIN && st->sent < count && st->sent < send_limit &&
           (send_lag == UINT64_MAX || st->sent < st->recvd + send_lag)) {
        post_send(st, st->sent++, 0);
        any = 1;
    }
    while (!st->fin_recvd && pscom_req_is_done(st->rreq[st->r_head])) {
        pscom_request_t *r = st->rreq[st->r_head];
        struct msg_hdr h;

        if (!pscom_req_successful(r)) {
            fail("receive failed", st->recvd, r->state);
        }
        memcpy(&h, &r->xheader, sizeof(h));
        if (h.fin) {
            if (st->recvd != count) {
                fail("fin before all messages", st->recvd, count);
            }
            st->fin_recvd = 1;
        } else {
            if (h.seq != st->recvd) {
                fail("out of order, lost or duplicated", h.seq, st->recvd);
            }
            if (h.len != msg_len(h.seq) || r->header.data_len != h.len) {
                fail("bad length", h.len, r->header.data_len);
            }
            for (uint32_t i = 0; i < h.len; i++) {
                if (((char *)r->data)[i] != (char)((h.seq + i) & 0xff)) {
                    fail("bad data", h.seq, i);
                }
            }
            st->recvd++;
        }
        if (!st->fin_recvd) {
            post_recv(st, r);
        }
        st->r_head = (st->r_head + 1) % RWIN;
        any = 1;
    }
    return any;
}

/* serve: keep the library going meanwhile; else the application
 * "computes" without calling pscom at all. */
static void wait_file(const char *path, int serve)
{
    while (access(path, F_OK) != 0) {
        if (!serve || !pscom_test_any()) {
            usleep(1000);
        }
    }
}

/* Suspend connection 0 through the API, with sends queued behind. */
static void api_cycle(struct stream *st)
{
    pscom_err_t rc = pscom_shutdown_connection(st->con);

    if (rc != PSCOM_SUCCESS) {
        fail("pscom_shutdown_connection", (uint64_t)-rc, 0);
    }
    /* What was written before the SUSPEND is complete: make room. Sends
     * the transport had not started yet (a busy peer, a full socket
     * buffer) stay queued behind the SUSPEND: they wait like new ones. */
    while (st->s_used && pscom_req_is_done(st->sreq[st->s_head])) {
        st->s_head = (st->s_head + 1) % WIN;
        st->s_used--;
    }
    printf("api suspended state=%s type=%s\n",
           pscom_con_state_str(st->con->state),
           pscom_con_type_str(st->con->type));
    if (st->con->state != PSCOM_CON_STATE_SUSPENDED ||
        st->con->type != PSCOM_CON_TYPE_SUSPENDED) {
        fail("not suspended after pscom_shutdown_connection", 0, 0);
    }
    /* Sends are accepted and wait; nothing can carry them. */
    while (st->s_used < WIN && st->sent < count) {
        post_send(st, st->sent++, 0);
    }
    while (pscom_test_any()) {
    }
    for (unsigned int i = 0; i < st->s_used; i++) {
        if (pscom_req_is_done(st->sreq[(st->s_head + i) % WIN])) {
            fail("a send completed while suspended", i, 0);
        }
    }
    printf("api queued %u\n", st->s_used);
    rc = pscom_resume_connection(st->con);
    if (rc != PSCOM_SUCCESS) {
        fail("pscom_resume_connection", (uint64_t)-rc, 0);
    }
    fflush(stdout);
}

static void on_accept(pscom_connection_t *con)
{
    if (accepted < nstreams) {
        streams[accepted++].con = con;
    }
}

static void on_error(pscom_connection_t *con, pscom_op_t op, pscom_err_t err)
{
    (void)op;
    for (unsigned int i = 0; i < nstreams; i++) {
        if (streams[i].con == con && streams[i].recvd == count &&
            streams[i].fin_sent && err == PSCOM_ERR_EOF) {
            return; /* the peer is done and closed first */
        }
    }
    if (keep_going) {
        printf("conerror %s: %s\n", pscom_con_str(con), pscom_err_str(err));
        fflush(stdout);
        return;
    }
    printf("FAIL: connection error on %s: %s\n", pscom_con_str(con),
           pscom_err_str(err));
    fflush(stdout);
    exit(1);
}

int main(int argc, char **argv)
{
    const char *connect_to = NULL, *wait_path = NULL, *half_path = NULL;
    int listen_mode = 0, opt;
    uint64_t api_at = 0, halfway = 0;
    int half_serve = 0;
    int api_done = 0, half_done = 0, received_said = 0;
    pscom_socket_t *sock;

    nstreams = 1;
    while ((opt = getopt(argc, argv, "lc:n:m:L:a:w:h:g:ksd:")) != -1) {
        switch (opt) {
        case 'l':
            listen_mode = 1;
            break;
        case 'c':
            connect_to = optarg;
            break;
        case 'n':
            count = strtoull(optarg, NULL, 0);
            break;
        case 'm':
            nstreams = (unsigned)strtoul(optarg, NULL, 0);
            break;
        case 'L':
            large = (uint32_t)strtoul(optarg, NULL, 0);
            break;
        case 'a':
            api_at = strtoull(optarg, NULL, 0);
            break;
        case 'w':
            wait_path = optarg;
            break;
        case 'h':
            halfway = strtoull(optarg, NULL, 0);
            send_limit = halfway ? halfway : UINT64_MAX;
            break;
        case 'g':
            half_path = optarg;
            break;
        case 'd':
            send_lag = strtoull(optarg, NULL, 0);
            break;
        case 'k':
            keep_going = 1;
            break;
        case 's':
            half_serve = 1;
            break;
        default:
            fprintf(stderr, "usage: see the comment in susp_stream.c\n");
            return 2;
        }
    }
    if (listen_mode == !!connect_to || nstreams < 1 || large < 64) {
        fprintf(stderr, "susp_stream: -l or -c HOST:PORT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    streams = calloc(nstreams, sizeof(*streams));
    pscom_init(PSCOM_VERSION);
    sock = pscom_open_socket(0, 0);
    sock->ops.con_accept = on_accept;
    sock->ops.con_error = on_error;
    if (listen_mode) {
        if (pscom_listen(sock, PSCOM_ANYPORT) != PSCOM_SUCCESS) {
            fail("listen", 0, 0);
        }
        printf("port %d\n", pscom_get_portno(sock));
        while (accepted < nstreams) {
            pscom_wait_any();
        }
    } else {
        for (unsigned int i = 0; i < nstreams; i++) {
            pscom_connection_t *c = pscom_open_connection(sock);
            if (pscom_connect_socket_str(c, connect_to) != PSCOM_SUCCESS) {
                fail("connect", i, 0);
            }
            streams[i].con = c;
        }
    }
    for (unsigned int i = 0; i < nstreams; i++) {
        stream_init(&streams[i], streams[i].con);
    }
    printf("connected type=%s\n", pscom_con_type_str(streams[0].con->type));

    for (;;) {
        int any = 0, all_in = 1, all_half = 1, all_fin = 1;

        for (unsigned int i = 0; i < nstreams; i++) {
            struct stream *st = &streams[i];
            any |= stream_step(st);
            all_in &= st->recvd == count && st->sent == count &&
                      st->s_used == 0;
            all_half &= st->recvd >= halfway && st->sent >= halfway;
            all_fin &= st->fin_recvd && st->fin_sent && st->s_used == 0;
        }
        if (api_at && !api_done && streams[0].sent >= api_at) {
            api_done = 1;
            api_cycle(&streams[0]);
            continue;
        }
        if (halfway && !half_done && all_half) {
            half_done = 1;
            printf("halfway\n");
            if (half_path) {
                wait_file(half_path, half_serve);
            }
            /* Only now: the second half is all sent after the pause. */
            send_limit = UINT64_MAX;
            continue;
        }
        if (all_in && !received_said) {
            received_said = 1;
            printf("received type=%s\n",
                   pscom_con_type_str(streams[0].con->type));
            if (wait_path) {
                wait_file(wait_path, 1);
            }
            for (unsigned int i = 0; i < nstreams; i++) {
                post_send(&streams[i], count, 1);
                streams[i].fin_sent = 1;
            }
            continue;
        }
        if (all_fin) {
            break;
        }
        if (!any) {
            pscom_wait_any();
        }
    }
    printf("done ok type=%s\n", pscom_con_type_str(streams[0].con->type));
    for (unsigned int i = 0; i < nstreams; i++) {
        pscom_close_connection(streams[i].con);
    }
    pscom_close_socket(sock);
    return 0;
}
