/*
 * pscom.h -- public API of the communication library, interface 0x0200.
 *
 * Source compatible with the ParaStation communication library (pscom)
 * interface 0x0200: names, types, enum values and semantics are the
 * contract (see shared/PSCOM_API.md); the implementation is ours.
 *
 * Source-compatibility hooks a program may define before including this
 * header:
 *   PSCOM_XHEADER_USER_TYPE        type of req->xheader.user
 *   struct PSCOM_req_user          what req->user points to
 *   PSCOM_SOCKET_USERDATA_TYPE     type of socket->userdata
 *   PSCOM_CONNECTION_USERDATA_TYPE type of connection->userdata
 * Without them the user parts are zero-length.
 *
 * Binary compatible too: the structs and enums below have the x86-64
 * layout of the 0x0200 header (unsigned int lengths, member order), so a
 * program built against the 0x0200 header runs on this libpscom.so.2
 * (test/compat/abi_layout.c asserts the offsets).
 *
 * Everything not in the 0x0200 header is marked "Extension" below.
 */
#ifndef PSCOM_H_
#define PSCOM_H_
/* The 0x0200 header's include guard: programs test it. */
#ifndef _PSCOM_H_
#define _PSCOM_H_
#endif

/* 0x0200 programs rely on pscom.h for these (assert, memcpy, struct
 * in_addr, struct sockaddr_in, struct iovec). */
#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Interface version: major in the high byte, minor in the low byte. */
#define PSCOM_VERSION 0x0200

/** Pass to pscom_listen() to let the system choose a port. */
#define PSCOM_ANYPORT -1

/** Extension: thread levels for pscom_init_thread_level(). */
#define PSCOM_THREAD_SINGLE 0
#define PSCOM_THREAD_FUNNELED 1
#define PSCOM_THREAD_SERIALIZED 2
#define PSCOM_THREAD_MULTIPLE 3

/** Error codes; values are ABI. */
typedef enum PSCOM_err {
    PSCOM_SUCCESS = 0,
    PSCOM_ERR_STDERROR = -1, /**< see errno */
    PSCOM_ERR_INVALID = -2,  /**< invalid argument */
    PSCOM_ERR_ALREADY = -3,  /**< operation already in progress */
    PSCOM_NOT_IMPLEMENTED = -4,
    PSCOM_ERR_EOF = -5,     /**< end of file */
    PSCOM_ERR_IOERROR = -6, /**< IO error */
    PSCOM_ERR_UNSUPPORTED_VERSION = -7,
    PSCOM_ERR_CONNECTION_REFUSED = -8, /**< connection refused */
} pscom_err_t;

/** Connection states; values are ABI. */
typedef enum PSCOM_con_state {
    PSCOM_CON_STATE_NO_RW = 0x0,
    PSCOM_CON_STATE_R = 0x1,
    PSCOM_CON_STATE_W = 0x2,
    PSCOM_CON_STATE_RW = 0x3,
    PSCOM_CON_STATE_CLOSED = 0x4,
    PSCOM_CON_STATE_CONNECTING = 0x8,
    PSCOM_CON_STATE_ACCEPTING = 0x10,
    PSCOM_CON_STATE_CLOSING = 0x20,
    PSCOM_CON_STATE_SUSPENDING = 0x40,
    PSCOM_CON_STATE_SUSPEND_SENT = 0xC0,
    PSCOM_CON_STATE_SUSPEND_RECEIVED = 0x140,
    PSCOM_CON_STATE_SUSPENDED = 0x1C0,
    PSCOM_CON_STATE_CONNECTING_ONDEMAND = 0x208,
    PSCOM_CON_STATE_ACCEPTING_ONDEMAND = 0x210,
} pscom_con_state_t;

/** Connection (transport) types; values are ABI. */
typedef enum PSCOM_con_type {
    PSCOM_CON_TYPE_NONE = 0x00,
    PSCOM_CON_TYPE_LOOP = 0x01,
    PSCOM_CON_TYPE_TCP = 0x02,
    PSCOM_CON_TYPE_SHM = 0x03,
    PSCOM_CON_TYPE_P4S = 0x04,
    PSCOM_CON_TYPE_GM = 0x05,
    PSCOM_CON_TYPE_MVAPI = 0x06,
    PSCOM_CON_TYPE_OPENIB = 0x07,
    PSCOM_CON_TYPE_ELAN = 0x08,
    PSCOM_CON_TYPE_DAPL = 0x09,
    PSCOM_CON_TYPE_ONDEMAND = 0x0a,
    PSCOM_CON_TYPE_OFED = 0x0b,
    PSCOM_CON_TYPE_EXTOLL = 0x0c,
    PSCOM_CON_TYPE_PSM = 0x0d,
    PSCOM_CON_TYPE_VELO = 0x0e,
    PSCOM_CON_TYPE_CBC = 0x0f,
    PSCOM_CON_TYPE_MXM = 0x10,
    PSCOM_CON_TYPE_SUSPENDED = 0x11,
    PSCOM_CON_TYPE_UCP = 0x12, /**< no transport behind it here */
    PSCOM_CON_TYPE_IVSHMEM = 0x13,
} pscom_con_type_t;

