/* example.c -- the program of doc/region.md: publish a value in our own
 * partition, read it back the way another VM would, list the directory.
 * Build: cc example.c $(pkg-config --cflags --libs pscom) */
#include <stdio.h>
#include <string.h>

#include <pscom_region.h>

int main(void)
{
    pscom_region_t *r;
    pscom_region_id_t id;
    struct pscom_region_info info, all[16];
    char buf[256];
    long n;
    int rc;

    /* NULL: find the segment like the ivshmem plugin does
     * (PSP_IVSHMEM_DEVICE, else uio / PCI discovery). */
    rc = pscom_region_open(&r, NULL);
    if (rc < 0) {
        fprintf(stderr, "open: %s\n", pscom_region_strerror(rc));
        return 1;
    }
    rc = pscom_region_create(r, "example.status", sizeof(buf), &id);
    if (rc == 0) {
        const char *msg = "temperature=21.5";

        rc = pscom_region_write(r, id, msg, strlen(msg));
    }
    if (rc == 0) {
        rc = pscom_region_append(r, id, " unit=C", 7);
    }
    if (rc < 0) {
        fprintf(stderr, "write: %s\n", pscom_region_strerror(rc));
        pscom_region_close(r);
        return 1;
    }
    /* Any process in any VM reads by name (or by id). */
    n = pscom_region_read_name(r, "example.status", buf, sizeof(buf) - 1,
                               &info);
    if (n < 0) {
        fprintf(stderr, "read: %s\n", pscom_region_strerror((int)n));
        pscom_region_close(r);
        return 1;
    }
    buf[n] = '\0';
    printf("%s (version %llu, owner slot %u)\n", buf,
           (unsigned long long)info.version, info.owner_slot);
    n = pscom_region_list(r, all, 16);
    for (long i = 0; i < n && i < 16; i++) {
        printf("partition %s: %llu of %llu bytes\n", all[i].name,
               (unsigned long long)all[i].length,
               (unsigned long long)all[i].size);
    }
    /* Closing deletes our partitions and leaves the segment. */
    return pscom_region_close(r) < 0;
}
