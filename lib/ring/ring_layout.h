/*
 * ring_layout.h -- the ring's layout in shared memory (private to lib/ring
 * and its tests; other rooms use ring.h only).
 *
 *   offset   0  metadata line: magic, version, sizes (creator writes once)
 *   offset  64  producer line: position announced (doorbell, stall check)
 *   offset 128  consumer line: consumed position, armed word (sleeping)
 *   offset 192  data area: chunks, each starting on a 64-byte boundary
 *
 * A chunk is an 8-byte header word followed by its payload, padded to the
 * next 64-byte boundary, so a small message (8-byte pscom header, small
 * xheader, payload) shares one cache line with its chunk header. Chunks
 * never wrap; a PAD chunk fills the end of the data area when a small
 * message would otherwise be split.
 *
 * Header word: bits 0-31 payload length, bit 32 PAD, bit 33 always 1 (so
 * a written header is never 0), bits 34-63 the lap (wraps done, modulo
 * 2^30). The lap plays the role of the owner bit that flips on each wrap:
 * the consumer accepts only its own lap.
 *
 * The consumer's next slot must read 0 until the next chunk is published,
 * so that stale payload of an earlier lap is never mistaken for a header.
 * Two rules keep it so (version 2):
 *  - the consumer writes 0 into the first word of every line of each chunk
 *    of at most RING_ZERO_MAX ring bytes it consumed (small messages,
 *    padding), and into the header word of larger chunks, always before it
 *    publishes a position past them (it may put both off until its next
 *    idle poll: the producer sees only the published position);
 *  - the producer writes 0 into the header word right after a chunk it
 *    publishes (the terminator) when that line may still hold payload of
 *    the previous lap, i.e. lies within the span of the previous lap's
 *    larger chunks (it keeps that span privately).
 * Streams of small messages so need no terminator (in version 1 every
 * chunk had one: a second line written, and waited for, per message);
 * large chunks keep their interiors out of the consumer's cache. The
 * producer keeps one line free for the terminator: it writes only while
 * total + size + 64 <= consumed + capacity.
 */
#ifndef RING_LAYOUT_H_
#define RING_LAYOUT_H_

#include "ring.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define RING_MAGIC 0x474e495249564950ULL /* "PIVIRING" little-endian */
/* The layout version, RING_VERSION, is in ring.h: peers compare it. */

/* Chunk header word. */
#define RING_HDR_BYTES 8u
#define RING_W_LEN_MASK 0xffffffffULL
#define RING_W_PAD (1ULL << 32)
#define RING_W_VALID (1ULL << 33)
#define RING_W_LAP_SHIFT 34
#define RING_W_LAP_MASK ((1ULL << 30) - 1)

/* A small message is never split across the end of the data area if the
 * space left there is below this: a PAD chunk skips to the start. */
#define RING_PAD_MAX 512u
static_assert(RING_WHOLE_MAX + RING_HDR_BYTES <= RING_PAD_MAX,
              "a write of RING_WHOLE_MAX bytes is padded, never split");

/* Chunks of at most this many ring bytes are zeroed line by line by the
 * consumer; of larger ones only the header word (see above). Not below
 * RING_PAD_MAX: padding chunks are zeroed whole. */
#define RING_ZERO_MAX 512u
static_assert(RING_ZERO_MAX >= RING_PAD_MAX, "padding is zeroed whole");
/* Rings of at least this many data bytes take chunks of up to half the
 * ring, smaller ones a quarter (ring_init.c). What relies on it: padding
 * at the end, then a whole chunk, behind less than an eighth a drained
 * consumer holds back (after its idle poll), plus the terminator line,
 * still fit the ring, so a drained consumer never stalls a producer. */
#define RING_HALF_MIN 2048u
static_assert(RING_PAD_MAX + RING_HALF_MIN / 2 + RING_HALF_MIN / 8 +
                      RING_ALIGN <=
                  RING_HALF_MIN,
              "padding and a half-ring chunk fit what the consumer gave back");

