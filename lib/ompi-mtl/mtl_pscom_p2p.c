/*
 * mtl_pscom_p2p.c -- send, receive, cancel, completion, synchronous-send
 * acks.
 *
 * A message is one pscom message: the envelope (struct mtl_pscom_env) is
 * the xheader, the packed data the payload. Receives are posted on the
 * socket (any connection) and match through recv_accept on the envelope;
 * libpscom keeps per-connection order and the messages nobody has asked
 * for yet (unexpected), which gives MPI's non-overtaking rule per
 * (source, communicator). A synchronous send completes when the send is
 * done and the receiver's ack (sent when its receive matched) arrived.
 */
#include "mtl_pscom.h"

#include <stdlib.h>
#include <string.h>

#include "ompi/communicator/communicator.h"
#include "ompi/mca/mtl/base/mtl_base_datatype.h"
#include "opal/runtime/opal_progress.h"

void ompi_mtl_pscom_send_ack(pscom_connection_t *con,
                             const struct mtl_pscom_env *env)
{
    struct mtl_pscom_env ack;

    memset(&ack, 0, sizeof(ack));
    ack.flags = MTL_PSCOM_F_ACK;
    ack.sync = env->sync;
    pscom_send(con, &ack, sizeof(ack), NULL, 0);
}

/* A pooled pscom request bound to mreq, or NULL. */
static pscom_request_t *attach_preq(struct mtl_pscom_req *mreq)
{
    pscom_request_t *preq = ompi_mtl_pscom_req_get();

    if (preq) {
        mreq->preq = preq;
        preq->user->mreq = mreq;
    }
    return preq;
}

/* Free the pack/unpack buffer if it is ours. */
static void drop_buf(struct mtl_pscom_req *mreq)
{
    if (mreq->free_buf) {
        free(mreq->buf);
        mreq->free_buf = false;
    }
}

/* ---- sending ------------------------------------------------------------ */

static void send_io_done(pscom_request_t *preq)
{
    struct mtl_pscom_req *mreq = preq->user->mreq;

    if (!pscom_req_successful(preq)) {
        mreq->error = OMPI_ERROR;
    }
    if (--mreq->pending == 0) {
        ompi_mtl_pscom_done(mreq);
    }
}

/* Acks come only for our synchronous sends: with one thread, the
 * default_recv that catches them is installed only while one is out, so
 * that no other message pays for the look at its envelope. */
static void sync_begin(void)
{
    struct mtl_pscom_globals *g = &ompi_mtl_pscom_g;

    if (g->single && g->sync_out++ == 0) {
        g->sock->ops.default_recv = ompi_mtl_pscom_default_recv;
    }
}

static void sync_end(void)
{
    struct mtl_pscom_globals *g = &ompi_mtl_pscom_g;

    if (g->single && --g->sync_out == 0) {
        g->sock->ops.default_recv = NULL;
    }
}

static void ack_io_done(pscom_request_t *preq)
{
    struct mtl_pscom_req *mreq = (struct mtl_pscom_req *)(uintptr_t)
                                     preq->xheader.user.sync;

    pscom_request_free(preq);
    sync_end();
    if (--mreq->pending == 0) {
        ompi_mtl_pscom_done(mreq);
    }
}

pscom_request_t *ompi_mtl_pscom_default_recv(pscom_connection_t *con,
                                             pscom_header_net_t *h)
{
    struct mtl_pscom_env env;
    pscom_request_t *preq;

    if (!ompi_mtl_pscom_env_of(h, &env) || !(env.flags & MTL_PSCOM_F_ACK)) {
        return NULL; /* an MPI message: match posted receives */
    }
    preq = pscom_request_create(sizeof(struct mtl_pscom_env),
                                sizeof(struct PSCOM_req_user));
    if (!preq) {
        return NULL;
    }
    preq->xheader_len = sizeof(struct mtl_pscom_env);
    preq->data = NULL;
    preq->data_len = 0;
    preq->ops.io_done = ack_io_done;
    return preq;
}

/* The packed data of a send (the user's buffer when contiguous, else a
 * copy with *free_buf set). OMPI error when it cannot go in one message. */
static int pack_send(struct opal_convertor_t *convertor, void **buf,
                     size_t *len, bool *free_buf)
{
    int rc = ompi_mtl_datatype_pack(convertor, buf, len, free_buf);

    if (rc != OMPI_SUCCESS) {
        return rc;
    }
    if (*len > UINT32_MAX) {
        /* The pscom message header has a 32-bit length. */
        opal_output(0, "mtl pscom: messages of 4 GiB and more are not "
                       "supported");
        if (*free_buf) {
            free(*buf);
            *free_buf = false;
        }
        return OMPI_ERR_NOT_SUPPORTED;
    }
    return OMPI_SUCCESS;
}

