/* test_ivsrv.c -- the server library: size parsing, and the QEMU ivshmem
 * protocol (version 0) message by message, as a client sees it. */
#include "config.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ivsrv.h"

#define VECTORS 3

static void test_parse_size(void **state)
{
    uint64_t b;

    assert_int_equal(ivsrv_parse_size("4", &b), 0);
    assert_int_equal(b, 4ull << 20);
    assert_int_equal(ivsrv_parse_size("4M", &b), 0);
    assert_int_equal(b, 4ull << 20);
    assert_int_equal(ivsrv_parse_size("2g", &b), 0);
    assert_int_equal(b, 2ull << 30);
    assert_int_equal(ivsrv_parse_size("3T", &b), 0);
    assert_int_equal(b, 3ull << 40);
    assert_int_equal(ivsrv_parse_size("64K", &b), 0);
    assert_int_equal(b, 64ull << 10);
    assert_int_equal(ivsrv_parse_size("8MB", &b), 0);
    assert_int_equal(b, 8ull << 20);
    assert_int_equal(ivsrv_parse_size("0", &b), -1);
    assert_int_equal(ivsrv_parse_size("-1", &b), -1);
    assert_int_equal(ivsrv_parse_size("", &b), -1);
    assert_int_equal(ivsrv_parse_size("1X", &b), -1);
    assert_int_equal(ivsrv_parse_size("1MM", &b), -1);
    assert_int_equal(ivsrv_parse_size("16777216T", &b), -1); /* 2^64 */
    assert_int_equal(ivsrv_parse_size("99999999999999999999", &b), -1);
}

struct srv {
    pid_t pid;
    int stop_w;
    char sock[108];
    char shm[64];
};

static int start(void **state)
{
    struct srv *s = calloc(1, sizeof(*s));
    int stop[2], ready[2];
    char c;

    snprintf(s->shm, sizeof(s->shm), "pscom-ivsrv-%d", (int)getpid());
    snprintf(s->sock, sizeof(s->sock), "/tmp/pscom-ivsrv-%d.sock",
             (int)getpid());
    assert_int_equal(pipe(stop), 0);
    assert_int_equal(pipe(ready), 0);
    s->pid = fork();
    if (s->pid == 0) {
        struct ivsrv_config cfg = {.shm_name = s->shm,
                                   .size = 1 << 20,
                                   .socket_path = s->sock,
                                   .vectors = VECTORS,
                                   .layout = IVSRV_LAYOUT_PSCOM,
                                   .unlink_shm = true};
        struct ivsrv *srv;
        int rc;

        close(stop[1]);
        if (ivsrv_open(&srv, &cfg) < 0) {
            _exit(1);
        }
        if (write(ready[1], "y", 1) != 1) {
            _exit(1);
        }
        rc = ivsrv_run(srv, stop[0]);
        ivsrv_close(srv);
        _exit(rc ? 1 : 0);
    }
    close(stop[0]);
    close(ready[1]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    s->stop_w = stop[1];
    *state = s;
    return 0;
}

static int stop_srv(void **state)
{
    struct srv *s = *state;
    int st;

    close(s->stop_w); /* EOF on the stop pipe ends ivsrv_run */
    waitpid(s->pid, &st, 0);
    free(s);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int client(const struct srv *s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    strcpy(sa.sun_path, s->sock);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Receive one message: the int64 value and the fd (-1 if none). */
static int64_t recv_msg(int sock, int *fd)
{
    int64_t v;
    struct iovec iov = {.iov_base = &v, .iov_len = sizeof(v)};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf)};
    struct cmsghdr *cm;

    assert_int_equal(recvmsg(sock, &msg, 0), sizeof(v));
    *fd = -1;
    cm = CMSG_FIRSTHDR(&msg);
    if (cm && cm->cmsg_type == SCM_RIGHTS) {
        memcpy(fd, CMSG_DATA(cm), sizeof(int));
    }
    return (int64_t)le64toh((uint64_t)v);
}

/* The set-up sequence; returns the client's id. */
static int64_t expect_setup(int sock)
{
    struct stat sb;
    int64_t id;
    int fd;

    assert_int_equal(recv_msg(sock, &fd), 0); /* protocol version */
    assert_int_equal(fd, -1);
    id = recv_msg(sock, &fd);
    assert_true(id >= 0 && id <= 65535);
    assert_int_equal(fd, -1);
    assert_int_equal(recv_msg(sock, &fd), -1); /* the shared memory */
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_size, 1 << 20);
    close(fd);
    return id;
}

static void expect_vectors(int sock, int64_t id)
{
    for (int v = 0; v < VECTORS; v++) {
        int fd;

        assert_int_equal(recv_msg(sock, &fd), id);
        assert_true(fd >= 0);
        close(fd);
    }
}

static void test_protocol(void **state)
{
    struct srv *s = *state;
    int a = client(s), b, fd;
    int64_t ida, idb;
    uint64_t one = 1, got;
    int efd_b_in_a[VECTORS], efd_b_own[VECTORS];

    ida = expect_setup(a);
    expect_vectors(a, ida); /* its own vectors */
    b = client(s);
    idb = expect_setup(b);
    assert_int_not_equal(ida, idb);
    /* B learns A's vectors, then its own; A learns B's. */
    expect_vectors(b, ida);
    for (int v = 0; v < VECTORS; v++) {
        assert_int_equal(recv_msg(b, &efd_b_own[v]), idb);
        assert_int_equal(recv_msg(a, &efd_b_in_a[v]), idb);
    }
    /* A's copy of B's vector 1 is the same eventfd as B's own: a
     * doorbell from A reaches B. */
    assert_int_equal(write(efd_b_in_a[1], &one, sizeof(one)), sizeof(one));
    assert_int_equal(read(efd_b_own[1], &got, sizeof(got)), sizeof(got));
    assert_int_equal(got, 1);
    for (int v = 0; v < VECTORS; v++) {
        close(efd_b_in_a[v]);
        close(efd_b_own[v]);
    }
    /* B leaves: A is told B's id without a descriptor. */
    close(b);
    assert_int_equal(recv_msg(a, &fd), idb);
    assert_int_equal(fd, -1);
    close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test_setup_teardown(test_protocol, start, stop_srv),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
