/*
 * abi0200/pscom.h -- a stand-in for the pscom 0x0200 header, for the ABI
 * test only: it reproduces the x86-64 layout of the 0x0200 structs and
 * enums (facts: member names, types, order) and declares the few functions
 * abi_run.c calls, written independently of include/pscom.h. abi_run.c is
 * compiled against this file alone and runs on our libpscom.so.2, as a
 * program built against the real 0x0200 header would.
 */
#ifndef ABI0200_PSCOM_H_
#define ABI0200_PSCOM_H_

#include <stdint.h>

#define PSCOM_VERSION 0x0200

typedef enum PSCOM_err {
    PSCOM_SUCCESS = 0,
    PSCOM_ERR_INVALID = -2,
} pscom_err_t;
typedef enum PSCOM_con_state { PSCOM_CON_STATE_RW = 0x3 } pscom_con_state_t;
typedef enum PSCOM_con_type {
    PSCOM_CON_TYPE_LOOP = 0x01,
    PSCOM_CON_TYPE_TCP = 0x02,
} pscom_con_type_t;
typedef enum PSCOM_op { PSCOM_OP_READ = 1 } pscom_op_t;
typedef unsigned int pscom_req_state_t;
#define PSCOM_REQ_STATE_DONE 0x00000200
#define PSCOM_REQ_STATE_ERROR 0x00000040
#define PSCOM_REQ_STATE_TRUNCATED 0x00000100
#define PSCOM_REQ_STATE_CANCELED 0x00000080

typedef struct PSCOM_socket pscom_socket_t;
typedef struct PSCOM_connection pscom_connection_t;
typedef struct PSCOM_request pscom_request_t;
typedef struct PSCOM_header_net pscom_header_net_t;
typedef struct PSCOM_con_info pscom_con_info_t;

typedef union PSCOM_xheader {
    struct {
        void *id;
        void *src;
        uint32_t src_len;
    } rma_read;
    struct {
        void *id;
    } rma_read_answer;
    struct {
        void *dest;
    } rma_write;
    struct {
        void *id;
    } ren_fin;
    struct {
        uint32_t group_id, bcast_root, bcast_arg1, bcast_arg2;
        char user[0];
    } bcast;
    PSCOM_XHEADER_USER_TYPE user;
} pscom_xheader_t;

struct PSCOM_header_net {
    uint16_t msg_type;
    uint16_t xheader_len;
    uint32_t data_len;
    pscom_xheader_t xheader[0];
};

struct PSCOM_request {
    pscom_req_state_t state;
    unsigned int xheader_len;
    unsigned int data_len;
    void *data;
    pscom_connection_t *connection;
    pscom_socket_t *socket;
    struct {
        int (*recv_accept)(pscom_request_t *, pscom_connection_t *,
                           pscom_header_net_t *);
        void (*io_done)(pscom_request_t *);
    } ops;
    unsigned int user_size;
    struct PSCOM_req_user *user;
    unsigned int max_xheader_len;
    pscom_header_net_t header;
    pscom_xheader_t xheader;
};

struct PSCOM_con_info {
    int node_id;
    int pid;
    void *id;
    char name[8];
};

struct PSCOM_socket {
    struct {
        void (*con_accept)(pscom_connection_t *);
        void (*con_error)(pscom_connection_t *, pscom_op_t, pscom_err_t);
        pscom_request_t *(*default_recv)(pscom_connection_t *,
                                         pscom_header_net_t *);
    } ops;
    int listen_portno;
    pscom_con_info_t local_con_info;
    unsigned int connection_userdata_size;
    unsigned int userdata_size;
    PSCOM_SOCKET_USERDATA_TYPE userdata;
};

struct PSCOM_connection {
    pscom_socket_t *socket;
    pscom_con_state_t state;
    pscom_con_type_t type;
    pscom_con_info_t remote_con_info;
    unsigned int userdata_size;
    PSCOM_CONNECTION_USERDATA_TYPE userdata;
};

pscom_err_t pscom_init(int pscom_version);
pscom_socket_t *pscom_open_socket(unsigned int socket_userdata_size,
                                  unsigned int connection_userdata_size);
pscom_err_t pscom_listen(pscom_socket_t *socket, int portno);
pscom_connection_t *pscom_open_connection(pscom_socket_t *socket);
pscom_err_t pscom_connect(pscom_connection_t *connection, int nodeid,
                          int portno);
pscom_connection_t *pscom_get_next_connection(pscom_socket_t *socket,
                                              pscom_connection_t *con);
int pscom_get_nodeid(void);
pscom_request_t *pscom_request_create(unsigned int max_xheader_len,
                                      unsigned int user_size);
void pscom_request_free(pscom_request_t *request);
void pscom_post_send(pscom_request_t *request);
void pscom_post_recv(pscom_request_t *request);
void pscom_post_rma_write(pscom_request_t *request);
void pscom_post_rma_read(pscom_request_t *request);
void pscom_wait(pscom_request_t *request);
void pscom_wait_any(void);
void pscom_close_connection(pscom_connection_t *connection);
void pscom_close_socket(pscom_socket_t *socket);
const char *pscom_req_state_str(pscom_req_state_t state);
const char *pscom_con_type_str(pscom_con_type_t type);

#endif /* ABI0200_PSCOM_H_ */
