/*
 * mtl_pscom_module.c -- the module: libpscom socket and wire-up, peers,
 * progress, the completion queue, finalize.
 *
 * Wire-up: each rank listens on one pscom socket and publishes
 * {nodeid, port, name} through the modex. add_procs creates an on-demand
 * connection object per peer (no file descriptor, no hand-shake): the
 * transport (shm, ivshmem, tcp) is negotiated on the first message in
 * either direction, and a peer's connect meets the object created here,
 * so a receive from MPI_ANY_SOURCE (posted on the socket) sees it.
 */
#include "mtl_pscom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ompi/communicator/communicator.h"
#include "ompi/proc/proc.h"
#include "opal/mca/pmix/pmix.h"
#include "opal/runtime/opal_progress.h"
#include "opal/util/output.h"

static int add_procs(struct mca_mtl_base_module_t *mtl, size_t nprocs,
                     struct ompi_proc_t **procs);
static int del_procs(struct mca_mtl_base_module_t *mtl, size_t nprocs,
                     struct ompi_proc_t **procs);
static int finalize(struct mca_mtl_base_module_t *mtl);
static int add_comm(struct mca_mtl_base_module_t *mtl,
                    struct ompi_communicator_t *comm);
static int del_comm(struct mca_mtl_base_module_t *mtl,
                    struct ompi_communicator_t *comm);

/* Free pscom requests of this thread, linked through user->next_free: a
 * message costs no lock for its request. A request completed by another
 * thread than the one that took it changes pools; a pool keeps at most
 * REQ_POOL_MAX (a thread that only completes must not hoard them). */
#define REQ_POOL_MAX 1024
struct req_pool {
    pscom_request_t *head;
    unsigned len;
};
static __thread struct req_pool req_pool_thread;
/* The pool when only one thread runs libpscom (ompi_mtl_pscom_g.single):
 * a thread-local variable of a dlopen()ed object costs a
 * __tls_get_addr() call per access, on every message. */
static struct req_pool req_pool_single;

static inline struct req_pool *req_pool(void)
{
    return ompi_mtl_pscom_g.single ? &req_pool_single : &req_pool_thread;
}

struct mtl_pscom_globals ompi_mtl_pscom_g = {
    .done_lock = PTHREAD_MUTEX_INITIALIZER,
    .match_lock = PTHREAD_MUTEX_INITIALIZER,
};

mca_mtl_base_module_t ompi_mtl_pscom_module = {
    /* The envelope carries 32-bit context ids and tags. */
    .mtl_max_contextid = INT32_MAX,
    .mtl_max_tag = INT32_MAX,
    /* add_procs with every proc of the job in MPI_Init, also in large
     * jobs: a peer's first connect must meet its on-demand connection
     * object, else libpscom parks it until we send to that peer, and a
     * receive from MPI_ANY_SOURCE would never see its messages. The
     * objects cost no file descriptor. */
    .mtl_flags = MCA_MTL_BASE_FLAG_REQUIRE_WORLD,
    .mtl_add_procs = add_procs,
    .mtl_del_procs = del_procs,
    .mtl_finalize = finalize,
    .mtl_send = ompi_mtl_pscom_send,
    .mtl_isend = ompi_mtl_pscom_isend,
    .mtl_irecv = ompi_mtl_pscom_irecv,
    .mtl_iprobe = ompi_mtl_pscom_iprobe,
    .mtl_imrecv = ompi_mtl_pscom_imrecv,
    .mtl_improbe = ompi_mtl_pscom_improbe,
    .mtl_cancel = ompi_mtl_pscom_cancel,
    .mtl_add_comm = add_comm,
    .mtl_del_comm = del_comm,
};

/* Connections close when peers finish MPI_Finalize: not an error of
 * ours. Anything else fails the requests on the connection (their
 * io_done reports it); with mtl_pscom_verbose it is also printed. */
static void con_error(pscom_connection_t *con, pscom_op_t op, pscom_err_t err)
{
    if (err == PSCOM_ERR_EOF || ompi_mtl_pscom_g.verbose < 1) {
        return;
    }
    opal_output(0, "mtl pscom: connection to %s: %s (op %d)",
                pscom_con_info_str(&con->remote_con_info), pscom_err_str(err),
                (int)op);
}

static int init_pscom(bool mpi_threads)
{
    pscom_err_t rc;

    if (mpi_threads) {
#ifdef MTL_PSCOM_INIT_THREAD_LEVEL
        rc = pscom_init_thread(PSCOM_VERSION, PSCOM_THREAD_MULTIPLE);
#else
        rc = pscom_init_thread(PSCOM_VERSION);
#endif
    } else {
        rc = pscom_init(PSCOM_VERSION);
    }
    if (rc != PSCOM_SUCCESS) {
        opal_output(0, "mtl pscom: pscom_init: %s", pscom_err_str(rc));
        return -1;
    }
    return 0;
}

/* 1 if the libpscom variable name is set to a number other than 0 (as
 * libpscom reads it). */
static int env_on(const char *name)
{
    const char *v = getenv(name);

    return v && *v && strtol(v, NULL, 0) != 0;
}

