/*
 * badinput.h -- the parts of badinput.c that badinput_handshake.c shares:
 * the echo server, the good client and raw sockets.
 */
#ifndef TEST_BADINPUT_H_
#define TEST_BADINPUT_H_

#include "battery.h"

#define ADDR_MAX 128

/** The echo server (a child): listens on any port, writes its socket
 * address into arg (a struct bt_line_pipe *), echoes every message on
 * any connection until a quit message. */
int bi_server_main(void *arg);

/** When set (in the server's process), bi_server_main() calls it after
 * it sent its address, before it echoes. */
extern void (*bi_server_hook)(pscom_socket_t *sock);

/** Pipes of the good client: the server address in, commands in
 * ("go": one batch of verified round trips; "quit"), results out. */
struct good_arg {
    struct bt_line_pipe *addr, *cmd, *res;
};

/** The good client (a child): connects to the address read from
 * arg->addr and runs the commands of arg->cmd. */
int bi_good_main(void *arg);

/** One batch of round trips of the good client: 1 when it verified, else
 * 0 with the reason in res. */
int bi_good_round(struct good_arg *g, char *res, size_t len);

/** A raw TCP connection to port on the loopback (bails out on failure). */
int bi_raw_connect(int port);

/** 1 when the server closes fd (EOF or reset) within ms; what it sends
 * before (its own hand-shake) is read over. */
int bi_closed_by_server(int fd, int ms);

/** The hand-shake attacks of badinput_handshake.c: mode "leak",
 * "fdlimit", "hsmax" or "late". Returns the exit status. */
int bi_handshake_main(const char *mode);

#endif /* TEST_BADINPUT_H_ */