/* A partial chunk written into a nearly full ring is at least this big
 * (unless the caller wants less), so a streaming producer does not chop
 * the stream into tiny chunks while the consumer drains. */
#define RING_MIN_SPLIT 1024u

/* Metadata: written by ring_init(), read (and copied) at attach only. */
struct ring_meta {
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size;  /* RING_HDR_SIZE */
    uint32_t data_size; /* bytes of the data area, multiple of 64 */
    uint32_t chunk_max; /* largest chunk payload the producer writes */
    uint32_t batch;     /* consumer publishes after this many bytes */
    uint32_t reserved0;
};

/* The three header lines. Each side writes only its own line, so the
 * lines never bounce between the two caches except for what is shared on
 * purpose (the consumed position, the armed word). */
struct ring_shared {
    alignas(RING_ALIGN) struct ring_meta meta;
    alignas(RING_ALIGN) struct {
        /* Ring bytes written, stored on the producer's idle polls
         * (release); the consumer reads it now and then while idle, to
         * find a zeroed chunk header (ring_consumer_stall_check). A wrong
         * value keeps the consumer awake; with our chunk header zeroed
         * as well it breaks the ring after the stall budget. */
        _Atomic uint64_t announced;
    } prod;
    alignas(RING_ALIGN) struct {
        /* Ring bytes consumed, published in batches (release) and read
         * by the producer (acquire) only when the ring looks full. */
        _Atomic uint64_t pos;
        /* 0 while the consumer is awake; while it sleeps and wants a
         * doorbell, the number of this sleep (never 0, never repeated:
         * 64 bits do not wrap). The producer rings once per number, so
         * a stream into a sleeping ring rings once, not per message
         * (version 4; version 3 had a 32-bit flag and rang per message). */
        _Atomic uint64_t armed;
    } cons;
};

static_assert(offsetof(struct ring_shared, meta) == 0, "meta line");
static_assert(offsetof(struct ring_shared, prod) == RING_ALIGN,
              "producer state on its own cache line");
static_assert(offsetof(struct ring_shared, cons) == 2 * RING_ALIGN,
              "consumer state on its own cache line");
static_assert(offsetof(struct ring_shared, cons.pos) == 2 * RING_ALIGN,
              "consumed position");
static_assert(offsetof(struct ring_shared, cons.armed) == 2 * RING_ALIGN + 8,
              "armed word");
static_assert(sizeof(struct ring_shared) == RING_HDR_SIZE, "header size");
static_assert(sizeof(struct ring_meta) <= RING_ALIGN, "meta fits a line");
static_assert(sizeof(_Atomic uint64_t) == 8, "8-byte header words");

/* Round x up to a multiple of RING_ALIGN. */
static inline uint64_t ring_align_up(uint64_t x)
{
    return (x + RING_ALIGN - 1) & ~(uint64_t)(RING_ALIGN - 1);
}

/* The header word of a chunk for a given lap. */
static inline uint64_t ring_word(uint64_t len, int pad, uint64_t lap)
{
    return len | (pad ? RING_W_PAD : 0) | RING_W_VALID |
           ((lap & RING_W_LAP_MASK) << RING_W_LAP_SHIFT);
}

/* The chunk header word at offset off of the data area. */
static inline _Atomic uint64_t *ring_hdr_at(const unsigned char *data,
                                            uint64_t off)
{
    return (_Atomic uint64_t *)(uintptr_t)(data + off);
}

/* Shared sizes, validated, as both sides keep them. */
struct ring_sizes {
    uint64_t cap;
    uint64_t chunk_max;
    uint64_t batch;
};

/* Validate the header of the ring at [base, base + len) and return its
 * sizes (attach for either side). 0, -EINVAL, -EPROTO or
 * -EPROTONOSUPPORT; *why names the bad field. */
int ring_layout_check(const void *base, size_t len, struct ring_sizes *sz,
                      const char **why);

#endif /* RING_LAYOUT_H_ */
