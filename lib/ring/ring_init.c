/*
 * ring_init.c -- ring sizes, creation and header validation at attach.
 */
#include "ring_layout.h"

#include <errno.h>
#include <string.h>

size_t ring_region_size(size_t data_bytes)
{
    if (data_bytes < RING_MIN_DATA || data_bytes > RING_MAX_DATA) {
        return 0;
    }
    return RING_HDR_SIZE + ring_align_up(data_bytes);
}

size_t ring_data_size(size_t region_len)
{
    if (region_len < RING_HDR_SIZE + RING_MIN_DATA) {
        return 0;
    }
    size_t data = (region_len - RING_HDR_SIZE) & ~(size_t)(RING_ALIGN - 1);
    return data > RING_MAX_DATA ? RING_MAX_DATA : data;
}

/* Chunks of at most half the ring (RING_HALF_MIN and more; a quarter
 * below): the producer fills one while the consumer copies out another,
 * and in the default 8 KiB ring a 2 KiB message with its headers is still
 * one chunk (a quarter split it in two, one more line to publish and wait
 * for; version 3). */
static uint64_t chunk_max_for(uint64_t cap)
{
    return (cap >= RING_HALF_MIN ? cap / 2 : cap / 4) - RING_HDR_BYTES;
}

/* The consumer gives space back every eighth of the ring: rarely enough
 * to keep the consumer line quiet, often enough that a producer seeing
 * the ring full lags the truth by at most an eighth. */
static uint64_t batch_for(uint64_t cap)
{
    return (cap / 8) & ~(uint64_t)(RING_ALIGN - 1);
}

int ring_init(void *base, size_t len)
{
    if (base == NULL || ((uintptr_t)base & (RING_ALIGN - 1)) != 0) {
        return -EINVAL;
    }
    size_t cap = ring_data_size(len);
    if (cap == 0) {
        return -EINVAL;
    }
    struct ring_shared *sh = base;
    /* The data area must read 0 at every line start (no stale headers);
     * clearing all of it also keeps stale segment contents out. */
    memset((unsigned char *)base + RING_HDR_SIZE, 0, cap);
    memset(sh, 0, sizeof(*sh));
    sh->meta.magic = RING_MAGIC;
    sh->meta.version = RING_VERSION;
    sh->meta.hdr_size = RING_HDR_SIZE;
    sh->meta.data_size = (uint32_t)cap;
    sh->meta.chunk_max = (uint32_t)chunk_max_for(cap);
    sh->meta.batch = (uint32_t)batch_for(cap);
    atomic_store_explicit(&sh->cons.pos, 0, memory_order_relaxed);
    atomic_store_explicit(&sh->cons.armed, 0, memory_order_relaxed);
    /* The peer learns of the ring only through a later message (handshake)
     * whose own ordering publishes these plain stores. */
    return 0;
}

int ring_layout_check(const void *base, size_t len, struct ring_sizes *sz,
                      const char **why)
{
    if (base == NULL || ((uintptr_t)base & (RING_ALIGN - 1)) != 0) {
        *why = "region not aligned";
        return -EINVAL;
    }
    if (len < RING_HDR_SIZE + RING_MIN_DATA) {
        *why = "region too small";
        return -EINVAL;
    }
    /* One copy, then only the copy is looked at: the peer may change the
     * shared header while we validate it. */
    struct ring_meta m;
    memcpy(&m, base, sizeof(m));
    if (m.magic != RING_MAGIC) {
        *why = "bad magic";
        return -EPROTO;
    }
    if (m.version != RING_VERSION) {
        *why = "unsupported version";
        return -EPROTONOSUPPORT;
    }
    if (m.hdr_size != RING_HDR_SIZE) {
        *why = "bad header size";
        return -EPROTO;
    }
    uint64_t cap = m.data_size;
    if (cap < RING_MIN_DATA || cap > RING_MAX_DATA ||
        (cap & (RING_ALIGN - 1)) != 0 || cap > len - RING_HDR_SIZE) {
        *why = "bad data size";
        return -EPROTO;
    }
    if (m.chunk_max != chunk_max_for(cap)) {
        *why = "bad chunk size";
        return -EPROTO;
    }
    if (m.batch != batch_for(cap)) {
        *why = "bad batch size";
        return -EPROTO;
    }
    sz->cap = cap;
    sz->chunk_max = m.chunk_max;
    sz->batch = m.batch;
    return 0;
}
