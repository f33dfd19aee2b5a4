/*
 * str.c -- names for printing and the socket string format
 * "a.b.c.d:port" / "a.b.c.d:port@name".
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pscom_priv.h"

/* The string functions return thread-local buffers. Each keeps a few and
 * hands them out in turn, so that two results used together (a send's
 * and a receive's state in one printf) do not overwrite each other. */
#define STR_SLOTS 4
#define STR_SLOT(var, size)                                                    \
    static __thread char var##_ring[STR_SLOTS][size];                          \
    static __thread unsigned int var##_next;                                   \
    char *var = var##_ring[var##_next++ % STR_SLOTS];                          \
    const size_t var##_size = size

void pscom_inet_str(char *buf, size_t size, int nodeid)
{
    unsigned int a = (unsigned int)nodeid;

    snprintf(buf, size, "%u.%u.%u.%u", (a >> 24) & 0xff, (a >> 16) & 0xff,
             (a >> 8) & 0xff, a & 0xff);
}

const char *pscom_socket_str(int nodeid, int portno)
{
    STR_SLOT(buf, 32);
    char ip[16];

    pscom_inet_str(ip, sizeof(ip), nodeid);
    snprintf(buf, buf_size, "%s:%d", ip, portno);
    return buf;
}

const char *pscom_socket_ondemand_str(int nodeid, int portno,
                                      const char name[8])
{
    STR_SLOT(buf, 48);
    char ip[16];

    pscom_inet_str(ip, sizeof(ip), nodeid);
    snprintf(buf, buf_size, "%s:%d@%.8s", ip, portno, name);
    return buf;
}

const char *pscom_listen_socket_str(pscom_socket_t *socket)
{
    return pscom_socket_str(pscom_get_nodeid(), socket->listen_portno);
}

const char *pscom_listen_socket_ondemand_str(pscom_socket_t *socket)
{
    return pscom_socket_ondemand_str(pscom_get_nodeid(), socket->listen_portno,
                                     socket->local_con_info.name);
}

/* Parse "host:port" (len bytes of s); host is a dotted address or a name
 * (resolved, as 0x0200 does: "localhost:5006"). */