/* The envelope of a message of ours (not synchronous). */
static void fill_env(struct mtl_pscom_env *env,
                     const struct ompi_communicator_t *comm, int tag)
{
    env->ctx = comm->c_contextid;
    env->src = comm->c_my_rank;
    env->tag = tag;
    env->flags = 0;
    env->sync = 0;
}

/* A send request's envelope, data and connection (not synchronous). */
static void prepare_send(pscom_request_t *preq, pscom_connection_t *con,
                         struct ompi_communicator_t *comm, int tag, void *buf,
                         size_t len)
{
    fill_env(&preq->xheader.user, comm, tag);
    preq->connection = con;
    preq->data = buf;
    preq->data_len = len;
}

/* Post mreq's packed message (mreq->buf, mreq->buf_len) on a pooled
 * request; it completes through send_io_done (and the ack when
 * synchronous). OMPI_SUCCESS or OMPI_ERR_OUT_OF_RESOURCE. */
static int post_packed(struct mtl_pscom_req *mreq, pscom_connection_t *con,
                       struct ompi_communicator_t *comm, int tag,
                       mca_pml_base_send_mode_t mode)
{
    pscom_request_t *preq = attach_preq(mreq);
    struct mtl_pscom_env *env;

    if (!preq) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    prepare_send(preq, con, comm, tag, mreq->buf, mreq->buf_len);
    mreq->pending = 1;
    if (mode == MCA_PML_BASE_SEND_SYNCHRONOUS) {
        env = &preq->xheader.user;
        env->flags = MTL_PSCOM_F_SYNC;
        env->sync = (uint64_t)(uintptr_t)mreq;
        mreq->pending = 2;
        sync_begin();
    }
    preq->ops.io_done = send_io_done;
    pscom_post_send(preq);
    return OMPI_SUCCESS;
}

int ompi_mtl_pscom_isend(struct mca_mtl_base_module_t *mtl,
                         struct ompi_communicator_t *comm, int dest, int tag,
                         struct opal_convertor_t *convertor,
                         mca_pml_base_send_mode_t mode, bool blocking,
                         mca_mtl_request_t *mtl_request)
{
    struct mtl_pscom_req *mreq = (struct mtl_pscom_req *)mtl_request;
    pscom_connection_t *con = ompi_mtl_pscom_peer(comm, dest);
    size_t len = 0;
    int rc;

    if (!con) {
        return OMPI_ERR_UNREACH;
    }
    mreq->kind = MTL_PSCOM_SEND;
    mreq->error = 0;
    mreq->convertor = NULL;
    mreq->free_buf = false;
    rc = pack_send(convertor, &mreq->buf, &len, &mreq->free_buf);
    if (rc != OMPI_SUCCESS) {
        return rc;
    }
    mreq->buf_len = len;
    rc = post_packed(mreq, con, comm, tag, mode);
    if (rc != OMPI_SUCCESS) {
        drop_buf(mreq);
    }
    return rc;
}

static void blocking_done(struct mca_mtl_request_t *r)
{
    /* The flag that send() polls (the ompi_req field is free there). It
     * may be set by another thread's progress: release, so that the
     * poller sees the error field written before it. */
    __atomic_store_n(&r->ompi_req, (struct ompi_request_t *)(uintptr_t)1,
                     __ATOMIC_RELEASE);
}

/* The io_done of a blocking send's request: the send returned already
 * (the data had left, PSCOM_REQ_STATE_IO_DONE); only the request is
 * left to give back. */
static void pool_io_done(pscom_request_t *preq)
{
    ompi_mtl_pscom_req_put(preq);
}

/* A blocking send's wait for its request on the stack (completion
 * blocking_done()); returns the send's error. */
static int wait_blocking(struct mtl_pscom_req *mreq)
{
    while (!__atomic_load_n(&mreq->super.ompi_req, __ATOMIC_ACQUIRE)) {
        opal_progress();
    }
    return mreq->error;
}

/* With MPI threads: post the packed message (the caller frees it) and
 * wait until it is written. Completions may run in any thread. */
