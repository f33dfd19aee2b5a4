/*
 * ring_bulk.c -- the bulk area's announcement parser and its two sides
 * (ring_bulk.h describes the layout). Every value read from the area or
 * the announcement is copied into a local once and checked before use.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "ring_bulk.h"

/* The area's lines (ring_bulk.h). */
struct bulk_head {
    uint64_t magic;
    _Atomic uint32_t detached; /* consumer: 1 = will not drain any more */
};

struct bulk_prod {
    uint64_t len;          /* length of the chunk in the slot */
    _Atomic uint64_t full; /* seq + 1 of that chunk (release) */
};

struct bulk_cons {
    _Atomic uint64_t empty; /* seq + 1 of the chunk drained (release) */
};

_Static_assert(sizeof(struct bulk_head) <= RING_ALIGN, "one line");
_Static_assert(sizeof(struct bulk_prod) <= RING_ALIGN, "one line");

static struct bulk_head *head_at(const void *base)
{
    return (struct bulk_head *)(uintptr_t)base;
}

static struct bulk_prod *prod_at(const void *base, uint32_t k)
{
    return (struct bulk_prod *)(uintptr_t)((const char *)base +
                                           RING_ALIGN * (1 + (size_t)k));
}

static struct bulk_cons *cons_at(const void *base, uint32_t n, uint32_t k)
{
    return (struct bulk_cons *)(uintptr_t)((const char *)base +
                                           RING_ALIGN * (1 + (size_t)n + k));
}

static unsigned char *slot_at(const void *base, uint32_t n, uint32_t size,
                              uint32_t k)
{
    return (unsigned char *)(uintptr_t)base + RING_BULK_DATA_OFF(n) +
           (uint64_t)k * size;
}

static int geometry_ok(uint32_t nslots, uint32_t slot_size)
{
    return nslots >= 2 && nslots <= RING_BULK_MAX_SLOTS &&
           slot_size >= RING_BULK_MIN_SLOT && slot_size <= RING_BULK_MAX_SLOT &&
           slot_size % RING_BULK_PAGE == 0;
}

int ring_bulk_parse(const void *buf, size_t len, struct ring_bulk_announce *out,
                    const char **why)
{
    struct ring_bulk_announce a;

    if (len < sizeof(a)) {
        *why = "bulk announcement cut short";
        return -EPROTO;
    }
    memcpy(&a, buf, sizeof(a)); /* read once: the peer may rewrite it */
    if (a.msg_type != RING_BULK_MSGTYPE || a.xheader_len != sizeof(a) - 8 ||
        a.zero != 0 || a.magic != RING_BULK_MAGIC ||
        (a.flags & ~RING_BULK_F_KNOWN)) {
        *why = "bulk announcement: bad type, magic, zero field or flags";
        return -EPROTO;
    }
    if (!geometry_ok(a.nslots, a.slot_size)) {
        *why = "bulk announcement: bad slot count or size";
        return -EPROTO;
    }
    if (a.chunk == 0 || a.chunk > a.slot_size || a.chunk % RING_ALIGN ||
        a.msg_len == 0) {
        *why = "bulk announcement: bad chunk or message length";
        return -EPROTO;
    }
    if (a.off % RING_ALIGN ||
        a.len < ring_bulk_area_size(a.nslots, a.slot_size) ||
        a.off > UINT64_MAX - a.len) {
        *why = "bulk announcement: bad area";
        return -EPROTO;
    }
    *out = a;
    return 0;
}

int ring_bulk_tx_init(struct ring_bulk_tx *t, void *base, uint64_t len,
                      uint32_t nslots, uint32_t slot_size)
{
    memset(t, 0, sizeof(*t));
    if (!base || (uintptr_t)base % RING_ALIGN ||
        !geometry_ok(nslots, slot_size) ||
        len < ring_bulk_area_size(nslots, slot_size)) {
        t->reason = "bad bulk area geometry";
        return -EINVAL;
    }
    /* Only the lines: the slots' old bytes are never read before they
     * are written. */
    memset(base, 0, RING_ALIGN * (1 + 2 * (size_t)nslots));
    head_at(base)->magic = RING_BULK_MAGIC;
    t->base = base;
    t->nslots = nslots;
    t->slot_size = slot_size;
    return 0;
}

