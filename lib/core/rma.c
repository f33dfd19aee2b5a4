/*
 * rma.c -- pscom_post_rma_write() / pscom_post_rma_read() over any
 * transport, built from core messages:
 *   RMA_WRITE        xheader rma_write {dest}, data: the passive side
 *                    receives the data straight into dest.
 *   RMA_READ         xheader rma_read {id, src, src_len}, no data: the
 *                    passive side answers with
 *   RMA_READ_ANSWER  xheader rma_read_answer {id}, data: src_len bytes
 *                    of src; it completes the reading request id.
 * The passive side needs no posted request: it makes progress and the
 * parser hands these messages to an internal request (rma_passive_req).
 * Memory is the caller's promise, as in 0x0200: nothing checks dest/src.
 */
#include <config.h>

#include <string.h>

#include "pscom_priv.h"

/* Passive read: send the answer once the request is in (a done hook, so
 * never from inside the transport callback that parsed it). */
static void rma_read_answer(struct pscom_req *req)
{
    struct pscom_con *con = req->con;
    pscom_xheader_rma_read_t rd = req->pub.xheader.rma_read;
    pscom_xheader_rma_read_answer_t an = {.id = rd.id};

    if (!pscom_req_state_successful(req->pub.state) ||
        (con->pub.state & PSCOM_CON_STATE_CLOSED)) {
        return;
    }
    pscom_send_internal(con, PSCOM_MSGTYPE_RMA_READ_ANSWER, &an, sizeof(an),
                        rd.src, rd.src_len);
}

struct pscom_req *pscom_rma_passive_req(struct pscom_con *con,
                                        const pscom_header_net_t *h)
{
    struct pscom_req *req = pscom_req_alloc(sizeof(pscom_xheader_t), 0);
    pscom_xheader_t xh;

    if (!req) {
        return NULL;
    }
    /* The xheader in the parser's buffer may be shorter than the union:
     * pscom_header_check() guaranteed the member used here. */
    memset(&xh, 0, sizeof(xh));
    memcpy(&xh, h->xheader,
           h->xheader_len < sizeof(xh) ? h->xheader_len : sizeof(xh));
    req->flags |= PSCOM_REQ_F_FREE_ON_DONE;
    req->con = con;
    req->pub.socket = &con->sock->pub;
    req->pub.connection = &con->pub;
    req->pub.xheader_len = sizeof(pscom_xheader_t);
    req->pub.state = PSCOM_REQ_STATE_RECV_REQUEST |
                     PSCOM_REQ_STATE_PASSIVE_SIDE | PSCOM_REQ_STATE_POSTED;
    if (h->msg_type == PSCOM_MSGTYPE_RMA_WRITE) {
        req->pub.state |= PSCOM_REQ_STATE_RMA_WRITE_REQUEST;
        req->pub.data = xh.rma_write.dest;
        req->pub.data_len = h->data_len;
    } else {
        req->pub.state |= PSCOM_REQ_STATE_RMA_READ_REQUEST;
        req->done_hook = rma_read_answer;
    }
    return req;
}

void pscom_post_rma_write(pscom_request_t *request)
{
    struct pscom_req *req = pscom_req_of(request);
    struct pscom_con *con = request->connection
                                ? pscom_con_of(request->connection)
                                : NULL;

    pscom_lock();
    req->done_hook = NULL;
    request->xheader_len = sizeof(pscom_xheader_rma_write_t);
    pscom_post_send_internal(req, con, PSCOM_MSGTYPE_RMA_WRITE);
    request->state |= PSCOM_REQ_STATE_RMA_WRITE_REQUEST;
    pscom_unlock();
}

/* The answer to this request: same connection, our id. */
static int rma_answer_match(struct pscom_req *req, struct pscom_con *con,
                            pscom_header_net_t *h)
{
    pscom_xheader_rma_read_answer_t an;

    if (h->msg_type != PSCOM_MSGTYPE_RMA_READ_ANSWER ||
        &con->pub != req->pub.connection) {
        return 0;
    }
    memcpy(&an, h->xheader, sizeof(an));
    return an.id == (void *)req;
}

void pscom_post_rma_read(pscom_request_t *request)
{
    struct pscom_req *req = pscom_req_of(request);
    struct pscom_con *con = request->connection
                                ? pscom_con_of(request->connection)
                                : NULL;
    pscom_xheader_rma_read_t rd;

    pscom_lock();
    req->done_hook = NULL;
    if (!con) {
        DPRINT(1, "pscom: post_rma_read without a connection");
        request->state = PSCOM_REQ_STATE_RMA_READ_REQUEST |
                         PSCOM_REQ_STATE_ERROR;
        pscom_req_complete(req);
        pscom_unlock();
        return;
    }
    rd.id = req;
    rd.src = request->xheader.rma_read.src;
    rd.src_len = request->data_len;
    request->xheader.rma_read = rd;
    /* Post the receive of the answer first: it cannot be overtaken. */
    request->xheader_len = sizeof(pscom_xheader_rma_read_answer_t);
    req->match = rma_answer_match;
    pscom_post_recv_internal(req);
    request->state |= PSCOM_REQ_STATE_RMA_READ_REQUEST;
    pscom_send_internal(con, PSCOM_MSGTYPE_RMA_READ, &rd, sizeof(rd), NULL, 0);
    pscom_unlock();
}