/** Operation reported to con_error(); values are ABI. */
typedef enum PSCOM_op {
    PSCOM_OP_READ = 1,
    PSCOM_OP_WRITE = 2,
    PSCOM_OP_CONNECT = 3,
    PSCOM_OP_RW = 4,
} pscom_op_t;

/** Request state bits; values are ABI. */
#define PSCOM_REQ_STATE_SEND_REQUEST 0x00000001
#define PSCOM_REQ_STATE_RECV_REQUEST 0x00000002
#define PSCOM_REQ_STATE_GRECV_REQUEST 0x00000004
#define PSCOM_REQ_STATE_POSTED 0x00000008
#define PSCOM_REQ_STATE_IO_STARTED 0x00000010
#define PSCOM_REQ_STATE_IO_DONE 0x00000020
#define PSCOM_REQ_STATE_ERROR 0x00000040
#define PSCOM_REQ_STATE_CANCELED 0x00000080
#define PSCOM_REQ_STATE_TRUNCATED 0x00000100
#define PSCOM_REQ_STATE_DONE 0x00000200
#define PSCOM_REQ_STATE_RMA_READ_REQUEST 0x00000400
#define PSCOM_REQ_STATE_RMA_WRITE_REQUEST 0x00000800
#define PSCOM_REQ_STATE_PASSIVE_SIDE 0x00001000
#define PSCOM_REQ_STATE_RENDEZVOUS_REQUEST 0x00002000
#define PSCOM_REQ_STATE_GRECV_MERGED 0x00004000

typedef unsigned int pscom_req_state_t;

typedef struct PSCOM_socket pscom_socket_t;
typedef struct PSCOM_connection pscom_connection_t;
typedef struct PSCOM_request pscom_request_t;
typedef struct PSCOM_con_info pscom_con_info_t;
typedef struct PSCOM_header_net pscom_header_net_t;
typedef struct PSCOM_group pscom_group_t;

/** Identity of one end of a connection. */
struct PSCOM_con_info {
    int node_id; /**< IPv4 address in host byte order */
    int pid;
    void *id; /**< opaque, unique per connection within a process */
    char name[8];
};

/* ---- xheader ----------------------------------------------------------- */

/** xheader of an RMA write: where the passive side puts the data. */
typedef struct PSCOM_xheader_rma_write {
    void *dest;
} pscom_xheader_rma_write_t;

/** xheader of an RMA read request: id names the reading request, src and
 * src_len the memory of the passive side to read. */
typedef struct PSCOM_xheader_rma_read {
    void *id;
    void *src;
    uint32_t src_len;
} pscom_xheader_rma_read_t;

/** xheader of the answer to an RMA read: the id of the request. */
typedef struct PSCOM_xheader_rma_read_answer {
    void *id;
} pscom_xheader_rma_read_answer_t;

/** xheader of a rendezvous FIN (in the union for layout; this library
 * sends no rendezvous messages). */
typedef struct PSCOM_xheader_rendezvous_fin {
    void *id;
} pscom_xheader_rendezvous_fin_t;

/** Header used by pscom_post_bcast() and groups. */
typedef struct PSCOM_xheader_bcast {
    uint32_t group_id;
    uint32_t bcast_root;
    uint32_t bcast_arg1; /**< internal use */
    uint32_t bcast_arg2; /**< internal use */
    char user[0];
} pscom_xheader_bcast_t;

/** The user header ("xheader") of a request or message. 24 bytes (the
 * rma_read member) unless PSCOM_XHEADER_USER_TYPE is larger. */