static int send_posted(pscom_connection_t *con,
                       struct ompi_communicator_t *comm, int tag, void *buf,
                       size_t len)
{
    struct mtl_pscom_req mreq;
    int rc;

    memset(&mreq, 0, sizeof(mreq));
    mreq.super.completion_callback = blocking_done;
    mreq.kind = MTL_PSCOM_SEND;
    mreq.buf = buf;
    mreq.buf_len = len;
    rc = post_packed(&mreq, con, comm, tag, MCA_PML_BASE_SEND_STANDARD);
    return rc != OMPI_SUCCESS ? rc : wait_blocking(&mreq);
}

/* MPI_Send in standard or ready mode. A small message that the
 * connection's transport takes whole at once (a memory transport's ring
 * with room, pscom_send_try()) is sent without a request: the send is
 * over when the call returns. Otherwise, when only this thread runs
 * libpscom (ompi_mtl_pscom_g.single: the request's state is read here
 * unlocked), the message is posted and the send returns as soon as
 * libpscom wrote it, without a completion in libpscom's done queue and
 * our own: the request goes back to the pool from its io_done at the
 * next progress step. With MPI threads, send_posted(). Synchronous
 * sends wait for the ack: ompi_mtl_pscom_isend(). */
static int send_eager(struct ompi_communicator_t *comm, int dest, int tag,
                      struct opal_convertor_t *convertor)
{
    pscom_connection_t *con = ompi_mtl_pscom_peer(comm, dest);
    struct mtl_pscom_env env;
    pscom_request_t *preq;
    void *buf = NULL;
    size_t len = 0;
    bool free_buf = false;
    int rc;

    if (!con) {
        return OMPI_ERR_UNREACH;
    }
    rc = pack_send(convertor, &buf, &len, &free_buf);
    if (rc != OMPI_SUCCESS) {
        return rc;
    }
    fill_env(&env, comm, tag);
    if (pscom_send_try(con, &env, sizeof(env), buf, (unsigned int)len)) {
        goto out_free_buf;
    }
    if (!ompi_mtl_pscom_g.single) {
        rc = send_posted(con, comm, tag, buf, len);
        goto out_free_buf;
    }
    preq = ompi_mtl_pscom_req_get();
    if (!preq) {
        rc = OMPI_ERR_OUT_OF_RESOURCE;
        goto out_free_buf;
    }
    prepare_send(preq, con, comm, tag, buf, len);
    preq->ops.io_done = pool_io_done;
    pscom_post_send(preq);
    /* The request stays libpscom's until its io_done: only its state is
     * read here. */
    while (!(preq->state & PSCOM_REQ_STATE_IO_DONE)) {
        opal_progress();
    }
    if (preq->state & PSCOM_REQ_STATE_ERROR) {
        rc = OMPI_ERROR;
    }
out_free_buf:
    if (free_buf) {
        free(buf);
    }
    return rc;
}

int ompi_mtl_pscom_send(struct mca_mtl_base_module_t *mtl,
                        struct ompi_communicator_t *comm, int dest, int tag,
                        struct opal_convertor_t *convertor,
                        mca_pml_base_send_mode_t mode)
{
    struct mtl_pscom_req mreq;
    int rc;

    if (mode != MCA_PML_BASE_SEND_SYNCHRONOUS) {
        return send_eager(comm, dest, tag, convertor);
    }
    memset(&mreq, 0, sizeof(mreq));
    mreq.super.completion_callback = blocking_done;
    rc = ompi_mtl_pscom_isend(mtl, comm, dest, tag, convertor, mode, true,
                              &mreq.super);
    if (rc != OMPI_SUCCESS) {
        return rc;
    }
    return wait_blocking(&mreq);
}

/* ---- receiving ---------------------------------------------------------- */

static int recv_accept(pscom_request_t *preq, pscom_connection_t *con,
                       pscom_header_net_t *h)
{
    struct mtl_pscom_req *mreq = preq->user->mreq;

    return ompi_mtl_pscom_env_match(h, mreq->match_ctx, mreq->match_src,
                                    mreq->match_tag);
}

static void recv_io_done(pscom_request_t *preq)
{
    ompi_mtl_pscom_done(preq->user->mreq);
}

