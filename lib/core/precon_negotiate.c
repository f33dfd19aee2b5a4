/*
 * precon_negotiate.c -- which transport a new connection uses (the
 * plugin contract is in plugin.h). The connector offers its candidates in
 * priority order, one at a time; the first one the acceptor accepts and
 * the connector can finish wins, else TCP (unless PSP_TCP=0). A transport
 * offered or accepted holds resources until it is agreed or aborted, so
 * every way out of a try goes through pscom_precon_drop_trying().
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "precon.h"

void pscom_precon_drop_trying(struct pscom_precon *pre)
{
    if (pre->trying && pre->con && pre->trying->abort) {
        pre->trying->abort(pre->con);
    }
    pre->trying = NULL;
}

/* Ask plugin p for an offer and queue it; 0 if queued. */
static int offer_one(struct pscom_precon *pre, const pscom_plugin_t *p)
{
    char reason[PSCOM_PLUGIN_REASON_MAX] = "";
    struct precon_offer offer;
    size_t len = 0;

    if (!p->offer) {
        return -1;
    }
    if (p->offer(pre->con, offer.blob, &len, reason)) {
        DPRINT(2, "pscom: %s: %s not offered: %s", pscom_precon_peer_str(pre),
               p->name, reason[0] ? reason : "refused");
        return -1;
    }
    pre->trying = p;
    if (len > sizeof(offer.blob)) {
        DPRINT(1, "pscom: plugin %s: offer blob too long (%zu)", p->name, len);
        pscom_precon_drop_trying(pre);
        return -1;
    }
    memset(offer.name, 0, sizeof(offer.name));
    memcpy(offer.name, p->name, strnlen(p->name, PSCOM_PLUGIN_NAME_MAX));
    pscom_precon_queue_frame(pre, PRECON_FRAME_OFFER, &offer,
                             sizeof(offer.name) + len);
    return 0;
}

/* Offer the next candidate, or tcp. 1 if pre was freed (failure). */
static int next_offer(struct pscom_precon *pre)
{
    while (pre->cand < pre->ncands) {
        if (offer_one(pre, pre->cands[pre->cand++]) == 0) {
            return 0;
        }
    }
    if (pscom_plugins_tcp_priority() == 0) {
        pscom_precon_fail(pre, PSCOM_OP_CONNECT, PSCOM_ERR_CONNECTION_REFUSED,
                          "no transport agreed and tcp is disabled "
                          "(PSP_TCP=0)");
        return 1;
    }
    pscom_precon_queue_frame(pre, PRECON_FRAME_TCP, NULL, 0);
    pre->chosen = &pscom_plugin_tcp_builtin;
    return 0;
}

int pscom_precon_offer_first(struct pscom_precon *pre)
{
    pre->ncands = pscom_plugins_candidates(pre->sock, pre->cands);
    pre->cand = 0;
    return next_offer(pre);
}

int pscom_precon_connector_connected(struct pscom_precon *pre)
{
    pre->state = PRE_HANDSHAKE;
    pscom_precon_queue_hello(pre);
    if (pre->flags & PRECON_F_BACKCONNECT) {
        /* Only ask the peer to connect to us; this socket then closes. */
        return 0;
    }
    if (pre->flags & PRECON_F_RESUME) {
        /* Offer when the peer answers: it may still be suspended (its
         * device detached), and an offer holds transport resources. */
        return 0;
    }
    return pscom_precon_offer_first(pre);
}

/* ---- acceptor ------------------------------------------------------------ */

/* The acceptor's answer to an offer: ACCEPT with the plugin's reply, or
 * REFUSE with a reason the connector logs. */
