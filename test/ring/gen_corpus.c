/*
 * gen_corpus.c -- write the fuzz seeds for fuzz_ring.c: small valid rings
 * in several states (empty, a chain of chunks to the end, one message,
 * several, wrapped with padding, full), each preceded by 16 operation bytes.
 *   make gen_corpus && ./gen_corpus <dir>
 */
#include "ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dump(const char *dir, const char *name, const void *base, size_t len)
{
    static const unsigned char ops[16] = {0x00, 0x01, 0x05, 0x40, 0x3f, 0xc3,
                                          0x02, 0x80, 0x10, 0x00, 0xc7, 0x22,
                                          0x07, 0x41, 0x00, 0x01};
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    int ok = fwrite(ops, sizeof(ops), 1, f) == 1 &&
             fwrite(base, len, 1, f) == 1;
    if (fclose(f) != 0 || !ok) {
        perror(path);
        return -1;
    }
    return 0;
}

/* Write n bytes as one message (as far as it fits). */
static size_t put(struct ring_producer *p, size_t n)
{
    static unsigned char msg[4096];
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (unsigned char)(i * 7 + 3);
    }
    struct iovec v = {msg, n};
    ssize_t w = ring_write(p, &v, 1);
    return w > 0 ? (size_t)w : 0;
}

static void drain(struct ring_consumer *c, size_t max)
{
    const void *ptr;
    size_t run;
    while (max > 0 && ring_peek(c, &ptr, &run) == 1) {
        size_t k = run < max ? run : max;
        ring_consume(c, k);
        max -= k;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    int rc = 0;
    size_t sizes[2] = {RING_MIN_DATA, 1024};
    for (int s = 0; s < 2; s++) {
        size_t len = ring_region_size(sizes[s]);
        void *base = aligned_alloc(RING_ALIGN, len);
        struct ring_producer p;
        struct ring_consumer c;
        char name[64];

        ring_init(base, len);
        ring_attach_producer(&p, base, len);
        ring_attach_consumer(&c, base, len);
        snprintf(name, sizeof(name), "d%zu-empty", sizes[s]);
        rc |= dump(dir, name, base, len);

        /* A chain of small chunks up to the end: the fuzzer's consumer
         * walks it and reaches the last lines of the data area. */
        for (size_t k = 1; put(&p, 8 + (k * 13) % 40) > 0; k++) {
        }
        snprintf(name, sizeof(name), "d%zu-chain", sizes[s]);
        rc |= dump(dir, name, base, len);
        ring_init(base, len);
        ring_attach_producer(&p, base, len);
        ring_attach_consumer(&c, base, len);

        put(&p, 24);
        snprintf(name, sizeof(name), "d%zu-one", sizes[s]);
        rc |= dump(dir, name, base, len);

        put(&p, 100);
        put(&p, 7);
        snprintf(name, sizeof(name), "d%zu-three", sizes[s]);
        rc |= dump(dir, name, base, len);

        /* Move near the end, then a message that pads to the start. */
        drain(&c, SIZE_MAX);
        while (c.off + 2 * RING_ALIGN < c.cap) {
            put(&p, 56);
            drain(&c, SIZE_MAX);
        }
        put(&p, 150);
        snprintf(name, sizeof(name), "d%zu-wrapped", sizes[s]);
        rc |= dump(dir, name, base, len);

        while (put(&p, 40) > 0) {
        }
        snprintf(name, sizeof(name), "d%zu-full", sizes[s]);
        rc |= dump(dir, name, base, len);
        free(base);
    }
    return rc == 0 ? 0 : 1;
}
