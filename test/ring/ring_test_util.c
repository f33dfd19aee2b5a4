/*
 * ring_test_util.c -- helpers shared by the lib/ring tests.
 */
#include "ring_test_util.h"

#include "ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *rt_alloc(size_t len)
{
    size_t rounded = (len + RING_ALIGN - 1) & ~(size_t)(RING_ALIGN - 1);
    void *p = aligned_alloc(RING_ALIGN, rounded);
    if (p == NULL) {
        fprintf(stderr, "rt_alloc: out of memory (%zu bytes)\n", len);
        abort();
    }
    memset(p, 0, rounded);
    return p;
}

/* splitmix64: cheap, and each 8-byte word of the stream differs. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint8_t rt_stream_byte(uint64_t seed, uint64_t pos)
{
    return (uint8_t)(mix(seed ^ (pos >> 3)) >> ((pos & 7) * 8));
}

void rt_stream_fill(uint64_t seed, void *buf, uint64_t pos, size_t n)
{
    uint8_t *b = buf;
    size_t i = 0;
    while (i < n && ((pos + i) & 7) != 0) {
        b[i] = rt_stream_byte(seed, pos + i);
        i++;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w = mix(seed ^ ((pos + i) >> 3));
        memcpy(b + i, &w, 8); /* little-endian, as rt_stream_byte */
    }
    for (; i < n; i++) {
        b[i] = rt_stream_byte(seed, pos + i);
    }
}

long rt_stream_check(uint64_t seed, const void *buf, uint64_t pos, size_t n)
{
    uint8_t tmp[4096];
    const uint8_t *b = buf;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof(tmp) ? n - done : sizeof(tmp);
        rt_stream_fill(seed, tmp, pos + done, k);
        if (memcmp(tmp, b + done, k) != 0) {
            for (size_t i = 0; i < k; i++) {
                if (tmp[i] != b[done + i]) {
                    return (long)(done + i);
                }
            }
        }
        done += k;
    }
    return -1;
}

uint64_t rt_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dULL;
}
