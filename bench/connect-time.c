/*
 * connect-time.c -- connection set-up cost: from pscom_connect_socket_str()
 * to the first message answered (a 0-byte ping and its 0-byte echo), for
 * whichever transport the environment selects (PSP_SHM, PSP_IVSHMEM, ...).
 *
 *   connect-time -l N        server: answer N connections, then exit
 *   connect-time N ADDR      client: N connections one after the other
 *
 * The client prints one JSON line: the transport, the first connection
 * (it pays for plugin discovery and segment attach) and the median and
 * maximum of the others, in microseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pscom.h"

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static int server(int n)
{
    pscom_socket_t *sock = pscom_open_socket(0, 0);

    if (!sock || pscom_listen(sock, PSCOM_ANYPORT) != PSCOM_SUCCESS) {
        fprintf(stderr, "connect-time: listen failed\n");
        return 1;
    }
    printf("Waiting for client: %s\n", pscom_listen_socket_str(sock));
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        pscom_connection_t *from = NULL;
        char c;

        if (pscom_recv_any_con(sock, &from, NULL, 0, &c, 0) != PSCOM_SUCCESS) {
            fprintf(stderr, "connect-time: receive %d failed\n", i);
            return 1;
        }
        pscom_send(from, NULL, 0, &c, 0);
        pscom_flush(from);
        pscom_close_connection(from);
    }
    pscom_close_socket(sock);
    return 0;
}

static int client(int n, const char *addr)
{
    pscom_socket_t *sock = pscom_open_socket(0, 0);
    double *t = calloc((size_t)n, sizeof(*t));
    char type[32] = "?";

    if (!sock || !t) {
        return 1;
    }
    for (int i = 0; i < n; i++) {
        pscom_connection_t *con = pscom_open_connection(sock);
        pscom_connection_t *from = NULL;
        double t0 = now_us();
        pscom_err_t err = pscom_connect_socket_str(con, addr);
        char c = 0;

        if (err != PSCOM_SUCCESS) {
            fprintf(stderr, "connect-time: connect %s: %s\n", addr,
                    pscom_err_str(err));
            return 1;
        }
        pscom_send(con, NULL, 0, &c, 0);
        if (pscom_recv_any_con(sock, &from, NULL, 0, &c, 0) != PSCOM_SUCCESS) {
            fprintf(stderr, "connect-time: no answer\n");
            return 1;
        }
        t[i] = now_us() - t0;
        snprintf(type, sizeof(type), "%s", pscom_con_type_str(con->type));
        pscom_close_connection(con);
    }
    double first = t[0];
    qsort(t + 1, (size_t)n - 1, sizeof(*t), cmp_double);
    printf("{\"type\": \"%s\", \"connections\": %d, \"first_us\": %.1f, "
           "\"median_us\": %.1f, \"max_us\": %.1f}\n",
           type, n, first, n > 1 ? t[1 + (n - 1) / 2] : first,
           n > 1 ? t[n - 1] : first);
    free(t);
    pscom_close_socket(sock);
    return 0;
}

int main(int argc, char **argv)
{
    if (pscom_init(PSCOM_VERSION) != PSCOM_SUCCESS) {
        fprintf(stderr, "connect-time: pscom_init failed\n");
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "-l") == 0 && atoi(argv[2]) > 0) {
        return server(atoi(argv[2]));
    }
    if (argc == 3 && atoi(argv[1]) > 1) {
        return client(atoi(argv[1]), argv[2]);
    }
    fprintf(stderr, "usage: connect-time -l N | connect-time N ADDR\n");
    return 2;
}
