/*
 * test_compat.c -- the source-compatibility hooks of pscom.h, used the way
 * pscom 0x0200 programs use them: user types for the xheader, req->user,
 * socket and connection userdata, and PSCOM_REQUEST_CREATE().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

struct my_xheader {
    uint32_t tag;
    uint32_t seq;
    char label[40];
};

#define PSCOM_XHEADER_USER_TYPE struct my_xheader

struct PSCOM_req_user {
    int cookie;
    char scratch[100];
};

struct my_sockdata {
    int rank;
    double weights[4];
};
#define PSCOM_SOCKET_USERDATA_TYPE struct my_sockdata

struct my_condata {
    int peer_rank;
    char note[32];
};
#define PSCOM_CONNECTION_USERDATA_TYPE struct my_condata

#include "pscom.h"

static void test_hooks(void **state)
{
    pscom_socket_t *s;
    pscom_connection_t *c;
    pscom_request_t *sr, *rr;
    char data[16] = "payload";
    char in[16] = "";

    assert_int_equal(pscom_init(PSCOM_VERSION), PSCOM_SUCCESS);
    s = pscom_open_socket(sizeof(struct my_sockdata),
                          sizeof(struct my_condata));
    assert_non_null(s);
    assert_int_equal(s->userdata_size, sizeof(struct my_sockdata));
    s->userdata.rank = 3;
    s->userdata.weights[3] = 1.5;
    assert_int_equal(pscom_listen(s, PSCOM_ANYPORT), PSCOM_SUCCESS);
    c = pscom_open_connection(s);
    assert_int_equal(c->userdata_size, sizeof(struct my_condata));
    c->userdata.peer_rank = 7;
    memset(c->userdata.note, 'n', sizeof(c->userdata.note));
    assert_int_equal(pscom_connect(c, -1, -1), PSCOM_SUCCESS);

    sr = PSCOM_REQUEST_CREATE();
    rr = PSCOM_REQUEST_CREATE();
    assert_non_null(sr);
    assert_int_equal(sr->max_xheader_len, sizeof(struct my_xheader));
    assert_int_equal(sr->user_size, sizeof(struct PSCOM_req_user));
    /* the user part must not overlap the xheader */
    assert_true((char *)sr->user >=
                (char *)&sr->xheader + sizeof(struct my_xheader));
    sr->user->cookie = 11;
    memset(sr->user->scratch, 's', sizeof(sr->user->scratch));
    sr->xheader.user.tag = 0x1234;
    sr->xheader.user.seq = 9;
    strcpy(sr->xheader.user.label, "label");
    sr->xheader_len = sizeof(struct my_xheader);
    sr->connection = c;
    sr->data = data;
    sr->data_len = sizeof(data);

    rr->connection = c;
    rr->xheader_len = sizeof(struct my_xheader);
    rr->data = in;
    rr->data_len = sizeof(in);
    rr->user->cookie = 22;
    pscom_post_recv(rr);
    pscom_post_send(sr);
    pscom_wait(sr);
    pscom_wait(rr);
    assert_true(pscom_req_successful(sr));
    assert_true(pscom_req_successful(rr));
    assert_int_equal(rr->xheader.user.tag, 0x1234);
    assert_int_equal(rr->xheader.user.seq, 9);
    assert_string_equal(rr->xheader.user.label, "label");
    assert_string_equal(in, "payload");
    /* nothing scribbled over the user parts */
    assert_int_equal(sr->user->cookie, 11);
    assert_int_equal(rr->user->cookie, 22);
    assert_int_equal(s->userdata.rank, 3);
    assert_int_equal(c->userdata.peer_rank, 7);
    assert_true(s->userdata.weights[3] == 1.5);
    pscom_request_free(sr);
    pscom_request_free(rr);
    pscom_close_socket(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
