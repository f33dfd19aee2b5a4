/*
 * group.c -- groups, broadcast over a binomial tree, and a dissemination
 * barrier. Group traffic uses its own message types, so it never matches
 * user receives.
 */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "pscom_priv.h"

struct PSCOM_group {
    struct list_head next; /* sock->groups */
    struct pscom_sock *sock;
    uint32_t id;
    uint32_t rank;
    uint32_t size;
    pscom_connection_t **cons;
};

pscom_group_t *pscom_group_open(pscom_socket_t *socket, uint32_t group_id,
                                uint32_t my_grank, uint32_t group_size,
                                pscom_connection_t **connections)
{
    pscom_group_t *g;

    if (!socket || my_grank >= group_size || !group_size) {
        return NULL;
    }
    g = calloc(1, sizeof(*g));
    if (!g) {
        return NULL;
    }
    g->cons = calloc(group_size, sizeof(*g->cons));
    if (!g->cons) {
        free(g);
        return NULL;
    }
    memcpy(g->cons, connections, group_size * sizeof(*g->cons));
    g->cons[my_grank] = NULL;
    g->sock = pscom_sock_of(socket);
    g->id = group_id;
    g->rank = my_grank;
    g->size = group_size;
    pscom_lock();
    list_add_tail(&g->next, &g->sock->groups);
    pscom_unlock();
    return g;
}

static void group_free(pscom_group_t *g)
{
    list_del(&g->next);
    free(g->cons);
    free(g);
}

void pscom_group_close(pscom_group_t *group)
{
    if (!group) {
        return;
    }
    pscom_lock();
    group_free(group);
    pscom_unlock();
}

void pscom_groups_close_sock(struct pscom_sock *sock)
{
    while (!list_empty(&sock->groups)) {
        group_free(list_entry(sock->groups.next, pscom_group_t, next));
    }
}

static pscom_group_t *group_find(struct pscom_sock *sock, uint32_t id)
{
    struct list_head *pos, *spos;

    list_for_each(spos, &pscom_g.sockets)
    {
        struct pscom_sock *s = list_entry(spos, struct pscom_sock, next);
        if (sock && s != sock) {
            continue;
        }
        list_for_each(pos, &s->groups)
        {
            pscom_group_t *g = list_entry(pos, pscom_group_t, next);
            if (g->id == id) {
                return g;
            }
        }
    }
    return NULL;
}

pscom_group_t *pscom_group_find(pscom_socket_t *socket, uint32_t group_id)
{
    pscom_group_t *g;

    if (!socket) {
        return NULL;
    }
    pscom_lock();
    g = group_find(pscom_sock_of(socket), group_id);
    pscom_unlock();
    return g;
}

uint32_t pscom_group_get_id(pscom_group_t *group)
{
    return group->id;
}

/* ---- broadcast ----------------------------------------------------------- */

static uint32_t vrank(pscom_group_t *g, uint32_t root)
{
    return (g->rank + g->size - root) % g->size;
}

static pscom_connection_t *rank_con(pscom_group_t *g, uint32_t root,
                                    uint32_t vr)
{
    return g->cons[(vr + root) % g->size];
}

/* Send to the children of this rank in the tree rooted at root. */
static void bcast_forward(pscom_group_t *g, uint32_t root, const void *xheader,
                          size_t xlen, const void *data, size_t dlen)
{
    uint32_t vr = vrank(g, root);
    uint32_t mask = 1;

    /* Children: vr + mask for every mask below vr's lowest set bit. */
    while (mask < g->size && !(vr & mask)) {
        mask <<= 1;
    }
    for (mask >>= 1; mask; mask >>= 1) {
        if (vr + mask < g->size) {
            pscom_connection_t *c = rank_con(g, root, vr + mask);
            if (c) {
                pscom_send_internal(pscom_con_of(c), PSCOM_MSGTYPE_BCAST,
                                    xheader, xlen, data, dlen);
            }
        }
    }
}

static int bcast_match(struct pscom_req *req, struct pscom_con *con,
                       pscom_header_net_t *h)
{
    const pscom_xheader_bcast_t *bh = (const void *)h->xheader;
    const pscom_xheader_bcast_t *mine = &req->pub.xheader.bcast;

    return h->msg_type == PSCOM_MSGTYPE_BCAST &&
           &con->pub == req->pub.connection && bh->group_id == mine->group_id &&
           bh->bcast_root == mine->bcast_root;
}

static void bcast_recv_done(struct pscom_req *req)
{
    pscom_group_t *g = req->hook_priv;

    req->match = NULL;
    req->done_hook = NULL;
    if (!pscom_req_successful(&req->pub)) {
        return;
    }
    bcast_forward(g, req->pub.xheader.bcast.bcast_root, &req->pub.xheader,
                  pscom_req_rx_xlen(req), req->pub.data, req->rx_data);
}

