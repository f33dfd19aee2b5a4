/*
 * compat_nouser.c -- a unit compiled WITHOUT PSCOM_XHEADER_USER_TYPE:
 * then the xheader's user member is 0x0200's "char user[0]", indexed as
 * req->xheader.user[i] and header_net->xheader->user[i].
 */
/* Indexing the zero-length array is what 0x0200 programs do; gcc warns
 * about it once it unrolls the loops (the 0x0200 header does the same). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wzero-length-bounds"
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
#include "pscom.h"

#include "compat.h"

#define NX 16

static int nouser_accept(pscom_request_t *req, pscom_connection_t *con,
                         pscom_header_net_t *h)
{
    (void)req;
    (void)con;
    for (int i = 0; i < NX; i++) {
        if (h->xheader->user[i] != (char)('a' + i)) {
            return 0;
        }
    }
    return h->xheader_len == NX;
}

int compat_nouser_roundtrip(pscom_connection_t *loop)
{
    pscom_request_t *s = pscom_request_create(NX, 0);
    pscom_request_t *r = pscom_request_create(NX, 0);
    int good = 1;

    for (int i = 0; i < NX; i++) {
        s->xheader.user[i] = (char)('a' + i);
    }
    s->connection = loop;
    s->xheader_len = NX;
    r->connection = loop;
    r->xheader_len = NX;
    r->ops.recv_accept = nouser_accept;
    pscom_post_recv(r);
    pscom_post_send(s);
    pscom_wait(s);
    pscom_wait(r);
    for (int i = 0; i < NX; i++) {
        good &= r->xheader.user[i] == (char)('a' + i);
    }
    good &= pscom_req_successful(r) && pscom_req_successful(s) &&
            r->xheader_len == NX;
    pscom_request_free(s);
    pscom_request_free(r);
    return good;
}
