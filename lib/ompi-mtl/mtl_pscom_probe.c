/*
 * mtl_pscom_probe.c -- MPI_Iprobe/Probe and the matched probe
 * MPI_Improbe/Mprobe + MPI_Imrecv/Mrecv.
 *
 * Iprobe asks libpscom (pscom_iprobe) whether an unexpected message
 * matches the pattern. A matched probe then takes that message at once
 * with a receive of its exact envelope into a buffer of the message's
 * size: libpscom hands a receive the first matching unexpected message,
 * and with the same source and tag that is the one probed (messages of
 * one source arrive in order). The user's buffer is filled at Imrecv.
 */
#include "mtl_pscom.h"

#include <stdlib.h>
#include <string.h>

#include "ompi/communicator/communicator.h"
#include "ompi/message/message.h"
#include "opal/datatype/opal_convertor.h"

static int probe_accept(pscom_request_t *preq, pscom_connection_t *con,
                        pscom_header_net_t *h)
{
    const struct mtl_pscom_req *p = preq->user->mreq;

    return ompi_mtl_pscom_env_match(h, p->match_ctx, p->match_src,
                                    p->match_tag);
}

/* Under match_lock: 1 and the envelope and size of the first matching
 * message if there is one. */
static int probe_locked(struct ompi_communicator_t *comm, int src, int tag,
                        struct mtl_pscom_env *env, size_t *len)
{
    struct mtl_pscom_globals *g = &ompi_mtl_pscom_g;
    pscom_request_t *preq = g->probe;

    g->probe_pattern.match_ctx = comm->c_contextid;
    g->probe_pattern.match_src = src;
    g->probe_pattern.match_tag = tag;
    preq->user->mreq = &g->probe_pattern;
    preq->connection = NULL;
    preq->socket = g->sock;
    preq->xheader_len = sizeof(*env);
    preq->ops.recv_accept = probe_accept;
    if (!pscom_iprobe(preq)) {
        return 0;
    }
    *env = preq->xheader.user;
    *len = preq->header.data_len;
    return 1;
}

static void fill_status(struct ompi_status_public_t *status,
                        const struct mtl_pscom_env *env, size_t len)
{
    if (status == MPI_STATUS_IGNORE) {
        return;
    }
    status->MPI_SOURCE = env->src;
    status->MPI_TAG = env->tag;
    status->MPI_ERROR = OMPI_SUCCESS;
    status->_ucount = len;
}

int ompi_mtl_pscom_iprobe(struct mca_mtl_base_module_t *mtl,
                          struct ompi_communicator_t *comm, int src, int tag,
                          int *flag, struct ompi_status_public_t *status)
{
    struct mtl_pscom_env env;
    size_t len = 0;

    pthread_mutex_lock(&ompi_mtl_pscom_g.match_lock);
    *flag = probe_locked(comm, src, tag, &env, &len);
    pthread_mutex_unlock(&ompi_mtl_pscom_g.match_lock);
    if (*flag) {
        fill_status(status, &env, len);
    } else {
        /* Completions that pscom_iprobe's progress step queued. */
        ompi_mtl_pscom_progress();
    }
    return OMPI_SUCCESS;
}

static int mprobe_accept(pscom_request_t *preq, pscom_connection_t *con,
                         pscom_header_net_t *h)
{
    const struct mtl_pscom_mprobe *mp = preq->user->mprobe;

    return ompi_mtl_pscom_env_match(h, mp->ctx, mp->src, mp->tag);
}

/* libpscom callback: the probed message is in. Its sender may wait in
 * MPI_Ssend: the probe matched it, so ack now, not at MPI_Mrecv. */
static void mprobe_io_done(pscom_request_t *preq)
{
    struct mtl_pscom_mprobe *mp = preq->user->mprobe;
    struct mtl_pscom_req *waiting;

    if (preq->xheader.user.flags & MTL_PSCOM_F_SYNC) {
        ompi_mtl_pscom_send_ack(preq->connection, &preq->xheader.user);
    }
    pthread_mutex_lock(&ompi_mtl_pscom_g.done_lock);
    mp->done = 1;
    waiting = mp->mreq;
    pthread_mutex_unlock(&ompi_mtl_pscom_g.done_lock);
    if (waiting) {
        ompi_mtl_pscom_done(waiting);
    }
}

