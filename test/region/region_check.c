/* region_check -- API behaviour of pscom_region on a real segment (the
 * script starts ivshmem-server and sets PSP_IVSHMEM_DEVICE). Two handles
 * in this process are two participants, i.e. two "VMs": ownership,
 * create-or-open, replace/append/offset writes, reads by name and id,
 * list, delete, and a clear error for every bad name, size and id. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "pscom_region.h"
#include "tap.h"

#define E(x) (-PSCOM_REGION_##x)

static pscom_region_t *a, *b;

static void bad_names(void)
{
    pscom_region_id_t id;
    static const char *const bad[] = {
        "",
        "0123456789012345678901234567890123456789",
        "with space",
        "tab\there",
        "ctl\x01",
        "quote\"",
        "back\\slash",
        "\xc3\xa9t\xc3\xa9",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tap_ok(pscom_region_create(a, bad[i], 64, &id) == E(ENAME),
               "create with bad name #%zu: ENAME", i);
    }
    tap_ok(pscom_region_create(a, NULL, 64, &id) == E(ENAME),
           "create with NULL name: ENAME");
    tap_ok(pscom_region_lookup(a, "", &id) == E(ENAME),
           "lookup of empty name: ENAME");
    tap_ok(pscom_region_check_name("012345678901234567890123456789012345678") ==
               0,
           "39-character name is accepted");
    tap_ok(pscom_region_check_name("a.b_c:d@e+f=g/h-i") == 0,
           "every allowed punctuation character is accepted");
}

static void bad_sizes(void)
{
    pscom_region_id_t id, big;
    struct pscom_region_info info;
    uint64_t seg_bytes;
    int rc;

    tap_ok(pscom_region_create(a, "zero", 0, &id) == E(ESIZE), "size 0: ESIZE");
    tap_ok(pscom_region_create(a, "huge", UINT64_MAX, &id) == E(ESIZE),
           "size 2^64-1: ESIZE");
    tap_ok(pscom_region_create(a, "huge", (uint64_t)1 << 40, &id) == E(ESIZE),
           "1 TiB on a small segment: ESIZE");
    /* The script makes a 2 MiB segment: a 512 KiB partition takes 1 MiB
     * of frames (two buffers), so 700 KiB (1.4 MiB) passes the size
     * check but finds no free run. */
    rc = pscom_region_create(b, "filler", 512 << 10, &big);
    tap_ok(rc == 0, "filler partition of 512 KiB");
    seg_bytes = 0;
    if (pscom_region_stat(b, big, &info) == 0) {
        seg_bytes = info.size;
    }
    tap_ok(seg_bytes == 512 << 10, "stat reports the filler's size");
    rc = pscom_region_create(a, "toobig", 700 << 10, &id);
    tap_ok(rc == E(ENOSPC), "more than the free frames: ENOSPC (%s)",
           pscom_region_strerror(rc));
    tap_ok(pscom_region_destroy(b, big) == 0, "filler destroyed");
}

static void bad_ids(pscom_region_id_t good)
{
    char buf[16];
    struct pscom_region_info info;
    pscom_region_id_t wrong_gen = good + ((uint64_t)1 << 32);

    tap_ok(pscom_region_read(b, 0, buf, sizeof(buf), NULL) == E(EBADID),
           "id 0: EBADID");
    tap_ok(pscom_region_read(b, (uint64_t)1 << 32 | 100000, buf, sizeof(buf),
                             NULL) == E(EBADID),
           "index past the directory: EBADID");
    tap_ok(pscom_region_read(b, (uint64_t)0xffffffff << 32, buf, sizeof(buf),
                             NULL) == E(EBADID),
           "generation out of range: EBADID");
    tap_ok(pscom_region_read(b, wrong_gen, buf, sizeof(buf), NULL) == E(ENOENT),
           "right slot, wrong generation: ENOENT");
    tap_ok(pscom_region_stat(b, wrong_gen, &info) == E(ENOENT),
           "stat of a wrong generation: ENOENT");
    tap_ok(pscom_region_write(a, wrong_gen, "x", 1) == E(ENOENT),
           "write to a wrong generation: ENOENT");
}

static int read_is(pscom_region_t *r, pscom_region_id_t id, const char *want,
                   uint64_t version)
{
    char buf[128];
    struct pscom_region_info info;
    long n = pscom_region_read(r, id, buf, sizeof(buf), &info);

    return n == (long)strlen(want) && memcmp(buf, want, (size_t)n) == 0 &&
           info.version == version && info.length == (uint64_t)n;
}

