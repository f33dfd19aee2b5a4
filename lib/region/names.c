/* names.c -- error names and the partition name rule. */
#include "config.h"

#include <string.h>

#include "pscom_region.h"

static const char *const errnames[] = {
    [PSCOM_REGION_OK] = "success",
    [PSCOM_REGION_EINVAL] = "invalid argument",
    [PSCOM_REGION_ENAME] = "bad partition name (1-39 characters of "
                           "A-Z a-z 0-9 . _ : @ + = / -)",
    [PSCOM_REGION_ESIZE] = "bad partition size (0, or larger than the "
                           "segment)",
    [PSCOM_REGION_EBADID] = "malformed partition id",
    [PSCOM_REGION_ENOENT] = "no such partition",
    [PSCOM_REGION_EEXIST] = "partition name taken by another owner",
    [PSCOM_REGION_ENOTOWNER] = "partition belongs to another owner",
    [PSCOM_REGION_ESTALE] = "partition is stale: its writer is gone",
    [PSCOM_REGION_EBUSY] = "no stable snapshot: writer too busy, retry",
    [PSCOM_REGION_ENOBUFS] = "buffer too small for the partition's data",
    [PSCOM_REGION_ERANGE] = "write outside the partition",
    [PSCOM_REGION_ENOSPC] = "no free frames in the segment",
    [PSCOM_REGION_EDIRFULL] = "directory or participant table full",
    [PSCOM_REGION_ECORRUPT] = "segment data failed validation",
    [PSCOM_REGION_EEVICTED] = "evicted from the segment (declared dead)",
    [PSCOM_REGION_ENODEV] = "no usable shared segment",
    [PSCOM_REGION_ESYS] = "system call failed",
    [PSCOM_REGION_ESTUCK] = "the partition's writer never completes a "
                            "write (its sequence word stays odd)",
};

const char *pscom_region_strerror(int err)
{
    unsigned e = err < 0 ? (unsigned)-err : (unsigned)err;

    if (e < sizeof(errnames) / sizeof(errnames[0]) && errnames[e]) {
        return errnames[e];
    }
    return "unknown error";
}

int pscom_region_check_name(const char *name)
{
    size_t n;

    if (!name) {
        return -PSCOM_REGION_ENAME;
    }
    n = strnlen(name, PSCOM_REGION_NAME_MAX + 1);
    if (n == 0 || n > PSCOM_REGION_NAME_MAX) {
        return -PSCOM_REGION_ENAME;
    }
    /* A small set, so names need no quoting in shell, JSON or logs. */
    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("._:@+=/-", c))) {
            return -PSCOM_REGION_ENAME;
        }
    }
    return 0;
}
