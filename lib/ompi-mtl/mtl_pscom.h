/*
 * mtl_pscom.h -- private header of the Open MPI MTL component "pscom"
 * (mca_mtl_pscom.so): the MPI envelope carried in the pscom xheader, the
 * per-request state the PML reserves for us, and the module's globals.
 *
 * The component uses only libpscom's public API (include/pscom.h) and
 * Open MPI 4.1's installed component headers. See doc/mpi.md.
 */
#ifndef MTL_PSCOM_H_
#define MTL_PSCOM_H_

#include "ompi_config.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ompi/mca/mtl/mtl.h"

/* Envelope flags. */
#define MTL_PSCOM_F_SYNC 0x1u /**< sender waits for an ack (MPI_Ssend) */
#define MTL_PSCOM_F_ACK 0x2u  /**< the ack of a synchronous send */

/**
 * The MPI envelope, the whole pscom xheader of every message the
 * component sends. It is a wire format between ranks of one job, possibly
 * in different VMs: fixed-width fields, no pointers (the sync cookie is
 * an opaque value the sender gets back in the ack).
 */
struct mtl_pscom_env {
    uint32_t ctx;   /**< communicator context id */
    int32_t src;    /**< sender's rank in the communicator */
    int32_t tag;    /**< MPI tag (negative: Open MPI's collectives) */
    uint32_t flags; /**< MTL_PSCOM_F_* */
    uint64_t sync;  /**< synchronous send: the sender's cookie */
};
_Static_assert(sizeof(struct mtl_pscom_env) == 24,
               "the envelope is a wire format");

struct mtl_pscom_req;
struct mtl_pscom_mprobe;

/* Our request parts (libpscom's source-compatibility hooks). */
#define PSCOM_XHEADER_USER_TYPE struct mtl_pscom_env
struct PSCOM_req_user {
    struct mtl_pscom_req *mreq;      /**< MPI send/receive, or NULL */
    struct mtl_pscom_mprobe *mprobe; /**< matched-probe receive, or NULL */
    struct PSCOM_request *next_free; /**< request pool link */
};
#include "pscom.h"

enum mtl_pscom_kind {
    MTL_PSCOM_SEND,
    MTL_PSCOM_RECV,
    MTL_PSCOM_MRECV,
};

/**
 * What the PML reserves behind each mca_mtl_request_t
 * (mtl_request_size). Lives until the completion callback.
 */
struct mtl_pscom_req {
    mca_mtl_request_t super;
    enum mtl_pscom_kind kind;
    pscom_request_t *preq;              /**< NULL for MRECV */
    struct opal_convertor_t *convertor; /**< receive: unpack target */
    void *buf;         /**< packed data (send) / receive buffer */
    size_t buf_len;    /**< its size */
    bool free_buf;     /**< buf is ours (pack/unpack copy) */
    int pending;       /**< events left: send done, ack (sync); changed
                          only in pscom callbacks, which pscom serialises */
    int error;         /**< OMPI error of a failed send, or 0 */
    int32_t match_src; /**< receive: rank or MPI_ANY_SOURCE */
    int32_t match_tag; /**< receive: tag or MPI_ANY_TAG */
    uint32_t match_ctx;
    struct mtl_pscom_mprobe *mprobe; /**< MRECV: the probed message */
    struct mtl_pscom_req *next_done; /**< completion queue link */
};

/**
 * A message taken by MPI_Improbe/MPI_Mprobe: received into a buffer of
 * its own until MPI_Imrecv/MPI_Mrecv names the user buffer.
 */
struct mtl_pscom_mprobe {
    pscom_request_t *preq;
    uint32_t ctx; /**< exact envelope of the probed message */
    int32_t src;
    int32_t tag;
    void *data;                 /**< data_len bytes */
    int done;                   /**< the pscom receive completed */
    struct mtl_pscom_req *mreq; /**< the MRECV waiting for it, or NULL */
};

