/*
 * sock.c -- sockets: creation, names, listening and accepting, the
 * connection-type masks, closing.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pscom_priv.h"

static void default_con_error(pscom_connection_t *connection,
                              pscom_op_t operation, pscom_err_t error)
{
    /* pscom_con_fail() has logged it already (PSP_DEBUG >= 1, EOF >= 2). */
}

pscom_socket_t *pscom_open_socket(unsigned int userdata_size,
                                  unsigned int connection_userdata_size)
{
    struct pscom_sock *sock;

    if (pscom_ensure_init()) {
        return NULL;
    }
    pscom_lock();
    sock = calloc(1, sizeof(*sock) + userdata_size);
    if (!sock) {
        pscom_unlock();
        DPRINT(0, "pscom: out of memory allocating a socket");
        return NULL;
    }
    sock->magic = PSCOM_MAGIC_SOCK;
    list_init(&sock->cons);
    list_init(&sock->recvq);
    list_init(&sock->unexpq);
    list_init(&sock->precons);
    list_init(&sock->groups);
    sock->listen_fd = -1;
    sock->con_type_mask = ~(uint64_t)0;
    sock->con_userdata_size = connection_userdata_size;
    sock->pub.ops.con_error = default_con_error;
    sock->pub.listen_portno = -1;
    sock->pub.local_con_info.node_id = pscom_g.nodeid;
    sock->pub.local_con_info.pid = (int)getpid();
    sock->pub.local_con_info.id = sock;
    sock->pub.userdata_size = userdata_size;
    sock->pub.connection_userdata_size = connection_userdata_size;
    list_add_tail(&sock->next, &pscom_g.sockets);
    pscom_unlock();
    return &sock->pub;
}

void pscom_socket_set_name(pscom_socket_t *socket, const char *name)
{
    pscom_lock();
    memset(socket->local_con_info.name, 0, sizeof(socket->local_con_info.name));
    if (name) {
        memcpy(socket->local_con_info.name, name,
               strnlen(name, sizeof(socket->local_con_info.name)));
    }
    pscom_unlock();
}

/* ---- accepting ----------------------------------------------------------- */

/* Back-off of a listener after accept() failed for lack of resources:
 * its connects wait in the backlog meanwhile. */
#define ACCEPT_BACKOFF_MIN_MS 10u
#define ACCEPT_BACKOFF_MAX_MS 1000u

/* Anyone who can reach the port can make accept() fail often. */
static struct pscom_ratelimit accept_rl;

int pscom_listen_update(struct pscom_sock *sock)
{
    unsigned int max = pscom_env.handshake_max;
    int want = sock->listen_fd >= 0 && !sock->listen_suspended &&
               !sock->accept_retry_ms && (!max || sock->handshakes < max);

    if (want && !sock->listen_ufd.registered) {
        return pscom_ufd_add(&sock->listen_ufd);
    }
    if (!want && sock->listen_ufd.registered) {
        pscom_ufd_del(&sock->listen_ufd);
    }
    return 0;
}

/* 1 for errors of the one pending connection, not of the listener: the
 * next accept() may succeed (see accept(2) on Linux). */
static int accept_error_transient(int err)
{
    switch (err) {
    case ECONNABORTED:
    case EPROTO:
    case EPERM:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case ENONET:
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return 1;
    default:
        return 0;
    }
}

/* accept() failed with err (EMFILE, ENFILE, ENOBUFS, ...): the listener
 * stays readable, so watching it would spin. Stop watching it for a
 * while, longer each time in a row; an accepted connection that closes
 * ends the back-off early. */
static void accept_back_off(struct pscom_sock *sock, int err)
{
    unsigned int ms = sock->accept_backoff_ms;

    ms = !ms                               ? ACCEPT_BACKOFF_MIN_MS
         : ms >= ACCEPT_BACKOFF_MAX_MS / 2 ? ACCEPT_BACKOFF_MAX_MS
                                           : 2 * ms;
    sock->accept_backoff_ms = ms;
    sock->accept_retry_ms = pscom_now_ms() + ms;
    pscom_debug_rl(&accept_rl, 1,
                   "pscom: accept on port %d: %s (not accepting for %u ms)",
                   sock->pub.listen_portno, strerror(err), ms);
}

static void listen_accept(struct pscom_sock *sock)
{
    unsigned int max = pscom_env.handshake_max;

    while (sock->listen_fd >= 0 && (!max || sock->handshakes < max)) {
        int fd = accept4(sock->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        int err = errno;

        if (fd >= 0) {
            sock->accept_backoff_ms = 0;
            pscom_precon_accepted(sock, fd);
            continue;
        }
        if (err == EINTR || accept_error_transient(err)) {
            continue;
        }
        if (err != EAGAIN && err != EWOULDBLOCK) {
            accept_back_off(sock, err);
        }
        break;
    }
    /* At PSP_HANDSHAKE_MAX or in back-off: stop watching the listener. */
    pscom_listen_update(sock);
}

void pscom_listen_fd_released(struct pscom_sock *sock)
{
    if (sock->accept_retry_ms) {
        /* A descriptor is free again: accept now rather than at the end
         * of the back-off. */
        sock->accept_retry_ms = 0;
        pscom_listen_update(sock);
    }
}

/* There are few sockets: walking them is cheap. */
int pscom_listen_run_backoffs(uint64_t now)
{
    struct list_head *pos;
    int next = -1;

    list_for_each(pos, &pscom_g.sockets)
    {
        struct pscom_sock *sock = list_entry(pos, struct pscom_sock, next);

        if (!sock->accept_retry_ms) {
            continue;
        }
        if (sock->accept_retry_ms <= now) {
            sock->accept_retry_ms = 0;
            pscom_listen_update(sock);
        } else {
            int t = (int)(sock->accept_retry_ms - now);
            if (next < 0 || t < next) {
                next = t;
            }
        }
    }
    return next;
}

static void listen_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    listen_accept(ufd->priv);
}