int ring_bulk_tx_slot(struct ring_bulk_tx *t, void **ptr)
{
    uint32_t k = (uint32_t)(t->seq % t->nslots);
    /* The chunk that was in this slot one lap ago, + 1 (0: none). */
    uint64_t want = t->seq >= t->nslots ? t->seq - t->nslots + 1 : 0;
    uint64_t e = atomic_load_explicit(&cons_at(t->base, t->nslots, k)->empty,
                                      memory_order_acquire);

    if (e == want) {
        *ptr = slot_at(t->base, t->nslots, t->slot_size, k);
        return 1;
    }
    /* Anything but the lap before (not drained yet) is impossible. */
    if (t->seq >= 2 * (uint64_t)t->nslots ? e != want - t->nslots : e != 0) {
        t->reason = "consumer's mark impossible";
        return -EPROTO;
    }
    return 0;
}

void ring_bulk_tx_publish(struct ring_bulk_tx *t, uint32_t len)
{
    struct bulk_prod *p = prod_at(t->base, (uint32_t)(t->seq % t->nslots));

    p->len = len;
    atomic_store_explicit(&p->full, t->seq + 1, memory_order_release);
    t->seq++;
}

int ring_bulk_released(const void *base, uint32_t nslots, uint64_t seq)
{
    if (atomic_load_explicit(&head_at(base)->detached, memory_order_acquire)) {
        return 1;
    }
    if (seq == 0) {
        return 1;
    }
    return atomic_load_explicit(
               &cons_at(base, nslots, (uint32_t)((seq - 1) % nslots))->empty,
               memory_order_acquire) == seq;
}

int ring_bulk_tx_drained(const struct ring_bulk_tx *t)
{
    return ring_bulk_released(t->base, t->nslots, t->seq);
}

const char *ring_bulk_tx_reason(const struct ring_bulk_tx *t)
{
    return t->reason;
}

int ring_bulk_rx_begin(struct ring_bulk_rx *r, void *base,
                       const struct ring_bulk_announce *a)
{
    int same = r->have && r->off == a->off && r->gen == a->gen &&
               r->nslots == a->nslots && r->slot_size == a->slot_size;

    if (same ? a->seq0 != r->seq : a->seq0 != 0) {
        r->reason = "bulk announcement: chunk number out of sequence";
        return -EPROTO;
    }
    r->base = base;
    r->off = a->off;
    r->gen = a->gen;
    r->nslots = a->nslots;
    r->slot_size = a->slot_size;
    r->chunk = a->chunk;
    r->seq = a->seq0;
    r->left = a->msg_len;
    r->cur = 0;
    r->have = 1;
    return 0;
}

int ring_bulk_rx_peek(struct ring_bulk_rx *r, const void **ptr, size_t *len)
{
    uint32_t k = (uint32_t)(r->seq % r->nslots);
    struct bulk_prod *p = prod_at(r->base, k);
    uint64_t f, want_len, l;

    if (r->left == 0) {
        return 0;
    }
    f = atomic_load_explicit(&p->full, memory_order_acquire);
    if (f != r->seq + 1) {
        /* Not yet: the slot still holds the chunk of the lap before
         * (or nothing). Anything else is impossible. */
        uint64_t before = r->seq >= r->nslots ? r->seq - r->nslots + 1 : 0;
        if (f != before) {
            r->reason = "producer's mark impossible";
            return -EPROTO;
        }
        return 0;
    }
    want_len = r->left < r->chunk ? r->left : r->chunk;
    l = p->len; /* read once */
    if (l != want_len) {
        r->reason = "chunk length differs from the announcement";
        return -EPROTO;
    }
    r->cur = (uint32_t)l;
    *ptr = slot_at(r->base, r->nslots, r->slot_size, k);
    *len = l;
    return 1;
}

void ring_bulk_rx_consume(struct ring_bulk_rx *r)
{
    uint32_t k = (uint32_t)(r->seq % r->nslots);

    atomic_store_explicit(&cons_at(r->base, r->nslots, k)->empty, r->seq + 1,
                          memory_order_release);
    r->left -= r->cur;
    r->cur = 0;
    r->seq++;
}

void ring_bulk_rx_detach(struct ring_bulk_rx *r)
{
    atomic_store_explicit(&head_at(r->base)->detached, 1, memory_order_release);
}

const char *ring_bulk_rx_reason(const struct ring_bulk_rx *r)
{
    return r->reason;
}
