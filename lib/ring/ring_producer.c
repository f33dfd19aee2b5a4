/*
 * ring_producer.c -- the sending side: gather iovecs into chunks.
 *
 * The producer trusts nothing it reads back from shared memory; the only
 * values it reads are the consumer's position (checked to be in range and
 * monotonic) and the armed flag (a boolean). All offsets it writes to come
 * from its private state.
 */
#include "ring_layout.h"
#include "ring_copy.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* Where the gather is in the caller's iovecs. */
struct gather {
    const struct iovec *iov;
    int idx;
    size_t off;
};

static struct ring_shared *shared_of(const struct ring_producer *p)
{
    return p->shared;
}

int ring_attach_producer(struct ring_producer *p, void *base, size_t len)
{
    struct ring_sizes sz;
    const char *why = NULL;

    if (p == NULL) {
        return -EINVAL;
    }
    int rc = ring_layout_check(base, len, &sz, &why);
    if (rc < 0) {
        memset(p, 0, sizeof(*p));
        p->err = rc;
        p->reason = why;
        return rc;
    }
    *p = (struct ring_producer){
        .data = (unsigned char *)base + RING_HDR_SIZE,
        .shared = base,
        .cap = sz.cap,
        .chunk_max = sz.chunk_max,
    };
    return 0;
}

static ssize_t broken(struct ring_producer *p, int err, const char *why)
{
    p->err = err;
    p->reason = why;
    return err;
}

/* Ring bytes the producer may use now, by its cached view: one line stays
 * free for a terminator after a chunk (ring_layout.h). */
static uint64_t space(const struct ring_producer *p)
{
    return p->cap - (p->total - p->cons_cached) - RING_ALIGN;
}

/* Re-read the consumer's position. It must lie between what we saw last
 * and what we wrote, on a chunk boundary granule; anything else is a
 * buggy or hostile consumer. Acquire: the consumer's reads of the space
 * it gives back happen before we overwrite it. */
static int refresh(struct ring_producer *p)
{
    uint64_t pos = atomic_load_explicit(&shared_of(p)->cons.pos,
                                        memory_order_acquire);
    if (pos < p->cons_cached || pos > p->total ||
        (pos & (RING_ALIGN - 1)) != 0) {
        return (int)broken(p, -EPROTO, "consumer position out of range");
    }
    p->cons_cached = pos;
    return 0;
}

/* Copy n bytes from the iovecs into dst, advancing the gather cursor. */
static void gather_copy(struct gather *g, unsigned char *dst, size_t n)
{
    while (n > 0) {
        const struct iovec *v = &g->iov[g->idx];
        size_t take = v->iov_len - g->off;
        if (take > n) {
            take = n;
        }
        ring_copy(dst, (const unsigned char *)v->iov_base + g->off, take);
        dst += take;
        n -= take;
        g->off += take;
        if (g->off == v->iov_len) {
            g->idx++;
            g->off = 0;
        }
    }
}

/* Publish a chunk of `size` ring bytes at p->off whose header word is w:
 * the terminator first if the next line needs one (ring_layout.h), the
 * header word last with release so that the consumer's acquire load of
 * it sees the payload and the terminator. */
static void publish(struct ring_producer *p, uint64_t w, uint64_t size)
{
    uint64_t next = p->off + size;
    uint64_t next_lap = p->lap;

    if (size > RING_ZERO_MAX) {
        /* The consumer leaves this chunk's interior as it is. */
        uint64_t lo = p->off + RING_ALIGN;
        if (p->span_lo >= p->span_hi) {
            p->span_lo = lo;
        }
        p->span_hi = next; /* chunks come in order: the span grows up */
    }
    if (next == p->cap) {
        next = 0;
        next_lap++;
        p->stale_lo = p->span_lo;
        p->stale_hi = p->span_hi;
        p->span_lo = p->span_hi = 0;
    }
    if (next >= p->stale_lo && next < p->stale_hi) {
        atomic_store_explicit(ring_hdr_at(p->data, next), 0,
                              memory_order_relaxed);
    }
    atomic_store_explicit(ring_hdr_at(p->data, p->off), w,
                          memory_order_release);
    p->off = next;
    p->lap = next_lap;
    p->total += size;
}

/* Sum of the iovec lengths, or -EINVAL if it does not fit a ssize_t. */
static ssize_t iov_total(const struct iovec *iov, int iovcnt)
{
    size_t sum = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > (size_t)SSIZE_MAX - sum) {
            return -EINVAL;
        }
        if (iov[i].iov_len > 0 && iov[i].iov_base == NULL) {
            return -EINVAL;
        }
        sum += iov[i].iov_len;
    }
    return (ssize_t)sum;
}

