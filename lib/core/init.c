/*
 * init.c -- library initialisation, version check, node id.
 */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pscom_priv.h"

struct pscom_global pscom_g = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
    .epfd = -1,
    .wakefd = -1,
    .sockets = LIST_HEAD_INIT(pscom_g.sockets),
    .doneq = LIST_HEAD_INIT(pscom_g.doneq),
    .zombies = LIST_HEAD_INIT(pscom_g.zombies),
};

/* Guards the first initialisation against racing threads. */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

static int addr_in_network(uint32_t addr, uint32_t net)
{
    /* The network's trailing zero bytes are wildcards ("10.0.2.0"). */
    uint32_t mask = 0xffffffffu;

    for (int i = 0; i < 4 && ((net >> (8 * i)) & 0xffu) == 0; i++) {
        mask <<= 8;
    }
    return (addr & mask) == (net & mask);
}

/* The first local IPv4 address in net (want_net), or else the first one
 * that is not loopback; 0 if none. */
static int scan_ifaddrs(int want_net, uint32_t net)
{
    struct ifaddrs *ifa, *it;
    int found = 0;

    if (getifaddrs(&ifa)) {
        return 0;
    }
    for (it = ifa; it; it = it->ifa_next) {
        const struct sockaddr_in *sin;
        uint32_t a;

        if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET) {
            continue;
        }
        sin = (const struct sockaddr_in *)(const void *)it->ifa_addr;
        a = ntohl(sin->sin_addr.s_addr);
        if (want_net ? addr_in_network(a, net) : (a >> 24) != 127) {
            found = (int)a;
            break;
        }
    }
    freeifaddrs(ifa);
    return found;
}

static int nodeid_from_hostname(void)
{
    char host[256];
    struct addrinfo hints = {.ai_family = AF_INET}, *res;
    int id = 0;

    if (gethostname(host, sizeof(host))) {
        return 0;
    }
    host[sizeof(host) - 1] = '\0';
    if (getaddrinfo(host, NULL, &hints, &res)) {
        return 0;
    }
    for (struct addrinfo *r = res; r; r = r->ai_next) {
        uint32_t a = ntohl(
            ((struct sockaddr_in *)(void *)r->ai_addr)->sin_addr.s_addr);
        id = (int)a;
        if ((a >> 24) != 127) {
            break;
        }
    }
    freeaddrinfo(res);
    return id;
}

int pscom_find_nodeid(const char *network)
{
    int id = 0;

    if (network && network[0]) {
        struct in_addr net;
        if (inet_pton(AF_INET, network, &net) == 1) {
            id = scan_ifaddrs(1, ntohl(net.s_addr));
        }
        if (id) {
            return id; /* what the user asked for, even loopback */
        }
        DPRINT(1, "pscom: PSP_NETWORK=%s: no local address in it", network);
    }
    id = nodeid_from_hostname();
    if (!id || ((unsigned)id >> 24) == 127) {
        int other = scan_ifaddrs(0, 0);
        if (other) {
            id = other;
        }
    }
    if (!id) {
        id = (int)INADDR_LOOPBACK;
    }
    return id;
}

static void wake_cb(pscom_ufd_t *ufd, uint32_t revents)
{
    /* Only the thread asleep in epoll drains the eventfd (progress.c):
     * a thread that merely polls must not swallow its wake-up. */
}

static void pscom_atexit(void)
{
    pscom_susp_proc_exit();
    pscom_plugins_destroy();
}

static int do_init(void)
{
    pscom_env_load();
    pscom_debug_init();
    pscom_g.epfd = epoll_create1(EPOLL_CLOEXEC);
    if (pscom_g.epfd < 0) {
        DPRINT(0, "pscom: epoll_create1: %s", strerror(errno));
        return PSCOM_ERR_STDERROR;
    }
    pscom_g.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (pscom_g.wakefd < 0) {
        DPRINT(0, "pscom: eventfd: %s", strerror(errno));
        goto err_eventfd;
    }
    pscom_g.wake_ufd.fd = pscom_g.wakefd;
    pscom_g.wake_ufd.events = EPOLLIN;
    pscom_g.wake_ufd.cb = wake_cb;
    if (pscom_ufd_add(&pscom_g.wake_ufd)) {
        goto err_ufd;
    }
    pscom_g.nodeid = pscom_find_nodeid(pscom_env.network);
    pscom_plugins_init();
    atexit(pscom_atexit);
    pscom_g.initialized = 1;
    pscom_susp_proc_init();
    return PSCOM_SUCCESS;

err_ufd:
    close(pscom_g.wakefd);
    pscom_g.wakefd = -1;
err_eventfd:
    close(pscom_g.epfd);
    pscom_g.epfd = -1;
    return PSCOM_ERR_STDERROR;
}

int pscom_ensure_init(void)
{
    int rc = PSCOM_SUCCESS;

    if (__atomic_load_n(&pscom_g.initialized, __ATOMIC_ACQUIRE)) {
        return PSCOM_SUCCESS;
    }
    pthread_mutex_lock(&init_lock);
    if (!pscom_g.initialized) {
        rc = do_init();
    }
    pthread_mutex_unlock(&init_lock);
    return rc;
}

pscom_err_t pscom_init_thread_level(int pscom_version, int threadlevel)
{
    if ((pscom_version & 0xff00) != (PSCOM_VERSION & 0xff00)) {
        fprintf(stderr,
                "pscom: unsupported interface version 0x%04x "
                "(this library: 0x%04x)\n",
                pscom_version, PSCOM_VERSION);
        return PSCOM_ERR_UNSUPPORTED_VERSION;
    }
    if (threadlevel == PSCOM_THREAD_MULTIPLE) {
        pscom_threads_enable();
    }
    return (pscom_err_t)pscom_ensure_init();
}

pscom_err_t pscom_init(int pscom_version)
{
    return pscom_init_thread_level(pscom_version, PSCOM_THREAD_SINGLE);
}

pscom_err_t pscom_init_thread(int pscom_version)
{
    return pscom_init_thread_level(pscom_version, PSCOM_THREAD_MULTIPLE);
}

int pscom_get_nodeid(void)
{
    if (pscom_ensure_init()) {
        return (int)INADDR_LOOPBACK;
    }
    return pscom_g.nodeid;
}

int pscom_get_portno(pscom_socket_t *socket)
{
    return socket ? socket->listen_portno : -1;
}
