/*
 * pattern.h -- position-dependent byte patterns for content verification.
 *
 * The byte at position i depends on i and a seed, so a shifted, truncated,
 * duplicated or foreign buffer never verifies by accident.
 */
#ifndef TEST_PATTERN_H_
#define TEST_PATTERN_H_

#include <stddef.h>
#include <stdint.h>

/** Fill len bytes of buf with the pattern of seed. */
void pattern_fill(void *buf, size_t len, uint32_t seed);

/** Check len bytes of buf against the pattern of seed. Returns -1 when
 * they match, else the offset of the first wrong byte. */
long pattern_check(const void *buf, size_t len, uint32_t seed);

#endif /* TEST_PATTERN_H_ */
