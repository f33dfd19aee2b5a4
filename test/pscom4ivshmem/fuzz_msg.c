/*
 * fuzz_msg.c -- libFuzzer target for the ivshmem plugin's hand-shake
 * parser: ivshmem_msg_parse() on the raw input, and for every message it
 * accepts, ivshmem_msg_check() against a real segment laid out in memory
 * by shmseg_format(). Whatever passes both must describe memory inside
 * the frame area: the target then touches every byte of it, so ASan
 * reports any area the checks let through wrongly.
 *
 * Input: the blob (any length; a valid one is 48 bytes), optionally one
 * trailing byte: if odd, the blob's UUID is replaced with the segment's
 * (a co-located peer) so the bounds checks are reached. Built and run by
 * fuzz-msg.sh through test/ring/fuzz-ring.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ivshmem.h"

#define SEG_SIZE ((size_t)1 << 20)

static struct shmseg seg;
static void *mem;

static volatile uint8_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ivshmem_msg m;
    unsigned char blob[sizeof(m)];
    char why[PSCOM_PLUGIN_REASON_MAX];
    size_t len = size;

    if (!mem) {
        mem = aligned_alloc(4096, SEG_SIZE);
        if (!mem || shmseg_format(&seg, mem, SEG_SIZE, NULL) < 0) {
            abort();
        }
    }
    if (size == sizeof(blob) + 1 && (data[size - 1] & 1)) {
        /* A co-located peer: same UUID, the rest from the input. */
        memcpy(blob, data, sizeof(blob));
        memcpy(blob + offsetof(struct ivshmem_msg, uuid), seg.uuid,
               SHMSEG_UUID_SIZE);
        data = blob;
        len = sizeof(blob);
    }
    if (ivshmem_msg_parse(data, len, &m, why, sizeof(why)) < 0) {
        return 0;
    }
    if (ivshmem_msg_check(&seg, &m, why, sizeof(why)) < 0) {
        return 0;
    }
    /* Accepted: the plugin would map its ring here. */
    const volatile uint8_t *p = shmseg_ptr(&seg, m.off);
    for (uint64_t i = 0; i < m.len; i += 64) {
        sink ^= p[i];
    }
    sink ^= p[m.len - 1];
    return 0;
}