int ompi_mtl_pscom_module_init(bool mpi_threads)
{
    struct mtl_pscom_globals *g = &ompi_mtl_pscom_g;
    struct mtl_pscom_addr addr;
    char name[9];
    int rc;

    if (init_pscom(mpi_threads)) {
        return -1;
    }
    g->threaded = mpi_threads;
    /* libpscom's suspend/resume worker runs progress on its own thread. */
    g->single = !mpi_threads && !env_on("PSP_SUSPEND_RESUME") &&
                !env_on("PSP_SIGSUSPEND");
    g->sock = pscom_open_socket(0, 0);
    if (!g->sock) {
        opal_output(0, "mtl pscom: pscom_open_socket failed");
        return -1;
    }
    /* The name decides who connects an on-demand pair: unique per rank
     * of the job. */
    snprintf(name, sizeof(name), "%08x", (unsigned)OMPI_PROC_MY_NAME->vpid);
    pscom_socket_set_name(g->sock, name);
    g->sock->ops.con_error = con_error;
    if (!g->single) {
        /* Else only while synchronous sends are out (sync_begin()). */
        g->sock->ops.default_recv = ompi_mtl_pscom_default_recv;
    }
    if (pscom_listen(g->sock, PSCOM_ANYPORT) != PSCOM_SUCCESS) {
        opal_output(0, "mtl pscom: pscom_listen failed");
        goto err_close_socket;
    }
    g->probe = pscom_request_create(sizeof(struct mtl_pscom_env),
                                    sizeof(struct PSCOM_req_user));
    if (!g->probe) {
        goto err_close_socket;
    }

    memset(&addr, 0, sizeof(addr));
    addr.nodeid = pscom_get_nodeid();
    addr.portno = pscom_get_portno(g->sock);
    memcpy(addr.name, name, sizeof(addr.name));
    OPAL_MODEX_SEND(rc, OPAL_PMIX_GLOBAL, &mca_mtl_pscom_component.mtl_version,
                    &addr, sizeof(addr));
    if (rc != OPAL_SUCCESS) {
        opal_output(0, "mtl pscom: modex send failed (%d)", rc);
        goto err_free_probe;
    }
    ompi_mtl_pscom_idle_init(g->sleep_us, mpi_threads);
    opal_progress_register(ompi_mtl_pscom_progress);
    return 0;

err_free_probe:
    pscom_request_free(g->probe);
    g->probe = NULL;
err_close_socket:
    pscom_close_socket(g->sock);
    g->sock = NULL;
    return -1;
}

/* The connection to one proc: loop to ourselves, on demand to others. */
static pscom_connection_t *connect_proc(struct ompi_proc_t *proc)
{
    struct mtl_pscom_addr *addr = NULL;
    size_t size = 0;
    pscom_connection_t *con;
    pscom_err_t prc;
    int rc;

    OPAL_MODEX_RECV(rc, &mca_mtl_pscom_component.mtl_version,
                    &proc->super.proc_name, (void **)&addr, &size);
    if (rc != OPAL_SUCCESS || !addr || size != sizeof(*addr)) {
        opal_output(0,
                    "mtl pscom: no pscom address of %s in the modex "
                    "(does every rank run the pscom MTL?)",
                    OPAL_NAME_PRINT(proc->super.proc_name));
        free(addr);
        return NULL;
    }
    con = pscom_open_connection(ompi_mtl_pscom_g.sock);
    if (!con) {
        free(addr);
        return NULL;
    }
    if (proc == ompi_proc_local()) {
        prc = pscom_connect(con, -1, -1);
    } else {
        char name[8];

        memcpy(name, addr->name, sizeof(name));
        prc = pscom_connect_ondemand(con, addr->nodeid, addr->portno, name);
    }
    free(addr);
    if (prc != PSCOM_SUCCESS) {
        opal_output(0, "mtl pscom: connect to %s: %s",
                    OPAL_NAME_PRINT(proc->super.proc_name), pscom_err_str(prc));
        pscom_close_connection(con);
        return NULL;
    }
    return con;
}

static int add_procs(struct mca_mtl_base_module_t *mtl, size_t nprocs,
                     struct ompi_proc_t **procs)
{
    size_t i;
    int rc = OMPI_SUCCESS;

    pthread_mutex_lock(&ompi_mtl_pscom_g.match_lock);
    for (i = 0; i < nprocs; i++) {
        pscom_connection_t *con;

        if (procs[i]->proc_endpoints[OMPI_PROC_ENDPOINT_TAG_MTL]) {
            continue;
        }
        if (procs[i]->super.proc_name.jobid != OMPI_PROC_MY_NAME->jobid) {
            opal_output(0, "mtl pscom: processes of another job "
                           "(MPI_Comm_spawn, connect/accept) are not "
                           "supported");
            rc = OMPI_ERR_NOT_SUPPORTED;
            break;
        }
        con = connect_proc(procs[i]);
        if (!con) {
            rc = OMPI_ERR_UNREACH;
            break;
        }
        procs[i]->proc_endpoints[OMPI_PROC_ENDPOINT_TAG_MTL] = con;
    }
    pthread_mutex_unlock(&ompi_mtl_pscom_g.match_lock);
    return rc;
}

