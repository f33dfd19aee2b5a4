/*
 * failsock.c -- fault injection for mtl-fallback.sh, loaded with
 * LD_PRELOAD into MPI ranks: listen() on an IPv4/IPv6 socket fails with
 * EADDRINUSE, so libpscom cannot listen and the pscom MTL must decline
 * (Open MPI then falls back to ob1). Other sockets (unix) are left alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>

int listen(int fd, int backlog)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int (*real)(int, int);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
        errno = EADDRINUSE;
        return -1;
    }
    real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, backlog);
}
