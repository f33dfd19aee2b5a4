/* pscom-region -- list, read, write and watch named partitions of the
 * shared segment from the command line (see pscom-region.1). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pscom_region.h"

/* Exit codes (documented in the man page). */
enum {
    EX_OK = 0,
    EX_ERR = 1,
    EX_USAGE = 2,
    EX_NOENT = 3,
    EX_STALE = 4,
    EX_BUSY = 5,
    EX_TAKEN = 6,
    EX_STUCK = 7,
};

struct opts {
    const char *device;
    bool json, append, lines, hold;
    uint64_t size, count, id;
    bool have_id;
    unsigned interval_ms;
};

static void usage(FILE *f)
{
    fprintf(
        f,
        "Usage: pscom-region [options] COMMAND [NAME]\n"
        "Named partitions in the pscom shared segment.\n"
        "Commands:\n"
        "  list                 partitions with owner, size, length, version\n"
        "  read NAME            print the partition's current content\n"
        "  write NAME           create NAME (ours) and write stdin into it\n"
        "  watch NAME           print each new version as it appears\n"
        "Options:\n"
        "  -d, --device PATH    segment device or shm object (default: "
        "discovery,\n"
        "                       PSP_IVSHMEM_DEVICE)\n"
        "  -j, --json           list as JSON\n"
        "  -i, --id ID          read/watch by id instead of NAME\n"
        "  -s, --size BYTES     write: partition size (default: input length,\n"
        "                       4096 with --lines)\n"
        "  -a, --append         write: append instead of replace\n"
        "  -l, --lines          write: one version per input line\n"
        "  -H, --hold           write: keep the partition until "
        "SIGTERM/SIGINT\n"
        "                       (it is deleted when pscom-region exits)\n"
        "  -n, --count N        watch: exit after N versions\n"
        "  -t, --interval MS    watch: poll period (default 20)\n"
        "  -h, --help           this help\n"
        "Exit: 0 ok, 1 error, 2 usage or bad name/size/id, 3 no such "
        "partition,\n"
        "4 stale (writer gone), 5 busy, 6 name taken or not ours, 7 stuck\n"
        "(the writer never completes a write).\n");
}

static int exit_code(int err)
{
    switch (-err) {
    case PSCOM_REGION_ENAME:
    case PSCOM_REGION_ESIZE:
    case PSCOM_REGION_EBADID:
        return EX_USAGE;
    case PSCOM_REGION_ENOENT:
        return EX_NOENT;
    case PSCOM_REGION_ESTALE:
        return EX_STALE;
    case PSCOM_REGION_EBUSY:
        return EX_BUSY;
    case PSCOM_REGION_ESTUCK:
        return EX_STUCK;
    case PSCOM_REGION_EEXIST:
    case PSCOM_REGION_ENOTOWNER:
        return EX_TAKEN;
    default:
        return EX_ERR;
    }
}

static int fail(const char *what, const char *name, int err)
{
    fprintf(stderr, "pscom-region: %s%s%s: %s\n", what, name ? " " : "",
            name ? name : "", pscom_region_strerror(err));
    return exit_code(err);
}

static void print_json(const struct pscom_region_info *p, long n)
{
    printf("[");
    for (long i = 0; i < n; i++) {
        /* Names and labels hold no character that needs escaping: the
         * library admits only [A-Za-z0-9._:@+=/-] and sanitised labels. */
        printf("%s\n  {\"id\": %llu, \"name\": \"%s\", \"owner\": %u, "
               "\"owner_slot\": %u, \"owner_label\": \"%s\", "
               "\"generation\": %u, \"size\": %llu, \"length\": %llu, "
               "\"version\": %llu, \"stale\": %s, \"stuck\": %s}",
               i ? "," : "", (unsigned long long)p[i].id, p[i].name, p[i].owner,
               p[i].owner_slot, p[i].owner_label, p[i].generation,
               (unsigned long long)p[i].size, (unsigned long long)p[i].length,
               (unsigned long long)p[i].version, p[i].stale ? "true" : "false",
               p[i].stuck ? "true" : "false");
    }
    printf("%s]\n", n ? "\n" : "");
}