typedef union PSCOM_xheader {
    pscom_xheader_rma_read_t rma_read;
    pscom_xheader_rma_read_answer_t rma_read_answer;
    pscom_xheader_rma_write_t rma_write;
    pscom_xheader_rendezvous_fin_t ren_fin;
    pscom_xheader_bcast_t bcast;
#ifdef PSCOM_XHEADER_USER_TYPE
    PSCOM_XHEADER_USER_TYPE user;
#else
    char user[0];
#endif
} pscom_xheader_t;

/** Message header as seen by recv_accept() and default_recv(); the
 * message's xheader (xheader_len bytes) follows it directly. */
struct PSCOM_header_net {
    uint16_t msg_type;
    uint16_t xheader_len;
    uint32_t data_len;
    pscom_xheader_t xheader[0];
};

struct PSCOM_req_user;

/** A send or receive request. */
struct PSCOM_request {
    pscom_req_state_t state;

    unsigned int xheader_len;
    unsigned int data_len;
    void *data;

    pscom_connection_t *connection;
    pscom_socket_t *socket;

    struct PSCOM_request_ops {
        /** Receive matching: return 1 to take the message. May set
         * request->data and request->data_len before data is copied. */
        int (*recv_accept)(pscom_request_t *request,
                           pscom_connection_t *connection,
                           pscom_header_net_t *header_net);
        /** Called once when the request completes (state has DONE). */
        void (*io_done)(pscom_request_t *request);
    } ops;

    unsigned int user_size;
    struct PSCOM_req_user *user; /**< define your own struct PSCOM_req_user */

    unsigned int max_xheader_len;
    pscom_header_net_t header;
    /** Storage: max_xheader_len bytes rounded up to 8, at least
     * sizeof(pscom_xheader_t) (warning: sizeof(pscom_request_t) depends
     * on PSCOM_XHEADER_USER_TYPE). The user part follows the storage. */
    pscom_xheader_t xheader;
};

/** A communication endpoint that owns connections. */
struct PSCOM_socket {
    struct PSCOM_socket_ops {
        /** A new connection was accepted (after it is usable). */
        void (*con_accept)(pscom_connection_t *new_connection);
        /** An error on a connection (EOF, IO error, refused). */
        void (*con_error)(pscom_connection_t *connection, pscom_op_t operation,
                          pscom_err_t error);
        /** Asked first for every incoming message; return a request to
         * receive it, or NULL to match against posted receives. */
        pscom_request_t *(*default_recv)(pscom_connection_t *connection,
                                         pscom_header_net_t *header_net);
    } ops;
    int listen_portno; /**< -1 when not listening */
    pscom_con_info_t local_con_info;

    unsigned int connection_userdata_size;
    unsigned int userdata_size;
#ifdef PSCOM_SOCKET_USERDATA_TYPE
    PSCOM_SOCKET_USERDATA_TYPE userdata;
#else
    char userdata[0];
#endif
};

/** One end of a connection. Nothing follows userdata. */
struct PSCOM_connection {
    pscom_socket_t *socket;
    pscom_con_state_t state;
    pscom_con_type_t type;
    pscom_con_info_t remote_con_info;

    unsigned int userdata_size;
#ifdef PSCOM_CONNECTION_USERDATA_TYPE
    PSCOM_CONNECTION_USERDATA_TYPE userdata;
#else
    char userdata[0];
#endif
};

/* ---- initialisation ---------------------------------------------------- */

/** Initialise the library. Rejects other major versions with
 * PSCOM_ERR_UNSUPPORTED_VERSION. Safe to call more than once. */
pscom_err_t pscom_init(int pscom_version);

/** As pscom_init(), for multithreaded use: every call is serialised
 * internally so that several threads may call into the library. */
pscom_err_t pscom_init_thread(int pscom_version);

/** Extension: as pscom_init() with a thread level (PSCOM_THREAD_*);
 * PSCOM_THREAD_MULTIPLE is pscom_init_thread(). */
pscom_err_t pscom_init_thread_level(int pscom_version, int threadlevel);

/** IPv4 address of this node (host byte order). */
int pscom_get_nodeid(void);

/** Listening port of a socket, or -1. */
int pscom_get_portno(pscom_socket_t *socket);

/** Set the debug level (as PSP_DEBUG). */
void pscom_set_debug(unsigned int level);

/* ---- sockets ----------------------------------------------------------- */

pscom_socket_t *pscom_open_socket(unsigned int socket_userdata_size,
                                  unsigned int connection_userdata_size);

#define PSCOM_OPEN_SOCKET()                                                    \
    pscom_open_socket(sizeof(PSCOM_SOCKET_USERDATA_TYPE),                      \
                      sizeof(PSCOM_CONNECTION_USERDATA_TYPE))

