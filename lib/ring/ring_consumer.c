/*
 * ring_consumer.c -- the receiving side: validate chunk headers, hand out
 * contiguous runs, give space back in batches.
 *
 * Every chunk header word is loaded once (acquire) into a local and only
 * the local is checked and used. A header is accepted only if it carries
 * our lap, its chunk fits between our position and the end of the data
 * area, and the producer could have written it without overrunning the
 * space we gave back. Anything else breaks the ring with -EPROTO.
 */
#include "ring_layout.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static struct ring_shared *shared_of(const struct ring_consumer *c)
{
    return c->shared;
}

int ring_attach_consumer(struct ring_consumer *c, void *base, size_t len)
{
    struct ring_sizes sz;
    const char *why = NULL;

    if (c == NULL) {
        return -EINVAL;
    }
    int rc = ring_layout_check(base, len, &sz, &why);
    if (rc < 0) {
        memset(c, 0, sizeof(*c));
        c->err = rc;
        c->reason = why;
        return rc;
    }
    *c = (struct ring_consumer){
        .data = (const unsigned char *)base + RING_HDR_SIZE,
        .shared = base,
        .cap = sz.cap,
        .chunk_max = sz.chunk_max,
        .batch = sz.batch,
        .stall_ns = (uint64_t)RING_STALL_DEFAULT_MS * 1000000u,
    };
    return 0;
}

void ring_consumer_set_stall_ms(struct ring_consumer *c, unsigned ms)
{
    c->stall_ns = (uint64_t)ms * 1000000u;
}

static int broken(struct ring_consumer *c, const char *why)
{
    c->err = -EPROTO;
    c->reason = why;
    return c->err;
}

/* Write 0 into the first word of every line from position c->zeroed up
 * to upto (ring_layout.h: what the producer relies on). Only lines we
 * consumed and did not give back yet: the producer cannot be writing
 * them. */
static void zero_lines(struct ring_consumer *c, uint64_t upto)
{
    unsigned char *d = (unsigned char *)(uintptr_t)c->data;

    while (c->zeroed < upto) {
        if (c->zeroed == c->skip_lo && c->skip_lo < c->skip_hi) {
            /* A large chunk's interior: only its header word is zeroed.
             * Chunks never wrap, so neither does the skip. */
            c->zoff += c->skip_hi - c->skip_lo;
            if (c->zoff == c->cap) {
                c->zoff = 0;
            }
            c->zeroed = c->skip_hi;
            c->skip_lo = c->skip_hi = 0;
            continue;
        }
        atomic_store_explicit(ring_hdr_at(d, c->zoff), 0, memory_order_relaxed);
        c->zeroed += RING_ALIGN;
        c->zoff += RING_ALIGN;
        if (c->zoff == c->cap) {
            c->zoff = 0;
        }
    }
}

static void publish_pos(struct ring_consumer *c)
{
    zero_lines(c, c->total);
    /* Release: our reads of the consumed chunks (and the zeroing) happen
     * before the producer, which loads this with acquire, overwrites
     * them. */
    atomic_store_explicit(&shared_of(c)->cons.pos, c->total,
                          memory_order_release);
    c->published = c->total;
}

void ring_consumer_tidy(struct ring_consumer *c)
{
    if (c->err != 0) {
        return;
    }
    if (c->total - c->published >= c->batch) {
        publish_pos(c); /* zeroes first */
    } else {
        zero_lines(c, c->total);
    }
}

/* Step over a finished chunk of `size` ring bytes. Its housekeeping
 * waits for the next idle poll (ring_consumer_tidy()): zeroing its lines
 * (of a large chunk only the header word) and giving the space back.
 * Stores now would delay the answer the application is about to send:
 * on x86 stores become visible in order, and each of these needs a line
 * the producer shares. While a stream keeps us busy it is done at once,
 * so the producer does not wait for our idle poll to go on writing: a
 * second large chunk zeroes the first one's header, and a batch is
 * given back when the next chunk is already there. Never is half the
 * ring held back (check_word() relies on it). */
static void advance(struct ring_consumer *c, uint64_t size)
{
    uint64_t next = c->off + size == c->cap ? 0 : c->off + size;

    if (size > RING_ZERO_MAX) {
        if (c->skip_lo < c->skip_hi) {
            zero_lines(c, c->total); /* one skip is kept at a time */
        }
        c->skip_lo = c->total + RING_ALIGN;
        c->skip_hi = c->total + size;
    }
    if (next == 0) {
        c->lap++;
    }
    c->off = next;
    c->total += size;
    if (c->total - c->published >= c->cap / 2 ||
        (c->total - c->published >= c->batch && !ring_consumer_empty(c))) {
        publish_pos(c);
    }
}

/* Check the header word w found at c->off; on success return the chunk's
 * size in ring bytes (> 0), else break the ring and return 0. */