/** What each rank publishes through the modex (a wire format). */
struct mtl_pscom_addr {
    int32_t nodeid; /**< IPv4, host byte order */
    int32_t portno;
    char name[8]; /**< pscom socket name, decides who connects */
};
_Static_assert(sizeof(struct mtl_pscom_addr) == 16, "modex wire format");

/** The component's state. */
struct mtl_pscom_globals {
    pscom_socket_t *sock;
    int threaded; /**< MPI_THREAD_MULTIPLE requested */
    int single;   /**< no other thread runs libpscom: neither
                               MPI threads nor libpscom's suspend/resume
                               worker (PSP_SUSPEND_RESUME, PSP_SIGSUSPEND) */
    /* done_lock is a leaf lock (never held while calling libpscom, which
     * may run callbacks that take it): the mprobe/mrecv hand-over.
     * match_lock is held across libpscom calls, only with MPI threads:
     * iprobe's reused request, improbe's probe+take against receives
     * posted by other threads. The completion queue is a lock-free
     * stack: libpscom callbacks push from any thread (also libpscom's
     * own suspend/resume worker), the progress callback takes all. */
    pthread_mutex_t done_lock;
    pthread_mutex_t match_lock;
    struct mtl_pscom_req *done_stack;
    int finished;           /**< single: a request finished (the idle clock) */
    unsigned sync_out;      /**< single: synchronous sends waiting for acks */
    pscom_request_t *probe; /**< reused by iprobe (under match_lock) */
    struct mtl_pscom_req probe_pattern;
    int verbose;
    int sleep_us; /**< MCA mtl_pscom_sleep: -1 auto, 0 never, or us */
};

extern struct mtl_pscom_globals ompi_mtl_pscom_g;
extern mca_mtl_base_component_2_0_0_t mca_mtl_pscom_component;
extern mca_mtl_base_module_t ompi_mtl_pscom_module;

/**
 * Bytes a completed receive got: the sent length (header.data_len), cut
 * to the posted buffer. pscom 0x0200 leaves data_len as posted; earlier
 * versions of our library cut it to the message: this holds for both.
 */
static inline size_t ompi_mtl_pscom_received(const pscom_request_t *preq)
{
    size_t sent = preq->header.data_len;
    size_t posted = preq->data_len;

    return sent < posted ? sent : posted;
}

/* mtl_pscom_module.c */
/** Open the socket, listen, publish the address. 0 or negative. */
int ompi_mtl_pscom_module_init(bool mpi_threads);
/** The connection to comm's rank, created on first use; NULL on error. */
pscom_connection_t *ompi_mtl_pscom_peer(struct ompi_communicator_t *comm,
                                        int rank);
/** Queue mreq for the progress callback's ompi_mtl_pscom_finish() (any
 * thread, any context). */
void ompi_mtl_pscom_done_queue(struct mtl_pscom_req *mreq);
/** opal_progress callback: pscom progress, then run completions. */
int ompi_mtl_pscom_progress(void);
/** A pscom request from the pool (xheader: the envelope), or NULL. */
pscom_request_t *ompi_mtl_pscom_req_get(void);
/** Give a completed request back to the pool. */
void ompi_mtl_pscom_req_put(pscom_request_t *preq);

/* mtl_pscom_idle.c */
/** Set up the idle detection: sleep_us is the MCA parameter
 * mtl_pscom_sleep (< 0: after PSP_SPIN_US idle, 0: never, else after
 * that many microseconds); never with MPI threads. */
void ompi_mtl_pscom_idle_init(int sleep_us, bool threaded);
/** The progress callback's pscom step: pscom_test_any(), or, once the
 * caller has waited back to back for the spin time, pscom_wait_any()
 * (which may sleep on the doorbells, at most 100 ms). */
int ompi_mtl_pscom_idle_poll(void);

/* mtl_pscom_p2p.c */
int ompi_mtl_pscom_send(struct mca_mtl_base_module_t *mtl,
                        struct ompi_communicator_t *comm, int dest, int tag,
                        struct opal_convertor_t *convertor,
                        mca_pml_base_send_mode_t mode);