int ompi_mtl_pscom_irecv(struct mca_mtl_base_module_t *mtl,
                         struct ompi_communicator_t *comm, int src, int tag,
                         struct opal_convertor_t *convertor,
                         mca_mtl_request_t *mtl_request)
{
    struct mtl_pscom_req *mreq = (struct mtl_pscom_req *)mtl_request;
    pscom_request_t *preq;
    size_t len = 0;
    int rc;

    mreq->kind = MTL_PSCOM_RECV;
    mreq->error = 0;
    mreq->convertor = convertor;
    mreq->match_ctx = comm->c_contextid;
    mreq->match_src = src;
    mreq->match_tag = tag;
    rc = ompi_mtl_datatype_recv_buf(convertor, &mreq->buf, &len,
                                    &mreq->free_buf);
    if (rc != OMPI_SUCCESS) {
        return rc;
    }
    if (len && !mreq->buf) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    mreq->buf_len = len;
    preq = attach_preq(mreq);
    if (!preq) {
        rc = OMPI_ERR_OUT_OF_RESOURCE;
        goto err_free_buf;
    }
    preq->socket = ompi_mtl_pscom_g.sock;
    preq->data = mreq->buf;
    /* Larger messages complete truncated (MPI_ERR_TRUNCATE). */
    preq->data_len = len > UINT32_MAX ? UINT32_MAX : len;
    preq->ops.recv_accept = recv_accept;
    preq->ops.io_done = recv_io_done;
    /* With MPI threads under match_lock: improbe's probe-then-take must
     * not lose its message to a receive posted by another thread. */
    if (ompi_mtl_pscom_g.threaded) {
        pthread_mutex_lock(&ompi_mtl_pscom_g.match_lock);
        pscom_post_recv(preq);
        pthread_mutex_unlock(&ompi_mtl_pscom_g.match_lock);
    } else {
        pscom_post_recv(preq);
    }
    return OMPI_SUCCESS;

err_free_buf:
    drop_buf(mreq);
    return rc;
}

int ompi_mtl_pscom_cancel(struct mca_mtl_base_module_t *mtl,
                          mca_mtl_request_t *mtl_request, int flag)
{
    struct mtl_pscom_req *mreq = (struct mtl_pscom_req *)mtl_request;

    /* A receive that has not matched completes CANCELED through its
     * io_done; sends and matched receives are not cancelled (MPI lets
     * MPI_Cancel fail: MPI_Test_cancelled then says false). */
    if (mreq->kind == MTL_PSCOM_RECV && mreq->preq) {
        pscom_cancel_recv(mreq->preq);
    }
    return OMPI_SUCCESS;
}

/* ---- completion --------------------------------------------------------- */

static void finish_send(struct mtl_pscom_req *mreq)
{
    drop_buf(mreq);
    ompi_mtl_pscom_req_put(mreq->preq);
    mreq->preq = NULL;
    if (mreq->super.ompi_req) {
        mreq->super.ompi_req->req_status.MPI_ERROR = mreq->error;
    }
}

static void finish_recv(struct mtl_pscom_req *mreq)
{
    pscom_request_t *preq = mreq->preq;
    ompi_status_public_t *st = &mreq->super.ompi_req->req_status;
    const struct mtl_pscom_env *env = &preq->xheader.user;
    size_t got = ompi_mtl_pscom_received(preq);

    if (preq->state & PSCOM_REQ_STATE_CANCELED) {
        st->_cancelled = true;
        st->MPI_ERROR = OMPI_SUCCESS;
        drop_buf(mreq);
    } else {
        st->MPI_SOURCE = env->src;
        st->MPI_TAG = env->tag;
        st->_ucount = got;
        if (preq->state & PSCOM_REQ_STATE_TRUNCATED) {
            st->MPI_ERROR = MPI_ERR_TRUNCATE;
        } else if (!pscom_req_successful(preq)) {
            st->MPI_ERROR = MPI_ERR_INTERN;
        } else {
            st->MPI_ERROR = OMPI_SUCCESS;
        }
        if (got == 0) {
            drop_buf(mreq); /* unpack frees only what it unpacks */
        } else {
            ompi_mtl_datatype_unpack(mreq->convertor, mreq->buf, got);
        }
        if (env->flags & MTL_PSCOM_F_SYNC) {
            ompi_mtl_pscom_send_ack(preq->connection, env);
        }
    }
    ompi_mtl_pscom_req_put(preq);
    mreq->preq = NULL;
}

void ompi_mtl_pscom_finish(struct mtl_pscom_req *mreq)
{
    switch (mreq->kind) {
    case MTL_PSCOM_SEND:
        finish_send(mreq);
        break;
    case MTL_PSCOM_RECV:
        finish_recv(mreq);
        break;
    case MTL_PSCOM_MRECV:
        ompi_mtl_pscom_finish_mrecv(mreq);
        break;
    }
    mreq->super.completion_callback(&mreq->super);
}