/* Take the message described by env/len: receive it into mp->data. */
static struct mtl_pscom_mprobe *take_locked(const struct mtl_pscom_env *env,
                                            size_t len, uint32_t ctx)
{
    struct mtl_pscom_mprobe *mp = calloc(1, sizeof(*mp));
    pscom_request_t *preq;

    if (!mp) {
        return NULL;
    }
    mp->data = malloc(len ? len : 1);
    preq = pscom_request_create(sizeof(struct mtl_pscom_env),
                                sizeof(struct PSCOM_req_user));
    if (!mp->data || !preq) {
        free(mp->data);
        free(mp);
        if (preq) {
            pscom_request_free(preq);
        }
        return NULL;
    }
    mp->ctx = ctx;
    mp->src = env->src;
    mp->tag = env->tag;
    mp->preq = preq;
    preq->user->mreq = NULL;
    preq->user->mprobe = mp;
    preq->socket = ompi_mtl_pscom_g.sock;
    preq->connection = NULL;
    preq->xheader_len = sizeof(struct mtl_pscom_env);
    preq->data = mp->data;
    preq->data_len = len;
    preq->ops.recv_accept = mprobe_accept;
    preq->ops.io_done = mprobe_io_done;
    pscom_post_recv(preq);
    return mp;
}

int ompi_mtl_pscom_improbe(struct mca_mtl_base_module_t *mtl,
                           struct ompi_communicator_t *comm, int src, int tag,
                           int *matched, struct ompi_message_t **message,
                           struct ompi_status_public_t *status)
{
    struct mtl_pscom_mprobe *mp = NULL;
    struct mtl_pscom_env env;
    struct ompi_message_t *msg;
    size_t len = 0;
    int found;

    pthread_mutex_lock(&ompi_mtl_pscom_g.match_lock);
    found = probe_locked(comm, src, tag, &env, &len);
    if (found) {
        mp = take_locked(&env, len, comm->c_contextid);
    }
    pthread_mutex_unlock(&ompi_mtl_pscom_g.match_lock);
    if (!found) {
        *matched = 0;
        *message = MPI_MESSAGE_NULL;
        ompi_mtl_pscom_progress();
        return OMPI_SUCCESS;
    }
    if (!mp) {
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    msg = ompi_message_alloc();
    if (!msg) {
        /* The message is taken: it cannot be given back. */
        return OMPI_ERR_OUT_OF_RESOURCE;
    }
    msg->comm = comm;
    msg->req_ptr = mp;
    msg->peer = env.src;
    msg->count = len;
    *message = msg;
    *matched = 1;
    fill_status(status, &env, len);
    return OMPI_SUCCESS;
}

int ompi_mtl_pscom_imrecv(struct mca_mtl_base_module_t *mtl,
                          struct opal_convertor_t *convertor,
                          struct ompi_message_t **message,
                          mca_mtl_request_t *mtl_request)
{
    struct mtl_pscom_req *mreq = (struct mtl_pscom_req *)mtl_request;
    struct mtl_pscom_mprobe *mp = (*message)->req_ptr;
    int done;

    mreq->kind = MTL_PSCOM_MRECV;
    mreq->error = 0;
    mreq->preq = NULL;
    mreq->convertor = convertor;
    mreq->mprobe = mp;
    ompi_message_return(*message);
    *message = MPI_MESSAGE_NULL;

    pthread_mutex_lock(&ompi_mtl_pscom_g.done_lock);
    mp->mreq = mreq;
    done = mp->done;
    pthread_mutex_unlock(&ompi_mtl_pscom_g.done_lock);
    if (done) {
        /* Completed by the next progress call, not inside the PML's
         * imrecv: Open MPI sets the request up around this call. */
        ompi_mtl_pscom_done_queue(mreq);
    }
    return OMPI_SUCCESS;
}

/* Not inlined (LTO would): its frame would weigh on every request's
 * finish, also a plain receive's. */
__attribute__((noinline)) void
ompi_mtl_pscom_finish_mrecv(struct mtl_pscom_req *mreq)
{
    struct mtl_pscom_mprobe *mp = mreq->mprobe;
    pscom_request_t *preq = mp->preq;
    ompi_status_public_t *st = &mreq->super.ompi_req->req_status;
    size_t len = ompi_mtl_pscom_received(preq);
    size_t cap = 0;
    size_t n;

    opal_convertor_get_packed_size(mreq->convertor, &cap);
    n = len < cap ? len : cap;
    if (n) {
        struct iovec iov = {.iov_base = mp->data, .iov_len = n};
        uint32_t iov_count = 1;

        opal_convertor_unpack(mreq->convertor, &iov, &iov_count, &n);
    }
    st->MPI_SOURCE = preq->xheader.user.src;
    st->MPI_TAG = preq->xheader.user.tag;
    st->_ucount = n;
    if (len > cap) {
        st->MPI_ERROR = MPI_ERR_TRUNCATE;
    } else if (!pscom_req_successful(preq)) {
        st->MPI_ERROR = MPI_ERR_INTERN;
    } else {
        st->MPI_ERROR = OMPI_SUCCESS;
    }
    pscom_request_free(preq);
    free(mp->data);
    free(mp);
    mreq->mprobe = NULL;
}