static int parse_addr_port(const char *s, size_t len, int *nodeid, int *portno)
{
    char host[256];
    const char *colon;
    char *end;
    struct in_addr in;
    long port;

    colon = memchr(s, ':', len);
    if (!colon || (size_t)(colon - s) >= sizeof(host) || colon == s) {
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (colon + 1 == s + len) {
        return -1;
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || end != s + len || port < 0 || port > 65535 ||
        colon[1] == '-' || colon[1] == '+' || colon[1] == ' ') {
        return -1;
    }
    if (pscom_atoaddr(host, &in)) {
        return -1;
    }
    *nodeid = (int)ntohl(in.s_addr);
    *portno = (int)port;
    return 0;
}

int pscom_parse_socket_str(const char *socket_str, int *nodeid, int *portno)
{
    int n, p;

    if (!socket_str ||
        parse_addr_port(socket_str, strlen(socket_str), &n, &p)) {
        errno = EINVAL;
        return -1;
    }
    *nodeid = n;
    *portno = p;
    return 0;
}

int pscom_parse_socket_ondemand_str(const char *socket_str, int *nodeid,
                                    int *portno, char (*name)[8])
{
    const char *at;
    int n, p;
    size_t nl;

    if (!socket_str) {
        errno = EINVAL;
        return -1;
    }
    at = strchr(socket_str, '@');
    if (!at) {
        /* No name: a plain address is accepted with an empty name. */
        if (pscom_parse_socket_str(socket_str, nodeid, portno)) {
            return -1;
        }
        memset(*name, 0, sizeof(*name));
        return 0;
    }
    nl = strlen(at + 1);
    if (nl == 0 || nl > 8 ||
        parse_addr_port(socket_str, (size_t)(at - socket_str), &n, &p)) {
        errno = EINVAL;
        return -1;
    }
    *nodeid = n;
    *portno = p;
    memset(*name, 0, sizeof(*name));
    memcpy(*name, at + 1, nl);
    return 0;
}

/* ---- enums --------------------------------------------------------------- */

const char *pscom_con_state_str(pscom_con_state_t state)
{
    switch (state) {
    case PSCOM_CON_STATE_NO_RW:
        return "no_rw";
    case PSCOM_CON_STATE_R:
        return "r";
    case PSCOM_CON_STATE_W:
        return "w";
    case PSCOM_CON_STATE_RW:
        return "rw";
    case PSCOM_CON_STATE_CLOSED:
        return "closed";
    case PSCOM_CON_STATE_CONNECTING:
        return "connecting";
    case PSCOM_CON_STATE_ACCEPTING:
        return "accepting";
    case PSCOM_CON_STATE_CLOSING:
        return "closing";
    case PSCOM_CON_STATE_SUSPENDING:
        return "suspending";
    case PSCOM_CON_STATE_SUSPEND_SENT:
        return "suspend_sent";
    case PSCOM_CON_STATE_SUSPEND_RECEIVED:
        return "suspend_received";
    case PSCOM_CON_STATE_SUSPENDED:
        return "suspended";
    case PSCOM_CON_STATE_CONNECTING_ONDEMAND:
        return "connecting_ondemand";
    case PSCOM_CON_STATE_ACCEPTING_ONDEMAND:
        return "accepting_ondemand";
    }
    return "unknown";
}

const char *pscom_con_type_str(pscom_con_type_t type)
{
    static const char *const names[] = {
        "none",   "loop", "tcp",  "shm",    "p4s",  "gm",      "mvapi",
        "openib", "elan", "dapl", "demand", "ofed", "extoll",  "psm",
        "velo",   "cbc",  "mxm",  "susp",   "ucp",  "ivshmem",
    };

    if ((unsigned)type < sizeof(names) / sizeof(names[0])) {
        return names[type];
    }
    return "unknown";
}

const char *pscom_req_state_str(pscom_req_state_t state)
{
    static const char *const bits[] = {
        "send",     "recv",      "grecv",    "posted",     "io_started",
        "io_done",  "error",     "canceled", "truncated",  "done",
        "rma_read", "rma_write", "passive",  "rendezvous", "grecv_merged",
    };
    STR_SLOT(buf, 192);
    size_t off = 0;

    buf[0] = '\0';
    for (unsigned int i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        if (state & (1u << i)) {
            off += (size_t)snprintf(buf + off, buf_size - off, "%s%s",
                                    off ? "|" : "", bits[i]);
            if (off >= buf_size) {
                break;
            }
        }
    }
    return off ? buf : "none";
}

const char *pscom_err_str(pscom_err_t error)
{
    STR_SLOT(buf, 96);

    switch (error) {
    case PSCOM_SUCCESS:
        return "success";
    case PSCOM_ERR_STDERROR:
        snprintf(buf, buf_size, "%s", strerror(errno));
        return buf;
    case PSCOM_ERR_INVALID:
        return "invalid argument";
    case PSCOM_ERR_ALREADY:
        return "operation already in progress";
    case PSCOM_NOT_IMPLEMENTED:
        return "not implemented";
    case PSCOM_ERR_EOF:
        return "end of file";
    case PSCOM_ERR_IOERROR:
        return "IO error";
    case PSCOM_ERR_UNSUPPORTED_VERSION:
        return "unsupported version";
    case PSCOM_ERR_CONNECTION_REFUSED:
        return "connection refused";
    }
    snprintf(buf, buf_size, "error %d", (int)error);
    return buf;
}

const char *pscom_con_info_str(pscom_con_info_t *con_info)
{
    STR_SLOT(buf, 64);
    char ip[16];

    pscom_inet_str(ip, sizeof(ip), con_info->node_id);
    snprintf(buf, buf_size, "%s/%d(%.8s)", ip, con_info->pid, con_info->name);
    return buf;
}

const char *pscom_con_info_str2(pscom_con_info_t *con_info1,
                                pscom_con_info_t *con_info2)
{
    STR_SLOT(buf, 136);

    /* pscom_con_info_str() rotates: both results stay valid here. */
    snprintf(buf, buf_size, "%s to %s", pscom_con_info_str(con_info1),
             pscom_con_info_str(con_info2));
    return buf;
}

const char *pscom_op_str(pscom_op_t operation)
{
    switch (operation) {
    case PSCOM_OP_READ:
        return "read";
    case PSCOM_OP_WRITE:
        return "write";
    case PSCOM_OP_CONNECT:
        return "connect";
    case PSCOM_OP_RW:
        return "rw";
    }
    return "unknown";
}

/* Hex of the first DUMP_MAX bytes, then the printable characters. */
#define DUMP_MAX 32
const char *pscom_dumpstr(const void *buf, int size)
{
    STR_SLOT(out, DUMP_MAX * 4 + 16);
    const unsigned char *b = buf;
    int n = size < 0 ? 0 : (size > DUMP_MAX ? DUMP_MAX : size);
    size_t off = 0;

    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        off += (size_t)snprintf(out + off, out_size - off, "%s%02x",
                                i ? " " : "", b[i]);
    }
    off += (size_t)snprintf(out + off, out_size - off, "%s'", n ? " " : "");
    for (int i = 0; i < n; i++) {
        out[off++] = (b[i] >= 0x20 && b[i] < 0x7f) ? (char)b[i] : '.';
    }
    snprintf(out + off, out_size - off, "'%s", size > n ? "..." : "");
    return out;
}

const char *pscom_con_str(pscom_connection_t *connection)
{
    STR_SLOT(buf, 160);
    char local[64];

    if (!connection) {
        return "(no connection)";
    }
    snprintf(local, sizeof(local), "%s",
             pscom_con_info_str(&connection->socket->local_con_info));
    snprintf(buf, buf_size, "%s to %s via %s", local,
             pscom_con_info_str(&connection->remote_con_info),
             pscom_con_type_str(connection->type));
    return buf;
}