static void ownership_and_writes(pscom_region_id_t *out)
{
    pscom_region_id_t id, again, other;
    struct pscom_region_info info, list[8];
    char small[4];
    long n;

    tap_ok(pscom_region_create(a, "alpha", 100, &id) == 0, "A creates alpha");
    tap_ok(pscom_region_create(a, "alpha", 50, &again) == 0 && again == id,
           "A creating alpha again opens the same id");
    tap_ok(pscom_region_create(a, "alpha", 101, &again) == E(ESIZE),
           "re-open with a larger size: ESIZE");
    tap_ok(pscom_region_create(b, "alpha", 100, &other) == E(EEXIST),
           "B creating A's name: EEXIST");
    tap_ok(pscom_region_write(b, id, "evil", 4) == E(ENOTOWNER),
           "B writing A's partition: ENOTOWNER");
    tap_ok(pscom_region_append(b, id, "evil", 4) == E(ENOTOWNER),
           "B appending to A's partition: ENOTOWNER");
    tap_ok(pscom_region_destroy(b, id) == E(ENOTOWNER),
           "B destroying A's partition: ENOTOWNER");
    tap_ok(read_is(b, id, "", 0), "before any write: empty, version 0");
    tap_ok(pscom_region_write(a, id, "hello", 5) == 0, "A writes hello");
    tap_ok(read_is(b, id, "hello", 1), "B reads hello, version 1");
    tap_ok(pscom_region_append(a, id, " world", 6) == 0, "A appends");
    tap_ok(read_is(b, id, "hello world", 2), "B reads the appended text");
    tap_ok(pscom_region_write_at(a, id, 5, "!", 1) == 0,
           "A writes at offset 5");
    tap_ok(read_is(b, id, "hello!", 3), "offset write keeps the prefix");
    tap_ok(pscom_region_write_at(a, id, 7, "x", 1) == E(ERANGE),
           "offset past the end: ERANGE");
    tap_ok(pscom_region_write(a, id, "", 0) == 0 && read_is(b, id, "", 4),
           "empty write is a version too");
    tap_ok(pscom_region_write(a, id, "hello!", 6) == 0, "A rewrites");
    {
        char big[101];

        memset(big, 'x', sizeof(big));
        tap_ok(pscom_region_write(a, id, big, sizeof(big)) == E(ERANGE),
               "write larger than the size: ERANGE");
        tap_ok(pscom_region_write(a, id, big, 100) == 0 &&
                   pscom_region_append(a, id, "y", 1) == E(ERANGE),
               "append past the size: ERANGE");
        tap_ok(pscom_region_write(a, id, "hello!", 6) == 0, "A rewrites");
    }
    n = pscom_region_read(b, id, small, sizeof(small), &info);
    tap_ok(n == E(ENOBUFS) && info.length == 6,
           "small buffer: ENOBUFS and the length needed");
    n = pscom_region_read_name(b, "alpha", NULL, 0, &info);
    tap_ok(n == E(ENOBUFS), "size probe with a NULL buffer: ENOBUFS");
    tap_ok(pscom_region_lookup(b, "alpha", &again) == 0 && again == id,
           "B looks alpha up by name");
    n = pscom_region_list(b, list, 8);
    tap_ok(n == 1 && list[0].id == id && strcmp(list[0].name, "alpha") == 0 &&
               list[0].size == 100 && list[0].length == 6 &&
               list[0].version == 7 && !list[0].stale && !list[0].mine &&
               strcmp(list[0].owner_label, "check-A") == 0,
           "B lists alpha: size, length, version, owner label");
    tap_ok(pscom_region_list(a, list, 8) == 1 && list[0].mine,
           "A's list marks alpha as its own");
    tap_ok(pscom_region_list(a, NULL, 0) == 1, "counting with max 0");
    tap_ok(pscom_region_lookup(b, "nope", &again) == E(ENOENT),
           "unknown name: ENOENT");
    *out = id;
}

static void delete_and_reuse(pscom_region_id_t id)
{
    pscom_region_id_t id2, id3;
    char buf[16];

    tap_ok(pscom_region_destroy(a, id) == 0, "A destroys alpha");
    tap_ok(pscom_region_read(b, id, buf, sizeof(buf), NULL) == E(ENOENT),
           "reading a destroyed id: ENOENT");
    tap_ok(pscom_region_destroy(a, id) == E(ENOENT),
           "destroying twice: ENOENT");
    tap_ok(pscom_region_create(b, "alpha", 10, &id2) == 0 && id2 != id,
           "B can now create alpha; it gets a new id");
    tap_ok(pscom_region_create(b, "beta", 10, &id3) == 0, "B creates beta");
    tap_ok(pscom_region_write(b, id3, "b", 1) == 0, "B writes beta");
    tap_ok(pscom_region_close(b) == 0, "B closes");
    b = NULL;
    tap_ok(pscom_region_lookup(a, "alpha", &id2) == E(ENOENT) &&
               pscom_region_lookup(a, "beta", &id3) == E(ENOENT),
           "a closed owner's partitions are gone");
}

static void error_names(void)
{
    int distinct = 1;

    for (int i = 1; i <= PSCOM_REGION_ESYS; i++) {
        for (int j = 0; j < i; j++) {
            if (strcmp(pscom_region_strerror(-i), pscom_region_strerror(-j)) ==
                0) {
                distinct = 0;
            }
        }
    }
    tap_ok(distinct, "every error code has its own message");
    tap_ok(strcmp(pscom_region_strerror(999), "unknown error") == 0,
           "unknown codes are named as such");
}

int main(void)
{
    struct pscom_region_opts oa = {.label = "check-A"};
    struct pscom_region_opts ob = {.label = "check-B"};
    pscom_region_id_t id;

    if (pscom_region_open_opts(&a, &oa) < 0 ||
        pscom_region_open_opts(&b, &ob) < 0) {
        tap_bail("cannot open the segment (PSP_IVSHMEM_DEVICE=%s)",
                 getenv("PSP_IVSHMEM_DEVICE"));
    }
    bad_names();
    bad_sizes();
    ownership_and_writes(&id);
    bad_ids(id);
    delete_and_reuse(id);
    error_names();
    tap_ok(pscom_region_alive(a) == 0, "A is still a live member");
    tap_ok(pscom_region_close(a) == 0, "A closes");
    tap_ok(pscom_region_open(&a, "/nonexistent/device") == E(ENODEV),
           "a missing device: ENODEV");
    tap_plan(tap_count());
    return tap_exit_status();
}
