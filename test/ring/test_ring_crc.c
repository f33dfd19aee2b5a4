/*
 * test_ring_crc.c -- ring_crc32c() (the per-message checksum of the memory
 * transports) gives the published CRC32C values, in hardware and by
 * table alike, whole and in pieces at every alignment.
 */
#include "ring_crc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

/* "123456789" is the check value of every CRC catalogue; the 32-byte
 * vectors are those of RFC 3720 (iSCSI), appendix B.4. */
static void check_vectors(crc_fn f)
{
    unsigned char buf[32];

    assert_int_equal(f(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(f(0, "", 0), 0u);
    memset(buf, 0, sizeof(buf));
    assert_int_equal(f(0, buf, sizeof(buf)), 0x8A9136AAu);
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(f(0, buf, sizeof(buf)), 0x62A8AB43u);
    for (unsigned int i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)i;
    }
    assert_int_equal(f(0, buf, sizeof(buf)), 0x46DD794Eu);
    for (unsigned int i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)(31 - i);
    }
    assert_int_equal(f(0, buf, sizeof(buf)), 0x113FDB5Cu);
}

static void test_vectors(void **state)
{
    (void)state;
    check_vectors(ring_crc32c);
}

static void test_vectors_table(void **state)
{
    (void)state;
    check_vectors(ring_crc32c_table);
}

/* Hardware and table agree on every length and alignment, and a CRC
 * continued over two pieces equals the one over the whole. */
static void test_pieces(void **state)
{
    static unsigned char buf[4096 + 16];

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)(i * 2654435761u >> 13);
    }
    for (size_t off = 0; off < 16; off++) {
        for (size_t len = 0; len <= 300; len += 1 + len / 8) {
            uint32_t whole = ring_crc32c(0, buf + off, len);

            assert_int_equal(whole, ring_crc32c_table(0, buf + off, len));
            for (size_t cut = 0; cut <= len; cut += 1 + len / 5) {
                uint32_t c = ring_crc32c(0, buf + off, cut);

                assert_int_equal(ring_crc32c(c, buf + off + cut, len - cut),
                                 whole);
            }
        }
    }
    assert_int_equal(ring_crc32c(0, buf, 4096),
                     ring_crc32c_table(0, buf, 4096));
}

/* Long buffers take the three-lane path of the instruction (1536 bytes
 * at a time): the same values at and around its boundaries, continued
 * from any CRC. */
static void test_long(void **state)
{
    static unsigned char buf[70000 + 16];
    static const size_t lens[] = {1535, 1536, 1537, 3071,  3072,
                                  3080, 4608, 5000, 65536, 70000};

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (unsigned char)(i * 2246822519u >> 11);
    }
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        for (size_t off = 0; off < 16; off += 3) {
            uint32_t t = ring_crc32c_table(0x12345678u, buf + off, lens[k]);

            assert_int_equal(ring_crc32c(0x12345678u, buf + off, lens[k]), t);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_vectors_table),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_long),
    };

    /* Say which path the first test took (diagnostic only). */
    printf("# crc32 instruction: %s\n", ring_crc32c_hw() ? "yes" : "no");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
