/* internal.h -- private helpers of lib/shmseg (not an interface). */
#ifndef SHMSEG_INTERNAL_H
#define SHMSEG_INTERNAL_H

#include <string.h>

#include "shmseg.h"

/* The frame state words (validated offset from shmseg_attach). */
static inline _Atomic uint64_t *st_words(const struct shmseg *seg)
{
    return (_Atomic uint64_t *)(seg->base + seg->state_off);
}

/* Participant slot `slot` (caller checked slot < part_count). */
static inline struct shmseg_participant *part_at(const struct shmseg *seg,
                                                 uint32_t slot)
{
    return (struct shmseg_participant *)(seg->base + seg->part_off) + slot;
}

/* Slot state word for a generation and a status. */
static inline uint64_t part_state(uint32_t gen, unsigned status)
{
    return (uint64_t)gen | (uint64_t)status << SHMSEG_PART_STATUS_SHIFT;
}

/* Field accessors of a frame state word (see shmseg_layout.h). */
static inline uint32_t w_owner(uint64_t w)
{
    return (uint32_t)w;
}

static inline uint32_t w_slot(uint64_t w)
{
    return shmseg_owner_slot(w_owner(w));
}

static inline uint32_t w_gen(uint64_t w)
{
    return shmseg_owner_gen(w_owner(w));
}

static inline uint32_t w_run(uint64_t w)
{
    return (uint32_t)(w >> SHMSEG_RUN_SHIFT) & SHMSEG_RUN_MASK;
}

static inline unsigned w_tag(uint64_t w)
{
    return (unsigned)(w >> SHMSEG_TAG_SHIFT) & SHMSEG_TAG_MASK;
}

/* Build a frame state word: head words carry the run length, tail
 * words their distance back to the head. */
static inline uint64_t w_make(uint32_t owner, uint32_t run, unsigned tag,
                              bool head)
{
    return (uint64_t)owner | (uint64_t)run << SHMSEG_RUN_SHIFT |
           (uint64_t)tag << SHMSEG_TAG_SHIFT | (head ? SHMSEG_FRAME_HEAD : 0);
}

/* Keep characters that are safe in text and JSON output; the source is
 * written by guests and may hold anything. */
static inline char safe_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || (c && strchr(" ._:/@+-=,", c))
               ? c
               : '?';
}

/* Clear every word carrying owner id `owner` (CAS), return the count. */
long shmseg_clear_owner(const struct shmseg *seg, uint32_t owner);

#endif /* SHMSEG_INTERNAL_H */