int pscom_precon_on_offer(struct pscom_precon *pre, size_t len)
{
    struct precon_offer *offer = (struct precon_offer *)pre->rx_payload;
    char reason[PSCOM_PLUGIN_REASON_MAX] = "";
    char reply[PSCOM_PLUGIN_BLOB_MAX];
    size_t rlen = 0;
    const pscom_plugin_t *p;

    if (pre->connector || pre->trying || pre->chosen ||
        len < sizeof(offer->name)) {
        return -1;
    }
    offer->name[PSCOM_PLUGIN_NAME_MAX] = '\0';
    p = pscom_plugins_find(pre->sock, offer->name, reason);
    if (p && p->accept &&
        p->accept(pre->con, offer->blob, len - sizeof(offer->name), reply,
                  &rlen, reason) == 0 &&
        rlen <= sizeof(reply)) {
        pscom_precon_queue_frame(pre, PRECON_FRAME_ACCEPT, reply, rlen);
        pre->trying = p;
        return 0;
    }
    if (!reason[0]) {
        snprintf(reason, sizeof(reason), "%.15s refused", offer->name);
    }
    reason[sizeof(reason) - 1] = '\0';
    PRE_DPRINT(pre, 2, "pscom: %s: refusing %s: %s", pscom_precon_peer_str(pre),
               offer->name, reason);
    pscom_precon_queue_frame(pre, PRECON_FRAME_REFUSE, reason,
                             strlen(reason) + 1);
    return 0;
}

/* The connector's ABORT: its finish failed after our ACCEPT. */
int pscom_precon_on_abort(struct pscom_precon *pre, size_t len)
{
    (void)len;
    if (pre->connector || !pre->trying) {
        return -1;
    }
    DPRINT(2, "pscom: %s: peer aborted %s", pscom_precon_peer_str(pre),
           pre->trying->name);
    pscom_precon_drop_trying(pre);
    return 0;
}

int pscom_precon_on_go(struct pscom_precon *pre, size_t len)
{
    (void)len;
    if (pre->connector || !pre->trying) {
        return -1;
    }
    pre->chosen = pre->trying;
    pre->trying = NULL;
    return 0;
}

int pscom_precon_on_tcp(struct pscom_precon *pre, size_t len)
{
    (void)len;
    if (pre->connector || pre->trying) {
        return -1;
    }
    if (pscom_plugins_tcp_priority() == 0) {
        PRE_DPRINT(pre, 1, "pscom: %s: peer wants tcp but PSP_TCP=0",
                   pscom_precon_peer_str(pre));
        return -1;
    }
    pre->chosen = &pscom_plugin_tcp_builtin;
    return 0;
}

/* ---- connector ----------------------------------------------------------- */

/* The acceptor took our offer: GO if our side finishes too, else ABORT
 * and offer the next one. */
int pscom_precon_on_accept(struct pscom_precon *pre, size_t len)
{
    char reason[PSCOM_PLUGIN_REASON_MAX] = "";

    if (!pre->connector || !pre->trying) {
        return -1;
    }
    if (pre->trying->finish &&
        pre->trying->finish(pre->con, pre->rx_payload, len, reason)) {
        DPRINT(2, "pscom: %s: %s failed after the peer accepted: %s",
               pscom_precon_peer_str(pre), pre->trying->name,
               reason[0] ? reason : "?");
        pscom_precon_queue_frame(pre, PRECON_FRAME_ABORT, NULL, 0);
        pscom_precon_drop_trying(pre);
        return next_offer(pre);
    }
    pscom_precon_queue_frame(pre, PRECON_FRAME_GO, NULL, 0);
    pre->chosen = pre->trying;
    pre->trying = NULL;
    return 0;
}

int pscom_precon_on_refuse(struct pscom_precon *pre, size_t len)
{
    if (!pre->connector || !pre->trying) {
        return -1;
    }
    pre->rx_payload[len ? len - 1 : 0] = '\0';
    DPRINT(2, "pscom: %s: peer refused %s: %s", pscom_precon_peer_str(pre),
           pre->trying->name, pre->rx_payload);
    pscom_precon_drop_trying(pre);
    return next_offer(pre);
}
