/*
 * loop.c -- the loop transport: a connection to itself. Sends are copied
 * straight into the matching receive (or unexpected) buffer by a poller in
 * the next progress step, never inside pscom_post_send(), so callbacks are
 * not re-entered.
 */
#include <config.h>

#include <stdlib.h>
#include <unistd.h>

#include "pscom_priv.h"

struct loop_con {
    pscom_poller_t poller;
    pscom_con_t *con;
};

static int loop_poll(pscom_poller_t *poller)
{
    struct loop_con *lc = poller->priv;
    pscom_con_t *con = lc->con;
    struct iovec iov[2];
    size_t len;
    int progressed = 0;

    while ((len = pscom_con_write_get_iov(con, iov)) > 0) {
        pscom_con_read_feed(con, iov[0].iov_base, iov[0].iov_len);
        pscom_con_read_feed(con, iov[1].iov_base, iov[1].iov_len);
        pscom_con_write_done(con, len);
        progressed = 1;
        if (con->pub.state & PSCOM_CON_STATE_CLOSED) {
            return 1;
        }
    }
    pscom_poller_stop(poller);
    return progressed;
}

static void loop_write_start(pscom_con_t *con)
{
    struct loop_con *lc = pscom_con_get_priv(con);

    pscom_poller_start(&lc->poller);
}

static void loop_close(pscom_con_t *con)
{
    struct loop_con *lc = pscom_con_get_priv(con);

    if (lc) {
        pscom_poller_stop(&lc->poller);
        free(lc);
        pscom_con_set_priv(con, NULL);
    }
}

const pscom_plugin_t pscom_plugin_loop_builtin = {
    .version = PSCOM_PLUGIN_VERSION,
    .name = "loop",
    .con_type = PSCOM_CON_TYPE_LOOP,
    .write_start = loop_write_start,
    .close = loop_close,
};

void pscom_loop_connect(struct pscom_con *con)
{
    struct loop_con *lc = calloc(1, sizeof(*lc));

    if (!lc) {
        pscom_con_fail(con, PSCOM_OP_CONNECT, PSCOM_ERR_STDERROR);
        return;
    }
    lc->con = con;
    lc->poller.poll = loop_poll;
    lc->poller.priv = lc;
    pscom_con_set_priv(con, lc);
    con->pub.remote_con_info = con->sock->pub.local_con_info;
    con->pub.remote_con_info.id = con;
    pscom_con_established(con, &pscom_plugin_loop_builtin);
}