/** Name used by on-demand connections (at most 8 characters). */
void pscom_socket_set_name(pscom_socket_t *socket, const char *name);
pscom_err_t pscom_listen(pscom_socket_t *socket, int portno);
void pscom_stop_listen(pscom_socket_t *socket);
/** Stop accepting for a while (suspend/resume; in the newest 0x0200
 * snapshot only). */
void pscom_suspend_listen(pscom_socket_t *socket);
/** Accept again after pscom_suspend_listen(). */
void pscom_resume_listen(pscom_socket_t *socket);
/** Close every connection of the socket, then the socket itself. */
void pscom_close_socket(pscom_socket_t *socket);

/* ---- connections ------------------------------------------------------- */

pscom_connection_t *pscom_open_connection(pscom_socket_t *socket);
/** Blocking connect. Own node and port, or -1/-1, give a LOOP
 * connection. */
pscom_err_t pscom_connect(pscom_connection_t *connection, int nodeid,
                          int portno);
/** Connect on first write; the socket names decide who connects. */
#define PSCOM_HAS_ON_DEMAND_CONNECTIONS 1
pscom_err_t pscom_connect_ondemand(pscom_connection_t *connection, int nodeid,
                                   int portno, const char name[8]);
/** Connect to "host:port" or "host:port@name" (on demand); host is a
 * dotted address or a name (resolved with getaddrinfo, IPv4). */
pscom_err_t pscom_connect_socket_str(pscom_connection_t *connection,
                                     const char *socket_str);
void pscom_close_connection(pscom_connection_t *connection);
/** Wait until every send posted on the connection has completed. */
void pscom_flush(pscom_connection_t *connection);
/** Iterate the connections of a socket: pass NULL to start. */
pscom_connection_t *pscom_get_next_connection(pscom_socket_t *socket,
                                              pscom_connection_t *prev);
/** Suspend a connection (drained, transport closed, sends queued). In
 * the newest 0x0200 snapshot only, where it returns void; the result is
 * an extension (callers that ignore it build and run unchanged). */
pscom_err_t pscom_shutdown_connection(pscom_connection_t *connection);
/** Resume a suspended connection (reconnects on demand); as above. */
pscom_err_t pscom_resume_connection(pscom_connection_t *connection);

/* ---- requests ---------------------------------------------------------- */

pscom_request_t *pscom_request_create(unsigned int max_xheader_len,
                                      unsigned int user_size);
void pscom_request_free(pscom_request_t *request);

#define PSCOM_REQUEST_CREATE()                                                 \
    pscom_request_create(sizeof(PSCOM_XHEADER_USER_TYPE),                      \
                         sizeof(struct PSCOM_req_user))

void pscom_post_recv(pscom_request_t *request);
void pscom_post_send(pscom_request_t *request);

/** Fill the connection, data and xheader of a request; the xheader (if
 * not NULL) is copied into req->xheader. Returns req. */
static inline pscom_request_t *
pscom_req_prepare(pscom_request_t *req, pscom_connection_t *connection,
                  void *data, unsigned int data_len, void *xheader,
                  unsigned int xheader_len)
{
    req->connection = connection;
    req->data = data;
    req->data_len = data_len;
    req->xheader_len = xheader_len;
    if (xheader) {
        assert(xheader_len <= req->max_xheader_len);
        memcpy(&req->xheader.user, xheader, xheader_len);
    }
    return req;
}

/** Send a copy of xheader and data; returns at once. */
void pscom_send(pscom_connection_t *connection, void *xheader,
                unsigned int xheader_len, void *data, unsigned int data_len);
/** Extension (not in 0x0200; PSCOM_HAVE_SEND_TRY): send xheader and data
 * now if the connection's transport can take the whole message at once,
 * behind everything sent before. Returns 1 when it was sent (the buffers
 * may be reused), 0 when nothing was sent (queued sends, no room in a
 * shared-memory ring, a transport without this path, a closed or
 * suspended connection): send it with pscom_post_send() or pscom_send().
 * Never blocks and runs no callbacks. pscom_send() tries it first. */
#define PSCOM_HAVE_SEND_TRY 1
int pscom_send_try(pscom_connection_t *connection, void *xheader,
                   unsigned int xheader_len, void *data, unsigned int data_len);
/** Send without copying the data; io_done(state, priv) runs when the
 * buffers may be reused. */
