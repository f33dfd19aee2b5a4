/*
 * ring_test_util.h -- helpers shared by the lib/ring tests: ring regions,
 * a position-dependent byte stream, a small random generator.
 */
#ifndef RING_TEST_UTIL_H_
#define RING_TEST_UTIL_H_

#include <stddef.h>
#include <stdint.h>

/** A RING_ALIGN-aligned, zeroed heap region of len bytes (abort on
 * failure). Free with free(). */
void *rt_alloc(size_t len);

/** The byte at position pos of stream `seed`: every byte depends on its
 * position, so a lost, duplicated or reordered run never verifies. */
uint8_t rt_stream_byte(uint64_t seed, uint64_t pos);

/** Write bytes [pos, pos + n) of stream `seed` into buf. */
void rt_stream_fill(uint64_t seed, void *buf, uint64_t pos, size_t n);

/** Check buf against bytes [pos, pos + n) of stream `seed`. Returns -1
 * when they match, else the offset of the first wrong byte. */
long rt_stream_check(uint64_t seed, const void *buf, uint64_t pos, size_t n);

/** xorshift64* step; *state must start nonzero. */
uint64_t rt_rand(uint64_t *state);

#endif /* RING_TEST_UTIL_H_ */
