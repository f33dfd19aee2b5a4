/*
 * io.c -- pscom_readall / pscom_writeall (0x0200: int counts).
 */
#include <config.h>

#include <errno.h>
#include <unistd.h>

#include "pscom_priv.h"

int pscom_readall(int fd, void *buf, int count)
{
    int done = 0;

    if (count < 0) {
        errno = EINVAL;
        return -1;
    }
    while (done < count) {
        ssize_t n = read(fd, (char *)buf + done, (size_t)(count - done));
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
        done += (int)n;
    }
    return done;
}

int pscom_writeall(int fd, const void *buf, int count)
{
    int done = 0;

    if (count < 0) {
        errno = EINVAL;
        return -1;
    }
    while (done < count) {
        ssize_t n = write(fd, (const char *)buf + done, (size_t)(count - done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        done += (int)n;
    }
    return done;
}