static int cmd_list(pscom_region_t *r, const struct opts *o)
{
    struct pscom_region_info *p = NULL;
    long n, got = 0;

    /* The directory may grow between counting and listing; a second
     * pass with room to spare is enough for a snapshot. */
    n = pscom_region_list(r, NULL, 0);
    if (n > 0) {
        p = calloc((size_t)n + 16, sizeof(*p));
        if (!p) {
            return fail("list", NULL, -PSCOM_REGION_ESYS);
        }
        got = pscom_region_list(r, p, (size_t)n + 16);
        got = got > n + 16 ? n + 16 : got;
    }
    if (o->json) {
        print_json(p, got);
    } else {
        printf("%-18s %-24s %-5s %-12s %10s %10s %10s %s\n", "ID", "NAME",
               "SLOT", "OWNER", "SIZE", "LENGTH", "VERSION", "STATE");
        for (long i = 0; i < got; i++) {
            printf("0x%-16llx %-24s %-5u %-12s %10llu %10llu %10llu %s\n",
                   (unsigned long long)p[i].id, p[i].name, p[i].owner_slot,
                   p[i].owner_label[0] ? p[i].owner_label : "-",
                   (unsigned long long)p[i].size,
                   (unsigned long long)p[i].length,
                   (unsigned long long)p[i].version,
                   p[i].stale   ? "stale"
                   : p[i].stuck ? "stuck"
                                : "live");
        }
    }
    free(p);
    return EX_OK;
}

static int resolve(pscom_region_t *r, const struct opts *o, const char *name,
                   pscom_region_id_t *id)
{
    if (o->have_id) {
        *id = o->id;
        return 0;
    }
    return pscom_region_lookup(r, name, id);
}

/* Read one complete version into a buffer grown to fit. */
static long read_all(pscom_region_t *r, pscom_region_id_t id, char **buf,
                     size_t *cap, struct pscom_region_info *info)
{
    for (;;) {
        long n = pscom_region_read(r, id, *buf, *cap, info);
        char *nb;

        if (n != -PSCOM_REGION_ENOBUFS) {
            return n;
        }
        nb = realloc(*buf, (size_t)info->length + 1);
        if (!nb) {
            return -PSCOM_REGION_ESYS;
        }
        *buf = nb;
        *cap = (size_t)info->length + 1;
    }
}

static int cmd_read(pscom_region_t *r, const struct opts *o, const char *name)
{
    struct pscom_region_info info;
    pscom_region_id_t id;
    char *buf = NULL;
    size_t cap = 0;
    long n;
    int rc = resolve(r, o, name, &id);

    if (rc < 0) {
        return fail("read", name, rc);
    }
    n = read_all(r, id, &buf, &cap, &info);
    if (n < 0) {
        free(buf);
        return fail("read", name, (int)n);
    }
    rc = fwrite(buf, 1, (size_t)n, stdout) == (size_t)n ? EX_OK : EX_ERR;
    free(buf);
    return rc;
}

static void nap_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static int cmd_watch(pscom_region_t *r, const struct opts *o, const char *name)
{
    struct pscom_region_info info;
    pscom_region_id_t id;
    uint64_t last = 0, shown = 0;
    char *buf = NULL;
    size_t cap = 0;
    int rc;

    /* Wait for the partition to appear: watchers may start first. */
    while ((rc = resolve(r, o, name, &id)) == -PSCOM_REGION_ENOENT &&
           !o->have_id) {
        nap_ms(o->interval_ms);
    }
    if (rc < 0) {
        return fail("watch", name, rc);
    }
    while (o->count == 0 || shown < o->count) {
        long n = read_all(r, id, &buf, &cap, &info);

        /* Busy: the writer is making progress, try again. A writer that
         * never completes (ESTUCK) is reported below, not waited for. */
        if (n == -PSCOM_REGION_EBUSY) {
            continue;
        }
        if (n < 0) {
            free(buf);
            return fail("watch", name, (int)n);
        }
        if (info.version != last) {
            last = info.version;
            shown++;
            fwrite(buf, 1, (size_t)n, stdout);
            if (n == 0 || buf[n - 1] != '\n') {
                putchar('\n');
            }
            fflush(stdout);
            continue;
        }
        nap_ms(o->interval_ms);
    }
    free(buf);
    return EX_OK;
}