static uint64_t check_word(struct ring_consumer *c, uint64_t w)
{
    uint64_t end = c->cap - c->off;
    uint64_t len = w & RING_W_LEN_MASK;
    uint64_t size;

    if ((w & RING_W_VALID) == 0) {
        broken(c, "chunk header without valid bit");
        return 0;
    }
    if (((w >> RING_W_LAP_SHIFT) & RING_W_LAP_MASK) !=
        (c->lap & RING_W_LAP_MASK)) {
        broken(c, "chunk header of another lap");
        return 0;
    }
    if (w & RING_W_PAD) {
        /* Padding is written only near the end, never at the start:
         * so at most one padding chunk precedes a data chunk. */
        if (len != end - RING_HDR_BYTES || end >= RING_PAD_MAX || c->off == 0) {
            broken(c, "bad padding length");
            return 0;
        }
        size = end;
    } else {
        if (len == 0 || len > c->chunk_max) {
            broken(c, "bad chunk length");
            return 0;
        }
        size = ring_align_up(len + RING_HDR_BYTES);
        if (size > end) {
            broken(c, "chunk beyond the end of the ring");
            return 0;
        }
    }
    /* No check against the space given back is needed: a chunk is at
     * most half the ring rounded up to a line and we hold back less than
     * half (advance()), so a chunk never reaches the lines we hold back
     * and still zero; a producer that wrote past what we gave back can
     * only garble its own stream. */
    return size;
}

int ring_peek(struct ring_consumer *c, const void **ptr, size_t *len)
{
    if (c == NULL || ptr == NULL || len == NULL) {
        return -EINVAL;
    }
    if (c->err != 0) {
        return c->err;
    }
    /* At most a padding chunk (never at offset 0) and then a data chunk:
     * the loop ends after two rounds. */
    while (c->cur_len == 0) {
        uint64_t w = atomic_load_explicit(ring_hdr_at(c->data, c->off),
                                          memory_order_acquire);
        if (w == 0) {
            return 0; /* the terminator: nothing published yet */
        }
        uint64_t size = check_word(c, w);
        if (size == 0) {
            return c->err;
        }
        if (w & RING_W_PAD) {
            advance(c, size);
            continue;
        }
        c->cur_len = w & RING_W_LEN_MASK;
        c->cur_done = 0;
        c->cur_size = size;
    }
    *ptr = c->data + c->off + RING_HDR_BYTES + c->cur_done;
    *len = c->cur_len - c->cur_done;
    return 1;
}

int ring_consume(struct ring_consumer *c, size_t len)
{
    if (c == NULL) {
        return -EINVAL;
    }
    if (c->err != 0) {
        return c->err;
    }
    if (len > c->cur_len - c->cur_done) {
        return -EINVAL;
    }
    c->cur_done += len;
    if (c->cur_len != 0 && c->cur_done == c->cur_len) {
        c->cur_len = 0;
        advance(c, c->cur_size);
    }
    return 0;
}

int ring_consumer_flush(struct ring_consumer *c)
{
    if (c->err != 0) {
        return c->err;
    }
    zero_lines(c, c->total);
    if (c->total != c->published) {
        publish_pos(c);
    }
    return 0;
}

int ring_consumer_arm(struct ring_consumer *c)
{
    if (c->err != 0) {
        return c->err;
    }
    if (c->cur_len != 0) {
        return 1; /* a run is still waiting */
    }
    ring_consumer_flush(c);
    /* A new number for every sleep (64 bits: never 0, never repeated),
     * so the producer rings once per sleep. Stored before the seq_cst
     * fence, our next chunk header loaded after it; the producer pairs
     * its own fence (ring_producer_doorbell_needed): either it sees this
     * number or we see its header. The announced position is only
     * compared: a hostile value keeps us awake, nothing more. */
    c->sleeps++;
    atomic_store_explicit(&shared_of(c)->cons.armed, c->sleeps,
                          memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    uint64_t seen = atomic_load_explicit(&shared_of(c)->prod.announced,
                                         memory_order_relaxed);
    uint64_t w = atomic_load_explicit(ring_hdr_at(c->data, c->off),
                                      memory_order_relaxed);
    if (seen > c->total || w != 0) {
        ring_consumer_disarm(c);
        return 1;
    }
    return 0;
}

void ring_consumer_disarm(struct ring_consumer *c)
{
    if (c->shared == NULL) {
        return; /* never attached */
    }
    atomic_store_explicit(&shared_of(c)->cons.armed, 0, memory_order_relaxed);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ring_consumer_stall_check(struct ring_consumer *c)
{
    c->idle_polls = 0;
    if (c->err != 0 || c->stall_ns == 0) {
        return c->err;
    }
    /* Acquire, paired with the producer's release store of the position
     * it announces: every chunk header before that position, ours
     * included, is visible to the loads below. */
    uint64_t ann = atomic_load_explicit(&shared_of(c)->prod.announced,
                                        memory_order_acquire);
    if (ann <= c->total || c->cur_len != 0 ||
        atomic_load_explicit(ring_hdr_at(c->data, c->off),
                             memory_order_relaxed) != 0) {
        c->stall_since = 0; /* not stalled, or ring_peek() has its say */
        return 0;
    }
    /* Budget in time, not polls: only a stall that lasts counts (and a
     * hostile announced position alone, with our header intact, never
     * breaks the ring). */
    uint64_t now = mono_ns();
    if (c->stall_since == 0 || c->stall_total != c->total) {
        c->stall_since = now ? now : 1;
        c->stall_total = c->total;
        return 0;
    }
    if (now - c->stall_since < c->stall_ns) {
        return 0;
    }
    return broken(c, "stalled: the producer announced data but the chunk "
                     "header at our position stays zero (ring overwritten)");
}

const char *ring_consumer_reason(const struct ring_consumer *c)
{
    return c->reason;
}