pscom_connection_t *ompi_mtl_pscom_peer(struct ompi_communicator_t *comm,
                                        int rank)
{
    struct ompi_proc_t *proc = ompi_comm_peer_lookup(comm, rank);
    void *ep;

    if (!proc) {
        return NULL;
    }
    ep = proc->proc_endpoints[OMPI_PROC_ENDPOINT_TAG_MTL];
    if (!ep) {
        /* Open MPI adds procs lazily in large jobs. */
        if (add_procs(&ompi_mtl_pscom_module, 1, &proc) != OMPI_SUCCESS) {
            return NULL;
        }
        ep = proc->proc_endpoints[OMPI_PROC_ENDPOINT_TAG_MTL];
    }
    return ep;
}

static int del_procs(struct mca_mtl_base_module_t *mtl, size_t nprocs,
                     struct ompi_proc_t **procs)
{
    /* Connections are closed with the socket in finalize: a proc that
     * leaves a communicator may still be a peer of another one. */
    return OMPI_SUCCESS;
}

static int add_comm(struct mca_mtl_base_module_t *mtl,
                    struct ompi_communicator_t *comm)
{
    return OMPI_SUCCESS;
}

static int del_comm(struct mca_mtl_base_module_t *mtl,
                    struct ompi_communicator_t *comm)
{
    return OMPI_SUCCESS;
}

static int finalize(struct mca_mtl_base_module_t *mtl)
{
    struct mtl_pscom_globals *g = &ompi_mtl_pscom_g;

    opal_progress_unregister(ompi_mtl_pscom_progress);
    /* Run what completed meanwhile (acks, late io_done). */
    ompi_mtl_pscom_progress();
    if (g->sock) {
        /* Flushes every connection, then closes it. */
        pscom_close_socket(g->sock);
        g->sock = NULL;
    }
    if (g->probe) {
        pscom_request_free(g->probe);
        g->probe = NULL;
    }
    /* Only this thread's pool: other threads' requests stay (Open MPI
     * finalizes in one thread; the rest is reclaimed at exit). */
    struct req_pool *pool = req_pool();
    while (pool->head) {
        pscom_request_t *p = pool->head;
        pool->head = p->user->next_free;
        pscom_request_free(p);
    }
    pool->len = 0;
    return OMPI_SUCCESS;
}

pscom_request_t *ompi_mtl_pscom_req_get(void)
{
    struct req_pool *pool = req_pool();
    pscom_request_t *preq = pool->head;

    if (preq) {
        pool->head = preq->user->next_free;
        pool->len--;
    } else {
        preq = pscom_request_create(sizeof(struct mtl_pscom_env),
                                    sizeof(struct PSCOM_req_user));
        if (!preq) {
            return NULL;
        }
    }
    memset(preq->user, 0, sizeof(*preq->user));
    preq->connection = NULL;
    preq->socket = NULL;
    preq->ops.recv_accept = NULL;
    preq->ops.io_done = NULL;
    preq->xheader_len = sizeof(struct mtl_pscom_env);
    return preq;
}

void ompi_mtl_pscom_req_put(pscom_request_t *preq)
{
    struct req_pool *pool = req_pool();

    if (pool->len >= REQ_POOL_MAX) {
        pscom_request_free(preq);
        return;
    }
    preq->user->next_free = pool->head;
    pool->head = preq;
    pool->len++;
}

void ompi_mtl_pscom_done_queue(struct mtl_pscom_req *mreq)
{
    struct mtl_pscom_globals *g = &ompi_mtl_pscom_g;
    struct mtl_pscom_req *top = __atomic_load_n(&g->done_stack,
                                                __ATOMIC_RELAXED);

    /* Push. No ABA: the consumer only ever takes the whole stack. The
     * release publishes the request's completed state with it. */
    do {
        mreq->next_done = top;
    } while (!__atomic_compare_exchange_n(&g->done_stack, &top, mreq, true,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* When more than one thread runs libpscom, completion callbacks run
 * here, outside libpscom's lock and callbacks: they take Open MPI's
 * locks and may call back into the MTL. */
int ompi_mtl_pscom_progress(void)
{
    struct mtl_pscom_globals *g = &ompi_mtl_pscom_g;
    struct mtl_pscom_req *list, *fifo = NULL;
    int n = ompi_mtl_pscom_idle_poll();

    /* A peek first: most calls find nothing. */
    if (!__atomic_load_n(&g->done_stack, __ATOMIC_RELAXED)) {
        return n;
    }
    list = __atomic_exchange_n(&g->done_stack, NULL, __ATOMIC_ACQUIRE);
    while (list) { /* the stack is newest first: complete in order */
        struct mtl_pscom_req *next = list->next_done;
        list->next_done = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        struct mtl_pscom_req *next = fifo->next_done;
        ompi_mtl_pscom_finish(fifo);
        fifo = next;
        n++;
    }
    return n;
}