pscom_err_t pscom_listen(pscom_socket_t *sk, int portno)
{
    struct pscom_sock *sock = pscom_sock_of(sk);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t salen = sizeof(sa);
    int one = 1;
    int fd;

    pscom_lock();
    if (sock->listen_fd >= 0) {
        pscom_unlock();
        return PSCOM_ERR_ALREADY;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        goto err_socket;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    sa.sin_port = htons(portno == PSCOM_ANYPORT ? 0 : (uint16_t)portno);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, SOMAXCONN) ||
        getsockname(fd, (struct sockaddr *)&sa, &salen)) {
        goto err_bind;
    }
    sock->listen_fd = fd;
    sock->listen_ufd.fd = fd;
    sock->listen_ufd.events = EPOLLIN;
    sock->listen_ufd.cb = listen_cb;
    sock->listen_ufd.priv = sock;
    if (pscom_listen_update(sock)) {
        sock->listen_fd = -1;
        goto err_bind;
    }
    sk->listen_portno = ntohs(sa.sin_port);
    DPRINT(2, "pscom: listening on port %d", sk->listen_portno);
    pscom_unlock();
    return PSCOM_SUCCESS;

err_bind:
    DPRINT(1, "pscom: listen on port %d: %s", portno, strerror(errno));
    close(fd);
err_socket:
    pscom_unlock();
    return PSCOM_ERR_STDERROR;
}

static void stop_listen(struct pscom_sock *sock)
{
    if (sock->listen_fd < 0) {
        return;
    }
    pscom_ufd_del(&sock->listen_ufd);
    close(sock->listen_fd);
    sock->listen_fd = -1;
    sock->listen_suspended = 0;
    sock->accept_retry_ms = 0;
    sock->accept_backoff_ms = 0;
    sock->pub.listen_portno = -1;
}

void pscom_stop_listen(pscom_socket_t *socket)
{
    pscom_lock();
    stop_listen(pscom_sock_of(socket));
    pscom_unlock();
}

void pscom_suspend_listen(pscom_socket_t *socket)
{
    struct pscom_sock *sock = pscom_sock_of(socket);

    pscom_lock();
    if (sock->listen_fd >= 0 && !sock->listen_suspended) {
        /* Keep the port; connects wait in the backlog. */
        sock->listen_suspended = 1;
        pscom_listen_update(sock);
    }
    pscom_unlock();
}

void pscom_resume_listen(pscom_socket_t *socket)
{
    struct pscom_sock *sock = pscom_sock_of(socket);

    pscom_lock();
    if (sock->listen_fd >= 0 && sock->listen_suspended) {
        sock->listen_ufd.cb = listen_cb;
        sock->listen_suspended = 0;
        pscom_listen_update(sock);
    }
    pscom_unlock();
}

void pscom_close_socket(pscom_socket_t *socket)
{
    struct pscom_sock *sock;
    struct list_head *pos, *n;

    if (!socket) {
        return;
    }
    sock = pscom_sock_of(socket);
    pscom_lock();
    stop_listen(sock);
    pscom_groups_close_sock(sock);
    while (!list_empty(&sock->cons)) {
        pscom_con_close_internal(
            list_entry(sock->cons.next, struct pscom_con, next));
    }
    pscom_precon_close_sock(sock);
    list_for_each_safe(pos, n, &sock->recvq)
    {
        struct pscom_req *req = list_entry(pos, struct pscom_req, next);
        list_del(&req->next);
        req->pub.state |= PSCOM_REQ_STATE_CANCELED;
        pscom_req_complete(req);
    }
    while (!list_empty(&sock->unexpq)) {
        pscom_unexp_free(
            list_entry(sock->unexpq.next, struct pscom_unexp, next));
    }
    pscom_run_done();
    list_del(&sock->next);
    sock->magic = PSCOM_MAGIC_DEAD;
    free(sock);
    pscom_unlock();
}

/* ---- connection-type masks ----------------------------------------------- */

int pscom_sock_type_allowed(struct pscom_sock *sock, pscom_con_type_t ct)
{
    return ct < 64 && (sock->con_type_mask >> ct) & 1u;
}

void pscom_con_type_mask_all(pscom_socket_t *socket)
{
    pscom_lock();
    pscom_sock_of(socket)->con_type_mask = ~(uint64_t)0;
    pscom_unlock();
}

void pscom_con_type_mask_only(pscom_socket_t *socket, pscom_con_type_t con_type)
{
    pscom_lock();
    pscom_sock_of(socket)->con_type_mask = con_type < 64
                                               ? (uint64_t)1 << con_type
                                               : 0;
    pscom_unlock();
}

void pscom_con_type_mask_add(pscom_socket_t *socket, pscom_con_type_t con_type)
{
    pscom_lock();
    if (con_type < 64) {
        pscom_sock_of(socket)->con_type_mask |= (uint64_t)1 << con_type;
    }
    pscom_unlock();
}

void pscom_con_type_mask_del(pscom_socket_t *socket, pscom_con_type_t con_type)
{
    pscom_lock();
    if (con_type < 64) {
        pscom_sock_of(socket)->con_type_mask &= ~((uint64_t)1 << con_type);
    }
    pscom_unlock();
}

int pscom_con_type_mask_is_set(pscom_socket_t *socket,
                               pscom_con_type_t con_type)
{
    return pscom_sock_type_allowed(pscom_sock_of(socket), con_type);
}
