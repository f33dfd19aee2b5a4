/* region_log.c -- lib/region through libpscom.so, after pscom_init: the
 * region's messages must reach pscom's debug output (PSP_DEBUG_OUT), as
 * the core's and the ivshmem plugin's do. Opens argv[1], which must not
 * be a usable segment, so that the region logs why. Exit 0 when pscom
 * initialised and the open failed with ENODEV. */
#include <stdio.h>

#include "pscom.h"
#include "pscom_region.h"

int main(int argc, char **argv)
{
    pscom_region_t *r = NULL;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: region_log DEVICE\n");
        return 2;
    }
    if (pscom_init(PSCOM_VERSION) != PSCOM_SUCCESS) {
        fprintf(stderr, "region_log: pscom_init failed\n");
        return 1;
    }
    rc = pscom_region_open(&r, argv[1]);
    if (rc != -PSCOM_REGION_ENODEV) {
        fprintf(stderr, "region_log: open returned %d, want %d\n", rc,
                -PSCOM_REGION_ENODEV);
        pscom_region_close(r);
        return 1;
    }
    return 0;
}