static int slurp(FILE *f, char **out, size_t *len)
{
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap);

    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);

            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (!buf || ferror(f)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int put(pscom_region_t *r, const struct opts *o, pscom_region_id_t id,
               const char *buf, size_t len)
{
    return o->append ? pscom_region_append(r, id, buf, len)
                     : pscom_region_write(r, id, buf, len);
}

/* Wait for SIGTERM/SIGINT (blocked by main) while checking that the
 * segment still counts us as alive. */
static int hold(pscom_region_t *r, const char *name, pscom_region_id_t id)
{
    sigset_t set;
    struct timespec ts = {0, 200000000L};

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    printf("holding %s id 0x%llx\n", name, (unsigned long long)id);
    fflush(stdout);
    for (;;) {
        if (sigtimedwait(&set, NULL, &ts) >= 0) {
            return EX_OK;
        }
        if (pscom_region_alive(r) < 0) {
            return fail("hold", name, -PSCOM_REGION_EEVICTED);
        }
    }
}

static int cmd_write(pscom_region_t *r, const struct opts *o, const char *name)
{
    pscom_region_id_t id;
    char *buf = NULL;
    size_t len = 0;
    uint64_t size = o->size;
    int rc;

    if (!o->lines && slurp(stdin, &buf, &len) < 0) {
        fprintf(stderr, "pscom-region: reading stdin: %s\n", strerror(errno));
        return EX_ERR;
    }
    if (size == 0) {
        size = o->lines ? 4096 : (len ? len : 1);
    }
    rc = pscom_region_create(r, name, size, &id);
    if (rc == 0 && !o->lines) {
        rc = put(r, o, id, buf, len);
    }
    if (rc == 0 && o->lines) {
        ssize_t n;
        size_t lcap = 0;

        while (rc == 0 && (n = getline(&buf, &lcap, stdin)) > 0) {
            /* Replace: the line without its newline; append: with it. */
            if (!o->append && buf[n - 1] == '\n') {
                n--;
            }
            rc = put(r, o, id, buf, (size_t)n);
        }
    }
    free(buf);
    if (rc < 0) {
        return fail("write", name, rc);
    }
    return o->hold ? hold(r, name, id) : EX_OK;
}

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"device", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {"id", required_argument, NULL, 'i'},
        {"size", required_argument, NULL, 's'},
        {"append", no_argument, NULL, 'a'},
        {"lines", no_argument, NULL, 'l'},
        {"hold", no_argument, NULL, 'H'},
        {"count", required_argument, NULL, 'n'},
        {"interval", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char *end;
    int c;

    o->interval_ms = 20;
    while ((c = getopt_long(argc, argv, "d:ji:s:alHn:t:h", longopts, NULL)) !=
           -1) {
        errno = 0;
        switch (c) {
        case 'd':
            o->device = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'a':
            o->append = true;
            break;
        case 'l':
            o->lines = true;
            break;
        case 'H':
            o->hold = true;
            break;
        case 'i':
            o->id = strtoull(optarg, &end, 0);
            o->have_id = true;
            break;
        case 's':
            o->size = strtoull(optarg, &end, 0);
            break;
        case 'n':
            o->count = strtoull(optarg, &end, 0);
            break;
        case 't':
            o->interval_ms = (unsigned)strtoul(optarg, &end, 0);
            break;
        case 'h':
            usage(stdout);
            exit(EX_OK);
        default:
            return -1;
        }
        if (strchr("isnt", c) && (errno || *end || !*optarg)) {
            fprintf(stderr, "pscom-region: bad number '%s'\n", optarg);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    struct pscom_region_opts ro = {0};
    const char *cmd, *name = NULL;
    pscom_region_t *r;
    sigset_t set;
    int rc;

    if (parse(argc, argv, &o) < 0 || optind >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    cmd = argv[optind++];
    if (optind < argc) {
        name = argv[optind++];
    }
    if (optind < argc || (strcmp(cmd, "list") == 0 && name) ||
        (strcmp(cmd, "list") != 0 && !name && !o.have_id) ||
        (strcmp(cmd, "write") == 0 && !name)) {
        usage(stderr);
        return EX_USAGE;
    }
    if (name && pscom_region_check_name(name) < 0) {
        return fail(cmd, name, -PSCOM_REGION_ENAME);
    }
    /* Block the stop signals before the heartbeat thread exists, so that
     * only --hold's sigtimedwait() receives them; elsewhere they would
     * end the process with the default action anyway. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (o.hold) {
        sigprocmask(SIG_BLOCK, &set, NULL);
    }
    ro.device = o.device;
    ro.label = "pscom-region";
    rc = pscom_region_open_opts(&r, &ro);
    if (rc < 0) {
        return fail("open", o.device, rc);
    }
    if (strcmp(cmd, "list") == 0) {
        rc = cmd_list(r, &o);
    } else if (strcmp(cmd, "read") == 0) {
        rc = cmd_read(r, &o, name);
    } else if (strcmp(cmd, "watch") == 0) {
        rc = cmd_watch(r, &o, name);
    } else if (strcmp(cmd, "write") == 0) {
        rc = cmd_write(r, &o, name);
    } else {
        usage(stderr);
        rc = EX_USAGE;
    }
    pscom_region_close(r);
    return rc;
}