void pscom_post_bcast(pscom_request_t *request)
{
    struct pscom_req *req = pscom_req_of(request);
    pscom_xheader_bcast_t *bh = &request->xheader.bcast;
    pscom_group_t *g;
    uint32_t vr;

    pscom_lock();
    g = group_find(request->socket ? pscom_sock_of(request->socket) : NULL,
                   bh->group_id);
    if (!g || bh->bcast_root >= g->size || request->xheader_len < sizeof(*bh)) {
        DPRINT(1, "pscom: post_bcast: unknown group %u or bad root/xheader",
               bh->group_id);
        request->state = PSCOM_REQ_STATE_ERROR;
        pscom_req_complete(req);
        pscom_unlock();
        return;
    }
    vr = vrank(g, bh->bcast_root);
    req->done_hook = NULL;
    if (vr == 0) {
        /* Root: the children get copies, so the request is done now. */
        request->state = PSCOM_REQ_STATE_SEND_REQUEST | PSCOM_REQ_STATE_POSTED;
        request->socket = &g->sock->pub;
        bcast_forward(g, bh->bcast_root, &request->xheader,
                      request->xheader_len, request->data, request->data_len);
        pscom_req_complete(req);
    } else {
        uint32_t mask = 1;
        while (!(vr & mask)) {
            mask <<= 1;
        }
        request->connection = rank_con(g, bh->bcast_root, vr - mask);
        req->match = bcast_match;
        req->done_hook = bcast_recv_done;
        req->hook_priv = g;
        pscom_post_recv_internal(req);
    }
    pscom_unlock();
}

void pscom_bcast(pscom_group_t *group, unsigned int bcast_root, void *xheader,
                 unsigned int xheader_len, void *data, unsigned int data_len)
{
    size_t hl = sizeof(pscom_xheader_bcast_t);
    pscom_request_t *r = pscom_request_create((unsigned)(hl + xheader_len), 0);

    if (!r) {
        return;
    }
    r->xheader.bcast.group_id = group->id;
    r->xheader.bcast.bcast_root = bcast_root;
    r->xheader_len = hl + xheader_len;
    if (xheader_len) { /* xheader may be NULL when there is none */
        memcpy(r->xheader.bcast.user, xheader, xheader_len);
    }
    r->data = data;
    r->data_len = data_len;
    r->socket = &group->sock->pub;
    pscom_post_bcast(r);
    pscom_wait(r);
    if (group->rank != bcast_root) {
        if (xheader_len) {
            memcpy(xheader, r->xheader.bcast.user, xheader_len);
        }
    }
    pscom_request_free(r);
}

/* ---- barrier ------------------------------------------------------------- */

static int barrier_match(struct pscom_req *req, struct pscom_con *con,
                         pscom_header_net_t *h)
{
    const pscom_xheader_bcast_t *bh = (const void *)h->xheader;
    const pscom_xheader_bcast_t *mine = &req->pub.xheader.bcast;

    return h->msg_type == PSCOM_MSGTYPE_BARRIER &&
           &con->pub == req->pub.connection && bh->group_id == mine->group_id &&
           bh->bcast_root == mine->bcast_root;
}

void pscom_barrier(pscom_group_t *group)
{
    pscom_xheader_bcast_t bh = {.group_id = group->id};
    uint32_t n = group->size, r = group->rank;
    struct pscom_req *req;

    pscom_lock();
    req = pscom_req_alloc(sizeof(bh), 0);
    if (!req) {
        pscom_unlock();
        return;
    }
    /* Dissemination: in round k send to r + 2^k, receive from r - 2^k;
     * after ceil(log2 n) rounds everybody has heard from everybody. Per
     * connection order keeps consecutive barriers apart. */
    for (uint32_t k = 0, d = 1; d < n; k++, d <<= 1) {
        pscom_connection_t *to = group->cons[(r + d) % n];
        pscom_connection_t *from = group->cons[(r + n - d) % n];

        bh.bcast_root = k;
        pscom_send_internal(pscom_con_of(to), PSCOM_MSGTYPE_BARRIER, &bh,
                            sizeof(bh), NULL, 0);
        req->pub.connection = from;
        req->pub.xheader_len = sizeof(bh);
        req->pub.xheader.bcast = bh;
        req->pub.data_len = 0;
        req->match = barrier_match;
        pscom_post_recv_internal(req);
        pscom_progress_until(&req->pub.state, PSCOM_REQ_STATE_DONE);
        if (!pscom_req_successful(&req->pub)) {
            DPRINT(1, "pscom: barrier of group %u failed", group->id);
            break;
        }
    }
    pscom_req_release(req);
    pscom_unlock();
}