void pscom_send_inplace(pscom_connection_t *connection, void *xheader,
                        unsigned int xheader_len, void *data,
                        unsigned int data_len,
                        void (*io_done)(pscom_req_state_t state, void *priv),
                        void *priv);
/** Blocking receive from a connection, or any connection of socket. */
pscom_err_t pscom_recv(pscom_connection_t *connection, pscom_socket_t *socket,
                       void *xheader, unsigned int xheader_len, void *data,
                       unsigned int data_len);

/** Blocking receive from one connection. */
static inline pscom_err_t pscom_recv_from(pscom_connection_t *connection,
                                          void *xheader,
                                          unsigned int xheader_len, void *data,
                                          unsigned int data_len)
{
    return pscom_recv(connection, connection->socket, xheader, xheader_len,
                      data, data_len);
}

/** Blocking receive from any connection of a socket. */
static inline pscom_err_t pscom_recv_any(pscom_socket_t *socket, void *xheader,
                                         unsigned int xheader_len, void *data,
                                         unsigned int data_len)
{
    return pscom_recv(NULL, socket, xheader, xheader_len, data, data_len);
}

/** Extension: pscom_recv_any() that also tells the connection the
 * message came from (*connection; may be NULL). */
pscom_err_t pscom_recv_any_con(pscom_socket_t *socket,
                               pscom_connection_t **connection, void *xheader,
                               unsigned int xheader_len, void *data,
                               unsigned int data_len);

/** RMA write: put request->data_len bytes from request->data into the
 * peer's memory at request->xheader.rma_write.dest over
 * request->connection (any transport). io_done runs once the data is
 * sent. The peer copies the data while it makes progress; it must own
 * the memory (no check beyond that is possible). */
void pscom_post_rma_write(pscom_request_t *request);

/** RMA read: get request->data_len bytes of the peer's memory at
 * request->xheader.rma_read.src over request->connection into
 * request->data. io_done runs once the answer is in. */
void pscom_post_rma_read(pscom_request_t *request);

/* ---- completion -------------------------------------------------------- */

void pscom_wait(pscom_request_t *request);
/** Wait for a NULL-terminated array of requests. */
void pscom_wait_all(pscom_request_t **requests);
/** One blocking progress step: returns after an event, or after at most
 * 100 ms without one. With a memory transport (shm, ivshmem) open there
 * is nothing to block on: it polls and returns, and after PSP_SPIN_US
 * without progress across calls it also yields the CPU. */
void pscom_wait_any(void);
/** One non-blocking progress step; 1 if anything progressed. */
int pscom_test_any(void);
/** 1 if a message matching the request is available; fills header,
 * xheader and connection. Does not receive it. */
int pscom_iprobe(pscom_request_t *request);
void pscom_probe(pscom_request_t *request);
/** Cancel a send or receive that has not started; 1 on success. */
int pscom_cancel(pscom_request_t *request);
int pscom_cancel_send(pscom_request_t *request);
int pscom_cancel_recv(pscom_request_t *request);

static inline int pscom_req_state_successful(pscom_req_state_t state)
{
    return (state & (PSCOM_REQ_STATE_ERROR | PSCOM_REQ_STATE_CANCELED |
                     PSCOM_REQ_STATE_TRUNCATED | PSCOM_REQ_STATE_DONE)) ==
           PSCOM_REQ_STATE_DONE;
}

static inline int pscom_req_successful(pscom_request_t *req)
{
    return pscom_req_state_successful(req->state);
}

static inline int pscom_req_state_is_done(pscom_req_state_t state)
{
    return (state & PSCOM_REQ_STATE_DONE) != 0;
}

static inline int pscom_req_is_done(pscom_request_t *req)
{
    return pscom_req_state_is_done(req->state);
}

/* ---- groups ------------------------------------------------------------ */

/** connections[i] is the connection to group rank i (ignored for
 * my_grank). */
pscom_group_t *pscom_group_open(pscom_socket_t *socket, uint32_t group_id,
                                uint32_t my_grank, uint32_t group_size,
                                pscom_connection_t **connections);
void pscom_group_close(pscom_group_t *group);
/** Broadcast described by request->xheader.bcast (group_id, bcast_root);
 * the root's request is sent, the others receive. */
void pscom_post_bcast(pscom_request_t *request);
void pscom_bcast(pscom_group_t *group, unsigned int bcast_root, void *xheader,
                 unsigned int xheader_len, void *data, unsigned int data_len);