int ompi_mtl_pscom_isend(struct mca_mtl_base_module_t *mtl,
                         struct ompi_communicator_t *comm, int dest, int tag,
                         struct opal_convertor_t *convertor,
                         mca_pml_base_send_mode_t mode, bool blocking,
                         mca_mtl_request_t *mtl_request);
int ompi_mtl_pscom_irecv(struct mca_mtl_base_module_t *mtl,
                         struct ompi_communicator_t *comm, int src, int tag,
                         struct opal_convertor_t *convertor,
                         mca_mtl_request_t *mtl_request);
int ompi_mtl_pscom_cancel(struct mca_mtl_base_module_t *mtl,
                          mca_mtl_request_t *mtl_request, int flag);
/** Finish a completed request (status, unpack, ack) and call back. */
void ompi_mtl_pscom_finish(struct mtl_pscom_req *mreq);

/** mreq completed in libpscom (its io_done). With one thread (single):
 * libpscom runs only in this thread, only when we call it, and calls
 * io_done from its progress step, where callbacks may post and wait (no
 * lock is held): finish now, so the request is Open MPI's before the
 * step returns -- this is on the path from the poll that found a
 * message to the program's answer. Else queue it. */
static inline void ompi_mtl_pscom_done(struct mtl_pscom_req *mreq)
{
    if (ompi_mtl_pscom_g.single) {
        ompi_mtl_pscom_g.finished = 1;
        ompi_mtl_pscom_finish(mreq);
    } else {
        ompi_mtl_pscom_done_queue(mreq);
    }
}
/** default_recv: consumes the acks of synchronous sends. */
pscom_request_t *ompi_mtl_pscom_default_recv(pscom_connection_t *con,
                                             pscom_header_net_t *h);

/* mtl_pscom_probe.c */
int ompi_mtl_pscom_iprobe(struct mca_mtl_base_module_t *mtl,
                          struct ompi_communicator_t *comm, int src, int tag,
                          int *flag, struct ompi_status_public_t *status);
int ompi_mtl_pscom_improbe(struct mca_mtl_base_module_t *mtl,
                           struct ompi_communicator_t *comm, int src, int tag,
                           int *matched, struct ompi_message_t **message,
                           struct ompi_status_public_t *status);
int ompi_mtl_pscom_imrecv(struct mca_mtl_base_module_t *mtl,
                          struct opal_convertor_t *convertor,
                          struct ompi_message_t **message,
                          mca_mtl_request_t *mtl_request);
/** Finish an MPI_Imrecv: unpack the probed message, free it. */
void ompi_mtl_pscom_finish_mrecv(struct mtl_pscom_req *mreq);
/** The envelope of an incoming message, copied: the header may sit in
 * a transport's buffer at any alignment. 0 if it is not one of ours. */
static inline int ompi_mtl_pscom_env_of(const pscom_header_net_t *h,
                                        struct mtl_pscom_env *env)
{
    if (h->xheader_len < sizeof(*env)) {
        return 0;
    }
    memcpy(env, (const void *)h->xheader, sizeof(*env));
    return 1;
}

/** 1 if the envelope in h is a message the receive pattern takes.
 * Inline: it runs for every message a receive looks at. */
static inline int ompi_mtl_pscom_env_match(const pscom_header_net_t *h,
                                           uint32_t ctx, int32_t src,
                                           int32_t tag)
{
    struct mtl_pscom_env env;

    if (!ompi_mtl_pscom_env_of(h, &env) || (env.flags & MTL_PSCOM_F_ACK) ||
        env.ctx != ctx) {
        return 0;
    }
    if (src != MPI_ANY_SOURCE && env.src != src) {
        return 0;
    }
    if (tag == MPI_ANY_TAG) {
        /* Negative tags are Open MPI's own (collectives). */
        return env.tag >= 0;
    }
    return env.tag == tag;
}
/** Send the ack of a synchronous message received on con. */
void ompi_mtl_pscom_send_ack(pscom_connection_t *con,
                             const struct mtl_pscom_env *env);

#endif /* MTL_PSCOM_H_ */
