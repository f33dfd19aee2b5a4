/*
 * test_ring_bulk.c -- the bulk announcement's flags word (ring_bulk.h):
 * RING_BULK_F_TRAILER (a checksum trailer follows the message in the
 * ring) parses and is kept; any other bit is refused, as the reserved
 * word was before it; and the wire layout stays where peers expect it.
 */
#include "ring_bulk.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* A valid announcement of one 1 MiB message in 16 slots of 64 KiB. */
static struct ring_bulk_announce valid(void)
{
    return (struct ring_bulk_announce){
        .msg_type = RING_BULK_MSGTYPE,
        .xheader_len = sizeof(struct ring_bulk_announce) - 8,
        .magic = RING_BULK_MAGIC,
        .off = 1u << 20,
        .len = ring_bulk_area_size(16, 65536),
        .msg_len = 1u << 20,
        .chunk = 65536,
        .slot_size = 65536,
        .nslots = 16,
    };
}

static int parse(const struct ring_bulk_announce *a,
                 struct ring_bulk_announce *out)
{
    const char *why = NULL;
    int rc = ring_bulk_parse(a, sizeof(*a), out, &why);

    if (rc < 0) {
        assert_non_null(why);
    }
    return rc;
}

static void test_flags(void **state)
{
    struct ring_bulk_announce a = valid(), out;

    (void)state;
    assert_int_equal(parse(&a, &out), 0);
    assert_int_equal(out.flags, 0);
    a.flags = RING_BULK_F_TRAILER;
    assert_int_equal(parse(&a, &out), 0);
    assert_int_equal(out.flags, RING_BULK_F_TRAILER);
    for (unsigned int bit = 1; bit < 32; bit++) {
        memset(&out, 0x5a, sizeof(out));
        a.flags = RING_BULK_F_TRAILER | (1u << bit);
        assert_int_equal(parse(&a, &out), -EPROTO);
        assert_int_equal(out.flags, 0x5a5a5a5au); /* untouched */
    }
}

static void test_layout(void **state)
{
    (void)state;
    assert_int_equal(sizeof(struct ring_bulk_announce), 64);
    assert_int_equal(offsetof(struct ring_bulk_announce, magic), 8);
    assert_int_equal(offsetof(struct ring_bulk_announce, seq0), 32);
    assert_int_equal(offsetof(struct ring_bulk_announce, flags), 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_layout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