void pscom_barrier(pscom_group_t *group);
/** The open group of socket with group_id, or NULL. */
pscom_group_t *pscom_group_find(pscom_socket_t *socket, uint32_t group_id);
/** The id a group was opened with. */
uint32_t pscom_group_get_id(pscom_group_t *group);

/* ---- connection-type masks -------------------------------------------- */

void pscom_con_type_mask_all(pscom_socket_t *socket);
void pscom_con_type_mask_only(pscom_socket_t *socket,
                              pscom_con_type_t con_type);
void pscom_con_type_mask_add(pscom_socket_t *socket, pscom_con_type_t con_type);
void pscom_con_type_mask_del(pscom_socket_t *socket, pscom_con_type_t con_type);
int pscom_con_type_mask_is_set(pscom_socket_t *socket,
                               pscom_con_type_t con_type);

/* ---- socket strings ---------------------------------------------------- */
/* The returned strings live in thread-local buffers of the function; each
 * function rotates over a few, so that the results of a few calls (e.g.
 * two arguments of one printf) stay valid together. */

const char *pscom_socket_str(int nodeid, int portno);
const char *pscom_socket_ondemand_str(int nodeid, int portno,
                                      const char name[8]);
const char *pscom_listen_socket_str(pscom_socket_t *socket);
const char *pscom_listen_socket_ondemand_str(pscom_socket_t *socket);
/** 0 on success, -1 (errno EINVAL) on a malformed string. */
int pscom_parse_socket_str(const char *socket_str, int *nodeid, int *portno);
int pscom_parse_socket_ondemand_str(const char *socket_str, int *nodeid,
                                    int *portno, char (*name)[8]);

/* ---- names for printing ------------------------------------------------ */

const char *pscom_con_state_str(pscom_con_state_t state);
/** Lower-case: "loop", "tcp", "shm", "ivshmem", "demand", "susp", ... */
const char *pscom_con_type_str(pscom_con_type_t type);
const char *pscom_req_state_str(pscom_req_state_t state);
const char *pscom_err_str(pscom_err_t error);
const char *pscom_con_info_str(pscom_con_info_t *con_info);
/** "info1 to info2". */
const char *pscom_con_info_str2(pscom_con_info_t *con_info1,
                                pscom_con_info_t *con_info2);
const char *pscom_con_str(pscom_connection_t *connection);
/** "read", "write", "connect", "rw". */
const char *pscom_op_str(pscom_op_t operation);
/** Printable dump of size bytes of buf: hex, and the printable
 * characters, shortened with "..." when long. */
const char *pscom_dumpstr(const void *buf, int size);

#define pscom_min(a, b) (((a) < (b)) ? (a) : (b))
#define pscom_max(a, b) (((a) > (b)) ? (a) : (b))

/* ---- debugging and environment ---------------------------------------- */

void pscom_dump_connection(FILE *out, pscom_connection_t *connection);
void pscom_dump_reqstat(FILE *out);
/** Version, every PSP_* variable with value and origin, plugins. */
void pscom_dump_info(FILE *out);

/** Read environment variable name into *val if it is set and valid;
 * otherwise *val is left unchanged. */
void pscom_env_get_int(int *val, const char *name);
void pscom_env_get_uint(unsigned int *val, const char *name);
void pscom_env_get_str(char **val, const char *name);
/** As pscom_env_get_str(), ensuring a trailing '/'. */
void pscom_env_get_dir(char **val, const char *name);

/** The getenv()/setenv() the library uses; a program may replace them
 * (e.g. to read a launcher's key-value store). */
extern char *(*pscom_env_get)(const char *name);
extern int (*pscom_env_set)(const char *name, const char *value, int overwrite);

/** Read/write exactly count bytes (retrying on EINTR and short counts);
 * returns count, or -1 with errno set. */
int pscom_readall(int fd, void *buf, int count);
int pscom_writeall(int fd, const void *buf, int count);

/** Port number of a service name or a decimal string ("5006", "ssh"), in
 * network byte order as getservbyname(), or -1. */
int pscom_atoport(const char *service, const char *proto);
/** IPv4 address of a dotted address or a host name into *addr; 0, or -1
 * when it cannot be resolved. */
int pscom_atoaddr(const char *address, struct in_addr *addr);
/** Fill *addr (AF_INET) from host (NULL: INADDR_ANY), port and protocol
 * ("tcp", "udp"); 0, or -1. */
int pscom_ascii_to_sockaddr_in(const char *host, const char *port,
                               const char *protocol, struct sockaddr_in *addr);

#ifdef __cplusplus
}
#endif

#endif /* PSCOM_H_ */
