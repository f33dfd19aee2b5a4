/*
 * ring_crc.c -- CRC32C in hardware (SSE4.2) or by table; see ring_crc.h.
 */
#include <pthread.h>
#include <string.h>

#include "ring_crc.h"

/* The reflected polynomial 0x1EDC6F41. */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

typedef uint32_t (*crc_fn)(uint32_t crc, const unsigned char *p, size_t n);

static uint32_t crc_table[256];
static crc_fn crc_impl;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Bit by bit; runs once per byte value to fill the table. */
static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;

        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ ((c & 1u) ? CRC32C_POLY_REFLECTED : 0u);
        }
        crc_table[i] = c;
    }
}

static uint32_t crc_sw(uint32_t c, const unsigned char *p, size_t n)
{
    while (n--) {
        c = crc_table[(c ^ *p++) & 0xffu] ^ (c >> 8);
    }
    return c;
}

#if defined(__x86_64__)
/* The crc32 instruction takes 3 cycles but can start every cycle: one
 * chain of them runs at a third of the speed the CPU has. Long buffers
 * go as three lanes of LANE bytes, three independent chains, joined with
 * the linear map "LANE zero bytes more" (lane_shift[][], from the same
 * instruction at start-up): crc(A B) = shift(crc(A)) ^ crc0(B). */
#define LANE 512u
static uint32_t lane_shift[4][256];

__attribute__((target("sse4.2"))) static uint32_t zeros_hw(uint32_t c)
{
    uint64_t w = c;

    for (unsigned int i = 0; i < LANE / 8; i++) {
        w = __builtin_ia32_crc32di(w, 0);
    }
    return (uint32_t)w;
}

__attribute__((target("sse4.2"))) static void lane_init(void)
{
    for (unsigned int k = 0; k < 4; k++) {
        for (uint32_t b = 0; b < 256; b++) {
            lane_shift[k][b] = zeros_hw(b << (8 * k));
        }
    }
}

static inline uint32_t lane_skip(uint32_t c)
{
    return lane_shift[0][c & 0xffu] ^ lane_shift[1][(c >> 8) & 0xffu] ^
           lane_shift[2][(c >> 16) & 0xffu] ^ lane_shift[3][c >> 24];
}

/* One crc32 instruction per 8 bytes (three chains at a time while 3
 * lanes are left); the unaligned head and the tail a byte at a time.
 * Compiled for SSE4.2 whatever the build's -march; only called after
 * the CPU said it has it. */
__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const unsigned char *p, size_t n)
{
    uint64_t c = crc;

    while (n && ((uintptr_t)p & 7u)) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
        n--;
    }
    while (n >= 3 * LANE) {
        uint64_t b = 0, d = 0;

        for (unsigned int i = 0; i < LANE; i += 8) {
            uint64_t x, y, z;

            memcpy(&x, p + i, 8);
            memcpy(&y, p + LANE + i, 8);
            memcpy(&z, p + 2 * LANE + i, 8);
            c = __builtin_ia32_crc32di(c, x);
            b = __builtin_ia32_crc32di(b, y);
            d = __builtin_ia32_crc32di(d, z);
        }
        c = lane_skip(lane_skip((uint32_t)c) ^ (uint32_t)b) ^ (uint32_t)d;
        p += 3 * LANE;
        n -= 3 * LANE;
    }
    while (n >= 8) {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    while (n--) {
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    }
    return (uint32_t)c;
}
#endif

static void crc_init(void)
{
    table_init();
    crc_impl = crc_sw;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        lane_init();
        crc_impl = crc_hw;
    }
#endif
}

uint32_t ring_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_impl(~crc, buf, len);
}

uint32_t ring_crc32c_table(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return ~crc_sw(~crc, buf, len);
}

int ring_crc32c_hw(void)
{
    pthread_once(&crc_once, crc_init);
    return crc_impl != crc_sw;
}