ssize_t ring_write(struct ring_producer *p, const struct iovec *iov, int iovcnt)
{
    if (p == NULL || iovcnt < 0 || (iov == NULL && iovcnt > 0)) {
        return -EINVAL;
    }
    if (p->err != 0) {
        return p->err;
    }
    ssize_t sum = iov_total(iov, iovcnt);
    if (sum < 0) {
        return sum;
    }
    uint64_t rem = (uint64_t)sum;
    uint64_t written = 0;
    struct gather g = {.iov = iov};

    while (rem > 0) {
        uint64_t end = p->cap - p->off;
        uint64_t want = rem < p->chunk_max ? rem : p->chunk_max;
        /* A small tail that does not fit before the end goes whole to the
         * start, so it arrives as one contiguous run. */
        int pad = want + RING_HDR_BYTES > end && rem <= p->chunk_max &&
                  end < RING_PAD_MAX;
        uint64_t need = pad ? end : ring_align_up(want + RING_HDR_BYTES);
        if (need > end) {
            need = end;
        }
        if (space(p) < need) {
            if (refresh(p) < 0) {
                return p->err;
            }
        }
        if (space(p) < need) {
            uint64_t room = space(p) < end ? space(p) : end;
            uint64_t min_split = need < RING_MIN_SPLIT ? need : RING_MIN_SPLIT;
            if (pad || room < min_split) {
                break; /* full: the caller retries later */
            }
            need = room;
        }
        if (pad) {
            publish(p, ring_word(end - RING_HDR_BYTES, 1, p->lap), end);
            continue;
        }
        uint64_t n = need - RING_HDR_BYTES;
        if (n > want) {
            n = want;
        }
        gather_copy(&g, p->data + p->off + RING_HDR_BYTES, n);
        publish(p, ring_word(n, 0, p->lap), ring_align_up(n + RING_HDR_BYTES));
        rem -= n;
        written += n;
    }
    return (ssize_t)written;
}

void *ring_reserve_whole(struct ring_producer *p, size_t n)
{
    if (p == NULL || p->err != 0 || n == 0 || n > p->chunk_max) {
        return NULL;
    }
    uint64_t end = p->cap - p->off;
    uint64_t need = ring_align_up(n + RING_HDR_BYTES);
    /* Too long for the end of the data area: the padding that
     * ring_write() would put there, when a padding chunk may be that
     * long; otherwise ring_write() splits it, and so would we. */
    uint64_t pad = need > end ? end : 0;
    if (pad >= RING_PAD_MAX) {
        return NULL;
    }
    if (space(p) < pad + need) {
        if (refresh(p) < 0 || space(p) < pad + need) {
            return NULL;
        }
    }
    if (pad) {
        /* A padding chunk on its own is complete: the consumer steps
         * over it whether or not our chunk follows yet. */
        publish(p, ring_word(end - RING_HDR_BYTES, 1, p->lap), end);
    }
    return p->data + p->off + RING_HDR_BYTES;
}

void ring_commit_whole(struct ring_producer *p, size_t n)
{
    publish(p, ring_word(n, 0, p->lap), ring_align_up(n + RING_HDR_BYTES));
}

ssize_t ring_write_whole(struct ring_producer *p, const struct iovec *iov,
                         int iovcnt)
{
    uint64_t n = 0;

    if (p == NULL || iovcnt < 0 || (iov == NULL && iovcnt > 0)) {
        return -EINVAL;
    }
    if (p->err != 0) {
        return p->err;
    }
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > 0 && iov[i].iov_base == NULL) {
            return -EINVAL;
        }
        if (iov[i].iov_len > p->chunk_max - n) {
            /* Longer than a chunk; bad arguments still say so, as in
             * ring_write(). */
            for (int j = i + 1; j < iovcnt; j++) {
                if (iov[j].iov_len > 0 && iov[j].iov_base == NULL) {
                    return -EINVAL;
                }
            }
            return 0;
        }
        n += iov[i].iov_len;
    }
    unsigned char *dst = ring_reserve_whole(p, n);
    if (dst == NULL) {
        return p->err; /* 0 unless the consumer broke the ring */
    }
    for (int i = 0; i < iovcnt; i++) {
        ring_copy(dst, iov[i].iov_base, iov[i].iov_len);
        dst += iov[i].iov_len;
    }
    ring_commit_whole(p, n);
    return (ssize_t)n;
}

int ring_producer_idle(struct ring_producer *p)
{
    _Atomic uint64_t *ann = &shared_of(p)->prod.announced;

    if (p->err != 0) {
        return p->err;
    }
    /* Our own line: a load that hits, and a store only after we wrote
     * (or someone overwrote it). Release: the chunk headers before this
     * position are visible to a consumer that loads it with acquire
     * (ring_consumer_stall_check()). Idle only: no cost per message. */
    if (atomic_load_explicit(ann, memory_order_relaxed) != p->total) {
        atomic_store_explicit(ann, p->total, memory_order_release);
    }
    /* A quarter: below it ring_write() seldom refreshes at all, and an
     * idle poll that found the consumer behind loads the line again
     * (a hit until the consumer publishes). */
    if (p->total - p->cons_cached >= p->cap / 4) {
        return refresh(p);
    }
    return 0;
}

int ring_producer_doorbell_needed(struct ring_producer *p)
{
    if (p->err != 0) {
        return p->err;
    }
    if (p->total == 0) {
        return 0;
    }
    /* Our position for the consumer's stall check and its arm (relaxed:
     * the fence below orders it). */
    atomic_store_explicit(&shared_of(p)->prod.announced, p->total,
                          memory_order_relaxed);
    /* Store-load ordering against ring_consumer_arm(): our chunk headers
     * (and the position) are stored before this fence, the armed word
     * loaded after it; the consumer stores the armed word before its
     * fence and loads our header after it. Of the two fences one comes
     * first in the single total order, so either we see its sleep number
     * or it sees our chunk: no lost wake-up. */
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t armed = atomic_load_explicit(&shared_of(p)->cons.armed,
                                          memory_order_relaxed);
    /* Once per sleep: the consumer takes a new number for every sleep,
     * so a stream into a sleeping ring rings once. Any value a hostile
     * consumer writes only decides whether we ring it. */
    if (armed == 0 || armed == p->rung) {
        return 0;
    }
    p->rung = armed;
    return 1;
}

const char *ring_producer_reason(const struct ring_producer *p)
{
    return p->reason;
}
