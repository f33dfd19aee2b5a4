/* region_tear -- the torn-read test's two roles, run as separate
 * processes (separate participants, like VMs) by region-tear.sh:
 *
 *   region_tear writer NAME SIZE   create NAME, print "ready", then write
 *                                  versions at full speed until SIGTERM
 *   region_tear reader NAME N      read until N distinct versions were
 *                                  seen; verify every snapshot
 *
 * Each version v is a payload of a length that varies with v: v, the
 * length and an FNV-1a checksum of the rest, which is a byte pattern of
 * v. A snapshot mixing two writes fails the checksum or the length. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pscom_region.h"

#define HDR 24u

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

static size_t payload(uint8_t *buf, uint64_t size, uint64_t v)
{
    uint64_t len = HDR + (v * 2654435761u) % (size - HDR + 1);
    uint64_t sum;

    for (uint64_t i = HDR; i < len; i++) {
        buf[i] = (uint8_t)(v * 31 + i * 7 + (i >> 8));
    }
    sum = fnv1a(buf + HDR, len - HDR);
    memcpy(buf, &v, 8);
    memcpy(buf + 8, &len, 8);
    memcpy(buf + 16, &sum, 8);
    return (size_t)len;
}

static int writer(pscom_region_t *r, const char *name, uint64_t size)
{
    pscom_region_id_t id;
    uint8_t *buf = malloc(size);
    uint64_t v = 0;
    int rc;

    rc = buf ? pscom_region_create(r, name, size, &id) : -1;
    if (rc < 0) {
        fprintf(stderr, "writer: create: %s\n", pscom_region_strerror(rc));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop) {
        size_t n = payload(buf, size, v + 1);

        rc = pscom_region_write(r, id, buf, n);
        if (rc < 0) {
            fprintf(stderr, "writer: %s\n", pscom_region_strerror(rc));
            return 1;
        }
        v++;
    }
    printf("wrote %llu versions\n", (unsigned long long)v);
    free(buf);
    return 0;
}

/* 0: consistent snapshot; else why not. */
static const char *verify(const uint8_t *buf, long n, uint64_t version)
{
    uint64_t v, len, sum;

    if (n == 0 && version == 0) {
        return NULL; /* before the first write */
    }
    if (n < (long)HDR) {
        return "shorter than the header";
    }
    memcpy(&v, buf, 8);
    memcpy(&len, buf + 8, 8);
    memcpy(&sum, buf + 16, 8);
    if (len != (uint64_t)n) {
        return "length field differs from the length read";
    }
    if (v != version) {
        return "payload version differs from the partition version";
    }
    if (fnv1a(buf + HDR, len - HDR) != sum) {
        return "checksum mismatch";
    }
    return NULL;
}

static int reader(pscom_region_t *r, const char *name, uint64_t want)
{
    struct pscom_region_info info;
    unsigned long long snaps = 0, busy = 0, torn = 0, back = 0;
    uint64_t last = 0, distinct = 0;
    pscom_region_id_t id;
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc;

    rc = pscom_region_lookup(r, name, &id);
    if (rc == 0) {
        rc = pscom_region_stat(r, id, &info);
    }
    if (rc == 0) {
        cap = (size_t)info.size;
        buf = malloc(cap);
    }
    if (rc < 0 || !buf) {
        fprintf(stderr, "reader: %s\n", pscom_region_strerror(rc));
        return 2;
    }
    while (distinct < want) {
        long n = pscom_region_read(r, id, buf, cap, &info);
        const char *why;

        if (n == -PSCOM_REGION_EBUSY) {
            busy++;
            continue;
        }
        if (n < 0) {
            fprintf(stderr, "reader: %s\n", pscom_region_strerror((int)n));
            return 2;
        }
        snaps++;
        why = verify(buf, n, info.version);
        if (why) {
            if (torn++ < 5) {
                printf("torn snapshot at version %llu: %s\n",
                       (unsigned long long)info.version, why);
            }
        }
        if (info.version < last) {
            back++;
        } else if (info.version > last) {
            distinct++;
            last = info.version;
        }
    }
    printf("snapshots %llu distinct %llu busy %llu torn %llu "
           "backwards %llu\n",
           snaps, (unsigned long long)distinct, busy, torn, back);
    free(buf);
    return torn || back ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct pscom_region_opts o = {0};
    pscom_region_t *r;
    uint64_t num;
    int rc;

    if (argc != 4) {
        fprintf(stderr, "usage: region_tear writer|reader NAME NUMBER\n");
        return 2;
    }
    num = strtoull(argv[3], NULL, 0);
    o.label = argv[1];
    signal(SIGTERM, on_term);
    rc = pscom_region_open_opts(&r, &o);
    if (rc < 0) {
        fprintf(stderr, "open: %s\n", pscom_region_strerror(rc));
        return 2;
    }
    if (strcmp(argv[1], "writer") == 0 && num > HDR) {
        rc = writer(r, argv[2], num);
    } else if (strcmp(argv[1], "reader") == 0) {
        rc = reader(r, argv[2], num);
    } else {
        rc = 2;
    }
    pscom_region_close(r);
    return rc;
}
