/*
 * io.c -- pscom_readall / pscom_writeall.
 */
#include <config.h>

#include <errno.h>
#include <unistd.h>

#include "pscom_priv.h"

ssize_t pscom_readall(int fd, void *buf, size_t count)
{
    size_t done = 0;

    while (done < count) {
        ssize_t n = read(fd, (char *)buf + done, count - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        if (n == 0) {
            errno = EPIPE;
            return -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t pscom_writeall(int fd, const void *buf, size_t count)
{
    size_t done = 0;

    while (done < count) {
        ssize_t n = write(fd, (const char *)buf + done, count - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}
