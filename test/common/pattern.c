/* pattern.c -- see pattern.h. */
#include "pattern.h"

/* A cheap mix of position and seed; the multiplier spreads the seed so
 * that neighbouring seeds differ in every byte. */
static inline uint8_t pattern_byte(size_t i, uint32_t seed)
{
    uint32_t x = (uint32_t)i * 2654435761u + seed * 40503u;

    return (uint8_t)(x >> 24 ^ x >> 8 ^ (uint32_t)(i >> 16));
}

void pattern_fill(void *buf, size_t len, uint32_t seed)
{
    uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        p[i] = pattern_byte(i, seed);
    }
}

long pattern_check(const void *buf, size_t len, uint32_t seed)
{
    const uint8_t *p = buf;

    for (size_t i = 0; i < len; i++) {
        if (p[i] != pattern_byte(i, seed)) {
            return (long)i;
        }
    }
    return -1;
}
