/*
 * pscom_info -- print the library version, every PSP_* variable with its
 * value and origin, and the transports/plugins with why each is or is not
 * usable. A thin main around pscom_dump_info().
 */
#include <stdio.h>
#include <string.h>

#include "pscom.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: pscom_info [-h|--help]\n"
            "Print the pscom library version, every PSP_* environment\n"
            "variable with its value and whether it came from the\n"
            "environment or the default, and the transports and plugins\n"
            "found, each with why it is or is not usable.\n"
            "Set PSP_PLUGINDIR to look for plugins in another directory.\n");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        fprintf(stderr, "pscom_info: unknown argument '%s'\n", argv[i]);
        usage(stderr);
        return 2;
    }
    if (pscom_init(PSCOM_VERSION) != PSCOM_SUCCESS) {
        fprintf(stderr, "pscom_info: pscom_init failed\n");
        return 1;
    }
    pscom_dump_info(stdout);
    return 0;
}
